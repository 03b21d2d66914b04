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
    loss: mse                                   # or {name: ..., **kw}: see semcom.training.objective
    modes: {quantize: ste}                      # optional: model.set_modes(...) (training switches)
    run: {quantizer: uniform}                   # optional: run-time settings of every training
                                                # and validation forward (default: the model's)
    freeze: ["encoder.*"]                       # optional: parameters not trained (glob on names)
    optimizer:
      lr: 1.0e-4
      groups: [{params: "decoder.*", lr: 3.0e-4}]   # optional: per-pattern learning rates
    aux_optimizer: {params: "*quantiles*", lr: 1.0e-3}  # optional: on model.aux_loss()
    schedule: {name: cosine, min_lr: 1.0e-5}
    batch_size: 64                              # global: split evenly over DDP ranks
    steps: 10000
    out_dir: runs/convjscc-cifar10
    init_from: convjscc_cifar10_cbr1-12_snr7   # optional: start from these weights (zoo name
                                                # or checkpoint path; ignored when resuming),
                                                # or {path, map, exclude, strict} for a subset
    threads: 1                                  # CPU threads per process (2 threads on busy
                                                # cores measured a step 10x slower than 1)

A file may instead chain stages (``stages: [{name: s1, ...}, {name: s2, init_from:
previous, ...}]``, see :mod:`.stages`); :func:`semcom.training.train` runs them.

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

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Sequence

from semcom import configfile
from semcom.configfile import check_keys, expand_env, read_config_file, resolve_path
from semcom.errors import SemcomError
from semcom.training.specs import (AuxOptimizerSpec, ComponentSpec, DataSpec, OptimizerSpec, ScheduleSpec,  # noqa: F401
                                   SNRSpec, TrainConfig)

SCHEDULES = ("none", "step", "cosine")
DEVICES = ("auto", "cpu", "cuda")


# ------------------------------------------------------------------------ loading
def resolve_roots(raw: dict[str, Any], base: Path) -> None:
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
        resolve_roots(raw, path.resolve().parent)
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
        pad=_opt_num(d.pop("pad", None), f"{key}.pad", int, 0) or None,
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
    groups = d.get("groups") or []
    if not isinstance(groups, list):
        raise SemcomError(f"optimizer.groups must be a list of {{params, lr, weight_decay}}, got {groups!r}")
    for i, g in enumerate(groups):
        where = f"optimizer.groups[{i}]"
        g = _section(g, where)
        check_keys(g, ("params", "lr", "weight_decay"), where)
        entry: dict[str, Any] = {"params": _patterns(g.get("params"), f"{where}.params")}
        if "lr" in g:
            entry["lr"] = _num(g["lr"], f"{where}.lr", float, 0, exclusive=True)
        if "weight_decay" in g:
            entry["weight_decay"] = _num(g["weight_decay"], f"{where}.weight_decay", float, 0)
        o.groups.append(entry)
    return o


def _patterns(value: Any, key: str) -> list[str]:
    """A glob pattern or a non-empty list of them."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(p, str) and p for p in value):
        raise SemcomError(f"{key} must be a parameter-name pattern or a list of them, got {value!r}")
    return list(value)


def _aux_optimizer(raw: Any) -> AuxOptimizerSpec:
    d = _section(raw, "aux_optimizer")
    check_keys(d, [f.name for f in dataclasses.fields(AuxOptimizerSpec)], "aux_optimizer")
    spec = AuxOptimizerSpec(params=_patterns(d.get("params"), "aux_optimizer.params"))
    spec.lr = _num(d.get("lr", spec.lr), "aux_optimizer.lr", float, 0, exclusive=True)
    betas = d.get("betas", spec.betas)
    if not isinstance(betas, (list, tuple)) or len(betas) != 2 or any(not 0 <= _num(b, "aux_optimizer.betas") < 1
                                                                      for b in betas):
        raise SemcomError(f"aux_optimizer.betas must be two numbers in [0, 1), got {betas!r}")
    spec.betas = (float(betas[0]), float(betas[1]))
    spec.eps = _num(d.get("eps", spec.eps), "aux_optimizer.eps", float, 0, exclusive=True)
    return spec


def _loss(raw: Any) -> str | dict[str, Any]:
    """The loss as given (a name or ``{name, ...}``); its terms are checked when the
    trainer builds the objective (:func:`semcom.training.objective.build_objective`)."""
    from semcom.training.losses import LOSSES

    if isinstance(raw, str) and raw:
        LOSSES.get(raw)  # an unknown name fails here, with the known ones
        return raw.lower()
    if isinstance(raw, dict) and isinstance(raw.get("name"), str):
        for term in raw.get("terms") or [] if raw["name"].lower() == "sum" else [raw]:
            if isinstance(term, dict) and isinstance(term.get("name"), str):
                LOSSES.get(term["name"])
        return dict(raw)
    raise SemcomError(f"loss must be a name (mse, ms-ssim, ...) or {{name: ..., ...}}, got {raw!r}")


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
    if "stages" in raw:
        raise SemcomError("this config chains stages: run it with semcom.training.train (or semcom train), "
                          "which runs each stage in turn")
    check_keys(raw, _TOP_KEYS, "")
    for required in ("model", "data"):
        if raw.get(required) is None:
            raise SemcomError(f"config key {required!r} is required")
    cfg = TrainConfig(model=_component(raw["model"], "model"), data=_data(raw["data"], "data"))
    if cfg.data.pad and cfg.data.crop is None:
        raise SemcomError("data.pad needs data.crop (the random crop taken from the padded image)")
    if "channel" in raw:
        cfg.channel = _component(raw["channel"], "channel")
    if "snr_db" in raw:
        cfg.snr_db = _snr(raw["snr_db"], "snr_db")
    if raw.get("val_data") is not None:
        cfg.val_data = _data(raw["val_data"], "val_data")
        if cfg.val_data.hflip or cfg.val_data.pad:
            raise SemcomError("val_data.hflip and val_data.pad must be unset (validation is not augmented)")
    if raw.get("val_snr_db") is not None:
        v = raw["val_snr_db"]
        v = v if isinstance(v, list) else [v]
        cfg.val_snr_db = [_num(x, "val_snr_db") for x in v]
    cfg.val_batch_size = _opt_num(raw.get("val_batch_size"), "val_batch_size", int, 1)
    cfg.loss = _loss(raw.get("loss", cfg.loss))
    modes = raw.get("modes") or {}
    if not isinstance(modes, dict):
        raise SemcomError(f"modes must be a mapping of training-mode switches, got {modes!r}")
    cfg.modes = dict(modes)
    run = raw.get("run") or {}
    if not isinstance(run, dict):
        raise SemcomError(f"run must be a mapping of the model's run-time settings, got {run!r}")
    cfg.run = dict(run)
    cfg.freeze = _patterns(raw["freeze"], "freeze") if raw.get("freeze") else []
    if raw.get("aux_optimizer") is not None:
        cfg.aux_optimizer = _aux_optimizer(raw["aux_optimizer"])
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
        from semcom.zoo.loading import InitSpec

        InitSpec.from_config(raw["init_from"])  # checks the form
        cfg.init_from = raw["init_from"] if isinstance(raw["init_from"], str) else dict(raw["init_from"])
    cfg.crash_after_step = _opt_num(raw.get("crash_after_step"), "crash_after_step", int, 1)
    return cfg


def config_to_json(cfg: TrainConfig) -> str:
    """The config as one JSON string (recorded in checkpoints and metrics)."""
    return json.dumps(cfg.to_dict(), sort_keys=True)
