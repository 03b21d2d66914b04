"""Evaluation sweeps: systems x channels x SNRs (x CBRs) on a dataset.

Every point of the sweep sends every image ``repeats`` times and reports the mean of
the per-image metrics (a dataset's PSNR is the mean of per-image PSNRs, conventions.md),
the measured channel uses and CBR, failures and runtime. The randomness of each batch
comes from a generator seeded by ``(seed, repeat, index of the batch's first image)``,
so a sweep is reproducible, and all systems, channels and SNRs see the same seeds.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from semcom.conventions import ms_ssim_to_db, psnr
from semcom.data import create_dataset, item_image
from semcom.errors import SemcomError
from semcom.evaluation.config import ChannelSpec, DatasetSpec, EvalConfig
from semcom.evaluation.systems import SystemUnderTest, build_channel, build_systems

__all__ = ["EvalConfig", "ImageBatch", "load_dataset_images", "make_batches", "batch_generator",
           "run_sweep", "evaluate"]


@dataclass
class ImageBatch:
    """Same-size images sent together: ``images`` ``(B, 3, H, W)``, ``indices`` their
    positions in the dataset (the first one seeds the batch's generator)."""

    indices: list[int]
    images: Tensor


# ------------------------------------------------------------------------ images
def load_dataset_images(spec: DatasetSpec) -> list[Tensor]:
    """The first ``spec.limit`` images of a dataset, each ``(3, H, W)`` float in ``[0, 1]``."""
    kwargs = dict(spec.options)
    if spec.split is not None:
        kwargs["split"] = spec.split
    root = None if spec.root is None else os.path.expanduser(spec.root)
    try:
        dataset = create_dataset(spec.name, root, **kwargs)
    except TypeError as e:
        raise SemcomError(f"dataset {spec.name!r}: {e}") from None
    count = len(dataset) if spec.limit is None else min(len(dataset), spec.limit)
    if count == 0:
        raise SemcomError(f"dataset {spec.name!r} has no images")
    return [item_image(dataset[i], f"dataset item {i}") for i in range(count)]


def make_batches(images: Sequence[Tensor], batch_size: int) -> list[ImageBatch]:
    """Group images by size (in order of first appearance) into batches of at most
    ``batch_size``; images of different sizes are never batched together."""
    by_size: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        by_size.setdefault(tuple(image.shape), []).append(i)
    batches = []
    for indices in by_size.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            batches.append(ImageBatch(chunk, torch.stack([images[i] for i in chunk])))
    return batches


def batch_generator(seed: int, repeat: int, index: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A generator seeded from ``(seed, repeat, index)`` (mixed by numpy's SeedSequence,
    so nearby tuples give unrelated streams)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(repeat), int(index)]).generate_state(2)
    value = (int(state[0]) << 31) ^ int(state[1])  # 63 bits: a valid torch seed
    return torch.Generator(device=torch.device(device)).manual_seed(value)


# ---------------------------------------------------------------------- metrics
def _image_metrics(reference: Tensor, reconstruction: Tensor, metrics: Sequence[str]) -> dict[str, Tensor]:
    """Per-image ``(B,)`` metrics of a batch (PSNR always)."""
    out = {"psnr": psnr(reference, reconstruction)}
    if "ssim" in metrics or "ms_ssim" in metrics:
        from semcom.metrics import quality

        if "ssim" in metrics:
            out["ssim"] = quality.ssim(reference, reconstruction)
        if "ms_ssim" in metrics:
            out["ms_ssim"] = quality.ms_ssim(reference, reconstruction)
            out["ms_ssim_db"] = ms_ssim_to_db(out["ms_ssim"])
    return {k: v.detach().float().cpu().reshape(-1) for k, v in out.items()}


def _mean(values: list[Tensor]) -> float | None:
    t = torch.cat(values).double()
    finite = t[torch.isfinite(t)]
    return float(finite.mean()) if finite.numel() else None


def _std(values: list[Tensor]) -> float | None:
    t = torch.cat(values).double()
    finite = t[torch.isfinite(t)]
    return float(finite.std(unbiased=False)) if finite.numel() else None


def _failures(extras: dict[str, Any], batch: int) -> int | None:
    failed = extras.get("failed")
    if failed is None:
        return None
    return int(torch.as_tensor(failed).reshape(-1)[:batch].to(torch.bool).sum())


