"""Quad-DeepSC (``quad_deepsc.txt``): Quad-LIC plus entropy-guided, step-wise feature coding.

Transmitter (images padded to multiples of 64)::

    y = analysis(x); z = hyper_analysis(y); z_hat = Q(z)       Quad-LIC (``self.lic``)
    means, scales, p(y_hat) = context(y, hyper_synthesis(z_hat))
    b_i = sum over unit i of -log2 p(y_hat)                    bits of each unit
    k_i = nearest value of the rate set to eta * b_i            (.rate_matching)
    v_i = FeatureEncoder(units of y, rate of i)[: k_i]          (.feature_coding, .units)

The ``k_i`` real values of unit ``i`` become ``k_i / 2`` complex symbols (consecutive
pairs), power-normalized per image over the sent symbols. Side information per image,
sent over the digital PHY and charged (:mod:`semcom.sideinfo`): ``z`` range-coded with
the Quad-LIC factorized prior, and the map of rate indices as a PNG
(:func:`~semcom.models.quad.rate_matching.pack_side`).

Receiver: ``parse_side`` rebuilds ``z_hat`` and the rate map, ``mask_from_side`` the
symbol mask; the FeatureDecoder decodes the units step by step (cross-attending to its
earlier steps' codewords, conditioned on the rate embedding and on
``hyper_synthesis(z_hat)``) to ``y'``, and the Quad-LIC synthesis makes the image.

Where the paper is silent, or ambiguous, this module chooses:

* a unit is one step's vector at one latent position (:mod:`.units`); ``eta`` is in
  real values per bit; the rate sets are
  :data:`~semcom.models.quad.rate_matching.DEFAULT_RATE_SET` (20 values, ``L_max``
  128) and its 10-value distilled subset;
* the feature encoder codes ``y`` itself (unquantized); the decoder uses ``z_hat`` (the
  paper's eq. 17 suggests the ``z`` bits might serve training only; with
  ``send_hyperprior=False`` nothing but the rate map is sent and the decoder does
  without);
* loss terms: ``forward`` returns ``reconstructions["lic"] = synthesis(y_hat)`` (the
  anchor ``d(x, x_LIC)`` of eq. 16, computed at the transmitter, where ``y_hat`` is;
  training only) and ``aux["rate"] = rate_weight * R / (3 H W)``, with ``R =
  sum_i min(eta * b_i, L_max) / 2 + u * bits(z)`` the differentiable estimate of an image's channel
  uses (``u``: channel uses per bit of the side-information PHY), ``H x W`` the padded
  size: ``rate_weight`` times an estimated CBR;
* in eval mode the LIC part always rounds (the ``quantize`` mode is a training proxy).

Training modes (``modes``): ``rate_set`` (``full``, stage 3; ``distilled``, stage 4)
and ``quantize`` (``noise``, the paper's choice for DeepSC training; ``ste``,
``round``). Run-time setting: ``eta`` (a rate sweep needs no retraining). Ablations
(constructor): ``partition`` (``quadtree``, ``checkerboard``, ``channel_autoregressive``:
context model and feature coding alike), ``unet``, ``quadtree_features=False`` (one
feature-coding step over all channels, no cross-attention). Until
:meth:`QuadDeepSC.update` builds the Quad-LIC's coding tables (after training, before
shipping), ``z`` is coded with tables built from the current weights on a copy of the
factorized prior, so training and validation never resize the model's buffers (a
checkpoint then still loads with ``init_from: previous``).
"""

from __future__ import annotations

import copy
import math
import zlib
from typing import Any, Sequence

import torch
from torch import Tensor

from semcom.channels.base import Channel
from semcom.conventions import SNR, normalize_power
from semcom.data.transforms import crop_to
from semcom.entropy import FactorizedPrior
from semcom.errors import SemcomError
from semcom.models.base import Decoded, Encoded, JSCCModel
from semcom.models.quad.feature_coding import FeatureDecoder, FeatureEncoder
from semcom.models.quad.lic import PRESETS as LIC_PRESETS
from semcom.models.quad.lic import SIZE_MULTIPLE, QuadLIC
from semcom.models.quad.rate_matching import (DEFAULT_DISTILLED_RATE_SET, DEFAULT_RATE_SET, RATE_SET_NAMES,
                                              RateSets, decode_rate_map, encode_rate_map, pack_side,
                                              unpack_side)
