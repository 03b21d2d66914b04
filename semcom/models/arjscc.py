"""AR-JSCC: deep JSCC with adaptive rate control (Yang & Kim, ICASSP 2022).

Facts from the authors' public code (restored in ``shared/design/systems.md``; every
line written here). SP-JSCC is this model trained with another loss (``weighted-mse``).

Layout (``(B, 3, H, W)`` images in ``[0, 1]``, sides multiples of 4):

* source encoder: standardize to ``[-1, 1]``; reflect-padded 7x7 convolution
  ``3 -> w0``, then two 3x3 stride-2 convolutions ``w0 -> w1 -> w2``; each followed by
  BatchNorm and ReLU (convolutions without bias). Output ``(B, w2, H/4, W/4)``.
* channel encoder: ``blocks`` residual blocks at width ``w2`` (zero-padded 3x3 conv ->
  BN -> ReLU -> 3x3 conv -> BN, plus the input), each followed by an
  :class:`~semcom.nn.snr_modulation.AffineSNRModulation`; a 3x3 projection to
  ``C = group_channels * (G_n + G_s)`` latent channels. (The SP-JSCC paper speaks of
  ADJSCC's attention-feature modules; AR-JSCC's code, which SP-JSCC builds on, has these
  modulation modules: pooled features and the SNR give a sigmoid scale and a shift.)
* groups: latent channels ``2g, 2g+1`` (for ``group_channels = 2``) form group ``g``; the
  first ``G_n`` (``fixed_groups``) are always sent, the ``G_s`` (``selective_groups``)
  after them are sent first-``k``-first. Each group's reals become complex symbols on
  their own (first channel real parts, second imaginary), so group ``g`` is one
  contiguous block of ``group_channels * H * W / 32`` symbols, in group order. The
  defaults on CIFAR-10 (32x32): 16 channels at 8x8, 8 groups of 64 symbols; ``G_n = 4``
  sent always (256 symbols, cbr 1/12), up to 4 more (512 symbols, cbr 1/6).
* policy: :class:`~semcom.nn.rate_policy.RatePolicy` on the *source encoder's* features
  and the SNR picks ``k`` (straight-through Gumbel sample in training, argmax at
  inference); the run-time setting ``groups`` forces ``k`` instead.
* power: normalized per image over its sent symbols
  (:func:`~semcom.conventions.normalize_power` with the mask). The authors instead
  normalize each latent channel to unit power over its positions before masking.
* decoder: the mirror. Unsent groups are zero-filled (as the channel delivers them; the
  decoder zeroes them again from the side information, so it never reads them); a 3x3
  convolution ``C -> w2`` (no bias), ``blocks`` residual blocks (reflect-padded) each
  followed by SNR modulation, two 3x3 stride-2 transposed convolutions ``w2 -> w1 ->
  w0`` with BN and ReLU, a reflect-padded 5x5 convolution to RGB and a sigmoid.
* side information: ``k`` in one byte per image (:meth:`ARJSCC.parse_side` refuses a
  byte that is not a count in ``[0, G_s]``), charged by the contract (a side payload
  is padded to ``semcom.phy.bitpipe.MIN_PAYLOAD_BYTES``).
* loss term ``aux["active_bandwidth"]``: the authors add ``lambda * mean(k)``, the mean
  *count* of active selective groups (not a fraction), to an MSE on ``[-1, 1]`` images,
  which is 4 times the ``[0, 1]`` MSE the trainer computes; so the term here is
  ``rate_weight * mean(k) / 4`` and ``rate_weight`` keeps the meaning of their
  ``lambda`` (1.5e-3 default, 2e-3 in their example).
* weights start as the authors': convolutions and linear layers ``N(0, 0.02)``, biases
  0, BatchNorm2d scales ``N(1, 0.02)``; the policy's linear layers ``N(0, 0.002)``.

Training mode (``modes``, not ``config``): ``temperature`` of the Gumbel-softmax. The
authors anneal it per epoch, ``5 * exp(-0.015 * epoch)``, floor 0.005
(:func:`semcom.nn.rate_policy.temperature_at`); with a hard straight-through sample it
shapes only the policy's gradient. The trainer sets modes per run or per stage, so the
schedule is followed stage by stage (``modes: {temperature: ...}``). Their recipe: Adam
betas (0.5, 0.999), lr 5e-4 for 150 epochs, 5e-5 for 150, then 1e-5 for 100 with the
policy and source encoder frozen (``freeze: ["policy.*", "source_encoder.*"]``); batch
128; flips and random 32x32 crops of 5-pixel reflect-padded images; SNR uniform in
[0, 20] dB. BatchNorm uses batch statistics in training and running ones in eval
(``transmit`` and ``load_model`` switch to eval), so a batch of one image decodes.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcom.conventions import complex_to_real, normalize_power, real_to_complex
from semcom.errors import SemcomError
from semcom.models.base import Decoded, Encoded, JSCCModel
from semcom.models.conv_latent import resolve_widths
from semcom.nn.rate_policy import INITIAL_TEMPERATURE, RateDecision, RatePolicy, thermometer_from_counts
from semcom.nn.snr_modulation import AffineSNRModulation
from semcom.registry import SYSTEMS
from semcom.settings import AUTO, RunSettings, Setting

#: total down-sampling of the source encoder (two stride-2 convolutions)
DOWNSAMPLING = 4
ARJSCC_SIZES: dict[str, tuple[int, ...]] = {"base": (64, 128, 256), "small": (32, 64, 128)}
#: the authors' MSE is on [-1, 1] images: 4 times the [0, 1] MSE of the trainer
AUTHORS_MSE_SCALE = 4.0
#: weight init of the authors' code
INIT_STD = 0.02
POLICY_INIT_STD = 0.002


def _pad(x: Tensor, amount: int, mode: str) -> Tensor:
    """Pad ``amount`` on every side: zeros, or reflection (replication along a side of
    one pixel, which reflection cannot pad)."""
    if mode == "zero":
        return F.pad(x, (amount,) * 4)
    reflect = min(x.shape[-2:]) > amount
    return F.pad(x, (amount,) * 4, mode="reflect" if reflect else "replicate")


class _Pad(nn.Module):
    def __init__(self, amount: int, mode: str = "reflect") -> None:
        super().__init__()
        self.amount, self.mode = int(amount), mode

    def forward(self, x: Tensor) -> Tensor:
        return _pad(x, self.amount, self.mode)


class _ResidualBlock(nn.Module):
    """``x + BN(conv3x3(ReLU(BN(conv3x3(x)))))`` at constant width."""

    def __init__(self, channels: int, padding: str) -> None:
        super().__init__()
        self.padding = padding
        self.conv1 = nn.Conv2d(channels, channels, 3, bias=False)
        self.norm1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, bias=False)
        self.norm2 = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(self.conv1(_pad(x, 1, self.padding))).relu()
        return x + self.norm2(self.conv2(_pad(h, 1, self.padding)))


class _ModulatedBlocks(nn.Module):
    """Residual blocks, each followed by SNR modulation."""

    def __init__(self, channels: int, count: int, padding: str) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(_ResidualBlock(channels, padding) for _ in range(count))
        self.modulations = nn.ModuleList(AffineSNRModulation(channels) for _ in range(count))

    def forward(self, x: Tensor, snr_db: Tensor) -> Tensor:
        for block, modulation in zip(self.blocks, self.modulations):
            x = modulation(block(x), snr_db)
        return x


def _conv_bn_relu(conv: nn.Module, channels: int) -> list[nn.Module]:
    return [conv, nn.BatchNorm2d(channels), nn.ReLU()]


@SYSTEMS.register("arjscc")
class ARJSCC(JSCCModel):
    """AR-JSCC: a policy sends a per-image number of latent channel groups.

    Args:
        size: ``"base"`` (widths 64, 128, 256: the authors', default) or ``"small"``
            (32, 64, 128).
        widths: the source encoder's three widths ``(w0, w1, w2)``, overriding ``size``.
        blocks: residual blocks (each with SNR modulation) in the channel encoder and
            in the decoder (2).
        group_channels: latent channels per group (2).
        fixed_groups: ``G_n``, groups always sent (4).
        selective_groups: ``G_s``, groups the policy sends first-``k``-first (4).
        policy_hidden: width of the policy's two hidden layers (64).
        policy_norm: BatchNorm1d in the policy (the authors'; training then needs
            batches of at least 2 images).
        rate_weight: the authors' ``lambda`` of ``lambda * mean active selective groups``
            (1.5e-3; see the module notes for the scale).
        equalizer: ``"mmse"`` (default), ``"zf"`` or ``"none"``.
    """

    name = "arjscc"
    size_multiple = DOWNSAMPLING
    settings = (
        Setting("groups", int, AUTO, "encoder", low=0, allow_auto=True,
                help="selective groups sent, 0 .. G_s (4 by default), or auto: the policy's choice"),
    )
    modes = (
        Setting("temperature", float, INITIAL_TEMPERATURE, "encoder", low=1e-6,
                help="Gumbel-softmax temperature of the policy in training (authors: 5 * exp(-0.015 "
                     "epoch), floor 0.005)"),
    )

    def __init__(self, size: str = "base", widths: Sequence[int] | None = None, blocks: int = 2,
                 group_channels: int = 2, fixed_groups: int = 4, selective_groups: int = 4,
                 policy_hidden: int = 64, policy_norm: bool = True, rate_weight: float = 1.5e-3,
                 equalizer: str = "mmse") -> None:
        super().__init__(equalizer)
        self.widths = resolve_widths(size, widths, ARJSCC_SIZES, self.name)
        counts = dict(blocks=blocks, group_channels=group_channels, fixed_groups=fixed_groups,
                      selective_groups=selective_groups, policy_hidden=policy_hidden)
        bad = [f"{k}={v!r}" for k, v in counts.items() if not isinstance(v, int) or isinstance(v, bool)
               or v < (1 if k in ("group_channels", "policy_hidden") else 0)]
        if bad or fixed_groups + selective_groups < 1:
            raise SemcomError(f"arjscc needs integer blocks, fixed_groups, selective_groups >= 0 (not both "
                              f"groups 0) and group_channels, policy_hidden >= 1, got {', '.join(bad) or counts}")
        if selective_groups > 255:
            raise SemcomError(f"arjscc sends its count of selective groups in one byte: at most 255, "
                              f"got {selective_groups}")
        if not float(rate_weight) >= 0:
            raise SemcomError(f"arjscc rate_weight must be >= 0, got {rate_weight!r}")
        self.blocks, self.group_channels = int(blocks), int(group_channels)
        self.fixed_groups, self.selective_groups = int(fixed_groups), int(selective_groups)
        self.total_groups = self.fixed_groups + self.selective_groups
        self.latent_channels = self.group_channels * self.total_groups
        self.rate_weight = float(rate_weight)
        self.config.update(size=str(size).lower(), widths=None if widths is None else list(self.widths),
                           blocks=self.blocks, group_channels=self.group_channels,
                           fixed_groups=self.fixed_groups, selective_groups=self.selective_groups,
                           policy_hidden=int(policy_hidden), policy_norm=bool(policy_norm),
                           rate_weight=self.rate_weight)
        w0, w1, w2 = self.widths
        c = self.latent_channels
        self.source_encoder = nn.Sequential(
            _Pad(3), *_conv_bn_relu(nn.Conv2d(3, w0, 7, bias=False), w0),
            *_conv_bn_relu(nn.Conv2d(w0, w1, 3, stride=2, padding=1, bias=False), w1),
            *_conv_bn_relu(nn.Conv2d(w1, w2, 3, stride=2, padding=1, bias=False), w2))
        self.channel_encoder = _ModulatedBlocks(w2, self.blocks, "zero")
        self.projection = nn.Conv2d(w2, c, 3, padding=1)
        self.policy = RatePolicy(w2, self.selective_groups, int(policy_hidden), bool(policy_norm))
        self.from_latent = nn.Conv2d(c, w2, 3, padding=1, bias=False)
        self.channel_decoder = _ModulatedBlocks(w2, self.blocks, "reflect")
        self.source_decoder = nn.Sequential(
            *_conv_bn_relu(nn.ConvTranspose2d(w2, w1, 3, 2, padding=1, output_padding=1, bias=False), w1),
            *_conv_bn_relu(nn.ConvTranspose2d(w1, w0, 3, 2, padding=1, output_padding=1, bias=False), w0),
            _Pad(2), nn.Conv2d(w0, 3, 5), nn.Sigmoid())
        self._init_weights()

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """A fast instance for 32x32 test images, with the authors' group layout."""
        return {"widths": [8, 16, 16], "blocks": 1, "policy_hidden": 16}

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, INIT_STD)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, INIT_STD)
                nn.init.zeros_(module.bias)
        for module in self.policy.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, POLICY_INIT_STD)

    # -- rate accounting ------------------------------------------------------------
    def symbols_per_group(self, height: int, width: int) -> int:
        """Complex symbols of one group of an ``height x width`` (padded) image."""
        positions = (int(height) // DOWNSAMPLING) * (int(width) // DOWNSAMPLING)
        return -(-self.group_channels * positions // 2)

    def symbols_sent(self, height: int, width: int, groups: int) -> int:
        """Channel symbols of an image that sends ``groups`` selective groups (side
        information not included)."""
        return (self.fixed_groups + int(groups)) * self.symbols_per_group(height, width)

    def resolve_settings(self, **settings: Any) -> RunSettings:
        run = super().resolve_settings(**settings)
        self._check_groups(run["groups"])
        return run

    def _check_groups(self, groups: Any) -> None:
        if groups not in (None, AUTO) and not 0 <= int(groups) <= self.selective_groups:
            raise SemcomError(f"system {self.name} setting groups must be in [0, {self.selective_groups}] "
                              f"(its selective groups) or auto, got {groups!r}")

    # -- JSCCModel ------------------------------------------------------------------
    def _decide(self, features: Tensor, snr_db: Tensor, groups: Any) -> RateDecision:
        if groups in (None, AUTO):
            return self.policy(features, snr_db, temperature=self.mode["temperature"])
        self._check_groups(groups)
        return self.policy.forced(features.shape[0], int(groups), features.device)

    def encode(self, images: Tensor, snr_db: Tensor, groups: Any = AUTO) -> Encoded:
        """``(B, 3, H, W)`` in ``[0, 1]`` (sides multiples of 4) -> ``(B, G * s)``
        symbols, ``s`` per group (:meth:`symbols_per_group`), the first ``(G_n + k_b) * s``
        of image ``b`` sent; ``side["groups"]`` and ``extras["groups"]`` hold ``k``."""
        h, w = images.shape[-2:]
        if h % DOWNSAMPLING or w % DOWNSAMPLING:
            raise SemcomError(f"arjscc.encode needs sides that are multiples of {DOWNSAMPLING}, got {h}x{w} "
                              f"(forward/transmit pad automatically)")
        features = self.source_encoder(images * 2 - 1)
        latent = self.projection(self.channel_encoder(features, snr_db))
        decision = self._decide(features, snr_db, groups)
        b, c, lh, lw = latent.shape
        per_group = latent.reshape(b * self.total_groups, self.group_channels * lh * lw)
        z = real_to_complex(per_group).reshape(b, -1)
        s = z.shape[1] // self.total_groups
        keep = torch.ones(b, self.fixed_groups, dtype=decision.mask.dtype, device=decision.mask.device)
        group_mask = torch.cat([keep, decision.mask], dim=1)  # (B, G), straight-through in training
        mask = group_mask[:, :, None].expand(b, self.total_groups, s).reshape(b, -1)
        if not mask.requires_grad:
            mask = mask > 0.5
        symbols = normalize_power(z, mask=mask)
        counts = decision.counts
        bits = [bytes([int(k)]) for k in counts.tolist()]
        active = decision.mask.sum(dim=1).mean()
        return Encoded(symbols=symbols, mask=mask,
                       side={"latent_shape": (c, lh, lw), "groups": counts}, side_bits=bits,
                       aux={"active_bandwidth": self.rate_weight * active / AUTHORS_MSE_SCALE},
                       extras={"groups": counts.detach().cpu()})

    def parse_side(self, payloads: list[bytes], shape: tuple[int, ...], device: torch.device) -> dict[str, Any]:
        counts = []
        for payload in payloads:
            if len(payload) != 1:
                raise SemcomError(f"arjscc side information is 1 byte per image, got {len(payload)}")
            if payload[0] > self.selective_groups:
                raise SemcomError(f"arjscc side information names {payload[0]} selective groups, but the "
                                  f"model has {self.selective_groups}")
            counts.append(payload[0])
        return {"groups": torch.tensor(counts, dtype=torch.int64, device=device)}

    def mask_from_side(self, side: dict[str, Any], num_symbols: int) -> Tensor:
        if num_symbols % self.total_groups:
            raise SemcomError(f"arjscc: {num_symbols} symbols do not split into {self.total_groups} groups")
        s = num_symbols // self.total_groups
        counts = torch.as_tensor(side["groups"], dtype=torch.int64).reshape(-1)
        return thermometer_from_counts((self.fixed_groups + counts) * s, num_symbols)

    def decode(self, symbols: Tensor, snr_db: Tensor, side: dict[str, Any]) -> Decoded:
        """``(B, k)`` equalized symbols (zeros where nothing was sent) -> ``(B, 3, H, W)``
        images in ``[0, 1]``."""
        c, lh, lw = side["latent_shape"]
        b, k = symbols.shape
        sent = self.mask_from_side(side, k).to(symbols.device)
        # zero-fill what was not sent; the gradient still passes (straight-through), so a
        # policy in training learns what switching a group on would give
        symbols = torch.where(sent, symbols, symbols - symbols.detach())
        per_group = symbols.reshape(b * self.total_groups, k // self.total_groups)
        latent = complex_to_real(per_group, self.group_channels * lh * lw).reshape(b, c, lh, lw)
        x = self.channel_decoder(self.from_latent(latent), snr_db)
        return Decoded(images=self.source_decoder(x))
