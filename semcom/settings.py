"""Run-time settings: knobs a system takes per call of ``transmit``, not at construction.

A run-time setting changes how a trained system operates (FAJSCC's ``rho_enc`` for its
encoder and ``rho_dec`` for its decoder, a forced rate of an adaptive-rate model, a
fixed MCS of the digital link) without changing what the system *is*: checkpoints,
``init_from`` and resume never store or compare them, and an evaluation sweeps them
without rebuilding the model.

Each system declares its settings next to its definition::

    class MyModel(JSCCModel):
        settings = (
            Setting("rho_enc", float, 0.5, "encoder", low=0.0, high=1.0,
                    help="fraction of windows the encoder treats as important"),
            Setting("rho_dec", float, 0.5, "decoder", low=0.0, high=1.0, help="..."),
        )

``side`` says who sees a setting: ``"encoder"`` (the transmitter only), ``"decoder"``
(the receiver only) or ``"link"`` (both ends agree on it beforehand, e.g. a fixed MCS).
:func:`resolve_settings` validates a call's keyword arguments (unknown names, types,
ranges, choices; one clear :class:`~semcom.errors.SemcomError` each) and fills defaults;
:meth:`RunSettings.encoder` / :meth:`RunSettings.decoder` are what each side receives.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from semcom.errors import SemcomError

SIDES = ("encoder", "decoder", "link")
#: the value of a setting whose type admits "automatic" (e.g. ``mcs=auto``)
AUTO = "auto"


@dataclass(frozen=True)
class Setting:
    """One run-time setting of a system.

    Attributes:
        name: keyword of ``transmit`` (and of ``--run NAME=VALUE``).
        type: ``float``, ``int``, ``bool`` or ``str``.
        default: value when the call does not give one (``None`` or :data:`AUTO` allowed
            when ``allow_auto``).
        side: ``"encoder"``, ``"decoder"`` or ``"link"`` (both).
        low, high: inclusive range of numeric settings (None: unbounded).
        choices: allowed values of a ``str`` (or numeric) setting.
        allow_auto: also accept ``"auto"`` (kept as the string :data:`AUTO`); a
            ``None`` default then means "as the system is configured".
        help: one line for ``semcom models``.
    """

    name: str
    type: type
    default: Any
    side: str = "link"
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    allow_auto: bool = False
    help: str = ""

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"setting {self.name!r}: side must be one of {SIDES}, got {self.side!r}")
        if self.type not in (float, int, bool, str):
            raise ValueError(f"setting {self.name!r}: type must be float, int, bool or str")

    def validate(self, value: Any, owner: str = "system") -> Any:
        """``value`` converted to the setting's type; a clear error if it does not fit.

        Strings (from the command line or YAML) are parsed: ``"0.5"``, ``"1/2"``,
        ``"true"``, ``"auto"``.
        """
        where = f"{owner} setting {self.name}"
        if self.allow_auto and isinstance(value, str) and value.strip().lower() == AUTO:
            return AUTO
        if value is None and self.allow_auto:
            return None
        if value is None:
            raise SemcomError(f"{where} needs a value{self._hint()}")
        try:
            out = self._convert(value)
        except (TypeError, ValueError, ArithmeticError):
            raise SemcomError(f"{where} must be {self._kind()}, got {value!r}{self._hint()}") from None
        if isinstance(out, float) and not math.isfinite(out):
            raise SemcomError(f"{where} must be finite, got {value!r}")
        if self.choices is not None and out not in self.choices:
            raise SemcomError(f"{where} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        if self.low is not None and out < self.low or self.high is not None and out > self.high:
            raise SemcomError(f"{where} must be in {self._range()}, got {value!r}")
        return out

    def _convert(self, value: Any) -> Any:
        if self.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
                return value.strip().lower() in ("true", "yes", "on", "1")
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ValueError(value)
        if isinstance(value, bool):
            raise ValueError(value)  # True is not a number here
        if self.type is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            if isinstance(value, str):
                value = float(value.strip()) if "." in value or "e" in value.lower() else int(value.strip())
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
            return int(value)
        if self.type is float:
            if isinstance(value, str):
                text = value.strip()
                if "/" in text:
                    num, den = text.split("/", 1)
                    return float(num) / float(den)
                return float(text)
            return float(value)
        if not isinstance(value, str):
            raise ValueError(value)
        return value.strip().lower()

    def _kind(self) -> str:
        kind = {float: "a number", int: "an integer", bool: "true or false", str: "a name"}[self.type]
        return kind + (" or auto" if self.allow_auto else "")

    def _range(self) -> str:
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"[{lo}, {hi}]"

    def _hint(self) -> str:
        return f" ({self.help})" if self.help else ""

    def describe(self) -> str:
        """One line: ``name (type in range, default ..., encoder): help``."""
        kind = self.type.__name__
        if self.choices is not None:
            kind += " in {" + ", ".join(map(str, self.choices)) + "}"
        elif self.low is not None or self.high is not None:
            kind += f" in {self._range()}"
        if self.allow_auto:
            kind += " or auto"
        default = "as configured" if self.default is None and self.allow_auto else self.default
        return f"{self.name} ({kind}, default {default}, {self.side}): {self.help}"


@dataclass(frozen=True)
class RunSettings:
    """The validated settings of one ``transmit`` call, every declared one filled in."""

    values: Mapping[str, Any]
    specs: tuple[Setting, ...] = ()

    def encoder(self) -> dict[str, Any]:
        """What the transmitter sees: ``encoder`` and ``link`` settings."""
        return {s.name: self.values[s.name] for s in self.specs if s.side in ("encoder", "link")}

    def decoder(self) -> dict[str, Any]:
        """What the receiver sees: ``decoder`` and ``link`` settings."""
        return {s.name: self.values[s.name] for s in self.specs if s.side in ("decoder", "link")}

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def as_dict(self) -> dict[str, Any]:
        """Every setting's value (for result rows and extras)."""
        return dict(self.values)


