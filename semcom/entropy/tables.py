"""Integer probability tables: the only source of probabilities the range coder sees.

A table row describes one discrete model over ``n = length`` coding indexes. Index ``k``
(``0 <= k < n - 1``) stands for the integer value ``offset + k``; the last index
``n - 1`` is the *escape* symbol, sent for any value outside that range and followed by
the value itself in a fixed code (see :mod:`semcom.entropy.stream`). Each index ``k``
has an integer count ``counts[k] >= 1`` and every row sums to exactly
``TOTAL_COUNT = 2**PRECISION``, so the model probability of index ``k`` is exactly
``counts[k] / 2**24``.

Tables are built once (in the entropy models' ``update()``) from float probabilities with
:func:`counts_from_probabilities` and stored as integer buffers; after that no float
arithmetic decides a probability. :class:`CdfTables` validates the integers and hands
``constriction`` models built from them (see :meth:`CdfTables.model` for why those are
exact).
"""

from __future__ import annotations

from typing import Any

import constriction
import numpy as np
import torch
from torch import Tensor, nn

from semcom.entropy.errors import SemcomError

#: bits of precision of constriction's default range coder (probabilities are k / 2**24)
PRECISION = 24
#: every table row sums to this count
TOTAL_COUNT = 1 << PRECISION
#: most coding indexes in one table row (escape included); wider models rely on the escape
MAX_TABLE_SYMBOLS = 1 << 16


