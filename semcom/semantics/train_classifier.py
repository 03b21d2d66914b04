"""Training the ``cifar10-resnet`` classifier: a small, resumable supervised loop.

Why a loop of its own: :mod:`semcom.training` trains JSCC systems
(:class:`~semcom.models.base.JSCCModel`) through a channel, and its step, objective and
validation are built around ``model(images, channel, snr, generator)`` and
reconstructions. A classifier minimizes cross-entropy of logits against labels with
no channel at all, so bending that trainer would add a second kind of model to every
part of it; this module reuses its pieces instead (the learning-rate schedule, the
seed derivation, the crash-safe, pickle-free ``last`` checkpoint and the run lock).

What one run does (:func:`train_classifier`):

* data: a labelled dataset from :data:`semcom.registry.DATASETS` (default
  ``cifar10-jpeg``, the 50,000 training images), read once into memory as uint8
  (images via ``item_image``, labels via ``item_label``); validation on the lossless
  CIFAR-10 test subset (``cifar10``, split ``test``, 1,000 images) after every epoch;
* augmentation, on the training device for whole batches: a random 32x32 crop of the
  image reflect-padded by ``pad`` (4) pixels and a horizontal flip with probability 1/2;
* optimization: SGD with Nesterov momentum (0.9), weight decay on convolution and
  linear weights only (not on batch-norm parameters), cross-entropy with label
  smoothing (0.1), a linear warm-up over the first ``warmup`` fraction of the steps to
  the peak ``lr``, then half a cosine to 0 (a one-cycle shape,
  :func:`semcom.training.schedules.learning_rate`);
* randomness: the epoch's order comes from a generator seeded by ``(seed, epoch)`` and
  each batch's crops and flips from ``(seed, step)``, so a run resumed from ``last`` at
  any step reads exactly the batches the uninterrupted run would have (on CPU its final
  weights are bit-identical);
* output in ``out``: ``last`` (the training state, written every epoch and every
  ``ckpt_every`` steps), ``metrics.jsonl`` (one line per epoch) and ``final``: the
  classifier alone, a checkpoint of kind ``task_model`` that :func:`semcom.zoo.build`,
  the ``weighted-mse`` loss (``aux_model: {path: OUT/final}``), the accuracy / F1
  metrics and ``semcom semantics sp-weights --classifier OUT/final`` load.

A run whose ``out`` holds a ``last`` continues from it when its options agree with the
stored ones (every option that changes the trajectory must match); ``restart=True``
starts afresh instead.

    semcom semantics train-classifier --epochs 10 --out runs/classifier
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcom.errors import SemcomError
from semcom.semantics.classifier import DEFAULT_WIDTHS, Cifar10ResNet

SYSTEM = "cifar10-resnet"
METRICS = "metrics.jsonl"
FINAL = "final"
#: ``info["training"]["kind"]`` of this loop's ``last`` (a JSCC run's ``last`` has none)
STATE_KIND = "classifier-training"


@dataclass
class ClassifierTrainConfig:
    """Options of :func:`train_classifier` (see the module docstring).

    Attributes:
        epochs: passes over the training set.
        out: output folder.
        batch_size: images per step (the last, incomplete batch of an epoch is dropped).
        lr: peak learning rate; momentum, nesterov, weight_decay: SGD's.
        warmup: fraction of all steps spent ramping the learning rate up.
        label_smoothing: of the cross-entropy.
        pad: reflect padding before the random 32x32 crop (0: no crop).
        hflip: random horizontal flips.
        widths, pool: the classifier's architecture (:class:`Cifar10ResNet`).
        dataset, data_root, limit: the training set (registry name, data root, first
            ``limit`` images); dataset_options: its other arguments.
        val_dataset, val_options, val_limit: the validation set (None: no validation).
        seed: everything random follows from it.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        threads: torch CPU threads (None: leave as is).
        ckpt_every: also write ``last`` every so many steps (0: at epoch ends only).
    """

    epochs: int = 10
    out: str = "runs/classifier"
    batch_size: int = 512
    lr: float = 0.2
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup: float = 0.15
    label_smoothing: float = 0.1
    pad: int = 4
    hflip: bool = True
    widths: list[int] = field(default_factory=lambda: list(DEFAULT_WIDTHS))
    pool: str = "max"
    dataset: str = "cifar10-jpeg"
    data_root: str | None = None
    limit: int | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    val_dataset: str | None = "cifar10"
    val_options: dict[str, Any] = field(default_factory=lambda: {"split": "test"})
    val_limit: int | None = None
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    ckpt_every: int = 0

    #: options that do not change what is computed (free to differ on resume)
    RUNTIME = ("out", "device", "threads", "ckpt_every")

    def check(self) -> "ClassifierTrainConfig":
        """Validate the options; returns ``self``. Raises :class:`SemcomError`."""
        def positive_int(name: str, value: Any, allow_none: bool = False, zero: bool = False) -> None:
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero else 1):
                raise SemcomError(f"train-classifier: {name} must be a {'non-negative' if zero else 'positive'} "
                                  f"int, got {value!r}")

        positive_int("epochs", self.epochs)
        positive_int("batch_size", self.batch_size)
        positive_int("limit", self.limit, allow_none=True)
        positive_int("val_limit", self.val_limit, allow_none=True)
        positive_int("pad", self.pad, zero=True)
        positive_int("ckpt_every", self.ckpt_every, zero=True)
        positive_int("threads", self.threads, allow_none=True)
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise SemcomError(f"train-classifier: lr must be positive, got {self.lr!r}")
        if not 0.0 <= self.warmup < 1.0:
            raise SemcomError(f"train-classifier: warmup must be a fraction in [0, 1), got {self.warmup!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise SemcomError(f"train-classifier: label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise SemcomError("train-classifier: weight_decay must be >= 0 and momentum in [0, 1)")
        return self

    def as_dict(self) -> dict[str, Any]:
        """The options as plain JSON values."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


