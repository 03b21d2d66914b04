"""Config files shared by training and evaluation: reading, ``${VAR}`` expansion,
``key.sub=value`` overrides and paths relative to the file.

What each config means (its keys, defaults and validation) lives with its user
(:mod:`semcom.training.config`, :mod:`semcom.evaluation.config`); this module only
turns a file plus command-line overrides into plain nested dicts and lists.

* :func:`read_config_file`: a YAML (``.yaml``/``.yml``, or any other suffix), JSON
  (``.json``) or TOML (``.toml``) file holding a mapping.
* :func:`expand_env`: ``${VAR}`` / ``${VAR:-default}`` in every string of nested dicts
  and lists (an empty variable counts as unset).
* :func:`apply_override` / :func:`apply_overrides`: ``optimizer.lr=1e-4``,
  ``systems.0.cbr=1/16``; values are parsed as YAML.
* :func:`resolve_path`: a relative path written in a file is relative to the file's folder.

Every mistake is a :class:`~semcom.errors.SemcomError` with a one-line message.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Any, Collection, Sequence

from semcom.errors import SemcomError

__all__ = [
    "apply_override",
    "apply_overrides",
    "check_keys",
    "copy_tree",
    "expand_env",
    "parse_override",
    "read_config_file",
    "resolve_path",
]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def copy_tree(value: Any) -> Any:
    """Copy nested dicts and lists (tuples become lists); other objects (numbers, or a
    ``Link`` placed in a config by code) are shared, not copied."""
    if isinstance(value, dict):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [copy_tree(v) for v in value]
    return value


# ------------------------------------------------------------------------ reading
def expand_env(value: Any) -> Any:
    """Expand ``${VAR}`` / ``${VAR:-default}`` in a string, or in every string of nested
    dicts and lists (returned as new containers; other values unchanged).

    Raises:
        SemcomError: a variable that is unset (or empty) and has no default.
    """
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        env = os.environ.get(m.group(1))
        if env:
            return env
        if m.group(2) is not None:
            return m.group(2)
        raise SemcomError(f"environment variable {m.group(1)} is not set (used in the config as {m.group(0)})")

    return _ENV.sub(sub, value)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a config file into a mapping (no expansion, no validation).

    The suffix picks the parser: ``.toml`` TOML, ``.json`` JSON, anything else YAML.

    Raises:
        SemcomError: the file is missing, not text, malformed (with the line where the
            parser says), empty, or does not hold a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise SemcomError(f"config file not found: {path}")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise SemcomError(f"config file {path} is not a text file") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            raw = tomllib.loads(text)
        elif suffix == ".json":
            raw = json.loads(text) if text.strip() else None
        else:
            import yaml

            raw = yaml.safe_load(text)
    except Exception as e:  # yaml.YAMLError, json.JSONDecodeError, tomllib.TOMLDecodeError
        raise SemcomError(f"config file {path} is not valid{_error_line(e)}: {_error_reason(e)}") from None
    if raw is None:
        raise SemcomError(f"config file {path} is empty")
    if not isinstance(raw, dict):
        raise SemcomError(f"config file {path} must hold a mapping of keys, got {type(raw).__name__}")
    return raw


def _error_line(e: Exception) -> str:
    mark = getattr(e, "problem_mark", None)  # YAML
    if mark is not None:
        return f" (line {mark.line + 1})"
    if isinstance(e, json.JSONDecodeError):
        return f" (line {e.lineno})"
    return ""  # TOML names the line in its message


def _error_reason(e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return e.msg
    reason = getattr(e, "problem", None) or str(e).strip()
    return reason.splitlines()[0] if reason else type(e).__name__


def resolve_path(text: str, base: str | Path) -> str:
    """A path written in a config file, made absolute: ``${VAR}`` expanded, ``~``
    expanded, and a relative path taken against ``base`` (the file's folder)."""
    path = Path(expand_env(text)).expanduser()
    return str(path if path.is_absolute() else (Path(base) / path).resolve())


# ---------------------------------------------------------------------- overrides
def parse_override(item: str) -> tuple[list[str], Any]:
    """``"a.b=value"`` -> ``(["a", "b"], value)``, the value parsed as YAML (text that is
    not valid YAML stays a string; an empty value is ``None``).

    Raises:
        SemcomError: no ``=``, or an empty key or key part.
    """
    import yaml

    if not isinstance(item, str) or "=" not in item:
        raise SemcomError(f"override {item!r} must look like key=value (e.g. optimizer.lr=1e-4 or snr_db=[1,4])")
    key, text = item.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise SemcomError(f"override {item!r} has an empty key (expected key=value or key.sub=value)")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    return parts, value


def apply_override(raw: dict[str, Any], item: str, replaceable: Collection[str] = ()) -> None:
    """Apply one ``dotted.key=value`` override to ``raw`` in place.

    A key part selects a mapping entry, or a list entry by its index (``systems.0.cbr``).
    Missing (or null) mappings on the way are created.

    Args:
        raw: the config mapping, changed in place.
        item: ``"key.sub=value"``, the value parsed as YAML.
        replaceable: dotted keys whose value may be replaced by a new mapping when an
            override sets a key below them (e.g. training's ``snr_db``, which is a number
            or a range, and ``snr_db.choices=[1, 4]`` makes it ``{choices: [1, 4]}``).

    Raises:
        SemcomError: a malformed override, a list index out of range, or a key below a
            value that is not a mapping or a list.
    """
    parts, value = parse_override(item)
    node: Any = raw
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            try:
                index = int(part)
                node[index]  # noqa: B018 - bounds check
            except (ValueError, IndexError):
                raise SemcomError(f"override {item!r}: {where} is not an index of a list "
                                  f"of {len(node)} entries") from None
            key: Any = index
        elif isinstance(node, dict):
            key = part
        else:
            raise SemcomError(f"override {item!r}: {'.'.join(parts[:depth])} is not a mapping or list")
        if last:
            node[key] = value
        else:
            child = node[key] if isinstance(node, list) else node.get(key)
            if child is None or (where in replaceable and not isinstance(child, dict)):
                child = node[key] = {}
            node = child


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str],
                    replaceable: Collection[str] = ()) -> dict[str, Any]:
    """A copy of ``raw`` (see :func:`copy_tree`) with every override applied in order
    (see :func:`apply_override`)."""
    out = copy_tree(raw)
    for item in overrides:
        apply_override(out, item, replaceable)
    return out


# --------------------------------------------------------------------- validation
def check_keys(raw: dict[str, Any], known: Sequence[str], where: str = "") -> None:
    """Raise for the first key of ``raw`` not in ``known``, with the closest known key.

    Args:
        where: dotted name of the section (``"optimizer"``), or ``""`` for the top level.

    Raises:
        SemcomError: ``unknown config key 'optimizer.lrr'; did you mean 'lr'? (known: ...)``.
    """
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            name = f"{where}.{key}" if where else str(key)
            raise SemcomError(f"unknown config key {name!r}{hint} (known: {', '.join(map(str, known))})")
