"""Tables reduced from sweep rows: the best-setting envelope, BD-CBR / BD-quality, plot axes.

* :func:`envelope` keeps, for each (system, cbr, channel, SNR, other settings), the row
  with the best metric over one swept run-time setting: the digital link's best-MCS
  envelope is ``envelope(rows, "mcs", "psnr")`` of a sweep with ``run: {mcs: [...]}``.
* :func:`bd_table` gives every rate-quality curve (rows of one label, channel, SNR and
  settings, ordered by measured CBR) its Bjontegaard deltas against an anchor label's
  curve at the same channel and SNR: BD-CBR in percent (negative: fewer channel uses
  for the same quality) and BD-quality in the metric's unit (dB for PSNR). With an
  envelope configured, the curves are the envelope's rows (``bd_rows``), the enveloped
  setting left out of the curve key.

A run-time setting is named as in the config (``mcs``) or by its column (``run.mcs``).
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Any, Sequence

from semcom.errors import SemcomError

if TYPE_CHECKING:
    from semcom.evaluation.config import EvalConfig
    from semcom.evaluation.systems import SystemUnderTest

#: metrics where lower is better (every other metric: higher is better)
LOWER_IS_BETTER = ("lpips",)
_CURVE = ("system", "source", "channel", "snr_db")


def setting_column(name: str) -> str:
    """The result column of a run-time setting: ``mcs`` -> ``run.mcs`` (kept if prefixed)."""
    return name if name.startswith("run.") else f"run.{name}"


def run_values(row: dict[str, Any], leave_out: str = "") -> tuple[tuple[str, Any], ...]:
    """A row's ``(run.NAME, value)`` pairs in name order (without ``leave_out``)."""
    return tuple((k, row[k]) for k in sorted(row) if k.startswith("run.") and k != leave_out)


def swept_settings(rows: Sequence[dict[str, Any]]) -> set[str]:
    """``run.*`` columns that take more than one value among ``rows``."""
    values: dict[str, set[str]] = {}
    for row in rows:
        for k, v in run_values(row):
            values.setdefault(k, set()).add(repr(v))
    return {k for k, v in values.items() if len(v) > 1}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def envelope(rows: Sequence[dict[str, Any]], over: str, metric: str = "psnr",
             max_overshoot: float | None = None) -> list[dict[str, Any]]:
    """For each (system, source, cbr_requested, channel, snr_db, other settings), the
    row with the best ``metric`` over the values of setting ``over``.

    ``max_overshoot`` keeps only rows whose measured mean CBR is at most
    ``(1 + max_overshoot) cbr_requested`` (so an MCS that only succeeds by
    retransmitting far beyond the budget does not win); None compares every row.

    Returns:
        Those rows (in order of first appearance), each with ``envelope_over`` (the
        setting's column) and ``envelope_candidates`` (rows compared) added. Groups with
        no value of ``metric`` are left out.
    """
    column = setting_column(over)
    lower = metric in LOWER_IS_BETTER
    best: dict[tuple, dict[str, Any]] = {}
    counts: dict[tuple, int] = {}
    for row in rows:
        value = _number(row.get(metric))
        if value is None or column not in row:
            continue
        budget = row.get("cbr_requested")
        if max_overshoot is not None and budget is not None and float(row["cbr"]) > (1 + max_overshoot) * budget:
            continue
        key = (row["system"], row.get("source"), row.get("cbr_requested"), row["channel"], row["snr_db"],
               run_values(row, column))
        counts[key] = counts.get(key, 0) + 1
        if key not in best or (value < best[key][metric] if lower else value > best[key][metric]):
            best[key] = row
    return [{**row, "envelope_over": column, "envelope_candidates": counts[key]} for key, row in best.items()]


def _curves(rows: Sequence[dict[str, Any]], metric: str, leave_out: str = "") -> dict[tuple, list[tuple[float, float]]]:
    curves: dict[tuple, list[tuple[float, float]]] = {}
    for row in rows:
        cbr, value = _number(row.get("cbr")), _number(row.get(metric))
        if cbr is not None and value is not None:
            key = tuple(row.get(k) for k in _CURVE) + (run_values(row, leave_out),)
            curves.setdefault(key, []).append((cbr, value))
    return {k: sorted(v) for k, v in curves.items()}


def _settings_text(runs: tuple[tuple[str, Any], ...]) -> str:
    return ",".join(f"{k[4:]}={v}" for k, v in runs)


def bd_rows(rows: Sequence[dict[str, Any]], envelope_rows: Sequence[dict[str, Any]], over: str) -> list[dict[str, Any]]:
    """The rows BD curves are built from when an envelope over setting ``over`` is
    configured: the envelope's rows, plus the rows of systems that do not declare
    ``over`` (the envelope leaves those out)."""
    column = setting_column(over)
    return list(envelope_rows) + [r for r in rows if column not in r]


