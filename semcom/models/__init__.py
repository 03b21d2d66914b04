"""Neural JSCC systems, registered by name in :data:`semcom.registry.SYSTEMS`.

``create_model("convjscc", cbr=1/12)`` builds one; ``list_models()`` names them;
``save_model`` / ``load_model`` write and read checkpoints that rebuild their own model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from semcom.errors import CheckpointError, SemcomError
from semcom.models import adjscc, convjscc, digital, resjscc, uncoded  # noqa: F401  (register the systems)
from semcom.models.adjscc import ADJSCC
from semcom.models.base import Encoded, JSCCModel
from semcom.models.convjscc import ConvJSCC
from semcom.models.resjscc import ResJSCC
from semcom.registry import SYSTEMS
from semcom.zoo.checkpoint import load_checkpoint, save_checkpoint

__all__ = ["ADJSCC", "ConvJSCC", "Encoded", "JSCCModel", "ResJSCC", "create", "create_model",
           "init_weights_from", "list_models", "load_model", "save_model"]


def create_model(name: str, **kwargs: Any) -> JSCCModel:
    """Build the system registered as ``name`` (``SYSTEMS.create``), e.g.
    ``create_model("adjscc", cbr=1/16, size="small")``."""
    return SYSTEMS.create(name, **kwargs)


#: alias used in the design notes (``semcom.models.create(...)``)
create = create_model


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of the registered neural JSCC models matching a shell pattern."""
    out = []
    for name in SYSTEMS.names(pattern):
        factory = SYSTEMS.get(name)
        if isinstance(factory, type) and issubclass(factory, JSCCModel):
            out.append(name)
    return out


def save_model(model: JSCCModel, path: str | Path, info: dict[str, Any] | None = None,
               dtype: torch.dtype | None = None) -> Path:
    """Write ``path.safetensors`` + ``path.json`` (system name, ``model.config``, sha256).

    Args:
        model: a registered model; its ``config`` must rebuild it.
        info: free-form metadata stored beside the config (training set, SNR, step, ...).
        dtype: cast floating tensors on disk (e.g. ``torch.float16`` to ship weights).

    Returns:
        The checkpoint's base path (without suffix).
    """
    if model.name not in SYSTEMS:
        raise SemcomError(f"model {model.name!r} is not a registered system, so a checkpoint "
                          f"could not rebuild it")
    return save_checkpoint(path, model.state_dict(), model.name, dict(model.config), info, dtype)


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> JSCCModel:
    """Rebuild a model from a checkpoint and load its weights (strictly), in eval mode.

    The sha256 recorded in the config is verified first. Weights stored in a lower
    precision (e.g. float16) are cast to the model's own dtype (float32).

    Raises:
        CheckpointError: missing or corrupt files, an unknown system or config, or
            weights whose names or shapes do not match the rebuilt model.
    """
    ckpt = load_checkpoint(path)
    try:
        model = SYSTEMS.create(ckpt.system, **ckpt.config)
    except TypeError as e:
        raise CheckpointError(f"checkpoint {ckpt.path}: config does not fit system "
                              f"{ckpt.system!r} ({e})") from None
    except SemcomError as e:
        raise CheckpointError(f"checkpoint {ckpt.path}: cannot rebuild system "
                              f"{ckpt.system!r}: {e}") from None
    if not isinstance(model, JSCCModel):
        raise CheckpointError(f"checkpoint {ckpt.path}: system {ckpt.system!r} is not a neural model")
    _load_weights(model, ckpt.tensors, ckpt.path)
    return model.to(map_location).eval()


def init_weights_from(model: JSCCModel, source: str | Path) -> Path:
    """Copy the weights of a checkpoint of the same system and config into ``model``.

    Args:
        model: the model to overwrite (its buffers too).
        source: a zoo name (``semcom models``), a model checkpoint path (with or without
            ``.safetensors``), or a run's training state ``out_dir/last`` (its model part).

    Returns:
        The checkpoint's base path.

    Raises:
        CheckpointError: not a zoo name and no checkpoint there, corrupt files, or a
            checkpoint of another system or config (both are named).
    """
    from semcom.training.state import model_state_of
    from semcom.zoo.checkpoint import as_stored, checkpoint_files
    from semcom.zoo.pretrained import has_pretrained, list_pretrained, pretrained_path

    if not str(source).strip():
        raise CheckpointError("init_from is empty: give a zoo name or a checkpoint path")
    path = pretrained_path(str(source)) if has_pretrained(str(source)) else Path(source)
    weights, _ = checkpoint_files(path)
    if not weights.is_file():
        known = ", ".join(sorted(list_pretrained())) or "none shipped"
        raise CheckpointError(f"cannot initialise from {source!r}: no checkpoint {weights} "
                              f"and no zoo model of that name (zoo: {known})")
    ckpt = load_checkpoint(path)
    if ckpt.system != model.name or ckpt.config != as_stored(dict(model.config)):
        raise CheckpointError(f"cannot initialise {model.name} {as_stored(dict(model.config))} from "
                              f"{ckpt.path}: it holds {ckpt.system} {ckpt.config}")
    _load_weights(model, model_state_of(ckpt), ckpt.path)
    return ckpt.path


def _load_weights(model: JSCCModel, tensors: dict[str, torch.Tensor], where: Path | None) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        parts = ([f"missing {_some(missing)}"] if missing else []) + \
                ([f"unexpected {_some(unexpected)}"] if unexpected else [])
        raise CheckpointError(f"checkpoint {where} does not match {model.name} "
                              f"{model.config}: {'; '.join(parts)}")
    wrong = [f"{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if tuple(tensors[k].shape) != tuple(v.shape)]
    if wrong:
        raise CheckpointError(f"checkpoint {where} does not match {model.name} {model.config}: "
                              f"shape mismatch in {_some(wrong)}")
    state = {k: tensors[k].to(v.dtype) if v.is_floating_point() else tensors[k] for k, v in own.items()}
    model.load_state_dict(state, strict=True)


def _some(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
