"""AR-JSCC's rate policy: how many selective groups of the latent an image sends.

Yang & Kim, "Deep joint source-channel coding for wireless image transmission with
adaptive rate control" (ICASSP 2022); facts from the authors' public code, restored in
``shared/design/systems.md``. The latent's channel groups are split into ``G_n`` groups
that are always sent and ``G_s`` selective ones. A small MLP reads the image's features
and the SNR and scores the ``G_s + 1`` choices "send the first ``k`` selective groups",
``k = 0 .. G_s``::

    logits = MLP([global_average_pool(features), snr_db])     # (B, G_s + 1)
    hidden layers: Linear -> ReLU -> BatchNorm1d, twice (64 units each, the authors')

* Training: a hard straight-through Gumbel-softmax sample (:func:`hard_gumbel_softmax`):
  the forward value is one-hot at ``argmax(logits + g)`` (``g`` Gumbel noise), the
  gradient that of ``softmax((logits + g) / temperature)``. Since the hard sample does
  not depend on the temperature, the temperature only shapes the gradient: high at the
  start (smooth, small), low later (sharp, vanishing away from ties).
* Inference: ``argmax(logits)``, deterministic (the authors' test script instead keeps
  drawing Gumbel samples at temperature 5).
* The one-hot choice becomes a thermometer mask over the selective groups
  (:func:`thermometer`): choice ``k`` switches on the first ``k`` of them, and the
  straight-through gradient passes to every group's entry.

The authors anneal the temperature once per epoch, ``5 * exp(-0.015 * epoch)`` with a
floor of 0.005 (:func:`temperature_at`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcom.errors import SemcomError

#: the authors' Gumbel temperature schedule: initial value, decay per epoch, floor
INITIAL_TEMPERATURE = 5.0
TEMPERATURE_DECAY = 0.015
TEMPERATURE_FLOOR = 0.005


def temperature_at(epoch: float, initial: float = INITIAL_TEMPERATURE, decay: float = TEMPERATURE_DECAY,
                   floor: float = TEMPERATURE_FLOOR) -> float:
    """The authors' Gumbel temperature after ``epoch`` epochs (0 for the first epoch):
    ``max(initial * exp(-decay * epoch), floor)``; 5, 1.116 after 100, 0.0124 after 400,
    the floor 0.005 from epoch 461 on."""
    if epoch < 0 or not math.isfinite(epoch):
        raise SemcomError(f"epoch must be a finite number >= 0, got {epoch!r}")
    return max(float(initial) * math.exp(-float(decay) * float(epoch)), float(floor))


def gumbel_noise(like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard Gumbel samples ``-log(E)``, ``E ~ Exp(1)``, of ``like``'s shape, dtype and device."""
    e = torch.empty_like(like).exponential_(generator=generator)
    return -e.clamp_min(torch.finfo(like.dtype).tiny).log()


def hard_gumbel_softmax(logits: Tensor, temperature: float, generator: torch.Generator | None = None) -> Tensor:
    """A straight-through Gumbel-softmax sample over the last dimension.

    Args:
        logits: ``(..., n)`` unnormalized log-probabilities.
        temperature: ``tau > 0`` of the soft relaxation.
        generator: randomness of the Gumbel noise (None: the global generator).

    Returns:
        ``(..., n)``: one-hot at ``argmax(logits + g)`` in the forward pass, with the
        gradient of ``softmax((logits + g) / tau)``.
    """
    if not temperature > 0:
        raise SemcomError(f"Gumbel-softmax temperature must be positive, got {temperature!r}")
    soft = torch.softmax((logits + gumbel_noise(logits, generator)) / float(temperature), dim=-1)
    hard = F.one_hot(soft.detach().argmax(dim=-1), soft.shape[-1]).to(soft.dtype)
    return soft + (hard - soft).detach()


def thermometer(one_hot: Tensor) -> Tensor:
    """Thermometer mask of a one-hot choice: ``(..., n + 1)`` -> ``(..., n)``.

    Choice ``k`` (index ``k`` hot) switches on entries ``0 .. k-1``: entry ``j`` is the sum
    of the choices ``> j`` (a reversed cumulative sum), so a straight-through one-hot
    passes its gradient to every entry.
    """
    tail = one_hot[..., 1:]
    return tail.flip(-1).cumsum(-1).flip(-1)