def _overlap_note(message: str, column: str) -> str:
    found = re.search(r"overlap: '([0-9.]+)'\. Minimum overlap: '([0-9.]+)'", message)
    if found:
        return (f"{column}: the curves overlap on only {float(found.group(1)):.0f} % of their joint range "
                f"(under {float(found.group(2)):.0f} %): the delta rests on a short interval")
    return f"{column}: {message}"


def bd_delta(fn: Any, column: str, anchor: list[tuple[float, float]], points: list[tuple[float, float]],
           notes: list[str]) -> float | None:
    """One Bjontegaard delta; its errors and the package's overlap warnings go to ``notes``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn([p[0] for p in anchor], [p[1] for p in anchor], [p[0] for p in points],
                       [p[1] for p in points])
        except SemcomError as e:
            notes.append(str(e))
            value = None
    notes += [_overlap_note(str(w.message), column) for w in caught]
    return value


def bd_table(rows: Sequence[dict[str, Any]], anchor: str, metric: str = "psnr",
             over: str | None = None) -> list[dict[str, Any]]:
    """Bjontegaard deltas of every curve against the ``anchor`` label's curve.

    A curve is the rows of one label, channel, SNR and run-time settings. With
    ``over`` (the rows are an :func:`envelope` over that setting, see :func:`bd_rows`)
    that setting's column is left out of the curve key, so a digital link's best-MCS
    points form one curve. The anchor curve of a curve is the anchor's curve at the same
    channel and SNR with the same settings, else its only curve there; when the anchor
    still has several (e.g. one per swept setting and no envelope), the deltas are
    empty and the note says so: no curve is picked silently.

    Returns:
        One dict per non-anchor curve: ``system``, ``channel``, ``snr_db``, ``settings``,
        ``anchor``, ``points``, ``bd_cbr_percent``, ``bd_<metric>`` and ``note`` (why a
        delta is empty, e.g. fewer than 4 points on a curve, or a short overlap).

    Raises:
        SemcomError: no row carries the anchor label.
    """
    from semcom.metrics.bdrate import bd_cbr, bd_psnr

    leave_out = "" if over is None else setting_column(over)
    curves = _curves(rows, metric, leave_out)
    anchors = {k: v for k, v in curves.items() if k[0] == anchor}
    if not any(r.get("system") == anchor for r in rows):
        labels = ", ".join(dict.fromkeys(str(r.get("system")) for r in rows))
        raise SemcomError(f"bd anchor {anchor!r} is not a system label of the sweep (labels: {labels})")
    out = []
    for key, points in curves.items():
        if key[0] == anchor:
            continue
        same = {k: v for k, v in anchors.items() if k[2:4] == key[2:4]}
        match = {k: v for k, v in same.items() if k[4] == key[4]}
        entry: dict[str, Any] = {"system": key[0], "channel": key[2], "snr_db": key[3],
                                 "settings": _settings_text(key[4]), "anchor": anchor,
                                 "points": len(points), "bd_cbr_percent": None, f"bd_{metric}": None, "note": ""}
        candidates = match or same
        if not candidates:
            entry["note"] = f"anchor has no curve at {key[2]}, {key[3]:g} dB"
        elif len(candidates) > 1:
            which = " | ".join(_settings_text(k[4]) or f"source {k[1]}" for k in candidates)
            hint = ("" if over is not None else
                    "; configure envelope: {over: SETTING} to compare against its best-setting envelope")
            entry["note"] = (f"anchor has {len(candidates)} curves at {key[2]}, {key[3]:g} dB ({which}); "
                             f"none is picked{hint}")
        else:
            (ref,) = candidates.values()
            notes: list[str] = []
            entry["bd_cbr_percent"] = bd_delta(bd_cbr, "bd_cbr_percent", ref, points, notes)
            entry[f"bd_{metric}"] = bd_delta(bd_psnr, f"bd_{metric}", ref, points, notes)
            entry["note"] = "; ".join(dict.fromkeys(notes))
        out.append(entry)
    return out


def parse_plots(value: Any) -> list[dict[str, str]]:
    """A config's ``plots``: a list of ``{x, y, name}`` mappings (structure only; the
    names are checked against the sweep by :func:`check_reductions`)."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise SemcomError(f"plots must be a list like [{{x: mcs, y: psnr}}], got {value!r}")
    out = []
    for entry in value:
        if not isinstance(entry, dict) or not entry.get("x") or not entry.get("y"):
            raise SemcomError(f"a plot must be a mapping {{x: COLUMN, y: METRIC}}, got {entry!r}")
        bad = [k for k in entry if k not in ("x", "y", "name")]
        if bad:
            raise SemcomError(f"plot {entry!r}: unknown key {bad[0]!r} (known: x, y, name)")
        out.append({k: str(v) for k, v in entry.items()})
    return out


