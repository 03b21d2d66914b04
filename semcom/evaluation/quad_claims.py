"""``semcom reproduce quad``: the Quad-LIC / Quad-DeepSC paper's claims as tables and plots.

Five parts on the Kodak images (all 24; ``--limit N``: the first N), each a sweep with
a table maker that writes its own CSVs and plots beside the sweep's files:

* **rd** (:mod:`semcom.evaluation.quad_rd`): Quad-LIC's rate ladder against JPEG,
  JPEG 2000, WebP, HEVC intra, AVIF and VVC intra (bpp against PSNR and MS-SSIM,
  BD-rate against VVC intra and HEVC intra), Quad-LIC's latency and MACs;
* **awgn10** (``configs/eval/quad_awgn10.yaml``): Quad-DeepSC (its rate scale ``eta``
  swept) against VVC intra, HEVC intra and Quad-LIC over 5G LDPC (auto MCS, 9
  retransmissions) at 10 dB AWGN: PSNR and MS-SSIM against CBR, BD-CBR of every curve
  against each digital one (``bd_cbr.csv``), Quad-DeepSC's latency and MACs;
* **ablations**: the ablated Quad-DeepSCs of :data:`ABLATIONS` beside Quad-DeepSC in the
  same sweep, BD-CBR against it, and each one's latency and MACs;
* **fading** (``configs/eval/quad_fading.yaml``): Rayleigh, Gauss-Markov, Gilbert-Elliott
  and blockage at 10 dB, perfect and imperfect CSI;
* **snr** (``configs/eval/quad_snr.yaml``): AWGN and Rayleigh from -3 to 10 dB.

A model or codec that is not on this machine (a zoo name without weights, a missing
optional package) is left out of every sweep and named in the README; a part left
without systems is left out. :func:`quad_recipe` builds the recipe; its options replace
the models (zoo names or checkpoint paths), the codec ladders and the sweeps' grids.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any, Mapping, Sequence

from semcom.errors import MissingDependencyError, SemcomError
from semcom.evaluation.report import is_path as _is_path
from semcom.evaluation.quad_links import channel_table, link_table, snr_table
from semcom.evaluation.quad_rd import BD_ANCHORS, CODEC_LADDERS, codec_systems, rd_config, rd_table
from semcom.evaluation.reproduce import Evaluation, Recipe

#: the zoo name of Quad-DeepSC (small preset, AWGN 10 dB: configs/train/quad_deepsc_hr_awgn10.yaml)
QUAD_DEEPSC = "quad_deepsc_hr_awgn10"
QUAD_LABEL = "Quad-DeepSC"
#: ablation -> (label, zoo name): the same training with one part replaced or removed
#: (constructor switches of :class:`~semcom.models.quad.deepsc.QuadDeepSC`; ``no_rsd`` is
#: the model after stage 3, before the rate set is distilled)
ABLATIONS: dict[str, tuple[str, str]] = {
    "checkerboard": ("w/ checkerboard partition", f"{QUAD_DEEPSC}_checkerboard"),          # partition=checkerboard
    "channel_ar": ("w/ channel-AR partition", f"{QUAD_DEEPSC}_channel_ar"),  # partition=channel_autoregressive
    "no_unet": ("w/o UNet", f"{QUAD_DEEPSC}_no_unet"),                                       # unet=false
    "no_quadtree_features": ("w/o quadtree feature coding", f"{QUAD_DEEPSC}_no_quadtree_features"),
    "no_rsd": ("w/o rate-set distillation", f"{QUAD_DEEPSC}_no_rsd"),                        # stage 3 only
}
CONFIGS = {"awgn10": "configs/eval/quad_awgn10.yaml", "fading": "configs/eval/quad_fading.yaml",
           "snr": "configs/eval/quad_snr.yaml"}
#: the digital links, by codec (labels as in the configs)
DIGITAL_LABELS = {"vvc": "VVC intra+5G LDPC", "hevc": "HEVC intra+5G LDPC", "quad_lic": "Quad-LIC+5G LDPC"}


# ----------------------------------------------------------------------- systems
def model_source(model: str | Path) -> dict[str, str]:
    """``{"checkpoint": absolute base path}`` for a checkpoint path (with or without
    suffix), ``{"pretrained": name}`` for a zoo name."""
    if _is_path(str(model)):
        path = Path(str(model)).expanduser().resolve()
        return {"checkpoint": str(path.with_suffix("") if path.suffix in (".json", ".safetensors") else path)}
    return {"pretrained": str(model)}


def source_available(source: Mapping[str, str]) -> bool:
    """Whether the checkpoint of a :func:`model_source` is on this machine."""
    from semcom.models.quad.checkpoints import resolve_checkpoint

    return resolve_checkpoint(source.get("pretrained") or source.get("checkpoint") or "") is not None


def _describe(source: Mapping[str, str]) -> str:
    return source.get("pretrained") or source.get("checkpoint") or "?"


def _read(part: str) -> dict[str, Any]:
    from semcom.configfile import read_config_file
    from semcom.evaluation.config import resolve_file_paths
    from semcom.evaluation.reproduce import repo_path

    path = repo_path(CONFIGS[part])
    raw = read_config_file(path)
    resolve_file_paths(raw, path.parent)
    return raw


def _edit(part: str, quad: dict[str, Any] | None, digital: list[dict[str, Any]], cbr: Any,
          etas: Sequence[float] | None, snrs: Sequence[float] | None) -> str | dict[str, Any] | None:
    """The config of a link part: its file's, Quad-DeepSC's source replaced (None: left
    out), the digital links those of ``digital`` (codec, codec_options, workers) in that
    order, ``cbr`` / ``etas`` / ``snrs`` replacing the file's where given. The file's
    path when nothing changed; None when no system is left."""
    from semcom.configfile import copy_tree

    raw = _read(part)
    original = copy_tree(raw)
    template = next(s for s in raw["systems"] if s.get("system") == "digital")
    systems = []
    for spec in raw["systems"]:
        if spec.get("label") == QUAD_LABEL and quad is not None:
            spec = {**{k: v for k, v in spec.items() if k not in ("pretrained", "checkpoint")}, **quad}
            if etas is not None and "run" in spec:
                spec["run"] = {"eta": [float(e) for e in etas]}
            systems.append(spec)
    for link in digital:
        spec = next((dict(s) for s in raw["systems"] if s.get("codec") == link["codec"]), None) or \
            {**template, "codec": link["codec"], "label": link["label"]}
        spec.update({k: v for k, v in link.items() if k != "codec" and v is not None})
        if cbr is not None:
            spec["cbr"] = list(cbr) if isinstance(cbr, (list, tuple)) else cbr
        systems.append(spec)
    if not systems:
        return None
    raw["systems"] = systems
    if snrs is not None:
        raw["snr_db"] = [float(s) for s in snrs]
    return CONFIGS[part] if raw == original else raw


def _digital_links(codecs: Sequence[str], quad_lic: Sequence[str] | None, workers: int | None
                   ) -> tuple[list[dict[str, Any]], list[str]]:
    """The digital links that can be built (``codec``, ``label``, ``codec_options``,
    ``workers``) and one line per codec that cannot (missing package or weights)."""
    from semcom.codecs import create_codec

    links, unavailable = [], []
    for codec in codecs:
        options = {"checkpoints": [str(c) for c in quad_lic]} if codec == "quad_lic" and quad_lic else None
        label = DIGITAL_LABELS.get(codec, f"{codec.upper()}+5G LDPC")
        try:
            create_codec(codec, **(options or {}))
        except MissingDependencyError as e:
            unavailable.append(f"{label}: {str(e).splitlines()[0].split('; nothing is downloaded')[0]}")
            continue
        links.append({"codec": codec, "label": label, "codec_options": options, "workers": workers})
    return links, unavailable


# ------------------------------------------------------------------------ recipe
DESCRIPTION = """\
The claims of Quad-DeepSC / Quad-LIC (quadtree partition-based joint semantic-channel \
coding and its learned image codec), measured on the Kodak images (all 24; `--limit N`: \
the first N) with one noise draw per image and point, seed 0. Models: Quad-DeepSC \
`{quad}` (the zoo's is the small preset trained on AWGN at 10 dB), the Quad-LIC ladder \
{ladder}, the ablations `{ablations}`.

* **rd**: every codec at a ladder of its own quality knob (Quad-LIC: its ladder \
points), over an error-free channel; bpp of the file the decoder needs, PSNR and MS-SSIM, \
each the mean of the per-image values at one quality (`rd.csv`, `rd_psnr.png`, \
`rd_ms_ssim.png`); BD-rate of every codec against VVC intra and HEVC intra by PSNR and \
by MS-SSIM in dB (`bd_rate.csv`); Quad-LIC's encode / decode latency (range coder \
included) and MACs (`quad_lic_costs.csv`).
* **awgn10** (`configs/eval/quad_awgn10.yaml`): PSNR and MS-SSIM against measured CBR at \
10 dB AWGN: Quad-DeepSC at eta in {etas} (real values per bit, a run-time setting) \
against VVC intra, HEVC intra and Quad-LIC over 5G NR LDPC + QAM (auto MCS: the best \
MCS per SNR by the BLER tables; up to 9 retransmissions, IR HARQ; metrics on the first \
success, every retransmission counted) at CBR budgets {cbrs}; BD-CBR of every curve \
against each digital one (`bd_cbr.csv`); Quad-DeepSC's latency and MACs (`costs.csv`).
* **ablations**: the ablated models beside Quad-DeepSC at the same eta, BD-CBR against \
it, latency and MACs of each.
* **fading** (`configs/eval/quad_fading.yaml`): 10 dB, Rayleigh, Gauss-Markov correlated \
fading and blockage with perfect and imperfect CSI (NMSE 0.1), Gilbert-Elliott bursts; \
Quad-DeepSC at its default eta, the digital links at CBR budget {robust_cbr}.
* **snr** (`configs/eval/quad_snr.yaml`): AWGN and Rayleigh at {snrs} dB, the same systems.

The models are those trained on AWGN at 10 dB (the paper fine-tunes per channel). \
Latency is wall time per image, batch 1, one warm-up, with the thread count and device \
stated; MACs count a multiply-add once (torch's FLOP counter / 2). Machine: {machine}.

Run: `semcom reproduce quad [--limit N] [--out DIR]` (all 24 images: hours on a 2-core \
CPU; VVC intra takes ~20 s per encode of a Kodak image). Each link part alone: `semcom \
evaluate configs/eval/quad_{{awgn10,fading,snr}}.yaml`. Other models: \
`semcom.evaluation.quad_claims.quad_recipe(quad_deepsc=..., ablations={{...}}, \
quad_lic=[...])`.{missing}"""


def _machine() -> str:
    """The CPU model (``/proc/cpuinfo`` where there is one), core count and OS."""
    cpu = platform.processor() or platform.machine()
    try:
        found = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = found[0] if found else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}"


def quad_recipe(quad_deepsc: str | Path | None = None, ablations: Mapping[str, str | Path] | None = None,
                quad_lic: Sequence[str | Path] | None = None, ladders: Mapping[str, Sequence[float]] | None = None,
                digital_codecs: Sequence[str] = ("vvc", "hevc", "quad_lic"),
                digital_cbrs: Sequence[float] | None = None, robust_cbr: float | None = None,
                etas: Sequence[float] | None = None,
                snrs: Sequence[float] | None = None, bd_anchors: Sequence[str] = BD_ANCHORS,
                workers: int | None = None, name: str = "quad") -> Recipe:
    """The ``quad`` recipe (module docstring), optionally with other models and grids.

    Args:
        quad_deepsc: zoo name or checkpoint path of Quad-DeepSC (default :data:`QUAD_DEEPSC`).
        ablations: ablation key of :data:`ABLATIONS` -> zoo name or checkpoint path
            (replacing those given; the others keep their zoo names).
        quad_lic: the Quad-LIC ladder, lowest rate first (default ``quad_lic_q1..q4``),
            for the rd part and the Quad-LIC + 5G LDPC link.
        ladders: codec -> knob values of the rd part (default :data:`CODEC_LADDERS`).
        digital_codecs: the codecs of the digital links (labels :data:`DIGITAL_LABELS`).
        digital_cbrs: the digital links' CBR budgets at 10 dB AWGN (default the config's).
        robust_cbr: their CBR budget in the fading and snr parts (default the configs' 0.0515).
        etas: Quad-DeepSC's rate scales at 10 dB AWGN and in the ablations (default the config's).
        snrs: the SNRs of the snr part, dB (default the config's -3 .. 10).
        bd_anchors: codec names of the rd part's BD-rate anchors.
        workers: processes of each digital link (default the configs' 2).
        name: the recipe's name (its default folder ``results/NAME``).

    Raises:
        SemcomError: an unknown ablation key, or a ladder value outside its codec's knob.
    """
    unknown = sorted(set(ablations or {}) - set(ABLATIONS))
    if unknown:
        raise SemcomError(f"unknown ablation {unknown[0]!r} (known: {', '.join(ABLATIONS)})")
    ladder = None if quad_lic is None else [str(c) for c in quad_lic]
    missing: list[str] = []
    specs, rd_missing = codec_systems(CODEC_LADDERS if ladders is None else ladders, ladder)
    missing += rd_missing
    evaluations = []
    if specs:
        codec = next((s["link"].codec for s in specs if s["link"].codec.name == "quad_lic"), None)
        anchors = tuple(bd_anchors)
        evaluations.append(Evaluation("rd", rd_config(specs), lambda rows, out_dir=None: rd_table(
            rows, out_dir, anchors, rd_missing, codec)))
    main = model_source(quad_deepsc or QUAD_DEEPSC)
    quad = main if source_available(main) else None
    if quad is None:
        missing.append(f"{QUAD_LABEL} ({_describe(main)}): no weights on this machine "
                       f"(train configs/train/quad_deepsc_hr_awgn10.yaml)")
    digital, link_missing = _digital_links(digital_codecs, ladder, workers)
    missing += link_missing
    evaluations += _link_evaluations(quad, digital, ablations or {}, digital_cbrs, robust_cbr, etas, snrs, missing)
    options = {"etas": etas, "cbrs": digital_cbrs, "robust_cbr": robust_cbr, "snrs": snrs}
    return Recipe(name=name, description=_description(main, ladder, options, missing), evaluations=evaluations)


def _link_evaluations(quad: dict[str, str] | None, digital: list[dict[str, Any]], ablations: Mapping[str, Any],
                      cbrs: Sequence[float] | None, robust_cbr: float | None, etas: Sequence[float] | None,
                      snrs: Sequence[float] | None, missing: list[str]) -> list[Evaluation]:
    """awgn10, ablations, fading and snr, each left out (and named in ``missing``) when
    it has no system."""
    anchors = [d["label"] for d in digital]
    costs = {QUAD_LABEL: quad} if quad else {}
    tables = {"awgn10": lambda rows, out_dir=None: link_table(rows, out_dir, anchors, costs, "10 dB AWGN"),
              "fading": channel_table, "snr": snr_table}
    grids = {"awgn10": (cbrs, etas, None), "fading": (robust_cbr, None, None), "snr": (robust_cbr, None, snrs)}
    out = []
    for part, (cbr, part_etas, part_snrs) in grids.items():
        config = _edit(part, quad, digital, cbr, part_etas, part_snrs)
        if config is None:
            missing.append(f"part {part}: no system available")
        else:
            out.append(Evaluation(part, config, tables[part]))
        if part == "awgn10":
            ablation = _ablation_evaluation(quad, ablations, etas, missing)
            out += [] if ablation is None else [ablation]
    return out


def _description(main: Mapping[str, str], ladder: Sequence[str] | None, options: dict[str, Any],
                 missing: Sequence[str]) -> str:
    """:data:`DESCRIPTION` filled in with the models, the grids and what is missing."""
    awgn, robust = _read("awgn10"), _read("snr")

    def grid(values: Sequence[float]) -> str:
        return ", ".join(f"{v:g}" for v in values)

    return DESCRIPTION.format(
        quad=_describe(main), ladder=", ".join(f"`{c}`" for c in ladder or [f"quad_lic_q{i}" for i in range(1, 5)]),
        ablations="`, `".join(a[1] for a in ABLATIONS.values()),
        etas=grid(options["etas"] or awgn["systems"][0]["run"]["eta"]),
        cbrs=grid(options["cbrs"] or awgn["systems"][1]["cbr"]),
        robust_cbr=f"{options['robust_cbr'] or robust['systems'][1]['cbr']:g}",
        snrs=grid(options["snrs"] or robust["snr_db"]), machine=_machine(),
        missing="\n\n**Not measured in this run** (weights or packages missing):\n\n"
                + "\n".join(f"- {m}" for m in missing) if missing else "")


def _ablation_evaluation(quad: dict[str, Any] | None, given: Mapping[str, str | Path],
                         etas: Sequence[float] | None, missing: list[str]) -> Evaluation | None:
    """The ablations part: Quad-DeepSC and every ablated model whose weights exist, on
    the awgn10 config's channel, SNR and eta; None (each one named in ``missing``) when
    no ablated model exists."""
    raw = _read("awgn10")
    run = {"eta": [float(e) for e in (etas or raw["systems"][0]["run"]["eta"])]}
    found: dict[str, dict[str, str]] = {}
    for key, (label, zoo_name) in ABLATIONS.items():
        source = model_source(given.get(key, zoo_name))
        if source_available(source):
            found[label] = source
        else:
            missing.append(f"ablation {label} ({_describe(source)}): no weights on this machine")
    if not found:
        return None
    models = ({QUAD_LABEL: quad} if quad else {}) | found
    raw.update(name="quad_ablations", out_dir="results/quad_ablations",
               systems=[{**source, "label": label, "run": run} for label, source in models.items()])
    notes = [m for m in missing if m.startswith("ablation") or m.startswith(QUAD_LABEL)]
    return Evaluation("ablations", raw, lambda rows, out_dir=None: link_table(
        rows, out_dir, [QUAD_LABEL] if quad else [], models, "10 dB AWGN, against Quad-DeepSC", notes))


__all__ = ["ABLATIONS", "CONFIGS", "DIGITAL_LABELS", "QUAD_DEEPSC", "QUAD_LABEL", "model_source", "quad_recipe",
           "source_available"]
