"""Pretrained checkpoints shipped in ``semcom/zoo/weights/``.

Each shipped checkpoint is a pair ``NAME.safetensors`` + ``NAME.json`` (see
:mod:`semcom.zoo.checkpoint`); its JSON ``info`` says what it was trained on, at which
CBR and SNR, and what PSNR it measured. The file names are the zoo names, so there is
no second name map to drift out of date.

Each checkpoint has a *kind* (:data:`KINDS`): ``system`` (a link, in
:data:`~semcom.registry.SYSTEMS`), ``learned_codec`` (a learned image codec's model, in
:data:`~semcom.registry.CODEC_MODELS`, which the codecs of
:data:`~semcom.registry.CODECS` code with) or ``task_model`` (a classifier measured on
reconstructions, in :data:`~semcom.registry.TASK_MODELS`), read from ``info["kind"]``;
checkpoints that do not say are systems (the shipped files are not rewritten, so their
recorded sha256 still holds).

:func:`build` is the one way to get a system: a registry name, a zoo name or a
checkpoint path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from semcom.errors import CheckpointError, SemcomError, UnknownNameError
from semcom.zoo.checkpoint import checkpoint_files, load_checkpoint, read_checkpoint_meta

#: where shipped weights live; ``SEMCOM_ZOO`` adds a user folder searched first
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: what ``semcom transmit`` and the demo use when no system is named: the best shipped
#: high-resolution model (small FAJSCC, the paper's 5,000 steps: 2.3-3.3 dB above ADJSCC
#: on Kodak, AWGN 1-13 dB and Rayleigh 1 and 10 dB, measured side by side)
DEFAULT_PRETRAINED = "fajscc_hr_cbr1-16"
#: channels with a better shipped default of their own: ``name -> (zoo name, the channel
#: parameters it was trained at)``. Fast Rayleigh: the same FAJSCC fine-tuned 1,000 steps
#: on Rayleigh fading with a new draw per symbol and perfect CSI, 0.2-0.3 dB above it at
#: 1-13 dB (measured); block fading or imperfect CSI keep the AWGN model's default.
DEFAULT_PRETRAINED_BY_CHANNEL: dict[str, tuple[str, dict[str, Any]]] = {
    "rayleigh": ("fajscc_hr_cbr1-16_rayleigh", {"block_length": 1, "csi_nmse": 0.0}),
}


def default_pretrained(channel: str | None = None, params: dict[str, Any] | None = None) -> str:
    """The zoo name ``semcom transmit`` uses when no system is named: the channel's own
    default (:data:`DEFAULT_PRETRAINED_BY_CHANNEL`) where one is shipped and ``params``
    (the channel's parameters as given; the defaults where absent) match what it was
    trained at, else :data:`DEFAULT_PRETRAINED`. ``channel``: a channel name (None: AWGN)."""
    entry = DEFAULT_PRETRAINED_BY_CHANNEL.get(str(channel).lower()) if channel is not None else None
    if entry is None or not has_pretrained(entry[0]):
        return DEFAULT_PRETRAINED
    name, trained_at = entry
    given = params or {}
    try:
        same = all(float(given.get(k, v)) == float(v) for k, v in trained_at.items())
    except (TypeError, ValueError):  # a malformed value: the channel itself reports it
        same = False
    return name if same else DEFAULT_PRETRAINED

#: what a checkpoint can hold; ``info["kind"]`` says which (default ``system``)
KINDS = ("system", "learned_codec", "task_model")


def _search_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("SEMCOM_ZOO", "").split(os.pathsep) if p]
    return dirs + [WEIGHTS_DIR]


def checkpoint_kind(meta: dict[str, Any]) -> str:
    """The kind of a checkpoint from its JSON meta: ``info["kind"]``, default ``system``.

    Raises:
        CheckpointError: a kind outside :data:`KINDS`.
    """
    kind = str((meta.get("info") or {}).get("kind", "system"))
    if kind not in KINDS:
        raise CheckpointError(f"checkpoint of {meta.get('system')!r} declares kind {kind!r} "
                              f"(known: {', '.join(KINDS)})")
    return kind


def list_pretrained(kind: str | None = None) -> dict[str, dict[str, Any]]:
    """Zoo name -> ``{"system", "kind", "config", "info", "path"}`` for every shipped
    checkpoint (only those of ``kind`` when given)."""
    out: dict[str, dict[str, Any]] = {}
    for d in reversed(_search_dirs()):
        for js in sorted(d.glob("*.json")):
            try:
                meta = read_checkpoint_meta(js)
            except Exception:  # a stray JSON that is not a checkpoint is not a zoo entry
                continue
            try:
                found = checkpoint_kind(meta)
            except CheckpointError:
                continue
            out[js.stem] = {"system": meta["system"], "kind": found, "config": meta["config"],
                            "info": meta.get("info", {}), "path": str(js.with_suffix(""))}
    return out if kind is None else {k: v for k, v in out.items() if v["kind"] == kind}


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


def _registry(kind: str) -> Any:
    from semcom.registry import CODEC_MODELS, SYSTEMS, TASK_MODELS

    return {"system": SYSTEMS, "learned_codec": CODEC_MODELS, "task_model": TASK_MODELS}[kind]


def load_built(path: str | Path, overrides: dict[str, Any] | None = None, kind: str | None = None,
               check: Callable[[Any, str], None] | None = None) -> Any:
    """Rebuild what the checkpoint at ``path`` holds, load its weights strictly
    (:func:`semcom.zoo.loading.load_weights`; a run's ``out_dir/last`` gives its model part)
    and switch it to the training modes the checkpoint records
    (:func:`semcom.zoo.loading.apply_recorded_modes`).

    Args:
        path: checkpoint base path (with or without a suffix).
        overrides: constructor arguments replacing the checkpoint's config (e.g. the
            equalizer); checked against the factory's signature first.
        kind: the kind (:data:`KINDS`) the checkpoint must hold, if any.
        check: ``check(built, system)`` raises for a built object of the wrong type,
            before any weight is read.

    Returns:
        The built object, an ``nn.Module`` in eval mode.

    Raises:
        CheckpointError / SemcomError: missing or corrupt files (sha256), another kind,
            an unknown system, arguments it does not take, weights that do not fit.
    """
    from semcom.zoo.loading import apply_recorded_modes, load_weights, model_state_of

    meta = read_checkpoint_meta(path)
    found = checkpoint_kind(meta)
    if kind is not None and found != kind:
        raise CheckpointError(f"checkpoint {path} holds a {found}, not a {kind}")
    registry, system = _registry(found), str(meta["system"])
    if system not in registry:
        raise CheckpointError(f"checkpoint {path}: unknown {registry.kind} {system!r} "
                              f"(known: {', '.join(registry.names())})")
    overrides = dict(overrides or {})
    registry.check_kwargs(system, overrides, what=f"{registry.kind} {system!r} (checkpoint {path})",
                          partial=True)
    ckpt = load_checkpoint(path)
    config = {**ckpt.config, **overrides}
    try:
        registry.check_kwargs(system, config, what=f"{registry.kind} {system!r}")
    except SemcomError as e:
        raise CheckpointError(f"checkpoint {ckpt.path}: config does not fit {system!r} ({e})") from None
    try:
        built = registry.create(system, **config)
    except TypeError as e:
        raise CheckpointError(f"checkpoint {ckpt.path}: config does not fit {system!r} ({e})") from None
    except CheckpointError:
        raise
    except SemcomError as e:
        raise CheckpointError(f"checkpoint {ckpt.path}: cannot rebuild {system!r}: {e}") from None
    if check is not None:
        check(built, system)
    if not hasattr(built, "load_state_dict"):
        raise CheckpointError(f"checkpoint {ckpt.path}: {registry.kind} {system!r} holds no weights")
    load_weights(built, model_state_of(ckpt), ckpt.path)
    apply_recorded_modes(built, ckpt.info, ckpt.path)
    tables_ready = getattr(built, "tables_ready", None)
    if found == "learned_codec" and callable(tables_ready) and not tables_ready():
        built.update()  # a trainer's output: build the coding tables before anything codes with it
    return built.eval()


def build(source: str | Path, **kwargs: Any) -> Any:
    """Build a system (or learned codec, or task model) by any of its three names.

    Args:
        source: a registry name (``"uncoded"``, ``"digital"``: built from ``kwargs``), a
            zoo name (``semcom models``) or a checkpoint path (``NAME``,
            ``NAME.safetensors`` or ``NAME.json``), tried in that order.
        kwargs: constructor arguments; for a checkpoint they replace its config's values
            (architecture arguments that change the weights' shapes then fail to load).

    Returns:
        The built object; an ``nn.Module`` from a checkpoint is in eval mode.

    Raises:
        SemcomError: unknown name and no such checkpoint (one line naming the systems and
            the zoo), arguments the factory does not take, unreadable checkpoint.
    """
    from semcom.registry import SYSTEMS

    text = str(source).strip()
    if not text:
        raise SemcomError("build needs a system name, zoo name or checkpoint path")
    if text in SYSTEMS:
        SYSTEMS.check_kwargs(text, kwargs)
        return SYSTEMS.create(text, **kwargs)
    if has_pretrained(text):
        return load_built(pretrained_path(text), kwargs)
    weights, config = checkpoint_files(Path(text).expanduser())
    if weights.is_file() or config.is_file():
        return load_built(Path(text).expanduser(), kwargs)
    zoo = ", ".join(sorted(list_pretrained())) or "none"
    raise UnknownNameError(f"{text!r} is no system, zoo model or checkpoint "
                           f"(systems: {', '.join(SYSTEMS.names())}; zoo: {zoo})")
