"""ImageCodec machinery with a toy codec whose size is a known function of the knob."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semcom.codecs import (
    CHECKSUM_BYTES,
    CodecError,
    EncoderLimitError,
    FitResult,
    ImageCodec,
    QualityKnob,
    import_optional,
)
from semcom.codecs.base import image_to_uint8, uint8_to_image
from semcom.errors import MissingDependencyError


class ToyCodec(ImageCodec):
    """Stores the raw pixels plus ``size(quality)`` filler bytes; counts its encodes."""

    name = "toy"

    def __init__(self, knob: QualityKnob, size) -> None:
        self.knob = knob
        self.size = size
        self.encodes = 0

    def _encode(self, pixels: np.ndarray, quality: float) -> bytes:
        self.encodes += 1
        h, w, _ = pixels.shape
        return bytes([h, w]) + pixels.tobytes() + bytes(self.size(quality))

    def _decode(self, data: bytes) -> np.ndarray:
        h, w = data[0], data[1]
        return np.frombuffer(data[2:2 + 3 * h * w], dtype=np.uint8).reshape(h, w, 3)


IMAGE = torch.rand(3, 4, 5, generator=torch.Generator().manual_seed(0))
OVERHEAD = 2 + 3 * 4 * 5 + CHECKSUM_BYTES
INT_UP = QualityKnob("quality", 1, 100, higher_is_better=True)
INT_DOWN = QualityKnob("qp", 0, 51, higher_is_better=False)
FLOAT_LOG = QualityKnob("distance", 0.05, 25.0, higher_is_better=False, step=0.01, integer=False,
                        log_scale=True)


def brute_force_best(knob: QualityKnob, size, max_bytes: int) -> float | None:
    values = range(int(knob.low), int(knob.high) + 1)
    fitting = [q for q in values if OVERHEAD + size(q) <= max_bytes]
    if not fitting:
        return None
    return max(fitting) if knob.higher_is_better else min(fitting)


@pytest.mark.parametrize("knob, size", [
    (INT_UP, lambda q: int(3 * q + (q * q) // 40)),
    (INT_DOWN, lambda qp: int(4000 * 2 ** (-qp / 6))),
])
def test_integer_bisection_matches_brute_force(knob, size) -> None:
    codec = ToyCodec(knob, size)
    for max_bytes in [1, OVERHEAD, OVERHEAD + 1, OVERHEAD + 37, OVERHEAD + 250, OVERHEAD + 10**6]:
        codec.encodes = 0
        result = codec.fit(IMAGE, max_bytes)
        expected = brute_force_best(knob, size, max_bytes)
        if expected is None:
            assert result is None
            continue
        assert isinstance(result, FitResult) and result.quality == expected
        assert result.num_bytes == len(result.data) == OVERHEAD + size(expected) <= max_bytes
        assert codec.encodes <= math.ceil(math.log2(knob.high - knob.low)) + 2
        assert torch.equal(codec.decode(result.data), torch.round(IMAGE * 255) / 255)


def test_a_shared_cache_gives_the_same_fits_with_fewer_encodes() -> None:
    size = lambda qp: int(40000 * 2 ** (-qp / 6))  # noqa: E731  (rate doubles every 6 QP, like HEVC)
    budgets = [OVERHEAD + b for b in (300, 900, 2000, 5200, 11000, 25000)]
    alone = ToyCodec(INT_DOWN, size)
    expected = [alone.fit(IMAGE, b).quality for b in budgets]
    encodes_alone = alone.encodes
    shared, cache = ToyCodec(INT_DOWN, size), {}
    assert [shared.fit(IMAGE, b, cache=cache).quality for b in budgets] == expected
    assert expected == [brute_force_best(INT_DOWN, size, b) for b in budgets]
    assert shared.encodes == len(cache) < 0.6 * encodes_alone  # 18 vs 33 here
    for b in budgets:  # fitting a budget again costs nothing
        shared.fit(IMAGE, b, cache=cache)
    assert shared.encodes == len(cache)


def test_float_log_bisection_ends_within_one_step() -> None:
    size = lambda d: int(20000 / d)  # noqa: E731
    codec = ToyCodec(FLOAT_LOG, size)
    for max_bytes in [OVERHEAD + 900, OVERHEAD + 12_345, OVERHEAD + 200_000]:
        result = codec.fit(IMAGE, max_bytes)
        assert result is not None and result.num_bytes <= max_bytes
        threshold = 20000 / (max_bytes - OVERHEAD + 1)  # distances above it fit
        assert threshold < result.quality <= threshold + FLOAT_LOG.step
        assert OVERHEAD + size(FLOAT_LOG.better(result.quality)) > max_bytes


def test_best_quality_is_returned_when_it_fits() -> None:
    codec = ToyCodec(INT_DOWN, lambda qp: 51 - qp)
    result = codec.fit(IMAGE, OVERHEAD + 51)
    assert result.quality == 0 and result.num_bytes == OVERHEAD + 51


def test_qualities_the_encoder_cannot_reach_count_as_not_fitting() -> None:
    class Limited(ToyCodec):
        def _encode(self, pixels: np.ndarray, quality: float) -> bytes:
            if quality > 60:
                raise EncoderLimitError("output buffer full")
            return super()._encode(pixels, quality)

    codec = Limited(INT_UP, lambda q: q)
    assert codec.fit(IMAGE, 10**6).quality == 60
    assert codec.fit(IMAGE, OVERHEAD + 42).quality == 42
    with pytest.raises(EncoderLimitError):
        codec.encode(IMAGE, 61)


def test_encoder_exceptions_become_codec_errors() -> None:
    class Failing(ToyCodec):
        def _encode(self, pixels: np.ndarray, quality: float) -> bytes:
            raise OSError("disk on fire")

    with pytest.raises(CodecError, match="quality=3 failed .disk on fire"):
        Failing(INT_UP, lambda q: q).encode(IMAGE, 3)


def test_crc_guards_every_byte() -> None:
    codec = ToyCodec(INT_UP, lambda q: q)
    data = codec.encode(IMAGE, 10)
    assert codec.unwrap(data) == data[:-CHECKSUM_BYTES]
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 1 << (i % 8)
        with pytest.raises(CodecError, match="CRC"):
            codec.decode(bytes(damaged))
    with pytest.raises(CodecError, match="takes bytes"):
        codec.decode("not bytes")
    with pytest.raises(CodecError, match="too few"):
        codec.decode(data[:CHECKSUM_BYTES])


def test_decoder_exceptions_become_codec_errors() -> None:
    class Broken(ToyCodec):
        def _decode(self, data: bytes) -> np.ndarray:
            raise RuntimeError("library exploded\nsecond line")

    class Gray(ToyCodec):
        def _decode(self, data: bytes) -> np.ndarray:
            return np.zeros((4, 5), dtype=np.uint8)

    for cls, message in [(Broken, "library exploded"), (Gray, "not an RGB image")]:
        codec = cls(INT_UP, lambda q: q)
        with pytest.raises(CodecError, match=message) as info:
            codec.decode(codec.encode(IMAGE, 5))
        assert "\n" not in str(info.value)


def test_knob_validation() -> None:
    assert INT_UP.check(7.0) == 7 and isinstance(INT_UP.check(7.0), int)
    for bad in [0, 101, 7.5, float("nan"), "7", True]:
        with pytest.raises(CodecError):
            INT_UP.check(bad)
    assert INT_DOWN.better(30) == 29 and INT_DOWN.better(0) == 0 and INT_UP.better(100) == 100
    assert (INT_DOWN.best, INT_DOWN.worst) == (0, 51)


def test_import_optional_message() -> None:
    with pytest.raises(MissingDependencyError, match=r"'no-such-pkg'.*pip install semcom\[codecs\]"):
        import_optional("no_such_module_semcom", "toy", "no-such-pkg")


def test_pixel_conversions_round_trip() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    image = uint8_to_image(pixels)
    assert image.shape == (3, 7, 9) and image.dtype == torch.float32
    assert np.array_equal(image_to_uint8(image), pixels)
