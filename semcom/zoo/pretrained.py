"""Pretrained checkpoints shipped in ``semcom/zoo/weights/``.

Each shipped checkpoint is a pair ``NAME.safetensors`` + ``NAME.json`` (see
:mod:`semcom.zoo.checkpoint`); its JSON ``info`` says what it was trained on, at which
CBR and SNR, and what PSNR it measured. The file names are the zoo names, so there is
no second name map to drift out of date.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from semcom.errors import UnknownNameError
from semcom.zoo.checkpoint import read_checkpoint_meta

#: where shipped weights live; ``SEMCOM_ZOO`` adds a user folder searched first
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: what ``semcom transmit`` uses when no system is named (a high-resolution model)
DEFAULT_PRETRAINED = "adjscc_hr_cbr1-16"


def _search_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("SEMCOM_ZOO", "").split(os.pathsep) if p]
    return dirs + [WEIGHTS_DIR]


def list_pretrained() -> dict[str, dict[str, Any]]:
    """Zoo name -> ``{"system", "config", "info", "path"}`` for every shipped checkpoint."""
    out: dict[str, dict[str, Any]] = {}
    for d in reversed(_search_dirs()):
        for js in sorted(d.glob("*.json")):
            try:
                meta = read_checkpoint_meta(js)
            except Exception:  # a stray JSON that is not a checkpoint is not a zoo entry
                continue
            out[js.stem] = {"system": meta["system"], "config": meta["config"],
                            "info": meta.get("info", {}), "path": str(js.with_suffix(""))}
    return out


def pretrained_path(name: str) -> Path:
    """Base path (no suffix) of the zoo checkpoint ``name``; a clear error if unknown."""
    zoo = list_pretrained()
    if name not in zoo:
        known = ", ".join(sorted(zoo)) or "none shipped"
        raise UnknownNameError(f"unknown pretrained model {name!r} (known: {known})")
    return Path(zoo[name]["path"])


def has_pretrained(name: str) -> bool:
    """Whether the zoo holds ``name``."""
    return name in list_pretrained()
