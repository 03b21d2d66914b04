"""The Quad-LIC file: a fixed 18-byte header, then one entropy-coded stream.

Layout (big-endian)::

    offset  bytes  field
    0       3      magic b"QLC"
    3       1      format version (1)
    4       2      image height in pixels (1 .. 65535)
    6       2      image width in pixels (1 .. 65535)
    8       8      model identifier: sha256(config JSON + state dict)[:8] (:func:`model_fingerprint`)
    16      2      header check: the low 16 bits of CRC-32 over bytes 0..15
    18      ...    one :mod:`semcom.entropy.stream` stream: uint32 word count, the range
                   coder's words (z first, then the context model's steps of y), a 16-bit
                   check word

The header check guards the image size before any decoding starts (a flipped size
bit would otherwise make the decoder work on a latent of the wrong, possibly huge,
shape); the stream's word count and check word guard the rest. The model identifier
names the exact weights and tables, so a file decoded with another rate point,
checkpoint or architecture fails with :class:`ModelMismatchError` instead of returning
garbage.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from typing import Any

import torch
from torch import nn

from semcom.entropy.errors import BitstreamError

MAGIC = b"QLC"
FORMAT_VERSION = 1
ID_BYTES = 8
_FIELDS = struct.Struct(">3sBHH8s")
_CHECK = struct.Struct(">H")
#: bytes of the header in front of the entropy stream
HEADER_BYTES = _FIELDS.size + _CHECK.size
#: largest side the header can carry
MAX_SIDE = 0xFFFF
#: largest image (pixels) a decoder accepts (as :data:`semcom.codecs.base.MAX_DECODE_PIXELS`)
MAX_PIXELS = 1 << 26


class ModelMismatchError(BitstreamError):
    """The bitstream was made by another Quad-LIC model (weights, tables or config)."""


def _check16(head: bytes) -> int:
    return zlib.crc32(head) & 0xFFFF


def pack_header(height: int, width: int, model_id: bytes) -> bytes:
    """The 18 header bytes for an image of ``height x width`` pixels."""
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE) or height * width > MAX_PIXELS:
        raise BitstreamError(f"Quad-LIC files hold images of 1..{MAX_SIDE} pixels a side and at most "
                             f"{MAX_PIXELS} pixels, got {height}x{width}")
    if len(model_id) != ID_BYTES:
        raise BitstreamError(f"model identifier must be {ID_BYTES} bytes, got {len(model_id)}")
    head = _FIELDS.pack(MAGIC, FORMAT_VERSION, height, width, bytes(model_id))
    return head + _CHECK.pack(_check16(head))


def parse_header(data: Any) -> tuple[int, int, bytes, bytes]:
    """Split a Quad-LIC file into ``(height, width, model_id, stream)``.

    Raises:
        BitstreamError: not bytes, too short, foreign magic, corrupt header, unknown
            version or an impossible image size.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError(f"a Quad-LIC bitstream is bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < HEADER_BYTES:
        raise BitstreamError(f"Quad-LIC bitstream is truncated: {len(data)} bytes, the header "
                             f"alone has {HEADER_BYTES}")
    if data[:3] != MAGIC:
        raise BitstreamError(f"not a Quad-LIC bitstream (starts with {data[:3].hex()}, "
                             f"expected {MAGIC.hex()})")
    head = data[:_FIELDS.size]
    (check,) = _CHECK.unpack_from(data, _FIELDS.size)
    if check != _check16(head):
        raise BitstreamError("Quad-LIC header is corrupt (header check mismatch)")
    _, version, height, width, model_id = _FIELDS.unpack(head)
    if version != FORMAT_VERSION:
        raise BitstreamError(f"Quad-LIC format version {version} is not supported "
                             f"(this build reads version {FORMAT_VERSION})")
    if height < 1 or width < 1 or height * width > MAX_PIXELS:
        raise BitstreamError(f"Quad-LIC header announces an impossible image size {height}x{width}")
    return height, width, model_id, data[HEADER_BYTES:]


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    if flat.numel() == 0:
        return b""
    return flat.view(torch.uint8).numpy().tobytes()


def model_fingerprint(module: nn.Module, config: dict[str, Any]) -> bytes:
    """First :data:`ID_BYTES` bytes of sha256 over ``config`` (sorted JSON) and every
    state-dict entry in sorted name order (name, dtype, shape, raw bytes).

    Cached on ``module`` and recomputed when any tensor is replaced or modified in
    place (its storage pointer or version counter changes)."""
    state = module.state_dict()
    try:
        key: Any = tuple((name, t.data_ptr(), t._version, str(t.dtype), tuple(t.shape))
                         for name, t in state.items())
        key = (json.dumps(config, sort_keys=True, default=str), key)
    except RuntimeError:  # inference tensors have no version counter: do not cache
        key = None
    cached = getattr(module, "_fingerprint_cache", None)
    if key is not None and cached is not None and cached[0] == key:
        return cached[1]
    digest = hashlib.sha256()
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for name in sorted(state):
        tensor = state[name]
        digest.update(name.encode())
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(_tensor_bytes(tensor))
    value = digest.digest()[:ID_BYTES]
    if key is not None:
        object.__setattr__(module, "_fingerprint_cache", (key, value))
    return value


__all__ = ["FORMAT_VERSION", "HEADER_BYTES", "MAGIC", "MAX_PIXELS", "MAX_SIDE", "ModelMismatchError",
           "model_fingerprint", "pack_header", "parse_header"]
