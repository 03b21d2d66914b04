"""The trainer: a step-based loop that differentiates through any registered channel.

``Trainer(config).run()`` builds the model, channel, data and optimizer from a
:class:`~semcom.training.config.TrainConfig`, trains for ``config.steps`` optimizer steps,
validates and checkpoints periodically, and writes

* ``out_dir/last.{safetensors,json}``: the full training state (see :mod:`.state`), every
  ``ckpt_every`` steps and at the end;
* ``out_dir/final.{safetensors,json}``: the trained model alone, loadable with
  :func:`semcom.models.load_model` (a model with entropy coding tables, one that has
  ``tables_ready`` and ``update``, gets them built from its final weights first);
* ``out_dir/metrics.jsonl``: one JSON object per log line (``"kind": "train"`` or ``"val"``);
* ``out_dir/config.yaml``: the resolved config;
* ``out_dir/.lock`` while it runs (:mod:`.lock`): a second run on the folder fails.

The loop only schedules, seeds, logs and checkpoints; one step (forward, objective,
backward, updates) is :class:`~semcom.training.step.TrainStep`, what it minimizes is
the :class:`~semcom.training.objective.Objective` built from ``loss``, which parameters
train and how is :mod:`.optim`, and the logged means are :mod:`.records`.

Reproducibility: everything random is a function of ``(seed, step, rank)``. The data
order and crops come from :class:`~semcom.training.data.StepBatchSampler`; the SNR draws
and the channel's noise/fading come from a generator seeded by ``(seed, step, rank)``;
torch's global generator (dropout, Gumbel noise inside a model) is re-seeded from
``(seed, step, rank)`` at every step; the loss's frozen auxiliary model, when built by
name, is initialized from ``("aux", seed)`` whatever the global generator's state. A run
resumed from ``last`` at step ``s`` therefore continues exactly as the uninterrupted run
would have: on CPU the final weights are bit-identical. Under ``torchrun`` the same
config runs data-parallel (``batch_size`` is the global batch, split evenly over the ranks).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from semcom.conventions import psnr
from semcom.errors import SemcomError
from semcom.training.config import SNRSpec, TrainConfig, load_config
from semcom.training.data import (DATASET_RESERVED, Batch, StepBatchSampler, TrainSamples, build_dataset,
                                  collate_samples, derive_seed)
from semcom.training.distributed import DistContext, setup_distributed
from semcom.training.lock import RunLock
from semcom.training.objective import LossValue, Objective, build_objective
from semcom.training.optim import Optimizers, build_optimizers
from semcom.training.records import MetricsLog, RunningMeans
from semcom.training.schedules import learning_rate
from semcom.training.step import TrainStep
from semcom.training.validation import validate, validation_batches
from semcom.training.state import (has_training_state, load_training_state, recover_last, restore_rng_state,
                                   save_training_state)
from semcom.zoo.checkpoint import as_stored, same_model_config

FINAL = "final"
METRICS = "metrics.jsonl"


def sample_snr(spec: SNRSpec, batch: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """``(B,)`` float32 training SNRs in dB: fixed, uniform over a range, or uniform over choices."""
    if spec.fixed is not None:
        return torch.full((batch,), float(spec.fixed), device=device)
    if spec.range is not None:
        lo, hi = spec.range
        return lo + (hi - lo) * torch.rand(batch, generator=generator, device=device)
    choices = torch.tensor(spec.choices, dtype=torch.float32, device=device)
    return choices[torch.randint(len(choices), (batch,), generator=generator, device=device)]


@dataclass
class TrainingParts:
    """What one training run is made of, built by :meth:`Trainer.build_parts` exactly as
    ``semcom train`` builds it; :meth:`Trainer.run` and ``semcom bench train-step`` both
    train through these methods, so a benchmark times the trainer's own step.

    Attributes:
        config: the run's config.
        device: where it trains.
        model: the model (freshly initialized, in train mode; not wrapped in DDP).
        channel, objective: on ``device``.
        optimizers: over ``model``'s trained parameters.
        train_set: the training view of the ``data`` section (crops, flips).
    """

    config: TrainConfig
    device: torch.device
    model: nn.Module
    channel: nn.Module
    objective: Objective
    optimizers: Optimizers
    train_set: TrainSamples

    def batch_sampler(self, rank: int = 0, world_size: int = 1, start_step: int = 0,
                      total_steps: int | None = None) -> StepBatchSampler:
        """The data order of steps ``[start_step, total_steps)`` (default ``config.steps``)
        for ``rank`` of ``world_size``."""
        cfg = self.config
        return StepBatchSampler(len(self.train_set), cfg.batch_size, cfg.seed, rank, world_size, start_step,
                                cfg.steps if total_steps is None else total_steps)

    def loader(self, sampler: StepBatchSampler, rank: int = 0) -> DataLoader:
        """The data loader over ``sampler`` (the config's ``num_workers``), yielding :class:`Batch`."""
        cfg = self.config
        return DataLoader(self.train_set, batch_sampler=sampler, num_workers=cfg.num_workers,
                          collate_fn=collate_samples, pin_memory=self.device.type == "cuda",
                          generator=torch.Generator().manual_seed(derive_seed("loader", cfg.seed, rank)))

    def train_step(self, train_model: nn.Module | None = None) -> TrainStep:
        """The optimizer step, calling ``train_model`` (a DDP wrapper of :attr:`model`;
        default the model itself)."""
        return TrainStep(self.model if train_model is None else train_model, self.model, self.objective,
                         self.optimizers, self.config.optimizer.grad_clip, self.config.run)

    def run_step(self, train_step: TrainStep, batch: Batch, step: int,
                 rank: int = 0) -> tuple[list[float], dict[str, Any], LossValue, Tensor | None]:
        """Train once on ``batch`` (on :attr:`device`) as step ``step`` of the run: the
        scheduled learning rates, the global generator re-seeded, the SNRs and the
        channel's randomness drawn from ``(seed, step, rank)``. Returns ``(learning rates,
        model output, loss, auxiliary-optimizer loss or None)``."""
        cfg, device = self.config, self.device
        lrs = [learning_rate(base, step, cfg.steps, cfg.schedule) for base in self.optimizers.base_lrs]
        train_step.set_learning_rates(lrs)
        torch.manual_seed(derive_seed("step", cfg.seed, step, rank))
        gen = torch.Generator(device=device).manual_seed(derive_seed("channel", cfg.seed, step, rank))
        snr_db = sample_snr(cfg.snr_db, batch.images.shape[0], gen, device)
        out, loss, aux_loss = train_step(batch, self.channel, snr_db, gen)
        return lrs, out, loss, aux_loss


def _seed_globals(seed: int) -> None:
    import random

    import numpy as np

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % (1 << 32))


