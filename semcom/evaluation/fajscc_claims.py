"""``semcom reproduce fajscc``: the FAJSCC paper's claims as tables and plots.

Choi et al., "Feature Importance-Aware Deep Joint Source-Channel Coding for
Computationally Efficient and Adjustable Image Transmission". Three sweeps on Kodak,
AWGN, CBR 1/16 (``configs/eval/fajscc_{macs,rho,snr}.yaml``), each with a table maker:

* :func:`macs_table` (**macs**): PSNR against the MACs of encoder + decoder of one
  ``1x3x512x768`` image (:data:`MACS_SHAPE`) at each point's run-time settings
  (:func:`encoder_decoder_macs`; a multiply-add counted once), table, ``macs.csv`` and
  ``psnr_vs_macs.png``;
* :func:`rho_table` (**rho**): PSNR of the three rho curves (:data:`CURVES`) at each
  SNR, each curve's spread (max - min PSNR) and the ratios the paper's claims are
  about, ``rho.csv`` and ``psnr_vs_rho.png``;
* :func:`snr_table` (**snr**): PSNR and MS-SSIM, a row per SNR and a column per system.

The table makers (:data:`~semcom.evaluation.reproduce.Table`) take the rows of
:func:`~semcom.evaluation.sweep.run_sweep`; the recipe also passes :func:`macs_table`
and :func:`rho_table` the folder the sweep wrote (``out_dir``): their CSVs and plots go
there, beside the sweep's own files (``out_dir=None``: only the markdown). :func:`fajscc_recipe` builds the recipe; its
options replace the models (a zoo name or a checkpoint path) for all three sweeps and
can leave out the (slow) digital baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from semcom.errors import SemcomError
from semcom.evaluation.report import as_number as _num
from semcom.evaluation.report import format_number as _fmt
from semcom.evaluation.report import is_path as _is_path
from semcom.evaluation.report import new_figure as _figure
from semcom.evaluation.report import plot_link as _plot_link
from semcom.evaluation.report import save_figure as _save
from semcom.evaluation.report import sweep_systems as _sweep_systems
from semcom.evaluation.report import write_csv as _write_csv
from semcom.evaluation.reproduce import Evaluation, Recipe

#: the image whose encoding + decoding is counted (one Kodak image, batch 1)
MACS_SHAPE = (1, 3, 512, 768)
#: the SNR the decoder's input is drawn at for counting (MACs do not depend on it: the
#: counter counts by tensor shapes, and FAJSCC attends round(rho * windows) windows)
MACS_SNR_DB = 10.0
#: the rho curves: name -> (description, rho_enc of a point at rho r, rho_dec of it)
CURVES: dict[str, tuple[str, Callable[[float], float], Callable[[float], float]]] = {
    "both": ("rho_enc = rho_dec = rho", lambda r: r, lambda r: r),
    "encoder": ("rho_enc = rho, rho_dec = 0.5", lambda r: r, lambda r: 0.5),
    "decoder": ("rho_enc = 0.5, rho_dec = rho", lambda r: 0.5, lambda r: r),
}
#: the recipe's configs (repository-relative) and the system index of each model in them
CONFIGS = {"macs": "configs/eval/fajscc_macs.yaml", "rho": "configs/eval/fajscc_rho.yaml",
           "snr": "configs/eval/fajscc_snr.yaml"}
MODEL_INDEX = {"fajscc": {"macs": 0, "rho": 0, "snr": 0}, "swinjscc": {"macs": 1, "rho": 1, "snr": 1},
               "adjscc": {"snr": 2}}
DIGITAL_INDEX = 3  # in fajscc_snr.yaml


# ------------------------------------------------------------------------ helpers
def _settings(row: dict[str, Any]) -> dict[str, Any]:
    """A row's run-time settings (``run.NAME`` columns; automatic ones left out)."""
    return {k[4:]: v for k, v in row.items() if k.startswith("run.") and v != "auto"}


def _snrs(rows: Sequence[dict[str, Any]]) -> list[float]:
    return sorted({float(r["snr_db"]) for r in rows})


