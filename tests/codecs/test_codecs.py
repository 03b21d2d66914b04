"""Every registered codec: round trip, rate monotonicity, budget fitting, clean failures."""

from __future__ import annotations

import math
import sys
import zlib

import numpy as np
import pytest
import torch

from semcom.codecs import (
    CHECKSUM_BYTES,
    CodecError,
    ImageCodec,
    QualityKnob,
    available_codecs,
    create_codec,
    list_codecs,
)
from semcom.conventions import psnr
from semcom.errors import MissingDependencyError, SemcomError, UnknownNameError
from semcom.registry import CODECS

# VVC (vvenc) is slow: its tests use the fastest preset and are marked slow.
FAST_SETTINGS = {"vvc": {"preset": "faster"}}


def _param(name: str) -> pytest.param:
    return pytest.param(name, marks=[pytest.mark.slow] if name == "vvc" else [], id=name)


ALL = [_param(name) for name in list_codecs()]


@pytest.fixture(scope="module")
def codecs() -> dict[str, ImageCodec]:
    built: dict[str, ImageCodec] = {}
    for name in list_codecs():
        try:
            built[name] = create_codec(name, **FAST_SETTINGS.get(name, {}))
        except MissingDependencyError:
            MISSING[name] = "its trained weights are not in the zoo" if name == "quad_lic" else "not installed"
    return built


#: why a codec could not be built (its package, or a learned codec's weights)
MISSING: dict[str, str] = {}


def get(codecs: dict[str, ImageCodec], name: str) -> ImageCodec:
    if name not in codecs:
        pytest.skip(f"codec {name!r}: {MISSING.get(name, 'not installed')}")
    return codecs[name]


def knob_at(knob: QualityKnob, fraction: float) -> float:
    """The knob value a ``fraction`` of the way from ``worst`` (0) to ``best`` (1)."""
    if knob.log_scale:
        value = math.exp(math.log(knob.worst) + fraction * (math.log(knob.best) - math.log(knob.worst)))
    else:
        value = knob.worst + fraction * (knob.best - knob.worst)
    return int(round(value)) if knob.integer else value


def db(reference: torch.Tensor, decoded: torch.Tensor) -> float:
    return float(psnr(reference[None], decoded[None]))


def test_registry_lists_every_family() -> None:
    assert {"jpeg", "jpeg2000", "webp", "avif", "heic", "hevc", "vvc", "jpegxl"} <= set(list_codecs())
    assert set(available_codecs()) <= set(list_codecs())
    for name in list_codecs():
        codec_class = CODECS.get(name)
        assert codec_class.name == name
        knob = codec_class.knob
        assert knob.low < knob.high and knob.step > 0 and knob.description


def test_unknown_codec_is_a_clear_error() -> None:
    with pytest.raises(UnknownNameError, match="did you mean jpeg"):
        create_codec("jpge")


@pytest.mark.parametrize("name", ALL)
def test_round_trip_at_high_quality(codecs, image, name) -> None:
    codec = get(codecs, name)
    data = codec.encode(image, knob_at(codec.knob, 0.9))
    decoded = codec.decode(data)
    assert isinstance(data, bytes)
    assert decoded.shape == image.shape and decoded.dtype == torch.float32
    assert torch.equal(decoded, torch.round(decoded * 255) / 255) and 0 <= decoded.min() <= decoded.max() <= 1
    assert db(image, decoded) > 36.0
    assert codec.decode(data).equal(decoded)  # decoding is deterministic


@pytest.mark.parametrize("name", ALL)
def test_higher_quality_gives_more_bytes_and_psnr(codecs, image, name) -> None:
    codec = get(codecs, name)
    low, high = knob_at(codec.knob, 0.3), knob_at(codec.knob, 0.7)
    data_low, data_high = codec.encode(image, low), codec.encode(image, high)
    assert len(data_low) < len(data_high)
    assert db(image, codec.decode(data_low)) + 1.0 < db(image, codec.decode(data_high))


