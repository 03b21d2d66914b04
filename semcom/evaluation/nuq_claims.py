"""``semcom reproduce nuq``: the feature-driven NUQ paper's claims as tables and plots.

Zhang et al., "Feature-Driven Semantic Communication for Efficient Image Transmission"
(Entropy 2025): a Swin autoencoder whose features are quantized with bit widths from
their contribution factors (system ``nuq``, :mod:`semcom.models.nuq`), evaluated at
run-time settings. The three stages of :data:`TRAIN_CONFIG` give three weight sets
(:data:`ZOO`): the unquantized autoencoder, and two fine-tunings of it, one for
non-uniform and one for uniform quantization; each curve uses the weights tuned for it
(:data:`NUQ_ROLES`), and a cross-check puts every quantizer on the autoencoder's.
Eight sweeps (``configs/eval/nuq_*.yaml``), each a folder of the results:

* **cifar10** (``nuq_quantization.yaml``): PSNR, MS-SSIM, LPIPS vs SNR of no
  quantization, uniform 10/8/6-bit and non-uniform at the same average budgets, over
  AWGN, Rayleigh and the composite channel, CIFAR-10 test
  (:func:`~semcom.evaluation.nuq_tables.quantization_table`);
* **cifar10_stage1**: uniform and non-uniform 8-bit both on the autoencoder's weights;
* **tiny_imagenet** (``nuq_tiny_imagenet.yaml``): the same at 8 bits on Tiny-ImageNet val;
* **weighting_cifar10**, **weighting_tiny_imagenet** (``nuq_weighting.yaml``): gradient vs
  magnitude vs std contribution factors (:func:`~semcom.evaluation.nuq_tables.weighting_table`),
  and **weighting_cifar10_stage1**, the same on the autoencoder's weights;
* **overhead** (``nuq_overhead.yaml``): training step, inference time and peak memory,
  uniform vs non-uniform (:func:`~semcom.evaluation.nuq_overhead.overhead_table`);
* **analog** (``nuq_analog.yaml``): NUQ beside the zoo's CIFAR-10 ConvJSCC / ADJSCC with
  every system's channel uses stated (:func:`~semcom.evaluation.nuq_tables.analog_table`).

A dataset that cannot be opened drops its sweeps and an analog model missing from the
zoo drops its system; the README's description says so in one line each. LPIPS needs
local backbone weights (``lpips_weights``, else ``$SEMCOM_LPIPS_WEIGHTS``); without them
its columns are empty and the tables say LPIPS is unavailable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from semcom.errors import SemcomError
from semcom.evaluation.fajscc_claims import model_overrides
from semcom.evaluation.nuq_overhead import overhead_table
from semcom.evaluation.nuq_tables import analog_table, quantization_table, weighting_table
from semcom.evaluation.reproduce import Evaluation, Recipe

#: the three trained weight sets (stages of :data:`TRAIN_CONFIG`), by role
NUQ_ZOO = "nuq_cifar10"                          # fine-tuned for non-uniform quantization (stage nuq-ste)
NUQ_UNIFORM_ZOO = "nuq_cifar10_uniform"          # its twin fine-tuned for uniform (stage uniform-ste)
NUQ_AUTOENCODER_ZOO = "nuq_cifar10_autoencoder"  # the unquantized autoencoder both start from
ZOO = {"nonuniform": NUQ_ZOO, "uniform": NUQ_UNIFORM_ZOO, "autoencoder": NUQ_AUTOENCODER_ZOO}
TRAIN_CONFIG = "configs/train/nuq_cifar10.yaml"
#: the stage of :data:`TRAIN_CONFIG` that trains each role's weights
STAGES = {"autoencoder": "autoencoder", "nonuniform": "nuq-ste", "uniform": "uniform-ste"}
CONFIGS = {"quantization": "configs/eval/nuq_quantization.yaml", "tiny_imagenet": "configs/eval/nuq_tiny_imagenet.yaml",
           "weighting": "configs/eval/nuq_weighting.yaml", "overhead": "configs/eval/nuq_overhead.yaml",
           "analog": "configs/eval/nuq_analog.yaml"}
#: the weights (role) of each NUQ system of each config, by system index: every quantizer
#: on the weights tuned for it, "unquantized" on the autoencoder's
NUQ_ROLES = {"quantization": ("autoencoder", "uniform", "nonuniform"),
             "tiny_imagenet": ("autoencoder", "uniform", "nonuniform"),
             "weighting": ("nonuniform", "uniform"), "overhead": ("uniform", "nonuniform"),
             "analog": ("nonuniform", "uniform", "autoencoder")}
#: the stage-1 cross-check: uniform and non-uniform (and the weightings) on the same
#: autoencoder weights, tuned for neither; 8 bits
STAGE1_RUN = {1: {"quantizer": "uniform", "budget_bits": 8}, 2: {"quantizer": "nonuniform", "budget_bits": 8}}
#: the zoo's CIFAR-10 analog models of ``nuq_analog.yaml`` (after its NUQ systems)
ANALOG_MODELS = ("convjscc_cifar10_cbr1-12_snr4", "convjscc_cifar10_cbr1-12_snr7", "convjscc_cifar10_cbr1-12_snr13",
                 "adjscc_cifar10_cbr1-12_snr0-20", "convjscc_cifar10_cbr1-24_snr7", "adjscc_cifar10_cbr1-24_snr0-20")
CIFAR10 = {"name": "cifar10", "split": "test", "limit": 1000}
TINY_IMAGENET = {"name": "tiny-imagenet-val", "limit": 200}
#: images of the overhead sweep (``nuq_overhead.yaml``)
OVERHEAD_LIMIT = 200
#: index of ``lpips`` in the metrics of the configs that have it
LPIPS_INDEX = 2
#: the training config's batch size (steps per epoch of the overhead estimate)
TRAIN_BATCH_SIZE = 128


def dataset_unavailable(spec: Mapping[str, Any]) -> str | None:
    """Why a dataset spec (``{name, root, split, limit, ...}``) cannot be opened, in one
    line, or None when it can (the dataset is built, no image decoded)."""
    from semcom.data import create_dataset

    options = {k: v for k, v in spec.items() if k not in ("name", "root", "limit") and v is not None}
    try:
        dataset = create_dataset(str(spec["name"]), spec.get("root"), **options)
        if len(dataset) == 0:
            return f"dataset {spec['name']!r} has no images"
    except (SemcomError, TypeError, OSError) as e:
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None


def _dataset(default: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict[str, Any]:
    """``given`` over ``default``; a ``given`` of another dataset keeps only the default's ``limit``."""
    if given is None:
        return dict(default)
    if given.get("name", default["name"]) != default["name"]:
        return {"limit": default.get("limit"), **given}
    return {**default, **given}