def _title(rows: Sequence[dict[str, Any]], what: str) -> str:
    images = rows[0].get("images") if rows else 0
    return f"{what}: Kodak ({images} images), AWGN, CBR 1/16"


# --------------------------------------------------------------------------- MACs
def encoder_decoder_macs(model: Any, settings: dict[str, Any] | None = None,
                         shape: Sequence[int] = MACS_SHAPE, snr_db: float = MACS_SNR_DB) -> tuple[int, int]:
    """MACs of ``model.encode`` and ``model.decode`` of one image of ``shape`` at run-time
    ``settings`` (validated against the model's; each side gets its own, as in
    ``transmit``), counted by :func:`semcom.metrics.complexity.count_macs` (FLOPs / 2 of
    matrix products, convolutions and attention: a multiply-add counted once). The
    decoder is counted on what it receives in ``forward`` (the encoder's symbols through
    AWGN at ``snr_db``, equalized), as :func:`~semcom.metrics.complexity.encoder_decoder_costs`
    does, without its latency runs.

    Returns:
        ``(encoder MACs, decoder MACs)``.
    """
    from semcom.channels import AWGN
    from semcom.metrics.complexity import count_macs

    run = model.resolve_settings(**(settings or {}))
    enc_kw, dec_kw = run.encoder(), run.decoder()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    gen = torch.Generator(device=device).manual_seed(0)
    images = torch.rand(tuple(shape), generator=gen, device=device)
    snr = torch.full((images.shape[0],), float(snr_db), device=device)
    model.eval()
    sent: dict[str, Any] = {}

    def encode() -> None:
        sent["enc"] = model.encode(images, snr, **enc_kw)

    with torch.no_grad():
        macs_enc = count_macs(encode)
        enc = sent["enc"]
        received = model.receive(AWGN(), enc, snr, gen)
        macs_dec = count_macs(model.decode, received, snr, enc.side, **dec_kw)
    return macs_enc, macs_dec


