"""The link parts' tables of ``semcom reproduce quad`` (:mod:`semcom.evaluation.quad_claims`).

* :func:`link_table` (**awgn10**, **ablations**): a row per system and point (measured
  CBR, PSNR, MS-SSIM in dB, images lost), BD-CBR of every curve against each anchor
  (:func:`bd_cbr`, ``bd_cbr.csv``) and the latency and MACs of the named models
  (:func:`model_costs`, ``costs.csv``);
* :func:`channel_table` (**fading**): PSNR, MS-SSIM and measured CBR per channel and
  system, ``psnr_by_channel.png``;
* :func:`snr_table` (**snr**): the same against SNR, per channel.

A curve is the rows of one label, channel and SNR: a Quad-DeepSC curve its ``eta``
points, a digital link's its CBR budgets; BD-CBR is the BD-rate
(:func:`semcom.metrics.bdrate.bd_cbr`) on the measured CBR, every retransmission counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from semcom.evaluation.report import (
    as_number as _num,
    format_number as _fmt,
    new_figure as _figure,
    plot_link as _plot_link,
    save_figure as _save,
    write_csv as _write_csv,
)
from semcom.evaluation.quad_rd import sweep_images

#: BD metrics of the link parts: (column, heading)
LINK_METRICS = (("psnr", "PSNR"), ("ms_ssim_db", "MS-SSIM dB"))


def curves_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """A row per system and point, by system then measured CBR: eta, CBR budget,
    measured CBR (mean over images, retransmissions included), PSNR, MS-SSIM (dB) and
    the share of images lost."""
    lines = ["| system | channel | SNR (dB) | eta | CBR budget | CBR | PSNR (dB) | MS-SSIM (dB) | lost |",
             "|---|---|---|---|---|---|---|---|---|"]
    order = list(dict.fromkeys(r["system"] for r in rows))
    for r in sorted(rows, key=lambda r: (r["channel"], float(r["snr_db"]), order.index(r["system"]),
                                         _num(r.get("cbr")) or 0.0)):
        lost = _num(r.get("failure_rate"))
        lines.append(f"| {r['system']} | {r['channel']} | {float(r['snr_db']):g} | {r.get('run.eta') or ''} | "
                     f"{_fmt(_num(r.get('cbr_requested')), 4)} | {_fmt(_num(r.get('cbr')), 4)} | "
                     f"{_fmt(_num(r.get('psnr')))} | {_fmt(_num(r.get('ms_ssim_db')))} | "
                     f"{'' if lost is None else f'{100 * lost:.0f}%'} |")
    return "\n".join(lines)


def bd_cbr(rows: Sequence[dict[str, Any]], anchors: Sequence[str]) -> list[dict[str, Any]]:
    """BD-CBR (percent, BD-rate on the measured CBR) and BD-quality of every curve
    against each anchor label present, by PSNR and by MS-SSIM in dB
    (:func:`semcom.evaluation.tables.bd_table`; a Quad-DeepSC curve is its ``eta``
    points, a digital one its CBR budgets). Entries: ``metric`` plus bd_table's keys."""
    from semcom.evaluation.tables import bd_table

    labels = {r["system"] for r in rows}
    out = []
    for anchor in anchors:
        if anchor not in labels:
            continue
        for metric, _ in LINK_METRICS:
            for entry in bd_table(rows, anchor, metric, over="eta"):
                delta = entry.pop(f"bd_{metric}")
                out.append({"metric": metric, **entry, "bd_quality": delta})
    return out


def bd_markdown(table: Sequence[dict[str, Any]], what: str) -> str:
    """Markdown of :func:`bd_cbr`: a row per curve, a column per anchor and metric."""
    if not table:
        return f"BD-CBR: {what}: no anchor curve was measured."
    columns = list(dict.fromkeys((e["anchor"], e["metric"]) for e in table))
    heading = dict(LINK_METRICS)
    lines = [f"BD-CBR (%, negative: fewer channel uses than the anchor at equal quality; {what})\n",
             "| curve | " + " | ".join(f"vs {a} ({heading[m]})" for a, m in columns) + " |",
             "|---|" + "---|" * len(columns)]
    notes = []
    for system in dict.fromkeys(e["system"] for e in table):
        cells = []
        for anchor, metric in columns:
            hit = [e for e in table if e["system"] == system and e["anchor"] == anchor and e["metric"] == metric]
            value = hit[0]["bd_cbr_percent"] if hit else None
            cells.append("" if not hit else "n/a" if value is None else f"{value:+.1f}")
            if hit and hit[0]["note"]:
                notes.append(f"- {system} vs {anchor} ({heading[metric]}): {hit[0]['note']}")
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ([""] + notes if notes else []))


