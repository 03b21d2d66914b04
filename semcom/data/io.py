"""Read any image file as 8-bit RGB, and write 8-bit PNGs.

Every loader in semcom goes through :func:`load_image` (or :func:`decode_image` for
bytes), so one place decides how unusual files become the canonical
``(3, H, W)`` float32 tensor in ``[0, 1]`` on the 8-bit grid.

Conversions (a :class:`SemcomWarning` is issued only where information is dropped):

==========================  ===================================================  =======
input                       result                                               warning
==========================  ===================================================  =======
RGB, 8 bit                  unchanged                                            no
grayscale ``L`` / ``1``     the gray value replicated into R, G and B (exact)    no
palette ``P``               the palette colours (with transparency: as RGBA)     no
RGBA / LA / PA              composited over **white**: ``c * a + 1 * (1 - a)``   yes*
16-bit (``I;16``, 48-bit    ``v -> round(v / 257)`` (both bytes are read, so     yes
PNG, 16-bit TIFF)           the rounding is exact, not a truncation)
16-bit gray+alpha PNG       high byte only (Pillow has no low-byte reader),      yes
                            then composited over white
32-bit integer ``I``        clipped to ``[0, 65535]``, then as 16 bit            yes
float ``F`` in ``[0, 1]``   ``round(255 x)``; values outside ``[0, 1]``: error   yes
CMYK                        Pillow's ``R = (255 - C)(255 - K) / 255`` (no ICC)   yes
multi-frame (GIF, TIFF,     the first frame                                      yes
APNG)
EXIF orientation            applied (the pixels are rotated/flipped upright)     no
==========================  ===================================================  =======

\\* only when some pixel is not fully opaque; an all-opaque alpha channel is dropped
silently. Compositing over white (rather than dropping alpha) is the choice because
the colour stored under transparent pixels is arbitrary (often black or garbage),
while white is what a viewer shows on a page.

Failures raise :class:`semcom.errors.ImageLoadError` with one line naming the file:
missing, a directory, empty, truncated or corrupt, not an image, more pixels than
``max_pixels`` (default :data:`MAX_PIXELS`, 100 megapixels), or smaller than a
``min_size`` the caller asks for. The size check reads only the header, so a
"decompression bomb" fails before any pixel is decoded; Pillow's own bomb check
(``Image.MAX_IMAGE_PIXELS``) stays active as a second guard. Truncated files are
detected as long as Pillow's global ``ImageFile.LOAD_TRUNCATED_IMAGES`` stays False
(its default; semcom never changes it).
"""

from __future__ import annotations

import io
import os
import re
import struct
import sys
import warnings
import zlib
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from semcom.conventions import quantize_8bit
from semcom.errors import ImageLoadError, SemcomError

PathLike = Union[str, os.PathLike]
SizeSpec = Union[int, tuple[int, int], None]

#: Default largest image accepted, in pixels (width * height).
MAX_PIXELS = 100_000_000

_EXIF_ORIENTATION = 0x0112
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, struct.error, IndexError, TypeError)
# Pillow decodes multi-channel 16-bit files to 8 bits by keeping the high byte; the
# same stream read with the opposite byte order yields the low byte.
_WIDE_RAWMODE = re.compile(r"^(RGB|RGBA);16([BLN])$")


class SemcomWarning(UserWarning):
    """An image was converted in a way that drops information (alpha, bit depth, ...)."""


# ----------------------------------------------------------------------------- public
def load_image(path: PathLike, *, min_size: SizeSpec = None, max_pixels: int | None = None) -> Tensor:
    """Load an image file as a ``(3, H, W)`` float32 tensor in ``[0, 1]`` (8-bit grid).

    Args:
        path: the image file (any format Pillow reads: PNG, JPEG, TIFF, GIF, BMP, WebP, ...).
        min_size: reject images smaller than this: ``int`` (both sides) or ``(H, W)``.
        max_pixels: reject images with more pixels than this (default :data:`MAX_PIXELS`).

    Returns:
        ``(3, H, W)`` float32, values ``k / 255``; ``H, W`` after EXIF orientation.

    Raises:
        ImageLoadError: the file is missing, empty, corrupt, not an image, too large or
            too small (one line naming the file and the reason).
    """
    return to_tensor(load_image_uint8(path, min_size=min_size, max_pixels=max_pixels))