def parse_reduction(key: str, value: Any, fields: tuple[str, ...]) -> dict[str, Any] | None:
    """A config's ``envelope`` (``fields`` over, metric, max_overshoot) or ``bd``
    (anchor, metric) mapping, ``metric`` defaulting to psnr; a bare string is the first
    field. ``max_overshoot`` (a fraction, e.g. 0.05) is kept as a float."""
    if value is None:
        return None
    if isinstance(value, str):
        value = {fields[0]: value}
    if not isinstance(value, dict) or not value.get(fields[0]):
        raise SemcomError(f"{key} must be a mapping like {{{fields[0]}: ..., metric: psnr}}, got {value!r}")
    bad = [k for k in value if k not in fields]
    if bad:
        raise SemcomError(f"{key}: unknown key {bad[0]!r} (known: {', '.join(fields)})")
    out: dict[str, Any] = {fields[0]: str(value[fields[0]]), "metric": str(value.get("metric") or "psnr")}
    if value.get("max_overshoot") is not None:
        limit = value["max_overshoot"]
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 <= limit < 10:
            raise SemcomError(f"{key}.max_overshoot must be a fraction >= 0 (0.05: 5 % over the budget), "
                              f"got {limit!r}")
        out["max_overshoot"] = float(limit)
    return out


def _metric_columns(config: "EvalConfig") -> list[str]:
    from semcom.metrics.registry import METRICS

    cols: list[str] = []
    for name in config.metric_names:
        cols += list(getattr(METRICS.get(name), "columns", ()))
    return cols


def _declared(systems: Sequence["SystemUnderTest"]) -> list[str]:
    return list(dict.fromkeys(s.name for system in systems for s in system.settings))


def plot_requests(config: "EvalConfig", systems: Sequence["SystemUnderTest"]) -> list[tuple[str, str, str]]:
    """``(x column, y column, file name)`` of the plots beyond PSNR-vs-SNR/CBR: a
    ``psnr_vs_<setting>.png`` per swept setting, then the config's ``plots``."""
    from semcom.evaluation.config import PLOT_X

    swept = list(dict.fromkeys(name for system in systems for name in system.swept))
    out = [(setting_column(n), "psnr", f"psnr_vs_{n}.png") for n in swept]
    for plot in config.plots:
        x = plot["x"] if plot["x"] in PLOT_X else setting_column(plot["x"])
        name = plot.get("name") or f"{plot['y']}_vs_{x.removeprefix('run.')}.png"
        entry = (x, plot["y"], name if name.endswith(".png") else name + ".png")
        if entry not in out:
            out.append(entry)
    return out


def check_reductions(config: "EvalConfig", systems: Sequence["SystemUnderTest"]) -> None:
    """Check plot axes, ``envelope`` and ``bd`` against the built systems and metrics
    (before any transmission); one clear :class:`SemcomError` for a wrong name."""
    from semcom.evaluation.config import PLOT_X

    declared = _declared(systems)
    metrics = _metric_columns(config)
    ys = metrics + ["cbr", "channel_uses", "failure_rate", "seconds_per_image"]
    known = ", ".join(declared) or "none"

    def setting(name: str, where: str) -> None:
        if setting_column(name).removeprefix("run.") not in declared:
            raise SemcomError(f"{where}: {name!r} is no run-time setting of the sweep's systems "
                              f"(their settings: {known}; or one of {', '.join(PLOT_X)})")

    for plot in config.plots:
        if plot["x"] not in PLOT_X:
            setting(plot["x"], "plot x")
        if plot["y"] not in ys:
            raise SemcomError(f"plot y: {plot['y']!r} is not a column of this sweep (one of {', '.join(ys)})")
    for key, spec in (("envelope", config.envelope), ("bd", config.bd)):
        if spec is not None and spec["metric"] not in metrics:
            raise SemcomError(f"{key} metric {spec['metric']!r} is not computed (metrics: {', '.join(metrics)})")
    if config.envelope is not None:
        setting(config.envelope["over"], "envelope over")
    if config.bd is not None and config.bd["anchor"] not in {s.label for s in systems}:
        labels = ", ".join(dict.fromkeys(s.label for s in systems))
        raise SemcomError(f"bd anchor {config.bd['anchor']!r} is not a system label (labels: {labels})")