# ------------------------------------------------------------------------- sweep
def _run_point(system: SystemUnderTest, channel: torch.nn.Module, channel_spec: ChannelSpec, snr_db: float,
               batches: list[ImageBatch], config: EvalConfig, progress: Any) -> dict[str, Any]:
    """One row: every image, ``repeats`` times, at one system, channel and SNR."""
    device = torch.device(config.device)
    values: dict[str, list[Tensor]] = {}
    uses: list[Tensor] = []
    cbrs: list[Tensor] = []
    failures: int | None = None
    seconds = 0.0
    for repeat in range(config.repeats):
        for batch in batches:
            images = batch.images.to(device)
            gen = batch_generator(config.seed, repeat, batch.indices[0], device)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            result = system.link.transmit(images, channel, snr_db, generator=gen)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds += time.perf_counter() - start
            got = _image_metrics(images, result.images.to(device), config.metrics)
            for key, v in got.items():
                values.setdefault(key, []).append(v)
            uses.append(result.channel_uses.detach().cpu().reshape(-1).double())
            cbrs.append(result.cbr.detach().cpu().reshape(-1).double())
            failed = _failures(result.extras, images.shape[0])
            if failed is not None:
                failures = (failures or 0) + failed
            progress.update(1)
    count = sum(len(b.indices) for b in batches)
    row: dict[str, Any] = {
        "system": system.label,
        "system_name": system.system_name,
        "source": system.source,
        "channel": channel_spec.label,
        "channel_name": channel_spec.name,
        "channel_params": dict(channel_spec.params),
        "snr_db": float(snr_db),
        "cbr_requested": system.cbr_requested,
        "cbr": _mean(cbrs),
        "channel_uses": _mean(uses),
        "psnr": _mean(values["psnr"]),
        "psnr_std": _std(values["psnr"]),
    }
    for key in ("ssim", "ms_ssim", "ms_ssim_db"):
        if key in values:
            row[key] = _mean(values[key])
    row.update({
        "images": count,
        "repeats": config.repeats,
        "failures": failures,
        "failure_rate": None if failures is None else failures / (count * config.repeats),
        "runtime_s": seconds,
        "seconds_per_image": seconds / (count * config.repeats),
    })
    return row


def run_sweep(config: EvalConfig | dict[str, Any] | str | Path, images: Sequence[Tensor] | None = None,
              progress: bool = True, write: bool = True) -> list[dict[str, Any]]:
    """Run every system x channel x SNR (x CBR) point of a sweep.

    Args:
        config: an :class:`EvalConfig` (or a dict / YAML path that loads into one).
        images: ``(3, H, W)`` images in ``[0, 1]`` to use instead of ``config.dataset``.
        progress: show a tqdm bar over every transmitted batch of the sweep.
        write: write ``results.csv``, ``results.json`` and the plots to ``config.out_dir``.

    Returns:
        One dict per (system, cbr, channel, snr), see :data:`semcom.evaluation.results.COLUMNS`.

    Raises:
        SemcomError: bad config, unknown system/channel/dataset, unreadable checkpoint,
            all raised before the first transmission.
    """
    from tqdm import tqdm

    if not isinstance(config, EvalConfig):
        config = EvalConfig.load(config)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    if images is None:
        if config.dataset is None:
            raise SemcomError("config has no dataset: add dataset: {name: ..., root: ...}")
        images = load_dataset_images(config.dataset)
    images = [item_image(im, f"image {i}") for i, im in enumerate(images)]
    if not images:
        raise SemcomError("no images to evaluate")
    batches = make_batches(images, config.batch_size)
    del images  # the batches hold the pixels now
    systems = build_systems(config.systems, config.device)
    channels = [(spec, build_channel(spec.name, spec.params).to(config.device)) for spec in config.channels]

    points = list(itertools.product(systems, channels, config.snr_db))
    rows: list[dict[str, Any]] = []
    started = time.time()
    total = len(points) * config.repeats * len(batches)
    with tqdm(total=total, desc=f"evaluate {config.name}", unit="batch", disable=not progress,
              dynamic_ncols=True) as bar:
        for system, (channel_spec, channel), snr_db in points:
            cbr = "" if system.cbr_requested is None else f" cbr {system.cbr_requested:.4g}"
            bar.set_postfix_str(f"{system.label}{cbr} | {channel_spec.label} | {snr_db:g} dB")
            rows.append(_run_point(system, channel, channel_spec, snr_db, batches, config, bar))
    if write:
        from semcom.evaluation.results import write_results

        write_results(config, rows, systems, started=started,
                      channels={spec.label: channel for spec, channel in channels})
    return rows


def evaluate(config: "EvalConfig | dict[str, Any] | str | Path", overrides: Sequence[str] = (),
             progress: bool = True) -> Path:
    """Entry point of ``semcom evaluate CONFIG``: load, override, run, write.

    Args:
        config: YAML path, dict or :class:`EvalConfig`.
        overrides: ``key=value`` strings (dotted keys, YAML values), e.g. ``snr_db=[1,4]``.

    Returns:
        The output folder (``results.csv``, ``results.json``, ``psnr_vs_snr.png``,
        ``psnr_vs_cbr.png``).
    """
    cfg = EvalConfig.load(config, overrides)
    run_sweep(cfg, progress=progress, write=True)
    return Path(cfg.out_dir)