# ----------------------------------------------------------------------------- data
def load_labelled(name: str, data_root: str | None = None, limit: int | None = None,
                  options: dict[str, Any] | None = None,
                  where: str = "data") -> tuple[Tensor, Tensor, list[str] | None]:
    """A labelled dataset of equal-size images as ``(N, 3, H, W)`` uint8, ``(N,)`` int64
    labels, and its class names (its ``classes`` attribute) or None.

    Raises:
        SemcomError: unknown dataset or arguments, missing data, an item without a label,
            images of different sizes.
    """
    from semcom.data import create_dataset
    from semcom.data.collate import item_image, item_label
    from semcom.registry import DATASETS

    import semcom.data.labelled  # noqa: F401  (registers the labelled datasets)

    options = dict(options or {})
    if data_root is not None:
        options["data_root"] = data_root
    accepted = DATASETS.accepted_kwargs(name)
    if limit is not None and accepted is not None and "limit" in accepted:
        options["limit"] = limit
    DATASETS.check_kwargs(name, options, what=f"{where}: dataset {name!r}", reserved=("root", "transform"))
    dataset = create_dataset(name, **options)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    if count == 0:
        raise SemcomError(f"{where}: dataset {name!r} is empty")
    images: Tensor | None = None
    labels = torch.empty(count, dtype=torch.int64)
    for i in range(count):
        item = dataset[i]
        label = item_label(item)
        if label is None:
            raise SemcomError(f"{where}: dataset {name!r} item {i} has no class label (a labelled dataset is needed)")
        image = item_image(item, f"{where}: dataset {name!r} item {i}")
        if images is None:
            images = torch.empty((count, *image.shape), dtype=torch.uint8)
        elif image.shape != images.shape[1:]:
            raise SemcomError(f"{where}: dataset {name!r} item {i} is {tuple(image.shape)}, the first "
                              f"{tuple(images.shape[1:])}: the images must share one size")
        images[i] = image.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)  # items are on the 8-bit grid
        labels[i] = label
    assert images is not None
    classes = getattr(dataset, "classes", None)
    return images, labels, [str(c) for c in classes] if isinstance(classes, (list, tuple)) else None


