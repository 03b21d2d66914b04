"""Tensor image transforms (no torchvision) and pad-and-crop-back for whole images.

Every transform takes a float image tensor ``(..., H, W)`` (usually ``(3, H, W)``,
values in ``[0, 1]``) and returns one of the same rank. Random transforms draw from an
optional ``torch.Generator`` so a run can be repeated; without one they use torch's
global generator. A generator object copied into several ``DataLoader`` workers gives
every worker the same draws: give each worker its own (``worker_init_fn``) if that matters.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from semcom.errors import SemcomError

Size = Union[int, Sequence[int]]
Transform = Callable[[Tensor], Tensor]

PAD_MODES = ("reflect", "replicate", "constant")


def _pair(size: Size, what: str) -> tuple[int, int]:
    """``int`` or ``(H, W)`` -> ``(H, W)`` of positive ints."""
    if isinstance(size, int) and not isinstance(size, bool):
        pair = (size, size)
    elif isinstance(size, Sequence) and len(size) == 2 and all(isinstance(s, int) for s in size):
        pair = (int(size[0]), int(size[1]))
    else:
        raise SemcomError(f"{what} must be an int or a pair (H, W) of ints, got {size!r}")
    if min(pair) < 1:
        raise SemcomError(f"{what} must be positive, got {size!r}")
    return pair


def _check_image(image: Tensor, what: str) -> None:
    if not isinstance(image, Tensor) or image.dim() < 2:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise SemcomError(f"{what} expects an image tensor (..., H, W), got {shape}")


def _check_mode(mode: str) -> str:
    if mode not in PAD_MODES:
        raise SemcomError(f"unknown padding mode {mode!r} (known: {', '.join(PAD_MODES)})")
    return mode


def pad_hw(image: Tensor, top: int, bottom: int, left: int, right: int, mode: str = "reflect") -> Tensor:
    """Pad the last two dims of ``(..., H, W)`` by the given amounts.

    ``"reflect"`` mirrors without repeating the edge (``d c b | a b c d | c b a``) and
    keeps mirroring for pads larger than the image; a side of length 1 is replicated.
    ``"replicate"`` repeats the edge; ``"constant"`` pads with zeros.
    """
    _check_mode(mode)
    if min(top, bottom, left, right) < 0:
        raise SemcomError("padding amounts must be non-negative")
    if top == bottom == left == right == 0:
        return image
    if mode == "constant":
        return F.pad(image, (left, right, top, bottom))
    lead = image.shape[:-2]
    flat = image.reshape(-1, *image.shape[-2:])
    flat = _pad_axis(flat, top, bottom, -2, mode)
    flat = _pad_axis(flat, left, right, -1, mode)
    return flat.reshape(*lead, *flat.shape[-2:])


def _pad_axis(flat: Tensor, before: int, after: int, dim: int, mode: str) -> Tensor:
    while before > 0 or after > 0:
        length = flat.shape[dim]
        if mode == "replicate" or length == 1:
            step_before, step_after, step_mode = before, after, "replicate"
        else:  # torch's reflect needs pad < length: mirror repeatedly
            step_before, step_after, step_mode = min(before, length - 1), min(after, length - 1), "reflect"
        pad = (0, 0, step_before, step_after) if dim == -2 else (step_before, step_after, 0, 0)
        flat = F.pad(flat, pad, mode=step_mode)
        before, after = before - step_before, after - step_after
    return flat


def _pad_to_at_least(image: Tensor, height: int, width: int, mode: str) -> Tensor:
    """Pad evenly on both sides so the image is at least ``height x width``."""
    dh, dw = max(0, height - image.shape[-2]), max(0, width - image.shape[-1])
    return pad_hw(image, dh // 2, dh - dh // 2, dw // 2, dw - dw // 2, mode)


class RandomCrop:
    """Crop a random ``size`` window; images smaller than ``size`` are padded first.

    Args:
        size: ``int`` or ``(H, W)`` of the output.
        pad_mode: how to pad a too-small image (evenly on both sides): "reflect",
            "replicate" or "constant" (zeros).
        generator: draws the offsets (one ``randint`` per axis per call).
    """

    def __init__(self, size: Size, *, pad_mode: str = "reflect", generator: torch.Generator | None = None) -> None:
        self.size = _pair(size, "crop size")
        self.pad_mode = _check_mode(pad_mode)
        self.generator = generator

    def __call__(self, image: Tensor) -> Tensor:
        _check_image(image, "RandomCrop")
        h, w = self.size
        image = _pad_to_at_least(image, h, w, self.pad_mode)
        top = int(torch.randint(0, image.shape[-2] - h + 1, (1,), generator=self.generator))
        left = int(torch.randint(0, image.shape[-1] - w + 1, (1,), generator=self.generator))
        return image[..., top:top + h, left:left + w]

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, pad_mode={self.pad_mode!r})"


class CenterCrop:
    """Crop the central ``size`` window (the extra pixel of an odd margin goes bottom/right);
    images smaller than ``size`` are padded evenly first."""

    def __init__(self, size: Size, *, pad_mode: str = "reflect") -> None:
        self.size = _pair(size, "crop size")
        self.pad_mode = _check_mode(pad_mode)

    def __call__(self, image: Tensor) -> Tensor:
        _check_image(image, "CenterCrop")
        h, w = self.size
        image = _pad_to_at_least(image, h, w, self.pad_mode)
        top, left = (image.shape[-2] - h) // 2, (image.shape[-1] - w) // 2
        return image[..., top:top + h, left:left + w]

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size}, pad_mode={self.pad_mode!r})"


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p`` (one ``rand`` draw per call)."""

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None) -> None:
        if not 0.0 <= float(p) <= 1.0:
            raise SemcomError(f"flip probability must be in [0, 1], got {p!r}")
        self.p = float(p)
        self.generator = generator

    def draw(self) -> bool:
        """Whether the next image is flipped (the one ``rand`` draw of a call)."""
        return float(torch.rand((), generator=self.generator)) < self.p

    def __call__(self, image: Tensor) -> Tensor:
        _check_image(image, "RandomHorizontalFlip")
        return image.flip(-1) if self.draw() else image

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Iterable[Transform]) -> None:
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise SemcomError(f"Compose expects callables, got {type(t).__name__}")

    def __call__(self, image: Tensor) -> Tensor:
        for t in self.transforms:
            image = t(image)
        return image

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


