"""Name -> factory registries for systems, channels, codecs and datasets.

Each kind of component has one :class:`Registry`; modules register their classes with
the ``@REGISTRY.register("name")`` decorator next to the definition, and users create
them with ``REGISTRY.create("name", **kwargs)``, which checks the arguments against the
factory's signature first (:meth:`Registry.check_kwargs`: unknown and missing ones are
one clear error); :meth:`Registry.parameters` gives the signature's names and defaults.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
from typing import Any, Callable, Iterator, Mapping, TypeVar

from semcom.errors import SemcomError, UnknownNameError

T = TypeVar("T")


class Registry:
    """A case-insensitive mapping from names to factories (classes or functions).

    Args:
        kind: what is registered ("channel", "system", ...), used in error messages.
    """

    def __init__(self, kind: str, autoload: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}
        self._help: dict[str, str] = {}
        self._autoload = autoload
        self._loaded = False

    def _load(self) -> None:
        """Import the modules whose definitions register themselves (once, lazily)."""
        if not self._loaded:
            self._loaded = True
            for module in self._autoload:
                importlib.import_module(module)

    def register(self, name: str, help: str | None = None) -> Callable[[T], T]:
        """Decorator: register ``factory`` under ``name`` (lower-case, unique)."""
        key = name.lower()

        def deco(factory: T) -> T:
            if key in self._entries and self._entries[key] is not factory:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[key] = factory  # type: ignore[assignment]
            doc = help or (getattr(factory, "__doc__", None) or "").strip().split("\n")[0]
            self._help[key] = doc
            return factory

        return deco

    def get(self, name: str) -> Callable[..., Any]:
        """The factory registered under ``name``; a clear error if there is none."""
        if not isinstance(name, str):
            raise UnknownNameError(f"{self.kind} name must be a string, got {type(name).__name__}")
        key = name.lower()
        self._load()
        if key not in self._entries:
            close = difflib.get_close_matches(key, self._entries, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}{hint} (known: {known})")
        return self._entries[key]

    def create(self, name: str, **kwargs: Any) -> Any:
        """Build the component registered under ``name`` with keyword arguments, checked
        first (:meth:`check_kwargs`: an argument it does not take or a required one
        missing is one clear :class:`SemcomError`, not a ``TypeError``)."""
        self.check_kwargs(name, kwargs)
        return self.get(name)(**kwargs)

    def accepted_kwargs(self, name: str) -> list[str] | None:
        """Keyword arguments the factory of ``name`` takes (``self`` left out), or None
        when it takes ``**kwargs`` or its signature cannot be read."""
        return accepted_kwargs(self.get(name))

    def parameters(self, name: str) -> dict[str, Any]:
        """The named parameters of the factory of ``name`` (those a keyword can pass,
        ``self`` left out) and their defaults, in signature order; a required parameter
        maps to ``inspect.Parameter.empty``. Empty when the signature cannot be read."""
        return parameters(self.get(name))

    def check_kwargs(self, name: str, kwargs: Mapping[str, Any], what: str | None = None,
                     reserved: tuple[str, ...] = (), partial: bool = False) -> None:
        """Raise one clear :class:`SemcomError` if ``kwargs`` holds an argument the
        factory of ``name`` does not take (or one the caller sets itself, ``reserved``),
        or lacks one it requires (a parameter without a default).

        Args:
            name: registered name.
            kwargs: the keyword arguments about to be passed (only the keys are read).
            what: how the message names the component (default ``"<kind> 'name'"``).
            reserved: keys the caller fills in itself, refused even if accepted, and
                never reported missing.
            partial: ``kwargs`` are only some of the arguments (others come from
                elsewhere, e.g. a checkpoint's config): missing ones are not reported.
        """
        accepted = self.accepted_kwargs(name)
        bad = sorted(k for k in kwargs if k in reserved or (accepted is not None and k not in accepted))
        missing = [] if partial else [
            k for k, default in self.parameters(name).items()
            if default is inspect.Parameter.empty and k not in kwargs and k not in reserved]
        if not bad and not missing:
            return
        what = what or f"{self.kind} {name!r}"
        takes = ", ".join(a for a in (accepted or []) if a not in reserved) or "no arguments"
        if not bad:
            raise SemcomError(f"{what} needs {', '.join(missing)} (it takes: {takes})")
        lacks = f"; it also needs {', '.join(missing)}" if missing else ""
        close = difflib.get_close_matches(bad[0], accepted or [], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close and close[0] not in reserved else ""
        if bad == ["cbr"] and "cbr" not in reserved:
            raise SemcomError(f"{what} has no cbr setting{lacks} (it takes: {takes})")
        raise SemcomError(f"{what} does not take {', '.join(bad)}{hint}{lacks} (it takes: {takes})")

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching a shell-style ``pattern``."""
        self._load()
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern.lower()))

    def help(self, name: str) -> str:
        """First line of the registered factory's docstring."""
        self.get(name)
        return self._help[name.lower()]

    def __contains__(self, name: object) -> bool:
        self._load()
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)


def _signature(factory: Callable[..., Any]) -> list[inspect.Parameter] | None:
    """The parameters of ``factory``'s signature, or None when it cannot be read."""
    try:
        return list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return None


def parameters(factory: Callable[..., Any]) -> dict[str, Any]:
    """Parameter name -> default (``inspect.Parameter.empty`` when required) of the
    parameters of ``factory`` that a keyword can pass (``self`` left out); empty when
    its signature cannot be read."""
    return {p.name: p.default for p in _signature(factory) or []
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
            and p.name != "self"}


def accepted_kwargs(factory: Callable[..., Any]) -> list[str] | None:
    """Keyword arguments ``factory`` takes, or None when it takes ``**kwargs`` (or its
    signature cannot be read, e.g. a builtin)."""
    params = _signature(factory)
    if params is None or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return list(parameters(factory))


CHANNELS = Registry("channel", autoload=("semcom.channels",))
SYSTEMS = Registry("system", autoload=("semcom.models",))
CODECS = Registry("codec", autoload=("semcom.codecs",))
DATASETS = Registry("dataset", autoload=("semcom.data",))
#: classifiers and other task models measured on reconstructions (checkpoint kind ``task_model``)
TASK_MODELS = Registry("task model", autoload=("semcom.semantics",))
#: trainable learned image codec models (checkpoint kind ``learned_codec``; see
#: :mod:`semcom.codecs.learned`); the image codecs that code with them are in ``CODECS``
CODEC_MODELS = Registry("learned codec model", autoload=("semcom.models.quad",))