def load_image_uint8(path: PathLike, *, min_size: SizeSpec = None, max_pixels: int | None = None) -> np.ndarray:
    """Like :func:`load_image` but returns the ``(H, W, 3)`` uint8 array."""
    path = Path(path)
    if not path.exists():
        raise ImageLoadError(f"cannot load image {path}: no such file")
    if path.is_dir():
        raise ImageLoadError(f"cannot load image {path}: it is a directory, not a file")
    try:
        if path.stat().st_size == 0:
            raise ImageLoadError(f"cannot load image {path}: the file is empty")
    except OSError as err:
        raise ImageLoadError(f"cannot load image {path}: {err.strerror or err}") from None
    return _decode(path, str(path), min_size, max_pixels)


def decode_image(data: bytes, name: str = "<bytes>", *, min_size: SizeSpec = None,
                 max_pixels: int | None = None) -> np.ndarray:
    """Decode an encoded image held in memory to ``(H, W, 3)`` uint8 (see :func:`load_image`).

    Args:
        data: the encoded file's bytes.
        name: what to call it in warnings and errors (e.g. ``"train_0.tar:cat/0001.jpg"``).
    """
    if len(data) == 0:
        raise ImageLoadError(f"cannot load image {name}: the file is empty")
    return _decode(io.BytesIO(data), name, min_size, max_pixels)


def read_image_size(path: PathLike, *, max_pixels: int | None = None) -> tuple[int, int]:
    """``(H, W)`` of an image as :func:`load_image` would return it, from the header only."""
    with _open(Path(path), str(path), max_pixels) as im:
        w, h = im.size
        if im.format == "PNG" and "exif" not in im.info:
            return (h, w)  # an eXIf chunk after the pixel data is not read here (Pillow would decode)
        return (w, h) if _orientation(im, str(path)) in (5, 6, 7, 8) else (h, w)


def to_tensor(array: np.ndarray) -> Tensor:
    """``(..., H, W, 3)`` uint8 -> ``(..., 3, H, W)`` float32 in ``[0, 1]`` (one image or a batch)."""
    if not (array.flags.writeable and array.flags.c_contiguous):
        array = np.array(array, order="C")
    return torch.from_numpy(array).movedim(-1, -3).to(torch.float32).div_(255.0)


def save_image(image: Tensor, path: PathLike) -> Path:
    """Write one image as an 8-bit RGB PNG (parent folders are created).

    Args:
        image: ``(3, H, W)`` or ``(1, 3, H, W)`` float in ``[0, 1]``; clamped and rounded
            with :func:`semcom.conventions.quantize_8bit`.
        path: the output file; the format is PNG whatever the suffix.

    Returns:
        The path written.
    """
    if not isinstance(image, Tensor):
        raise SemcomError(f"save_image expects a torch.Tensor, got {type(image).__name__}")
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 3 or image.shape[0] != 3 or image.shape[1] < 1 or image.shape[2] < 1:
        raise SemcomError(f"save_image expects a (3, H, W) or (1, 3, H, W) tensor, got shape {tuple(image.shape)}")
    if not image.is_floating_point():
        raise SemcomError(f"save_image expects a float tensor in [0, 1], got {image.dtype}")
    if not bool(torch.isfinite(image).all()):
        raise SemcomError("save_image: the image contains NaN or infinite values")
    pixels = (quantize_8bit(image.detach().to("cpu", torch.float64)) * 255.0).round().to(torch.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.permute(1, 2, 0).contiguous().numpy(), mode="RGB").save(path, format="PNG")
    return path