# ----------------------------------------------------------------------------- whole-image evaluation
def pad_to_multiple(images: Tensor, multiple: int, mode: str = "replicate") -> tuple[Tensor, tuple[int, int]]:
    """Pad ``(B, 3, H, W)`` (or ``(3, H, W)``) at the bottom and right to multiples of ``multiple``.

    The padding is part of what a model transmits (it counts in the channel uses);
    :func:`crop_to` with the returned size removes it from the reconstruction.

    Args:
        images: float images ``(..., H, W)``.
        multiple: the size divisor ``m`` (e.g. 16 or 64); ``1`` returns the input.
        mode: "replicate" (default), "reflect" or "constant" (zeros).

    Returns:
        ``(padded, (H, W))``: padded ``(..., ceil(H/m) m, ceil(W/m) m)`` and the original size.
    """
    _check_image(images, "pad_to_multiple")
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise SemcomError(f"pad_to_multiple: multiple must be a positive int, got {multiple!r}")
    h, w = int(images.shape[-2]), int(images.shape[-1])
    pad_h, pad_w = -h % multiple, -w % multiple
    return pad_hw(images, 0, pad_h, 0, pad_w, mode), (h, w)


def crop_to(images: Tensor, size: Size) -> Tensor:
    """Keep the top-left ``size = (H, W)`` of ``(..., H', W')``: undoes :func:`pad_to_multiple`."""
    _check_image(images, "crop_to")
    h, w = _pair(size, "crop_to size")
    if images.shape[-2] < h or images.shape[-1] < w:
        raise SemcomError(f"crop_to: cannot crop {tuple(images.shape[-2:])} to the larger size {(h, w)}")
    return images[..., :h, :w]
