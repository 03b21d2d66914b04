"""Part **rd** of ``semcom reproduce quad``: Quad-LIC rate-distortion against classical codecs.

Each codec is a :class:`CodecLink`, a link that only codes: every image is encoded at
the run-time setting ``quality`` (the codec's own knob, :attr:`ImageCodec.knob`),
decoded, and scored (PSNR, MS-SSIM) by the ordinary sweep, so a sweep over a ladder of
qualities (:data:`CODEC_LADDERS`; Quad-LIC: its ladder points ``1..n``) gives one
rate-distortion point per quality. The size of an image is the file its decoder needs
(:func:`semcom.codecs.files.compress_image`'s file: the bare bitstream, without the
link's CRC-32 or the ladder's point index), reported as that many bits of channel use
(an error-free pipe of one bit per channel use), so a row's ``cbr`` is ``bpp / 3``
(:func:`semcom.conventions.bpp` of the file). A point's bpp, PSNR and MS-SSIM are means
of the per-image values at that quality, over the same images (the sweep's rows); the
channel and SNR of these rows are placeholders (the codec links never use them).

:func:`rd_table` (the table maker) writes ``rd.csv`` (a row per codec and quality),
``bd_rate.csv`` (BD-rate in percent of every codec against each anchor, by PSNR and by
MS-SSIM in dB, :func:`semcom.metrics.bdrate.bd_rate`; ``n/a`` and the reason where a
curve has fewer than 4 points or the curves do not overlap), ``rd_psnr.png`` and
``rd_ms_ssim.png``, and, for Quad-LIC, ``quad_lic_costs.csv`` (latency and MACs,
:func:`~semcom.evaluation.quad_costs.quad_lic_costs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from semcom.errors import MissingDependencyError, SemcomError
from semcom.link import Link, TransmitResult
from semcom.settings import AUTO, Setting

#: the knob values of each classical codec, low rate first: about 0.1 to 1.5 bpp on
#: average over Kodak (chosen on kodim01, 02 and 12, whose means run from 0.06-0.19 to
#: 1.3-1.8 bpp; JPEG cannot go below ~0.15)
CODEC_LADDERS: dict[str, tuple[float, ...]] = {
    "jpeg": (5, 10, 20, 35, 50, 70, 80),                   # quality 1-100
    "jpeg2000": (26, 28, 30, 32, 34, 36, 38),              # OpenJPEG target PSNR, dB
    "webp": (2, 10, 25, 45, 65, 80, 88),                   # quality 0-100
    "hevc": (45, 41, 37, 33, 29, 25),                      # x265 QP (lower = better)
    "avif": (10, 20, 30, 40, 50, 60, 70),                  # quality 0-100
    "vvc": (47, 43, 39, 35, 31, 27),                       # vvenc QP (lower = better)
}
#: display names (the sweep's labels)
CODEC_LABELS = {"jpeg": "JPEG", "jpeg2000": "JPEG 2000", "webp": "WebP", "hevc": "HEVC intra", "avif": "AVIF",
                "vvc": "VVC intra", "quad_lic": "Quad-LIC"}
#: the anchors of the BD-rates
BD_ANCHORS = ("vvc", "hevc")
#: (result column, axis label, file) of each quality metric
QUALITY = (("psnr", "PSNR (dB)", "rd_psnr.png"), ("ms_ssim_db", "MS-SSIM (dB, -10 log10(1 - MS-SSIM))",
                                                  "rd_ms_ssim.png"))


def codec_label(name: str) -> str:
    """The display name of codec ``name`` (``vvc`` -> ``VVC intra``)."""
    return CODEC_LABELS.get(name, name)


class CodecLink(Link):
    """An image codec alone, over an error-free bit pipe of one bit per channel use.

    ``transmit`` encodes each image at the run-time setting ``quality`` (``auto``: the
    codec's default, :func:`~semcom.codecs.files.default_quality`) and decodes the
    bytes; ``channel_uses`` is the number of bits of the file the decoder needs, so
    ``cbr = bpp / 3``. The channel and SNR are not used.

    Args:
        codec: the codec (:class:`~semcom.codecs.base.ImageCodec`).
    """

    name = "codec"
    settings = (Setting("quality", float, None, "encoder", low=0.0, high=100.0, allow_auto=True,
                        help="the codec's quality knob (JPEG quality, QP, ladder point, ...)"),)

    def __init__(self, codec: Any) -> None:
        self.codec = codec

    def _transmit(self, images: Tensor, channel: Any, snr_db: Any, generator: torch.Generator | None,
                  settings: Any) -> TransmitResult:
        from semcom.codecs.files import default_quality, file_bytes

        quality = settings["quality"]
        quality = default_quality(self.codec) if quality in (None, AUTO) else self.codec.knob.check(quality)
        out, bits = [], []
        for image in images:
            data = self.codec.encode(image, quality)
            bits.append(8 * len(file_bytes(self.codec, data)))
            out.append(self.codec.decode(data).to(images.dtype))
        return TransmitResult.build(torch.stack(out), bits, quality=float(quality))

    def describe(self) -> dict[str, Any]:
        extra = self.codec.describe() if callable(getattr(self.codec, "describe", None)) else {}
        return {"system": self.name, "codec": self.codec.name, "knob": self.codec.knob.name, **extra}


def codec_systems(ladders: Mapping[str, Sequence[float]], quad_lic: Sequence[str] | None = None
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """The system specs of the rd sweep and what could not be built.

    Args:
        ladders: codec name -> its knob values (each checked against the knob).
        quad_lic: the Quad-LIC ladder (zoo names or checkpoint paths, lowest rate
            first; None: the zoo's ``quad_lic_q1`` .. ``quad_lic_q4``); ``[]`` leaves
            Quad-LIC out.

    Returns:
        ``(specs, unavailable)``: ``{"link": CodecLink, "label", "run": {"quality": [...]}}``
        per codec, and one line per codec whose optional package or weights are missing.
    """
    from semcom.codecs import create_codec

    specs: list[dict[str, Any]] = []
    unavailable: list[str] = []
    wanted = [(name, list(values), {}) for name, values in ladders.items()]
    if quad_lic is None or len(quad_lic):
        options = {} if quad_lic is None else {"checkpoints": [str(c) for c in quad_lic]}
        wanted.append(("quad_lic", None, options))
    for name, values, options in wanted:
        try:
            codec = create_codec(name, **options)
        except MissingDependencyError as e:
            unavailable.append(f"{codec_label(name)} (rd): {str(e).splitlines()[0]}")
            continue
        if values is None:  # the ladder codec: every point it has
            values = list(range(1, int(codec.knob.high) + 1))
        if not values:
            raise SemcomError(f"codec {name}: the ladder of qualities is empty")
        run = [codec.knob.check(v) for v in values]
        specs.append({"link": CodecLink(codec), "label": codec_label(name), "run": {"quality": run}})
    return specs, unavailable


def rd_config(specs: list[dict[str, Any]]) -> dict[str, Any]:
    """The evaluation config of the rd sweep: ``specs`` on all of Kodak, PSNR and MS-SSIM."""
    return {"name": "quad_rd", "dataset": {"name": "kodak"}, "systems": specs,
            "channels": [{"name": "awgn", "label": "error-free"}], "snr_db": [10], "batch_size": 1, "seed": 0,
            "threads": 1, "metrics": ["psnr", "ms_ssim"], "out_dir": "results/quad/rd"}


# ------------------------------------------------------------------------- points
def rd_points(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per codec and quality, in the sweep's order (each ladder low rate
    first): ``codec``, ``quality``,
    ``images``, ``bpp`` (mean of per-image bpp, ``3 cbr``), ``bpp_min`` / ``bpp_max``,
    ``psnr``, ``ms_ssim``, ``ms_ssim_db`` (means of per-image values) and
    ``codec_s_per_image`` (encode + decode wall time per image)."""
    out = []
    for row in rows:
        if row.get("cbr") is None:
            continue
        out.append({"codec": row["system"], "quality": row.get("run.quality"), "images": row.get("images"),
                    "bpp": 3 * float(row["cbr"]), "bpp_min": 3 * float(row["cbr_min"]),
                    "bpp_max": 3 * float(row["cbr_max"]), "psnr": row.get("psnr"), "ms_ssim": row.get("ms_ssim"),
                    "ms_ssim_db": row.get("ms_ssim_db"), "codec_s_per_image": row.get("seconds_per_image")})
    return out


def bd_rates(points: Sequence[dict[str, Any]], anchors: Sequence[str]) -> list[dict[str, Any]]:
    """BD-rate (percent, negative: fewer bits at equal quality) of every codec curve
    against each anchor label, by PSNR and by MS-SSIM in dB.

    Returns:
        ``codec``, ``anchor``, ``metric``, ``points``, ``bd_rate_percent`` (None: n/a)
        and ``note`` (why it is n/a, or a short overlap) per codec, anchor and metric.
    """
    from semcom.evaluation.tables import bd_delta
    from semcom.metrics.bdrate import bd_rate

    curves: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        curves.setdefault(p["codec"], []).append(p)
    out = []
    for anchor in anchors:
        for codec, mine in curves.items():
            if codec == anchor:
                continue
            for metric, _, _ in QUALITY:
                entry: dict[str, Any] = {"codec": codec, "anchor": anchor, "metric": metric, "points": len(mine),
                                         "bd_rate_percent": None, "note": ""}
                ref = [(p["bpp"], p[metric]) for p in curves.get(anchor, []) if p.get(metric) is not None]
                own = [(p["bpp"], p[metric]) for p in mine if p.get(metric) is not None]
                if anchor not in curves:
                    entry["note"] = f"anchor {anchor} was not measured"
                else:
                    notes: list[str] = []
                    entry["bd_rate_percent"] = bd_delta(bd_rate, "bd_rate", ref, own, notes)
                    entry["note"] = "; ".join(dict.fromkeys(notes))
                out.append(entry)
    return out


# -------------------------------------------------------------------------- table
def _plot(points: Sequence[dict[str, Any]], metric: str, ylabel: str, path: Path, title: str) -> Path:
    from semcom.evaluation.report import new_figure, save_figure

    fig, ax = new_figure(title)
    for i, codec in enumerate(dict.fromkeys(p["codec"] for p in points)):
        mine = sorted((p for p in points if p["codec"] == codec and p.get(metric) is not None),
                      key=lambda p: p["bpp"])
        ax.plot([p["bpp"] for p in mine], [p[metric] for p in mine], marker="os^Dv*PX"[i % 8], markersize=4,
                color=f"C{i % 10}", label=codec, linestyle="-" if len(mine) > 1 else "none")
    return save_figure(fig, ax, path, "bpp (bits of the file per pixel)", ylabel)


def _fmt(value: Any, digits: int = 2) -> str:
    return "" if value is None else f"{float(value):.{digits}f}"


def _bd_markdown(table: Sequence[dict[str, Any]], anchors: Sequence[str]) -> str:
    lines = ["BD-rate (%, negative: fewer bits than the anchor at equal quality; cubic fit, VCEG-M33)\n",
             "| codec | " + " | ".join(f"vs {a} ({m})" for a in anchors for m in ("PSNR", "MS-SSIM dB")) + " |",
             "|---|" + "---|" * (2 * len(anchors))]
    notes = []
    for codec in dict.fromkeys(e["codec"] for e in table):
        cells = []
        for anchor in anchors:
            for metric, _, _ in QUALITY:
                hit = [e for e in table if e["codec"] == codec and e["anchor"] == anchor and e["metric"] == metric]
                if not hit:
                    cells.append("")  # the anchor itself
                    continue
                e = hit[0]
                cells.append("n/a" if e["bd_rate_percent"] is None else f"{e['bd_rate_percent']:+.1f}")
                if e["note"]:
                    notes.append(f"- {codec} vs {anchor} ({metric}): {e['note']}")
        lines.append(f"| {codec} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ([""] + notes if notes else []))


def sweep_images(out_dir: Path) -> tuple[list[Tensor], str]:
    """The images of the sweep that wrote ``out_dir`` (the dataset of its
    ``results.json``), each ``(3, H, W)``, and the device it ran on."""
    from semcom.evaluation.config import DatasetSpec
    from semcom.evaluation.results import read_results
    from semcom.evaluation.sweep import load_dataset_images

    config = read_results(Path(out_dir) / "results.json").get("config") or {}
    ds = dict(config.get("dataset") or {})
    spec = DatasetSpec(name=ds.pop("name"), root=ds.pop("root", None), limit=ds.pop("limit", None),
                       split=ds.pop("split", None), options=ds)
    return load_dataset_images(spec), str(config.get("device") or "cpu")


def add_plot(points: Sequence[dict[str, Any]], metric: str, ylabel: str, path: Path, title: str) -> str:
    """Draw ``metric`` against bpp per codec into ``path``; returns its README link
    (empty when the file was there before: the recipe links the PNGs it finds)."""
    from semcom.evaluation.report import plot_link as _plot_link

    existed = path.exists()
    _plot(points, metric, ylabel, path, title)
    return _plot_link(path, existed)


def rd_table(rows: Sequence[dict[str, Any]], out_dir: Path | None = None, anchors: Sequence[str] = BD_ANCHORS,
             unavailable: Sequence[str] = (), quad_lic: Any = None) -> str:
    """The rd part's markdown; with ``out_dir`` (the sweep's folder) also its CSVs,
    plots and Quad-LIC's costs (see the module docstring).

    Args:
        rows: the rd sweep's rows.
        anchors: codec names (or labels) of the BD-rate anchors.
        unavailable: lines naming what could not be measured.
        quad_lic: the Quad-LIC ladder codec (:class:`~semcom.codecs.quad_lic.QuadLICCodec`)
            whose middle point's latency and MACs are measured (on the sweep's images and
            device), or None.
    """
    from semcom.evaluation.report import write_csv as _write_csv
    from semcom.evaluation.quad_costs import costs_markdown, quad_lic_costs

    points = rd_points(rows)
    labels = [codec_label(a) for a in anchors]
    table = bd_rates(points, labels)
    images = rows[0].get("images") if rows else 0
    lines = [f"Rate-distortion on {images} image(s): bpp of the file the decoder needs, PSNR and MS-SSIM, "
             "each the mean of the per-image values at the same quality\n",
             "| codec | quality | bpp | PSNR (dB) | MS-SSIM | MS-SSIM (dB) | coding s/image |",
             "|---|---|---|---|---|---|---|"]
    for p in points:
        quality = "" if p["quality"] is None else f"{float(p['quality']):g}"
        lines.append(f"| {p['codec']} | {quality} | {p['bpp']:.4f} | {_fmt(p['psnr'])} | {_fmt(p['ms_ssim'], 4)} "
                     f"| {_fmt(p['ms_ssim_db'])} | {_fmt(p['codec_s_per_image'], 3)} |")
    text = "\n".join(lines) + "\n\n" + _bd_markdown(table, labels)
    text += ("\n\nThe rate-distortion plots are `rd_psnr.png` and `rd_ms_ssim.png`; every sweep also draws "
             "`psnr_vs_cbr.png` (here against cbr = bpp / 3: one bit per channel use), `psnr_vs_quality.png` "
             "(each codec's own knob) and `psnr_vs_snr.png` (one placeholder SNR).")
    if unavailable:
        text += "\n\nNot measured:\n" + "\n".join(f"- {u}" for u in unavailable)
    if out_dir is None:
        return text
    out = Path(out_dir)
    _write_csv(out / "rd.csv", points)
    _write_csv(out / "bd_rate.csv", table)
    title = f"Rate-distortion: Kodak ({images} images)"
    for metric, ylabel, name in QUALITY:
        if any(p.get(metric) is not None for p in points):
            text += add_plot(points, metric, ylabel, out / name, title)
    if quad_lic is not None and points:
        point = quad_lic.levels // 2 + 1
        images, device = sweep_images(out)
        costs = quad_lic_costs(quad_lic.model(point), images, device)
        _write_csv(out / "quad_lic_costs.csv", [{"model": f"Quad-LIC q{point}", **costs}])
        text += "\n\n" + costs_markdown({f"Quad-LIC (ladder point {point} of {quad_lic.levels})": costs},
                                        "Quad-LIC latency and complexity")
    return text


__all__ = ["BD_ANCHORS", "CODEC_LABELS", "CODEC_LADDERS", "CodecLink", "bd_rates", "codec_label", "codec_systems",
           "rd_config", "rd_points", "rd_table", "sweep_images"]
