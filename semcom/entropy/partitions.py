"""Partitions of a latent ``(B, M, H, W)`` into the coding steps of a context model.

A partition is a list of boolean masks of shape ``(M, H, W)`` (broadcast over the
batch), one per step, that tile the latent exactly once: step ``t`` codes the elements
of ``masks[t]`` conditioned on every element of the earlier masks.

Quadtree (QP-SCCTX, 4 steps)
----------------------------
The channels are split into 4 groups of ``M/4``. Inside every 2x2 block, group 0 codes
in the order ``(0,0) -> (1,1) -> (0,1) -> (1,0)`` (row, column in the block): the
diagonal first, then the two remaining positions. This order is the one the paper's
statement "each element is estimated with 0, 4, 4 and 8 neighbouring references" fixes:
in the 8-neighbourhood of a position of step 1 lie 4 decoded positions (its diagonal
neighbours, step 0), of step 2 also 4 (2 of step 0, 2 of step 1), of step 3 all 8.
Group ``g`` uses the same order translated by the offset ``(g // 2, g % 2)`` (positions
XOR the offset), so

    =======  =======  =======  =======  =======
    step     group 0  group 1  group 2  group 3
    =======  =======  =======  =======  =======
    0        (0,0)    (0,1)    (1,0)    (1,1)
    1        (1,1)    (1,0)    (0,1)    (0,0)
    2        (0,1)    (0,0)    (1,1)    (1,0)
    3        (1,0)    (1,1)    (0,0)    (0,1)
    =======  =======  =======  =======  =======

Every group keeps the 0/4/4/8 neighbour counts, the four groups use four different
assignments, and (a Latin square) at every spatial position each step codes exactly one
group, i.e. ``M/4`` channels; every step codes a quarter of the latent.

Checkerboard (2 steps)
----------------------
Two channel groups of ``M/2``. Following the paper's ablation ("the checkerboard spatial
indices alternate along channels"), group 1 codes the positions with ``(h + w)`` even
first and group 2 those with ``(h + w)`` odd first; step 1 codes the rest. Each step
codes half of the latent, and half of the channels at every position.

Channel-autoregressive (5 steps)
--------------------------------
ELIC's uneven channel groups ``[16, 16, 32, 64, M - 128]`` for ``M = 320``; for other
``M`` the unit ``u = max(1, floor(M / 20 + 1/2))`` gives ``[u, u, 2u, 4u, M - 8u]``
(``M = 192``: ``[10, 10, 20, 40, 112]``; ``M = 32``: ``[2, 2, 4, 8, 16]``), so
``M >= 9``. One step per group, all spatial positions.

``H`` and ``W`` may be odd (the 2x2 pattern is cropped, the masks still tile the
latent); the step sizes are exact fractions only for even sizes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from semcom.errors import SemcomError

#: partition names accepted by :func:`partition_masks`
PARTITIONS = ("quadtree", "checkerboard", "channel_autoregressive")

#: number of coding steps of each partition
NUM_STEPS = {"quadtree": 4, "checkerboard": 2, "channel_autoregressive": 5}

#: ``(row, column)`` inside the 2x2 block that group 0 codes at steps 0..3
QUADTREE_ORDER = ((0, 0), (1, 1), (0, 1), (1, 0))


def _check(channels: int, height: int, width: int, multiple: int = 1) -> None:
    if not isinstance(channels, int) or channels < 1 or channels % multiple:
        raise SemcomError(f"the latent's channel count must be a positive multiple of "
                          f"{multiple} for this partition, got {channels!r}")
    for name, value in (("height", height), ("width", width)):
        if not isinstance(value, int) or value < 1:
            raise SemcomError(f"{name} must be a positive int, got {value!r}")


def quadtree_step_map(height: int, width: int, group: int,
                      device: torch.device | str | None = None) -> Tensor:
    """Step index (0..3) at which quadtree group ``group`` codes each position.

    Returns:
        ``(H, W)`` int64 with values 0..3 (see the module docstring for the pattern).
    """
    if group not in (0, 1, 2, 3):
        raise SemcomError(f"quadtree group must be 0..3, got {group!r}")
    block = torch.empty(2, 2, dtype=torch.int64)
    for step, (r, c) in enumerate(QUADTREE_ORDER):
        block[r ^ (group // 2), c ^ (group % 2)] = step
    tiled = block.repeat((height + 1) // 2, (width + 1) // 2)[:height, :width]
    return tiled.to(device)


def quadtree_masks(channels: int, height: int, width: int,
                   device: torch.device | str | None = None) -> list[Tensor]:
    """The 4 quadtree steps of an ``(M, H, W)`` latent (``M`` divisible by 4).

    Returns:
        4 boolean masks ``(M, H, W)``; group ``g`` is channels ``[g M/4, (g+1) M/4)``.
    """
    _check(channels, height, width, 4)
    size = channels // 4
    maps = torch.cat([quadtree_step_map(height, width, g, device).expand(size, height, width)
                      for g in range(4)])
    return [maps == step for step in range(4)]


def checkerboard_masks(channels: int, height: int, width: int,
                       device: torch.device | str | None = None) -> list[Tensor]:
    """The 2 checkerboard steps of an ``(M, H, W)`` latent (``M`` even), anchors first.

    Returns:
        2 boolean masks ``(M, H, W)``: channels ``[0, M/2)`` have their anchors (step 0)
        where ``h + w`` is even, channels ``[M/2, M)`` where it is odd.
    """
    _check(channels, height, width, 2)
    rows = torch.arange(height, device=device).reshape(-1, 1)
    cols = torch.arange(width, device=device).reshape(1, -1)
    parity = (rows + cols) % 2  # (H, W)
    half = channels // 2
    first = torch.cat([(parity == 0).expand(half, height, width),
                       (parity == 1).expand(half, height, width)])
    return [first, ~first]


def channel_group_sizes(channels: int) -> list[int]:
    """ELIC's 5 channel-group sizes, scaled to ``M`` channels (see the module docstring).

    Returns:
        ``[u, u, 2u, 4u, M - 8u]`` with ``u = max(1, floor(M/20 + 1/2))``; sums to ``M``.
    """
    if not isinstance(channels, int) or channels < 9:
        raise SemcomError(f"the channel-autoregressive partition needs at least 9 channels, "
                          f"got {channels!r}")
    unit = max(1, int(channels / 20 + 0.5))
    return [unit, unit, 2 * unit, 4 * unit, channels - 8 * unit]


def channel_autoregressive_masks(channels: int, height: int, width: int,
                                 device: torch.device | str | None = None) -> list[Tensor]:
    """The 5 channel-group steps of an ``(M, H, W)`` latent (``M >= 9``).

    Returns:
        5 boolean masks ``(M, H, W)``, step ``t`` selecting the ``t``-th group of
        :func:`channel_group_sizes` at every position.
    """
    sizes = channel_group_sizes(channels)
    _check(channels, height, width)
    masks, start = [], 0
    for size in sizes:
        mask = torch.zeros(channels, height, width, dtype=torch.bool, device=device)
        mask[start : start + size] = True
        masks.append(mask)
        start += size
    return masks


def partition_masks(name: str, channels: int, height: int, width: int,
                    device: torch.device | str | None = None) -> list[Tensor]:
    """Masks of the partition ``name`` (one of :data:`PARTITIONS`).

    Returns:
        ``NUM_STEPS[name]`` disjoint boolean masks ``(M, H, W)`` whose union is all.
    """
    if name == "quadtree":
        return quadtree_masks(channels, height, width, device)
    if name == "checkerboard":
        return checkerboard_masks(channels, height, width, device)
    if name == "channel_autoregressive":
        return channel_autoregressive_masks(channels, height, width, device)
    raise SemcomError(f"unknown partition {name!r}; expected one of {PARTITIONS}")


__all__ = ["NUM_STEPS", "PARTITIONS", "QUADTREE_ORDER", "channel_autoregressive_masks",
           "channel_group_sizes", "checkerboard_masks", "partition_masks",
           "quadtree_masks", "quadtree_step_map"]
