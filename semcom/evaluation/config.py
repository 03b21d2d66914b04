"""Evaluation sweep configuration: read from YAML, overridden by ``key=value``, validated.

A config names a dataset, the systems to compare, the channels, the SNRs and how many
noise realisations to average::

    dataset: {name: kodak, root: "${SEMCOM_DATA:-../../../shared/data}/kodak", limit: 4}
    systems:
      - {system: uncoded}
      - {system: digital, codec: jpeg, cbr: [1/24, 1/12, 1/6], label: JPEG+LDPC}
      - {pretrained: adjscc_hr_cbr1-16, label: ADJSCC}
      - {checkpoint: ../../runs/convjscc_kodak/final, label: ConvJSCC}
    channels:
      - awgn
      - {name: rician, params: {K: 3}}
    snr_db: [1, 4, 7, 10, 13]
    repeats: 2          # noise realisations averaged per image
    seed: 0
    out_dir: results/kodak_uncoded
    metrics: [psnr, ssim, {name: lpips, weights: PATH}, {name: accuracy, classifier: PATH}]

Run-time settings (``run:`` in a system spec, see :mod:`semcom.evaluation.systems`)
become sweep axes and ``run.NAME`` result columns::

    systems:
      - {system: digital, codec: hevc, cbr: 0.04, run: {mcs: [5, 9, 14, 19]}}
    plots: [{x: mcs, y: psnr}]          # extra plots; psnr_vs_<setting>.png comes anyway
    envelope: {over: mcs, metric: psnr, max_overshoot: 0.05}  # best row per (system, cbr,
                                         # channel, snr) within 5 % of the budget: envelope.csv
    bd: {anchor: ConvJSCC, metric: psnr} # BD-CBR / BD-PSNR of every curve vs the anchor: bd.csv
                                         # (of the envelope's curves when envelope is set)

``run`` may also be a list of points instead of a mapping of lists: each point is a
mapping of settings (one scalar each; settings a point leaves out take their defaults),
and the system is evaluated at exactly those points, in the order written, not at the
combinations of their values::

    systems:
      - pretrained: fajscc_hr_cbr1-16
        run: [{rho_enc: 0.2, rho_dec: 0.2}, {rho_enc: 0.2, rho_dec: 0.5}, {rho_enc: 0.5, rho_dec: 0.2}]

(three points, where ``{rho_enc: [0.2, 0.5], rho_dec: [0.2, 0.5]}`` gives four). A point
may not be listed twice (also not once its defaults are filled in). In both forms, a
setting that takes more than one value among a system's points is swept (``run.NAME``
columns, ``psnr_vs_NAME.png``). The shape of ``run`` is checked when the config loads;
the setting names and values against the link's declared settings when the sweep builds
it (both in :mod:`semcom.evaluation.systems`).

Metrics come from :mod:`semcom.metrics.registry` (``psnr`` always); ``accuracy`` and
``f1`` need a labelled dataset.

``${VAR}`` / ``${VAR:-default}`` are expanded in every string. A relative
``dataset.root`` or ``checkpoint`` written in a file is relative to the file's folder
(as in training configs); ``out_dir`` and paths given as overrides are relative to the
working directory.

Every mistake (unknown key, unknown system, NaN SNR, ...) is a
:class:`~semcom.errors.SemcomError` raised here; the rest (unknown channel or channel
parameter, missing checkpoint or dataset) when the sweep builds its parts, before the
first transmission.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from semcom.configfile import apply_override, check_keys, copy_tree, expand_env, read_config_file, resolve_path
from semcom.conventions import check_snr_db
from semcom.errors import SemcomError
from semcom.evaluation.tables import parse_plots, parse_reduction

#: the default metrics of a sweep (every name of :data:`semcom.metrics.registry.METRICS` works)
METRICS = ("psnr", "ssim", "ms_ssim")
#: row columns a plot can use as its x axis besides run-time settings
PLOT_X = ("snr_db", "cbr", "channel_uses")

#: top-level keys of a config, with their defaults (``None``: required or unset)
DEFAULTS: dict[str, Any] = {
    "name": None,
    "dataset": None,
    "systems": None,
    "channels": ["awgn"],
    "snr_db": None,
    "repeats": 1,
    "batch_size": 8,
    "seed": 0,
    "out_dir": None,
    "device": "cpu",
    "threads": None,
    "metrics": list(METRICS),
    "plots": None,
    "envelope": None,
    "bd": None,
}

_CHANNEL_KEYS = ("name", "params", "label")


@dataclass
class DatasetSpec:
    """Which images a sweep runs on.

    Attributes:
        name: dataset registry name (``folder``, ``kodak``, ``cifar10``, ...).
        root: folder the dataset reads (``~`` and ``$VARS`` expanded; relative paths are
            relative to the working directory).
        limit: use only the first ``limit`` images (None: all).
        split: dataset split (``test``, ...), passed on when given.
        options: further keyword arguments of the dataset.
    """

    name: str
    root: str | None = None
    limit: int | None = None
    split: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChannelSpec:
    """One channel of the sweep: registry ``name``, constructor ``params``, display ``label``."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""


