"""Fixtures of the codec tests: small natural images cut from the Kodak image shipped
with the package (``semcom/assets/kodim23.png``), so the tests are the same with and
without ``../shared/data``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import semcom

KODIM23 = Path(semcom.__file__).resolve().parent / "assets" / "kodim23.png"


def kodak_crop(top: int, left: int, height: int, width: int) -> torch.Tensor:
    """``(3, height, width)`` crop of the shipped kodim23, in ``[0, 1]``."""
    with Image.open(KODIM23) as image:
        pixels = np.array(image.convert("RGB"))[top:top + height, left:left + width]
    return torch.from_numpy(pixels).permute(2, 0, 1).float() / 255.0


@pytest.fixture(scope="session")
def image() -> torch.Tensor:
    """``(3, 64, 96)`` crop of kodim23 (the parrots' heads)."""
    return kodak_crop(180, 300, 64, 96)


@pytest.fixture(scope="session")
def odd_image() -> torch.Tensor:
    """``(3, 17, 33)``: both sides odd."""
    return kodak_crop(200, 320, 17, 33)