def augment(images: Tensor, generator: torch.Generator, pad: int, hflip: bool, size: int | None = None) -> Tensor:
    """Random crops of the reflect-padded images and random horizontal flips, for a batch.

    Args:
        images: ``(B, C, H, W)`` float on any device.
        generator: a CPU generator; the draws are ``B`` row offsets, ``B`` column offsets
            and ``B`` flips, in that order.
        pad: reflect padding on each side before cropping back to ``size``.
        hflip: flip with probability 1/2.
        size: output side (default ``H``, i.e. the input's size; a square crop).

    Returns:
        ``(B, C, size, size)``.
    """
    b, c, h, w = images.shape
    size = int(size or h)
    device = images.device
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect") if pad else images
    room_h, room_w = padded.shape[-2] - size, padded.shape[-1] - size
    top = torch.randint(0, room_h + 1, (b,), generator=generator)
    left = torch.randint(0, room_w + 1, (b,), generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5 if hflip else torch.zeros(b, dtype=torch.bool)
    span = torch.arange(size)
    rows = top[:, None] + span  # (B, size)
    cols = torch.where(flip[:, None], left[:, None] + size - 1 - span, left[:, None] + span)
    batch_index = torch.arange(b)[:, None, None, None]
    channel_index = torch.arange(c)[None, :, None, None]
    return padded[batch_index.to(device), channel_index.to(device), rows[:, None, :, None].to(device),
                  cols[:, None, None, :].to(device)]


def _to_float(images_uint8: Tensor, device: torch.device) -> Tensor:
    return images_uint8.to(device, non_blocking=True).float().div_(255.0)


# ----------------------------------------------------------------------------- parts
def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SemcomError(f"train-classifier: unknown device {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SemcomError("train-classifier: device cuda asked for, but CUDA is not available")
    return device


def build_optimizer(model: nn.Module, cfg: ClassifierTrainConfig) -> torch.optim.SGD:
    """SGD (Nesterov) with weight decay on the weights of convolutions and linear layers only."""
    decay = [p for p in model.parameters() if p.dim() > 1]
    plain = [p for p in model.parameters() if p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)


def schedule_lr(cfg: ClassifierTrainConfig, step: int, total: int) -> float:
    """The learning rate of step ``step`` of ``total``: warm-up then cosine to 0."""
    from semcom.training.schedules import learning_rate
    from semcom.training.specs import ScheduleSpec

    spec = ScheduleSpec(name="cosine", warmup_steps=int(round(cfg.warmup * total)), min_lr=0.0)
    return learning_rate(cfg.lr, step, total, spec)


@torch.no_grad()
def predict_labels(model: nn.Module, images: Tensor, device: torch.device | str = "cpu",
                   batch_size: int = 1000) -> Tensor:
    """Top-1 class of each image: ``(N, 3, H, W)`` uint8 ``images`` (0..255) ->
    ``(N,)`` int64 labels on the CPU. ``model`` runs in eval mode (its mode is
    restored) on ``device``, ``batch_size`` images at a time.

    Raises:
        SemcomError: ``images`` not uint8 ``(N, 3, H, W)``, or ``batch_size`` < 1.
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise SemcomError(f"predict_labels: expected (N, 3, H, W) uint8 images, got {images.dtype} "
                          f"{tuple(images.shape)}")
    if batch_size < 1:
        raise SemcomError(f"predict_labels: batch_size must be >= 1, got {batch_size!r}")
    device = torch.device(device)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    was = model.training
    model.eval()
    try:
        parts = [model(_to_float(images[i:i + batch_size], device).to(dtype)).argmax(dim=1).cpu()
                 for i in range(0, images.shape[0], batch_size)]
    finally:
        model.train(was)
    return torch.cat(parts) if parts else torch.empty(0, dtype=torch.int64)


def evaluate_accuracy(model: nn.Module, images: Tensor, labels: Tensor, device: torch.device,
                      batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` (eval mode; restored) on uint8 ``images`` and ``labels``."""
    from semcom.metrics.task import top1_accuracy

    return top1_accuracy(predict_labels(model, images, device, batch_size), labels.cpu())


def _say(message: str, verbose: bool) -> None:
    if verbose:
        print(message, file=sys.stderr, flush=True)


def _check_finite(loss_sum: Tensor, step: int) -> None:
    if not bool(torch.isfinite(loss_sum)):
        raise SemcomError(f"train-classifier: the loss is not finite by step {step} (lower the learning rate); "
                          "the last checkpoint before it is kept")


def _check_resumable(stored: dict[str, Any], cfg: ClassifierTrainConfig, where: Path) -> None:
    current = cfg.as_dict()
    differ = [k for k in current if k not in ClassifierTrainConfig.RUNTIME and stored.get(k) != current[k]]
    if differ:
        k = differ[0]
        raise SemcomError(f"{where} was trained with {k}={stored.get(k)!r}, this run asks {k}={current[k]!r}: "
                          "use the same options, another --out, or --restart")


# ----------------------------------------------------------------------------- the loop
def train_classifier(config: ClassifierTrainConfig | dict[str, Any], restart: bool = False, verbose: bool = True,
                     on_epoch: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """Train (or continue training) the classifier; returns the base path of ``out/final``.

    Args:
        config: the options (a :class:`ClassifierTrainConfig` or a mapping of its fields).
        restart: ignore an existing ``out/last`` and start afresh.
        verbose: one log line per epoch on stderr.
        on_epoch: called with each epoch's metrics record.

    Raises:
        SemcomError: invalid options, missing data, another run holding ``out``, a
            ``last`` written with other options, a loss that is not finite.
    """
    from semcom.training.data import derive_seed
    from semcom.training.lock import RunLock
    from semcom.training.state import (has_training_state, load_training_state, recover_last,
                                       save_training_state)
    from semcom.zoo.checkpoint import save_checkpoint

    if isinstance(config, dict):
        names = {f.name for f in dataclasses.fields(ClassifierTrainConfig)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise SemcomError(f"train-classifier: unknown option {unknown[0]!r} (known: {', '.join(sorted(names))})")
        config = ClassifierTrainConfig(**config)
    cfg = config.check()
    device = _device(cfg.device)
    threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out)
    lock.acquire()
    try:
        images, labels, classes = load_labelled(cfg.dataset, cfg.data_root, cfg.limit, cfg.dataset_options, "data")
        val = None
        if cfg.val_dataset:
            val = load_labelled(cfg.val_dataset, cfg.data_root, cfg.val_limit, cfg.val_options, "val")[:2]
        n = images.shape[0]
        steps_per_epoch = n // cfg.batch_size
        if steps_per_epoch == 0:
            raise SemcomError(f"train-classifier: batch_size {cfg.batch_size} is larger than the "
                              f"{n} training images")
        total = steps_per_epoch * cfg.epochs
        num_classes = len(classes) if classes else int(labels.max()) + 1
        if val is not None and int(val[1].max()) >= num_classes:
            raise SemcomError("train-classifier: the validation set has classes the training set lacks")

        with torch.random.fork_rng(devices=[]):  # the initial weights follow the seed, not the caller's RNG
            torch.manual_seed(derive_seed("classifier-init", cfg.seed))
            model = Cifar10ResNet(widths=cfg.widths, num_classes=num_classes, pool=cfg.pool)
        model = model.to(device)
        optimizer = build_optimizer(model, cfg)
        step = 0
        recover_last(out)
        if has_training_state(out) and not restart:
            state = load_training_state(out)
            if state.info.get("kind") != STATE_KIND:
                raise SemcomError(f"{out / 'last'} is not a classifier training state: use another --out")
            _check_resumable(state.info.get("config", {}), cfg, out / "last")
            model.load_state_dict(state.model_state)
            optimizer.load_state_dict(state.optimizer_state)
            step = int(state.step)
            _say(f"resuming {out / 'last'} at step {step} of {total}", verbose)
        elif restart:
            (out / METRICS).unlink(missing_ok=True)

        def checkpoint(at: int, extra: dict[str, Any]) -> None:
            save_training_state(out, at, model.state_dict(), optimizer.state_dict(), SYSTEM, model.config,
                                extra={"kind": STATE_KIND, "config": cfg.as_dict(), **extra})

        model.train()
        val_acc: float | None = None
        while step < total:
            epoch, position = divmod(step, steps_per_epoch)
            order = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed("order", cfg.seed, epoch)))
            started, seen = time.perf_counter(), 0
            # running sums stay on the device (no synchronization per step)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            while position < steps_per_epoch:
                index = order[position * cfg.batch_size:(position + 1) * cfg.batch_size]
                gen = torch.Generator().manual_seed(derive_seed("augment", cfg.seed, step))
                x = augment(_to_float(images[index], device), gen, cfg.pad, cfg.hflip)
                y = labels[index].to(device, non_blocking=True)
                lr = schedule_lr(cfg, step, total)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                logits = model(x)
                loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach() * y.shape[0]
                correct += (logits.detach().argmax(dim=1) == y).sum()
                seen += y.shape[0]
                step, position = step + 1, position + 1
                if cfg.ckpt_every and step % cfg.ckpt_every == 0 and position < steps_per_epoch:
                    _check_finite(loss_sum, step)
                    checkpoint(step, {"epoch": epoch})
            _check_finite(loss_sum, step)
            val_acc = evaluate_accuracy(model, *val, device) if val is not None else None
            record = {"epoch": epoch + 1, "step": step, "lr": lr, "loss": float(loss_sum) / max(seen, 1),
                      "train_accuracy": int(correct) / max(seen, 1), "val_accuracy": val_acc,
                      "seconds": round(time.perf_counter() - started, 3), "images": seen}
            with open(out / METRICS, "a") as f:
                f.write(json.dumps(record) + "\n")
            checkpoint(step, {"epoch": epoch + 1, "val_accuracy": val_acc})
            shown = "n/a" if val_acc is None else f"{100 * val_acc:.2f} %"
            _say(f"epoch {epoch + 1}/{cfg.epochs}  loss {record['loss']:.4f}  train acc "
                 f"{100 * record['train_accuracy']:.2f} %  val acc {shown}  ({record['seconds']:.0f} s)", verbose)
            if on_epoch is not None:
                on_epoch(record)
        if val_acc is None and val is not None:
            val_acc = evaluate_accuracy(model, *val, device)
        model.eval()
        info = {"kind": "task_model", "task": "classification", "classes": num_classes, "class_names": classes,
                "dataset": cfg.dataset, "train_images": n, "epochs": cfg.epochs, "steps": total,
                "val_dataset": cfg.val_dataset, "val_accuracy": val_acc, "training_config": cfg.as_dict()}
        return save_checkpoint(out / FINAL, model.state_dict(), SYSTEM, model.config, info)
    finally:
        lock.release()
        torch.set_num_threads(threads)
