"""Shared frame of the convolutional baselines (ConvJSCC, ResJSCC, ADJSCC).

Each of them maps an image ``(B, 3, H, W)`` to a real latent ``(B, c, H/4, W/4)``; the
latent is flattened per image, paired into complex symbols
(:func:`~semcom.conventions.real_to_complex`), and power-normalized per image. So one
image uses ``k = ceil(c * (H/4) * (W/4) / 2)`` channel symbols and

    cbr = k / (3 H W) = c / 96          (2 reals per symbol, 3 colours, 16 pixels per position)

which fixes ``c = 96 * cbr``: the valid bandwidth ratios are ``c / 96`` for integers
``c >= 1`` (1/6 -> 16, 1/12 -> 8, 1/16 -> 6, 1/24 -> 4, 1/32 -> 3, 1/48 -> 2, 1/96 -> 1).
Images whose sides are not multiples of 4 are padded first; the padding is sent, so
their ``k`` follows the padded size.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import torch
from torch import Tensor

from semcom.conventions import complex_to_real, normalize_power, parse_cbr, real_to_complex
from semcom.errors import SemcomError
from semcom.models.base import Encoded, JSCCModel

#: total down-sampling of the encoders (two stride-2 layers)
DOWNSAMPLING = 4
#: real latent values per latent channel and per unit of cbr: 2 * 3 * DOWNSAMPLING**2
REALS_PER_CBR = 2 * 3 * DOWNSAMPLING**2
#: examples listed in error messages
_EXAMPLES = "1/6 (c=16), 1/12 (c=8), 1/16 (c=6), 1/24 (c=4), 1/32 (c=3), 1/48 (c=2)"


def latent_channels_for_cbr(cbr: float | str, downsampling: int = DOWNSAMPLING) -> int:
    """Latent channels ``c = 6 d^2 * cbr`` of an encoder that down-samples by ``d``
    (``96 * cbr`` for ``d = 4``, ``1536 * cbr`` for ``d = 16``).

    Raises:
        SemcomError: if ``6 d^2 * cbr`` is not (within 1e-6) an integer ``>= 1``.
    """
    value = parse_cbr(cbr)
    per_cbr = 2 * 3 * downsampling**2
    exact = per_cbr * value
    channels = round(exact)
    if channels < 1 or abs(exact - channels) > 1e-6:
        examples = _EXAMPLES if downsampling == DOWNSAMPLING else f"1/16 (c={per_cbr // 16}), 1/12, 1/24"
        raise SemcomError(f"cbr {cbr} is not available for this model: it needs {per_cbr} * cbr "
                          f"latent channels (got {exact:.4g}); valid cbrs are c/{per_cbr} for an "
                          f"integer c >= 1, e.g. {examples}")
    return int(channels)


def resolve_widths(size: str, widths: Sequence[int] | None, presets: dict[str, tuple[int, ...]],
                   system: str) -> tuple[int, ...]:
    """Feature widths from explicit ``widths`` (if given) or the preset named ``size``.

    Raises:
        SemcomError: unknown size, or widths of the wrong count or not positive integers.
    """
    expected = len(next(iter(presets.values())))
    if widths is None:
        key = str(size).lower()
        if key not in presets:
            raise SemcomError(f"unknown {system} size {size!r} (known: {', '.join(presets)})")
        return presets[key]
    try:
        out = tuple(int(w) for w in widths)
        ok = len(out) == expected and all(w >= 1 and w == float(v) for w, v in zip(out, widths))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SemcomError(f"{system} widths must be {expected} positive integers, got {widths!r}")
    return out


def latent_to_symbols(latent: Tensor) -> tuple[Tensor, dict[str, Any]]:
    """A real latent ``(B, c, h, w)`` -> ``(B, ceil(c h w / 2))`` complex64 symbols of unit
    power per image, and the ``side`` the decoder needs (``latent_shape``, known a priori)."""
    symbols = normalize_power(real_to_complex(latent.reshape(latent.shape[0], -1)))
    return symbols, {"latent_shape": tuple(latent.shape[1:])}


def symbols_to_latent(symbols: Tensor, side: dict[str, Any]) -> Tensor:
    """Inverse layout of :func:`latent_to_symbols`: ``(B, k)`` received symbols -> the
    ``(B, c, h, w)`` real latent of ``side["latent_shape"]``."""
    c, h, w = side["latent_shape"]
    return complex_to_real(symbols, c * h * w).reshape(symbols.shape[0], c, h, w)


class ConvLatentJSCC(JSCCModel):
    """Base of models with a ``(B, c, H/4, W/4)`` real latent (``c = 96 * cbr``).

    Subclasses build their networks in ``__init__`` and implement :meth:`analysis` and
    :meth:`synthesis`; this class handles rate, power normalization and packing.

    Args:
        cbr: channel bandwidth ratio ``k / (3 H W)``; a number or a string like ``"1/12"``.
        size: name of a width preset in the subclass's ``SIZES``.
        widths: explicit feature widths (overrides ``size``).
        equalizer: receiver equalization for fading channels.
    """

    size_multiple = DOWNSAMPLING
    #: width presets, name -> feature widths of the hidden layers
    SIZES: ClassVar[dict[str, tuple[int, ...]]] = {}

    def __init__(self, cbr: float | str, size: str, widths: Sequence[int] | None,
                 equalizer: str) -> None:
        super().__init__(equalizer)
        self.cbr = parse_cbr(cbr)
        self.latent_channels = latent_channels_for_cbr(self.cbr)
        self.widths = resolve_widths(size, widths, self.SIZES, self.name)
        self.config.update(cbr=self.cbr, size=str(size).lower(),
                           widths=None if widths is None else list(self.widths))

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """Keyword arguments of a small, fast instance (for tests)."""
        return {"cbr": 1 / 12, "widths": [8] * len(next(iter(cls.SIZES.values())))}

    # -- networks -----------------------------------------------------------------
    def analysis(self, images: Tensor, snr_db: Tensor) -> Tensor:
        """``(B, 3, H, W)`` in ``[0, 1]`` and ``(B,)`` dB -> ``(B, c, H/4, W/4)`` real latent."""
        raise NotImplementedError

    def synthesis(self, latent: Tensor, snr_db: Tensor) -> Tensor:
        """``(B, c, H/4, W/4)`` noisy latent and ``(B,)`` dB -> ``(B, 3, H, W)`` images."""
        raise NotImplementedError

    # -- JSCCModel ----------------------------------------------------------------
    def encode(self, images: Tensor, snr_db: Tensor) -> Encoded:
        """Images ``(B, 3, H, W)`` (sides multiples of 4) -> ``(B, k)`` complex64 symbols
        of unit average power per image, ``k = ceil(c H W / 32)``."""
        h, w = images.shape[-2:]
        if h % DOWNSAMPLING or w % DOWNSAMPLING:
            raise SemcomError(f"{self.name}.encode needs sides that are multiples of {DOWNSAMPLING}, "
                              f"got {h}x{w} (forward/transmit pad automatically)")
        symbols, side = latent_to_symbols(self.analysis(images, snr_db))
        # the latent shape follows from the image size and the config: no side bits
        return Encoded(symbols=symbols, side=side)

    def decode(self, symbols: Tensor, snr_db: Tensor, side: dict[str, Any]) -> Tensor:
        """``(B, k)`` equalized complex symbols -> ``(B, 3, H, W)`` images in ``(0, 1)``."""
        return self.synthesis(symbols_to_latent(symbols, side), snr_db)
