"""The one interface every image codec answers: ``encode``, ``decode`` and ``fit``.

A codec turns one image into bytes and back. ``fit`` finds, by bisection on the codec's
own quality knob, the best quality whose bytes fit a budget; the digital link charges
``len(data)`` bytes, which are *every* byte the decoder needs (headers, container boxes
and any crop flag included): the receiver knows nothing but the bytes and the codec's
name.

Every byte string ends with a CRC-32 of the codec's own bitstream (4 bytes, charged).
Classical decoders conceal damage silently (a truncated HEVC slice or a flipped bit in
JPEG entropy data still decodes to a picture), so ``decode`` checks the CRC first and
raises :class:`CodecError` on any corrupt, truncated or foreign input instead of returning
a wrong image. :meth:`ImageCodec.unwrap` returns the bare bitstream (a JPEG file, an
Annex-B stream) for tools that want it.

Classical codecs (JPEG, WebP, HEVC intra, ...) and learned codecs plug in the same way:
subclass :class:`ImageCodec`, set ``name`` and ``knob``, implement ``_encode`` and
``_decode`` on ``(H, W, 3)`` uint8 arrays, and register the class in
``semcom.registry.CODECS``.
"""

from __future__ import annotations

import importlib
import math
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from semcom.conventions import bpp, quantize_8bit
from semcom.errors import MissingDependencyError, SemcomError

#: the optional extra that holds the codecs whose wheels bundle GPL encoders
CODECS_EXTRA = "semcom[codecs]"
#: largest image (in pixels) a decoder will build; a header claiming more is rejected
MAX_DECODE_PIXELS = 1 << 26
#: bytes of the CRC-32 that ends every encoded byte string
CHECKSUM_BYTES = 4


class CodecError(SemcomError):
    """A codec cannot encode an input or decode a byte string (corrupt, truncated, foreign)."""


class EncoderLimitError(CodecError):
    """The encoder cannot reach this quality on this image (e.g. its output buffer is full).

    ``fit`` treats such a quality as one that does not fit the budget.
    """


@dataclass(frozen=True)
class QualityKnob:
    """The one parameter a codec's rate is set with.

    Attributes:
        name: what the knob is (``"quality"``, ``"qp"``, ``"distance"``, ``"psnr_db"``).
        low, high: the allowed range, inclusive (``low < high``).
        higher_is_better: ``True`` if a larger value gives more bytes and less
            distortion (JPEG quality); ``False`` if a smaller one does (QP, distance).
        step: the resolution ``fit`` bisects down to (1 for integer knobs).
        integer: whether only integer values are allowed.
        log_scale: bisect on ``log(value)`` (for knobs whose effect is multiplicative;
            requires ``low > 0``).
        description: one line for the user.
    """

    name: str
    low: float
    high: float
    higher_is_better: bool
    step: float = 1.0
    integer: bool = True
    log_scale: bool = False
    description: str = ""

    @property
    def best(self) -> float:
        """The value giving the most bytes and the least distortion."""
        return self.high if self.higher_is_better else self.low

    @property
    def worst(self) -> float:
        """The value giving the fewest bytes."""
        return self.low if self.higher_is_better else self.high

    def better(self, value: float, steps: int = 1) -> float:
        """``value`` moved ``steps`` resolution steps towards ``best`` (clamped to the range)."""
        moved = value + steps * self.step * (1 if self.higher_is_better else -1)
        return min(max(moved, self.low), self.high)

    def check(self, value: float) -> float:
        """Validate a knob value; returns it as ``int`` for integer knobs."""
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise CodecError(f"{self.name} must be a number, got {type(value).__name__}")
        if not math.isfinite(float(value)) or not self.low <= float(value) <= self.high:
            raise CodecError(f"{self.name} must be in [{self.low:g}, {self.high:g}], got {value}")
        if self.integer:
            if float(value) != int(value):
                raise CodecError(f"{self.name} must be an integer, got {value}")
            return int(value)
        return float(value)