class _GlobalSettings:
    """Process-wide torch settings the trainer changes, restored when it finishes."""

    def __init__(self) -> None:
        self.threads = torch.get_num_threads()
        self.deterministic = torch.are_deterministic_algorithms_enabled()
        self.warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        self.benchmark = torch.backends.cudnn.benchmark

    def restore(self) -> None:
        torch.set_num_threads(self.threads)
        torch.use_deterministic_algorithms(self.deterministic, warn_only=self.warn_only)
        torch.backends.cudnn.benchmark = self.benchmark


def _comparable(section: Any) -> Any:
    """A config section as stored, without empty entries (``groups: []``), so that a
    checkpoint written before a key existed compares equal to its default."""
    stored = as_stored(section)
    if isinstance(stored, dict):
        return {k: v for k, v in stored.items() if v not in ([], {}, None)}
    return stored


class Trainer:
    """Train a registered JSCC model as described by a config (one stage; a config with
    ``stages`` runs through :func:`train`).

    Args:
        config: a :class:`TrainConfig`, a mapping, or the path of a config file.
        overrides: ``"key.sub=value"`` strings applied on top of ``config``.
        resume: ``None`` (default) continues from ``out_dir/last`` when it exists;
            ``True`` requires it; ``False`` starts afresh (overwriting ``out_dir``).
        verbose: progress bar on a terminal, plain log lines otherwise (main process only).

    After :meth:`run`, ``trainer.model`` is the trained model (unwrapped from DDP).

    Raises:
        SemcomError: at construction for an invalid config, unknown model/channel/dataset/
            loss names or arguments, or an import listed in ``imports`` that fails.
    """

    def __init__(self, config: TrainConfig | dict[str, Any] | str | Path, overrides: Sequence[str] = (),
                 resume: bool | None = None, verbose: bool = True) -> None:
        self.config = load_config(config, overrides)
        self.resume = resume
        self.verbose = verbose
        for module in self.config.imports:
            try:
                importlib.import_module(module)
            except ImportError as e:
                raise SemcomError(f"imports: cannot import {module!r} ({e})") from None
        self._check_components()

    # ---------------------------------------------------------------- validation
    def _check_components(self) -> None:
        import semcom.data.labelled  # noqa: F401  (registers the datasets)
        import semcom.models  # noqa: F401  (registers the systems)
        from semcom.channels import create_channel
        from semcom.codecs.learned import LearnedCodecModel
        from semcom.models import trainable_registry
        from semcom.models.base import JSCCModel
        from semcom.registry import DATASETS
        from semcom.settings import resolve_settings

        cfg = self.config
        registry = trainable_registry(cfg.model.name)
        factory = registry.get(cfg.model.name)
        if not (isinstance(factory, type) and issubclass(factory, (JSCCModel, LearnedCodecModel))):
            raise SemcomError(f"system {cfg.model.name!r} is not a trainable neural JSCC model "
                              "or learned codec")
        what = f"model: {registry.kind} {cfg.model.name!r}"
        registry.check_kwargs(cfg.model.name, cfg.model.kwargs, what=what)
        if cfg.modes:  # the checks set_modes makes, before any work
            known = [m.name for m in factory.modes]
            unknown = sorted(set(cfg.modes) - set(known))
            if unknown:
                raise SemcomError(f"modes: {registry.kind} {cfg.model.name!r} has no training mode {unknown[0]!r} "
                                  f"(its modes: {', '.join(known) or 'none'})")
            resolve_settings(factory.modes, cfg.modes, f"modes: {cfg.model.name}")
        if cfg.run:  # the run-time settings every training and validation forward uses
            resolve_settings(getattr(factory, "settings", ()), cfg.run, f"run: {cfg.model.name}")
        self.channel = create_channel(cfg.channel.name, **cfg.channel.kwargs)
        for where, spec in (("data", cfg.data), ("val_data", cfg.val_data)):
            if spec is None:
                continue
            for i, (name, _, options) in enumerate(spec.components()):
                part = f"{where}.sources[{i}]" if spec.sources else where
                DATASETS.check_kwargs(name, options, what=f"{part}: dataset {name!r}", reserved=DATASET_RESERVED)
        # a frozen auxiliary model built by name is initialized here, before the run seeds the
        # globals: its initial weights come from the run seed, not from the caller's RNG state
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed("aux", cfg.seed))
            self.objective = build_objective(cfg.loss)

    # ---------------------------------------------------------------- building
    def _build_model(self) -> nn.Module:
        from semcom.models import create_model

        cfg = self.config
        try:
            model = create_model(cfg.model.name, **cfg.model.kwargs)
        except TypeError as e:
            raise SemcomError(f"cannot build model {cfg.model.name!r}: {e}") from None
        if cfg.modes:
            model.set_modes(**cfg.modes)
        if cfg.run:
            model.resolve_settings(**cfg.run)  # the model's own checks of the combination
        return model

    def build_parts(self, device: torch.device) -> TrainingParts:
        """Seed the globals from the run seed and build the model, channel, objective,
        optimizers and training set on ``device``, as :meth:`run` does before it resumes
        or applies ``init_from`` (which this does not do). Call :meth:`configure_torch` first.

        Raises:
            SemcomError: the model, an optimizer pattern or the dataset cannot be built
                (e.g. no images at the data root).
        """
        cfg = self.config
        _seed_globals(derive_seed("init", cfg.seed))
        model = self._build_model().to(device)
        channel = self.channel.to(device)
        objective = self.objective.to(device)
        optimizers = build_optimizers(model, cfg)
        train_set = TrainSamples(build_dataset(cfg.data, "data"), cfg.data.crop, cfg.data.hflip, cfg.data.pad)
        model.train()
        return TrainingParts(cfg, device, model, channel, objective, optimizers, train_set)

    # ---------------------------------------------------------------- running
    def run(self) -> Path:
        """Train to ``config.steps`` (resuming if so configured); returns ``out_dir/final``.

        Raises:
            SemcomError: another run holds ``out_dir`` (its lock file), or any failure
                of the config met while running (data, resume, divergence).
        """
        ctx = setup_distributed(self.config.device)
        settings = _GlobalSettings()
        lock = RunLock(self.config.out_dir)
        try:
            self._lock(ctx, lock)
            return self._run(ctx)
        finally:
            lock.release()
            settings.restore()
            ctx.close()

    def _lock(self, ctx: DistContext, lock: RunLock) -> None:
        """The main process takes ``out_dir/.lock``; every rank fails if it cannot."""
        error: SemcomError | None = None
        if ctx.is_main:
            Path(self.config.out_dir).mkdir(parents=True, exist_ok=True)
            try:
                lock.acquire()
            except SemcomError as e:
                error = e
        if ctx.all_reduce_sum([1.0 if error else 0.0])[0]:
            raise error or SemcomError(f"{self.config.out_dir} is in use by another training run")

    def _say(self, ctx: DistContext, bar: Any, message: str) -> None:
        if not (self.verbose and ctx.is_main):
            return
        if bar is not None and not bar.disable:
            bar.write(message)
        else:
            print(message, file=sys.stderr, flush=True)

    def configure_torch(self, device: torch.device) -> None:
        """Apply the config's process-wide torch settings (``threads``, ``deterministic``;
        cuDNN autotuning on CUDA); :meth:`run` restores them when it finishes."""
        cfg = self.config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.deterministic:
            if device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # training shapes are fixed: pick the fastest kernels

    def _run(self, ctx: DistContext) -> Path:
        from tqdm.auto import tqdm

        from semcom.models import save_model

        cfg = self.config
        device = ctx.device
        out_dir = Path(cfg.out_dir)
        if ctx.is_main:
            recover_last(out_dir)
        ctx.barrier()
        self.configure_torch(device)

        parts = self.build_parts(device)
        model, channel, objective, optimizers = parts.model, parts.channel, parts.objective, parts.optimizers
        self.model = model
        val = validation_batches(cfg.val_data, cfg.val_batch_size or cfg.batch_size, ctx) \
            if cfg.val_data is not None else None
        val_points = cfg.val_snr_db or cfg.snr_db.default_val_points()

        start_step = self._maybe_resume(out_dir, model, optimizers, ctx)
        train_model: nn.Module = model
        if ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel

            train_model = DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=cfg.find_unused_parameters)
        train_step = parts.train_step(train_model)
        loader = parts.loader(parts.batch_sampler(ctx.rank, ctx.world_size, start_step), ctx.rank)
        log = MetricsLog(out_dir / METRICS, start_step, ctx.is_main)
        if ctx.is_main:
            import yaml
            (out_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))

        show_bar = self.verbose and ctx.is_main and sys.stderr.isatty()
        bar = tqdm(total=cfg.steps, initial=start_step, disable=not show_bar, dynamic_ncols=True,
                   desc=out_dir.name, unit="step")
        if start_step:
            self._say(ctx, bar, f"resuming {out_dir} from step {start_step}")
        elif self._init_summary is not None:
            self._say(ctx, bar, f"init_from {self._init_source()!r}: {self._init_summary}")
        last_val: dict[str, Any] | None = self._resumed_validation
        running = RunningMeans(objective.labels, optimizers.aux is not None, device)
        t_log = time.perf_counter()
        log_every = cfg.log_every or cfg.steps
        display_every = max(1, min(log_every, 10))
        model.train()
        try:
            for step, batch in enumerate(loader, start=start_step):
                batch = batch.to(device, non_blocking=True)
                lrs, out, loss, aux_loss = parts.run_step(train_step, batch, step, ctx.rank)
                done = step + 1
                bar.update(1)
                running.add(loss, psnr(batch.images, out["x_hat"].detach()), aux_loss)
                at_log = done % log_every == 0 or done == cfg.steps
                if running.pending == display_every or at_log:
                    running.drain(done)
                    if show_bar:
                        bar.set_postfix(loss=f"{running.local_mean('loss'):.4g}",
                                        psnr=f"{running.local_mean('psnr_db'):.2f}dB")
                if at_log:
                    t_log = self._log_train(ctx, bar, log, running, done, lrs, t_log, start_step, show_bar)
                if val is not None and ((cfg.val_every and done % cfg.val_every == 0) or done == cfg.steps):
                    last_val = validate(model, channel, val, val_points, ctx, done, cfg.seed, cfg.run)
                    log.write(last_val)
                    per_snr = ", ".join(f"{k} dB: {v:.2f}" for k, v in last_val["psnr_db_by_snr"].items())
                    moves = len({round(v, 5) for v in (last_val.get("cbr_by_snr") or {}).values()}) > 1
                    rate = "" if not moves else "; CBR " + ", ".join(  # only a rate that moves with the SNR
                        f"{k} dB: {v:.4f}" for k, v in last_val["cbr_by_snr"].items())
                    self._say(ctx, bar, f"step {done}: validation PSNR {last_val['psnr_db']:.2f} dB ({per_snr}{rate})")
                if (cfg.ckpt_every and done % cfg.ckpt_every == 0) or done == cfg.steps:
                    self._save_last(ctx, out_dir, done, model, optimizers, last_val)
                if cfg.crash_after_step is not None and done == cfg.crash_after_step:
                    sys.stderr.flush()
                    os._exit(3)  # simulated crash (tests of resume): no cleanup at all
        finally:
            bar.close()

        if ctx.is_main:
            if callable(getattr(model, "tables_ready", None)) and callable(getattr(model, "update", None)):
                model.update()  # entropy models: the final weights ship with their coding tables
            save_model(model, out_dir / FINAL, info=self._final_info(ctx, last_val, optimizers))
        ctx.barrier()
        self._say(ctx, None, f"wrote {out_dir / FINAL}.safetensors")
        return out_dir / FINAL

    def _log_train(self, ctx: DistContext, bar: Any, log: MetricsLog, running: RunningMeans, done: int,
                   lrs: list[float], t_log: float, start_step: int, show_bar: bool) -> float:
        """Write one ``train`` record (means over the steps since the last one and over
        the ranks); returns the time it was taken."""
        means, steps = running.means(ctx)
        now = time.perf_counter()
        record = {"kind": "train", "step": done, **means, "lr": lrs[-1], "steps_averaged": steps,
                  "steps_per_s": steps / max(now - t_log, 1e-9)}
        if len(lrs) > 1:
            record["lrs"] = lrs
        log.write(record)
        if not show_bar:
            note = ""
            if done - steps == start_step and start_step and steps < (self.config.log_every or self.config.steps):
                note = f"  (mean of the {steps} steps since the resume at step {start_step})"
            self._say(ctx, bar, f"step {done}/{self.config.steps}  loss {record['loss']:.5g}  "
                                f"psnr {record['psnr_db']:.2f} dB  lr {lrs[-1]:.3g}  "
                                f"{record['steps_per_s']:.2f} steps/s{note}")
        return now

    def _init_source(self) -> Any:
        init = self.config.init_from
        return init.get("path") if isinstance(init, dict) else init

    def _maybe_resume(self, out_dir: Path, model: nn.Module, optimizers: Optimizers, ctx: DistContext) -> int:
        """Restore ``out_dir/last`` (the step it reached), or apply ``init_from`` to a fresh run (0)."""
        self._resumed_validation, self._init_record, self._init_summary = None, None, None
        exists = has_training_state(out_dir)
        if self.resume is True and not exists:
            raise SemcomError(f"cannot resume: no checkpoint {out_dir / 'last'}.safetensors")
        if not exists or self.resume is False:
            if self.config.init_from is not None:
                from semcom.zoo.loading import init_weights_from

                report = init_weights_from(model, self.config.init_from)
                self._init_record = {"source": self._init_source(), **report.to_record()}
                self._init_summary = report.summary()
            return 0
        state = load_training_state(out_dir)
        if state.system != model.name or not same_model_config(state.model_config, model):
            raise SemcomError(f"cannot resume from {out_dir / 'last'}: it holds {state.system} "
                              f"{state.model_config}, but the config builds {model.name} "
                              f"{as_stored(model.config)} (use another out_dir)")
        if state.step > self.config.steps:
            raise SemcomError(f"cannot resume from {out_dir / 'last'}: it is at step {state.step}, "
                              f"beyond steps={self.config.steps}")
        if (state.aux_optimizer_state is None) != (optimizers.aux is None):
            raise SemcomError(f"cannot resume from {out_dir / 'last'}: the config "
                              f"{'adds' if optimizers.aux is not None else 'drops'} an aux_optimizer")
        self._warn_changes(out_dir, state.info, ctx)
        model.load_state_dict(state.model_state, strict=True)
        try:
            optimizers.main.load_state_dict(state.optimizer_state)
            if optimizers.aux is not None:
                optimizers.aux.load_state_dict(state.aux_optimizer_state)
        except ValueError as e:  # other parameter groups, freeze patterns or an aux optimizer's share
            raise SemcomError(f"cannot resume from {out_dir / 'last'}: its optimizer state does not fit the "
                              f"config's parameter groups ({e}); use another out_dir") from None
        restore_rng_state(state.rng_tensors, state.rng_meta)
        self._resumed_validation = state.info.get("validation")
        self._init_record = state.info.get("init_from")  # what the run started from, kept over resumes
        return state.step

    def _warn_changes(self, out_dir: Path, saved_info: dict[str, Any], ctx: DistContext) -> None:
        """Warn (once each) when the resumed run cannot match an uninterrupted one."""
        saved = saved_info.get("config", {})
        now = self.config.to_dict()
        changed = [k for k in ("data", "channel", "snr_db", "loss", "batch_size", "seed", "optimizer", "schedule",
                               "modes", "run", "freeze", "aux_optimizer")
                   if k in saved and _comparable(saved[k]) != _comparable(now[k])]
        if changed:
            warnings.warn(f"resuming {out_dir} with a config that differs from the checkpoint's in "
                          f"{', '.join(changed)}: the run will not match an uninterrupted one", stacklevel=4)
        for key, value in (("world_size", ctx.world_size), ("threads", torch.get_num_threads())):
            if key in saved_info and saved_info[key] != value:
                warnings.warn(f"resuming {out_dir} with {key} {value}, the checkpoint was written with "
                              f"{saved_info[key]}: results will differ slightly from an uninterrupted run",
                              stacklevel=4)

    def _save_last(self, ctx: DistContext, out_dir: Path, step: int, model: nn.Module,
                   optimizers: Optimizers, last_val: dict[str, Any] | None) -> None:
        if ctx.is_main:
            aux_state = optimizers.aux.state_dict() if optimizers.aux is not None else None
            save_training_state(out_dir, step, model.state_dict(), optimizers.main.state_dict(), model.name,
                                dict(model.config),
                                extra={"config": self.config.to_dict(), "world_size": ctx.world_size,
                                       "threads": torch.get_num_threads(), "validation": last_val,
                                       "modes": dict(getattr(model, "mode", {})),
                                       **({"init_from": self._init_record} if self._init_record else {})},
                                aux_optimizer_state=aux_state)
        ctx.barrier()

    def _final_info(self, ctx: DistContext, last_val: dict[str, Any] | None,
                    optimizers: Optimizers) -> dict[str, Any]:
        import semcom

        cfg = self.config
        info = {"trained_with": "semcom.training", "semcom_version": semcom.__version__,
                "steps": cfg.steps, "seed": cfg.seed, "world_size": ctx.world_size,
                "threads": torch.get_num_threads(),
                "data": cfg.to_dict()["data"], "channel": {"name": cfg.channel.name, **cfg.channel.kwargs},
                "snr_db": cfg.snr_db.to_yaml(), "loss": cfg.loss, "modes": dict(getattr(self.model, "mode", {})),
                "validation": last_val, "config": cfg.to_dict()}
        if cfg.run:
            info["run"] = dict(cfg.run)
        if optimizers.frozen:
            info["frozen"] = optimizers.frozen
        if self._init_record is not None:
            info["init_from"] = self._init_record
        return info


def train(config: TrainConfig | dict[str, Any] | str | Path, overrides: Sequence[str] = (),
          resume: bool | None = None, verbose: bool = True) -> Path:
    """Train as configured (see :class:`Trainer`; a config with ``stages`` runs each stage
    in turn, see :mod:`.stages`); returns the base path of the (last stage's)
    ``out_dir/final`` (``final.safetensors`` + ``final.json``, loadable with
    :func:`semcom.models.load_model`)."""
    from semcom.training.stages import has_stages, run_stages

    if has_stages(config):
        return run_stages(config, overrides, resume=resume, verbose=verbose)
    return Trainer(config, overrides, resume=resume, verbose=verbose).run()
