"""The trainer: a step-based loop that differentiates through any registered channel.

``Trainer(config).run()`` builds the model, channel, data and optimizer from a
:class:`~semcom.training.config.TrainConfig`, trains for ``config.steps`` optimizer steps,
validates and checkpoints periodically, and writes

* ``out_dir/last.{safetensors,json}``: the full training state (see :mod:`.state`), every
  ``ckpt_every`` steps and at the end;
* ``out_dir/final.{safetensors,json}``: the trained model alone, loadable with
  :func:`semcom.models.load_model`;
* ``out_dir/metrics.jsonl``: one JSON object per log line (``"kind": "train"`` or ``"val"``);
* ``out_dir/config.yaml``: the resolved config.

Reproducibility: everything random is a function of ``(seed, step, rank)``. The data
order and crops come from :class:`~semcom.training.data.StepBatchSampler`; the SNR draws
and the channel's noise/fading come from a generator seeded by ``(seed, step, rank)``;
torch's global generator (dropout, Gumbel noise inside a model) is re-seeded from
``(seed, step, rank)`` at every step. A run resumed from ``last`` at step ``s`` therefore
continues exactly as the uninterrupted run would have: on CPU the final weights are
bit-identical. Under ``torchrun`` the same config runs data-parallel (``batch_size`` is
the global batch, split evenly over the ranks).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from semcom.conventions import psnr
from semcom.errors import SemcomError
from semcom.training.config import DataSpec, SNRSpec, TrainConfig, load_config
from semcom.training.data import (StepBatchSampler, TrainSamples, ValSamples, build_dataset, check_kwargs,
                                  collate_images, derive_seed)
from semcom.training.distributed import DistContext, setup_distributed
from semcom.training.losses import get_distortion, training_loss
from semcom.training.schedules import learning_rate
from semcom.training.state import (has_training_state, load_training_state, recover_last, restore_rng_state,
                                   save_training_state)
from semcom.zoo.checkpoint import as_stored

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


def _seed_globals(seed: int) -> None:
    import random

    import numpy as np

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % (1 << 32))


def _drain(sums: Tensor, acc: dict[str, Any], steps: int, done: int) -> None:
    """Add the device-side sums of the last ``steps`` steps to ``acc`` (one sync); fail
    clearly if the loss stopped being finite."""
    loss, dist_loss, psnr_db = sums.tolist()
    sums.zero_()
    if not (math.isfinite(loss) and math.isfinite(dist_loss)):
        raise SemcomError(f"training diverged: the loss is not finite by step {done} "
                          "(lower optimizer.lr or set optimizer.grad_clip)")
    acc["loss"] += loss
    acc["distortion"] += dist_loss
    acc["psnr_db"] += psnr_db
    acc["n"] += steps


class _MetricsLog:
    """``metrics.jsonl`` of the main process; a resumed run drops lines after its step."""

    def __init__(self, path: Path, start_step: int, enabled: bool) -> None:
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        kept = []
        if start_step > 0 and path.is_file():
            for line in path.read_text().splitlines():
                try:
                    if int(json.loads(line).get("step", 0)) <= start_step:
                        kept.append(line)
                except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
                    continue  # a line cut short by a crash
        path.write_text("".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")


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


class Trainer:
    """Train a registered JSCC model as described by a config.

    Args:
        config: a :class:`TrainConfig`, a mapping, or the path of a config file.
        overrides: ``"key.sub=value"`` strings applied on top of ``config``.
        resume: ``None`` (default) continues from ``out_dir/last`` when it exists;
            ``True`` requires it; ``False`` starts afresh (overwriting ``out_dir``).
        verbose: progress bar on a terminal, plain log lines otherwise (main process only).

    After :meth:`run`, ``trainer.model`` is the trained model (unwrapped from DDP).

    Raises:
        SemcomError: at construction for an invalid config, unknown model/channel/dataset
            names or arguments, or an import listed in ``imports`` that fails.
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
        from semcom.models.base import JSCCModel
        from semcom.registry import DATASETS, SYSTEMS

        cfg = self.config
        factory = SYSTEMS.get(cfg.model.name)
        if not (isinstance(factory, type) and issubclass(factory, JSCCModel)):
            raise SemcomError(f"system {cfg.model.name!r} is not a trainable neural JSCC model")
        check_kwargs(factory, cfg.model.kwargs, "model", f"system {cfg.model.name!r}")
        self.channel = create_channel(cfg.channel.name, **cfg.channel.kwargs)
        for where, spec in (("data", cfg.data), ("val_data", cfg.val_data)):
            if spec is None:
                continue
            for i, (name, _, options) in enumerate(spec.components()):
                part = f"{where}.sources[{i}]" if spec.sources else where
                check_kwargs(DATASETS.get(name), options, part, f"dataset {name!r}",
                             reserved=("root", "transform", "limit"))
        get_distortion(cfg.loss)

    # ---------------------------------------------------------------- building
    def _build_model(self) -> nn.Module:
        from semcom.models import create_model

        try:
            return create_model(self.config.model.name, **self.config.model.kwargs)
        except TypeError as e:
            raise SemcomError(f"cannot build model {self.config.model.name!r}: {e}") from None

    def _build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        o = self.config.optimizer
        params = [p for p in model.parameters() if p.requires_grad]
        if o.weight_decay > 0:  # decoupled weight decay
            return torch.optim.AdamW(params, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay)
        return torch.optim.Adam(params, lr=o.lr, betas=o.betas, eps=o.eps)

    def _val_batches(self, spec: DataSpec, ctx: DistContext) -> list[tuple[int, Tensor]]:
        """This rank's share of the validation batches, loaded once: ``[(batch id, images)]``."""
        view = ValSamples(build_dataset(spec, "val_data"), spec.crop)
        size = self.config.val_batch_size or self.config.batch_size
        batches = view.batches(size)
        return [(j, torch.stack([view[i] for i in idx]))
                for j, idx in enumerate(batches) if j % ctx.world_size == ctx.rank]

    # ---------------------------------------------------------------- running
    def run(self) -> Path:
        """Train to ``config.steps`` (resuming if so configured); returns ``out_dir/final``."""
        ctx = setup_distributed(self.config.device)
        settings = _GlobalSettings()
        try:
            return self._run(ctx)
        finally:
            settings.restore()
            ctx.close()

    def _say(self, ctx: DistContext, bar: Any, message: str) -> None:
        if not (self.verbose and ctx.is_main):
            return
        if bar is not None and not bar.disable:
            bar.write(message)
        else:
            print(message, file=sys.stderr, flush=True)

    def _run(self, ctx: DistContext) -> Path:
        from tqdm.auto import tqdm

        from semcom.models import save_model

        cfg = self.config
        device = ctx.device
        out_dir = Path(cfg.out_dir)
        if ctx.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            recover_last(out_dir)
        ctx.barrier()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.deterministic:
            if device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # training shapes are fixed: pick the fastest kernels

        _seed_globals(derive_seed("init", cfg.seed))
        model = self._build_model().to(device)
        self.model = model
        channel = self.channel.to(device)
        distortion = get_distortion(cfg.loss)
        optimizer = self._build_optimizer(model)
        train_set = TrainSamples(build_dataset(cfg.data, "data"), cfg.data.crop, cfg.data.hflip)
        val = self._val_batches(cfg.val_data, ctx) if cfg.val_data is not None else None
        val_points = cfg.val_snr_db or cfg.snr_db.default_val_points()

        start_step = self._maybe_resume(out_dir, model, optimizer)
        train_model: nn.Module = model
        if ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel

            train_model = DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=cfg.find_unused_parameters)

        sampler = StepBatchSampler(len(train_set), cfg.batch_size, cfg.seed, ctx.rank, ctx.world_size,
                                   start_step, cfg.steps)
        loader = DataLoader(train_set, batch_sampler=sampler, num_workers=cfg.num_workers,
                            collate_fn=collate_images, pin_memory=device.type == "cuda",
                            generator=torch.Generator().manual_seed(derive_seed("loader", cfg.seed, ctx.rank)))
        log = _MetricsLog(out_dir / METRICS, start_step, ctx.is_main)
        if ctx.is_main:
            import yaml
            (out_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))

        show_bar = self.verbose and ctx.is_main and sys.stderr.isatty()
        bar = tqdm(total=cfg.steps, initial=start_step, disable=not show_bar, dynamic_ncols=True,
                   desc=out_dir.name, unit="step")
        if start_step:
            self._say(ctx, bar, f"resuming {out_dir} from step {start_step}")
        elif self._init_path is not None:
            self._say(ctx, bar, f"starting from the weights of {self._init_path}")
        last_val: dict[str, Any] | None = self._resumed_validation
        sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss, distortion, PSNR on device
        acc = {"loss": 0.0, "distortion": 0.0, "psnr_db": 0.0, "n": 0}  # host sums since the last log
        pending, t_log = 0, time.perf_counter()
        log_every = cfg.log_every or cfg.steps
        display_every = max(1, min(log_every, 10))
        model.train()
        try:
            for step, images in enumerate(loader, start=start_step):
                images = images.to(device, non_blocking=True)
                lr = learning_rate(cfg.optimizer.lr, step, cfg.steps, cfg.schedule)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                torch.manual_seed(derive_seed("step", cfg.seed, step, ctx.rank))
                gen = torch.Generator(device=device).manual_seed(derive_seed("channel", cfg.seed, step, ctx.rank))
                snr_db = sample_snr(cfg.snr_db, images.shape[0], gen, device)
                out = train_model(images, channel, snr_db, gen)
                loss, dist_loss = training_loss(distortion, out["x_hat"], images, out.get("aux"))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.optimizer.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optimizer.grad_clip)
                optimizer.step()
                done = step + 1
                bar.update(1)

                with torch.no_grad():
                    sums += torch.stack([loss.detach().double(), dist_loss.detach().double(),
                                         psnr(images, out["x_hat"].detach()).mean().double()])
                pending += 1
                at_log = done % log_every == 0 or done == cfg.steps
                if pending == display_every or at_log:
                    _drain(sums, acc, pending, done)
                    pending = 0
                    if show_bar:
                        bar.set_postfix(loss=f"{acc['loss'] / acc['n']:.4g}",
                                        psnr=f"{acc['psnr_db'] / acc['n']:.2f}dB")
                if at_log:
                    n, now = acc["n"], time.perf_counter()
                    record = {"kind": "train", "step": done, "loss": acc["loss"] / n,
                              "distortion": acc["distortion"] / n, "psnr_db": acc["psnr_db"] / n, "lr": lr,
                              "steps_per_s": n / max(now - t_log, 1e-9)}
                    log.write(record)
                    if not show_bar:
                        self._say(ctx, bar, f"step {done}/{cfg.steps}  loss {record['loss']:.5g}  "
                                            f"psnr {record['psnr_db']:.2f} dB  lr {lr:.3g}  "
                                            f"{record['steps_per_s']:.2f} steps/s")
                    acc.update(loss=0.0, distortion=0.0, psnr_db=0.0, n=0)
                    t_log = now
                if val is not None and ((cfg.val_every and done % cfg.val_every == 0) or done == cfg.steps):
                    last_val = self._validate(model, channel, val, val_points, ctx, done)
                    log.write(last_val)
                    per_snr = ", ".join(f"{k} dB: {v:.2f}" for k, v in last_val["psnr_db_by_snr"].items())
                    self._say(ctx, bar, f"step {done}: validation PSNR {last_val['psnr_db']:.2f} dB ({per_snr})")
                if (cfg.ckpt_every and done % cfg.ckpt_every == 0) or done == cfg.steps:
                    self._save_last(ctx, out_dir, done, model, optimizer, last_val)
                if cfg.crash_after_step is not None and done == cfg.crash_after_step:
                    sys.stderr.flush()
                    os._exit(3)  # simulated crash (tests of resume): no cleanup at all
        finally:
            bar.close()

        if ctx.is_main:
            save_model(model, out_dir / FINAL, info=self._final_info(ctx, last_val))
        ctx.barrier()
        self._say(ctx, None, f"wrote {out_dir / FINAL}.safetensors")
        return out_dir / FINAL

    def _maybe_resume(self, out_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
        """Restore ``out_dir/last`` (the step it reached), or apply ``init_from`` to a fresh run (0)."""
        self._resumed_validation, self._init_path = None, None
        exists = has_training_state(out_dir)
        if self.resume is True and not exists:
            raise SemcomError(f"cannot resume: no checkpoint {out_dir / 'last'}.safetensors")
        if not exists or self.resume is False:
            if self.config.init_from is not None:
                from semcom.models import init_weights_from

                self._init_path = init_weights_from(model, self.config.init_from)
            return 0
        state = load_training_state(out_dir)
        if state.system != model.name or state.model_config != as_stored(model.config):
            raise SemcomError(f"cannot resume from {out_dir / 'last'}: it holds {state.system} "
                              f"{state.model_config}, but the config builds {model.name} "
                              f"{as_stored(model.config)} (use another out_dir)")
        if state.step > self.config.steps:
            raise SemcomError(f"cannot resume from {out_dir / 'last'}: it is at step {state.step}, "
                              f"beyond steps={self.config.steps}")
        saved = state.info.get("config", {})
        now = self.config.to_dict()
        changed = [k for k in ("data", "channel", "snr_db", "loss", "batch_size", "seed", "optimizer", "schedule")
                   if k in saved and as_stored(saved[k]) != as_stored(now[k])]
        if changed:
            warnings.warn(f"resuming {out_dir} with a config that differs from the checkpoint's in "
                          f"{', '.join(changed)}: the run will not match an uninterrupted one", stacklevel=3)
        model.load_state_dict(state.model_state, strict=True)
        optimizer.load_state_dict(state.optimizer_state)
        restore_rng_state(state.rng_tensors, state.rng_meta)
        self._resumed_validation = state.info.get("validation")
        return state.step

    def _save_last(self, ctx: DistContext, out_dir: Path, step: int, model: nn.Module,
                   optimizer: torch.optim.Optimizer, last_val: dict[str, Any] | None) -> None:
        if ctx.is_main:
            save_training_state(out_dir, step, model.state_dict(), optimizer.state_dict(), model.name,
                                dict(model.config),
                                extra={"config": self.config.to_dict(), "world_size": ctx.world_size,
                                       "validation": last_val})
        ctx.barrier()

    @torch.no_grad()
    def _validate(self, model: nn.Module, channel: nn.Module, batches: list[tuple[int, Tensor]],
                  snr_points: list[float], ctx: DistContext, step: int) -> dict[str, Any]:
        """Mean per-image PSNR (:func:`semcom.conventions.psnr`) at each SNR, over all ranks.

        The channel draws are seeded by (seed, SNR index, batch), so every validation of a
        run sees the same noise and the numbers are comparable across steps.
        """
        model.eval()
        by_snr: dict[str, float] = {}
        try:
            for si, snr in enumerate(snr_points):
                total, count = 0.0, 0.0
                for j, images in batches:
                    images = images.to(ctx.device)
                    gen = torch.Generator(device=ctx.device).manual_seed(
                        derive_seed("val", self.config.seed, si, j))
                    out = model(images, channel, float(snr), gen)
                    total += float(psnr(images, out["x_hat"]).sum())
                    count += images.shape[0]
                total, count = ctx.all_reduce_sum([total, count])
                by_snr[f"{snr:g}"] = total / max(count, 1.0)
        finally:
            model.train()
        return {"kind": "val", "step": step, "psnr_db": sum(by_snr.values()) / len(by_snr),
                "psnr_db_by_snr": by_snr}

    def _final_info(self, ctx: DistContext, last_val: dict[str, Any] | None) -> dict[str, Any]:
        import semcom

        cfg = self.config
        return {"trained_with": "semcom.training", "semcom_version": semcom.__version__,
                "steps": cfg.steps, "seed": cfg.seed, "world_size": ctx.world_size,
                "data": cfg.to_dict()["data"], "channel": {"name": cfg.channel.name, **cfg.channel.kwargs},
                "snr_db": cfg.snr_db.to_yaml(), "loss": cfg.loss,
                "validation": last_val, "config": cfg.to_dict(),
                **({"init_from": self._init_record()} if self._init_path is not None else {})}

    def _init_record(self) -> dict[str, Any]:
        """What ``init_from`` named, the checkpoint it resolved to and that file's sha256
        (a zoo name's weights can be replaced later)."""
        from semcom.zoo.checkpoint import read_checkpoint_meta

        return {"source": self.config.init_from, "path": str(self._init_path),
                "sha256": read_checkpoint_meta(self._init_path)["sha256"]}


def train(config: TrainConfig | dict[str, Any] | str | Path, overrides: Sequence[str] = (),
          resume: bool | None = None, verbose: bool = True) -> Path:
    """Train as configured (see :class:`Trainer`); returns the base path of ``out_dir/final``
    (``final.safetensors`` + ``final.json``, loadable with :func:`semcom.models.load_model`)."""
    return Trainer(config, overrides, resume=resume, verbose=verbose).run()
