"""Helpers shared by the channel models: symbol streams, blocks, Markov runs, checks.

Time-correlated channels (block fading, Gauss-Markov, Gilbert-Elliott, blockage,
composite) treat the symbols of one image as a stream in transmission order: the
row-major flattening of ``(B, ..., k)`` to ``(B, T)``, ``T = prod(...) * k``, with the
last axis fastest. When the image has a single row ``(B, k)``, time is the last axis.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from semcom.errors import SemcomError


# ------------------------------------------------------------------------ checks
def check_int(name: str, value: object, minimum: int) -> int:
    """Validate an integer parameter ``>= minimum`` (integral floats like 4.0 accepted)."""
    ok = not isinstance(value, bool)
    try:
        v = int(value)  # type: ignore[call-overload]
        ok = ok and float(value) == v  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise SemcomError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if v < minimum:
        raise SemcomError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return v


def check_block_length(value: object, name: str = "block_length") -> int:
    """Validate a block length: an integer ``>= 1``, or ``None``/0 for one block per image.

    Returns:
        the block length, 0 meaning one block per image.
    """
    if value is None:
        return 0
    return check_int(name, value, minimum=0)


def check_finite(name: str, value: object) -> float:
    """Validate a finite real number (any sign)."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SemcomError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise SemcomError(f"{name} must be finite, got {value!r}")
    return v


def check_at_least(name: str, value: object, minimum: float) -> float:
    """Validate a finite real number ``>= minimum``."""
    v = check_finite(name, value)
    if v < minimum:
        raise SemcomError(f"{name} must be >= {minimum:g}, got {value!r}")
    return v


# ----------------------------------------------------------------------- streams
def stream_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(B, T)``: images and symbols per image of a ``(B, ..., k)`` shape."""
    return shape[0], math.prod(shape[1:])


def num_blocks(length: int, block_length: int) -> int:
    """Blocks needed to cover ``length`` symbols (``block_length`` 0: one per image)."""
    if length == 0:
        return 0
    if block_length <= 0:
        return 1
    return -(-length // block_length)


def expand_blocks(values: Tensor, length: int, block_length: int) -> Tensor:
    """Repeat per-block values over their symbols.

    Args:
        values: ``(B, nb)`` one value per block, ``nb = num_blocks(length, block_length)``.
        length: ``T`` symbols per image.
        block_length: ``L`` symbols per block; 0 means one block per image.

    Returns:
        ``(B, T)`` tensor, constant over each run of ``L`` consecutive symbols (the last
        block may be shorter).
    """
    if values.shape[1] == 1:
        return values.expand(values.shape[0], length).contiguous()
    return values.repeat_interleave(block_length, dim=1)[:, :length]


# ------------------------------------------------------------- two-state Markov
def two_state_markov_chain(batch: int, length: int, p: float, r: float,
                           generator: torch.Generator | None = None,
                           device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """Sample a stationary two-state Markov chain over ``length`` time steps, vectorised.

    States are ``False`` ("state 0") and ``True`` ("state 1"); per step
    ``P(0 -> 1) = p`` and ``P(1 -> 0) = r``. The first state is drawn from the stationary
    distribution ``P(1) = p / (p + r)`` (state 0 if ``p = r = 0``). Instead of stepping the
    chain, the runs are sampled: run lengths in state 0 are geometric with mean ``1/p``,
    in state 1 with mean ``1/r`` (support ``1, 2, ...``), and runs alternate.

    Returns:
        ``state``: ``(B, T)`` bool; ``segment``: ``(B, T)`` int64 index of the run each
        step belongs to (0, 1, 2, ... within each row; runs alternate state).
    """
    pi1 = p / (p + r) if p + r > 0 else 0.0
    first = torch.rand(batch, 1, generator=generator, device=device) < pi1
    if length == 0:
        empty = torch.zeros(batch, 0, dtype=torch.int64, device=device)
        return empty.bool(), empty
    # Draw about as many runs as the stream needs (runs per step: 2pr/(p+r)), and more
    # until every row is covered; `length` runs always suffice since a run lasts >= 1.
    rate = 2.0 * p * r / (p + r) if p + r > 0 else 0.0
    expected = length * rate
    n_runs = min(length, int(1.1 * expected + 6.0 * math.sqrt(expected) + 16))
    chunks: list[Tensor] = []
    drawn, covered = 0, torch.zeros(batch, dtype=torch.int64, device=device)
    while True:
        chunk = _geometric_runs(first, drawn, n_runs, p, r, length, generator)
        chunks.append(chunk)
        drawn += n_runs
        covered = covered + chunk.sum(dim=1)
        if drawn >= length or bool((covered >= length).all()):
            break
        n_runs = min(length - drawn, max(n_runs, 16))
    runs = torch.cat(chunks, dim=1)
    ends = torch.cumsum(runs, dim=1).clamp(max=length)
    switches = torch.zeros(batch, length + 1, dtype=torch.int64, device=device)
    switches.scatter_add_(1, ends, torch.ones_like(ends))
    segment = torch.cumsum(switches[:, :length], dim=1)
    state = first ^ (segment % 2).bool()
    return state, segment


def _geometric_runs(first: Tensor, offset: int, count: int, p: float, r: float, length: int,
                    generator: torch.Generator | None) -> Tensor:
    """``(B, count)`` int64 lengths of runs ``offset .. offset+count-1`` (capped at T+1).

    Run ``j`` is in state ``first XOR (j odd)`` and lasts ``Geometric(leave)`` steps on
    ``{1, 2, ...}``, ``leave = p`` in state 0 and ``r`` in state 1, sampled by inversion
    ``1 + floor(log(1 - u) / log(1 - leave))``.
    """
    device = first.device
    odd = ((torch.arange(count, device=device) + offset) % 2).bool()
    leave = torch.where(first ^ odd, torch.tensor(float(r), device=device),
                        torch.tensor(float(p), device=device))
    u = torch.rand(first.shape[0], count, generator=generator, device=device)
    ratio = torch.log1p(-u) / torch.log1p(-leave)
    cap = float(length + 1)  # leave = 0: the run never ends
    ratio = torch.nan_to_num(ratio, nan=cap, posinf=cap, neginf=cap).clamp(max=cap)
    return 1 + torch.floor(ratio).long()
