"""The raw HEVC and VVC byte streams: self-describing, no padding charged for nothing."""

from __future__ import annotations

import re

import pytest
import torch

from semcom.codecs import CHECKSUM_BYTES, CodecError, create_codec
from semcom.errors import MissingDependencyError


def make(name: str, **kw):
    try:
        return create_codec(name, **kw)
    except MissingDependencyError:
        pytest.skip(f"codec {name!r} is not installed")


def test_hevc_is_a_bare_annexb_stream() -> None:
    codec = make("hevc")
    flat = torch.full((3, 16, 24), 0.5)
    data = codec.encode(flat, 30)
    stream = codec.unwrap(data)
    assert stream.startswith(b"\x00\x00\x00\x01\x40\x01")  # start code + VPS NAL header
    assert len(data) < 120  # headers + one tiny slice: no x265 info SEI (that alone is ~2 kB)
    assert not re.search(rb"[ -~]{24}", data)
    assert codec.decode(data).shape == (3, 16, 24)


@pytest.mark.slow
@pytest.mark.parametrize("height, width, first_byte",
                         [(16, 24, 0x00), (17, 24, 0x02), (16, 25, 0x01), (17, 33, 0x03)])
def test_vvc_crop_flag_only_for_odd_sizes(image, height, width, first_byte) -> None:
    codec = make("vvc", preset="faster")
    crop = image[:, :height, :width]
    data = codec.encode(crop, 32)
    assert data[0] == first_byte
    if first_byte == 0:
        assert data.startswith(b"\x00\x00\x00\x01")
    assert codec.decode(data).shape == crop.shape
    assert len(data) > CHECKSUM_BYTES
    assert not re.search(rb"[ -~]{24}", data), "encoder log text leaked into the bitstream"


@pytest.mark.slow
def test_vvc_fit_stops_below_the_wrappers_output_limit(gen) -> None:
    codec = make("vvc", preset="faster")
    noise = torch.rand(3, 32, 32, generator=gen)  # incompressible: low QPs overflow W*H bytes
    result = codec.fit(noise, 10**6)
    assert result is not None and 0 < result.quality < 63
    assert result.num_bytes <= 32 * 32 + CHECKSUM_BYTES
    with pytest.raises(CodecError, match="libvvenc"):
        codec.encode(noise, result.quality - 1)
    assert codec.decode(result.data).shape == noise.shape
