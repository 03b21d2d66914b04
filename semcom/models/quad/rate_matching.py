"""Rate matching of Quad-DeepSC: each unit's length from its entropy, and the rate map.

A *unit* is what one feature-coding step maps to one variable-length codeword (see
:mod:`semcom.models.quad.units`). Its length ``k_i`` (real values, paired into
``k_i / 2`` complex symbols) is the unit's summed entropy ``b_i`` (bits,
``-log2`` of the Quad-LIC likelihoods) times the rate scale ``eta`` (real values per
bit), rounded to the nearest value of the active rate set (paper eq. 19, 26)::

    k_i = Q(eta * b_i),    Q(v) = argmin_{r in R} |v - r|    (ties: the smaller r)

Two rate sets (:class:`RateSets`): the ``full`` set of the third training stage and a
``distilled`` subset of it for the fourth (and for evaluation). Values are even
(pairs of reals make complex symbols) and non-negative (``0``: the unit sends
nothing); the largest full value is ``L_max``, the width of the shared output layer.
Only the *index* of ``k_i`` in the active set travels: the indices of one image form a
map ``(S, h, w)`` (``S`` feature-coding steps over the ``h x w`` latent), coded
losslessly as an 8-bit grayscale PNG of ``S h`` rows by ``w`` columns (Pillow, zlib
level 9), the paper's choice.

Side information of one image (:func:`pack_side` / :func:`unpack_side`): the parts
framed by :func:`semcom.entropy.pack_streams` (varint count and lengths): the
hyper-latent ``z`` range-coded with the Quad-LIC factorized prior (when sent), then the
PNG. Anything that does not parse raises :class:`~semcom.errors.SemcomError`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from semcom.entropy import pack_streams, unpack_streams
from semcom.errors import SemcomError

#: the full rate set (real values per unit) of the third training stage
DEFAULT_RATE_SET = (0, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 128)
#: its distilled subset of the fourth stage
DEFAULT_DISTILLED_RATE_SET = (0, 4, 8, 12, 16, 24, 32, 48, 64, 128)
#: the rate sets a model has (the training mode ``rate_set``)
RATE_SET_NAMES = ("full", "distilled")
#: PNG holds one 8-bit index per unit
MAX_RATES = 256


def _check_rate_set(name: str, values: Sequence[int]) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise SemcomError(f"{name} must be a non-empty list of even lengths, got {values!r}")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 or v % 2 for v in values):
        raise SemcomError(f"{name} must hold even integers >= 0 (real values per unit), got {list(values)}")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise SemcomError(f"{name} must be strictly increasing, got {list(values)}")
    if len(values) > MAX_RATES or values[-1] == 0:
        raise SemcomError(f"{name} must have 1..{MAX_RATES} values, the largest > 0, got {list(values)}")
    return tuple(int(v) for v in values)


class RateSets:
    """The full rate set and its distilled subset.

    Args:
        full: increasing even lengths (real values per unit); ``L_max = full[-1]``.
        distilled: a subset of ``full``.

    Raises:
        SemcomError: a set that is empty, not increasing, has odd or negative values,
            or a distilled value missing from the full set.
    """

    def __init__(self, full: Sequence[int], distilled: Sequence[int]) -> None:
        self.full = _check_rate_set("full_rate_set", full)
        self.distilled = _check_rate_set("distilled_rate_set", distilled)
        missing = sorted(set(self.distilled) - set(self.full))
        if missing:
            raise SemcomError(f"distilled_rate_set must be a subset of full_rate_set; {missing} are not in it")
        self.max_length = self.full[-1]
        self._full_index = {v: i for i, v in enumerate(self.full)}

    def values(self, which: str, device: torch.device | str | None = None) -> Tensor:
        """``(R,)`` int64 lengths of the ``which`` (``full``/``distilled``) set."""
        return torch.tensor(self._set(which), dtype=torch.int64, device=device)

    def full_index(self, which: str, device: torch.device | str | None = None) -> Tensor:
        """``(R,)`` int64: the position in the full set of each value of ``which``
        (the rate embedding's row)."""
        return torch.tensor([self._full_index[v] for v in self._set(which)], dtype=torch.int64, device=device)

    def match(self, unit_bits: Tensor, eta: float, which: str) -> Tensor:
        """Index in the ``which`` set of the length nearest to ``eta * unit_bits``.

        Args:
            unit_bits: ``(...)`` estimated bits of each unit (float, >= 0).
            eta: real values per bit (>= 0).
            which: ``"full"`` or ``"distilled"``.

        Returns:
            ``(...)`` int64 indices in ``[0, R)``; a tie goes to the shorter length.
        """
        values = self.values(which, unit_bits.device).to(unit_bits.dtype)
        target = (unit_bits.detach() * float(eta)).clamp_min(0.0)
        upper = torch.searchsorted(values, target.contiguous()).clamp(max=values.numel() - 1)
        lower = (upper - 1).clamp_min(0)
        nearer_lower = (target - values[lower]) <= (values[upper] - target)
        return torch.where(nearer_lower, lower, upper)

    def _set(self, which: str) -> tuple[int, ...]:
        if which == "full":
            return self.full
        if which == "distilled":
            return self.distilled
        raise SemcomError(f"rate set must be one of {', '.join(RATE_SET_NAMES)}, got {which!r}")


# ------------------------------------------------------------------ the rate map as PNG
def encode_rate_map(index: Tensor) -> bytes:
    """PNG bytes of one image's ``(S, h, w)`` rate indices (values ``< 256``)."""
    if index.dim() != 3:
        raise SemcomError(f"a rate map is (steps, h, w), got shape {tuple(index.shape)}")
    array = index.detach().to("cpu", torch.uint8).reshape(-1, index.shape[-1]).numpy()
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def decode_rate_map(data: bytes, steps: int, height: int, width: int, count: int) -> Tensor:
    """The ``(steps, height, width)`` int64 rate indices a PNG from :func:`encode_rate_map`
    holds.

    Raises:
        SemcomError: not a PNG, another size or mode, or an index ``>= count``.
    """
    try:
        with Image.open(io.BytesIO(bytes(data)), formats=["PNG"]) as image:
            if image.mode != "L" or image.size != (width, steps * height):
                raise SemcomError(f"the rate map is a {image.mode} image of {image.size[0]}x{image.size[1]}, "
                                  f"expected L of {width}x{steps * height}")
            array = np.array(image, dtype=np.uint8)
    except SemcomError:
        raise
    except Exception as exc:  # Pillow raises many kinds on corrupt or truncated bytes
        raise SemcomError(f"the rate map is not a readable PNG ({type(exc).__name__})") from None
    if array.size and int(array.max()) >= count:
        raise SemcomError(f"the rate map names rate index {int(array.max())}, but the rate set has {count}")
    return torch.from_numpy(array.astype(np.int64)).reshape(steps, height, width)


def pack_side(z_bytes: bytes | None, rate_map_png: bytes) -> bytes:
    """One image's side information: ``[z, PNG]`` (or ``[PNG]``) behind varint lengths."""
    return pack_streams([rate_map_png] if z_bytes is None else [z_bytes, rate_map_png])


def unpack_side(payload: bytes, with_z: bool) -> tuple[bytes | None, bytes]:
    """``(z bytes or None, PNG bytes)`` of :func:`pack_side`'s output.

    Raises:
        SemcomError: a malformed frame (a :class:`~semcom.entropy.BitstreamError`).
    """
    parts = unpack_streams(bytes(payload), 2 if with_z else 1)
    return (parts[0], parts[1]) if with_z else (None, parts[0])


__all__ = ["DEFAULT_DISTILLED_RATE_SET", "DEFAULT_RATE_SET", "RATE_SET_NAMES", "RateSets", "decode_rate_map",
           "encode_rate_map", "pack_side", "unpack_side"]
