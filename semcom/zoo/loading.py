"""Building models from checkpoints, and starting a model from (part of) another's weights.

* :func:`load_model`: rebuild the system a checkpoint names and load its weights strictly.
* :func:`init_weights_from`: copy the weights of a zoo entry, a model checkpoint or a
  run's training state ``out_dir/last`` into a model, either all of them (same system
  and configuration, as a fine-tuning run needs) or a subset (:class:`InitSpec`: key
  prefix maps, excluded patterns, non-strict) as a later training stage needs; the
  returned :class:`InitReport` says which tensors were loaded and which were left at
  their initialization.

Run-time settings and training modes are not part of a model's identity: only the
system name and ``model.config`` are compared. A loaded model is switched to the
training modes its checkpoint records (:func:`apply_recorded_modes`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch
from torch import Tensor, nn

from semcom.errors import CheckpointError, SemcomError
from semcom.zoo.checkpoint import Checkpoint, as_stored, checkpoint_files, same_model_config, load_checkpoint

if TYPE_CHECKING:
    from semcom.models.base import JSCCModel

#: ``info["training"]["format"]`` of a run's training state (``out_dir/last``)
TRAINING_FORMAT = "semcom-training-state/1"


def model_state_of(ckpt: Checkpoint) -> dict[str, Tensor]:
    """The model's state dict in a checkpoint: the ``model.*`` part of a training state
    (``out_dir/last``), or all tensors of a model checkpoint."""
    training = ckpt.info.get("training")
    if isinstance(training, dict) and training.get("format") == TRAINING_FORMAT:
        return {k[len("model."):]: v for k, v in ckpt.tensors.items() if k.startswith("model.")}
    return ckpt.tensors


def recorded_modes(info: Mapping[str, Any]) -> dict[str, Any] | None:
    """The training modes a checkpoint's ``info`` records (``info["modes"]`` of a run's
    ``final``, ``info["training"]["modes"]`` of its ``last``), or None when it records none."""
    modes = info.get("modes")
    training = info.get("training")
    if modes is None and isinstance(training, dict) and training.get("format") == TRAINING_FORMAT:
        modes = training.get("modes")
    return modes


def apply_recorded_modes(model: Any, info: Mapping[str, Any], where: Path | str | None) -> None:
    """Switch ``model`` to the training modes its checkpoint's ``info`` records
    (:func:`recorded_modes`), if any: a model loaded from a run's ``final`` behaves as it
    was trained (e.g. straight-through rounding), not in its default modes.

    Raises:
        CheckpointError: recorded modes that are not a mapping, or that the model does
            not have or accept.
    """
    modes = recorded_modes(info)
    if not modes:
        return
    if not isinstance(modes, Mapping):
        raise CheckpointError(f"checkpoint {where}: info modes must be a mapping, got {modes!r}")
    if not callable(getattr(model, "set_modes", None)):
        raise CheckpointError(f"checkpoint {where} records training modes {dict(modes)}, but "
                              f"{getattr(model, 'name', type(model).__name__)} has none")
    try:
        model.set_modes(**modes)
    except SemcomError as e:
        raise CheckpointError(f"checkpoint {where}: cannot restore its training modes: {e}") from None


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> "JSCCModel":
    """Rebuild a model from a checkpoint (a model's or a run's ``out_dir/last``) and load
    its weights strictly, in eval mode, in the training modes it recorded; the same path
    as :func:`semcom.zoo.pretrained.load_built`, for neural systems only.

    The sha256 recorded in the config is verified first. Weights stored in a lower
    precision (e.g. float16) are cast to the model's own dtype (float32).

    Raises:
        CheckpointError: missing or corrupt files, an unknown system or config, a
            checkpoint that holds no neural system, or weights whose names or shapes do
            not match the rebuilt model.
    """
    from semcom.models.base import JSCCModel
    from semcom.zoo.pretrained import load_built

    def neural(built: Any, system: str) -> None:
        if not isinstance(built, JSCCModel):
            raise CheckpointError(f"checkpoint {path}: system {system!r} is not a neural model")

    return load_built(path, kind="system", check=neural).to(map_location).eval()


def load_weights(module: nn.Module, tensors: Mapping[str, Tensor], where: Path | str | None) -> None:
    """Load ``tensors`` into ``module`` strictly: the same names and shapes, floating
    tensors cast to the module's dtypes.

    Raises:
        CheckpointError: missing, unexpected or mis-shaped tensors (some are named).
    """
    own = module.state_dict()
    what = f"{getattr(module, 'name', type(module).__name__)} {getattr(module, 'config', '')}".rstrip()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        parts = ([f"missing {_some(missing)}"] if missing else []) + \
                ([f"unexpected {_some(unexpected)}"] if unexpected else [])
        raise CheckpointError(f"checkpoint {where} does not match {what}: {'; '.join(parts)}")
    resizable = resizable_keys(module)
    wrong = [f"{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if tuple(tensors[k].shape) != tuple(v.shape) and k not in resizable]
    if wrong:
        raise CheckpointError(f"checkpoint {where} does not match {what}: shape mismatch in {_some(wrong)}")
    module.load_state_dict({k: _cast(tensors[k], v) for k, v in own.items()}, strict=True)


# ------------------------------------------------------------------ init_from
@dataclass
class InitSpec:
    """What ``init_from`` loads.

    Attributes:
        source: a zoo name, a model checkpoint path (with or without ``.safetensors``)
            or a run's ``out_dir/last``.
        map: checkpoint key prefix -> model key prefix (``{"enc.": "encoder."}``); the
            longest matching prefix renames a key, others keep their names. Two
            checkpoint keys renamed to one model key are an error.
        exclude: shell patterns on the model's key names never loaded (left at
            initialization), e.g. ``["decoder.refine.*"]``.
        strict: every tensor of the model that is not excluded is loaded, and every
            tensor of the checkpoint is used; with ``False`` the tensors whose (mapped)
            name and shape match are loaded and the rest are reported.
        same_config: also require the same system and ``config`` (the plain string
            form of ``init_from``: a fine-tuning run of the same model).
    """

    source: str
    map: dict[str, str] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)
    strict: bool = False
    same_config: bool = False

    @classmethod
    def from_config(cls, value: str | Path | Mapping[str, Any]) -> "InitSpec":
        """A config's ``init_from``: a string (same system and config, every tensor) or
        ``{path, map, exclude, strict}`` (``strict`` defaults to false).

        Raises:
            SemcomError: an unknown key or a value of the wrong type (named).
        """
        if isinstance(value, (str, Path)):
            return cls(source=str(value), strict=True, same_config=True)
        if not isinstance(value, Mapping):
            raise SemcomError(f"init_from must be a zoo name, a checkpoint path or "
                              f"{{path, map, exclude, strict}}, got {value!r}")
        unknown = sorted(set(value) - {"path", "map", "exclude", "strict"})
        if unknown:
            raise SemcomError(f"unknown config key 'init_from.{unknown[0]}' (known: path, map, exclude, strict)")
        source, prefixes = value.get("path"), value.get("map") or {}
        excluded, strict = value.get("exclude") or [], value.get("strict", False)
        if not isinstance(source, (str, Path)) or not str(source).strip():
            raise SemcomError("init_from.path must be a zoo name or a checkpoint path")
        if not isinstance(prefixes, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                        for k, v in prefixes.items()):
            raise SemcomError(f"init_from.map must map checkpoint key prefixes to model key prefixes, "
                              f"got {prefixes!r}")
        if isinstance(excluded, str):
            excluded = [excluded]
        if not isinstance(excluded, list) or not all(isinstance(p, str) for p in excluded):
            raise SemcomError(f"init_from.exclude must be a list of patterns, got {excluded!r}")
        if not isinstance(strict, bool):
            raise SemcomError(f"init_from.strict must be true or false, got {strict!r}")
        return cls(source=str(source), map=dict(prefixes), exclude=list(excluded), strict=strict)


@dataclass
class InitReport:
    """What :func:`init_weights_from` did (recorded in ``final.json`` and the log).

    Attributes:
        path: the checkpoint's base path; ``sha256`` its weights' digest.
        system, config: what the checkpoint holds.
        loaded: model tensor names given the checkpoint's values.
        left_at_init: model tensor names left as initialized (excluded, absent or of
            another shape), each with the reason in ``reasons``.
        unused: checkpoint tensor names (after mapping) that went nowhere.
    """

    path: Path
    sha256: str
    system: str
    config: dict[str, Any]
    loaded: list[str]
    left_at_init: list[str]
    reasons: dict[str, str]
    unused: list[str]

    def summary(self) -> str:
        """One line for the log."""
        line = f"loaded {len(self.loaded)} of {len(self.loaded) + len(self.left_at_init)} tensors from {self.path}"
        if self.left_at_init:
            line += f"; left at initialization: {_some(self.left_at_init, 5)}"
        if self.unused:
            line += f"; unused from the checkpoint: {_some(self.unused, 3)}"
        return line

    def to_record(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {"path": str(self.path), "sha256": self.sha256, "system": self.system,
                "loaded": self.loaded, "left_at_init": self.left_at_init,
                "left_at_init_reasons": self.reasons, "unused": self.unused}


def resolve_source(source: str | Path) -> Path:
    """The checkpoint base path of a zoo name or a path; a clear error when neither exists."""
    from semcom.zoo.pretrained import has_pretrained, list_pretrained, pretrained_path

    if not str(source).strip():
        raise CheckpointError("init_from is empty: give a zoo name or a checkpoint path")
    path = pretrained_path(str(source)) if has_pretrained(str(source)) else Path(source)
    weights, _ = checkpoint_files(path)
    if not weights.is_file():
        known = ", ".join(sorted(list_pretrained())) or "none shipped"
        raise CheckpointError(f"cannot initialise from {source!r}: no checkpoint {weights} "
                              f"and no zoo model of that name (zoo: {known})")
    return path


def init_weights_from(model: "JSCCModel", source: str | Path | InitSpec | Mapping[str, Any]) -> InitReport:
    """Copy (some of) the weights of a checkpoint into ``model``.

    Args:
        model: the model to overwrite (parameters and buffers).
        source: a zoo name or checkpoint path (same system and config, every tensor:
            a fine-tuning run), or an :class:`InitSpec` / its config mapping
            ``{path, map, exclude, strict}`` (a subset: a later training stage).

    Returns:
        An :class:`InitReport` (``report.path`` is the checkpoint's base path).

    Raises:
        CheckpointError: no such zoo name or checkpoint, corrupt files, another system or
            config where they must match, a map sending two keys to one, a strict load
            that does not cover every tensor, or no tensor loaded at all.
    """
    spec = source if isinstance(source, InitSpec) else InitSpec.from_config(source)  # type: ignore[arg-type]
    ckpt = load_checkpoint(resolve_source(spec.source))
    if spec.same_config and (ckpt.system != model.name or not same_model_config(ckpt.config, model)):
        raise CheckpointError(f"cannot initialise {model.name} {as_stored(dict(model.config))} from "
                              f"{ckpt.path}: it holds {ckpt.system} {ckpt.config} (to load the tensors that "
                              "match, use init_from: {path: ..., strict: false})")
    renamed: dict[str, Tensor] = {}
    origin: dict[str, str] = {}
    for key, value in model_state_of(ckpt).items():
        target = _rename(key, spec.map)
        if target in renamed:
            raise CheckpointError(f"init_from {spec.source!r} ({ckpt.path}): init_from.map sends both "
                                  f"{origin[target]!r} and {key!r} to {target!r}; map each checkpoint "
                                  "key to its own model key")
        renamed[target], origin[target] = value, key
    own = model.state_dict()
    resizable = resizable_keys(model)
    state, reasons = {}, {}
    for key, value in own.items():
        if any(fnmatch.fnmatchcase(key, p) for p in spec.exclude):
            reasons[key] = "excluded"
        elif key not in renamed:
            reasons[key] = "not in the checkpoint"
        elif tuple(renamed[key].shape) != tuple(value.shape) and key not in resizable:
            reasons[key] = f"shape {tuple(renamed[key].shape)} in the checkpoint, {tuple(value.shape)} here"
        else:
            state[key] = _cast(renamed[key], value)
    excluded_source = [k for k in renamed if any(fnmatch.fnmatchcase(k, p) for p in spec.exclude)]
    unused = sorted(k for k in renamed if k not in state and k not in excluded_source)
    left = [k for k in own if k not in state]
    where = f"init_from {spec.source!r} ({ckpt.path})"
    if spec.strict:
        problems = [f"{k}: {reasons[k]}" for k in left if reasons[k] != "excluded"]
        if problems or unused:
            parts = ([f"model tensors not loaded: {_some(problems)}"] if problems else []) + \
                    ([f"checkpoint tensors unused: {_some(unused)}"] if unused else [])
            raise CheckpointError(f"{where} does not match {model.name}: {'; '.join(parts)} "
                                  "(use init_from: {path: ..., strict: false} to load a subset)")
    if not state:
        raise CheckpointError(f"{where}: no tensor of {model.name} matches the checkpoint's "
                              f"(its keys: {_some(sorted(renamed))}); check init_from.map")
    model.load_state_dict(state, strict=False)
    return InitReport(path=ckpt.path, sha256=_sha256_of(ckpt), system=ckpt.system, config=ckpt.config,
                      loaded=[k for k in own if k in state], left_at_init=left,
                      reasons={k: reasons[k] for k in left}, unused=unused)


def _rename(key: str, prefixes: Mapping[str, str]) -> str:
    matches = [p for p in prefixes if key.startswith(p)]
    if not matches:
        return key
    best = max(matches, key=len)
    return prefixes[best] + key[len(best):]


def _sha256_of(ckpt: Checkpoint) -> str:
    from semcom.zoo.checkpoint import read_checkpoint_meta

    return str(read_checkpoint_meta(ckpt.path)["sha256"])  # type: ignore[arg-type]


def resizable_keys(module: nn.Module) -> set[str]:
    """State-dict keys whose shape a checkpoint may change: the integer coding tables of
    entropy models (:class:`~semcom.entropy.tables.TableBuffersModule`), which take the
    checkpoint's shape when loaded (a model saved after ``update()`` into a fresh one)."""
    from semcom.entropy.tables import TableBuffersModule

    keys = set()
    for name, sub in module.named_modules():
        if isinstance(sub, TableBuffersModule):
            keys.update(f"{name}.{b}" if name else b for b in sub._table_buffers)
    return keys


def _cast(stored: Tensor, like: Tensor) -> Tensor:
    return stored.to(like.dtype) if like.is_floating_point() else stored


def _some(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
