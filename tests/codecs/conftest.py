"""Fixtures of the codec tests: one small natural image (a Kodak crop, or a synthetic one)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semcom.data import default_data_root

KODIM23 = (default_data_root() or Path("/nonexistent")) / "kodak" / "kodim23.png"


def synthetic_image(height: int, width: int) -> torch.Tensor:
    """A smooth ``(3, H, W)`` image with some edges, for machines without the shared data."""
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    r = 0.5 + 0.4 * torch.sin(2 * math.pi * (1.5 * x + 0.5 * y))
    g = 0.5 + 0.4 * torch.cos(2 * math.pi * (0.7 * x - 1.2 * y))
    b = ((x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.1).float() * 0.6 + 0.2
    return torch.stack([r.expand(height, width), g.expand(height, width), b]).clamp(0, 1)


def kodak_crop(top: int, left: int, height: int, width: int) -> torch.Tensor:
    if not KODIM23.is_file():
        return synthetic_image(height, width)
    with Image.open(KODIM23) as image:
        pixels = np.array(image.convert("RGB"))[top:top + height, left:left + width]
    return torch.from_numpy(pixels).permute(2, 0, 1).float() / 255.0


@pytest.fixture(scope="session")
def image() -> torch.Tensor:
    """``(3, 64, 96)`` crop of kodim23 (the parrots' heads), or a synthetic image."""
    return kodak_crop(180, 300, 64, 96)


@pytest.fixture(scope="session")
def odd_image() -> torch.Tensor:
    """``(3, 17, 33)``: both sides odd."""
    return kodak_crop(200, 320, 17, 33)