# ----------------------------------------------------------------------------- decoding
def _open(source: Path | io.BytesIO, name: str, max_pixels: int | None) -> Image.Image:
    """Open (header only) and check the pixel count before anything is decoded."""
    limit = MAX_PIXELS if max_pixels is None else int(max_pixels)
    try:
        with warnings.catch_warnings():
            # our own limit decides below; Pillow's hard limit (2x its warning level) still raises
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(source)
    except Image.DecompressionBombError:
        raise ImageLoadError(f"cannot load image {name}: its header declares an absurdly large image "
                             f"(over Pillow's limit of {2 * (Image.MAX_IMAGE_PIXELS or 0)} pixels)") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"cannot load image {name}: not an image file Pillow can read") from None
    except _DECODE_ERRORS as err:
        raise ImageLoadError(f"cannot load image {name}: corrupt or unreadable header ({_reason(err)})") from None
    w, h = im.size
    if w < 1 or h < 1:
        im.close()
        raise ImageLoadError(f"cannot load image {name}: its header declares an empty {w}x{h} image")
    if w * h > limit:
        im.close()
        raise ImageLoadError(f"cannot load image {name}: {w}x{h} = {w * h} pixels exceeds the limit of "
                             f"{limit} (pass max_pixels to raise it)")
    return im


