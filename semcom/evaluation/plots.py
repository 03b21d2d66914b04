"""Plots of sweep rows (PNG, matplotlib's Agg canvas): PSNR vs SNR, PSNR vs CBR, and any
metric against a run-time setting.

The figures are drawn without ``pyplot``, so plotting never touches a global backend
or a display. Every legend entry and axis states the CBR it shows. A figure with
several channels gets one panel per channel; a PSNR-vs-CBR figure whose panels would
hold more than :data:`MAX_LINES` lines gets one panel per channel and SNR, so it stays
readable with many series.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Hashable, Sequence

from semcom.evaluation.tables import run_values, swept_settings

#: marker per line, cycled (colours come from matplotlib's default cycle)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
#: lines per panel above which PSNR vs CBR splits its panels by SNR too
MAX_LINES = 8


def _run_text(runs: tuple[tuple[str, Any], ...], swept: set[str]) -> str:
    return "".join(f", {k[4:]}={v}" for k, v in runs if k in swept)


def _groups(rows: Sequence[dict[str, Any]], key_fields: Sequence[str], y: str = "psnr",
            x: str = "cbr", leave_out: str = "") -> dict[Hashable, list[dict[str, Any]]]:
    groups: dict[Hashable, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get(y) is None or row.get(x) is None:
            continue
        groups.setdefault(tuple(row.get(k) for k in key_fields) + (run_values(row, leave_out),), []).append(row)
    return groups


def format_cbr(values: Sequence[float]) -> str:
    """``cbr=0.0833`` for one measured value, ``cbr=0.05-0.09`` for a spread (variable rate)."""
    lo, hi = min(values), max(values)
    if hi - lo <= 1e-4 * max(abs(hi), 1e-12):
        return f"cbr={sum(values) / len(values):.4g}"
    return f"cbr={lo:.3g}-{hi:.3g}"


def _panels(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Rows split into panels by ``keys`` (in order of first appearance): ``(title, rows)``."""
    out: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(tuple(row.get(k) for k in keys), []).append(row)
    titles = [", ".join(f"SNR {v:g} dB" if k == "snr_db" else str(v) for k, v in zip(keys, key))
              for key in out]
    return list(zip(titles, out.values()))


def _figure(title: str, panels: int) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    cols = min(panels, 3 if panels <= 9 else 4)
    nrows = max(1, math.ceil(panels / cols))
    fig = Figure(figsize=(7.5 if cols == 1 else 5.0 * cols, 4.8 if nrows == 1 else 4.0 * nrows), dpi=120)
    axes = [fig.add_subplot(nrows, cols, i + 1) for i in range(max(panels, 1))]
    fig.suptitle(title, fontsize=10)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def _save(fig: Any, axes: list[Any], path: str | Path, lines: list[int], xlabel: str, ylabel: str,
          titles: Sequence[str]) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for ax, count, title in zip(axes, lines or [0], list(titles) or [""]):
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        if len(axes) > 1:
            ax.set_title(title, fontsize=9)
        if count:
            ax.legend(loc="best" if len(axes) > 1 else "center left",
                      bbox_to_anchor=None if len(axes) > 1 else (1.02, 0.5),
                      fontsize=6 if count > 8 or len(axes) > 1 else 8, ncol=2 if count > 20 else 1, frameon=False)
        else:
            ax.text(0.5, 0.5, "no results", ha="center", va="center", transform=ax.transAxes)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, format="png", bbox_inches="tight")
    return path


def _line(ax: Any, i: int, xs: Sequence[Any], ys: Sequence[float], label: str) -> None:
    ax.plot(xs, ys, marker=_MARKERS[i % len(_MARKERS)], markersize=4, linewidth=1.2, label=label)


