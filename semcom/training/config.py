"""Training configuration: a YAML (or TOML/JSON) file, validated into :class:`TrainConfig`.

A config file looks like::

    model: {name: convjscc, cbr: 1/12}          # name + constructor keywords
    data:                                       # training images
      name: cifar10-jpeg
      root: ${SHARED_DATA:-../../../shared/data}/cifar10_train_jpeg
      hflip: true
    val_data: {name: cifar10, root: ..., split: test, limit: 1000}
    channel: {name: awgn}                       # name + channel parameters
    snr_db: [0, 20]                             # fixed (10), range [lo, hi], or {choices: [1, 4, 7]}
    loss: mse                                   # or ms-ssim (1 - MS-SSIM)
    optimizer: {lr: 1.0e-4}
    schedule: {name: cosine, min_lr: 1.0e-5}
    batch_size: 64                              # global: split evenly over DDP ranks
    steps: 10000
    out_dir: runs/convjscc-cifar10
    init_from: convjscc_cifar10_cbr1-12_snr7   # optional: start from these weights (zoo name
                                                # or checkpoint path; ignored when resuming)

Paths:

* ``${VAR}`` and ``${VAR:-default}`` are expanded from the environment in every string.
* A relative dataset ``root`` (in the file, after expansion) is resolved against the
  directory of the config file, so ``${SHARED_DATA:-../../../shared/data}`` in
  ``configs/train/*.yaml`` finds ``shared/data`` beside the repository unless the
  ``SHARED_DATA`` environment variable says otherwise.
* ``out_dir`` and paths given as overrides are relative to the working directory.

Sections ``model``, ``data``/``val_data`` and ``channel`` take a ``name`` plus the keyword
arguments of the registered factory (checked against its signature when the trainer is
built); every other section has a fixed set of keys and an unknown key is a
:class:`~semcom.errors.SemcomError` naming it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from semcom import configfile
from semcom.configfile import check_keys, expand_env, read_config_file, resolve_path
from semcom.errors import SemcomError

LOSSES = ("mse", "ms-ssim")
SCHEDULES = ("none", "step", "cosine")
DEVICES = ("auto", "cpu", "cuda")


# ------------------------------------------------------------------------ sections
@dataclass
class ComponentSpec:
    """A registered component: its ``name`` and the keyword arguments that build it."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSpec:
    """A dataset (or the concatenation of several) and how training samples are cut.

    Attributes:
        name, root, options: one registered dataset ``create_dataset(name, root, **options)``.
        sources: several datasets ``[{name, root, **options}, ...]``, concatenated
            (instead of ``name``/``root``).
        crop: side of square crops in pixels (random for training, centred for
            validation); ``None`` uses whole images (they must then share one size).
        hflip: random horizontal flips (training only).
        limit: use only the first ``limit`` images (after concatenation; passed on to a
            single dataset that takes ``limit`` itself, e.g. ``cifar10-jpeg``).

    Random crops belong here (``crop``), not in a dataset's own options (e.g.
    ``hr-folder``'s ``crop_size``): the trainer seeds every crop from (seed, step,
    position), which keeps the data identical after a resume.
    """

    name: str | None = None
    root: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    sources: list[ComponentSpec | dict] = field(default_factory=list)
    crop: int | None = None
    hflip: bool = False
    limit: int | None = None

    def components(self) -> list[tuple[str, str | None, dict[str, Any]]]:
        """``[(name, root, options), ...]`` of every dataset to concatenate."""
        if self.sources:
            return [(s["name"], s.get("root"), {k: v for k, v in s.items() if k not in ("name", "root")})
                    for s in self.sources]  # type: ignore[union-attr]
        return [(self.name, self.root, dict(self.options))]  # type: ignore[list-item]


@dataclass
class SNRSpec:
    """Training SNR in dB: ``fixed``, a ``range`` sampled uniformly per image, or
    ``choices`` sampled uniformly per image."""

    fixed: float | None = None
    range: tuple[float, float] | None = None
    choices: tuple[float, ...] | None = None

    def default_val_points(self) -> list[float]:
        """SNRs at which validation reports PSNR when ``val_snr_db`` is not given."""
        if self.fixed is not None:
            return [self.fixed]
        if self.range is not None:
            lo, hi = self.range
            return [lo, (lo + hi) / 2, hi] if hi > lo else [lo]
        return sorted(self.choices or ())

    def to_yaml(self) -> Any:
        if self.fixed is not None:
            return self.fixed
        if self.range is not None:
            return list(self.range)
        return {"choices": list(self.choices or ())}


@dataclass
class OptimizerSpec:
    """Adam(W) settings."""

    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    grad_clip: float | None = None  # max global gradient norm; None: no clipping


