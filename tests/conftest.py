"""Shared test settings: deterministic, 2 torch threads, paths to the shared data."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its thread pool

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get("SEMCOM_TEST_THREADS", "2")))

from semcom.data import default_data_root  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: the library's own rule: $SEMCOM_DATA, else ../shared/data beside the repository
SHARED_DATA = default_data_root() or REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """Path to ``../shared/data``; skips the test when it is not beside the repo."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def gen() -> torch.Generator:
    """A seeded CPU generator."""
    return torch.Generator().manual_seed(1234)
