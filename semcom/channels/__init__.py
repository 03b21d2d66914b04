"""Wireless channel models (complex baseband), created by name from a registry.

Example::

    channel = create_channel("rician", K=3)
    out = channel(z, snr_db=10.0, generator=torch.Generator().manual_seed(0))
    z_hat = equalize(out, "mmse")  # z: (B, k) complex64, power-normalized

Registered names: ``awgn``, ``rayleigh``, ``rician``, ``gauss-markov``,
``gilbert-elliott``, ``blockage``, ``composite`` (see :func:`list_channels`). Every
channel draws its state from a ``torch.Generator``, is differentiable with respect to
the input symbols, accepts ``csi_nmse`` (imperfect CSI) and returns a
:class:`ChannelOutput`; equalization is the receiver's job (:mod:`.equalization`).
"""

from __future__ import annotations

from typing import Any

from semcom.channels.awgn import AWGN
from semcom.channels.base import Channel, ChannelOutput, complex_normal
from semcom.channels.blockage import Blockage
from semcom.channels.burst import GilbertElliott
from semcom.channels.composite import CompositeChannel
from semcom.channels.equalization import effective_noise_var, equalize, mmse, zero_forcing
from semcom.channels.fading import (GaussMarkovFading, Rayleigh, RayleighBlockFading,
                                    RayleighFastFading, Rician, ar1_filter)
from semcom.errors import SemcomError
from semcom.registry import CHANNELS

__all__ = [
    "AWGN", "Blockage", "Channel", "ChannelOutput", "CompositeChannel", "GaussMarkovFading",
    "GilbertElliott", "Rayleigh", "RayleighBlockFading", "RayleighFastFading", "Rician",
    "ar1_filter", "channel_parameters", "complex_normal", "create_channel",
    "effective_noise_var", "equalize", "list_channels", "mmse", "zero_forcing",
]


def channel_parameters(name: str) -> dict[str, Any]:
    """Constructor parameters of a registered channel and their defaults.

    A parameter without a default maps to ``inspect.Parameter.empty``.
    """
    return CHANNELS.parameters(name)


def create_channel(name: str, **params: Any) -> Channel:
    """Build the channel registered under ``name`` (case-insensitive).

    Parameter names are matched exactly, or case-insensitively when that is unambiguous
    (``k=3`` for ``K=3``, as typed on a command line).

    Raises:
        SemcomError: unknown channel name (:class:`UnknownNameError`), unknown parameter,
            or an invalid parameter value.
    """
    known = channel_parameters(name)
    lower = {}
    for key in known:
        lower.setdefault(key.lower(), []).append(key)
    resolved: dict[str, Any] = {}
    for key, value in params.items():
        if key not in known:
            matches = lower.get(key.lower(), [])
            if len(matches) != 1:
                raise SemcomError(f"channel {name!r} has no parameter {key!r} "
                                  f"(parameters: {', '.join(known) or 'none'})")
            key = matches[0]
        resolved[key] = value
    return CHANNELS.create(name, **resolved)


def list_channels(pattern: str = "*") -> dict[str, dict[str, Any]]:
    """Registered channels matching a shell-style ``pattern``, for ``semcom channels``.

    Returns:
        ``{name: {"description": one-line summary, "params": {parameter: default}}}``,
        sorted by name.
    """
    return {name: {"description": CHANNELS.help(name), "params": channel_parameters(name)}
            for name in CHANNELS.names(pattern)}
