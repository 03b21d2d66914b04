"""Table makers of ``semcom reproduce nuq`` (:mod:`semcom.evaluation.nuq_claims`): the
quantization curves, the weighting ablation and the analog comparison, each as markdown
for the README and, given the sweep's folder (``out_dir``), CSVs and plots written there.

Rows are those of :func:`~semcom.evaluation.sweep.run_sweep`; a NUQ row is told apart by
its run-time settings (``run.quantizer``, ``run.budget_bits``, ``run.contribution``,
``run.modulation``), not by its label. Differences are non-uniform minus uniform (or
gradient minus heuristic) of the point means; the ``±`` beside a PSNR difference is twice
its standard error, ``2 sqrt(s1^2 / n1 + s2^2 / n2)`` from each row's per-image spread
(``psnr_std``) and image count, the images taken as independent (the two rows see the
same images and noise seeds, so this overstates the error of the paired difference).
LPIPS is lower-is-better: a negative LPIPS difference favours non-uniform (gradient).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from semcom.evaluation.report import (
    as_number as _num,
    format_number as _fmt,
    plot_link as _plot_link,
    write_csv as _write_csv,
)

METRICS = ("psnr", "ms_ssim", "lpips")
LABELS = {"psnr": "PSNR (dB)", "ms_ssim": "MS-SSIM", "lpips": "LPIPS"}
DIGITS = {"psnr": 2, "ms_ssim": 4, "lpips": 4}
#: the budget of the paper's headline claim
CLAIM_BITS = 8.0
HEURISTICS = ("magnitude", "std")
LPIPS_MISSING = ("LPIPS unavailable: no local backbone weights (nuq_recipe(lpips_weights=PATH), "
                 "`--set 'metrics.2={name: lpips, weights: PATH}'` or $SEMCOM_LPIPS_WEIGHTS).")


# ------------------------------------------------------------------------ rows
def curve(row: dict[str, Any]) -> tuple[str, float | None]:
    """``(quantizer, budget bits)`` of a NUQ row (budget None for ``none``); ``("", None)``
    for a row of another system."""
    q = row.get("run.quantizer")
    if q is None:
        return "", None
    return str(q), None if q == "none" else _num(row.get("run.budget_bits"))


def curve_name(quantizer: str, bits: float | None) -> str:
    """``"unquantized"``, ``"uniform 8-bit"``, ``"non-uniform 8-bit"``."""
    if quantizer == "none":
        return "unquantized"
    return f"{'non-uniform' if quantizer == 'nonuniform' else quantizer} {bits:g}-bit"


def _curve_order(key: tuple[str, float | None]) -> tuple:
    q, bits = key
    return (q != "none", -(bits or 0.0), q != "uniform")


def _snrs(rows: Sequence[dict[str, Any]]) -> list[float]:
    return sorted({float(r["snr_db"]) for r in rows})


def _channels(rows: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(str(r["channel"]) for r in rows))


def has_metric(rows: Sequence[dict[str, Any]], metric: str) -> bool:
    """Whether any row has a value of ``metric``."""
    return any(_num(r.get(metric)) is not None for r in rows)


def psnr_error(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """Twice the standard error of ``a["psnr"] - b["psnr"]`` (module docstring), in dB."""
    terms = []
    for r in (a, b):
        std, n = _num(r.get("psnr_std")), (_num(r.get("images")) or 0) * (_num(r.get("repeats")) or 1)
        if std is None or n < 1:
            return None
        terms.append(std * std / n)
    return 2 * math.sqrt(sum(terms))


def _diff(a: dict[str, Any] | None, b: dict[str, Any] | None, metric: str) -> float | None:
    x, y = (None if r is None else _num(r.get(metric)) for r in (a, b))
    return None if x is None or y is None else x - y


def _cell(row: dict[str, Any] | None, metric: str) -> str:
    if row is None or _num(row.get(metric)) is None:
        return ""
    lost = _num(row.get("failure_rate")) or 0.0
    return _fmt(_num(row[metric]), DIGITS[metric]) + (f" ({100 * lost:.0f}% lost)" if lost else "")


def _signed(value: float | None, digits: int = 2, error: float | None = None) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" + ("" if error is None else f" ± {error:.{digits}f}")


# ------------------------------------------------------------------------ plots
def _panel_plot(series: dict[str, dict[str, list[tuple[float, float]]]], path: Path, title: str,
                ylabel: str, styles: dict[str, tuple[str, str, str]]) -> Path:
    """One panel per channel (``series[channel][curve] = [(snr, value)]``), a line per curve
    in ``styles[curve] = (color, linestyle, marker)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    channels = list(series)
    fig = Figure(figsize=(3.8 * len(channels) + 2.2, 3.9), dpi=110)
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=9)
    axes = [fig.add_subplot(1, len(channels), i + 1) for i in range(len(channels))]
    for ax, channel in zip(axes, channels):
        for name, points in series[channel].items():
            color, line, marker = styles.get(name, ("C7", "-", "o"))
            points = sorted(points)
            ax.plot([p[0] for p in points], [p[1] for p in points], color=color, linestyle=line, marker=marker,
                    markersize=4, linewidth=1.2, label=name)
        ax.set_title(channel, fontsize=9)
        ax.set_xlabel("SNR (dB)", fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel(ylabel, fontsize=8)
    if axes[-1].get_legend_handles_labels()[0]:
        axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7, frameon=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight")
    return path


def _curve_styles(keys: Sequence[tuple[str, float | None]]) -> dict[str, tuple[str, str, str]]:
    budgets = sorted({b for q, b in keys if b is not None}, reverse=True)
    out = {}
    for q, b in keys:
        color = "k" if b is None else f"C{budgets.index(b) % 10}"
        out[curve_name(q, b)] = (color, "-" if q == "nonuniform" else ":" if q == "none" else "--",
                                 "o" if q == "nonuniform" else "s" if q == "uniform" else "^")
    return out


# --------------------------------------------------------------- quantization
def nonuniform_gains(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Non-uniform minus uniform at each (channel, budget, SNR) both have: ``d_psnr`` (dB),
    ``d_psnr_2se``, ``d_ms_ssim``, ``d_lpips``, both PSNRs, channel uses and loss rates."""
    index = {(r["channel"], *curve(r), float(r["snr_db"])): r for r in rows if curve(r)[0]}
    out = []
    for (channel, q, bits, snr), nu in index.items():
        u = index.get((channel, "uniform", bits, snr))
        if q != "nonuniform" or u is None:
            continue
        out.append({"channel": channel, "budget_bits": bits, "snr_db": snr, "psnr_uniform": _num(u.get("psnr")),
                    "psnr_nonuniform": _num(nu.get("psnr")), "d_psnr": _diff(nu, u, "psnr"),
                    "d_psnr_2se": psnr_error(nu, u), "d_ms_ssim": _diff(nu, u, "ms_ssim"),
                    "d_lpips": _diff(nu, u, "lpips"), "channel_uses_uniform": _num(u.get("channel_uses")),
                    "channel_uses_nonuniform": _num(nu.get("channel_uses")),
                    "failure_rate_uniform": _num(u.get("failure_rate")),
                    "failure_rate_nonuniform": _num(nu.get("failure_rate"))})
    return sorted(out, key=lambda g: (_channels(rows).index(g["channel"]), -g["budget_bits"], g["snr_db"]))


def gain_claims(gains: Sequence[dict[str, Any]], bits: float = CLAIM_BITS) -> list[str]:
    """Markdown bullets on non-uniform vs uniform, from :func:`nonuniform_gains`: per
    channel at ``bits`` the differences at the lowest and highest SNR and how many SNRs
    favour non-uniform; then the count over every budget, and the channel uses."""
    at = [g for g in gains if g["budget_bits"] == bits and g["d_psnr"] is not None]
    if not at:
        return [f"- no uniform / non-uniform pair at {bits:g} bits to compare"]
    lines = [f"- *at a {bits:g}-bit budget non-uniform beats uniform in PSNR, MS-SSIM and LPIPS, more so "
             "at high SNR* (the paper); measured, non-uniform minus uniform:"]
    for channel in dict.fromkeys(g["channel"] for g in at):
        mine = sorted((g for g in at if g["channel"] == channel), key=lambda g: g["snr_db"])
        lo, hi = mine[0], mine[-1]
        better = sum(g["d_psnr"] > 0 for g in mine)
        ends = (f"{hi['snr_db']:g} dB (highest): PSNR {_signed(hi['d_psnr'], 2, hi['d_psnr_2se'])} dB, "
                f"MS-SSIM {_signed(hi['d_ms_ssim'], 4)}, LPIPS {_signed(hi['d_lpips'], 4)}")
        if len(mine) > 1:
            ends += (f"; {lo['snr_db']:g} dB (lowest): PSNR {_signed(lo['d_psnr'], 2, lo['d_psnr_2se'])} dB, "
                     f"MS-SSIM {_signed(lo['d_ms_ssim'], 4)}, LPIPS {_signed(lo['d_lpips'], 4)}")
            trend = "larger" if hi["d_psnr"] > lo["d_psnr"] else "not larger"
            ends += f"; the PSNR gain at the highest SNR is {trend} than at the lowest"
        clear = sum(g["d_psnr"] > (g["d_psnr_2se"] or 0.0) for g in mine)
        lines.append(f"  - {channel}: {ends}; non-uniform higher PSNR at {better} of {len(mine)} SNRs "
                     f"({clear} beyond ± 2 SE)")
    every = [g for g in gains if g["d_psnr"] is not None]
    for b in sorted({g["budget_bits"] for g in every}, reverse=True):
        mine = [g for g in every if g["budget_bits"] == b]
        mean = sum(g["d_psnr"] for g in mine) / len(mine)
        lines.append(f"- {b:g} bits: non-uniform higher PSNR at {sum(g['d_psnr'] > 0 for g in mine)} of {len(mine)} "
                     f"(channel, SNR) points, mean difference {mean:+.2f} dB")
    uses = [g for g in at if g["channel_uses_uniform"] and g["channel_uses_nonuniform"]]
    if uses:
        u, nu = uses[0]["channel_uses_uniform"], uses[0]["channel_uses_nonuniform"]
        lines.append(f"- equal payload bits, unequal channel uses: at {bits:g} bits non-uniform sends {nu:.0f} "
                     f"channel uses per image and uniform {u:.0f} ({100 * (nu / u - 1):+.1f} %), the difference "
                     "being the side information (category ranges, bit splits and map)")
    return lines


def quantization_table(rows: Sequence[dict[str, Any]], out_dir: Path | None = None, what: str = "") -> str:
    """Markdown of a quantization sweep: per channel and metric, a row per SNR and a
    column per curve (unquantized, uniform and non-uniform at each budget); the channel
    uses of each curve; the non-uniform gains and the claims. With ``out_dir``:
    ``nonuniform_gain.csv`` and ``<metric>_by_channel.png`` (a panel per channel)."""
    nuq = [r for r in rows if curve(r)[0]]
    keys = sorted(dict.fromkeys(curve(r) for r in nuq), key=_curve_order)
    names = [curve_name(*k) for k in keys]
    index = {(r["channel"], curve(r), float(r["snr_db"])): r for r in nuq}
    metrics = [m for m in METRICS if has_metric(nuq, m)]
    text: list[str] = []
    for metric in metrics:
        for channel in _channels(nuq):
            text += [f"{channel}: {LABELS[metric]} against SNR\n", "| SNR (dB) | " + " | ".join(names) + " |",
                     "|---|" + "---|" * len(names)]
            for s in _snrs(nuq):
                text.append(f"| {s:g} | " + " | ".join(_cell(index.get((channel, k, s)), metric) for k in keys) + " |")
            text.append("")
    if "lpips" not in metrics:
        text += [LPIPS_MISSING, ""]
    text += ["Channel uses per image (mean; payload plus side information) and CBR\n",
             "| curve | channel uses | CBR |", "|---|---|---|"]
    for k, name in zip(keys, names):
        first = next(r for r in nuq if curve(r) == k)
        text.append(f"| {name} | {_fmt(_num(first.get('channel_uses')), 0)} | {_fmt(_num(first.get('cbr')), 4)} |")
    gains = nonuniform_gains(nuq)
    text += ["", "Claims (measured; ± is 2 standard errors, see `semcom.evaluation.nuq_tables`):"]
    text += gain_claims(gains)
    result = "\n".join(text)
    if out_dir is not None:
        out = Path(out_dir)
        if gains:
            _write_csv(out / "nonuniform_gain.csv", gains)
            result += f"\n\nAll differences: `{out.name}/nonuniform_gain.csv`."
        styles = _curve_styles(keys)
        for metric in metrics:
            series: dict[str, dict[str, list[tuple[float, float]]]] = {}
            for r in nuq:
                if _num(r.get(metric)) is not None:
                    series.setdefault(r["channel"], {}).setdefault(curve_name(*curve(r)), []).append(
                        (float(r["snr_db"]), float(r[metric])))
            path = out / f"{metric}_by_channel.png"
            existed = path.exists()
            images = nuq[0].get("images") if nuq else 0
            _panel_plot(series, path, f"{LABELS[metric]} vs SNR: NUQ, {what or 'images'} ({images})",
                        LABELS[metric], styles)
            result += _plot_link(path, existed)
    return result


# ------------------------------------------------------------------ weighting
def weighting_points(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (channel, SNR): the metrics of each contribution factor of the non-uniform rows
    (``gradient``, ``magnitude``, ``std``) and of uniform, and the gradient's margins:
    ``d_psnr`` (gradient minus the better heuristic, dB), ``d_psnr_2se``, ``d_lpips``
    (gradient minus the lower heuristic LPIPS) and which heuristic was the better."""
    out = []
    for channel in _channels(rows):
        for s in _snrs(rows):
            here = [r for r in rows if r["channel"] == channel and float(r["snr_db"]) == s]
            by = {str(r.get("run.contribution")): r for r in here if r.get("run.quantizer") == "nonuniform"}
            grad = by.get("gradient")
            rivals = [by[h] for h in HEURISTICS if h in by and _num(by[h].get("psnr")) is not None]
            entry: dict[str, Any] = {"channel": channel, "snr_db": s}
            for name, r in [*by.items(), *(("uniform", r) for r in here if r.get("run.quantizer") == "uniform")]:
                for m in (*METRICS, "seconds_per_image"):
                    entry[f"{m}_{name}"] = _num(r.get(m))
            best = max(rivals, key=lambda r: float(r["psnr"])) if rivals else None
            entry["best_heuristic"] = None if best is None else best.get("run.contribution")
            entry["d_psnr"] = _diff(grad, best, "psnr")
            entry["d_psnr_2se"] = None if grad is None or best is None else psnr_error(grad, best)
            lp = [r for r in rivals if _num(r.get("lpips")) is not None]
            entry["d_lpips"] = _diff(grad, min(lp, key=lambda r: float(r["lpips"])), "lpips") if lp else None
            out.append(entry)
    return out


def weighting_table(rows: Sequence[dict[str, Any]], out_dir: Path | None = None) -> str:
    """Markdown of the weighting ablation: per channel, a row per (SNR, method) with PSNR,
    MS-SSIM, LPIPS and the transmit time per image; then the claims. With ``out_dir``:
    ``weighting.csv``."""
    metrics = [m for m in METRICS if has_metric(rows, m)]
    text = []
    for channel in _channels(rows):
        text += [f"{channel}: weighting of the non-uniform quantizer (8 bits) and the uniform reference\n",
                 "| SNR (dB) | method | " + " | ".join(LABELS[m] for m in metrics) + " | transmit s/image |",
                 "|---|---|" + "---|" * (len(metrics) + 1)]
        for s in _snrs(rows):
            for r in (r for r in rows if r["channel"] == channel and float(r["snr_db"]) == s):
                method = r.get("run.contribution") if r.get("run.quantizer") == "nonuniform" else \
                    curve_name(*curve(r))
                text.append(f"| {s:g} | {method} | " + " | ".join(_cell(r, m) for m in metrics)
                            + f" | {_fmt(_num(r.get('seconds_per_image')), 4)} |")
        text.append("")
    if "lpips" not in metrics:
        text += [LPIPS_MISSING, ""]
    points = weighting_points(rows)
    scored = [p for p in points if p["d_psnr"] is not None]
    text.append("Claims (measured; ± is 2 standard errors):")
    if scored:
        text.append("- *gradient-based factors beat the largest-magnitude and standard-deviation heuristics* "
                    "(the paper, Tables 3-4); gradient minus the better heuristic:")
        for p in scored:
            text.append(f"  - {p['channel']} {p['snr_db']:g} dB: PSNR {_signed(p['d_psnr'], 2, p['d_psnr_2se'])} dB "
                        f"(vs {p['best_heuristic']}), LPIPS {_signed(p['d_lpips'], 4)}")
        wins = sum(p["d_psnr"] > 0 for p in scored)
        clear = sum(p["d_psnr"] > (p["d_psnr_2se"] or 0.0) for p in scored)
        text.append(f"- gradient higher PSNR than both heuristics at {wins} of {len(scored)} points "
                    f"({clear} beyond ± 2 SE)")
    else:
        text.append("- no gradient / heuristic pair to compare")
    result = "\n".join(text)
    if out_dir is not None and points:
        _write_csv(Path(out_dir) / "weighting.csv", points)
        result += f"\n\nAll values: `{Path(out_dir).name}/weighting.csv`."
    return result


# --------------------------------------------------------------------- analog
def _latent_channels(row: dict[str, Any], systems: Sequence[dict[str, Any]]) -> int | None:
    from semcom.evaluation.fajscc_claims import spec_of_row
    from semcom.evaluation.systems import build_link

    try:
        return int(getattr(build_link(spec_of_row(row, systems), "cpu"), "latent_channels"))
    except Exception:  # noqa: BLE001 - the split is a nicety; the measured total stays
        return None


def analog_points(rows: Sequence[dict[str, Any]], systems: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """One entry per system and settings: ``name``, measured ``channel_uses`` per image and
    ``cbr``, for NUQ the ``payload_uses`` (``ceil(budget n / Q)`` uncoded, ``ceil(n / 2)``
    unquantized; ``n`` features from the model's latent width and the image size) and
    ``side_uses`` (the rest), and ``<metric>_<snr>db`` per SNR for PSNR, MS-SSIM and LPIPS."""
    from semcom.models.nuq.bits import BITS_PER_SYMBOL

    latent: dict[str, int | None] = {}
    out: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        q, bits = curve(r)
        mod = r.get("run.modulation")
        key = (r["system"], q, bits, mod)
        if key not in out:
            name = r["system"] if not q else f"NUQ {curve_name(q, bits)}" + ("" if q == "none" else f" {mod}")
            entry: dict[str, Any] = {"name": name, "channel_uses": _num(r.get("channel_uses")),
                                     "cbr": _num(r.get("cbr")), "payload_uses": None, "side_uses": None}
            uses, cbr = entry["channel_uses"], entry["cbr"]
            if q and uses and cbr:
                source = str(r.get("source") or "")
                if source not in latent:
                    latent[source] = _latent_channels(r, systems)
                pixels = round(uses / cbr / 3)
                if latent[source]:
                    n = latent[source] * pixels // 16
                    payload = math.ceil(n / 2) if q == "none" else math.ceil(bits * n / BITS_PER_SYMBOL[mod])
                    entry.update(payload_uses=payload, side_uses=uses - payload)
            out[key] = entry
        for m in METRICS:
            out[key][f"{m}_{float(r['snr_db']):g}db"] = _num(r.get(m))
    return list(out.values())


def analog_table(rows: Sequence[dict[str, Any]], out_dir: Path | None = None) -> str:
    """Markdown of NUQ beside the analog models: a row per system and settings with its
    channel uses per image (NUQ: payload + side information) and CBR, PSNR per SNR; then
    for each analog model the NUQ point nearest in channel uses, and how far apart they
    are. With ``out_dir``: ``analog.csv``."""
    from semcom.evaluation.report import sweep_systems

    points = analog_points(rows, sweep_systems(out_dir))
    snrs = _snrs(rows)
    text = ["Channel uses per 32x32 image (mean, measured) and PSNR (dB) at SNR, AWGN\n",
            "| system | channel uses | of which payload / side info | CBR | "
            + " | ".join(f"{s:g} dB" for s in snrs) + " |", "|---|---|---|---|" + "---|" * len(snrs)]
    for p in points:
        split = "" if p["payload_uses"] is None else f"{p['payload_uses']} / {_fmt(p['side_uses'], 0)}"
        text.append(f"| {p['name']} | {_fmt(p['channel_uses'], 0)} | {split} | {_fmt(p['cbr'], 4)} | "
                    + " | ".join(_fmt(p.get(f"psnr_{s:g}db")) for s in snrs) + " |")
    nuq = [p for p in points if p["name"].startswith("NUQ ") and p["channel_uses"]]
    analog = [p for p in points if not p["name"].startswith("NUQ ") and p["channel_uses"]]
    text += ["", "NUQ minus each analog model, PSNR (dB) per SNR, against the NUQ point nearest in total channel "
             "uses and those whose payload alone takes the analog model's channel uses:"]
    for a in analog:
        if not nuq:
            break
        near = min(nuq, key=lambda p: abs(math.log(p["channel_uses"] / a["channel_uses"])))
        equal_payload = [p for p in nuq if p["payload_uses"] == round(a["channel_uses"]) and p is not near]
        for i, p in enumerate([near, *equal_payload]):
            ratio = p["channel_uses"] / a["channel_uses"]
            gaps = ", ".join(f"{s:g} dB {_signed(_sub(p.get(f'psnr_{s:g}db'), a.get(f'psnr_{s:g}db')))}" for s in snrs)
            same = "equal" if abs(ratio - 1) < 0.01 else f"not equal, NUQ spends {ratio:.2f}x"
            why = "nearest in channel uses" if i == 0 else "equal payload, side information on top"
            text.append(f"- {a['name']} ({a['channel_uses']:.0f} uses) vs {p['name']} ({p['channel_uses']:.0f} uses, "
                        f"{same}; {why}): {gaps}")
    if not analog:
        text.append("- no analog model in this run")
    if not has_metric(rows, "lpips"):
        text += ["", LPIPS_MISSING]
    result = "\n".join(text)
    if out_dir is not None and points:
        _write_csv(Path(out_dir) / "analog.csv", points)
        result += f"\n\nAll values (also MS-SSIM and LPIPS): `{Path(out_dir).name}/analog.csv`."
    return result


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b