@dataclass
class EvalConfig:
    """A validated evaluation sweep (see the module docstring for the file format).

    Attributes:
        dataset: the images; may be None when :func:`~semcom.evaluation.sweep.run_sweep`
            is given images directly.
        systems: system specs (``{"system"|"checkpoint"|"pretrained": ..., "label": ...,
            "cbr": value or list, **kwargs}``), see :mod:`semcom.evaluation.systems`.
        channels: channels to sweep.
        snr_db: average received SNRs in dB.
        repeats: noise realisations per image and point, averaged in each row.
        batch_size: images per ``transmit`` call (only images of one size are batched).
        seed: base seed; the generator of each batch is seeded from
            ``(seed, repeat, index of the batch's first image)``.
        out_dir: where results.csv/json and the plots go.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        threads: torch CPU threads (None: leave as is).
        metrics: metric entries (a name, or ``{"name": ..., **options}``), PSNR first.
        plots: extra plots ``{"x": column or setting, "y": metric column, "name": file}``.
        envelope: ``{"over": setting, "metric": column, "max_overshoot": fraction}`` or None
            (see :func:`semcom.evaluation.tables.envelope`).
        bd: ``{"anchor": label, "metric": column}`` or None (see
            :func:`semcom.evaluation.tables.bd_table`; with ``envelope``, the curves are
            the envelope's).
        name: free-form name shown in plot titles.
    """

    systems: list[dict[str, Any]]
    snr_db: list[float]
    dataset: DatasetSpec | None = None
    channels: list[ChannelSpec] = field(default_factory=lambda: [ChannelSpec("awgn")])
    repeats: int = 1
    batch_size: int = 8
    seed: int = 0
    out_dir: str = "results/eval"
    device: str = "cpu"
    threads: int | None = None
    metrics: list[Any] = field(default_factory=lambda: list(METRICS))
    plots: list[dict[str, str]] = field(default_factory=list)
    envelope: dict[str, Any] | None = None
    bd: dict[str, str] | None = None
    name: str = "eval"

    @property
    def metric_names(self) -> list[str]:
        """Registry names of the configured metrics."""
        from semcom.metrics.registry import metric_name

        return [metric_name(m) for m in self.metrics]

    # ------------------------------------------------------------------ building
    @classmethod
    def from_dict(cls, raw: dict[str, Any], default_name: str = "eval") -> "EvalConfig":
        """Validate a plain dict (as read from YAML) into a config."""
        if not isinstance(raw, dict):
            raise SemcomError(f"an evaluation config must be a mapping of keys, got {type(raw).__name__}")
        check_keys(raw, list(DEFAULTS))
        merged = {**copy_tree(DEFAULTS), **expand_env(copy_tree(raw))}
        name = str(merged["name"] or default_name)
        return cls(
            name=name,
            dataset=_dataset(merged["dataset"]),
            systems=_systems(merged["systems"]),
            channels=_channels(merged["channels"]),
            snr_db=_snr_list(merged["snr_db"]),
            repeats=_positive_int("repeats", merged["repeats"]),
            batch_size=_positive_int("batch_size", merged["batch_size"]),
            seed=_int("seed", merged["seed"]),
            out_dir=str(merged["out_dir"] or Path("results") / name),
            device=_device(merged["device"]),
            threads=None if merged["threads"] is None else _positive_int("threads", merged["threads"]),
            metrics=_metrics(merged["metrics"]),
            plots=parse_plots(merged["plots"]),
            envelope=parse_reduction("envelope", merged["envelope"], ("over", "metric", "max_overshoot")),
            bd=parse_reduction("bd", merged["bd"], ("anchor", "metric")),
        )

    @classmethod
    def load(cls, source: "str | Path | dict[str, Any] | EvalConfig",
             overrides: Sequence[str] = ()) -> "EvalConfig":
        """A config from a YAML path, a dict or a config, with ``key=value`` overrides.

        Overrides use dotted keys and YAML values: ``snr_db=[1,4]``,
        ``dataset.limit=3``, ``systems.0.cbr=1/16``, ``repeats=2``.

        Paths: ``${VAR}`` and ``${VAR:-default}`` are expanded in every string; a relative
        ``dataset.root`` or ``checkpoint`` written in a file is relative to that file's
        folder; ``out_dir`` and paths given as overrides or in a dict are relative to the
        working directory.
        """
        default_name = "eval"
        if isinstance(source, EvalConfig):
            raw = source.to_dict()
            default_name = source.name
        elif isinstance(source, dict):
            raw = copy_tree(source)
        else:
            path = Path(source)
            raw = read_config_file(path)
            resolve_file_paths(raw, path.parent)
            default_name = path.stem
        for item in overrides:
            apply_override(raw, item)
        return cls.from_dict(raw, default_name=default_name)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data (what result files record; loads back unchanged)."""
        ds = None
        if self.dataset is not None:
            ds = {"name": self.dataset.name, "root": self.dataset.root, "limit": self.dataset.limit,
                  "split": self.dataset.split, **self.dataset.options}
            ds = {k: v for k, v in ds.items() if v is not None}
        return {
            "name": self.name,
            "dataset": ds,
            "systems": copy_tree(self.systems),
            "channels": [{"name": c.name, "params": dict(c.params), "label": c.label} for c in self.channels],
            "snr_db": list(self.snr_db),
            "repeats": self.repeats,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "out_dir": self.out_dir,
            "device": self.device,
            "threads": self.threads,
            "metrics": copy_tree(self.metrics),
            "plots": copy_tree(self.plots),
            "envelope": copy_tree(self.envelope),
            "bd": copy_tree(self.bd),
        }


def resolve_file_paths(raw: dict[str, Any], base: Path) -> None:
    """Make the relative ``dataset.root``, system ``checkpoint`` and metric ``weights`` /
    ``classifier`` paths (a classifier with a ``/``; else it is a zoo name) written in a
    config file absolute against ``base``, the file's folder (env expanded first)."""
    dataset = raw.get("dataset")
    if isinstance(dataset, dict) and isinstance(dataset.get("root"), str):
        dataset["root"] = resolve_path(dataset["root"], base)
    systems = raw.get("systems")
    for spec in systems if isinstance(systems, list) else []:
        if isinstance(spec, dict) and isinstance(spec.get("checkpoint"), str):
            spec["checkpoint"] = resolve_path(spec["checkpoint"], base)
    metrics = raw.get("metrics")
    for entry in metrics if isinstance(metrics, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("weights"), str):
            entry["weights"] = resolve_path(entry["weights"], base)
        if isinstance(entry, dict) and isinstance(entry.get("classifier"), str) and "/" in entry["classifier"]:
            entry["classifier"] = resolve_path(entry["classifier"], base)  # a path, not a zoo name


