"""Training checkpoints without pickle: tensors in safetensors, everything else in JSON.

``out_dir/last`` is an ordinary semcom checkpoint pair (:func:`semcom.zoo.save_checkpoint`)
whose tensors are

* ``model.<name>``: the model's state dict;
* ``optim.state.<param id>.<name>``: the optimizer's per-parameter tensors (Adam's
  ``step``, ``exp_avg``, ``exp_avg_sq``); ``aux_optim.state.*`` likewise for an
  auxiliary optimizer when the run has one;
* ``rng.torch``, ``rng.cuda.<i>``, ``rng.numpy``: random-generator states;

and whose JSON ``info["training"]`` holds the step, the optimizer's param groups and
non-tensor state, the Python/numpy RNG scalars, the run's config and the model's
training modes (``modes``, restored when ``last`` is loaded as a model).

Crash safety: a new checkpoint is written completely as ``last.next`` first (the JSON,
which carries the sha256 of the tensors, last), then moved over ``last`` file by file.
:func:`recover_last` finishes or discards an interrupted move, so ``last`` is always a
complete, verified checkpoint of some step.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from semcom.errors import CheckpointError
from semcom.zoo.checkpoint import load_checkpoint, save_checkpoint, sha256_file
from semcom.zoo.loading import TRAINING_FORMAT, model_state_of  # noqa: F401  (model_state_of re-exported)

LAST = "last"
STAGING = "last.next"


def _pair(base: Path) -> tuple[Path, Path]:
    return base.with_name(base.name + ".safetensors"), base.with_name(base.name + ".json")


# ------------------------------------------------------------------ optimizer state
def optimizer_state_to_flat(state_dict: dict[str, Any], prefix: str = "optim") -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (``<prefix>.state.<pid>.<name>``) and JSON."""
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in state_dict["state"].items():
        for name, value in entry.items():
            if isinstance(value, Tensor):
                tensors[f"{prefix}.state.{int(pid)}.{name}"] = value
            else:
                scalars.setdefault(str(int(pid)), {})[name] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
              for g in state_dict["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def optimizer_state_from_flat(tensors: dict[str, Tensor], meta: dict[str, Any], prefix: str = "optim") -> dict[str, Any]:
    """Inverse of :func:`optimizer_state_to_flat`."""
    state: dict[int, dict[str, Any]] = {}
    head = f"{prefix}.state."
    for key, value in tensors.items():
        if key.startswith(head):
            pid, name = key[len(head):].split(".", 1)
            state.setdefault(int(pid), {})[name] = value
    for pid, entry in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(entry)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


# ----------------------------------------------------------------------- RNG state
def rng_state_to_flat() -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Global torch (CPU and CUDA), numpy and Python RNG states as tensors + JSON."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss_next = random.getstate()
    meta = {"numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
            "python": {"version": version, "state": list(internal), "gauss_next": gauss_next}}
    return tensors, meta


def restore_rng_state(tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state_to_flat` (CUDA states only where the devices exist)."""
    torch.set_rng_state(tensors["rng.torch"].to(torch.uint8))
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("rng.cuda.")),
                                       key=lambda k: int(k.rsplit(".", 1)[1]))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.to(torch.uint8) for s in cuda])
    n = meta["numpy"]
    np.random.set_state((n["kind"], tensors["rng.numpy"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    p = meta["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


# ---------------------------------------------------------------------- save / load
@dataclass
class TrainingState:
    """A loaded ``last`` checkpoint."""

    step: int
    model_state: dict[str, Tensor]
    optimizer_state: dict[str, Any]
    rng_tensors: dict[str, Tensor]
    rng_meta: dict[str, Any]
    system: str
    model_config: dict[str, Any]
    info: dict[str, Any]
    aux_optimizer_state: dict[str, Any] | None = None


def save_training_state(out_dir: str | Path, step: int, model_state: dict[str, Tensor],
                        optimizer_state: dict[str, Any], system: str, model_config: dict[str, Any],
                        extra: dict[str, Any] | None = None,
                        aux_optimizer_state: dict[str, Any] | None = None) -> Path:
    """Write ``out_dir/last`` crash-safely (via ``last.next``); returns its base path.

    ``aux_optimizer_state`` (an auxiliary optimizer's, see :mod:`.optim`) is stored as
    ``aux_optim.*`` tensors beside the main optimizer's."""
    out = Path(out_dir)
    tensors = {f"model.{k}": v for k, v in model_state.items()}
    optim_tensors, optim_meta = optimizer_state_to_flat(optimizer_state)
    rng_tensors, rng_meta = rng_state_to_flat()
    tensors.update(optim_tensors)
    if aux_optimizer_state is not None:
        aux_tensors, aux_meta = optimizer_state_to_flat(aux_optimizer_state, "aux_optim")
        tensors.update(aux_tensors)
    tensors.update(rng_tensors)
    training = {"format": TRAINING_FORMAT, "step": int(step), "optimizer": optim_meta, "rng": rng_meta,
                **({"aux_optimizer": aux_meta} if aux_optimizer_state is not None else {}), **(extra or {})}
    save_checkpoint(out / STAGING, tensors, system, model_config, {"training": training})
    staged_st, staged_js = _pair(out / STAGING)
    last_st, last_js = _pair(out / LAST)
    os.replace(staged_st, last_st)
    os.replace(staged_js, last_js)
    return out / LAST


def recover_last(out_dir: str | Path) -> None:
    """Finish or discard a checkpoint move that a crash interrupted (see module docstring)."""
    out = Path(out_dir)
    staged_st, staged_js = _pair(out / STAGING)
    last_st, last_js = _pair(out / LAST)
    if staged_js.is_file():
        try:
            digest = json.loads(staged_js.read_text()).get("sha256")
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            digest = None
        if digest and staged_st.is_file() and sha256_file(staged_st) == digest:
            os.replace(staged_st, last_st)  # the staged pair was complete: finish the move
            os.replace(staged_js, last_js)
        elif digest and not staged_st.is_file() and last_st.is_file() and sha256_file(last_st) == digest:
            os.replace(staged_js, last_js)  # the tensors were moved already
    for leftover in (staged_st, staged_js, *out.glob(f"{STAGING}.*.tmp"), *out.glob(f"{LAST}.*.tmp")):
        if leftover.is_file():
            leftover.unlink()


def has_training_state(out_dir: str | Path) -> bool:
    """Whether ``out_dir/last`` exists (after :func:`recover_last`)."""
    return all(p.is_file() for p in _pair(Path(out_dir) / LAST))


def load_training_state(out_dir: str | Path) -> TrainingState:
    """Read and verify ``out_dir/last``.

    Raises:
        CheckpointError: missing, corrupt, or not a training checkpoint.
    """
    ckpt = load_checkpoint(Path(out_dir) / LAST)
    training = ckpt.info.get("training")
    if not isinstance(training, dict) or training.get("format") != TRAINING_FORMAT:
        raise CheckpointError(f"{ckpt.path} is not a training checkpoint (no {TRAINING_FORMAT!r} state)")
    model_state = model_state_of(ckpt)
    optimizer_state = optimizer_state_from_flat(ckpt.tensors, training["optimizer"])
    rng_tensors = {k: v for k, v in ckpt.tensors.items() if k.startswith("rng.")}
    aux_meta = training.get("aux_optimizer")
    aux_state = optimizer_state_from_flat(ckpt.tensors, aux_meta, "aux_optim") if aux_meta else None
    return TrainingState(step=int(training["step"]), model_state=model_state,
                         optimizer_state=optimizer_state, rng_tensors=rng_tensors,
                         rng_meta=training["rng"], system=ckpt.system, model_config=ckpt.config,
                         info=training, aux_optimizer_state=aux_state)