def counts_from_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Quantize one probability vector to integer counts that sum to ``2**24``.

    Args:
        probabilities: ``(n,)`` non-negative floats (escape included, last), ``n >= 2``;
            they need not sum to one (they are normalized first).

    Returns:
        ``(n,)`` int64 counts, each ``>= 1`` (every index stays codable) and summing to
        exactly ``TOTAL_COUNT``: ``1 + floor(p * (2**24 - n))`` with the rounding remainder
        given to the most probable index.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 1 or not 2 <= p.size <= MAX_TABLE_SYMBOLS:
        raise SemcomError(f"a table needs 2..{MAX_TABLE_SYMBOLS} probabilities, "
                          f"got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise SemcomError("table probabilities must be finite")
    p = np.clip(p, 0.0, None)
    total = p.sum()
    if total <= 0.0:
        raise SemcomError("table probabilities sum to zero")
    free = TOTAL_COUNT - p.size
    weights = np.floor(p / total * free).astype(np.int64)
    weights = np.clip(weights, 0, free)
    top = int(np.argmax(p))
    weights[top] += free - int(weights.sum())
    if weights[top] < 0:  # cannot happen unless rounding went badly astray
        raise SemcomError("table quantization failed (negative count)")
    return weights + 1


def stack_rows(rows: list[np.ndarray]) -> tuple[Tensor, Tensor]:
    """Pad count rows into one ``(T, max_n)`` int32 tensor and their ``(T,)`` lengths."""
    width = max(row.size for row in rows)
    counts = torch.zeros(len(rows), width, dtype=torch.int32)
    for t, row in enumerate(rows):
        counts[t, : row.size] = torch.from_numpy(row.astype(np.int32))
    lengths = torch.tensor([row.size for row in rows], dtype=torch.int32)
    return counts, lengths


class CdfTables:
    """Validated integer tables and the ``constriction`` models built from them.

    Args:
        counts: ``(T, L)`` integer counts, row ``t`` valid in its first ``lengths[t]``
            entries (the rest is padding).
        lengths: ``(T,)`` number of coding indexes of each row, escape included (``>= 2``).
        offsets: ``(T,)`` integer value coded by index 0 of each row.

    Raises:
        SemcomError: when the integers do not form valid tables (a corrupt checkpoint).
    """

    def __init__(self, counts: np.ndarray, lengths: np.ndarray, offsets: np.ndarray) -> None:
        counts = np.asarray(counts, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        offsets = np.asarray(offsets, dtype=np.int64)
        rows = lengths.shape[0] if lengths.ndim == 1 else -1
        if counts.ndim != 2 or rows != counts.shape[0] or offsets.shape != lengths.shape:
            raise SemcomError(f"entropy tables have inconsistent shapes: counts "
                              f"{counts.shape}, lengths {lengths.shape}, offsets {offsets.shape}")
        if rows == 0:
            raise SemcomError("entropy tables are empty")
        if np.any(lengths < 2) or np.any(lengths > min(counts.shape[1], MAX_TABLE_SYMBOLS)):
            raise SemcomError("entropy tables are corrupt: a row length is out of range")
        valid = np.arange(counts.shape[1])[None, :] < lengths[:, None]
        if np.any(valid & (counts < 1)) or np.any(np.where(valid, counts, 0).sum(1) != TOTAL_COUNT):
            raise SemcomError(f"entropy tables are corrupt: every row must hold counts >= 1 "
                              f"summing to 2**{PRECISION}")
        if np.any(np.abs(offsets) > 1 << 30):
            raise SemcomError("entropy tables are corrupt: an offset is out of range")
        self.counts = counts
        self.lengths = lengths
        self.offsets = offsets
        self._models: dict[int, Any] = {}

    @classmethod
    def from_buffers(cls, counts: Tensor, lengths: Tensor, offsets: Tensor) -> CdfTables:
        """Build from the integer buffers a model registered (any device)."""
        return cls(counts.detach().cpu().numpy(), lengths.detach().cpu().numpy(),
                   offsets.detach().cpu().numpy())

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    def model(self, row: int) -> Any:
        """The ``constriction`` categorical model of table ``row`` (cached).

        Exactness: constriction's ``Categorical(w, perfect=False)`` computes the left
        cumulative of index ``k`` as ``floor(sum(w[:k]) * s) + k`` with
        ``s = (2**24 - n) / sum(w)``. We pass ``w = counts - 1`` as float64 integers, whose
        sum is exactly ``2**24 - n``, so ``s == 1.0`` and every sum is an integer below
        ``2**53``: all of constriction's float operations are exact and its fixed-point
        model reproduces ``counts`` bit for bit, on any machine and for any summation order.
        """
        cached = self._models.get(row)
        if cached is None:
            n = int(self.lengths[row])
            weights = (self.counts[row, :n] - 1).astype(np.float64)
            cached = constriction.stream.model.Categorical(weights, perfect=False)
            self._models[row] = cached
        return cached


def uniform_model(bits: int) -> Any:
    """An exactly uniform constriction model over ``2**bits`` indexes (``1 <= bits <= 8``)."""
    cached = _UNIFORM_MODELS.get(bits)
    if cached is None:
        if not 1 <= bits <= 8:
            raise SemcomError(f"uniform model needs 1..8 bits, got {bits}")
        size = 1 << bits
        # counts 2**(24 - bits) each: weights sum to 2**24 - size, as in CdfTables.model
        weights = np.full(size, float((TOTAL_COUNT >> bits) - 1), dtype=np.float64)
        cached = constriction.stream.model.Categorical(weights, perfect=False)
        _UNIFORM_MODELS[bits] = cached
    return cached


_UNIFORM_MODELS: dict[int, Any] = {}


class TableBuffersModule(nn.Module):
    """Base for entropy models whose integer tables are buffers of varying shape.

    ``update()`` replaces the buffers named in ``_table_buffers`` with tensors of a new
    shape; loading a state dict resizes them first, so a fresh (never updated) module
    loads a checkpoint's tables and then codes exactly the same bytes.
    """

    _table_buffers: tuple[str, ...] = ()

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str,
                              *args: Any, **kwargs: Any) -> None:
        for name in self._table_buffers:
            incoming = state_dict.get(prefix + name)
            current = getattr(self, name)
            if isinstance(incoming, Tensor) and incoming.shape != current.shape:
                setattr(self, name, torch.empty(incoming.shape, dtype=current.dtype,
                                                device=current.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _tables_ready(self) -> bool:
        return all(getattr(self, name).numel() > 0 for name in self._table_buffers)

    def _require_tables(self) -> None:
        if not self._tables_ready():
            raise SemcomError(f"{type(self).__name__} has no entropy tables yet: call "
                              f"update() after training (or load a state dict that has them) "
                              f"before compress/decompress")