@dataclass
class ScheduleSpec:
    """Learning-rate schedule, a pure function of the step (see :mod:`.schedules`)."""

    name: str = "none"
    warmup_steps: int = 0
    step_size: int | None = None  # "step": multiply by gamma every step_size steps
    gamma: float = 0.1
    milestones: list[int] = field(default_factory=list)  # "step": ... or at these steps
    min_lr: float = 0.0  # "cosine": final learning rate


@dataclass
class TrainConfig:
    """Everything a training run needs; see the module docstring for the file format."""

    model: ComponentSpec
    data: DataSpec
    channel: ComponentSpec = field(default_factory=lambda: ComponentSpec("awgn"))
    snr_db: SNRSpec = field(default_factory=lambda: SNRSpec(fixed=10.0))
    val_data: DataSpec | None = None
    val_snr_db: list[float] | None = None
    val_batch_size: int | None = None
    loss: str = "mse"
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    schedule: ScheduleSpec = field(default_factory=ScheduleSpec)
    batch_size: int = 32
    steps: int = 1000
    val_every: int = 0  # 0: validate only at the end (if val_data is given)
    ckpt_every: int = 0  # 0: checkpoint only at the end
    log_every: int = 50
    out_dir: str = "runs/train"
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"
    threads: int | None = None
    deterministic: bool = True
    find_unused_parameters: bool = False
    imports: list[str] = field(default_factory=list)  # modules to import (plugins registering components)
    init_from: str | None = None  # zoo name or model checkpoint whose weights start a fresh run
    crash_after_step: int | None = None  # testing: os._exit right after this step (and its checkpoint)

    def to_dict(self) -> dict[str, Any]:
        """The config as the plain mapping a file would hold (round-trips through
        :func:`config_from_dict`)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, ComponentSpec):
                v = {"name": v.name, **v.kwargs}
            elif isinstance(v, DataSpec):
                v = _data_to_dict(v)
            elif isinstance(v, SNRSpec):
                v = v.to_yaml()
            elif dataclasses.is_dataclass(v):
                v = {k: (list(x) if isinstance(x, tuple) else x) for k, x in dataclasses.asdict(v).items()}
            out[f.name] = copy.deepcopy(v)
        return out


def _data_to_dict(d: DataSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if d.sources:
        out["sources"] = [dict(s) for s in d.sources]  # type: ignore[arg-type]
    else:
        out["name"], out["root"] = d.name, d.root
        out.update(d.options)
    out.update(crop=d.crop, hflip=d.hflip, limit=d.limit)
    return out


# ------------------------------------------------------------------------ loading
def _resolve_roots(raw: dict[str, Any], base: Path) -> None:
    """Make relative dataset roots absolute against ``base`` (the config's directory)."""
    for section in ("data", "val_data"):
        spec = raw.get(section)
        if not isinstance(spec, dict):
            continue
        entries = spec.get("sources") if isinstance(spec.get("sources"), list) else [spec]
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("root"), str):
                entry["root"] = resolve_path(entry["root"], base)


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with ``"a.b=c"`` overrides applied (sections created as
    needed; ``snr_db.choices=[...]`` replaces a fixed or range ``snr_db``)."""
    return configfile.apply_overrides(raw, overrides, replaceable=("snr_db",))


def load_config(source: str | Path | dict[str, Any] | TrainConfig,
                overrides: Sequence[str] = ()) -> TrainConfig:
    """Build a validated :class:`TrainConfig` from a file path, a mapping or a config.

    Args:
        source: path to a ``.yaml``/``.yml``/``.json``/``.toml`` file, a mapping with the
            same keys, or a :class:`TrainConfig` (to which ``overrides`` are applied).
        overrides: ``"key.sub=value"`` strings (values parsed as YAML), applied last.

    Raises:
        SemcomError: unreadable file, unknown key, or invalid value (the message names it).
    """
    if isinstance(source, TrainConfig):
        if not overrides:
            return source
        raw = source.to_dict()
    elif isinstance(source, dict):
        raw = source  # apply_overrides copies it
    else:
        path = Path(source)
        raw = read_config_file(path)
        _resolve_roots(raw, path.resolve().parent)
    return config_from_dict(apply_overrides(raw, overrides))


# --------------------------------------------------------------------- validation
def _num(value: Any, key: str, kind: type = float, minimum: float | None = None,
         exclusive: bool = False) -> Any:
    if isinstance(value, bool) or value is None:
        raise SemcomError(f"{key} must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise SemcomError(f"{key} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise SemcomError(f"{key} must be finite, got {value!r}")
    if kind is int:
        if x != int(x):
            raise SemcomError(f"{key} must be an integer, got {value!r}")
        x = int(x)
    if minimum is not None and (x <= minimum if exclusive else x < minimum):
        raise SemcomError(f"{key} must be {'>' if exclusive else '>='} {minimum}, got {value!r}")
    return x


def _opt_num(value: Any, key: str, kind: type = float, minimum: float | None = None,
             exclusive: bool = False) -> Any:
    return None if value is None else _num(value, key, kind, minimum, exclusive)


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise SemcomError(f"{key} must be true or false, got {value!r}")
    return value


def _str(value: Any, key: str, choices: Sequence[str] | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise SemcomError(f"{key} must be a non-empty string, got {value!r}")
    if choices is not None and value.lower() not in choices:
        raise SemcomError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value.lower() if choices is not None else value


def _section(raw: Any, key: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SemcomError(f"{key} must be a mapping, got {raw!r}")
    return dict(raw)


def _component(raw: Any, key: str) -> ComponentSpec:
    if isinstance(raw, str):
        raw = {"name": raw}
    d = _section(raw, key)
    if "name" not in d:
        raise SemcomError(f"{key}.name is missing")
    name = _str(d.pop("name"), f"{key}.name")
    return ComponentSpec(name=name, kwargs=d)


def _data(raw: Any, key: str) -> DataSpec:
    d = _section(raw, key)
    spec = DataSpec(
        crop=_opt_num(d.pop("crop", None), f"{key}.crop", int, 1),
        hflip=_bool(d.pop("hflip", False), f"{key}.hflip"),
        limit=_opt_num(d.pop("limit", None), f"{key}.limit", int, 1),
    )
    if "sources" in d:
        sources = d.pop("sources")
        if d:
            raise SemcomError(f"{key}: give either sources or name/root, not both (extra key {next(iter(d))!r})")
        if not isinstance(sources, list) or not sources:
            raise SemcomError(f"{key}.sources must be a non-empty list of {{name, root, ...}}")
        for i, s in enumerate(sources):
            s = _section(s, f"{key}.sources[{i}]")
            if "name" not in s:
                raise SemcomError(f"{key}.sources[{i}].name is missing")
            _str(s["name"], f"{key}.sources[{i}].name")
            spec.sources.append(s)
        return spec
    if "name" not in d:
        raise SemcomError(f"{key}.name is missing")
    spec.name = _str(d.pop("name"), f"{key}.name")
    root = d.pop("root", None)
    spec.root = None if root is None else str(root)
    spec.options = d
    return spec


def _snr(raw: Any, key: str) -> SNRSpec:
    if isinstance(raw, dict):
        d = dict(raw)
        check_keys(d, ("fixed", "range", "choices"), key)
        if len(d) != 1:
            raise SemcomError(f"{key} must give exactly one of fixed, range, choices")
        (kind, value), = d.items()
        if kind == "fixed":
            return _snr(value, key)
        if kind == "range":
            return _snr(list(value) if isinstance(value, (list, tuple)) else value, key)
        if not isinstance(value, (list, tuple)) or not value:
            raise SemcomError(f"{key}.choices must be a non-empty list of SNRs in dB")
        return SNRSpec(choices=tuple(_num(v, f"{key}.choices") for v in value))
    if isinstance(raw, (list, tuple)):
        if len(raw) != 2:
            raise SemcomError(f"{key} as a list must be a range [lo, hi] in dB, got {raw!r}")
        lo, hi = (_num(v, key) for v in raw)
        if lo > hi:
            raise SemcomError(f"{key} range must have lo <= hi, got {raw!r}")
        return SNRSpec(range=(lo, hi))
    return SNRSpec(fixed=_num(raw, key))


def _optimizer(raw: Any) -> OptimizerSpec:
    d = _section(raw, "optimizer")
    check_keys(d, [f.name for f in dataclasses.fields(OptimizerSpec)], "optimizer")
    o = OptimizerSpec()
    o.lr = _num(d.get("lr", o.lr), "optimizer.lr", float, 0, exclusive=True)
    betas = d.get("betas", o.betas)
    if not isinstance(betas, (list, tuple)) or len(betas) != 2:
        raise SemcomError(f"optimizer.betas must be two numbers, got {betas!r}")
    o.betas = tuple(_num(b, "optimizer.betas", float, 0) for b in betas)  # type: ignore[assignment]
    if any(b >= 1 for b in o.betas):
        raise SemcomError(f"optimizer.betas must lie in [0, 1), got {betas!r}")
    o.eps = _num(d.get("eps", o.eps), "optimizer.eps", float, 0, exclusive=True)
    o.weight_decay = _num(d.get("weight_decay", o.weight_decay), "optimizer.weight_decay", float, 0)
    o.grad_clip = _opt_num(d.get("grad_clip", o.grad_clip), "optimizer.grad_clip", float, 0, exclusive=True)
    return o


def _schedule(raw: Any) -> ScheduleSpec:
    if isinstance(raw, str) or raw is None:
        raw = {"name": raw or "none"}
    d = _section(raw, "schedule")
    check_keys(d, [f.name for f in dataclasses.fields(ScheduleSpec)], "schedule")
    s = ScheduleSpec()
    s.name = _str(d.get("name", s.name), "schedule.name", SCHEDULES)
    s.warmup_steps = _num(d.get("warmup_steps", 0), "schedule.warmup_steps", int, 0)
    s.step_size = _opt_num(d.get("step_size"), "schedule.step_size", int, 1)
    s.gamma = _num(d.get("gamma", s.gamma), "schedule.gamma", float, 0, exclusive=True)
    milestones = d.get("milestones", [])
    if not isinstance(milestones, list):
        raise SemcomError(f"schedule.milestones must be a list of steps, got {milestones!r}")
    s.milestones = sorted(_num(m, "schedule.milestones", int, 1) for m in milestones)
    s.min_lr = _num(d.get("min_lr", 0.0), "schedule.min_lr", float, 0)
    if s.name == "step" and s.step_size is None and not s.milestones:
        raise SemcomError("schedule 'step' needs schedule.step_size or schedule.milestones")
    return s


_TOP_KEYS = [f.name for f in dataclasses.fields(TrainConfig)]


def config_from_dict(raw: dict[str, Any]) -> TrainConfig:
    """Validate a mapping (as read from a file) into a :class:`TrainConfig`.

    Raises:
        SemcomError: an unknown key (named), a missing required key, or a bad value.
    """
    raw = expand_env(_section(raw, "config"))
    check_keys(raw, _TOP_KEYS, "")
    for required in ("model", "data"):
        if raw.get(required) is None:
            raise SemcomError(f"config key {required!r} is required")
    cfg = TrainConfig(model=_component(raw["model"], "model"), data=_data(raw["data"], "data"))
    if "channel" in raw:
        cfg.channel = _component(raw["channel"], "channel")
    if "snr_db" in raw:
        cfg.snr_db = _snr(raw["snr_db"], "snr_db")
    if raw.get("val_data") is not None:
        cfg.val_data = _data(raw["val_data"], "val_data")
        if cfg.val_data.hflip:
            raise SemcomError("val_data.hflip must be false (validation is not augmented)")
    if raw.get("val_snr_db") is not None:
        v = raw["val_snr_db"]
        v = v if isinstance(v, list) else [v]
        cfg.val_snr_db = [_num(x, "val_snr_db") for x in v]
    cfg.val_batch_size = _opt_num(raw.get("val_batch_size"), "val_batch_size", int, 1)
    cfg.loss = _str(raw.get("loss", cfg.loss), "loss", LOSSES)
    if "optimizer" in raw:
        cfg.optimizer = _optimizer(raw["optimizer"])
    if "schedule" in raw:
        cfg.schedule = _schedule(raw["schedule"])
    cfg.batch_size = _num(raw.get("batch_size", cfg.batch_size), "batch_size", int, 1)
    cfg.steps = _num(raw.get("steps", cfg.steps), "steps", int, 1)
    cfg.val_every = _num(raw.get("val_every", cfg.val_every) or 0, "val_every", int, 0)
    cfg.ckpt_every = _num(raw.get("ckpt_every", cfg.ckpt_every) or 0, "ckpt_every", int, 0)
    cfg.log_every = _num(raw.get("log_every", cfg.log_every) or 0, "log_every", int, 0)
    cfg.out_dir = _str(raw.get("out_dir", cfg.out_dir), "out_dir")
    cfg.seed = _num(raw.get("seed", cfg.seed), "seed", int, 0)
    cfg.num_workers = _num(raw.get("num_workers", cfg.num_workers), "num_workers", int, 0)
    cfg.device = _str(raw.get("device", cfg.device), "device", DEVICES)
    cfg.threads = _opt_num(raw.get("threads"), "threads", int, 1)
    cfg.deterministic = _bool(raw.get("deterministic", cfg.deterministic), "deterministic")
    cfg.find_unused_parameters = _bool(raw.get("find_unused_parameters", False), "find_unused_parameters")
    imports = raw.get("imports") or []
    if isinstance(imports, str):
        imports = [imports]
    cfg.imports = [_str(m, "imports") for m in imports]
    if raw.get("init_from") is not None:
        cfg.init_from = _str(raw["init_from"], "init_from")
    cfg.crash_after_step = _opt_num(raw.get("crash_after_step"), "crash_after_step", int, 1)
    return cfg


def config_to_json(cfg: TrainConfig) -> str:
    """The config as one JSON string (recorded in checkpoints and metrics)."""
    return json.dumps(cfg.to_dict(), sort_keys=True)
