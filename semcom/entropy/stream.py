"""One range-coder stream that several coding calls append to, and its byte framing.

Stream format (one ``bytes`` object)
------------------------------------
The bytes are a little-endian ``uint32`` word count ``n``, then the ``n`` little-endian
``uint32`` words of one ``constriction`` range coder (so the length is ``4 (n + 1)``; the
count catches trailing or missing words, which a range decoder alone cannot always
tell from coded data). Each :meth:`EntropyEncoder.encode` call appends, in
this order:

1. the coding indexes, grouped by table row in increasing row order, positions inside a
   group in their flat (raster) order;
2. if any position was escaped, the escape payload of those positions (flat order): all
   their side bits (below / above the table range), then all their 5-bit lengths
   ``b = bit_length(d)`` of the overflow ``d >= 0`` (distance past the range edge), then
   the ``b - 1`` bits of ``d`` below its leading one as 8-bit chunks: for chunk
   ``j = 0..3`` (lowest bits first) and width ``w = 1..8``, the chunks of that width.
   All payload parts use exactly uniform integer models; any ``|value| < 2**30`` fits.

:meth:`EntropyEncoder.finish` appends a 16-bit check word. :meth:`EntropyDecoder.finish`
reads it back and verifies that no data is left over: a truncated, bit-flipped or foreign
stream then fails with :class:`BitstreamError` (except with probability about
``2**-16``). The decoder always knows how many symbols to read (from the shapes), so
decoding terminates on any input.

Several streams (e.g. hyper-latent ``z`` and latent ``y`` coded separately) can be put in
one byte string with :func:`pack_streams`: a LEB128 varint count, one varint byte length
per stream, then the streams back to back.
"""

from __future__ import annotations

from collections.abc import Sequence

import constriction
import numpy as np

from semcom.entropy.errors import BitstreamError, SemcomError
from semcom.entropy.tables import CdfTables, uniform_model

#: overflows past a table's range must satisfy ``d < 2**ESCAPE_BITS``
ESCAPE_BITS = 31
_LENGTH_BITS = 5  # codes bit_length(d) in 0..31
_CHUNK_BITS = 8
_CHECK_WORD = np.array([0xC3, 0x5A], dtype=np.int32)  # two 8-bit symbols


def _bit_length(values: np.ndarray) -> np.ndarray:
    """``int.bit_length`` element-wise for non-negative int64 values below ``2**31``."""
    lengths = np.zeros(values.shape, dtype=np.int64)
    rest = values.copy()
    while np.any(rest > 0):
        lengths += rest > 0
        rest >>= 1
    return lengths