@dataclass(frozen=True)
class FitResult:
    """The best encoding of one image under a byte budget.

    Attributes:
        data: the bytes to send (every byte the decoder needs, CRC-32 included).
        quality: the knob value that produced them.
        num_bytes: ``len(data)``.
        height, width: size of the encoded image in pixels.
    """

    data: bytes
    quality: float
    num_bytes: int
    height: int
    width: int

    @property
    def bpp(self) -> float:
        """Bits per pixel (``semcom.conventions.bpp``)."""
        return bpp(self.num_bytes, self.height, self.width)


def import_optional(module: str, codec: str, package: str | None = None) -> ModuleType:
    """Import an optional dependency of ``codec``, or raise one clear line naming the extra.

    Raises:
        MissingDependencyError: ``module`` cannot be imported.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"codec {codec!r} needs the optional package {package or module!r}, which is not "
            f"installed; install it with: pip install {CODECS_EXTRA}"
        ) from exc


def check_image(image: Tensor) -> Tensor:
    """Validate one ``(3, H, W)`` float image in ``[0, 1]``; returns it on the CPU as float32."""
    if not isinstance(image, Tensor) or image.dim() != 3 or image.shape[0] != 3:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise CodecError(f"a codec takes one (3, H, W) image tensor, got {shape}")
    if not image.is_floating_point():
        raise CodecError(f"image must be float in [0, 1], got dtype {image.dtype}")
    if image.shape[1] < 1 or image.shape[2] < 1:
        raise CodecError(f"image is empty: {tuple(image.shape)}")
    if not torch.isfinite(image).all():
        raise CodecError("image contains NaN or inf")
    if image.min() < -1e-6 or image.max() > 1 + 1e-6:
        raise CodecError(f"image values must be in [0, 1], got [{image.min():.4g}, {image.max():.4g}]")
    return image.detach().to("cpu", torch.float32)


def image_to_uint8(image: Tensor) -> np.ndarray:
    """``(3, H, W)`` float in ``[0, 1]`` -> C-contiguous ``(H, W, 3)`` uint8 (rounded)."""
    hwc = (quantize_8bit(image) * 255.0).round().to(torch.uint8).permute(1, 2, 0)
    return np.ascontiguousarray(hwc.numpy())


def uint8_to_image(array: np.ndarray) -> Tensor:
    """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float32 in ``[0, 1]``."""
    return torch.from_numpy(np.array(array, dtype=np.uint8)).permute(2, 0, 1).float().div(255.0)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class ImageCodec(ABC):
    """Base class of every codec: one image in, bytes out, and back.

    Subclasses set the class attributes ``name`` and ``knob`` (and ``requires``,
    ``min_side`` where needed) and implement :meth:`_encode` and :meth:`_decode` on
    uint8 arrays; this class validates inputs, appends and checks the CRC-32, turns every
    encoder or decoder failure into :class:`CodecError`, and fits budgets.

    Constructors import their optional dependencies at once, so a missing extra is
    reported (``MissingDependencyError``) when the codec is created, not mid-run.
    """

    name: ClassVar[str]
    knob: ClassVar[QualityKnob]
    #: modules of the optional extra this codec imports (empty: core dependencies only)
    requires: ClassVar[tuple[str, ...]] = ()
    #: smallest height and width the encoder accepts, in pixels
    min_side: ClassVar[int] = 1

    # ------------------------------------------------------------------ subclass API
    @abstractmethod
    def _encode(self, pixels: np.ndarray, quality: float) -> bytes:
        """Encode ``(H, W, 3)`` uint8 pixels at a validated knob value."""

    @abstractmethod
    def _decode(self, data: bytes) -> np.ndarray:
        """Decode to ``(H, W, 3)`` uint8; may raise anything on bad data (wrapped by ``decode``)."""

    # ------------------------------------------------------------------- public API
    def encode(self, image: Tensor, quality: float) -> bytes:
        """Compress one image.

        Args:
            image: ``(3, H, W)`` float tensor in ``[0, 1]`` (rounded to 8 bits first).
            quality: a value of ``self.knob`` (see ``knob.higher_is_better``).

        Returns:
            The complete byte string a receiver needs to rebuild the image.
        """
        quality = self.knob.check(quality)
        return self._encode_checked(self._pixels(image), quality)

    def decode(self, data: bytes) -> Tensor:
        """Rebuild an image from bytes made by :meth:`encode`.

        Returns:
            ``(3, H, W)`` float32 tensor in ``[0, 1]`` (multiples of 1/255).

        Raises:
            CodecError: the bytes are empty, truncated, corrupt or not this codec's.
        """
        payload = self.unwrap(data)
        try:
            pixels = self._decode(payload)
        except (CodecError, MissingDependencyError):
            raise
        except Exception as exc:  # decoders raise OSError, ValueError, RuntimeError, their own types
            raise CodecError(f"{self.name}: cannot decode {len(payload)} bytes ({_first_line(exc)})") from exc
        if not (isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.ndim == 3
                and pixels.shape[2] == 3 and pixels.shape[0] >= 1 and pixels.shape[1] >= 1):
            shape = getattr(pixels, "shape", None)
            raise CodecError(f"{self.name}: decoded data is not an RGB image (shape {shape})")
        return uint8_to_image(pixels)

    def accepts(self, image: Tensor) -> bool:
        """Whether the encoder takes an image of this size (both sides >= ``min_side``)."""
        return min(check_image(image).shape[1:]) >= self.min_side

    def _pixels(self, image: Tensor) -> np.ndarray:
        image = check_image(image)
        if min(image.shape[1:]) < self.min_side:
            raise CodecError(f"{self.name} needs images of at least {self.min_side}x{self.min_side} "
                             f"pixels, got {image.shape[1]}x{image.shape[2]}")
        return image_to_uint8(image)

    def _encode_checked(self, pixels: np.ndarray, quality: float) -> bytes:
        try:
            return self._seal(self._encode(pixels, quality))
        except CodecError:
            raise
        except Exception as exc:  # encoders raise OSError, ValueError, their own types
            raise CodecError(f"{self.name}: encoding at {self.knob.name}={quality:g} failed "
                             f"({_first_line(exc)})") from exc

    def unwrap(self, data: bytes) -> bytes:
        """The codec's bare bitstream inside ``data``, after checking its CRC-32.

        Raises:
            CodecError: ``data`` is not bytes, too short, or fails the CRC check.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise CodecError(f"{self.name}: decode takes bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) <= CHECKSUM_BYTES:
            raise CodecError(f"{self.name}: {len(data)} bytes are too few to hold an image")
        payload, crc = data[:-CHECKSUM_BYTES], data[-CHECKSUM_BYTES:]
        if zlib.crc32(payload).to_bytes(CHECKSUM_BYTES, "big") != crc:
            raise CodecError(f"{self.name}: the {len(data)} bytes fail their CRC-32 check "
                             "(corrupt, truncated, or not made by this codec)")
        return payload

    @staticmethod
    def _seal(payload: bytes) -> bytes:
        payload = bytes(payload)
        return payload + zlib.crc32(payload).to_bytes(CHECKSUM_BYTES, "big")

    def fit(self, image: Tensor, max_bytes: int, cache: dict[float, bytes | None] | None = None) -> FitResult | None:
        """The best quality whose encoding has at most ``max_bytes`` bytes.

        A bracketing search on ``self.knob`` (assumed monotonic: better quality, more
        bytes) down to ``knob.step``: the returned quality fits and the next step towards
        ``best`` did not (unless ``best`` itself fits). Probes interpolate ``log(bytes)``
        linearly between the bracket's ends where both sizes are known (a codec's rate is
        close to exponential in its knob), else bisect; a probe that fails to halve the
        bracket is followed by a bisection, so the search never takes more than about
        twice the bisection's encodes and usually far fewer.

        Args:
            image: ``(3, H, W)`` float tensor in ``[0, 1]``.
            max_bytes: the budget in bytes (>= 1).
            cache: optional ``{quality: bytes or None}`` of this image's encodings (None:
                the encoder cannot reach that quality), read and extended; pass the same
                dict when fitting one image to several budgets, so later fits start from
                a narrow bracket.

        Returns:
            A :class:`FitResult`, or ``None`` when even the worst quality needs more than
            ``max_bytes`` bytes, or the image is smaller than ``min_side`` (HEVC and VVC
            under 16x16): the link counts that image as lost instead of aborting. A
            quality the encoder cannot reach (:class:`EncoderLimitError`) counts as not
            fitting. (:meth:`encode` of a too-small image raises :class:`CodecError`.)
        """
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 1:
            raise CodecError(f"max_bytes must be a positive integer, got {max_bytes!r}")
        if not self.accepts(image):
            return None
        pixels = self._pixels(image)
        knob = self.knob
        cache = {} if cache is None else cache

        def fits(q: float) -> bool:
            if q not in cache:
                try:
                    cache[q] = self._encode_checked(pixels, q)
                except EncoderLimitError:
                    cache[q] = None
            return cache[q] is not None and len(cache[q]) <= max_bytes

        if not fits(knob.worst):
            return None
        # invariant: ``good`` fits and ``bad`` does not, except that ``best`` is not
        # encoded until the search ends next to it (the best qualities encode slowest)
        good, bad = self._bracket(cache, max_bytes)
        halved = True
        while abs(bad - good) > knob.step:
            width = abs(bad - good)
            mid = self._interpolate(good, bad, cache, max_bytes) if halved else None
            if mid is None:
                mid = self._midpoint(good, bad)
            if fits(mid):
                good = mid
            else:
                bad = mid
            halved = abs(bad - good) <= 0.5 * width
        if bad == knob.best and fits(bad):
            good = bad
        data = cache[good]
        return FitResult(data, good, len(data), pixels.shape[0], pixels.shape[1])

    def _rank(self, q: float) -> float:
        """Position of a knob value on the worst-to-best axis."""
        return q if self.knob.higher_is_better else -q

    def _bracket(self, cache: dict[float, bytes | None], max_bytes: int) -> tuple[float, float]:
        """``(good, bad)``: the best cached quality that fits and the worst cached one,
        better than it, that does not (``knob.best`` if none)."""
        knob = self.knob
        good = max((q for q, d in cache.items() if d is not None and len(d) <= max_bytes),
                   key=self._rank, default=knob.worst)
        over = [q for q, d in cache.items()
                if (d is None or len(d) > max_bytes) and self._rank(q) > self._rank(good)]
        return good, min(over, key=self._rank, default=knob.best)

    def _interpolate(self, good: float, bad: float, cache: dict[float, bytes | None],
                     max_bytes: int) -> float | None:
        """A probe strictly inside ``(good, bad)`` where ``log(bytes)``, interpolated
        linearly between the two ends, meets the budget; None if a size is unknown."""
        knob = self.knob
        lo, hi = cache.get(good), cache.get(bad)
        if lo is None or hi is None or len(hi) <= len(lo):
            return None
        t = (math.log(max_bytes + 0.5) - math.log(len(lo))) / (math.log(len(hi)) - math.log(len(lo)))
        t = min(max(t, 0.0), 1.0)
        if knob.log_scale:
            q = math.exp(math.log(good) + t * (math.log(bad) - math.log(good)))
        else:
            q = good + t * (bad - good)
        if knob.integer:
            q = int(round(q))
        step = knob.step if bad > good else -knob.step
        inner_lo, inner_hi = sorted((good + step, bad - step))
        q = min(max(q, inner_lo), inner_hi)
        return int(q) if knob.integer else float(q)

    def _midpoint(self, good: float, bad: float) -> float:
        knob = self.knob
        if knob.integer:
            return int(good) + int((bad - good) / 2)  # truncates towards good: strictly inside
        if knob.log_scale:
            return math.sqrt(good * bad)
        return 0.5 * (good + bad)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, knob={self.knob.name})"
