"""Staged training: one config file, several runs in order; a stage starts from the
previous stage's weights only when it says ``init_from: previous`` (otherwise from its own
``init_from``, or from a fresh initialization).

::

    model: {name: quad, ...}
    data: {...}
    out_dir: runs/quad
    stages:
      - {name: lic-noise, steps: 20000, modes: {quantize: noise}}
      - name: lic-ste
        steps: 5000
        modes: {quantize: ste}
        init_from: previous                    # stage 1's final weights, all of them
      - name: deepsc
        steps: 20000
        model: {feature_coding: true}          # adds modules: merged into the base model
        init_from: {path: previous, strict: false}   # loads what matches, reports the rest
      - name: lic-ste-twin
        steps: 5000
        modes: {quantize: ste}
        init_from: stage:lic-noise              # an earlier stage's final weights, by name

Each stage is the base config with the stage's keys merged in (mappings merged key by
key, anything else replaced; ``init_from``, ``loss`` and ``snr_db`` are replaced whole)
and trains in ``out_dir/<stage name>``, so each resumes
on its own; a stage whose run is complete is skipped. ``init_from: previous`` (or
``{path: previous, ...}``) names the previous stage's ``final``, ``stage:NAME`` (also as
``path``) the ``final`` of the earlier stage ``NAME``. Overrides given to
:func:`run_stages` apply to the whole file first (``stages.1.steps=100`` works).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

from semcom import configfile
from semcom.configfile import read_config_file
from semcom.errors import SemcomError
from semcom.training.config import TrainConfig, apply_overrides, config_from_dict, resolve_roots

PREVIOUS = "previous"
#: ``init_from: stage:NAME`` names the final weights of the earlier stage NAME
STAGE_PREFIX = "stage:"
#: top-level keys a stage replaces whole instead of merging into the base's mapping
REPLACED = ("init_from", "loss", "snr_db")


def _read(config: TrainConfig | dict[str, Any] | str | Path) -> dict[str, Any] | None:
    """The raw mapping of a file or mapping with roots resolved (None for a TrainConfig)."""
    if isinstance(config, TrainConfig):
        return None
    if isinstance(config, dict):
        return configfile.copy_tree(config)
    path = Path(config)
    raw = read_config_file(path)
    for part in [raw, *(s for s in raw.get("stages") or [] if isinstance(s, dict))]:
        resolve_roots(part, path.resolve().parent)
    return raw


def has_stages(config: TrainConfig | dict[str, Any] | str | Path) -> bool:
    """Whether ``config`` (a file, a mapping or a :class:`TrainConfig`) chains stages."""
    raw = _read(config)
    return raw is not None and "stages" in raw


def merge(base: dict[str, Any], changes: dict[str, Any], replaced: Sequence[str] = ()) -> dict[str, Any]:
    """``base`` with ``changes`` merged in: mappings key by key (recursively), every
    other value, and the top-level keys in ``replaced``, replaced. Neither input is
    modified."""
    out = configfile.copy_tree(base)
    for key, value in changes.items():
        if key not in replaced and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = configfile.copy_tree(value)
    return out


def stage_configs(raw: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``[(stage name, raw config of that stage)]`` in order, ``init_from: previous``
    still unresolved.

    Raises:
        SemcomError: ``stages`` not a non-empty list of mappings with distinct names,
            a stage that sets ``out_dir``, or ``previous`` in the first stage.
    """
    stages = raw.get("stages")
    if not isinstance(stages, list) or not stages:
        raise SemcomError("stages must be a non-empty list of {name: ..., ...overrides}")
    base = {k: v for k, v in raw.items() if k != "stages"}
    root = Path(str(base.get("out_dir", "runs/train")))
    out, seen = [], set()
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict) or not isinstance(stage.get("name"), str) or not stage["name"].strip():
            raise SemcomError(f"stages[{i}] must be a mapping with a name, got {stage!r}")
        name = stage["name"].strip()
        if name in seen or "/" in name or name in (".", ".."):
            raise SemcomError(f"stages[{i}].name {name!r} must be unique and a plain folder name")
        if "out_dir" in stage or "stages" in stage:
            raise SemcomError(f"stages[{i}] ({name}): a stage trains in out_dir/{name}; it cannot set "
                              f"{'out_dir' if 'out_dir' in stage else 'stages'}")
        seen.add(name)
        merged = merge(base, {k: v for k, v in stage.items() if k != "name"}, REPLACED)
        merged["out_dir"] = str(root / name)
        if i == 0 and _names_previous(merged.get("init_from")):
            raise SemcomError(f"stages[0] ({name}): init_from: previous, but there is no previous stage")
        named = _named_stage(merged.get("init_from"))
        if named is not None and named not in seen - {name}:
            raise SemcomError(f"stages[{i}] ({name}): init_from: {STAGE_PREFIX}{named}, but no earlier stage is "
                              f"named {named!r} (earlier: {', '.join(n for n, _ in out) or 'none'})")
        out.append((name, merged))
    return out