def _decode(source: Path | io.BytesIO, name: str, min_size: SizeSpec, max_pixels: int | None) -> np.ndarray:
    with _open(source, name, max_pixels) as im:
        if _is_multiframe(im):
            _warn(f"{name}: multi-frame image; using the first frame only")
            im.seek(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                rgb = _to_rgb8(im, source, name)
        except ImageLoadError:
            raise
        except Image.DecompressionBombError:
            raise ImageLoadError(f"cannot load image {name}: too many pixels for Pillow's limit") from None
        except _DECODE_ERRORS as err:
            raise ImageLoadError(f"cannot load image {name}: truncated or corrupt data ({_reason(err)})") from None
        # after decoding: Pillow's PNG getexif() decodes the image to find a trailing eXIf
        orientation = _orientation(im, name)
    rgb = _apply_orientation(rgb, orientation)
    _check_min_size(rgb.shape[0], rgb.shape[1], min_size, name)
    if not (rgb.flags.writeable and rgb.flags.c_contiguous):
        rgb = np.array(rgb, order="C")  # Pillow's buffers are read-only; views may be strided
    return rgb


def _to_rgb8(im: Image.Image, source: Path | io.BytesIO, name: str) -> np.ndarray:
    """Decode the current frame to ``(H, W, 3)`` uint8 with the documented conversions."""
    mode = im.mode
    wide = _wide_rawmode(im)
    if wide is not None:
        return _decode_wide(im, source, name, wide)
    if mode == "RGB":
        return np.asarray(im.convert("RGB"))
    if mode in ("L", "1"):
        gray = np.asarray(im.convert("L"))
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P":
        if "transparency" in im.info:
            return _composite(np.asarray(im.convert("RGBA")).astype(np.float64) / 255.0, name)
        return np.asarray(im.convert("RGB"))
    if mode in ("RGBA", "RGBa", "PA", "LA", "La"):
        if (_rawmode(im) or "").startswith("LA;16"):
            # Pillow has no low-byte unpacker for 16-bit gray+alpha PNGs
            _warn_depth(name, "16-bit gray+alpha (high byte kept, low byte unavailable)")
        return _composite(np.asarray(im.convert("RGBA")).astype(np.float64) / 255.0, name)
    if mode.startswith("I;16"):
        values = np.asarray(im).astype(np.float64) / 65535.0
        _warn_depth(name, "16-bit")
        return np.repeat(_round8(values)[:, :, None], 3, axis=2)
    if mode == "I":
        values = np.asarray(im).astype(np.int64)
        if values.min() < 0 or values.max() > 65535:
            _warn(f"{name}: 32-bit integer image clipped to [0, 65535]")
        _warn_depth(name, "32-bit integer")
        return np.repeat(_round8(np.clip(values, 0, 65535) / 65535.0)[:, :, None], 3, axis=2)
    if mode == "F":
        values = np.asarray(im).astype(np.float64)
        if not np.isfinite(values).all() or values.min() < 0.0 or values.max() > 1.0:
            raise ImageLoadError(f"cannot load image {name}: floating-point image with values outside [0, 1]")
        _warn_depth(name, "floating-point")
        return np.repeat(_round8(values)[:, :, None], 3, axis=2)
    if mode == "CMYK":
        _warn(f"{name}: CMYK image converted to RGB without colour management "
              "(R = (255 - C)(255 - K) / 255)")
        return np.asarray(im.convert("RGB"))
    try:
        converted = im.convert("RGB")
    except ValueError:
        raise ImageLoadError(f"cannot load image {name}: unsupported pixel mode {mode!r}") from None
    _warn(f"{name}: {mode} image converted to RGB")
    return np.asarray(converted)


def _decode_wide(im: Image.Image, source: Path | io.BytesIO, name: str, wide: tuple[str, str]) -> np.ndarray:
    """16 bits per channel RGB(A): decode the high bytes, then the low bytes, then round."""
    high = np.asarray(im).astype(np.float64)
    low_rawmode = f"{wide[0]};16{_swapped_byte_order(wide[1])}"
    try:
        if isinstance(source, io.BytesIO):
            source.seek(0)
        with Image.open(source) as again:
            tile = again.tile[0]
            args = (low_rawmode,) + tuple(tile.args[1:]) if isinstance(tile.args, tuple) else low_rawmode
            again.tile = [tile._replace(args=args)] + list(again.tile[1:])
            low = np.asarray(again).astype(np.float64)
        values = (high * 256.0 + low) / 65535.0
        detail = "16-bit"
    except Exception:  # noqa: BLE001 - any decoder quirk: keep the high byte, say so
        values = high / 255.0
        detail = "16-bit (high byte kept, low byte unavailable)"
    _warn_depth(name, detail)
    if values.shape[2] == 4:
        return _composite(values, name)
    return _round8(values)


def _composite(rgba: np.ndarray, name: str) -> np.ndarray:
    """``(H, W, 4)`` float in ``[0, 1]`` -> ``(H, W, 3)`` uint8 composited over white."""
    alpha = rgba[:, :, 3:]
    if (alpha < 1.0).any():
        _warn(f"{name}: transparency composited over white (alpha dropped)")
    return _round8(rgba[:, :, :3] * alpha + (1.0 - alpha))


def _round8(values: np.ndarray) -> np.ndarray:
    """Float in ``[0, 1]`` -> uint8, rounding half up (ties cannot occur for k/257 or k/255)."""
    return np.floor(np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _warn(message: str) -> None:
    """Issue a :class:`SemcomWarning` attributed to the first caller outside this module."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, SemcomWarning, stacklevel=level)


def _warn_depth(name: str, what: str) -> None:
    _warn(f"{name}: {what} image reduced to 8 bits per channel (precision dropped)")


def _rawmode(im: Image.Image) -> str | None:
    if not im.tile:
        return None
    args = im.tile[0].args
    first = args[0] if isinstance(args, tuple) and args else args
    return first if isinstance(first, str) else None


def _wide_rawmode(im: Image.Image) -> tuple[str, str] | None:
    match = _WIDE_RAWMODE.match(_rawmode(im) or "")
    return (match.group(1), match.group(2)) if match and im.mode in ("RGB", "RGBA") else None


def _swapped_byte_order(order: str) -> str:
    if order == "N":
        order = "L" if sys.byteorder == "little" else "B"
    return "L" if order == "B" else "B"


def _is_multiframe(im: Image.Image) -> bool:
    try:
        return bool(getattr(im, "is_animated", False)) or getattr(im, "n_frames", 1) > 1
    except _DECODE_ERRORS:
        return False


def _orientation(im: Image.Image, name: str) -> int:
    try:
        value = int(im.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make the pixels unreadable
        _warn(f"{name}: unreadable EXIF data; orientation ignored")
        return 1
    return value if 1 <= value <= 8 else 1


def _apply_orientation(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip ``(H, W, C)`` upright for EXIF orientation 1..8 (as ImageOps.exif_transpose)."""
    if orientation == 2:
        return rgb[:, ::-1]
    if orientation == 3:
        return rgb[::-1, ::-1]
    if orientation == 4:
        return rgb[::-1]
    if orientation == 5:
        return rgb.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(rgb, k=-1)
    if orientation == 7:
        return rgb[::-1, ::-1].transpose(1, 0, 2)
    if orientation == 8:
        return np.rot90(rgb, k=1)
    return rgb


def _check_min_size(h: int, w: int, min_size: SizeSpec, name: str) -> None:
    if min_size is None:
        return
    min_h, min_w = (min_size, min_size) if isinstance(min_size, int) else min_size
    if h < min_h or w < min_w:
        raise ImageLoadError(f"cannot load image {name}: {h}x{w} (HxW) is smaller than the minimum {min_h}x{min_w}")


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
