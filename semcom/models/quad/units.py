"""The units of Quad-DeepSC's feature coding: which latent elements each step codes.

Feature coding follows the partition of the Quad-LIC context model
(:mod:`semcom.entropy.partitions`), so that step ``t`` of the feature encoder codes
exactly the elements whose entropy parameters step ``t`` of the context model
estimates, with the earlier steps as context (the paper's Sec. III-C):

* ``quadtree`` (4 steps) and ``checkerboard`` (2 steps) are *interleaved*: the ``M``
  channels form ``G`` groups (4 or 2) of ``D = M / G``, and at every spatial position
  each step codes exactly one group. The paper combines the groups of a step "by
  addition" for feature coding: the step's feature is the ``(D, h, w)`` map whose
  position ``p`` holds the ``D`` channels of the group coded at ``p`` in that step.
* ``channel_autoregressive`` (5 steps): step ``t`` codes channel group ``t``
  (:func:`~semcom.entropy.partitions.channel_group_sizes`) at every position.
* one step (the "w/o quadtree partition-based feature coding" ablation): all ``M``
  channels at every position.

A *unit* is one step's vector at one spatial position, so an image of latent size
``h x w`` has ``S h w`` units (``S`` steps), unit ``(t, r, c)`` of ``D_t`` elements.
Which group a unit of an interleaved step holds depends on the position's phase in its
2x2 block (:meth:`StepLayout.phases`), which the feature coders therefore embed.
"""

from __future__ import annotations

import torch
from torch import Tensor

from semcom.entropy.partitions import NUM_STEPS, PARTITIONS, channel_group_sizes, partition_masks
from semcom.errors import SemcomError

#: the interleaved partitions and their channel-group counts
INTERLEAVED_GROUPS = {"quadtree": 4, "checkerboard": 2}
#: phases of a position in its 2x2 block (row parity * 2 + column parity)
NUM_PHASES = 4


class StepLayout:
    """Gathers a latent ``(B, M, h, w)`` into each step's units and back.

    Args:
        partition: one of :data:`~semcom.entropy.partitions.PARTITIONS`.
        channels: ``M``.
        stepwise: follow the partition's steps (``False``: one step of all channels).

    Raises:
        SemcomError: an unknown partition, or ``M`` that does not fit it.
    """

    def __init__(self, partition: str, channels: int, stepwise: bool = True) -> None:
        if partition not in PARTITIONS:
            raise SemcomError(f"unknown partition {partition!r}; expected one of {', '.join(PARTITIONS)}")
        partition_masks(partition, channels, 2, 2)  # validates M for the partition
        self.partition, self.channels, self.stepwise = partition, int(channels), bool(stepwise)
        self.interleaved = stepwise and partition in INTERLEAVED_GROUPS
        if self.interleaved:
            self.groups = INTERLEAVED_GROUPS[partition]
            self.dims = [channels // self.groups] * NUM_STEPS[partition]
        else:
            self.groups = 1
            self.dims = channel_group_sizes(channels) if stepwise else [channels]
        self.num_steps = len(self.dims)
        starts = [sum(self.dims[:t]) for t in range(self.num_steps)]
        self._slices = [(s, s + d) for s, d in zip(starts, self.dims)]
        self._masks: dict[tuple[int, int, str], list[Tensor]] = {}

    def _step_masks(self, height: int, width: int, device: torch.device) -> list[Tensor]:
        """Each step's ``(G, D, h, w)`` float mask (interleaved partitions)."""
        key = (height, width, str(device))
        if key not in self._masks:
            masks = partition_masks(self.partition, self.channels, height, width, device)
            d = self.channels // self.groups
            self._masks[key] = [m.reshape(self.groups, d, height, width).float() for m in masks]
        return self._masks[key]

    def gather(self, latent: Tensor, step: int) -> Tensor:
        """Step ``step``'s units of ``latent`` ``(B, M, h, w)``: ``(B, D_t, h, w)``."""
        b, m, h, w = latent.shape
        if m != self.channels:
            raise SemcomError(f"latent must have {self.channels} channels, got {m}")
        if not self.interleaved:
            start, stop = self._slices[step]
            return latent[:, start:stop]
        mask = self._step_masks(h, w, latent.device)[step].to(latent.dtype)
        return (latent.reshape(b, self.groups, -1, h, w) * mask).sum(dim=1)

    def scatter(self, units: list[Tensor]) -> Tensor:
        """Inverse of :meth:`gather`: the ``S`` steps' ``(B, D_t, h, w)`` -> ``(B, M, h, w)``."""
        if len(units) != self.num_steps:
            raise SemcomError(f"expected the units of {self.num_steps} steps, got {len(units)}")
        if not self.interleaved:
            return torch.cat(units, dim=1)
        b, _, h, w = units[0].shape
        masks = self._step_masks(h, w, units[0].device)
        latent = sum(u.unsqueeze(1) * m.to(u.dtype) for u, m in zip(units, masks))
        return latent.reshape(b, self.channels, h, w)

    def unit_sums(self, values: Tensor) -> Tensor:
        """Per-unit sums of elementwise ``values`` ``(B, M, h, w)`` (e.g. bits): ``(B, S, h, w)``."""
        return torch.stack([self.gather(values, t).sum(dim=1) for t in range(self.num_steps)], dim=1)

    @staticmethod
    def phases(height: int, width: int, device: torch.device | str | None = None) -> Tensor:
        """``(h, w)`` int64 phase of each position in its 2x2 block, ``0..3``."""
        rows = torch.arange(height, device=device).remainder(2).reshape(-1, 1)
        cols = torch.arange(width, device=device).remainder(2).reshape(1, -1)
        return rows * 2 + cols


__all__ = ["INTERLEAVED_GROUPS", "NUM_PHASES", "StepLayout"]
