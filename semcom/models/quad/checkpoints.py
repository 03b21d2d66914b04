"""Quad-LIC checkpoints: read the trainer's output or a shipped zoo file, write a zoo file.

Two forms are read by :func:`load_quad_lic`:

* the trainer's ``out_dir/<stage>/final`` (``semcom train`` trains the model
  ``quad_lic`` of :data:`~semcom.registry.CODEC_MODELS` directly), tables usually not
  built yet;
* a zoo file written by :func:`export_checkpoint` (system ``quad_lic``, ``info.kind =
  "learned_codec"``, the bare model's weights *with* its coding tables), listed by
  ``semcom models`` among the learned codecs.

A model loaded without tables gets :meth:`~semcom.models.quad.lic.QuadLIC.update` at
load time (deterministic on one machine); shipped files carry the tables, so every
machine codes with the same integers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from semcom.errors import CheckpointError, SemcomError
from semcom.models.quad.lic import QuadLIC

#: the model name both checkpoint forms record
CODEC_SYSTEM = "quad_lic"
#: entropy-model entries kept in float32/64 when exporting at a lower precision
_KEEP_PRECISION = ("hyper_prior.", "gaussian.")


def resolve_checkpoint(source: str | Path) -> Path | None:
    """Base path of ``source``: a zoo name (``semcom/zoo/weights`` or ``$SEMCOM_ZOO``) or
    a checkpoint path with or without suffix; None when neither file exists."""
    from semcom.zoo.checkpoint import checkpoint_files
    from semcom.zoo.pretrained import has_pretrained, pretrained_path

    text = str(source).strip()
    if not text:
        return None
    if has_pretrained(text):
        return pretrained_path(text)
    weights, config = checkpoint_files(Path(text).expanduser())
    if weights.is_file() and config.is_file():
        return weights.with_suffix("")
    return None


def model_from_checkpoint(system: str, config: dict[str, Any], tensors: dict[str, torch.Tensor],
                          where: str = "checkpoint") -> QuadLIC:
    """Rebuild a :class:`QuadLIC` from a checkpoint's system, config and tensors."""
    config = dict(config)
    if system != CODEC_SYSTEM:
        raise CheckpointError(f"{where} holds a {system!r}, not a Quad-LIC model ({CODEC_SYSTEM!r})")
    try:
        model = QuadLIC(**config)
    except (TypeError, SemcomError) as e:
        raise CheckpointError(f"{where}: its config does not build a Quad-LIC ({e})") from None
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{where}: weights do not fit the Quad-LIC it describes ({first})") from None
    if not model.tables_ready():
        model.update()
    return model.eval()


def load_quad_lic(source: str | Path) -> QuadLIC:
    """The :class:`QuadLIC` at ``source`` (zoo name or checkpoint path), in eval mode,
    with coding tables.

    Raises:
        CheckpointError: missing or corrupt files (sha256), another system, a config or
            weights that do not fit.
    """
    from semcom.zoo.checkpoint import load_checkpoint

    path = resolve_checkpoint(source)
    if path is None:
        raise CheckpointError(f"Quad-LIC checkpoint {str(source)!r} not found (neither a zoo name nor "
                              f"NAME.safetensors + NAME.json)")
    ckpt = load_checkpoint(path)
    return model_from_checkpoint(ckpt.system, ckpt.config, ckpt.tensors, str(ckpt.path))


def export_checkpoint(source: str | Path | QuadLIC, dest: str | Path, info: dict[str, Any] | None = None,
                      dtype: torch.dtype | None = None) -> Path:
    """Write ``dest.{safetensors,json}`` as a zoo learned codec (system ``quad_lic``,
    ``info.kind = "learned_codec"``), tables built, e.g.
    ``export_checkpoint("runs/quad_lic_q3/lic-ste/final", "semcom/zoo/weights/quad_lic_q3")``.

    Args:
        source: a model or a checkpoint (trainer output or zoo file).
        info: metadata merged over the source's (training budget, measured rate...).
        dtype: cast the transforms' floating weights (e.g. ``torch.float16``); the
            entropy models' entries stay at full precision.

    Returns:
        the base path written.
    """
    from semcom.zoo.checkpoint import load_checkpoint, save_checkpoint

    base_info: dict[str, Any] = {}
    if isinstance(source, QuadLIC):
        model = source
    else:
        path = resolve_checkpoint(source)
        if path is None:
            raise CheckpointError(f"Quad-LIC checkpoint {str(source)!r} not found")
        ckpt = load_checkpoint(path)
        model = model_from_checkpoint(ckpt.system, ckpt.config, ckpt.tensors, str(ckpt.path))
        base_info = {k: v for k, v in ckpt.info.items() if k != "kind"}
    if not model.tables_ready():
        model.update()
    tensors = {}
    for name, tensor in model.state_dict().items():
        if dtype is not None and tensor.is_floating_point() and not name.startswith(_KEEP_PRECISION):
            tensor = tensor.to(dtype)
        tensors[name] = tensor
    shipped = model if dtype is None else model_from_checkpoint(CODEC_SYSTEM, model.config, tensors)
    meta = {**base_info, **(info or {}), "kind": "learned_codec", "codec": CODEC_SYSTEM,
            "model_id": shipped.model_id().hex()}
    return save_checkpoint(dest, tensors, CODEC_SYSTEM, dict(model.config), meta)


def find_by_model_id(model_id: bytes | str) -> Path | None:
    """The zoo checkpoint (``$SEMCOM_ZOO`` or ``semcom/zoo/weights``) whose recorded
    ``info.model_id`` is ``model_id`` (the identifier in a Quad-LIC file's header), or
    None; reads only the JSON halves (what ``semcom decompress FILE`` needs to pick the
    decoding model)."""
    from semcom.zoo.pretrained import list_pretrained

    wanted = model_id.hex() if isinstance(model_id, (bytes, bytearray)) else str(model_id).lower()
    for entry in list_pretrained("learned_codec").values():
        if entry["system"] == CODEC_SYSTEM and str(entry["info"].get("model_id", "")).lower() == wanted:
            return Path(entry["path"])
    return None


__all__ = ["CODEC_SYSTEM", "export_checkpoint", "find_by_model_id", "load_quad_lic",
           "model_from_checkpoint", "resolve_checkpoint"]
