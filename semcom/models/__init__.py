"""Neural JSCC systems, registered by name in :data:`semcom.registry.SYSTEMS`.

``create_model("convjscc", cbr=1/12)`` builds one (or a learned codec's model of
:data:`semcom.registry.CODEC_MODELS`: both are what ``semcom train`` trains);
``list_models()`` names the systems;
``save_model`` writes a checkpoint that rebuilds its own model; ``load_model`` and
``init_weights_from`` (re-exported from :mod:`semcom.zoo.loading`) read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from semcom.errors import SemcomError
from semcom.models import adjscc, arjscc, convjscc, digital, fajscc, nuq, quad, resjscc, swinjscc, uncoded  # noqa: F401  (register the systems)
from semcom.models.adjscc import ADJSCC
from semcom.models.base import Encoded, JSCCModel
from semcom.models.convjscc import ConvJSCC
from semcom.models.resjscc import ResJSCC
from semcom.registry import CODEC_MODELS, SYSTEMS
from semcom.zoo.checkpoint import save_checkpoint
from semcom.zoo.loading import init_weights_from, load_model  # re-exported: loading lives in semcom.zoo

__all__ = ["ADJSCC", "ConvJSCC", "Encoded", "JSCCModel", "ResJSCC", "create", "create_model",
           "init_weights_from", "list_models", "load_model", "save_model", "trainable_registry"]


def create_model(name: str, **kwargs: Any) -> JSCCModel:
    """Build the system registered as ``name`` (``SYSTEMS.create``), e.g.
    ``create_model("adjscc", cbr=1/16, size="small")``, or, for a name that is no
    system, the learned codec model of :data:`~semcom.registry.CODEC_MODELS`
    (``create_model("quad_lic", N=64, M=128)``)."""
    return trainable_registry(name).create(name, **kwargs)


def trainable_registry(name: str) -> Any:
    """The registry holding what ``semcom train`` builds for ``model.name``: ``SYSTEMS``,
    or ``CODEC_MODELS`` for a learned codec's model (systems win a shared name).

    Raises:
        UnknownNameError: neither registry has ``name`` (the systems are listed).
    """
    if name not in SYSTEMS and isinstance(name, str) and name in CODEC_MODELS:
        return CODEC_MODELS
    return SYSTEMS


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
    if model.name not in trainable_registry(model.name):
        raise SemcomError(f"model {model.name!r} is not a registered system, so a checkpoint "
                          f"could not rebuild it")
    kind = getattr(model, "checkpoint_kind", "system")
    if kind != "system":  # a learned codec's model: the zoo routes it by its kind
        info = {**(info or {}), "kind": kind}
    return save_checkpoint(path, model.state_dict(), model.name, dict(model.config), info, dtype)