def _names_previous(init: Any) -> bool:
    return init == PREVIOUS or (isinstance(init, dict) and init.get("path") == PREVIOUS)


def _init_path(init: Any) -> Any:
    return init.get("path") if isinstance(init, dict) else init


def _named_stage(init: Any) -> str | None:
    """The stage name of ``stage:NAME`` (as ``init_from`` or its ``path``), else None."""
    path = _init_path(init)
    if isinstance(path, str) and path.startswith(STAGE_PREFIX):
        return path[len(STAGE_PREFIX):].strip()
    return None


def _resolve_previous(init: Any, previous: Path, finals: dict[str, Path] | None = None) -> Any:
    """``init`` with ``previous`` replaced by ``previous`` and ``stage:NAME`` by
    ``finals[NAME]`` (the final weights of each earlier stage)."""
    path = _init_path(init)
    named = _named_stage(init)
    if path == PREVIOUS:
        target = str(previous)
    elif named is not None:
        target = str((finals or {})[named])
    else:
        return init
    return {**init, "path": target} if isinstance(init, dict) else target


def _complete(cfg: TrainConfig) -> bool:
    """Whether the stage's run reached its steps and wrote its final weights."""
    from semcom.zoo.checkpoint import read_checkpoint_meta

    out = Path(cfg.out_dir)
    if not ((out / "final.safetensors").is_file() and (out / "last.json").is_file()):
        return False
    try:
        step = read_checkpoint_meta(out / "last")["info"]["training"]["step"]
    except (SemcomError, KeyError, TypeError):
        return False
    return step == cfg.steps


def run_stages(config: dict[str, Any] | str | Path, overrides: Sequence[str] = (), resume: bool | None = None,
               verbose: bool = True) -> Path:
    """Train every stage of ``config`` in order (see the module docstring).

    Returns:
        The last stage's ``out_dir/<name>/final`` base path.

    Raises:
        SemcomError: a malformed ``stages`` list or any stage's failure (the stage is named).
    """
    from semcom.training.distributed import setup_distributed

    raw = _read(config)
    if raw is None or "stages" not in raw:
        raise SemcomError("run_stages needs a config with stages")
    raw = apply_overrides(raw, overrides)
    stages = stage_configs(raw)
    # one process group for all stages under torchrun: destroying and re-joining it
    # between stages once hung both ranks at a stage boundary
    group = setup_distributed(str(stages[0][1].get("device", "auto") or "auto")) if stages else None
    try:
        return _run_stage_list(stages, resume, verbose)
    finally:
        if group is not None:
            group.close()


def _run_stage_list(stages: list[tuple[str, dict[str, Any]]], resume: bool | None, verbose: bool) -> Path:
    """The loop of :func:`run_stages` over parsed ``(name, raw stage)`` pairs."""
    from semcom.training.trainer import Trainer

    previous: Path | None = None
    finals: dict[str, Path] = {}
    for name, stage in stages:
        if previous is not None:
            stage["init_from"] = _resolve_previous(stage.get("init_from"), previous, finals)
        try:
            cfg = config_from_dict(stage)
        except SemcomError as e:
            raise SemcomError(f"stage {name}: {e}") from None
        if resume is not False and _complete(cfg):
            if verbose:
                print(f"stage {name}: complete in {cfg.out_dir}, skipped", file=sys.stderr, flush=True)
            previous = finals[name] = Path(cfg.out_dir) / "final"
            continue
        if verbose:
            print(f"stage {name}: training in {cfg.out_dir}", file=sys.stderr, flush=True)
        previous = finals[name] = Trainer(cfg, resume=resume, verbose=verbose).run()
    assert previous is not None
    return previous