def _chunk_widths(mantissa_bits: np.ndarray) -> list[np.ndarray]:
    """Bits carried by each 8-bit chunk of the escape payload, chunk 0 first."""
    chunks = -(-(ESCAPE_BITS - 1) // _CHUNK_BITS)
    return [np.clip(mantissa_bits - _CHUNK_BITS * j, 0, _CHUNK_BITS) for j in range(chunks)]


def _groups(indexes: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``(row, positions)`` pairs: rows ascending, positions in flat order within a row."""
    if indexes.size == 0:
        return []
    order = np.argsort(indexes, kind="stable")
    rows, starts = np.unique(indexes[order], return_index=True)
    ends = list(starts[1:]) + [indexes.size]
    return [(int(r), order[s:e]) for r, s, e in zip(rows, starts, ends, strict=True)]


def _check_indexes(indexes: np.ndarray, tables: CdfTables) -> np.ndarray:
    indexes = np.asarray(indexes).reshape(-1)
    if indexes.size and not np.issubdtype(indexes.dtype, np.integer):
        raise SemcomError(f"table indexes must be integers, got {indexes.dtype}")
    indexes = indexes.astype(np.int64)
    if indexes.size and (indexes.min() < 0 or indexes.max() >= len(tables)):
        raise SemcomError(f"table indexes must lie in [0, {len(tables)}), got "
                          f"[{indexes.min()}, {indexes.max()}]")
    return indexes


class EntropyEncoder:
    """Appends integer symbols to one range-coder stream; :meth:`finish` gives the bytes."""

    def __init__(self) -> None:
        self._coder = constriction.stream.queue.RangeEncoder()
        self._finished = False

    def _put(self, symbols: np.ndarray, model: object) -> None:
        if symbols.size:
            self._coder.encode(np.ascontiguousarray(symbols, dtype=np.int32), model)

    def encode(self, symbols: np.ndarray, indexes: np.ndarray, tables: CdfTables) -> None:
        """Append ``symbols[i]`` coded with table row ``indexes[i]``.

        Args:
            symbols: ``(N,)`` integers (any shape, flattened), ``|value| < 2**30``.
            indexes: ``(N,)`` table rows, same number of elements as ``symbols``.
            tables: the integer tables (see :class:`CdfTables`).
        """
        if self._finished:
            raise SemcomError("EntropyEncoder.finish() was already called")
        symbols = np.asarray(symbols).reshape(-1).astype(np.int64)
        indexes = _check_indexes(indexes, tables)
        if symbols.shape != indexes.shape:
            raise SemcomError(f"{symbols.size} symbols but {indexes.size} table indexes")
        if symbols.size and np.abs(symbols).max() >= 1 << 30:
            raise SemcomError("a value to code is too large (|value| must be < 2**30)")
        low = tables.offsets[indexes]
        main = tables.lengths[indexes] - 1  # index `main` is the escape
        coded = symbols - low
        escaped = (coded < 0) | (coded >= main)
        coded = np.where(escaped, main, coded)
        for row, positions in _groups(indexes):
            self._put(coded[positions], tables.model(row))
        where = np.nonzero(escaped)[0]
        if where.size:
            below = symbols[where] < low[where]
            overflow = np.where(below, low[where] - 1 - symbols[where],
                                symbols[where] - (low[where] + main[where]))
            self._encode_overflow(below, overflow)

    def _encode_overflow(self, below: np.ndarray, overflow: np.ndarray) -> None:
        length = _bit_length(overflow)
        self._put(below.astype(np.int64), uniform_model(1))
        self._put(length, uniform_model(_LENGTH_BITS))
        mantissa = np.where(length > 0, overflow - (1 << np.maximum(length - 1, 0)), 0)
        for j, width in enumerate(_chunk_widths(np.maximum(length - 1, 0))):
            chunk = (mantissa >> (_CHUNK_BITS * j)) & ((1 << width) - 1)
            for bits in range(1, _CHUNK_BITS + 1):
                self._put(chunk[width == bits], uniform_model(bits))

    @property
    def num_bits(self) -> int:
        """Size of the stream so far, in bits (whole 32-bit words)."""
        return int(self._coder.num_bits())

    def finish(self) -> bytes:
        """Append the check word and return the stream as bytes (call once)."""
        if self._finished:
            raise SemcomError("EntropyEncoder.finish() was already called")
        self._put(_CHECK_WORD, uniform_model(_CHUNK_BITS))
        self._finished = True
        words = self._coder.get_compressed().astype("<u4")
        return np.array([words.size], dtype="<u4").tobytes() + words.tobytes()


class EntropyDecoder:
    """Reads back, in the same order, what an :class:`EntropyEncoder` appended.

    Args:
        data: the bytes returned by :meth:`EntropyEncoder.finish`.

    Raises:
        BitstreamError: ``data`` is not a word count followed by that many 32-bit words.
    """

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise SemcomError(f"compressed data must be bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) % 4 or len(data) < 4:
            raise BitstreamError(f"bitstream is corrupt or truncated: {len(data)} bytes is "
                                 f"not a word count and whole 32-bit words")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        if int(words[0]) != words.size - 1:
            raise BitstreamError(f"bitstream is corrupt or truncated: it says {int(words[0])} words, "
                                 f"holds {words.size - 1}")
        words = words[1:]
        self._coder = constriction.stream.queue.RangeDecoder(words)
        self._finished = False

    def _get(self, count: int, model: object) -> np.ndarray:
        if count == 0:
            return np.zeros(0, dtype=np.int64)
        try:
            values = self._coder.decode(model, int(count))
        except Exception as exc:  # constriction reports corrupt data as ValueError etc.
            raise BitstreamError(f"bitstream is corrupt or truncated: {exc}") from exc
        return np.asarray(values, dtype=np.int64)

    def decode(self, indexes: np.ndarray, tables: CdfTables) -> np.ndarray:
        """Read ``indexes.size`` symbols coded with table rows ``indexes``.

        Returns:
            ``(N,)`` int64 symbols (flat order of ``indexes``).
        """
        if self._finished:
            raise SemcomError("EntropyDecoder.finish() was already called")
        indexes = _check_indexes(indexes, tables)
        coded = np.zeros(indexes.size, dtype=np.int64)
        for row, positions in _groups(indexes):
            coded[positions] = self._get(positions.size, tables.model(row))
        main = tables.lengths[indexes] - 1
        low = tables.offsets[indexes]
        if np.any((coded < 0) | (coded > main)):
            raise BitstreamError("bitstream is corrupt: a decoded index is out of range")
        symbols = low + coded
        where = np.nonzero(coded == main)[0]
        if where.size:
            below, overflow = self._decode_overflow(where.size)
            symbols[where] = np.where(below, low[where] - 1 - overflow,
                                      low[where] + main[where] + overflow)
        return symbols

    def _decode_overflow(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        below = self._get(count, uniform_model(1)).astype(bool)
        length = self._get(count, uniform_model(_LENGTH_BITS))
        mantissa = np.zeros(count, dtype=np.int64)
        for j, width in enumerate(_chunk_widths(np.maximum(length - 1, 0))):
            chunk = np.zeros(count, dtype=np.int64)
            for bits in range(1, _CHUNK_BITS + 1):
                select = width == bits
                chunk[select] = self._get(int(select.sum()), uniform_model(bits))
            mantissa |= chunk << (_CHUNK_BITS * j)
        overflow = np.where(length > 0, (1 << np.maximum(length - 1, 0)) + mantissa, 0)
        return below, overflow

    def finish(self) -> None:
        """Verify the check word and that the whole stream was consumed.

        Raises:
            BitstreamError: the stream is truncated, corrupt, or has trailing data.
        """
        if self._finished:
            raise SemcomError("EntropyDecoder.finish() was already called")
        self._finished = True
        check = self._get(_CHECK_WORD.size, uniform_model(_CHUNK_BITS))
        if not np.array_equal(check, _CHECK_WORD) or not self._coder.maybe_exhausted():
            raise BitstreamError("bitstream is corrupt, truncated, or was not produced by "
                                 "this model (check word mismatch)")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 64, 7):
        if pos >= len(data):
            raise BitstreamError("stream container is truncated (incomplete header)")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise BitstreamError("stream container is corrupt (varint too long)")


def pack_streams(streams: Sequence[bytes]) -> bytes:
    """Concatenate byte strings behind a small header of varint lengths.

    Args:
        streams: the parts, e.g. ``[z_bytes, y_bytes]``.

    Returns:
        ``varint(count) + varint(len_0) + ... + stream_0 + stream_1 + ...``.
    """
    parts = [bytes(s) for s in streams]
    header = _varint(len(parts)) + b"".join(_varint(len(p)) for p in parts)
    return header + b"".join(parts)


def unpack_streams(data: bytes, count: int | None = None) -> list[bytes]:
    """Split what :func:`pack_streams` produced.

    Args:
        data: the packed bytes.
        count: the number of streams expected, or ``None`` to accept any.

    Raises:
        BitstreamError: malformed header, wrong count, or lengths that do not add up.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SemcomError(f"packed data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    number, pos = _read_varint(data, 0)
    if number > len(data) or (count is not None and number != count):
        raise BitstreamError(f"stream container is corrupt: holds {number} streams"
                             + (f", expected {count}" if count is not None else ""))
    lengths = []
    for _ in range(number):
        length, pos = _read_varint(data, pos)
        lengths.append(length)
    if pos + sum(lengths) != len(data):
        raise BitstreamError(f"stream container is corrupt or truncated: header announces "
                             f"{sum(lengths)} payload bytes, {len(data) - pos} present")
    parts = []
    for length in lengths:
        parts.append(data[pos : pos + length])
        pos += length
    return parts