def thermometer_from_counts(counts: Tensor, length: int) -> Tensor:
    """``(B, length)`` bool, the first ``counts[b]`` entries of row ``b`` True."""
    counts = torch.as_tensor(counts, dtype=torch.int64).reshape(-1)
    return torch.arange(int(length), device=counts.device).expand(counts.numel(), int(length)) < counts[:, None]


@dataclass
class RateDecision:
    """What the policy chose for a batch.

    Attributes:
        mask: ``(B, G_s)`` float 0/1 thermometer mask of the selective groups (a
            straight-through gradient in training, constant when forced).
        counts: ``(B,)`` int64 selective groups sent, ``0 .. G_s``.
        logits: ``(B, G_s + 1)`` the policy's scores, or None when the count was forced.
    """

    mask: Tensor
    counts: Tensor
    logits: Tensor | None = None


class RatePolicy(nn.Module):
    """The policy MLP of AR-JSCC and its choice of selective groups.

    Args:
        channels: ``C`` of the feature map it reads (the source encoder's output).
        selective_groups: ``G_s``; the policy scores ``G_s + 1`` choices.
        hidden: width of the two hidden layers (64, the authors').
        norm: BatchNorm1d after each hidden ReLU (the authors'); it needs more than one
            image per batch in training.
    """

    def __init__(self, channels: int, selective_groups: int, hidden: int = 64, norm: bool = True) -> None:
        super().__init__()
        if int(channels) < 1 or int(selective_groups) < 0 or int(hidden) < 1:
            raise SemcomError(f"RatePolicy needs channels >= 1, selective_groups >= 0 and hidden >= 1, "
                              f"got {channels}, {selective_groups}, {hidden}")
        self.selective_groups = int(selective_groups)
        self.norm = bool(norm)
        layers: list[nn.Module] = []
        width = int(channels) + 1
        for _ in range(2):
            layers += [nn.Linear(width, int(hidden)), nn.ReLU()]
            if self.norm:
                layers.append(nn.BatchNorm1d(int(hidden)))
            width = int(hidden)
        layers.append(nn.Linear(width, self.selective_groups + 1))
        self.mlp = nn.Sequential(*layers)

    def logits(self, features: Tensor, snr_db: Tensor) -> Tensor:
        """``(B, G_s + 1)`` scores of ``(B, C, H, W)`` features at ``(B,)`` SNRs (dB, unscaled)."""
        if self.training and self.norm and features.shape[0] < 2:
            raise SemcomError("the AR-JSCC policy's batch norm needs at least 2 images per batch in "
                              "training (evaluate in eval mode, or build it with policy_norm=False)")
        pooled = features.mean(dim=(2, 3))
        snr = snr_db.to(pooled.dtype).reshape(-1, 1).expand(pooled.shape[0], 1)
        return self.mlp(torch.cat([pooled, snr], dim=1))

    def forward(self, features: Tensor, snr_db: Tensor, temperature: float = INITIAL_TEMPERATURE,
                sample: bool | None = None, generator: torch.Generator | None = None) -> RateDecision:
        """Choose a count per image.

        Args:
            features: ``(B, C, H, W)``.
            snr_db: ``(B,)`` dB.
            temperature: Gumbel temperature of a training sample.
            sample: draw a straight-through Gumbel sample (default: in training) instead
                of taking ``argmax(logits)``.
            generator: randomness of the sample.
        """
        logits = self.logits(features, snr_db)
        draw = self.training if sample is None else bool(sample)
        if draw:
            one_hot = hard_gumbel_softmax(logits, temperature, generator)
        else:
            one_hot = F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
        counts = one_hot.detach().argmax(dim=-1).to(torch.int64)
        return RateDecision(mask=thermometer(one_hot), counts=counts, logits=logits)

    def forced(self, batch: int, count: int, device: torch.device | str | None = None) -> RateDecision:
        """The decision "send ``count`` selective groups" for every image (no gradient)."""
        if not 0 <= int(count) <= self.selective_groups:
            raise SemcomError(f"the count of selective groups must be in [0, {self.selective_groups}], got {count}")
        counts = torch.full((int(batch),), int(count), dtype=torch.int64, device=device)
        return RateDecision(mask=thermometer_from_counts(counts, self.selective_groups).float(), counts=counts)
