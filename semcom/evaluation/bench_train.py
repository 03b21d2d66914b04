"""``semcom bench train-step``: what one training step of a config costs on this machine.

For each training config it builds what ``semcom train`` builds (model, objective,
optimizers, channel, SNR sampling, the data loader over the config's ``data`` section and
``batch_size``) with the trainer's own :meth:`~semcom.training.trainer.Trainer.build_parts`,
and times, for each torch thread count of ``--threads`` (``torch.set_num_threads`` in this
process, the thread counts interleaved step by step so that machine noise hits them alike):

* **data**: getting the next batch from the training loader (each thread count reads
  batches of its own, so none reads images another has just decoded into a cache);
  also **re-read**, the same batch fetched again from the dataset (with ``num_workers: 0``
  only): what a dataset with ``cache: true`` costs once its images are decoded;
* **step**: one full training step (forward through the channel, objective, backward,
  optimizer updates) through :meth:`~semcom.training.trainer.TrainingParts.run_step`,
  always on the first batch read.

Each figure is the median (and min-max) over ``--steps`` timed rounds after ``--warmup``
untimed ones. The weights are the run's fresh initialization (``init_from`` and resuming
do not change what a step costs and are not applied). A config with ``stages`` is benched
stage by stage (``NAME:STAGE``). ``--set key=value`` overrides apply to every config, as in
``semcom train``. Nothing is written to the configs' ``out_dir``.

::

    semcom bench train-step configs/train/fajscc_small_hr_cbr1-16_awgn.yaml --threads 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from semcom.errors import SemcomError


def parse_threads(text: str) -> list[int]:
    """``"1,2"`` -> ``[1, 2]`` (distinct positive ints, in the given order).

    Raises:
        SemcomError: not a comma-separated list of positive integers.
    """
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            n = int(part)
        except ValueError:
            raise SemcomError(f"--threads must be positive integers separated by commas, got {text!r}") from None
        if n < 1:
            raise SemcomError(f"--threads must be positive integers separated by commas, got {text!r}")
        if n not in out:
            out.append(n)
    return out


def machine_info() -> dict[str, Any]:
    """Where the figures were measured: platform, processor, CPU count, torch version."""
    info: dict[str, Any] = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                            "cpu_count": os.cpu_count(), "python": platform.python_version(),
                            "torch": torch.__version__}
    if hasattr(os, "sched_getaffinity"):
        info["cpus_available"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        info["load_average_1min"] = round(os.getloadavg()[0], 2)
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def bench_configs(path: str, overrides: Sequence[str]) -> list[tuple[str, Any]]:
    """``[(name, TrainConfig)]`` of one config file: one entry, or one per stage
    (``STEM:STAGE``) for a file with ``stages``; ``overrides`` applied as ``semcom train``
    applies them.

    Raises:
        SemcomError: the file is missing or does not parse or validate.
    """
    from semcom.configfile import read_config_file
    from semcom.training.config import apply_overrides, config_from_dict, load_config, resolve_roots
    from semcom.training.stages import stage_configs

    stem = Path(path).stem
    raw = read_config_file(path)
    if "stages" not in raw:
        try:
            return [(stem, load_config(path, overrides))]
        except SemcomError as e:
            raise SemcomError(f"{path}: {e}") from None
    base = Path(path).resolve().parent
    for part in [raw, *(s for s in raw.get("stages") or [] if isinstance(s, dict))]:
        resolve_roots(part, base)
    out = []
    for name, stage in stage_configs(apply_overrides(raw, overrides)):
        stage["init_from"] = None  # not applied by the bench ("previous" names no weights yet)
        try:
            out.append((f"{stem}:{name}", config_from_dict(stage)))
        except SemcomError as e:
            raise SemcomError(f"{path}: stage {name}: {e}") from None
    return out


def _summary(times: list[float]) -> dict[str, float]:
    return {"median": float(statistics.median(times)), "min": float(min(times)), "max": float(max(times))}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_train_step(trainer: Any, threads: Sequence[int], steps: int, warmup: int) -> list[dict[str, Any]]:
    """Time data loading and one training step of ``trainer``'s config for each thread
    count (see the module docstring); one result per thread count, in ``threads`` order.

    Raises:
        SemcomError: the trainer's own errors (no images at a data root, a batch larger
            than the training set, ...).
    """
    from semcom.metrics.complexity import count_parameters
    from semcom.training.data import collate_samples
    from semcom.training.distributed import resolve_device

    cfg = trainer.config
    device = resolve_device(cfg.device)
    trainer.configure_torch(device)
    parts = trainer.build_parts(device)
    rounds = warmup + steps
    sampler = parts.batch_sampler(total_steps=rounds * len(threads))
    loader = iter(parts.loader(sampler))
    train_step = parts.train_step()
    data: dict[int, list[float]] = {t: [] for t in threads}
    reread: dict[int, list[float]] = {t: [] for t in threads}
    step_s: dict[int, list[float]] = {t: [] for t in threads}
    losses: dict[int, float] = {}
    fixed = None
    for r in range(rounds):
        for k, t in enumerate(threads):
            torch.set_num_threads(t)
            index = r * len(threads) + k
            start = time.perf_counter()
            batch = next(loader)
            took = time.perf_counter() - start
            again = None
            if cfg.num_workers == 0:
                start = time.perf_counter()
                collate_samples(parts.train_set.__getitems__(sampler.batch(index)))
                again = time.perf_counter() - start
            if fixed is None:
                fixed = batch.to(device)
            _sync(device)
            start = time.perf_counter()
            _, _, loss, _ = parts.run_step(train_step, fixed, r)
            _sync(device)
            spent = time.perf_counter() - start
            if r >= warmup:
                data[t].append(took)
                step_s[t].append(spent)
                if again is not None:
                    reread[t].append(again)
            losses[t] = float(loss.total.detach())
    results = []
    for t in threads:
        d, s = _summary(data[t]), _summary(step_s[t])
        results.append({
            "threads": t, "device": str(device), "system": cfg.model.name, "params": count_parameters(parts.model),
            "batch_size": cfg.batch_size, "crop": cfg.data.crop, "num_workers": cfg.num_workers,
            "images_in_data": len(parts.train_set),
            "data_s": d["median"], "data_s_min": d["min"], "data_s_max": d["max"],
            "data_reread_s": float(statistics.median(reread[t])) if reread[t] else None,
            "step_s": s["median"], "step_s_min": s["min"], "step_s_max": s["max"],
            "data_share": d["median"] / max(d["median"] + s["median"], 1e-12),
            "data_times_s": data[t], "step_times_s": step_s[t], "last_loss": losses[t],
        })
    return results


def _line(name: str, row: dict[str, Any], width: int) -> str:
    reread = "" if row["data_reread_s"] is None else f"  (re-read {row['data_reread_s']:.4f} s)"
    return (f"{name:{width}s}  {row['threads']:2d} thr  data {row['data_s']:.4f} s/batch  "
            f"step {row['step_s']:.3f} s/step ({row['step_s_min']:.3f}-{row['step_s_max']:.3f})  "
            f"data {100 * row['data_share']:.1f} %{reread}")


def bench_train_step(argv: Sequence[str]) -> int:
    """``semcom bench train-step CONFIG [CONFIG ...]``: prints one line per config and
    thread count, writes JSON (``-o``)."""
    from semcom.training.trainer import Trainer

    p = argparse.ArgumentParser(prog="semcom bench train-step",
                                description="time data loading and one training step of training configs")
    p.add_argument("configs", nargs="+", metavar="CONFIG", help="training config files (see configs/train/)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per thread count (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    p.add_argument("--threads", default="1,2", help="torch thread counts, interleaved (default 1,2)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a key of every config")
    p.add_argument("-o", "--out", default="results/bench_train_step.json")
    args = p.parse_args(list(argv))
    if args.steps < 1 or args.warmup < 0:
        raise SemcomError(f"need --steps >= 1 and --warmup >= 0, got --steps {args.steps} --warmup {args.warmup}")
    threads = parse_threads(args.threads)
    overrides = list(args.set or [])
    # every config is read and checked before any timing
    trainers = []
    for path in args.configs:
        for name, cfg in bench_configs(path, overrides):
            trainers.append((name, path, Trainer(cfg, verbose=False)))
    machine = machine_info()
    print(f"machine: {machine['platform']}, {machine['processor']}, {machine['cpu_count']} CPUs, "
          f"torch {machine['torch']}; {args.steps} steps after {args.warmup} warm-up, threads "
          f"{','.join(map(str, threads))}", flush=True)
    width = max(len(name) for name, _, _ in trainers)
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.cudnn.benchmark)
    rows = []
    try:
        for name, path, trainer in trainers:
            try:
                timed = time_train_step(trainer, threads, args.steps, args.warmup)
            except SemcomError as e:
                raise SemcomError(f"{path}: {e}") from None
            for row in timed:
                rows.append({"name": name, "config": str(path), **row})
                print(_line(name, row, width), flush=True)
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1], warn_only=before[2])
        torch.backends.cudnn.benchmark = before[3]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine, "steps": args.steps, "warmup": args.warmup, "threads": threads,
              "overrides": overrides, "rows": rows}
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0