# ------------------------------------------------------------------- validation
def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise SemcomError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _positive_int(name: str, value: Any) -> int:
    v = _int(name, value)
    if v < 1:
        raise SemcomError(f"{name} must be >= 1, got {value!r}")
    return v


def _snr_list(value: Any) -> list[float]:
    if value is None:
        raise SemcomError("config needs snr_db: a list of SNRs in dB, e.g. snr_db: [1, 4, 7, 10]")
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise SemcomError("snr_db is empty: give at least one SNR in dB")
    out = []
    for v in values:
        if isinstance(v, bool) or isinstance(v, (dict, list)):
            raise SemcomError(f"snr_db entries must be numbers in dB, got {v!r}")
        check_snr_db(v)
        out.append(float(v))
    if len(set(out)) != len(out):
        raise SemcomError(f"snr_db lists a value twice: {out}")
    return out


def _device(value: Any) -> str:
    import torch

    text = str(value or "cpu").strip().lower()
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise SemcomError(f"unknown device {value!r} (use cpu, cuda, cuda:N or auto)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SemcomError(f"device {value!r} requested but CUDA is not available (use cpu or auto)")
    if dev.type not in ("cpu", "cuda"):
        raise SemcomError(f"unsupported device {value!r} (use cpu, cuda, cuda:N or auto)")
    return text


def _metrics(value: Any) -> list[Any]:
    from semcom.metrics.registry import metric_entries

    return metric_entries(value)


def _dataset(value: Any) -> DatasetSpec | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict) or not value.get("name"):
        raise SemcomError("dataset must be a mapping with a name, e.g. {name: kodak, root: DIR, limit: 4}")
    options = dict(value)
    name = str(options.pop("name"))
    root = options.pop("root", None)
    limit = options.pop("limit", None)
    split = options.pop("split", None)
    return DatasetSpec(name=name, root=None if root is None else str(root),
                       limit=None if limit is None else _positive_int("dataset.limit", limit),
                       split=None if split is None else str(split), options=options)


