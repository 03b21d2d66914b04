"""load_image / save_image: every documented conversion and every failure mode."""

from __future__ import annotations

import struct
import time
import warnings
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from semcom.conventions import quantize_8bit
from semcom.data.io import SemcomWarning, decode_image, load_image, load_image_uint8, read_image_size, save_image
from semcom.errors import ImageLoadError, SemcomError


# ----------------------------------------------------------------------------- helpers
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png16(path: Path, values: np.ndarray, color_type: int) -> Path:
    """A 16-bit PNG written by hand (Pillow cannot write 48/64-bit PNGs).

    Odd rows use the Sub filter, so the decoder's per-pixel byte count is exercised."""
    h, w = values.shape[:2]
    channels = 1 if values.ndim == 2 else values.shape[2]
    bpp = 2 * channels
    rows = []
    for y in range(h):
        raw = np.frombuffer(values[y].astype(">u2").tobytes(), dtype=np.uint8).astype(np.int64)
        if y % 2:
            filtered = raw.copy()
            filtered[bpp:] = (raw[bpp:] - raw[:-bpp]) % 256
            rows.append(b"\x01" + filtered.astype(np.uint8).tobytes())
        else:
            rows.append(b"\x00" + raw.astype(np.uint8).tobytes())
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                     + _png_chunk(b"IDAT", zlib.compress(b"".join(rows))) + _png_chunk(b"IEND", b""))
    return path


def write_png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose IHDR declares ``width x height`` followed by a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                     + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + _png_chunk(b"IEND", b""))
    return path


def round_16_to_8(v: np.ndarray) -> np.ndarray:
    """round(v / 257) in integers (v / 257 is never exactly k + 1/2)."""
    return (2 * v.astype(np.int64) + 257) // 514


