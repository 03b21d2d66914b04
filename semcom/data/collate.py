"""Batching whole evaluation images of different sizes.

Kodak mixes 768x512 and 512x768 images and Urban100 has a dozen sizes, so whole-image
evaluation either uses ``batch_size=1`` or batches only images of equal size:

    sampler = SizeGroupedBatchSampler.from_dataset(dataset, batch_size=8)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_images)
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler, default_collate

from semcom.errors import SemcomError


def item_image(item: Any, where: str = "dataset item") -> Tensor:
    """The image of one dataset item, as a ``(3, H, W)`` float32 tensor.

    Args:
        item: an image ``(3, H, W)`` (or ``(1, 3, H, W)``), a tuple ``(image, *rest)``
            such as ``(image, label)``, or a mapping ``{"image": image, ...}``.
        where: names the item in the error message (e.g. ``"dataset item 7"``).

    Raises:
        SemcomError: the item holds no RGB image tensor.
    """
    if isinstance(item, dict):
        item = item.get("image")
    elif isinstance(item, (tuple, list)):
        item = item[0] if item else None
    if isinstance(item, Tensor) and item.dim() == 4 and item.shape[0] == 1:
        item = item[0]
    if not isinstance(item, Tensor) or item.dim() != 3 or item.shape[0] != 3:
        shape = tuple(item.shape) if isinstance(item, Tensor) else type(item).__name__
        raise SemcomError(f"{where} is not an RGB image tensor (3, H, W): got {shape}")
    return item.float()


def item_label(item: Any) -> int | None:
    """The class label of one dataset item, or None when it has none.

    Args:
        item: ``(image, label, ...)`` or ``{"image": ..., "label": ...}`` with an integer
            label (a Python or NumPy integer, or a one-element integer tensor), or a bare
            image (no label). Booleans and floats are not labels.
    """
    if isinstance(item, dict):
        label = item.get("label")
    elif isinstance(item, (tuple, list)) and len(item) > 1:
        label = item[1]
    else:
        return None
    if isinstance(label, Tensor):
        if label.numel() != 1 or label.is_floating_point() or label.is_complex() or label.dtype == torch.bool:
            return None
        return int(label.item())
    if isinstance(label, (int, np.integer)) and not isinstance(label, (bool, np.bool_)):
        return int(label)
    return None


def collate_images(batch: Sequence[Any]) -> Any:
    """Stack items that are images ``(3, H, W)`` or tuples ``(image, *rest)`` of one size.

    Returns:
        ``(B, 3, H, W)`` for image items; for tuples, ``(images, *collated_rest)``
        (labels become an int64 tensor, as with torch's default collate).

    Raises:
        SemcomError: the images differ in size (use ``batch_size=1`` or
            :class:`SizeGroupedBatchSampler`).
    """
    if len(batch) == 0:
        raise SemcomError("collate_images: empty batch")
    tuples = isinstance(batch[0], (tuple, list))
    images = [item[0] if tuples else item for item in batch]
    shapes = {tuple(image.shape) for image in images}
    if len(shapes) > 1:
        raise SemcomError(f"cannot batch images of different sizes {sorted(shapes)}: use batch_size=1 or "
                          "SizeGroupedBatchSampler")
    stacked = torch.stack(images)
    if not tuples:
        return stacked
    rest = [default_collate([item[i] for item in batch]) for i in range(1, len(batch[0]))]
    return (stacked, *rest)


def group_by_size(sizes: Sequence[tuple[int, int]], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of at most ``batch_size`` images of equal ``(H, W)``.

    Sizes appear in order of their first occurrence and indices keep dataset order, so
    the batches (and thus results) are deterministic.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise SemcomError(f"batch_size must be a positive int, got {batch_size!r}")
    groups: dict[tuple[int, int], list[int]] = {}
    for index, size in enumerate(sizes):
        groups.setdefault(tuple(size), []).append(index)  # type: ignore[arg-type]
    return [members[i:i + batch_size] for members in groups.values() for i in range(0, len(members), batch_size)]


def image_sizes(dataset: Any) -> list[tuple[int, int]]:
    """``(H, W)`` of every item: ``dataset.sizes()`` when it has one, else by loading each item."""
    if hasattr(dataset, "sizes"):
        return [tuple(s) for s in dataset.sizes()]  # type: ignore[misc]
    sizes = []
    for i in range(len(dataset)):
        item = dataset[i]
        image: Tensor = item[0] if isinstance(item, (tuple, list)) else item
        sizes.append((int(image.shape[-2]), int(image.shape[-1])))
    return sizes


class SizeGroupedBatchSampler(Sampler[list[int]]):
    """A ``batch_sampler`` that yields batches of equal-size images (see :func:`group_by_size`).

    ``sizes`` must be the sizes *after* the dataset's transform; ``from_dataset`` uses
    ``dataset.sizes()`` (sizes on disk), which is right for whole-image evaluation.
    """

    def __init__(self, sizes: Sequence[tuple[int, int]], batch_size: int) -> None:
        self.batches = group_by_size(sizes, batch_size)

    @classmethod
    def from_dataset(cls, dataset: Any, batch_size: int) -> "SizeGroupedBatchSampler":
        return cls(image_sizes(dataset), batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        return iter([list(b) for b in self.batches])

    def __len__(self) -> int:
        return len(self.batches)
