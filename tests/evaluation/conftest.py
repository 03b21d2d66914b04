"""Fixtures of the evaluation tests: tiny smooth images and a test-only link."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from semcom.link import Link, TransmitResult
from semcom.settings import Setting


def smooth_images(count: int = 3, height: int = 16, width: int = 16, seed: int = 0) -> list[Tensor]:
    """``count`` low-frequency RGB images on the 8-bit grid, ``(3, H, W)`` in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    ys = torch.linspace(0, math.pi, height).reshape(1, height, 1)
    xs = torch.linspace(0, math.pi, width).reshape(1, 1, width)
    out = []
    for _ in range(count):
        a, b, c = torch.rand(3, 3, 1, 1, generator=g)
        img = 0.5 + 0.2 * a * torch.sin(ys + 3 * b) + 0.2 * c * torch.cos(2 * xs)  # (3, H, W)
        out.append(torch.round(img.clamp(0, 1) * 255) / 255)
    return out


class OffsetLink(Link):
    """Test system with known outcomes, for constant-colour images of level ``v / 255``:
    adds ``v // 10`` grey levels to every pixel, charges ``v`` channel uses, and flags
    the image as failed when ``v > 127``. The channel and SNR are ignored."""

    name = "_test-offset"

    def _transmit(self, images: Tensor, channel, snr_db, generator, settings=None) -> TransmitResult:
        levels = torch.round(images.mean(dim=(1, 2, 3)) * 255)
        offsets = torch.div(levels, 10, rounding_mode="floor")
        out = (images * 255 + offsets.view(-1, 1, 1, 1)) / 255
        return TransmitResult.build(out.clamp(0, 1), levels.to(torch.int64), failed=levels > 127)


class KnobLink(Link):
    """Test system with two run-time settings and known outcomes: the decoder adds
    ``shift`` grey levels to every pixel; the encoder charges ``uses + i`` channel uses
    to image ``i`` of a batch (so they differ within a batch)."""

    name = "_test-knob"
    settings = (
        Setting("shift", int, 0, "decoder", low=0, high=40, help="grey levels added"),
        Setting("uses", int, 10, "encoder", low=1, high=1000, help="channel uses of image 0"),
    )

    def _transmit(self, images: Tensor, channel, snr_db, generator, settings=None) -> TransmitResult:
        shift, uses = settings["shift"], settings["uses"]
        out = (images * 255 + shift) / 255
        return TransmitResult.build(out.clamp(0, 1), [uses + i for i in range(images.shape[0])])


@pytest.fixture
def knob_link() -> KnobLink:
    """A :class:`KnobLink` (passed to sweeps as ``{"link": ...}``)."""
    return KnobLink()


@pytest.fixture
def tiny_images() -> list[Tensor]:
    """Three 16x16 smooth images."""
    return smooth_images()


@pytest.fixture
def make_images():
    """:func:`smooth_images` (count, height, width, seed)."""
    return smooth_images


@pytest.fixture
def offset_link() -> OffsetLink:
    """A :class:`OffsetLink` (not registered: passed to sweeps as ``{"link": ...}``)."""
    return OffsetLink()