@pytest.mark.parametrize("name", ALL)
def test_fit_respects_budget_within_one_knob_step(codecs, image, name) -> None:
    codec = get(codecs, name)
    knob = codec.knob
    sizes = [len(codec.encode(image, knob_at(knob, fraction))) for fraction in (0.4, 0.6)]
    max_bytes = sum(sizes) // 2
    result = codec.fit(image, max_bytes)
    assert result is not None
    assert result.num_bytes == len(result.data) <= max_bytes
    assert result.bpp == pytest.approx(8 * result.num_bytes / (64 * 96))
    assert knob.low <= result.quality <= knob.high and result.quality != knob.best
    assert len(codec.encode(image, knob.better(result.quality))) > max_bytes  # one step better overflows
    assert codec.decode(result.data).shape == image.shape
    assert codec.fit(image, 8) is None  # not even the worst quality fits in 8 bytes


@pytest.mark.parametrize("name", ALL)
def test_bad_bytes_raise_codec_error(codecs, image, name) -> None:
    codec = get(codecs, name)
    data = codec.encode(image, knob_at(codec.knob, 0.5))
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    rng = np.random.default_rng(7)
    junk = bytes(rng.integers(0, 256, 600, dtype=np.uint8))
    bad = {
        "empty": b"",
        "half": data[: len(data) // 2],
        "minus one byte": data[:-1],
        "one bit flipped": bytes(flipped),
        "random": junk,
        # right CRC, foreign payload: reaches the decoder itself, which must fail cleanly
        "random with valid crc": junk + zlib.crc32(junk).to_bytes(CHECKSUM_BYTES, "big"),
        "zeros with valid crc": bytes(64) + zlib.crc32(bytes(64)).to_bytes(CHECKSUM_BYTES, "big"),
    }
    for what, blob in bad.items():
        with pytest.raises(CodecError):
            codec.decode(blob)
            pytest.fail(f"{name} decoded {what} bytes")
    other = "jpeg" if name != "jpeg" else "webp"
    with pytest.raises(CodecError):  # another codec's valid bytes
        codec.decode(get(codecs, other).encode(image, knob_at(codecs[other].knob, 0.5)))


@pytest.mark.parametrize("name", ALL)
def test_odd_sizes_round_trip(codecs, odd_image, name) -> None:
    codec = get(codecs, name)
    data = codec.encode(odd_image, knob_at(codec.knob, 0.8))
    decoded = codec.decode(data)
    assert decoded.shape == (3, 17, 33)
    assert db(odd_image, decoded) > 30.0


@pytest.mark.parametrize("name", ALL)
def test_invalid_inputs_are_codec_errors(codecs, image, name) -> None:
    codec = get(codecs, name)
    knob = codec.knob
    with pytest.raises(CodecError, match=knob.name):
        codec.encode(image, knob.high + 1)
    with pytest.raises(CodecError, match=r"\(3, H, W\)"):
        codec.encode(image[None], knob_at(knob, 0.5))
    with pytest.raises(CodecError, match=r"\[0, 1\]"):
        codec.encode(image * 2, knob_at(knob, 0.5))
    with pytest.raises(CodecError, match="max_bytes"):
        codec.fit(image, 0)
    assert issubclass(CodecError, SemcomError)


@pytest.mark.parametrize("name", [n for n in list_codecs() if CODECS.get(n).requires])
def test_missing_extra_names_the_install_command(monkeypatch, name) -> None:
    for module in CODECS.get(name).requires:
        monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(MissingDependencyError) as info:
        create_codec(name)
    message = str(info.value)
    assert "pip install semcom[codecs]" in message and "\n" not in message and name in message
    assert name not in available_codecs()
    assert "jpeg" in available_codecs()


@pytest.mark.parametrize("name", ALL)
def test_smallest_accepted_image(codecs, image, name) -> None:
    codec = get(codecs, name)
    side = codec.min_side
    crop = image[:, :side, : side + 1]
    assert codec.decode(codec.encode(crop, knob_at(codec.knob, 0.6))).shape == crop.shape
    if side > 1:
        with pytest.raises(CodecError, match=f"at least {side}x{side}"):
            codec.encode(image[:, : side - 1, :], knob_at(codec.knob, 0.6))
        # a sweep's fit does not abort: the image is a counted failure (no fit)
        assert not codec.accepts(image[:, : side - 1, :])
        assert codec.fit(image[:, : side - 1, :], 100_000) is None
    assert codec.accepts(crop)