def _channels(value: Any) -> list[ChannelSpec]:
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise SemcomError("channels is empty: name at least one channel (e.g. awgn)")
    specs = []
    for entry in values:
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise SemcomError(f"a channel must be a name or {{name: ..., params: {{...}}}}, got {entry!r}")
        bad = [k for k in entry if k not in _CHANNEL_KEYS]
        if bad:
            raise SemcomError(f"channel {entry['name']!r}: unknown key {bad[0]!r} "
                              f"(known: {', '.join(_CHANNEL_KEYS)}; put parameters under params)")
        params = entry.get("params") or {}
        if not isinstance(params, dict):
            raise SemcomError(f"channel {entry['name']!r}: params must be a mapping, got {params!r}")
        specs.append(ChannelSpec(name=entry["name"], params=dict(params), label=str(entry.get("label") or "")))
    _label_channels(specs)
    return specs


def _label_channels(specs: list[ChannelSpec]) -> None:
    """Default labels: the name, plus the parameters where one name appears twice."""
    counts: dict[str, int] = {}
    for s in specs:
        counts[s.name.lower()] = counts.get(s.name.lower(), 0) + 1
    for s in specs:
        if not s.label:
            s.label = s.name
            if counts[s.name.lower()] > 1 and s.params:
                s.label += "(" + ",".join(f"{k}={v}" for k, v in s.params.items()) + ")"
    labels = [s.label for s in specs]
    dup = next((lab for lab in labels if labels.count(lab) > 1), None)
    if dup is not None:
        raise SemcomError(f"channel {dup!r} is listed twice; give the entries different params or labels")


def _systems(value: Any) -> list[dict[str, Any]]:
    """The system specs, each checked by :func:`~semcom.evaluation.systems.validate_system_spec`
    (structure, names and the shape of ``run`` in either form; settings are resolved
    against each link when the sweep builds it)."""
    from semcom.evaluation.systems import validate_system_spec

    if value is None or value == []:
        raise SemcomError("config needs systems: a list like [{system: uncoded}]")
    values = value if isinstance(value, (list, tuple)) else [value]
    return [validate_system_spec({"system": entry} if isinstance(entry, str) else entry) for entry in values]
