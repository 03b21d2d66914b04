"""Evaluation sweeps: systems x channels x SNRs (x CBRs) on a dataset.

Every point of the sweep sends every image ``repeats`` times and reports the mean of
the per-image metrics (a dataset's PSNR is the mean of per-image PSNRs, conventions.md),
the measured channel uses and CBR, failures and runtime. The randomness of each batch
comes from a generator seeded by ``(seed, repeat, index of the batch's first image)``,
so a sweep is reproducible, and all systems, channels, SNRs and run-time settings see
the same seeds. A system spec's ``run`` settings multiply its points (one per
combination of the mapping form, or exactly the listed points of the list form, see
:mod:`semcom.evaluation.systems`) without rebuilding the link. Labels of a labelled
dataset travel with the batches to dataset-level metrics (classifier accuracy, macro F1),
and so do the per-image ``extras["failed"]`` flags of a system that reports them: an
image the link lost counts as misclassified there, for every system, while the image
metrics (PSNR, SSIM, ...) score the gray image that was delivered
(:mod:`semcom.metrics.registry`). A system without ``failed`` reports no losses.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from semcom.data import create_dataset, item_image
from semcom.data.collate import item_label
from semcom.errors import SemcomError
from semcom.evaluation.config import ChannelSpec, DatasetSpec, EvalConfig
from semcom.evaluation.progress import Progress
from semcom.evaluation.systems import SystemUnderTest, build_channel, build_systems
from semcom.metrics.registry import Metric, build_metric

__all__ = ["EvalConfig", "ImageBatch", "load_dataset", "load_dataset_images", "make_batches",
           "batch_generator", "run_sweep", "evaluate"]


@dataclass
class ImageBatch:
    """Same-size images sent together: ``images`` ``(B, 3, H, W)``, ``indices`` their
    positions in the dataset (the first one seeds the batch's generator), ``labels``
    ``(B,)`` int64 class labels when the dataset has them."""

    indices: list[int]
    images: Tensor
    labels: Tensor | None = None


# ------------------------------------------------------------------------ images
def load_dataset_images(spec: DatasetSpec) -> list[Tensor]:
    """The first ``spec.limit`` images of a dataset, each ``(3, H, W)`` float in ``[0, 1]``."""
    return load_dataset(spec)[0]


def load_dataset(spec: DatasetSpec) -> tuple[list[Tensor], Tensor | None]:
    """The first ``spec.limit`` images of a dataset and their labels: ``(3, H, W)``
    float images in ``[0, 1]`` and an ``(N,)`` int64 label tensor (None when the dataset
    is unlabelled)."""
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
    items = [dataset[i] for i in range(count)]
    labels = [item_label(item) for item in items]
    images = [item_image(item, f"dataset item {i}") for i, item in enumerate(items)]
    has = all(label is not None for label in labels)
    return images, torch.tensor(labels, dtype=torch.int64) if has else None


def make_batches(images: Sequence[Tensor], batch_size: int, labels: Tensor | None = None) -> list[ImageBatch]:
    """Group images by size (in order of first appearance) into batches of at most
    ``batch_size``; images of different sizes are never batched together. ``labels``
    ``(N,)`` travel with their images."""
    by_size: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        by_size.setdefault(tuple(image.shape), []).append(i)
    batches = []
    for indices in by_size.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            batches.append(ImageBatch(chunk, torch.stack([images[i] for i in chunk]),
                                      None if labels is None else labels[chunk]))
    return batches


def batch_generator(seed: int, repeat: int, index: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A generator seeded from ``(seed, repeat, index)`` (mixed by numpy's SeedSequence,
    so nearby tuples give unrelated streams)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(repeat), int(index)]).generate_state(2)
    value = (int(state[0]) << 31) ^ int(state[1])  # 63 bits: a valid torch seed
    return torch.Generator(device=torch.device(device)).manual_seed(value)


# ------------------------------------------------------------------------ rows
def _spread(values: list[Tensor], name: str) -> dict[str, float | None]:
    """Mean, spread (population std) and range of per-image values: ``name``,
    ``name_std``, ``name_min``, ``name_max``."""
    t = torch.cat(values).double()
    t = t[torch.isfinite(t)]
    if not t.numel():
        return {name: None, f"{name}_std": None, f"{name}_min": None, f"{name}_max": None}
    return {name: float(t.mean()), f"{name}_std": float(t.std(unbiased=False)),
            f"{name}_min": float(t.min()), f"{name}_max": float(t.max())}


def _failed_flags(extras: dict[str, Any], batch: int) -> Tensor | None:
    """``(B,)`` bool: the images of a batch the link lost (``extras["failed"]``), on the
    CPU; None when the system reports no ``failed``."""
    failed = extras.get("failed")
    if failed is None:
        return None
    flags = torch.as_tensor(failed).detach().cpu().reshape(-1)[:batch].to(torch.bool)
    if flags.numel() != batch:
        raise SemcomError(f'extras["failed"] has {flags.numel()} flags for a batch of {batch} images')
    return flags


def run_columns(system: SystemUnderTest, resolved: dict[str, Any]) -> dict[str, Any]:
    """``run.NAME`` -> value of every setting the system declares (``auto`` for an
    automatic value), for a result row."""
    auto = {s.name for s in system.settings if s.allow_auto}
    return {f"run.{k}": ("auto" if v is None and k in auto else v) for k, v in resolved.items()}


# ------------------------------------------------------------------------- sweep
def _run_point(system: SystemUnderTest, run: tuple[dict[str, Any], dict[str, Any]], channel: torch.nn.Module,
               channel_spec: ChannelSpec, snr_db: float, batches: list[ImageBatch], config: EvalConfig,
               metrics: list[Metric], progress: Progress) -> dict[str, Any]:
    """One row: every image, ``repeats`` times, at one system, setting, channel and SNR."""
    device = torch.device(config.device)
    given, resolved = run
    accumulators = [m.start() for m in metrics]
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
            result = system.link.transmit(images, channel, snr_db, generator=gen, **given)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds += time.perf_counter() - start
            reconstruction = result.images.to(device)
            failed = _failed_flags(result.extras, images.shape[0])
            for acc in accumulators:
                acc.update(images, reconstruction, batch.labels, failed)
            uses.append(result.channel_uses.detach().cpu().reshape(-1).double())
            cbrs.append(result.cbr.detach().cpu().reshape(-1).double())
            if failed is not None:
                failures = (failures or 0) + int(failed.sum())
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
        **run_columns(system, resolved),
        **_spread(cbrs, "cbr"),
        **_spread(uses, "channel_uses"),
    }
    for acc in accumulators:
        row.update(acc.result())
    row.update({
        "images": count,
        "repeats": config.repeats,
        "failures": failures,
        "failure_rate": None if failures is None else failures / (count * config.repeats),
        "runtime_s": seconds,
        "seconds_per_image": seconds / (count * config.repeats),
    })
    return row


def _describe_point(system: SystemUnderTest, given: dict[str, Any], channel: str, snr_db: float) -> str:
    cbr = "" if system.cbr_requested is None else f" cbr {system.cbr_requested:.4g}"
    run = "".join(f" {k}={v}" for k, v in given.items())
    return f"{system.label}{cbr}{run} | {channel} | {snr_db:g} dB"


def build_metrics(config: EvalConfig, labels: Tensor | None) -> list[Metric]:
    """The configured metrics, checked against the data (labels) before any transmission."""
    metrics = [build_metric(m) for m in config.metrics]
    for m in metrics:
        if m.needs_labels and labels is None:
            dataset = config.dataset.name if config.dataset is not None else "the images given"
            raise SemcomError(f"metric {m.name} needs class labels and {dataset} has none "
                              "(use a labelled dataset such as cifar10)")
    return metrics


def run_sweep(config: EvalConfig | dict[str, Any] | str | Path, images: Sequence[Tensor] | None = None,
              progress: bool = True, write: bool = True, labels: Sequence[int] | Tensor | None = None,
              ) -> list[dict[str, Any]]:
    """Run every system x setting x channel x SNR (x CBR) point of a sweep.

    Args:
        config: an :class:`EvalConfig` (or a dict / YAML path that loads into one).
        images: ``(3, H, W)`` images in ``[0, 1]`` to use instead of ``config.dataset``.
        progress: a tqdm bar on a terminal, one plain line per point otherwise.
        write: write ``results.csv``, ``results.json``, the plots and tables to ``config.out_dir``.
        labels: ``(N,)`` class labels of ``images`` (for accuracy / F1).

    Returns:
        One dict per (system, cbr, settings, channel, snr), see
        :data:`semcom.evaluation.results.COLUMNS`.

    Raises:
        SemcomError: bad config, unknown system/channel/dataset/setting/metric, a
            setting out of range, unreadable checkpoint: all before the first transmission.
    """
    if not isinstance(config, EvalConfig):
        config = EvalConfig.load(config)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    if images is None:
        if config.dataset is None:
            raise SemcomError("config has no dataset: add dataset: {name: ..., root: ...}")
        images, labels = load_dataset(config.dataset)
    images = [item_image(im, f"image {i}") for i, im in enumerate(images)]
    if not images:
        raise SemcomError("no images to evaluate")
    if labels is not None:
        labels = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
        if labels.numel() != len(images):
            raise SemcomError(f"got {labels.numel()} labels for {len(images)} images")
    batches = make_batches(images, config.batch_size, labels)
    del images  # the batches hold the pixels now
    systems = build_systems(config.systems, config.device)
    metrics = build_metrics(config, labels)
    channels = [(spec, build_channel(spec.name, spec.params).to(config.device)) for spec in config.channels]
    from semcom.evaluation.tables import check_reductions

    check_reductions(config, systems)
    points = [(system, run, channel, snr) for system in systems for run in system.runs
              for channel in channels for snr in config.snr_db]
    rows: list[dict[str, Any]] = []
    started = time.time()
    total = len(points) * config.repeats * len(batches)
    with Progress(total, len(points), config.name, enabled=progress) as bar:
        for system, run, (channel_spec, channel), snr_db in points:
            bar.begin(_describe_point(system, run[0], channel_spec.label, snr_db))
            rows.append(_run_point(system, run, channel, channel_spec, snr_db, batches, config, metrics, bar))
            bar.end(rows[-1])
    notes = [m.note or m.skipped for m in metrics if m.note or m.skipped]
    for note in notes:
        print(f"note: {note}")
    if write:
        from semcom.evaluation.results import write_results

        write_results(config, rows, systems, started=started,
                      channels={spec.label: channel for spec, channel in channels},
                      metrics=[m.describe() for m in metrics])
    return rows


def evaluate(config: "EvalConfig | dict[str, Any] | str | Path", overrides: Sequence[str] = (),
             progress: bool = True) -> Path:
    """Entry point of ``semcom evaluate CONFIG``: load, override, run, write.

    Args:
        config: YAML path, dict or :class:`EvalConfig`.
        overrides: ``key=value`` strings (dotted keys, YAML values), e.g. ``snr_db=[1,4]``.

    Returns:
        The output folder (``results.csv``, ``results.json``, ``psnr_vs_snr.png``,
        ``psnr_vs_cbr.png``, ``psnr_vs_<setting>.png`` per swept setting, and
        ``envelope.csv`` / ``bd.csv`` when configured).
    """
    cfg = EvalConfig.load(config, overrides)
    run_sweep(cfg, progress=progress, write=True)
    return Path(cfg.out_dir)