from semcom.models.quad.units import StepLayout
from semcom.registry import SYSTEMS
from semcom.settings import AUTO, Setting

#: feature-coder presets on top of Quad-LIC's (``paper``: N=192, M=320)
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {**LIC_PRESETS["tiny"], "embed_dim": 16, "depth": 1, "heads": 2, "window": 4},
    "small": {**LIC_PRESETS["small"], "embed_dim": 128, "depth": 2, "heads": 4, "window": 8},
    "paper": {**LIC_PRESETS["paper"], "embed_dim": 256, "depth": 2, "heads": 8, "window": 8},
}
#: latent down-sampling of the analysis (y) and of the hyper analysis (z)
LATENT_STRIDE, HYPER_STRIDE = 16, 64


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise SemcomError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


@SYSTEMS.register("quad_deepsc")
class QuadDeepSC(JSCCModel):
    """Quad-DeepSC (see the module docstring).

    Args:
        preset: ``tiny``, ``small`` or ``paper`` (:data:`PRESETS`); the arguments
            below left at None take its values.
        N, M: Quad-LIC feature and latent channels.
        partition, unet, lmbda: Quad-LIC's (context partition, UNet tail, its lambda).
        embed_dim, depth, heads, window: width ``C``, ViT blocks per step, heads and
            window side of the feature coders.
        full_rate_set, distilled_rate_set: unit lengths in real values (:class:`RateSets`;
            the training mode ``rate_set`` picks the active one).
        eta: default rate scale, real values per bit (the run-time setting ``eta``).
        rate_weight: weight of ``aux["rate"]`` (an estimated CBR).
        quadtree_features: step-wise feature coding following ``partition`` (False:
            one step, the paper's "w/o quadtree partition-based feature coding").
        send_hyperprior: send ``z`` and condition the feature decoder on it.
        lic_options: further :class:`QuadLIC` arguments (``unet_widths``,
            ``context_hidden``, ``context_blocks``, ``noise_context``).
        equalizer: ``"zf"`` (the paper's), ``"mmse"`` or ``"none"``.
    """

    name = "quad_deepsc"
    size_multiple = SIZE_MULTIPLE
    settings = (Setting("eta", float, None, "encoder", low=0.0, high=1e4, allow_auto=True,
                        help="rate scale: real values sent per bit of estimated entropy (auto: the model's)"),)
    modes = (Setting("rate_set", str, "full", "link", choices=RATE_SET_NAMES,
                     help="rate set: full (stage 3) or distilled (stage 4)"),
             Setting("quantize", str, "noise", "encoder", choices=("noise", "ste", "round"),
                     help="quantization proxy of the Quad-LIC part in training (eval always rounds)"))

    def __init__(self, preset: str = "paper", N: int | None = None, M: int | None = None,
                 partition: str = "quadtree", unet: bool = True, lmbda: float = 0.0067,
                 embed_dim: int | None = None, depth: int | None = None, heads: int | None = None,
                 window: int | None = None, full_rate_set: Sequence[int] = DEFAULT_RATE_SET,
                 distilled_rate_set: Sequence[int] = DEFAULT_DISTILLED_RATE_SET, eta: float = 0.5,
                 rate_weight: float = 0.02, quadtree_features: bool = True, send_hyperprior: bool = True,
                 lic_options: dict[str, Any] | None = None, equalizer: str = "zf") -> None:
        super().__init__(equalizer)
        if preset not in PRESETS:
            raise SemcomError(f"unknown quad_deepsc preset {preset!r} (known: {', '.join(PRESETS)})")
        given = dict(N=N, M=M, embed_dim=embed_dim, depth=depth, heads=heads, window=window)
        arch = {k: PRESETS[preset][k] if v is None else v for k, v in given.items()}
        for name, flag in (("quadtree_features", quadtree_features), ("send_hyperprior", send_hyperprior)):
            if not isinstance(flag, bool):
                raise SemcomError(f"{name} must be true or false, got {flag!r}")
        if lic_options is not None and not isinstance(lic_options, dict):
            raise SemcomError(f"lic_options must be a mapping of QuadLIC arguments, got {lic_options!r}")
        self.rates = RateSets(list(full_rate_set), list(distilled_rate_set))
        self.eta, self.rate_weight = _number("eta", eta), _number("rate_weight", rate_weight)
        self.send_hyperprior = send_hyperprior
        self.lic = QuadLIC(N=arch["N"], M=arch["M"], partition=partition, unet=unet, lmbda=lmbda,
                           **(lic_options or {}))
        self.layout = StepLayout(partition, arch["M"], stepwise=quadtree_features)
        coder = dict(layout=self.layout, num_rates=len(self.rates.full), max_length=self.rates.max_length,
                     dim=arch["embed_dim"], depth=arch["depth"], heads=arch["heads"], window=arch["window"])
        self.feature_encoder = FeatureEncoder(**coder)
        self.feature_decoder = FeatureDecoder(**coder, hyper_channels=2 * arch["M"] if send_hyperprior else 0)
        self.config.update(preset=preset, **arch, partition=partition, unet=unet, lmbda=float(lmbda),
                           full_rate_set=list(self.rates.full), distilled_rate_set=list(self.rates.distilled),
                           eta=self.eta, rate_weight=self.rate_weight, quadtree_features=quadtree_features,
                           send_hyperprior=send_hyperprior, lic_options=dict(lic_options or {}))
        self._side_uses_per_bit: float | None = None

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """A very small instance (CPU tests on 32-64 px images)."""
        return {"preset": "tiny", "full_rate_set": [0, 2, 4, 8, 16, 32], "distilled_rate_set": [0, 4, 16, 32],
                "lic_options": {"unet_widths": [8, 16, 16], "context_hidden": 16, "context_blocks": 1}}

    # ------------------------------------------------------------------ helpers
    def update(self) -> "QuadDeepSC":
        """Build the Quad-LIC coding tables (after training); returns self."""
        self.lic.update()
        return self

    def tables_ready(self) -> bool:
        """Whether the Quad-LIC's coding tables are built (or loaded)."""
        return self.lic.tables_ready()

    def aux_loss(self) -> Tensor:
        """The factorized prior's quantile loss (the config's ``aux_optimizer``)."""
        return self.lic.aux_loss()

    def _z_prior(self) -> FactorizedPrior:
        """The factorized prior that codes ``z``: in eval mode the Quad-LIC's once
        :meth:`update` built its tables; in training (where the prior's parameters move,
        so tables loaded or built earlier are stale) and before :meth:`update`, a copy
        with tables of the current weights (rebuilt when they change), so that coding
        never resizes the model's own buffers."""
        prior = self.lic.hyper_prior
        if prior._tables_ready() and not self.training:
            return prior
        copy_ = self.__dict__.get("_z_prior_copy")
        stale = copy_ is None or copy_.quantiles.device != prior.quantiles.device or not all(
            torch.equal(a, b) for a, b in zip(copy_.parameters(), prior.parameters()))
        if stale:
            with torch.no_grad():
                copy_ = copy.deepcopy(prior).requires_grad_(False)
                copy_.update()
            self.__dict__["_z_prior_copy"] = copy_  # not a submodule: no state, no parameters
        return copy_

    def _uses_per_bit(self) -> float:
        """Channel uses per bit of the side-information PHY (for the rate estimate)."""
        if self._side_uses_per_bit is None:
            self._side_uses_per_bit = self.side_path.pipe.channel_uses(4096) / (8 * 4096)
        return self._side_uses_per_bit

    def _lengths(self, rate_index: Tensor) -> Tensor:
        """``(B, S, h, w)`` active-set indices -> unit lengths in real values."""
        return self.rates.values(self.mode["rate_set"], rate_index.device)[rate_index]

    def _slot_mask(self, rate_index: Tensor) -> Tensor:
        """``(B, S h w L_max/2)`` bool: the first ``k_i / 2`` symbol slots of each unit."""
        half = self.rates.max_length // 2
        k = self._lengths(rate_index) // 2
        slots = torch.arange(half, device=rate_index.device)
        return (slots < k.unsqueeze(-1)).reshape(rate_index.shape[0], -1)

    def _lic_transmitter(self, x: Tensor) -> dict[str, Any]:
        """The Quad-LIC part at the transmitter: latents, entropy and ``z``'s bytes."""
        quantize = self.mode["quantize"] if self.training else "round"
        y = self.lic.analysis(x)
        z = self.lic.hyper_analysis(y)
        z_bytes = None
        if self.training or not self.send_hyperprior:
            z_hat, z_lik = self.lic.hyper_prior(z, quantize)
            if self.send_hyperprior:  # real bytes, for their charge
                z_bytes = self._z_prior().compress(z.detach())[0]
        else:  # exactly what the receiver decodes
            z_bytes, z_hat = self._z_prior().compress(z)
            z_lik = self.lic.hyper_prior.likelihood(z_hat)
        hyper = self.lic.hyper_synthesis(z_hat)
        y_hat, y_lik, _, _ = self.lic.context(y, hyper, self.lic.gaussian, quantize)
        return {"y": y, "y_hat": y_hat, "z_hat": z_hat, "z_bytes": z_bytes,
                "bits_y": -torch.log2(y_lik), "bits_z": -torch.log2(z_lik).sum(dim=(1, 2, 3))}

    # -------------------------------------------------------------- JSCCModel
    def encode(self, images: Tensor, snr_db: Tensor, eta: Any = None) -> Encoded:
        """``(B, 3, H, W)`` in ``[0, 1]`` (sides multiples of 64) -> ``(B, S h w L_max/2)``
        symbols, ``L_max/2`` slots per unit of which the first ``k_i / 2`` are sent;
        ``side = {"z_hat", "rate_index" (B, S, h, w)}``, ``h, w = H/16, W/16``."""
        if images.shape[-1] % SIZE_MULTIPLE or images.shape[-2] % SIZE_MULTIPLE:
            raise SemcomError(f"quad_deepsc.encode needs sides that are multiples of {SIZE_MULTIPLE}, got "
                              f"{tuple(images.shape[-2:])} (forward/transmit pad automatically)")
        scale = self.eta if eta in (None, AUTO) else _number("eta", eta)
        which = self.mode["rate_set"]
        lic = self._lic_transmitter(images)
        unit_bits = self.layout.unit_sums(lic["bits_y"])  # (B, S, h, w), with the rate's gradient
        rate_index = self.rates.match(unit_bits.detach(), scale, which)
        full_index = self.rates.full_index(which, images.device)[rate_index]
        units = [self.layout.gather(lic["y"], t) for t in range(self.layout.num_steps)]
        values, _ = self.feature_encoder(units, full_index)  # (B, S, L, h, w)
        b = values.shape[0]
        pairs = values.permute(0, 1, 3, 4, 2).float().contiguous().reshape(*rate_index.shape, -1, 2)
        mask = self._slot_mask(rate_index)
        symbols = normalize_power(torch.view_as_complex(pairs).reshape(b, -1), mask=mask)
        side: dict[str, Any] = {"rate_index": rate_index}
        if self.send_hyperprior:
            side["z_hat"] = lic["z_hat"]
        z_parts = lic["z_bytes"] if self.send_hyperprior else [None] * b
        side_bits = [pack_side(z_parts[i], encode_rate_map(rate_index[i])) for i in range(b)]
        bits_y = lic["bits_y"].sum(dim=(1, 2, 3))
        bits_z = lic["bits_z"] if self.send_hyperprior else torch.zeros_like(bits_y)
        longest = float(self.rates.values(which).max())  # no unit sends more than L_max reals
        reals = (scale * unit_bits).clamp(max=longest).sum(dim=(1, 2, 3))
        uses = 0.5 * reals + self._uses_per_bit() * bits_z
        cbr = uses / (3.0 * images.shape[-2] * images.shape[-1])
        return Encoded(symbols=symbols, mask=mask, side=side, side_bits=side_bits,
                       aux={"rate": self.rate_weight * cbr.mean()},
                       extras={"lic_latent": lic["y_hat"], "entropy_bits": (bits_y + bits_z).detach().cpu(),
                               "side_bytes": torch.tensor([len(p) for p in side_bits])})

    def parse_side(self, payloads: list[bytes], shape: tuple[int, ...], device: torch.device) -> dict[str, Any]:
        """Rebuild ``{"rate_index", "z_hat"}`` from each image's bytes (``shape`` the padded
        ``(B, 3, H, W)``); bytes that do not parse raise :class:`SemcomError`."""
        height, width = int(shape[-2]), int(shape[-1])
        count = len(self.rates.values(self.mode["rate_set"]))
        maps, hypers = [], []
        for payload in payloads:
            try:
                z_bytes, png = unpack_side(payload, self.send_hyperprior)
                maps.append(decode_rate_map(png, self.layout.num_steps, height // LATENT_STRIDE,
                                            width // LATENT_STRIDE, count))
                if z_bytes is not None:
                    hypers.append(self._z_prior().decompress(
                        [z_bytes], (height // HYPER_STRIDE, width // HYPER_STRIDE)))
            except (SemcomError, OSError, ValueError, EOFError, zlib.error) as exc:
                # corrupt bytes must fail the image, never the batch (a code bug still raises)
                raise SemcomError(f"quad_deepsc side information does not parse: {exc}") from None
        side: dict[str, Any] = {"rate_index": torch.stack(maps).to(device)}
        if self.send_hyperprior:
            side["z_hat"] = torch.cat(hypers).to(device)
        return side

    def mask_from_side(self, side: dict[str, Any], num_symbols: int) -> Tensor:
        """``(B, num_symbols)`` bool: the sent slots, from the rate map."""
        rate_index = side["rate_index"]
        expected = rate_index[0].numel() * (self.rates.max_length // 2)
        if num_symbols != expected:
            raise SemcomError(f"quad_deepsc: {num_symbols} symbols do not fit a rate map of "
                              f"{tuple(rate_index.shape[1:])} units ({expected} slots)")
        return self._slot_mask(rate_index)

    def decode(self, received: Tensor, snr_db: Tensor, side: dict[str, Any]) -> Decoded:
        """``(B, S h w L_max/2)`` equalized symbols (zeros where nothing was sent) ->
        ``(B, 3, 16 h, 16 w)`` unclamped images."""
        rate_index = side["rate_index"]
        mask = self._slot_mask(rate_index).to(received.device)
        received = torch.where(mask, received, torch.zeros_like(received))
        b, steps, h, w = rate_index.shape
        values = torch.view_as_real(received.reshape(b, steps, h, w, -1)).reshape(b, steps, h, w, -1)
        full_index = self.rates.full_index(self.mode["rate_set"], rate_index.device)[rate_index]
        hyper = self.lic.hyper_synthesis(side["z_hat"]) if self.send_hyperprior else None
        units = self.feature_decoder(values.permute(0, 1, 4, 2, 3), full_index, hyper)
        return Decoded(images=self.lic.synthesize(self.layout.scatter(units)))

    def forward(self, images: Tensor, channel: Channel, snr_db: SNR, generator: torch.Generator | None = None,
                simulate_side: bool | None = None, **settings: Any) -> dict[str, Any]:
        """:meth:`JSCCModel.forward`, plus ``reconstructions["lic"]``, the Quad-LIC's own
        reconstruction of ``y_hat`` (transmitter side, for the loss's anchor term), when
        training or when gradients are on."""
        out = super().forward(images, channel, snr_db, generator, simulate_side, **settings)
        latent = out["extras"].pop("lic_latent", None)
        if latent is not None and (self.training or torch.is_grad_enabled()):
            out["reconstructions"]["lic"] = crop_to(self.lic.synthesize(latent), tuple(images.shape[-2:]))
        return out


__all__ = ["PRESETS", "QuadDeepSC"]