def pixels(t: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) int64 0..255, checking it is on the 8-bit grid."""
    assert t.dtype == torch.float32 and t.dim() == 3 and t.shape[0] == 3
    scaled = t.permute(1, 2, 0).double().numpy() * 255.0
    assert np.abs(scaled - np.round(scaled)).max() < 1e-4
    return np.round(scaled).astype(np.int64)


def semcom_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, SemcomWarning)]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


# ----------------------------------------------------------------------------- conversions
@pytest.mark.parametrize("size", [(1, 1), (17, 33), (33, 17), (5, 64)])
def test_rgb_png_loads_exactly_without_warning(tmp_path, rng, size):
    a = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(a, "RGB").save(tmp_path / "x.png")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        t = load_image(tmp_path / "x.png")
    assert t.shape == (3, *size)
    assert np.array_equal(pixels(t), a)
    assert semcom_warnings(record) == []


def test_grayscale_is_replicated_exactly_without_warning(tmp_path, rng):
    g = rng.integers(0, 256, (9, 13), dtype=np.uint8)
    Image.fromarray(g, "L").save(tmp_path / "g.png")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        p = pixels(load_image(tmp_path / "g.png"))
    for c in range(3):
        assert np.array_equal(p[:, :, c], g)
    assert semcom_warnings(record) == []


def test_bilevel_image_maps_to_black_and_white(tmp_path):
    bits = np.array([[0, 1, 1], [1, 0, 0]], dtype=bool)
    Image.fromarray(bits).save(tmp_path / "b.png")
    p = pixels(load_image(tmp_path / "b.png"))
    assert np.array_equal(p[:, :, 1], bits * 255)


def test_rgba_is_composited_over_white_with_warning(tmp_path, rng):
    rgba = rng.integers(0, 256, (6, 7, 4), dtype=np.uint8)
    rgba[0, 0, 3], rgba[0, 1, 3] = 0, 255  # fully transparent and fully opaque pixels
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    with pytest.warns(SemcomWarning, match="over white"):
        p = pixels(load_image(tmp_path / "a.png"))
    c, a = rgba[:, :, :3].astype(np.int64), rgba[:, :, 3:].astype(np.int64)
    expected = (c * a + 255 * (255 - a) + 127) // 255  # round(c a / 255 + 255 - a)
    assert np.array_equal(p, expected)
    assert np.array_equal(p[0, 0], [255, 255, 255])
    assert np.array_equal(p[0, 1], rgba[0, 1, :3])


def test_opaque_alpha_is_dropped_silently(tmp_path, rng):
    rgba = rng.integers(0, 256, (4, 5, 4), dtype=np.uint8)
    rgba[:, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "o.png")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        p = pixels(load_image(tmp_path / "o.png"))
    assert np.array_equal(p, rgba[:, :, :3])
    assert semcom_warnings(record) == []


def test_gray_alpha_is_composited_over_white(tmp_path):
    la = np.array([[[100, 0], [100, 255], [100, 128]]], dtype=np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    with pytest.warns(SemcomWarning):
        p = pixels(load_image(tmp_path / "la.png"))
    assert p[0, :, 0].tolist() == [255, 100, (100 * 128 + 255 * 127 + 127) // 255]
    assert np.array_equal(p[..., 0], p[..., 2])


def test_palette_gives_palette_colours(tmp_path, rng):
    palette = rng.integers(0, 256, (4, 3), dtype=np.uint8)
    index = rng.integers(0, 4, (5, 6), dtype=np.uint8)
    im = Image.fromarray(index, "P")
    im.putpalette(palette.reshape(-1).tolist())
    im.save(tmp_path / "p.png")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        p = pixels(load_image(tmp_path / "p.png"))
    assert np.array_equal(p, palette[index])
    assert semcom_warnings(record) == []


def test_palette_transparency_becomes_white(tmp_path):
    index = np.array([[0, 1], [1, 0]], dtype=np.uint8)
    im = Image.fromarray(index, "P")
    im.putpalette([10, 20, 30, 200, 100, 50])
    im.save(tmp_path / "pt.png", transparency=0)
    with pytest.warns(SemcomWarning, match="over white"):
        p = pixels(load_image(tmp_path / "pt.png"))
    assert p[0, 0].tolist() == [255, 255, 255] and p[0, 1].tolist() == [200, 100, 50]


def test_16bit_gray_png_rounds_v_over_257(tmp_path, rng):
    v = rng.integers(0, 65536, (8, 9), dtype=np.uint16)
    v[0, :5] = [0, 128, 129, 65535, 257 * 7 + 128]  # round-down/up edges
    Image.fromarray(v).save(tmp_path / "g16.png")  # Pillow writes I;16 as a 16-bit PNG
    with pytest.warns(SemcomWarning, match="8 bits"):
        p = pixels(load_image(tmp_path / "g16.png"))
    assert np.array_equal(p[:, :, 0], round_16_to_8(v))
    assert np.array_equal(p[:, :, 0], p[:, :, 2])
    assert p[0, :5, 0].tolist() == [0, 0, 1, 255, 7]


def test_48bit_png_rounds_both_bytes(tmp_path, rng):
    v = rng.integers(0, 65536, (7, 11, 3), dtype=np.uint16)
    v[0, 0] = [255, 128, 129]  # high byte 0: truncation would give 0, rounding gives 1, 0, 1
    path = write_png16(tmp_path / "rgb48.png", v, color_type=2)
    with pytest.warns(SemcomWarning, match="16-bit"):
        p = pixels(load_image(path))
    assert np.array_equal(p, round_16_to_8(v))
    assert p[0, 0].tolist() == [1, 0, 1]


def test_64bit_rgba_png_composites_at_full_precision(tmp_path, rng):
    v = rng.integers(0, 65536, (3, 4, 4), dtype=np.uint16)
    path = write_png16(tmp_path / "rgba64.png", v, color_type=6)
    with pytest.warns(SemcomWarning):
        p = pixels(load_image(path))
    for y in range(3):
        for x in range(4):
            a = Fraction(int(v[y, x, 3]), 65535)
            for c in range(3):
                value = 255 * (Fraction(int(v[y, x, c]), 65535) * a + 1 - a)
                assert p[y, x, c] == int(value + Fraction(1, 2)), (y, x, c)


def test_16bit_gray_alpha_png_keeps_the_high_byte_and_says_so(tmp_path):
    v = np.array([[[100 * 256 + 255, 65535], [65535, 0]]], dtype=np.uint16)  # (gray, alpha) pairs
    path = write_png16(tmp_path / "la16.png", v, color_type=4)
    with pytest.warns(SemcomWarning) as record:
        p = pixels(load_image(path))
    messages = " ".join(str(w.message) for w in record)
    assert "high byte" in messages and "over white" in messages
    assert p[0, 0].tolist() == [100] * 3  # opaque: the high byte (rounding would give 101)
    assert p[0, 1].tolist() == [255, 255, 255]  # transparent: white


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_48bit_tiff_rounds_both_bytes(tmp_path, rng, compression):
    imagecodecs = pytest.importorskip("imagecodecs")
    v = rng.integers(0, 65536, (6, 5, 3), dtype=np.uint16)
    data = imagecodecs.tiff_encode(v, compression=compression) if compression else imagecodecs.tiff_encode(v)
    (tmp_path / "rgb48.tif").write_bytes(data)
    with pytest.warns(SemcomWarning):
        p = pixels(load_image(tmp_path / "rgb48.tif"))
    assert np.array_equal(p, round_16_to_8(v))


def test_16bit_gray_tiff(tmp_path, rng):
    v = rng.integers(0, 65536, (4, 6), dtype=np.uint16)
    Image.fromarray(v).save(tmp_path / "g16.tif")
    with pytest.warns(SemcomWarning):
        p = pixels(load_image(tmp_path / "g16.tif"))
    assert np.array_equal(p[:, :, 1], round_16_to_8(v))


def test_cmyk_jpeg_and_tiff_convert_to_rgb(tmp_path):
    cmyk = np.zeros((16, 16, 4), dtype=np.uint8)
    cmyk[:8] = [0, 255, 255, 0]      # red
    cmyk[8:] = [200, 40, 0, 100]     # a bluish colour, with black
    expected = np.stack([(255 - cmyk[..., i].astype(float)) * (255 - cmyk[..., 3].astype(float)) / 255
                         for i in range(3)], axis=-1)
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.tif")
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.jpg", quality=95)
    with pytest.warns(SemcomWarning, match="CMYK"):
        exact = pixels(load_image(tmp_path / "c.tif"))
    assert np.abs(exact - expected).max() <= 1
    with pytest.warns(SemcomWarning, match="CMYK"):
        lossy = pixels(load_image(tmp_path / "c.jpg"))
    assert np.abs(lossy[2:6, 2:14] - expected[2:6, 2:14]).max() <= 6  # JPEG error away from the edge
    assert lossy[4, 4, 0] > 240 and lossy[4, 4, 1] < 15


def test_two_frame_gif_gives_first_frame_with_warning(tmp_path):
    red = Image.new("RGB", (6, 4), (255, 0, 0))
    blue = Image.new("RGB", (6, 4), (0, 0, 255))
    red.save(tmp_path / "anim.gif", save_all=True, append_images=[blue], duration=100)
    with pytest.warns(SemcomWarning, match="first frame"):
        p = pixels(load_image(tmp_path / "anim.gif"))
    assert p.shape == (4, 6, 3)
    assert (p == [255, 0, 0]).all()


def test_multipage_tiff_gives_first_page(tmp_path):
    first = Image.new("RGB", (3, 2), (1, 2, 3))
    first.save(tmp_path / "pages.tif", save_all=True, append_images=[Image.new("RGB", (5, 5), (9, 9, 9))])
    with pytest.warns(SemcomWarning, match="first frame"):
        p = pixels(load_image(tmp_path / "pages.tif"))
    assert p.shape == (2, 3, 3) and (p == [1, 2, 3]).all()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow_exif_transpose(tmp_path, rng, orientation):
    a = rng.integers(0, 256, (3, 5, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(a, "RGB").save(tmp_path / "o.png", exif=exif)
    reference = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")).convert("RGB"))
    p = pixels(load_image(tmp_path / "o.png"))
    assert np.array_equal(p, reference)
    assert read_image_size(tmp_path / "o.png") == p.shape[:2]
    if orientation == 6:  # "rotate 90 CW to display"
        assert np.array_equal(p, np.rot90(a, k=-1))


def test_warning_points_at_the_caller(tmp_path):
    Image.fromarray(np.zeros((2, 2, 4), np.uint8), "RGBA").save(tmp_path / "t.png")
    with pytest.warns(SemcomWarning) as record:
        load_image(tmp_path / "t.png")
    assert Path(record[0].filename).resolve() == Path(__file__).resolve()


def test_decode_image_bytes_matches_load_image(tmp_path, rng):
    a = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "x.jpg", quality=80)
    from_bytes = decode_image((tmp_path / "x.jpg").read_bytes(), "x.jpg")
    assert from_bytes.dtype == np.uint8 and from_bytes.flags.writeable
    assert np.array_equal(from_bytes, load_image_uint8(tmp_path / "x.jpg"))


# ----------------------------------------------------------------------------- failures
def _raises_quickly(path: Path, match: str, **kwargs) -> None:
    start = time.perf_counter()
    with pytest.raises(ImageLoadError, match=match) as info:
        load_image(path, **kwargs)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert info.value.__cause__ is None  # one clean line, no chained traceback


def test_missing_file(tmp_path):
    _raises_quickly(tmp_path / "nope.png", "no such file")


def test_directory(tmp_path):
    _raises_quickly(tmp_path, "directory")


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    _raises_quickly(tmp_path / "empty.png", "empty")
    with pytest.raises(ImageLoadError, match="empty"):
        decode_image(b"")


def test_text_file_named_png(tmp_path):
    (tmp_path / "notes.png").write_text("this is not an image\n")
    _raises_quickly(tmp_path / "notes.png", "not an image")


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_truncated_file(tmp_path, rng, fmt):
    a = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / f"full.{fmt}")
    data = (tmp_path / f"full.{fmt}").read_bytes()
    (tmp_path / f"cut.{fmt}").write_bytes(data[: len(data) // 2])
    _raises_quickly(tmp_path / f"cut.{fmt}", "truncated|corrupt")


def test_decompression_bomb_header_fails_before_decoding(tmp_path):
    _raises_quickly(write_png_header_only(tmp_path / "bomb.png", 100_000, 100_000), "large|exceeds")


def test_bomb_check_stays_active_when_pillows_is_disabled(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    _raises_quickly(write_png_header_only(tmp_path / "bomb.png", 100_000, 100_000), "exceeds the limit")


def test_pixel_limit_is_ours_and_configurable(tmp_path, rng):
    # 12000 x 10000 is under Pillow's own hard limit but over the default 100 MP
    _raises_quickly(write_png_header_only(tmp_path / "big.png", 12_000, 10_000), "exceeds the limit of 100000000")
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "small.png")
    _raises_quickly(tmp_path / "small.png", "400 pixels exceeds the limit of 399", max_pixels=399)
    assert load_image(tmp_path / "small.png", max_pixels=400).shape == (3, 20, 20)


def test_min_size(tmp_path):
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    Image.new("RGB", (33, 17)).save(tmp_path / "odd.png")  # W=33, H=17
    assert load_image(tmp_path / "dot.png").shape == (3, 1, 1)
    _raises_quickly(tmp_path / "dot.png", "smaller than the minimum 2x2", min_size=2)
    assert load_image(tmp_path / "odd.png", min_size=(17, 33)).shape == (3, 17, 33)
    _raises_quickly(tmp_path / "odd.png", "smaller", min_size=(18, 33))
    _raises_quickly(tmp_path / "odd.png", "smaller", min_size=18)


def test_float_image_outside_unit_range_is_rejected(tmp_path):
    Image.fromarray(np.full((2, 2), 3.5, dtype=np.float32), "F").save(tmp_path / "f.tif")
    _raises_quickly(tmp_path / "f.tif", r"outside \[0, 1\]")


# ----------------------------------------------------------------------------- save_image
@pytest.mark.parametrize("batched", [False, True])
def test_save_image_writes_8bit_png_rounded_by_convention(tmp_path, batched):
    x = torch.rand(3, 17, 33, generator=torch.Generator().manual_seed(3)) * 1.2 - 0.1  # out-of-range values too
    out = save_image(x[None] if batched else x, tmp_path / "sub" / "y.png")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.mode == "RGB" and im.size == (33, 17)
    assert torch.equal(load_image(out), quantize_8bit(x))


def test_save_load_round_trip_is_exact_on_the_8bit_grid(tmp_path):
    x = torch.randint(0, 256, (3, 5, 7), generator=torch.Generator().manual_seed(0)).float() / 255
    assert torch.equal(load_image(save_image(x, tmp_path / "z.png")), x)


@pytest.mark.parametrize("bad", [torch.zeros(2, 3, 4, 4), torch.zeros(4, 4), torch.zeros(1, 4, 4),
                                 torch.zeros(3, 4, 4, dtype=torch.uint8), torch.full((3, 2, 2), float("nan"))])
def test_save_image_rejects_bad_input(tmp_path, bad):
    with pytest.raises(SemcomError):
        save_image(bad, tmp_path / "bad.png")
