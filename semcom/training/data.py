"""Training data: datasets from the registry, and a data order that is a function of the step.

The order of training samples never depends on how far a run got: step ``s`` of a run
with global batch ``B`` reads positions ``[p B, (p + 1) B)`` of the permutation of epoch
``e`` (``e, p = divmod(s, batches_per_epoch)``), drawn from a generator seeded by
``(seed, e)``. Rank ``r`` of ``W`` takes slice ``r`` of that global batch, so ranks see
distinct samples. Each sample carries its own seed ``(seed, s, position)`` for the random
crop and flip. A resumed run, or one with data-loader workers, therefore reads exactly
the same pixels at every step.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import Tensor
from torch.utils.data import ConcatDataset, Dataset, Subset

from semcom.data.collate import item_image, item_label
from semcom.errors import SemcomError
from semcom.training.config import DataSpec


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed that depends on every part (independent streams per purpose/step/rank)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


# ---------------------------------------------------------------------- building
#: dataset arguments the trainer sets itself (not allowed in a config's data section)
DATASET_RESERVED = ("root", "transform", "limit")


def _create_dataset(name: str, root: str | None, options: dict[str, Any], limit: int | None,
                    where: str) -> Dataset:
    import semcom.data
    import semcom.data.labelled  # noqa: F401  (registers the labelled datasets)
    from semcom.registry import DATASETS

    DATASETS.check_kwargs(name, options, what=f"{where}: dataset {name!r}", reserved=DATASET_RESERVED)
    accepted = DATASETS.accepted_kwargs(name)
    if limit is not None and accepted is not None and "limit" in accepted:
        options = {**options, "limit": limit}  # lets the dataset skip loading the rest
    try:
        return semcom.data.create_dataset(name, root, **options)
    except TypeError as e:
        raise SemcomError(f"cannot build dataset {name!r} from '{where}': {e}") from None


def build_dataset(spec: DataSpec, where: str = "data") -> Dataset:
    """The dataset(s) of ``spec`` (concatenated, cut to ``limit``); images untransformed."""
    parts = []
    for i, (name, root, options) in enumerate(spec.components()):
        part_where = f"{where}.sources[{i}]" if spec.sources else where
        limit = spec.limit if len(spec.components()) == 1 else None
        parts.append(_create_dataset(name, root, options, limit, part_where))
    dataset: Dataset = parts[0] if len(parts) == 1 else ConcatDataset(parts)
    n = len(dataset)  # type: ignore[arg-type]
    if spec.limit is not None and spec.limit < n:
        dataset, n = Subset(dataset, range(spec.limit)), spec.limit
    if n == 0:
        raise SemcomError(f"{where}: the dataset is empty")
    return dataset


@dataclass
class Batch:
    """What one training step reads.

    Attributes:
        images: ``(B, 3, H, W)`` float32 in ``[0, 1]``.
        labels: ``(B,)`` int64 class labels when every item of the dataset has one
            (e.g. CIFAR-10), else None.
    """

    images: Tensor
    labels: Tensor | None = None

    def to(self, device: torch.device, non_blocking: bool = False) -> "Batch":
        """The batch on ``device``."""
        labels = None if self.labels is None else self.labels.to(device, non_blocking=non_blocking)
        return Batch(self.images.to(device, non_blocking=non_blocking), labels)

    def pin_memory(self) -> "Batch":
        """Page-locked copy (used by the ``DataLoader`` with ``pin_memory=True``)."""
        return Batch(self.images.pin_memory(), None if self.labels is None else self.labels.pin_memory())


class TrainSamples(Dataset):
    """Training view: item ``(index, sample_seed)`` -> ``(image, label)``, the image
    randomly cropped/flipped, the label an int or None (unlabelled datasets).

    The crop offsets and the flip are drawn from a generator seeded by ``sample_seed``,
    so the sample depends only on the key (not on the worker or on earlier samples).

    Args:
        dataset: the underlying dataset (items: images or ``(image, label)``).
        crop: square crop side, or None for the whole image (smaller images are
            reflect-padded first, see :class:`semcom.data.RandomCrop`).
        hflip: flip horizontally with probability 1/2.
        pad: reflect-pad every image by this many pixels on each side before the crop
            (``None``: no padding beyond what a too-small image needs).
    """

    def __init__(self, dataset: Dataset, crop: int | None, hflip: bool, pad: int | None = None) -> None:
        if pad and crop is None:
            raise SemcomError("padding before the crop needs a crop size")
        self.dataset, self.crop, self.hflip, self.pad = dataset, crop, hflip, pad

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> tuple[Tensor, int | None]:
        from semcom.data.transforms import RandomCrop, RandomHorizontalFlip, pad_hw

        index, sample_seed = key
        item = self.dataset[index]
        image = item_image(item)
        g = torch.Generator().manual_seed(sample_seed)
        if self.pad:
            image = pad_hw(image, self.pad, self.pad, self.pad, self.pad, "reflect")
        if self.crop is not None:
            image = RandomCrop(self.crop, generator=g)(image)
        if self.hflip:
            image = RandomHorizontalFlip(generator=g)(image)
        return image.contiguous(), item_label(item)

    def __getitems__(self, keys: list[tuple[int, int]]) -> Batch | list[tuple[Tensor, int | None]]:
        """A whole batch (the ``DataLoader`` asks for one at a time): a :class:`Batch`.

        Uncropped images of an untransformed in-memory array (CIFAR-10) are read as one
        tensor and flipped with the same per-sample draws as :meth:`__getitem__`, so the
        pixels are identical; anything else goes image by image.
        """
        from semcom.data.labelled import ArrayImageDataset
        from semcom.data.transforms import RandomHorizontalFlip

        base, indices = self.dataset, [i for i, _ in keys]
        if isinstance(base, Subset):
            base, indices = base.dataset, [base.indices[i] for i in indices]
        if self.crop is not None or not isinstance(base, ArrayImageDataset) or base.transform is not None:
            return [self[key] for key in keys]
        images = base.images(indices)
        if self.hflip:
            mask = torch.tensor([RandomHorizontalFlip(generator=torch.Generator().manual_seed(seed)).draw()
                                 for _, seed in keys], dtype=torch.bool)
            images[mask] = images[mask].flip(-1)
        return Batch(images.contiguous(), base.labels[indices].long())


class ValSamples(Dataset):
    """Validation view: item ``index`` -> image, centre-cropped to ``crop`` if given."""

    def __init__(self, dataset: Dataset, crop: int | None) -> None:
        self.dataset, self.crop = dataset, crop

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Tensor:
        from semcom.data.transforms import CenterCrop

        image = item_image(self.dataset[index])
        if self.crop is not None:
            image = CenterCrop(self.crop)(image)
        return image.contiguous()

    def batches(self, batch_size: int) -> list[list[int]]:
        """Index batches in dataset order, each of one image size (whole images vary)."""
        from semcom.data.collate import group_by_size, image_sizes

        n = len(self)
        if self.crop is not None:
            return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
        base = self.dataset
        if isinstance(base, Subset) and hasattr(base.dataset, "sizes"):  # a limit: skip decoding
            every = image_sizes(base.dataset)
            sizes = [every[i] for i in base.indices]
        else:
            sizes = image_sizes(base)
        return group_by_size(sizes, batch_size)


def collate_samples(samples: list[tuple[Tensor, int | None]] | Batch) -> Batch:
    """Stack ``(image, label)`` samples into a :class:`Batch` (labels kept only when every
    sample has one); a clear error when image sizes differ. A batch already stacked
    (:meth:`TrainSamples.__getitems__`) passes through."""
    if isinstance(samples, Batch):
        return samples
    sizes = {tuple(image.shape) for image, _ in samples}
    if len(sizes) > 1:
        raise SemcomError(f"training images differ in size ({', '.join(map(str, sorted(sizes)[:3]))}); "
                          "set data.crop to cut them to one size")
    labels = [label for _, label in samples]
    stacked = None if any(label is None for label in labels) else torch.tensor(labels, dtype=torch.int64)
    return Batch(torch.stack([image for image, _ in samples]), stacked)


# ---------------------------------------------------------------------- ordering
class StepBatchSampler:
    """For each step in ``[start_step, total_steps)``, this rank's ``[(index, sample_seed)]``.

    Args:
        num_samples: dataset length ``N``.
        global_batch: images per step over all ranks (a multiple of ``world_size``).
        seed: run seed.
        rank, world_size: this process's share (slice ``rank`` of every global batch).
        start_step, total_steps: the steps to produce.

    Epochs drop the last ``N mod global_batch`` samples of each permutation.
    """

    def __init__(self, num_samples: int, global_batch: int, seed: int, rank: int = 0,
                 world_size: int = 1, start_step: int = 0, total_steps: int = 0) -> None:
        if global_batch % world_size:
            raise SemcomError(f"batch_size {global_batch} must be divisible by the number of processes {world_size}")
        if num_samples < global_batch:
            raise SemcomError(f"the training set has {num_samples} images, fewer than batch_size {global_batch}")
        self.num_samples, self.global_batch, self.seed = num_samples, global_batch, seed
        self.rank, self.world_size = rank, world_size
        self.start_step, self.total_steps = start_step, total_steps
        self.batches_per_epoch = num_samples // global_batch
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def permutation(self, epoch: int) -> Tensor:
        """The order of epoch ``epoch``: ``(N,)`` int64, from a generator seeded by (seed, epoch)."""
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(derive_seed("data-order", self.seed, epoch))
            self._epoch, self._perm = epoch, torch.randperm(self.num_samples, generator=g)
        return self._perm

    def batch(self, step: int) -> list[tuple[int, int]]:
        """This rank's ``(dataset index, sample seed)`` pairs for step ``step``."""
        epoch, pos = divmod(step, self.batches_per_epoch)
        local = self.global_batch // self.world_size
        start = pos * self.global_batch + self.rank * local
        indices = self.permutation(epoch)[start:start + local].tolist()
        first = self.rank * local
        return [(i, derive_seed("augment", self.seed, step, first + j)) for j, i in enumerate(indices)]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start_step, self.total_steps):
            yield self.batch(step)

    def __len__(self) -> int:
        return max(self.total_steps - self.start_step, 0)
