"""The Swin autoencoder of the NUQ system: two Swin stages each way, 4x down-sampling.

* :class:`SwinAnalysis` (transmitter): ``[0, 1] -> [-1, 1]``; patch embedding (patch 2,
  ``3 -> w0``); stage 0 (``d0`` blocks, width ``w0``); patch merging (``w0 -> w1``);
  stage 1 (``d1`` blocks, width ``w1``); LayerNorm; a 1x1 linear ``w1 -> c``. Then every
  image's features are scaled to a mean square of 1/2 (:func:`unit_power_features`), so
  two of them paired into a complex value have unit average power: the analog
  reference sends them as they are, and the quantizers see one scale in both paths.
* :class:`SwinSynthesis` (receiver): the mirror: 1x1 linear ``c -> w1``, stage 1, patch
  division (``w1 -> w0``), stage 0, a last patch division ``w0 -> 3`` without norm, then
  ``(y + 1) / 2`` (unclamped; ``transmit`` clamps).

Every block alternates regular and shifted windows (:class:`semcom.nn.swin.SwinStage`).
The paper's configuration for 32x32 images (``size="paper"``) is depths [2, 4], widths
[128, 256], window 2 (heads [4, 8]: 32 channels per head, Swin's choice; the paper does
not state them). The default ``size="small"`` halves the widths and the second depth
for this CPU: widths [64, 128], depths [2, 2], heads [2, 4].

Blocks, checked against the paper and the Swin transformer it cites (through WITT): the
standard Swin block of :mod:`semcom.nn.swin`: pre-norm LayerNorm, window attention with
a learned relative-position bias, residual, then an MLP ``C -> 4C -> C`` with GELU
(``mlp_ratio`` 4, Swin's), residual. Patch embedding, merging and division are Swin's
linear layers with LayerNorm. The paper names no other block: no DCVC-style
convolutional block and no LeakyReLU anywhere (GELU is the only nonlinearity).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from semcom.errors import SemcomError
from semcom.nn.conv_fast import Pointwise
from semcom.nn.patches import LayerNorm2d, PatchDivision, PatchEmbedding, PatchMerging
from semcom.nn.swin import SwinStage

#: total down-sampling: patch 2, then one merging
DOWNSAMPLING = 4
#: ``size`` presets: (widths, depths, heads)
SIZES: dict[str, tuple[tuple[int, int], tuple[int, int], tuple[int, int]]] = {
    "paper": ((128, 256), (2, 4), (4, 8)),
    "small": ((64, 128), (2, 2), (2, 4)),
}
#: mean square of each transmitted feature (two features make one unit-power complex value)
FEATURE_POWER = 0.5


def two_ints(values: Sequence[int] | None, default: tuple[int, int], what: str, minimum: int) -> tuple[int, int]:
    """``values`` as two integers ``>= minimum`` (``default`` when None)."""
    if values is None:
        return default
    try:
        out = tuple(int(v) for v in values)
        ok = len(out) == 2 and all(o >= minimum and o == float(v) for o, v in zip(out, values))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SemcomError(f"nuq {what} must be 2 integers >= {minimum}, got {values!r}")
    return out  # type: ignore[return-value]


def unit_power_features(raw: Tensor) -> Tensor:
    """Scale each image of ``(B, ...)`` so that its mean square is :data:`FEATURE_POWER`
    (:func:`semcom.conventions.normalize_power`)."""
    from semcom.conventions import normalize_power

    return normalize_power(raw, power=FEATURE_POWER)


def init_transformer(module: nn.Module) -> None:
    """Swin's initialization of Linear layers: truncated normal (std 0.02), zero bias."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)


class SwinAnalysis(nn.Module):
    """``(B, 3, H, W)`` in ``[0, 1]`` (sides multiples of 4) -> ``(B, c, H/4, W/4)``
    features of mean square 1/2 per image."""

    def __init__(self, widths: tuple[int, int], depths: tuple[int, int], heads: tuple[int, int], window: int,
                 channels: int, mlp_ratio: float) -> None:
        super().__init__()
        w0, w1 = widths
        self.embedding = PatchEmbedding(3, w0, patch=2)
        self.stage0 = SwinStage(w0, depths[0], heads[0], window, mlp_ratio)
        self.merging = PatchMerging(w0, w1)
        self.stage1 = SwinStage(w1, depths[1], heads[1], window, mlp_ratio)
        self.norm = LayerNorm2d(w1)
        self.head = Pointwise(w1, channels)
        init_transformer(self)

    def forward(self, images: Tensor) -> Tensor:
        x = (2.0 * images - 1.0).contiguous(memory_format=torch.channels_last)  # free permutes on CPU
        x = self.stage1(self.merging(self.stage0(self.embedding(x))))
        return unit_power_features(self.head(self.norm(x)).contiguous())


class SwinSynthesis(nn.Module):
    """``(B, c, h, w)`` received features -> ``(B, 3, 4h, 4w)`` unclamped images."""

    def __init__(self, widths: tuple[int, int], depths: tuple[int, int], heads: tuple[int, int], window: int,
                 channels: int, mlp_ratio: float) -> None:
        super().__init__()
        w0, w1 = widths
        self.head = Pointwise(channels, w1)
        self.stage1 = SwinStage(w1, depths[1], heads[1], window, mlp_ratio)
        self.division = PatchDivision(w1, w0)
        self.stage0 = SwinStage(w0, depths[0], heads[0], window, mlp_ratio)
        self.to_image = PatchDivision(w0, 3, norm=False)
        init_transformer(self)

    def forward(self, features: Tensor) -> Tensor:
        x = self.head(features.contiguous(memory_format=torch.channels_last))
        x = self.stage0(self.division(self.stage1(x)))
        return (self.to_image(x) + 1.0) / 2.0
