"""Checkpoint format: safetensors weights + a JSON config that carries their sha256.

A checkpoint ``NAME`` is two files side by side:

* ``NAME.safetensors``: the tensors (no pickle anywhere);
* ``NAME.json``: ``{"format": "semcom-checkpoint/1", "system": ..., "config": {...},
  "sha256": <hex digest of the .safetensors file>, "info": {...}}``.

:func:`load_checkpoint` refuses a file whose hash does not match, so a truncated or
tampered download fails with one clear line instead of a deep traceback.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from semcom.errors import CheckpointError

FORMAT = "semcom-checkpoint/1"


def sha256_file(path: str | Path) -> str:
    """Hex sha256 digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_files(path: str | Path) -> tuple[Path, Path]:
    """``(weights .safetensors, config .json)`` of the checkpoint at ``path`` (given with or
    without either suffix)."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        system: registry name of what the weights belong to.
        config: keyword arguments that rebuild it (``SYSTEMS.create(system, **config)``).
        tensors: name -> tensor (the state dict).
        info: free-form metadata (training data, SNR, measured PSNR, step, ...).
        path: the checkpoint's base path (without suffix).
    """

    system: str
    config: dict[str, Any]
    tensors: dict[str, Tensor]
    info: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def save_checkpoint(path: str | Path, tensors: dict[str, Tensor], system: str,
                    config: dict[str, Any], info: dict[str, Any] | None = None,
                    dtype: torch.dtype | None = None) -> Path:
    """Write ``path.safetensors`` and ``path.json``; returns the base path.

    Args:
        tensors: state dict; tensors are made contiguous and moved to CPU.
        dtype: optionally cast floating tensors (e.g. ``torch.float16`` for shipping).
    """
    from safetensors.torch import save_file

    st_path, js_path = checkpoint_files(path)
    st_path.parent.mkdir(parents=True, exist_ok=True)
    out = {}
    for k, v in tensors.items():
        v = v.detach().to("cpu").contiguous()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v
    tmp = st_path.with_name(st_path.name + ".tmp")
    save_file(out, str(tmp))
    tmp.replace(st_path)  # atomic: a crash never leaves half a weights file under the name
    meta = {"format": FORMAT, "system": system, "config": config,
            "sha256": sha256_file(st_path), "info": info or {}}
    tmp_js = js_path.with_name(js_path.name + ".tmp")
    tmp_js.write_text(json.dumps(meta, indent=2, sort_keys=True, default=_json_default))
    tmp_js.replace(js_path)
    return st_path.with_suffix("")


def as_stored(value: Any) -> Any:
    """``value`` as a checkpoint's JSON stores and reads it back (tuples become lists,
    tensors lists, paths strings): what a loaded ``config`` is compared with."""
    return json.loads(json.dumps(value, default=_json_default))


def same_model_config(saved: dict[str, Any], model: Any) -> bool:
    """Whether a checkpoint's stored model config ``saved`` describes ``model``'s
    ``config``: equal entries, where an entry the checkpoint lacks (an argument added to
    the system after it was written) counts as equal when ``model`` holds the
    constructor's default for it."""
    import inspect

    now = as_stored(dict(model.config))
    if set(saved) - set(now):
        return False
    params = inspect.signature(type(model).__init__).parameters
    for key, value in now.items():
        if key in saved:
            if saved[key] != value:
                return False
        elif key not in params or params[key].default is inspect.Parameter.empty \
                or as_stored(params[key].default) != value:
            return False
    return True


def _json_default(o: Any) -> Any:
    if isinstance(o, Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_checkpoint_meta(path: str | Path) -> dict[str, Any]:
    """The JSON half of a checkpoint, validated (no weights are read)."""
    _, js_path = checkpoint_files(path)
    if not js_path.is_file():
        raise CheckpointError(f"checkpoint config not found: {js_path}")
    try:
        meta = json.loads(js_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"checkpoint config {js_path} is not valid JSON ({e.msg if hasattr(e, 'msg') else e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{js_path} is not a semcom checkpoint (expected format {FORMAT!r})")
    for key in ("system", "config", "sha256"):
        if key not in meta:
            raise CheckpointError(f"checkpoint config {js_path} lacks {key!r}")
    return meta


def load_checkpoint(path: str | Path, verify: bool = True) -> Checkpoint:
    """Load and verify a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: missing files, bad JSON, sha256 mismatch, unreadable tensors.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    st_path, _ = checkpoint_files(path)
    meta = read_checkpoint_meta(path)
    if not st_path.is_file():
        raise CheckpointError(f"checkpoint weights not found: {st_path}")
    if verify:
        digest = sha256_file(st_path)
        if digest != meta["sha256"]:
            raise CheckpointError(f"checkpoint {st_path} is corrupt: sha256 {digest[:12]}... "
                                  f"does not match {str(meta['sha256'])[:12]}... recorded in its config")
    try:
        tensors = load_file(str(st_path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"cannot read checkpoint weights {st_path}: {e}") from None
    return Checkpoint(system=meta["system"], config=meta["config"], tensors=tensors,
                      info=meta.get("info", {}), path=st_path.with_suffix(""))