def spec_of_row(row: dict[str, Any], systems: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The single-model spec (no ``run``) a row's system was built from: the sweep's spec
    (of ``systems``) of that source, else the zoo name or checkpoint path of ``row["source"]``."""
    from semcom.evaluation.systems import expand_system_spec

    source = str(row.get("source") or "")
    for spec in systems:
        if not isinstance(spec, dict) or spec.get("link") is not None:
            continue
        for one in expand_system_spec({k: v for k, v in spec.items() if k != "run"}):
            if str(one.get("pretrained") or one.get("checkpoint") or "") == source and \
                    str(one.get("label") or row["system"]) == row["system"]:
                return one
    from semcom.zoo.pretrained import has_pretrained

    return {"pretrained": source} if has_pretrained(source) else {"checkpoint": source}


def add_macs(rows: Sequence[dict[str, Any]], shape: Sequence[int] = MACS_SHAPE,
             systems: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """``rows`` with ``macs_encoder``, ``macs_decoder`` and ``macs`` (their sum) of one
    image of ``shape`` at each row's settings; None for systems that are no JSCC model
    (no ``encode``/``decode``, e.g. the digital link). Each model is built once (on the
    CPU), from its spec in ``systems`` (the sweep's system specs; without one, from the
    row's zoo name or checkpoint), and each of its settings counted once."""
    from semcom.evaluation.systems import build_link

    models: dict[str, Any] = {}
    counted: dict[tuple, tuple[int, int] | None] = {}
    out = []
    for row in rows:
        source = str(row.get("source") or "")
        settings = _settings(row)
        key = (row["system"], source, repr(sorted(settings.items())))
        if key not in counted:
            if not source or source.startswith("<"):  # built by name, or a Link object
                counted[key] = None
            else:
                if (row["system"], source) not in models:
                    models[(row["system"], source)] = build_link(spec_of_row(row, systems), "cpu")
                model = models[(row["system"], source)]
                ok = all(hasattr(model, a) for a in ("encode", "decode", "receive", "resolve_settings"))
                counted[key] = encoder_decoder_macs(model, settings, shape) if ok else None
        macs = counted[key]
        out.append({**row, "macs_encoder": None if macs is None else macs[0],
                    "macs_decoder": None if macs is None else macs[1],
                    "macs": None if macs is None else macs[0] + macs[1]})
    return out


def macs_points(rows: Sequence[dict[str, Any]], shape: Sequence[int] = MACS_SHAPE,
                systems: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """One entry per (system, settings): ``system``, ``rho_enc``, ``rho_dec`` (None for a
    model without them), ``gmacs_encoder``, ``gmacs_decoder``, ``gmacs``, and
    ``psnr_<snr>db`` per SNR, in order of first appearance (``systems``: see :func:`add_macs`)."""
    snrs = _snrs(rows)
    points: dict[tuple, dict[str, Any]] = {}
    for row in add_macs(rows, shape, systems):
        settings = _settings(row)
        key = (row["system"], repr(sorted(settings.items())))
        if key not in points:
            giga = {k: None if row[k] is None else row[k] / 1e9 for k in ("macs_encoder", "macs_decoder", "macs")}
            points[key] = {"system": row["system"], "rho_enc": _num(settings.get("rho_enc")),
                           "rho_dec": _num(settings.get("rho_dec")), "gmacs_encoder": giga["macs_encoder"],
                           "gmacs_decoder": giga["macs_decoder"], "gmacs": giga["macs"],
                           **{f"psnr_{s:g}db": None for s in snrs}}
        points[key][f"psnr_{float(row['snr_db']):g}db"] = _num(row.get("psnr"))
    return list(points.values())


def macs_table(rows: Sequence[dict[str, Any]], shape: Sequence[int] = MACS_SHAPE,
               out_dir: Path | None = None) -> str:
    """Markdown of part (a): a row per system and settings (GMACs of encoder, decoder,
    both; PSNR per SNR), and the cheapest FAJSCC point at least as good as each other
    model at each SNR. With ``out_dir`` (the sweep's folder), the models are rebuilt
    from the specs of its ``results.json`` and ``macs.csv`` and ``psnr_vs_macs.png`` are
    written there."""
    points = macs_points(rows, shape, _sweep_systems(out_dir))
    snrs = _snrs(rows)
    size = "x".join(str(int(d)) for d in shape)
    lines = [f"MACs of encoder + decoder of one {size} image (GMACs, a multiply-add counted once) "
             "and Kodak PSNR (dB):\n",
             "| system | rho_enc | rho_dec | encoder GMACs | decoder GMACs | total GMACs | "
             + " | ".join(f"PSNR {s:g} dB" for s in snrs) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(snrs)]
    for p in points:
        lines.append(f"| {p['system']} | {_fmt(p['rho_enc'])} | {_fmt(p['rho_dec'])} | {_fmt(p['gmacs_encoder'], 3)} | "
                     f"{_fmt(p['gmacs_decoder'], 3)} | {_fmt(p['gmacs'], 3)} | "
                     + " | ".join(_fmt(p[f"psnr_{s:g}db"]) for s in snrs) + " |")
    notes = []
    tunable = [p for p in points if p["rho_enc"] is not None and p["gmacs"] is not None]
    for other in (p for p in points if p["rho_enc"] is None and p["gmacs"] is not None):
        for s in snrs:
            ref = other[f"psnr_{s:g}db"]
            good = [p for p in tunable if p["system"] != other["system"] and ref is not None
                    and p[f"psnr_{s:g}db"] is not None and p[f"psnr_{s:g}db"] >= ref]
            if not tunable or ref is None:
                continue
            if good:
                best = min(good, key=lambda p: p["gmacs"])
                notes.append(f"- {s:g} dB: the cheapest {best['system']} point at least as good as {other['system']} "
                             f"({ref:.2f} dB, {other['gmacs']:.3f} GMACs) is rho = ({best['rho_enc']:g}, "
                             f"{best['rho_dec']:g}): {best[f'psnr_{s:g}db']:.2f} dB at {best['gmacs']:.3f} GMACs "
                             f"({100 * best['gmacs'] / other['gmacs']:.0f} % of its MACs)")
            else:
                names = " / ".join(dict.fromkeys(p["system"] for p in tunable))
                notes.append(f"- {s:g} dB: no {names} point reaches {other['system']} ({ref:.2f} dB)")
    notes += macs_claim(points)
    text = "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "")
    out = None if out_dir is None else Path(out_dir)
    if out is not None and points:
        _write_csv(out / "macs.csv", points)
        path = out / "psnr_vs_macs.png"
        existed = path.exists()
        fig, ax = _figure(_title(rows, "PSNR vs MACs"))
        markers = ("o", "s", "^", "D", "v")
        for j, s in enumerate(snrs):
            color = f"C{j}"
            for i, system in enumerate(dict.fromkeys(p["system"] for p in points)):
                mine = sorted((p for p in points if p["system"] == system and p["gmacs"] is not None
                               and p[f"psnr_{s:g}db"] is not None), key=lambda p: p["gmacs"])
                if not mine:
                    continue
                ax.plot([p["gmacs"] for p in mine], [p[f"psnr_{s:g}db"] for p in mine], color=color,
                        marker=markers[i % len(markers)], linestyle="-" if len(mine) > 1 else "none",
                        label=f"{system}, {s:g} dB")
                for p in mine if j == 0 else []:  # rho labels once, on the first SNR's line
                    if p["rho_enc"] is not None:
                        ax.annotate(f"{p['rho_enc']:g}/{p['rho_dec']:g}", (p["gmacs"], p[f"psnr_{s:g}db"]),
                                    fontsize=6, textcoords="offset points", xytext=(3, 3))
        _save(fig, ax, path, f"GMACs per {size} image (encoder + decoder; labels rho_enc/rho_dec)", "PSNR (dB)")
        text += _plot_link(path, existed)
    return text


# ---------------------------------------------------------------------------- rho
def point_curves(rho_enc: float, rho_dec: float) -> list[tuple[str, float]]:
    """The curves of :data:`CURVES` a point lies on, with its rho on each."""
    out = []
    for name, (_, enc, dec) in CURVES.items():
        for r in (rho_enc, rho_dec):
            if abs(enc(r) - rho_enc) < 1e-9 and abs(dec(r) - rho_dec) < 1e-9:
                out.append((name, round(r, 6)))
                break
    return out


def rho_curves(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str, float], dict[float, float]]:
    """``(system, curve, snr) -> {rho: PSNR}`` of the rows with ``run.rho_enc`` and
    ``run.rho_dec`` (a point on several curves, e.g. (0.5, 0.5), counts on each)."""
    out: dict[tuple[str, str, float], dict[float, float]] = {}
    for row in rows:
        enc, dec, psnr = _num(row.get("run.rho_enc")), _num(row.get("run.rho_dec")), _num(row.get("psnr"))
        if enc is None or dec is None or psnr is None:
            continue
        for curve, r in point_curves(enc, dec):
            out.setdefault((row["system"], curve, float(row["snr_db"])), {})[r] = psnr
    return out


def rho_summary(curves: dict[tuple[str, str, float], dict[float, float]]) -> list[dict[str, Any]]:
    """Per (system, curve, SNR): ``points``, ``spread_db`` (max - min PSNR), ``psnr_min``,
    ``psnr_max``, ``psnr_at_0``, ``psnr_at_0.5``, ``psnr_at_1``, and ``share_by_0.5``:
    ``(PSNR(0.5) - PSNR(0)) / (PSNR(1) - PSNR(0))``, the part of the rise from rho 0 to 1
    reached at 0.5 (None without those points, or when PSNR does not rise from 0 to 1)."""
    out = []
    for (system, curve, snr), values in curves.items():
        lo, mid, hi = values.get(0.0), values.get(0.5), values.get(1.0)
        share = None
        if lo is not None and mid is not None and hi is not None and hi - lo > 1e-12:
            share = (mid - lo) / (hi - lo)
        out.append({"system": system, "curve": curve, "snr_db": snr, "points": len(values),
                    "spread_db": max(values.values()) - min(values.values()),
                    "psnr_min": min(values.values()), "psnr_max": max(values.values()),
                    "psnr_at_0": lo, "psnr_at_0.5": mid, "psnr_at_1": hi, "share_by_0.5": share})
    return out


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "n/a"
    return "inf" if b == 0 else f"{a / b:.2f}"


def rho_table(rows: Sequence[dict[str, Any]], out_dir: Path | None = None) -> str:
    """Markdown of part (b): PSNR per rho (rows) and curve x SNR (columns), the spread of
    each curve at each SNR, and the ratios of the claims. Writes ``rho.csv``,
    ``rho_spread.csv`` and ``psnr_vs_rho.png`` to ``out_dir`` (the sweep's folder) when given."""
    curves = rho_curves(rows)
    if not curves:
        raise SemcomError("the rho sweep has no rows with run.rho_enc and run.rho_dec (is systems.0 a FAJSCC?)")
    snrs = _snrs(rows)
    text: list[str] = []
    csv_rows: list[dict[str, Any]] = []
    for system in dict.fromkeys(k[0] for k in curves):
        names = [c for c in CURVES if any(k[:2] == (system, c) for k in curves)]
        cols = [(c, s) for s in snrs for c in names if (system, c, s) in curves]
        rhos = sorted({r for k, v in curves.items() if k[0] == system for r in v})
        text += [f"{system}: PSNR (dB) at rho; curves "
                 + "; ".join(f"**{c}**: {CURVES[c][0]}" for c in names) + "\n",
                 "| rho | " + " | ".join(f"{c} {s:g} dB" for c, s in cols) + " |",
                 "|---|" + "---|" * len(cols)]
        for r in rhos:
            cells = [_fmt(curves[(system, c, s)].get(r)) for c, s in cols]
            text.append(f"| {r:g} | " + " | ".join(cells) + " |")
            csv_rows.append({"system": system, "rho": r,
                             **{f"{c}_{s:g}db": curves[(system, c, s)].get(r) for c, s in cols}})
        summary = [x for x in rho_summary(curves) if x["system"] == system]
        by = {(x["curve"], x["snr_db"]): x for x in summary}
        text += ["", f"{system}: spread of each curve (max - min PSNR over rho, dB)\n",
                 "| curve | " + " | ".join(f"{s:g} dB" for s in snrs) + " |", "|---|" + "---|" * len(snrs)]
        for c in names:
            text.append(f"| {c} | " + " | ".join(_fmt(by[(c, s)]["spread_db"]) if (c, s) in by else ""
                                                 for s in snrs) + " |")
        text += ["", "Claims (measured):"]
        spread = {(c, s): by[(c, s)]["spread_db"] if (c, s) in by else None for c in CURVES for s in snrs}
        text.append("- *varying rho_dec moves PSNR far more than rho_enc*: decoder / encoder spread "
                    + ", ".join(f"{_ratio(spread[('decoder', s)], spread[('encoder', s)])} at {s:g} dB"
                                for s in snrs))
        if len(snrs) > 1:
            lo, hi = snrs[0], snrs[-1]
            text.append(f"- *about twice as much at {lo:g} dB as at {hi:g} dB*: decoder spread at {lo:g} dB / "
                        f"at {hi:g} dB = {_ratio(spread[('decoder', lo)], spread[('decoder', hi)])} "
                        f"(encoder: {_ratio(spread[('encoder', lo)], spread[('encoder', hi)])})")
        shares = [(s, by[("both", s)]) for s in snrs if ("both", s) in by]
        if shares:
            text.append("- *PSNR rises with rho to about 0.5 and flattens* (curve both): " + ", ".join(
                f"{s:g} dB: PSNR(0.5) - PSNR(0) = {_fmt(_diff(x['psnr_at_0.5'], x['psnr_at_0']))} dB, "
                f"PSNR(1) - PSNR(0.5) = {_fmt(_diff(x['psnr_at_1'], x['psnr_at_0.5']))} dB"
                + ("" if x["share_by_0.5"] is None else
                   f" ({100 * x['share_by_0.5']:.0f} % of the rise from 0 to 1 reached by 0.5)")
                for s, x in shares))
        text.append("")
    references = [r for r in rows if r.get("run.rho_enc") is None and _num(r.get("psnr")) is not None]
    if references:
        text.append("Reference (no rho): " + "; ".join(f"{r['system']} {float(r['snr_db']):g} dB: "
                                                      f"{float(r['psnr']):.2f} dB" for r in references))
    out = None if out_dir is None else Path(out_dir)
    result = "\n".join(text).rstrip()
    if out is not None:
        _write_csv(out / "rho.csv", csv_rows)
        _write_csv(out / "rho_spread.csv", rho_summary(curves))
        path = out / "psnr_vs_rho.png"
        existed = path.exists()
        fig, ax = _figure(_title(rows, "PSNR vs rho"))
        styles = {"both": ("-", "o"), "encoder": ("--", "s"), "decoder": (":", "^")}
        for (system, curve, snr), values in curves.items():
            j = snrs.index(snr)
            rs = sorted(values)
            ax.plot(rs, [values[r] for r in rs], color=f"C{j}", linestyle=styles[curve][0],
                    marker=styles[curve][1], markersize=4, label=f"{system} {curve} ({CURVES[curve][0]}), {snr:g} dB")
        for r in references:
            ax.axhline(float(r["psnr"]), color=f"C{snrs.index(float(r['snr_db']))}", linestyle="-.", linewidth=0.8,
                       alpha=0.6, label=f"{r['system']}, {float(r['snr_db']):g} dB")
        _save(fig, ax, path, "rho", "PSNR (dB)")
        result += _plot_link(path, existed)
    return result


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


# ---------------------------------------------------------------------------- SNR
def snr_pivot(rows: Sequence[dict[str, Any]], metric: str = "psnr", digits: int = 2) -> str:
    """Markdown tables of ``metric``: one per channel, a row per SNR, a column per
    system label (its settings appended when one label has several); ``(n% lost)`` marks
    transmissions the system flagged as failed."""
    from semcom.evaluation.tables import run_values, swept_settings

    swept = swept_settings(rows)

    def name(row: dict[str, Any]) -> str:
        extra = ",".join(f"{k[4:]}={v}" for k, v in run_values(row) if k in swept)
        return row["system"] + (f" ({extra})" if extra else "")

    out = []
    for channel in dict.fromkeys(r["channel"] for r in rows):
        sel = [r for r in rows if r["channel"] == channel]
        systems = list(dict.fromkeys(name(r) for r in sel))
        out += [f"{channel}: {metric} at SNR (dB)\n", "| SNR (dB) | " + " | ".join(systems) + " |",
                "|---|" + "---|" * len(systems)]
        for s in _snrs(sel):
            cells = []
            for system in systems:
                hit = [r for r in sel if name(r) == system and float(r["snr_db"]) == s]
                value = _num(hit[0].get(metric)) if hit else None
                lost = float(hit[0].get("failure_rate") or 0) if hit else 0.0
                cells.append(_fmt(value, digits) + (f" ({100 * lost:.0f}% lost)" if value is not None and lost else ""))
            out.append(f"| {s:g} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out).rstrip()


def macs_claim(points: Sequence[dict[str, Any]], rho: float = 0.5) -> list[str]:
    """The paper's claim on computation as a verdict line: each tunable system at
    ``rho_enc = rho_dec = rho`` against each fixed one (e.g. SwinJSCC), by total MACs."""
    lines = []
    fixed = [p for p in points if p["rho_enc"] is None and p["gmacs"] is not None]
    at_rho = [p for p in points if p["rho_enc"] == rho and p["rho_dec"] == rho and p["gmacs"] is not None]
    for mine in at_rho:
        for other in fixed:
            holds = mine["gmacs"] < other["gmacs"]
            lines.append(f"- claim *{mine['system']} at rho {rho:g} uses fewer MACs than {other['system']}*: "
                         f"{'holds' if holds else 'does not hold'} ({mine['gmacs']:.3f} vs {other['gmacs']:.3f} "
                         f"GMACs; the paper: about 10 vs 20 G)")
    return lines


#: part (c)'s claims: (other system's label in fajscc_snr.yaml, SNRs it is about (None:
#: all), strict: FAJSCC (label :data:`SNR_SUBJECT`) must be better, not only as good,
#: wording)
SNR_SUBJECT = "FAJSCC"
SNR_CLAIMS: tuple[tuple[str, tuple[float, ...] | None, bool, str], ...] = (
    ("SwinJSCC", None, False, "is not worse in PSNR than SwinJSCC at any SNR"),
    ("HEVC+5G LDPC", (1.0, 4.0, 7.0), True, "beats HEVC intra + 5G LDPC at 1, 4 and 7 dB"),
    ("ADJSCC", None, True, "beats the shipped ADJSCC at every SNR"),
)


def snr_claims(rows: Sequence[dict[str, Any]], subject: str = SNR_SUBJECT) -> list[str]:
    """Verdict lines for :data:`SNR_CLAIMS` from part (c)'s rows (PSNR, first channel):
    ``holds`` / ``does not hold`` with the PSNR differences (subject minus other, dB), or
    why a claim could not be judged (a system or an SNR not measured)."""
    def psnr(system: str) -> dict[float, float]:
        return {float(r["snr_db"]): v for r in rows if r["system"] == system
                and (v := _num(r.get("psnr"))) is not None}

    mine = psnr(subject)
    lines = []
    for other, snrs, strict, wording in SNR_CLAIMS:
        theirs = psnr(other)
        wanted = sorted(theirs) if snrs is None else list(snrs)
        if not mine or not theirs or any(s not in mine or s not in theirs for s in wanted):
            lines.append(f"- claim *{subject} {wording}*: not judged ({other} or some SNR not measured)")
            continue
        deltas = {s: mine[s] - theirs[s] for s in wanted}
        holds = all(d > 0 if strict else d >= 0 for d in deltas.values())
        detail = ", ".join(f"{s:g} dB {d:+.2f}" for s, d in deltas.items())
        lines.append(f"- claim *{subject} {wording}*: {'holds' if holds else 'does not hold'} "
                     f"(PSNR difference: {detail})")
    return lines


def snr_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown of part (c): PSNR (dB) and MS-SSIM pivots (rows SNR, columns system) and
    the verdicts of :func:`snr_claims`."""
    text = snr_pivot(rows, "psnr")
    if any(_num(r.get("ms_ssim")) is not None for r in rows):
        text += "\n\n" + snr_pivot(rows, "ms_ssim", digits=4)
    return text + "\n\n" + "\n".join(snr_claims(rows))


# ------------------------------------------------------------------------- recipe
def model_overrides(index: int, model: str | Path) -> tuple[str, ...]:
    """``--set`` overrides making ``systems.INDEX`` the given model: a checkpoint path
    (``NAME.json`` / ``NAME.safetensors`` / base path; made absolute) or a zoo name."""
    if _is_path(str(model)):
        path = Path(str(model)).expanduser().resolve()
        if path.suffix in (".json", ".safetensors"):
            path = path.with_suffix("")
        return (f"systems.{index}.pretrained=null", f"systems.{index}.checkpoint={path}")
    return (f"systems.{index}.checkpoint=null", f"systems.{index}.pretrained={model}")


DESCRIPTION = """\
The claims of FAJSCC (Choi et al., feature importance-aware deep JSCC with run-time \
encoder/decoder complexity), measured on the zoo's small models at CBR 1/16 over AWGN on \
the Kodak images (all 24; `--limit N`: the first N), one noise draw per image and point, \
seed 0. FAJSCC is `fajscc_hr_cbr1-16` (small, w/ SA; run-time settings rho_enc / rho_dec: \
the fraction of windows each encoder / decoder block attends, top-scoring windows), \
SwinJSCC `swinjscc_hr_cbr1-16`, ADJSCC `adjscc_hr_cbr1-16`.

* **macs** (`configs/eval/fajscc_macs.yaml`): PSNR against computation at 1 and 10 dB: \
FAJSCC at rho_enc = rho_dec in {0, 0.25, 0.5, 0.75, 1} and SwinJSCC; MACs of encoder + \
decoder of one 1x3x512x768 image at the point's settings (torch's FLOP counter / 2: matrix \
products, convolutions, attention; a multiply-add counted once, element-wise work not \
counted; the count depends on the settings, not on the SNR or the pixels). `macs.csv`, \
`psnr_vs_macs.png`.
* **rho** (`configs/eval/fajscc_rho.yaml`): FAJSCC's PSNR against rho = 0, 0.1, ..., 1 at 1 and \
10 dB on three curves: *both* (rho_enc = rho_dec = rho), *encoder* (rho_enc = rho, rho_dec = \
0.5) and *decoder* (rho_enc = 0.5, rho_dec = rho), 31 listed points (`run:` as a list of \
points), SwinJSCC as reference. The spread (max - min PSNR) of each curve at each SNR is \
what the paper's claims are about: varying rho_dec moves PSNR far more than rho_enc, about \
twice as much at 1 dB as at 10 dB; PSNR rises with rho to about 0.5 and flattens. \
`rho.csv`, `rho_spread.csv`, `psnr_vs_rho.png`.
* **snr** (`configs/eval/fajscc_snr.yaml`): PSNR and MS-SSIM against SNR (1, 4, 7, 10, 13 dB) \
of FAJSCC (rho 0.5 / 0.5), SwinJSCC, ADJSCC and HEVC intra + 5G NR LDPC (auto MCS, CBR \
budget 1/16 = 0.0625) measured in the same run; rows SNR, columns system.

Run: `semcom reproduce fajscc [--limit N] [--out DIR]` (all 24 images: about 1.75 h on one CPU thread, the rho part 60 % of it); each part alone: `semcom evaluate \
configs/eval/fajscc_{macs,rho,snr}.yaml` (the MACs and the rho tables are the recipe's). \
Other models: in all three configs systems.0 is FAJSCC and systems.1 SwinJSCC, so \
`--set systems.0.pretrained=null --set systems.0.checkpoint=PATH` evaluates your \
FAJSCC checkpoint everywhere (`--set systems.0.pretrained=ZOO_NAME` a zoo model); \
ADJSCC and the digital link are systems.2 / systems.3 of `fajscc_snr.yaml` only. From \
Python, `semcom.evaluation.fajscc_claims.fajscc_recipe(fajscc=..., swinjscc=..., \
adjscc=..., digital=False)` does the same per sweep."""


def fajscc_recipe(fajscc: str | Path | None = None, swinjscc: str | Path | None = None,
                  adjscc: str | Path | None = None, digital: bool = True, name: str = "fajscc",
                  macs_shape: Sequence[int] = MACS_SHAPE) -> Recipe:
    """The ``fajscc`` recipe (module docstring), optionally with other models.

    Args:
        fajscc, swinjscc, adjscc: a zoo name or a checkpoint path replacing the zoo
            model in every sweep that has it (None: the zoo's).
        digital: keep the HEVC + 5G LDPC baseline of the SNR sweep (False leaves it out;
            that sweep's config is then a dict, not the YAML path).
        name: the recipe's name (its default folder ``results/NAME``).
        macs_shape: the image whose encoding + decoding is counted.
    """
    overrides: dict[str, list[str]] = {part: [] for part in CONFIGS}
    for model, value in (("fajscc", fajscc), ("swinjscc", swinjscc), ("adjscc", adjscc)):
        if value is not None:
            for part, index in MODEL_INDEX[model].items():
                overrides[part] += model_overrides(index, value)
    snr_config: str | dict[str, Any] = CONFIGS["snr"]
    if not digital:
        from semcom.configfile import read_config_file
        from semcom.evaluation.config import resolve_file_paths
        from semcom.evaluation.reproduce import repo_path

        path = repo_path(CONFIGS["snr"])
        snr_config = read_config_file(path)
        resolve_file_paths(snr_config, path.parent)
        snr_config["systems"] = [s for s in snr_config["systems"]
                                 if not (isinstance(s, dict) and s.get("system") == "digital")]
    shape = tuple(int(d) for d in macs_shape)
    return Recipe(
        name=name,
        description=DESCRIPTION,
        evaluations=[
            Evaluation("macs", CONFIGS["macs"], lambda rows, out_dir=None: macs_table(rows, shape, out_dir),
                       tuple(overrides["macs"])),
            Evaluation("rho", CONFIGS["rho"], rho_table, tuple(overrides["rho"])),
            Evaluation("snr", snr_config, snr_table, tuple(overrides["snr"])),
        ],
    )