def model_costs(sources: Mapping[str, Mapping[str, str]], out_dir: Path, snr_db: float = 10.0
                ) -> dict[str, dict[str, Any]]:
    """Latency and MACs (:func:`~semcom.evaluation.quad_costs.quad_deepsc_costs`, default
    run-time settings) of each ``label -> source`` model on the images and device of
    the sweep that wrote ``out_dir``."""
    from semcom.evaluation.quad_costs import quad_deepsc_costs
    from semcom.evaluation.systems import build_link

    images, device = sweep_images(out_dir)
    return {label: quad_deepsc_costs(build_link(dict(source), device), images, snr_db, device=device)
            for label, source in sources.items()}


def _costs_text(sources: Mapping[str, Mapping[str, str]], out_dir: Path | None, what: str) -> str:
    from semcom.evaluation.quad_costs import costs_markdown

    if out_dir is None or not sources:
        return ""
    costs = model_costs(sources, Path(out_dir))
    _write_csv(Path(out_dir) / "costs.csv", [{"model": k, **v} for k, v in costs.items()])
    return "\n\n" + costs_markdown(costs, what)


def link_table(rows: Sequence[dict[str, Any]], out_dir: Path | None = None, anchors: Sequence[str] = (),
               costs: Mapping[str, Mapping[str, str]] | None = None, what: str = "", notes: Sequence[str] = ()) -> str:
    """The awgn10 / ablations markdown: the curves, BD-CBR against each of ``anchors``
    (``bd_cbr.csv``), and the latency and MACs of the ``costs`` models (``costs.csv``)."""
    table = bd_cbr(rows, anchors)
    text = curves_markdown(rows) + "\n\n" + bd_markdown(table, what)
    if out_dir is not None:
        _write_csv(Path(out_dir) / "bd_cbr.csv", table)
    text += _costs_text(costs or {}, out_dir, "Latency and complexity")
    if notes:
        text += "\n\nNot measured:\n" + "\n".join(f"- {n}" for n in notes)
    return text


def channel_table(rows: Sequence[dict[str, Any]], out_dir: Path | None = None) -> str:
    """The fading markdown: PSNR, MS-SSIM (dB) and measured CBR, a row per channel and a
    column per system; with ``out_dir``, ``psnr_by_channel.png``."""
    channels = list(dict.fromkeys(r["channel"] for r in rows))
    systems = list(dict.fromkeys(r["system"] for r in rows))
    text = []
    for metric, heading, digits in (("psnr", "PSNR (dB)", 2), ("ms_ssim_db", "MS-SSIM (dB)", 2), ("cbr", "CBR", 4)):
        text += [f"{heading} at {', '.join(f'{s:g}' for s in sorted({float(r['snr_db']) for r in rows}))} dB\n",
                 "| channel | " + " | ".join(systems) + " |", "|---|" + "---|" * len(systems)]
        for channel in channels:
            cells = []
            for system in systems:
                hit = [r for r in rows if r["channel"] == channel and r["system"] == system]
                lost = _num(hit[0].get("failure_rate")) if hit else None
                cells.append(_fmt(_num(hit[0].get(metric)) if hit else None, digits)
                             + (f" ({100 * lost:.0f}% lost)" if lost and metric == "psnr" else ""))
            text.append(f"| {channel} | " + " | ".join(cells) + " |")
        text.append("")
    result = "\n".join(text).rstrip()
    if out_dir is not None and rows:
        path = Path(out_dir) / "psnr_by_channel.png"
        existed = path.exists()
        fig, ax = _figure(f"PSNR by channel: Kodak ({rows[0].get('images')} images)")
        width = 0.8 / max(len(systems), 1)
        for i, system in enumerate(systems):
            values = [next((_num(r.get("psnr")) or 0.0 for r in rows if r["channel"] == c and r["system"] == system),
                           0.0) for c in channels]
            ax.bar([j + i * width for j in range(len(channels))], values, width, label=system, color=f"C{i % 10}")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(channels))])
        ax.set_xticklabels(channels, rotation=30, ha="right", fontsize=7)
        _save(fig, ax, path, "channel", "PSNR (dB)")
        result += _plot_link(path, existed)
    return result


def snr_table(rows: Sequence[dict[str, Any]]) -> str:
    """The snr markdown: PSNR, MS-SSIM (dB) and measured CBR against SNR, per channel."""
    from semcom.evaluation.fajscc_claims import snr_pivot

    return "\n\n".join(snr_pivot(rows, metric, digits) for metric, digits in
                       (("psnr", 2), ("ms_ssim_db", 2), ("cbr", 4)))


__all__ = ["LINK_METRICS", "bd_cbr", "bd_markdown", "channel_table", "curves_markdown", "link_table", "model_costs",
           "snr_table"]
