"""The sections of a training config as dataclasses (validated by :mod:`.config`).

:class:`TrainConfig` holds one run; :meth:`TrainConfig.to_dict` gives back the mapping a
file would hold.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any


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
        pad: reflect-pad each training image by ``pad`` pixels on every side before the
            random crop (the CIFAR-10 recipes' pad-and-crop: ``crop: 32, pad: 4``);
            ``None`` pads only images smaller than ``crop``. Needs ``crop``.
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
    pad: int | None = None
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
    groups: list[dict[str, Any]] = field(default_factory=list)  # [{params: PATTERN(S), lr, weight_decay}]


@dataclass
class AuxOptimizerSpec:
    """A second Adam for the parameters matching ``params`` (e.g. ``*quantiles*``), trained
    on ``model.aux_loss()`` after each main step, at a constant ``lr``."""

    params: list[str]
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


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
    loss: str | dict[str, Any] = "mse"  # a loss name or {name, **kwargs} (semcom.training.objective)
    modes: dict[str, Any] = field(default_factory=dict)  # training-mode switches: model.set_modes(**modes)
    run: dict[str, Any] = field(default_factory=dict)  # run-time settings of training and validation forwards
    freeze: list[str] = field(default_factory=list)  # glob patterns of parameter names not trained
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
    aux_optimizer: AuxOptimizerSpec | None = None
    imports: list[str] = field(default_factory=list)  # modules to import (plugins registering components)
    init_from: str | dict[str, Any] | None = None  # weights that start a fresh run (semcom.zoo.loading.InitSpec)
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
    out.update(crop=d.crop, pad=d.pad, hflip=d.hflip, limit=d.limit)
    return out