def plot_psnr_vs_snr(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """One line per system x cbr x settings, one panel per channel: mean PSNR (dB)
    against SNR (dB).

    Args:
        rows: sweep rows (``system``, ``source``, ``cbr_requested``, ``channel``,
            ``snr_db``, ``cbr``, ``psnr``, ``run.*``).
        path: PNG to write.
        title: second title line (dataset, images, repeats).
    """
    swept = swept_settings(rows)
    panels = _panels(rows, ("channel",)) if len({r.get("channel") for r in rows}) > 1 else [("", list(rows))]
    fig, axes = _figure("PSNR vs SNR (each line at the cbr = k/n shown)" + (f"\n{title}" if title else ""),
                        len(panels))
    lines = []
    for ax, (_, members_of_panel) in zip(axes, panels):
        groups = _groups(members_of_panel, ("system", "source", "cbr_requested", "channel"))
        labels = [f"{key[0]}{'' if len(panels) > 1 else ', ' + str(key[3])}, "
                  f"{format_cbr([r['cbr'] for r in members])}{_run_text(key[4], swept)}"
                  for key, members in groups.items()]
        for i, ((key, members), label) in enumerate(zip(groups.items(), labels)):
            if labels.count(label) > 1 and key[1]:
                label += f" [{Path(str(key[1])).name}]"
            members = sorted(members, key=lambda r: r["snr_db"])
            _line(ax, i, [r["snr_db"] for r in members], [r["psnr"] for r in members], label)
        lines.append(len(groups))
    return _save(fig, axes, path, lines, "SNR [dB]", "PSNR [dB] (mean over images)", [t for t, _ in panels])


def cbr_panel_keys(rows: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """What splits PSNR-vs-CBR into panels: ``()`` (one panel), ``("channel",)``, or
    ``("channel", "snr_db")`` / ``("snr_db",)`` when a panel would hold more than
    :data:`MAX_LINES` lines."""
    channels = len({r.get("channel") for r in rows})
    per_channel = len(_groups(rows, ("system", "channel", "snr_db"))) / max(channels, 1)
    keys: tuple[str, ...] = ("channel",) if channels > 1 else ()
    if per_channel > MAX_LINES and len({r.get("snr_db") for r in rows}) > 1:
        keys += ("snr_db",)
    return keys


def plot_psnr_vs_cbr(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Mean PSNR (dB) against measured mean CBR: one line per system x SNR x settings,
    one panel per channel (per channel and SNR when a panel would hold more than
    :data:`MAX_LINES` lines).

    Rows that share a system label (several CBRs, or one checkpoint per CBR) join into
    one line, sorted by measured CBR.
    """
    swept = swept_settings(rows)
    keys = cbr_panel_keys(rows)
    panels = _panels(rows, keys) if keys else [("", list(rows))]
    fig, axes = _figure("PSNR vs CBR" + (f"\n{title}" if title else ""), len(panels))
    lines = []
    for ax, (_, members_of_panel) in zip(axes, panels):
        groups = _groups(members_of_panel, ("system", "channel", "snr_db"))
        for i, (key, members) in enumerate(groups.items()):
            members = sorted(members, key=lambda r: r["cbr"])
            where = ([] if "channel" in keys else [str(key[1])]) + ([] if "snr_db" in keys else [f"SNR {key[2]:g} dB"])
            label = ", ".join([str(key[0])] + where) + _run_text(key[3], swept)
            _line(ax, i, [r["cbr"] for r in members], [r["psnr"] for r in members], label)
        lines.append(len(groups))
    return _save(fig, axes, path, lines, "CBR = k / n (measured mean; k complex channel uses, n = 3HW)",
                 "PSNR [dB] (mean over images)", [t for t, _ in panels])


def plot_metric_vs(rows: Sequence[dict[str, Any]], x: str, y: str, path: str | Path, title: str = "") -> Path:
    """``y`` (a metric column) against ``x`` (a run-time setting column ``run.NAME``, or
    ``snr_db`` / ``cbr`` / ``channel_uses``): one line per system x cbr x SNR x other
    settings, one panel per channel. Non-numeric x values (``auto``) are categories."""
    values = [r.get(x) for r in rows if r.get(x) is not None and r.get(y) is not None]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    order = list(dict.fromkeys(values))
    position = (lambda v: v) if numeric else order.index
    swept = swept_settings(rows) - {x}
    panels = _panels(rows, ("channel",)) if len({r.get("channel") for r in rows}) > 1 else [("", list(rows))]
    name = x.removeprefix("run.")
    fig, axes = _figure(f"{y} vs {name}" + (f"\n{title}" if title else ""), len(panels))
    lines = []
    for ax, (_, members_of_panel) in zip(axes, panels):
        groups = _groups(members_of_panel, ("system", "cbr_requested", "channel", "snr_db"), y=y, x=x, leave_out=x)
        for i, (key, members) in enumerate(groups.items()):
            members = sorted(members, key=lambda r: position(r[x]))
            cbr = "" if key[1] is None else f", cbr {key[1]:.4g}"
            where = "" if len(panels) > 1 else f", {key[2]}"
            label = f"{key[0]}{cbr}{where}, SNR {key[3]:g} dB{_run_text(key[4], swept)}"
            _line(ax, i, [position(r[x]) for r in members], [r[y] for r in members], label)
        if not numeric and order:
            ax.set_xticks(range(len(order)), [str(v) for v in order])
        lines.append(len(groups))
    return _save(fig, axes, path, lines, name, f"{y} (mean over images)" if y != "accuracy" else y,
                 [t for t, _ in panels])