def resolve_settings(specs: Sequence[Setting], given: Mapping[str, Any], owner: str = "system") -> RunSettings:
    """Validate keyword settings of a call against ``specs`` and fill in the defaults.

    Raises:
        SemcomError: an unknown name (with the close matches and the known ones) or a
            value of the wrong type or outside its range.
    """
    by_name = {s.name: s for s in specs}
    unknown = [k for k in given if k not in by_name]
    if unknown:
        raise SemcomError(unknown_settings_message(owner, unknown, specs))
    values = {s.name: s.validate(given[s.name], owner) if s.name in given else
              (None if s.default is None else s.validate(s.default, owner)) for s in specs}
    return RunSettings(values=values, specs=tuple(specs))


def unknown_settings_message(owner: str, unknown: Iterable[str], specs: Sequence[Setting]) -> str:
    """``"system x has no run-time setting y; did you mean z? (it has: ...)"``."""
    names = [s.name for s in specs]
    unknown = sorted(unknown)
    close = difflib.get_close_matches(unknown[0], names, n=2, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    has = ", ".join(names) if names else "none"
    word = "setting" if len(unknown) == 1 else "settings"
    return f"{owner} has no run-time {word} {', '.join(unknown)}{hint} (its settings: {has})"


def parse_run_options(items: Sequence[str] | None) -> dict[str, str]:
    """``["rho_enc=0.5", "mcs=9"]`` (``--run NAME=VALUE``) as a dict of raw strings;
    values are converted by each setting's :meth:`Setting.validate`."""
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SemcomError(f"--run expects NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


class TrainingModes:
    """Mixin of trainable models: training-mode switches declared in :attr:`modes`
    (noise vs straight-through rounding, the active rate set, ...), held in
    ``self.mode`` and switched with :meth:`set_modes`; not part of a model's identity
    (``config``). Call :meth:`_init_modes` in ``__init__``."""

    name: str = "model"
    modes: tuple[Setting, ...] = ()

    def _init_modes(self) -> None:
        self.mode: dict[str, Any] = resolve_settings(type(self).modes, {}, f"{self.name} mode").as_dict()

    def set_modes(self, **modes: Any) -> dict[str, Any]:
        """Switch training modes declared in :attr:`modes`; returns the current ones.

        Raises:
            SemcomError: an unknown mode or an invalid value.
        """
        run = resolve_settings(type(self).modes, {**self.mode, **modes}, f"{self.name} mode")
        self.mode = run.as_dict()
        return dict(self.mode)
