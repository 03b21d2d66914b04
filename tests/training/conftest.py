"""Fixtures of the training tests: a folder of small synthetic PNGs and a tiny config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from semcom.data import save_image


def _synthetic_image(g: torch.Generator, height: int = 20, width: int = 24) -> torch.Tensor:
    """A random colour plus a faint sinusoid: a tiny model learns the colours within a
    few dozen steps."""
    colour = torch.rand(3, 1, 1, generator=g)
    freq = 2.0 + 6.0 * torch.rand(2, generator=g)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    return (0.1 + 0.8 * colour + 0.1 * torch.sin(freq[0] * xx + freq[1] * yy)).clamp(0, 1)


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 synthetic 20x24 PNGs (larger than the 16-px training crops)."""
    root = tmp_path_factory.mktemp("images")
    g = torch.Generator().manual_seed(7)
    for i in range(24):
        save_image(_synthetic_image(g), root / f"img_{i:02d}.png")
    return root


@pytest.fixture
def tiny_config(image_folder: Path, tmp_path: Path) -> dict[str, Any]:
    """A config training a tiny ConvJSCC on 16-px crops for a dozen steps (~1 s)."""
    return {
        "model": {"name": "convjscc", "cbr": "1/12", "widths": [8, 8, 8, 8]},
        "data": {"name": "folder", "root": str(image_folder), "crop": 16, "hflip": True},
        "val_data": {"name": "folder", "root": str(image_folder), "crop": 16, "limit": 8},
        "channel": {"name": "awgn"},
        "snr_db": [0, 20],
        "optimizer": {"lr": 3.0e-3},
        "batch_size": 8,
        "steps": 12,
        "val_every": 6,
        "ckpt_every": 6,
        "log_every": 3,
        "out_dir": str(tmp_path / "run"),
        "seed": 3,
        "threads": 1,
        "device": "cpu",
    }