def _flow(value: Any) -> str:
    """A value as an override's YAML text (JSON is YAML)."""
    return json.dumps(value)


def _analog_config(models: Sequence[str]) -> tuple[str | dict[str, Any], list[str]]:
    """``nuq_analog.yaml`` (its path when it keeps every analog model, else a dict) and the
    missing models' notes."""
    from semcom.configfile import read_config_file
    from semcom.evaluation.config import resolve_file_paths
    from semcom.evaluation.reproduce import repo_path
    from semcom.zoo.pretrained import has_pretrained

    notes = [f"analog model `{m}` unavailable: not in the zoo" for m in models if not has_pretrained(m)]
    keep = [m for m in models if has_pretrained(m)]
    if tuple(keep) == ANALOG_MODELS:
        return CONFIGS["analog"], notes
    path = repo_path(CONFIGS["analog"])
    raw = read_config_file(path)
    resolve_file_paths(raw, path.parent)
    nuq = raw["systems"][:len(NUQ_ROLES["analog"])]
    listed = {s.get("pretrained"): s for s in raw["systems"][len(nuq):]}
    raw["systems"] = nuq + [listed.get(m) or {"pretrained": m} for m in keep]
    return raw, notes


def nuq_recipe(nuq: str | Path | None = None, lpips_weights: str | Path | None = None,
               cifar10: Mapping[str, Any] | None = None, tiny_imagenet: Mapping[str, Any] | None = None,
               analog_models: Sequence[str] = ANALOG_MODELS, train_batch_size: int = TRAIN_BATCH_SIZE,
               timing_rounds: int = 5, name: str = "nuq", nuq_uniform: str | Path | None = None,
               nuq_autoencoder: str | Path | None = None) -> Recipe:
    """The ``nuq`` recipe (module docstring).

    Args:
        nuq: a zoo name or checkpoint path of the NUQ model tuned for non-uniform
            quantization, and of the other roles unless ``nuq_uniform`` /
            ``nuq_autoencoder`` are given (None: the zoo's :data:`ZOO`, which ``--train``
            trains first from the stages of :data:`TRAIN_CONFIG`).
        nuq_uniform: the weights of the uniform curves (default: ``nuq``, else
            :data:`NUQ_UNIFORM_ZOO`).
        nuq_autoencoder: the weights of "unquantized" and of the stage-1 cross-check
            (default: ``nuq``, else :data:`NUQ_AUTOENCODER_ZOO`).
        lpips_weights: a local LPIPS weights file (:mod:`semcom.metrics.lpips`); None: the
            metric's own lookup (``$SEMCOM_LPIPS_WEIGHTS``), else LPIPS is unavailable.
        cifar10, tiny_imagenet: dataset specs (``{name, root, split, limit}``) replacing
            :data:`CIFAR10` / :data:`TINY_IMAGENET` (None: the configs' own).
        analog_models: zoo names of the analog models beside NUQ (of :data:`ANALOG_MODELS`
            or others); those missing from the zoo are left out with a note.
        train_batch_size: batch of the timed training step (the epoch estimate's steps are
            ``ceil(50,000 / train_batch_size)``).
        timing_rounds: timed calls per overhead figure (their median).
        name: the recipe's name (folder ``results/NAME``).

    Raises:
        SemcomError: a bad ``train_batch_size`` or ``timing_rounds``, or an LPIPS weights
            file that does not exist.
    """
    for what, value in (("train_batch_size", train_batch_size), ("timing_rounds", timing_rounds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SemcomError(f"nuq recipe: {what} must be a positive integer, got {value!r}")
    if lpips_weights is not None and not Path(lpips_weights).expanduser().is_file():
        raise SemcomError(f"nuq recipe: LPIPS weights file {lpips_weights} not found")
    from semcom.zoo.pretrained import has_pretrained

    notes: list[str] = []
    given_models = {"nonuniform": nuq, "uniform": nuq_uniform if nuq_uniform is not None else nuq,
                    "autoencoder": nuq_autoencoder if nuq_autoencoder is not None else nuq}
    models = {role: ZOO[role] if m is None else m for role, m in given_models.items()}
    for role, m in given_models.items():
        if m is None and not has_pretrained(ZOO[role]):
            notes.append(f"NUQ model `{ZOO[role]}` not in the zoo yet: run with `--train` (trains {TRAIN_CONFIG}, "
                         f"stage {STAGES[role]}) or pass a checkpoint (`nuq_recipe(nuq=PATH)`); the sweeps that "
                         "use it fail without it")
    given = {"cifar10": cifar10, "tiny_imagenet": tiny_imagenet}
    available = {}
    for key, default in (("cifar10", CIFAR10), ("tiny_imagenet", TINY_IMAGENET)):
        why = dataset_unavailable(_dataset(default, given[key]))
        available[key] = why is None
        if why is not None:
            notes.append(f"{'CIFAR-10 test' if key == 'cifar10' else 'Tiny-ImageNet val'} unavailable, its sweeps "
                         f"left out: {why}")

    def overrides_for(part: str, dataset: str, stage1: bool = False) -> tuple[str, ...]:
        """The ``--set`` overrides of one sweep: the models (all the autoencoder's for the
        ``stage1`` cross-check), the dataset, the LPIPS weights."""
        roles = ["autoencoder"] * len(NUQ_ROLES[part]) if stage1 else NUQ_ROLES[part]
        out = [s for i, role in enumerate(roles) for s in model_overrides(i, models[role])]
        if stage1 and part == "quantization":
            out += [f"systems.{i}.run={_flow(run)}" for i, run in STAGE1_RUN.items()]
        default = {**CIFAR10, "limit": OVERHEAD_LIMIT} if part == "overhead" else \
            TINY_IMAGENET if dataset == "tiny_imagenet" else CIFAR10
        if given[dataset] is not None or (part == "weighting" and dataset == "tiny_imagenet"):
            out.append(f"dataset={_flow(_dataset(default, given[dataset]))}")
        if lpips_weights is not None and part != "overhead":
            weights = str(Path(lpips_weights).expanduser().resolve())
            out.append(f"metrics.{LPIPS_INDEX}={_flow({'name': 'lpips', 'weights': weights})}")
        return tuple(out)

    analog_config, analog_notes = _analog_config(tuple(analog_models))
    notes += analog_notes
    evaluations = []
    if available["cifar10"]:
        evaluations.append(Evaluation("cifar10", CONFIGS["quantization"],
                                      lambda rows, out_dir=None: quantization_table(rows, out_dir, "CIFAR-10 test"),
                                      overrides_for("quantization", "cifar10")))
        evaluations.append(Evaluation("cifar10_stage1", CONFIGS["quantization"],
                                      lambda rows, out_dir=None: quantization_table(
                                          rows, out_dir, "CIFAR-10 test, stage-1 weights"),
                                      overrides_for("quantization", "cifar10", stage1=True)))
    if available["tiny_imagenet"]:
        evaluations.append(Evaluation("tiny_imagenet", CONFIGS["tiny_imagenet"],
                                      lambda rows, out_dir=None: quantization_table(rows, out_dir, "Tiny-ImageNet val"),
                                      overrides_for("tiny_imagenet", "tiny_imagenet")))
    for key in ("cifar10", "tiny_imagenet"):
        if available[key]:
            evaluations.append(Evaluation(f"weighting_{key}", CONFIGS["weighting"], weighting_table,
                                          overrides_for("weighting", key)))
    if available["cifar10"]:
        evaluations.append(Evaluation("weighting_cifar10_stage1", CONFIGS["weighting"], weighting_table,
                                      overrides_for("weighting", "cifar10", stage1=True)))
    if available["cifar10"]:
        evaluations.append(Evaluation("overhead", CONFIGS["overhead"],
                                      lambda rows, out_dir=None: overhead_table(rows, out_dir, train_batch_size,
                                                                                timing_rounds),
                                      overrides_for("overhead", "cifar10")))
        evaluations.append(Evaluation("analog", analog_config, analog_table, overrides_for("analog", "cifar10")))
    description = DESCRIPTION + ("\n\nUnavailable in this run:\n\n" + "\n".join(f"- {n}" for n in notes)
                                 if notes else "")
    return Recipe(name=name, description=description, evaluations=evaluations,
                  train=[(TRAIN_CONFIG, {STAGES[role]: ZOO[role] for role in ("autoencoder", "nonuniform", "uniform")
                                         if given_models[role] is None})]
                  if any(m is None for m in given_models.values()) else [])


DESCRIPTION = """\
The claims of feature-driven non-uniform quantization (NUQ; Zhang et al., Entropy 2025): \
a Swin autoencoder whose features get bit widths from their contribution factors \
(the gradient of the reconstruction MSE through the decoder), m = 3 categories, widths by the \
paper's rule b_k ~ S_k (S_k: the contribution mass of category k and the less important \
ones, per image: 3:2:1 when the masses are equal, more skewed when they are), fixed-point \
codes sent as uncoded QPSK bits with hard decisions, \
the side information (category ranges, bit splits, map) over the 5G PHY at MCS 3. \
Three weight sets from the stages of `configs/train/nuq_cifar10.yaml` (`--train` trains them \
first): the unquantized autoencoder `nuq_cifar10_autoencoder`, and two fine-tunings of it \
for the same steps, `nuq_cifar10` (non-uniform, gradient factors, 8 bits) and \
`nuq_cifar10_uniform` (uniform, 8 bits); every curve is a run-time setting of the weights \
tuned for it ("unquantized" of the autoencoder's), so neither quantizer is measured on \
weights tuned for the other. Budgets are *average bits per feature* (equal payload \
for uniform and non-uniform; the non-uniform side information costs extra channel uses, \
stated in each table); the paper's "10-bit" hierarchical example (5/3/2 bits) averages \
10/3 bits, not comparable to uniform 10-bit. MS-SSIM uses 2 scales on 32x32 images and 3 on \
64x64 (`semcom.metrics.quality`). One noise draw per image and point, seed 0.

* **cifar10** (`configs/eval/nuq_quantization.yaml`): the paper's Figures 3-6: PSNR, MS-SSIM, \
LPIPS against SNR (1-13 dB) of no quantization (analog features, two per complex symbol), \
uniform 10/8/6-bit and non-uniform 10/8/6-bit, over AWGN, Rayleigh (fast) and the composite \
channel (Rician K = 3, OFDM multipath, SNR + 3 dB sin(t/10)); the first 1,000 CIFAR-10 test images. \
`nonuniform_gain.csv`: non-uniform minus uniform at every point.
* **cifar10_stage1**: the cross-check on one weight set: unquantized, uniform and non-uniform \
8-bit all on the autoencoder's weights (tuned for neither quantizer), same channels and SNRs.
* **tiny_imagenet** (`configs/eval/nuq_tiny_imagenet.yaml`): Table 1 and Figures 7-8: the same \
at 8 bits on the first 200 Tiny-ImageNet val images (64x64), with the CIFAR-10 model.
* **weighting_cifar10**, **weighting_tiny_imagenet** (`configs/eval/nuq_weighting.yaml`): \
Tables 3-4: contribution factors from the gradient, the largest magnitude, or the std per \
channel, 8 bits, AWGN and composite at 4 and 10 dB, uniform 8-bit as reference. The weights \
were fine-tuned with gradient factors, which favours them; **weighting_cifar10_stage1** runs \
the three factors and uniform on the autoencoder's weights, tuned for none of them.
* **overhead** (`configs/eval/nuq_overhead.yaml`): Table 2: training time per epoch (an \
estimate from a measured stage-2 step), inference time and peak memory, uniform vs \
non-uniform, 8 bits, AWGN 10 dB (`semcom.evaluation.nuq_overhead`).
* **analog** (`configs/eval/nuq_analog.yaml`): NUQ beside the zoo's CIFAR-10 ConvJSCC and \
ADJSCC (cbr 1/12, 1/24) over AWGN, with NUQ points whose payload takes the analog models' \
channel uses (1 and 0.5 bit per feature in 16-QAM); every system's channel uses per image \
are stated, equal or not.

Run: `semcom reproduce nuq [--limit N] [--out DIR]` (`--limit` caps every sweep's images; \
with the small model on one CPU thread of a shared 2-core machine, an estimate from measured \
transmit times: about 3.5 h without the two stage-1 parts, which add 46 quantized points to \
the 106 of the cifar10 and weighting_cifar10 parts: roughly 4.5 h; about a quarter of that with `--limit 200`; the \
cifar10 part the largest). \
From Python, `semcom.evaluation.nuq_claims.nuq_recipe(nuq=PATH, nuq_uniform=PATH, \
nuq_autoencoder=PATH, lpips_weights=PATH, ...)` takes other models, LPIPS weights and datasets."""
