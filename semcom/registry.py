"""Name -> factory registries for systems, channels, codecs and datasets.

Each kind of component has one :class:`Registry`; modules register their classes with
the ``@REGISTRY.register("name")`` decorator next to the definition, and users create
them with ``REGISTRY.create("name", **kwargs)``.
"""

from __future__ import annotations

import difflib
import importlib
import fnmatch
from typing import Any, Callable, Iterator, TypeVar

from semcom.errors import UnknownNameError

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
        """Build the component registered under ``name`` with keyword arguments."""
        return self.get(name)(**kwargs)

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


CHANNELS = Registry("channel", autoload=("semcom.channels",))
SYSTEMS = Registry("system", autoload=("semcom.models",))
CODECS = Registry("codec", autoload=("semcom.codecs",))
DATASETS = Registry("dataset", autoload=("semcom.data",))
