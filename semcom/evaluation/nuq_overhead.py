"""The overhead table of ``semcom reproduce nuq`` (the NUQ paper's Table 2): what the
non-uniform quantizer costs over the uniform one, measured here.

For each quantizer of the ``overhead`` sweep (uniform and non-uniform at 8 bits), on the
model the sweep loaded (rebuilt from its ``results.json``) and on the sweep's images:

* **inference**: one ``transmit`` of a batch (encoder, contribution factors and bit
  allocation, QAM, AWGN at :data:`SNR_DB`, side information over the 5G PHY,
  dequantization, decoder), the median of ``rounds`` timed calls after one untimed one;
  seconds per batch and per image;
* **training step**: one stage-2 step as ``configs/train/nuq_cifar10.yaml`` trains it
  (training mode ``quantize: ste``: real bits through the link, straight-through
  gradient; MSE; Adam at lr 1e-4; SNR uniform in 0-20 dB) on ``train_batch_size``
  32x32 crops of the sweep's images (cycled), the median of ``rounds`` timed steps after
  one untimed one, on a copy of the model; **training time per epoch** is an *estimate*:
  that step time times ``ceil(50,000 / train_batch_size)`` steps (no data loading, no
  validation);
* **peak memory** of one inference call and of one training step: on CUDA
  ``torch.cuda.max_memory_allocated`` over the call minus the memory allocated before
  it; on the CPU the peak of the running total of tensor allocations minus frees
  recorded by the torch profiler (``profile_memory=True``) over the call (frees of
  tensors allocated before the call are not recorded, so a call that frees them may
  read a little high). Either way tensor memory only (the model's weights, held before
  the call, and Python objects are not counted), and not the process's resident set.

Timings depend on the machine and its load: the table states the platform, processor,
CPU count, load average and device (``overhead.json`` has every timing).
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from semcom.errors import SemcomError
from semcom.evaluation.report import format_number as _fmt, as_number as _num, write_csv as _write_csv

SNR_DB = 10.0
BUDGET_BITS = 8.0
#: CIFAR-10 training images per epoch and the crop the training config uses
EPOCH_IMAGES = 50_000
TRAIN_CROP = 32
TRAIN_SNR_DB = (0.0, 20.0)
TRAIN_LR = 1e-4


def peak_memory(fn: Callable[[], Any], device: torch.device) -> tuple[Any, int, str]:
    """Run ``fn()`` and return ``(its result, peak tensor bytes it allocated, method)``
    (module docstring: CUDA peak statistics, or the torch profiler's CPU allocation
    timeline)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        out = fn()
        torch.cuda.synchronize(device)
        return out, int(torch.cuda.max_memory_allocated(device) - base), "torch.cuda.max_memory_allocated"
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
    try:  # the raw allocation (+) and free (-) records: fast
        changes = [(e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    except AttributeError:  # another torch: the parsed events (slow), allocations attributed to their ops
        changes = []
        for event in prof.events():
            size = event.cpu_memory_usage if event.name == "[memory]" else event.self_cpu_memory_usage
            if size:
                changes.append((event.time_range.start, size))
    live = peak = 0
    for _, size in sorted(changes):
        live += size
        peak = max(peak, live)
    return out, int(peak), "torch profiler CPU allocation timeline"


def _median_seconds(fn: Callable[[], Any], rounds: int, device: torch.device) -> tuple[float, list[float]]:
    """Median wall seconds of ``fn()`` over ``rounds`` calls after one untimed call."""
    fn()
    times = []
    for _ in range(max(1, int(rounds))):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return float(statistics.median(times)), times


def training_batch(images: Sequence[torch.Tensor], batch_size: int, crop: int = TRAIN_CROP) -> torch.Tensor:
    """``(batch_size, 3, crop, crop)``: the top-left crops of ``images`` (each at least
    ``crop`` px a side), cycled to fill the batch."""
    if not images:
        raise SemcomError("overhead: no images to build a training batch from")
    small = [im for im in images if min(im.shape[-2:]) < crop]
    if small:
        raise SemcomError(f"overhead: training crops are {crop}x{crop}, got an image of {tuple(small[0].shape)}")
    return torch.stack([images[i % len(images)][:, :crop, :crop] for i in range(int(batch_size))])


def measure(model: Any, images: torch.Tensor, train_images: torch.Tensor, settings: dict[str, Any],
            rounds: int, device: torch.device) -> dict[str, Any]:
    """Inference and training-step time and peak memory of one quantizer (module docstring).

    Args:
        model: a NUQ model (not changed: training steps run on a copy).
        images: ``(B, 3, H, W)`` inference batch in ``[0, 1]``.
        train_images: ``(B_t, 3, 32, 32)`` training batch.
        settings: run-time settings (``quantizer``, ``budget_bits``).
    """
    from semcom.channels import AWGN
    from semcom.conventions import mse_per_image

    channel = AWGN().to(device)
    images, train_images = images.to(device), train_images.to(device)

    def infer() -> Any:
        return model.transmit(images, channel, SNR_DB, generator=torch.Generator(device=device).manual_seed(0),
                              **settings)

    infer_s, infer_times = _median_seconds(infer, rounds, device)
    _, infer_peak, method = peak_memory(infer, device)
    trainee = copy.deepcopy(model).to(device)
    trainee.train()
    trainee.set_modes(quantize="ste")
    optimizer = torch.optim.Adam(trainee.parameters(), lr=TRAIN_LR)
    gen = torch.Generator(device=device).manual_seed(0)

    def step() -> float:
        lo, hi = TRAIN_SNR_DB
        snr = lo + (hi - lo) * torch.rand(train_images.shape[0], generator=gen, device=device)
        out = trainee(train_images, channel, snr, gen, **settings)
        loss = mse_per_image(out["x_hat"], train_images).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    step_s, step_times = _median_seconds(step, rounds, device)
    _, step_peak, _ = peak_memory(step, device)
    return {"inference_batch": int(images.shape[0]), "inference_s_per_batch": infer_s,
            "inference_s_per_image": infer_s / images.shape[0], "inference_peak_mb": infer_peak / 2**20,
            "train_batch": int(train_images.shape[0]), "train_step_s": step_s,
            "train_min_per_epoch_estimate": step_s * math.ceil(EPOCH_IMAGES / train_images.shape[0]) / 60,
            "train_step_peak_mb": step_peak / 2**20, "memory_method": method,
            "inference_times_s": infer_times, "train_step_times_s": step_times}


def _sweep_parts(out_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from semcom.evaluation.results import read_results

    path = Path(out_dir) / "results.json"
    if not path.is_file():
        raise SemcomError(f"overhead: {path} not found (the table maker runs after its sweep)")
    config = read_results(path).get("config") or {}
    return config, list(config.get("systems") or [])


def overhead_table(rows: Sequence[dict[str, Any]], out_dir: Path | None = None, train_batch_size: int = 128,
                   rounds: int = 5) -> str:
    """Markdown of the overhead table (module docstring); writes ``overhead.csv`` and
    ``overhead.json`` to ``out_dir``. Without ``out_dir``: the sweep's PSNR and transmit
    time only."""
    from semcom.evaluation.bench_train import machine_info
    from semcom.evaluation.nuq_tables import curve, curve_name

    nuq: dict[tuple, dict[str, Any]] = {}  # one row per quantizer: the one nearest SNR_DB
    for r in rows:
        key = curve(r)
        if key[0] in ("uniform", "nonuniform") and (
                key not in nuq or abs(float(r["snr_db"]) - SNR_DB) < abs(float(nuq[key]["snr_db"]) - SNR_DB)):
            nuq[key] = r
    if out_dir is None:
        return "\n".join(f"- {curve_name(*curve(r))}: PSNR {_fmt(_num(r.get('psnr')))} dB, transmit "
                         f"{_fmt(_num(r.get('seconds_per_image')), 4)} s/image" for r in nuq.values())
    from semcom.evaluation.config import DatasetSpec
    from semcom.evaluation.sweep import load_dataset
    from semcom.evaluation.systems import build_link

    config, systems = _sweep_parts(Path(out_dir))
    device = torch.device(str(config.get("device") or "cpu"))
    ds = dict(config.get("dataset") or {})
    spec = DatasetSpec(name=ds.pop("name"), root=ds.pop("root", None), limit=ds.pop("limit", None),
                       split=ds.pop("split", None), options=ds)
    images, _ = load_dataset(spec)
    size = tuple(images[0].shape)
    batch = torch.stack([im for im in images if tuple(im.shape) == size][:int(config.get("batch_size") or 8)])
    train_images = training_batch(images, train_batch_size)
    model = build_link({k: v for k, v in systems[0].items() if k not in ("run", "label")}, device)
    measured = []
    for (q, bits), r in nuq.items():
        entry = {"method": curve_name(q, bits), "quantizer": q, "budget_bits": bits, "snr_db_sweep": float(r["snr_db"]),
                 "psnr_sweep": _num(r.get("psnr")), "transmit_s_per_image_sweep": _num(r.get("seconds_per_image")),
                 **measure(model, batch, train_images, {"quantizer": q, "budget_bits": bits}, rounds, device)}
        measured.append(entry)
    machine = {**machine_info(), "device": str(device), "torch_threads": torch.get_num_threads()}
    out = Path(out_dir)
    _write_csv(out / "overhead.csv", [{k: v for k, v in e.items() if not k.endswith("_times_s")} for e in measured])
    (out / "overhead.json").write_text(json.dumps({"machine": machine, "snr_db": SNR_DB, "rounds": rounds,
                                                   "rows": measured}, indent=2))
    return _markdown(measured, machine, rounds, size)


def _markdown(measured: list[dict[str, Any]], machine: dict[str, Any], rounds: int, size: tuple) -> str:
    if not measured:
        return "No uniform / non-uniform rows in the overhead sweep."
    m0 = measured[0]
    lines = [f"Measured on {machine['platform']}, {machine['processor']}, {machine['cpu_count']} CPUs "
             f"(load average {machine.get('load_average_1min', 'n/a')}), device {machine['device']}, "
             f"{machine['torch_threads']} torch thread(s); medians of {rounds} timed calls after one untimed. "
             f"Inference: a batch of {m0['inference_batch']} {size[-2]}x{size[-1]} images, AWGN {SNR_DB:g} dB. "
             f"Training: stage-2 steps on batches of {m0['train_batch']} {TRAIN_CROP}x{TRAIN_CROP} crops; "
             f"**the training time per epoch is an estimate**, step time x ceil({EPOCH_IMAGES:,} / "
             f"{m0['train_batch']}) steps. Peak memory: tensor memory allocated during the call "
             f"({m0['memory_method']}), not the process's resident set.\n",
             "| method | training (min/epoch, estimated) | training step (s) | inference (s/image) | "
             "inference (s/batch) | peak memory inference (MB) | peak memory training step (MB) | "
             "sweep PSNR (dB) | sweep transmit (s/image) |", "|---|---|---|---|---|---|---|---|---|"]
    for e in measured:
        lines.append(f"| {e['method']} | {_fmt(e['train_min_per_epoch_estimate'], 1)} | {_fmt(e['train_step_s'], 3)} | "
                     f"{_fmt(e['inference_s_per_image'], 4)} | {_fmt(e['inference_s_per_batch'], 3)} | "
                     f"{_fmt(e['inference_peak_mb'], 1)} | {_fmt(e['train_step_peak_mb'], 1)} | "
                     f"{_fmt(e['psnr_sweep'])} | {_fmt(e['transmit_s_per_image_sweep'], 4)} |")
    by = {e["quantizer"]: e for e in measured}
    if "uniform" in by and "nonuniform" in by:
        u, nu = by["uniform"], by["nonuniform"]

        def rel(key: str) -> str:
            return "n/a" if not u[key] else f"{100 * (nu[key] / u[key] - 1):+.1f} %"

        lines += ["", "Claims (measured): *non-uniform costs +20 % training time, +12 % inference time and "
                  "+7.6 % peak memory over uniform* (the paper, Table 2); here non-uniform vs uniform: training "
                  f"step {rel('train_step_s')}, inference {rel('inference_s_per_image')}, peak memory "
                  f"inference {rel('inference_peak_mb')}, training step {rel('train_step_peak_mb')}."]
    return "\n".join(lines)
