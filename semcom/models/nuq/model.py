"""``nuq``: feature-driven non-uniform quantization over a digital link (Zhang et al.,
Entropy 2025, "Feature-Driven Semantic Communication for Efficient Image Transmission").

Link (run-time settings in brackets; see :attr:`NUQ.settings`)::

    image -> Swin encoder -> features (B, c, H/4, W/4), mean square 1/2 per image
          -> contribution factors [contribution] -> categories [categories, category_map]
          -> bit widths [budget_bits, allocation] -> fixed-point codes -> payload bits
             (NUQ, or every feature at budget_bits bits [quantizer=uniform])
          -> [fec: none | 5G LDPC at mcs] -> scrambling, QAM [modulation] -> symbols
          -> channel -> ZF + LLRs -> [decisions: hard | soft] -> dequantize -> Swin decoder

* The symbols the encoder emits are the QAM symbols of the payload bits, so the channel
  uses are the payload's symbols, ``ceil(T / Q)`` uncoded with ``T = budget_bits * n``
  bits for ``n`` features and ``Q`` bits per symbol (BPSK 1, QPSK 2, 16-QAM 4), plus
  the quantizer's side information (:class:`semcom.semantics.nuq_side_info.SideInfo`:
  bit splits, float16 ``|x|min`` and ``|x|max`` per category, the category map, its kind
  and channel axis; 240 bits for NUQ with 16 channels, 51 for uniform), which goes
  through the contract's side-information path (5G NR at MCS 3, charged in training,
  simulated with CRC in evaluation: a lost block is a failed image).
* The payload symbols are constellation points of unit average energy by construction,
  not rescaled per image, so the receiver demaps on the known grid. With
  ``fec="ldpc"`` an image one of whose transport blocks fails its CRC is a failed image
  too (``Decoded.failed``: ``extras["failed"]``, a gray image).
* ``quantizer="none"`` is the paper's unquantized reference: the features are analog
  values, two per complex symbol (``ceil(n / 2)`` channel uses, no side information),
  MMSE-equalized at the receiver.
* ``contribution="gradient"`` (the paper): the transmitter runs the *decoder* on the
  features and takes ``|d MSE(decoder(f), image) / d f|`` per feature
  (:func:`semcom.semantics.contribution.gradient_contribution`, which differentiates
  with respect to a detached copy of the features only: no parameter gradient is left
  and no weight changes). ``magnitude`` and ``std`` are the paper's ablations.
* Categories are per channel by default (``category_map="channel"``, 2 bits per channel
  of side information; per element costs 2 bits per feature).

Training modes (``modes:`` of a train config, :meth:`set_modes`; training only, the
settings decide in evaluation):

* ``quantize: none`` (stage 1, the paper trains the Swin autoencoder first): the
  features go through the trainer's channel as analog values (the ``quantizer="none"``
  path), gradients through the channel as in analog JSCC;
* ``quantize: ste`` (stage 2, default): the full digital link above runs in the forward
  pass (real bits, real hard decisions, the settings' defaults), and the decoder's input
  is ``f + (f_rx - f).detach()``: its value is (to rounding) what the receiver dequantized, its
  gradient to the encoder is the identity (a straight-through estimator across the
  quantizer *and* the bit channel). ``f`` rides in ``Encoded.side`` only in training,
  where the contract delivers side entries with their gradients; in evaluation the side
  is rebuilt from the received bytes and ``f`` is absent.

Not from the paper (which gives no numbers for them): the latent width ``c``
(``latent_channels``, 16: at 32x32 that is 1024 features, 8192 payload bits at 8 bits,
4096 QPSK symbols), the per-image feature scaling, no SNR adaptation, heads [4, 8].
Costs (:func:`semcom.metrics.complexity.count_macs`, one 32x32 image, 16 channels):
``size="paper"``: encoder 0.312 GMACs, decoder 0.312, 7.39 M parameters; ``"small"``:
0.053 / 0.053 GMACs, 1.07 M parameters. ``contribution="gradient"`` adds one decoder
forward and backward pass at the transmitter (about 3x the decoder's MACs).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import Tensor

from semcom.channels.base import ChannelOutput
from semcom.channels.equalization import equalize
from semcom.conventions import complex_to_real, mse_per_image, normalize_power, real_to_complex
from semcom.errors import SemcomError
from semcom.semantics.bit_allocation import payload_bits
from semcom.models.base import Decoded, Encoded, JSCCModel
from semcom.models.nuq import bits as bitlink
from semcom.models.nuq.network import DOWNSAMPLING, SIZES, SwinAnalysis, SwinSynthesis, two_ints
from semcom.phy.mcs import check_usable_mcs, usable_mcs
from semcom.registry import SYSTEMS
from semcom.semantics.bit_allocation import ALLOCATIONS
from semcom.semantics.contribution import KINDS, contribution_factors, gradient_contribution
from semcom.semantics.nuq import NonUniformQuantizer, UniformQuantizer
from semcom.semantics.nuq_side_info import SideInfo
from semcom.settings import AUTO, RunSettings, Setting

QUANTIZERS = ("none", "uniform", "nonuniform")
CATEGORY_MAPS = ("channel", "element")
#: widest code word of the non-uniform quantizer (and the largest budget)
MAX_BITS = 16


@SYSTEMS.register("nuq")
class NUQ(JSCCModel):
    """Swin autoencoder whose features are quantized by contribution and sent as bits.

    Args:
        size: ``"small"`` (widths [64, 128], depths [2, 2], heads [2, 4]; default) or
            ``"paper"`` (the paper's [128, 256], [2, 4]; heads [4, 8]).
        widths, depths, heads: the two stages' values, overriding ``size``.
        window: attention window side (2, the paper's for 32x32 images).
        latent_channels: ``c``, features per position of the ``H/4 x W/4`` map (16).
        mlp_ratio: hidden width of the Swin MLPs over the stage width (4).
        equalizer: equalization of the analog reference (``"mmse"``, ``"zf"``, ``"none"``);
            the digital path always zero-forces before demapping.

    Attributes:
        ldpc: the payload's 5G LDPC transport-block coder
            (:class:`semcom.models.nuq.bits.LDPCBits`, used with ``fec="ldpc"``).
    """

    name = "nuq"
    size_multiple = DOWNSAMPLING
    receives = "channel_output"
    settings = (
        Setting("quantizer", str, "nonuniform", "link", choices=QUANTIZERS,
                help="nonuniform (the paper's NUQ), uniform (every feature at budget_bits), or none "
                     "(analog features, two per complex symbol)"),
        Setting("budget_bits", float, 8.0, "link", low=0.0, high=MAX_BITS,
                help="average payload bits per feature (> 0; whole for uniform)"),
        Setting("contribution", str, "gradient", "encoder", choices=KINDS,
                help="contribution factor: gradient of the reconstruction MSE through the decoder "
                     "(the paper), magnitude or std"),
        Setting("categories", int, 3, "encoder", low=1, high=255, help="NUQ categories m"),
        Setting("allocation", str, "paper", "encoder", choices=ALLOCATIONS,
                help="category widths: the paper's shares m:..:1, or reverse water-filling"),
        Setting("category_map", str, "channel", "encoder", choices=CATEGORY_MAPS,
                help="categories per channel (cheap side info) or per feature element"),
        Setting("modulation", str, "qpsk", "link", choices=tuple(bitlink.BITS_PER_SYMBOL),
                help="bpsk, qpsk or 16qam (Gray, scrambled)"),
        Setting("decisions", str, "hard", "decoder", choices=("hard", "soft"),
                help="hard bits, or the expected code word under the LLRs' bit posteriors"),
        Setting("fec", str, "none", "link", choices=("none", "ldpc"),
                help="none (uncoded bits, the paper) or 5G NR LDPC transport blocks at mcs"),
        Setting("mcs", int, AUTO, "link", low=3, high=28, allow_auto=True,
                help="MCS of fec=ldpc (its modulation must be the modulation setting); auto: the "
                     "most robust MCS of that modulation (QPSK 3, 16-QAM 10)"),
    )
    modes = (
        Setting("quantize", str, "ste", "link", choices=("none", "ste"),
                help="training: none = analog features through the channel (stage 1); ste = bits "
                     "through the link, straight-through gradient (stage 2)"),
    )

    def __init__(self, size: str = "small", widths: Sequence[int] | None = None,
                 depths: Sequence[int] | None = None, heads: Sequence[int] | None = None, window: int = 2,
                 latent_channels: int = 16, mlp_ratio: float = 4.0, equalizer: str = "mmse") -> None:
        super().__init__(equalizer)
        key = str(size).lower()
        if key not in SIZES:
            raise SemcomError(f"unknown nuq size {size!r} (known: {', '.join(SIZES)})")
        w, d, h = SIZES[key]
        self.widths = two_ints(widths, w, "widths", 1)
        self.depths = two_ints(depths, d, "depths", 0)
        self.heads = two_ints(heads, h, "heads", 1)
        bad = [f"{a}/{b}" for a, b in zip(self.widths, self.heads) if a % b]
        if bad:
            raise SemcomError(f"nuq heads must divide the stage widths, got width/heads {', '.join(bad)}")
        for what, value in (("window", window), ("latent_channels", latent_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SemcomError(f"nuq {what} must be a positive integer, got {value!r}")
        if not float(mlp_ratio) > 0:
            raise SemcomError(f"nuq mlp_ratio must be > 0, got {mlp_ratio!r}")
        self.window, self.latent_channels, self.mlp_ratio = window, latent_channels, float(mlp_ratio)
        self.config.update(size=key, widths=None if widths is None else list(self.widths),
                           depths=None if depths is None else list(self.depths),
                           heads=None if heads is None else list(self.heads), window=window,
                           latent_channels=latent_channels, mlp_ratio=self.mlp_ratio)
        args = (self.widths, self.depths, self.heads, window, latent_channels, self.mlp_ratio)
        self.encoder = SwinAnalysis(*args)
        self.decoder = SwinSynthesis(*args)
        self.ldpc = bitlink.LDPCBits()

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """A fast instance for 32x32 tests."""
        return {"widths": [8, 16], "depths": [2, 2], "heads": [2, 2], "latent_channels": 4}

    # -- networks ---------------------------------------------------------------------
    def analysis(self, images: Tensor) -> Tensor:
        """``(B, 3, H, W)`` in ``[0, 1]`` -> ``(B, c, H/4, W/4)`` transmitted features."""
        return self.encoder(images)

    def synthesis(self, features: Tensor) -> Tensor:
        """``(B, c, h, w)`` received features -> ``(B, 3, 4h, 4w)`` unclamped images."""
        return self.decoder(features.to(self.decoder.head.weight.dtype))

    # -- settings -----------------------------------------------------------------------
    def resolve_settings(self, **settings: Any) -> RunSettings:
        run = super().resolve_settings(**settings)
        budget = run["budget_bits"]
        where = f"system {self.name} setting"
        if not budget > 0:
            raise SemcomError(f"{where} budget_bits must be > 0 bits per feature, got {budget!r}")
        if run["quantizer"] == "uniform" and budget != int(budget):
            raise SemcomError(f"{where} budget_bits must be a whole number for quantizer=uniform, got {budget!r}")
        if run["quantizer"] == "nonuniform" and run["categories"] == 1 and budget != int(budget):
            raise SemcomError(f"{where} budget_bits must be a whole number with categories=1, got {budget!r}")
        if run["fec"] == "none" and run["mcs"] not in (None, AUTO):
            raise SemcomError(f"{where} mcs applies only with fec=ldpc, got mcs={run['mcs']} with fec=none")
        if run["fec"] == "ldpc":
            self.mcs_of(run)
            if run["decisions"] == "soft":
                raise SemcomError(f"{where} decisions=soft needs fec=none (the LDPC decoder returns hard bits)")
        return run

    @staticmethod
    def mcs_of(run: RunSettings | dict[str, Any]) -> int:
        """The MCS index of a ``fec="ldpc"`` call (SemcomError if it cannot carry the
        modulation setting)."""
        q = bitlink.BITS_PER_SYMBOL[run["modulation"]]
        if run["mcs"] in (None, AUTO):
            fits = [i for i in usable_mcs() if check_usable_mcs(i).modulation_order == q]
            if not fits:
                raise SemcomError(f"system nuq: fec=ldpc has no 5G MCS for modulation={run['modulation']} "
                                  f"(table 1 has QPSK, 16-QAM and 64-QAM)")
            return fits[0]
        mcs = check_usable_mcs(int(run["mcs"]))
        if mcs.modulation_order != q:
            raise SemcomError(f"system nuq setting mcs={mcs.index} is {mcs.modulation}, but modulation="
                              f"{run['modulation']}: give the modulation of the MCS")
        return mcs.index

    def _analog(self, quantizer: str) -> bool:
        """Whether this call sends analog features (the reference, or stage-1 training)."""
        return quantizer == "none" or (self.training and self.mode["quantize"] == "none")

    @staticmethod
    def _quantizer(quantizer: str, budget_bits: float, categories: int, allocation: str):
        if quantizer == "uniform":
            return UniformQuantizer(int(budget_bits))
        return NonUniformQuantizer(budget_bits, categories=categories, allocation=allocation, dim=1,
                                   max_bits=MAX_BITS)

    @staticmethod
    def payload_length(quantizer: str, budget_bits: float, num_features: int) -> int:
        """Payload bits ``T = budget_bits * n`` of one image (SemcomError if not whole)."""
        if quantizer == "none":
            return 0
        return payload_bits(budget_bits, int(num_features))

    # -- transmitter ----------------------------------------------------------------
    def contributions(self, features: Tensor, images: Tensor, kind: str = "gradient",
                      category_map: str = "channel") -> Tensor:
        """Per-image contribution factors of ``features``: ``(B, c)`` per channel or the
        features' shape per element. ``"gradient"`` runs the decoder at the transmitter
        and differentiates the per-image MSE with respect to the features only."""
        granularity = "channel" if category_map == "channel" else "element"
        if kind == "gradient":
            target = images.detach()
            return gradient_contribution(features, lambda f: mse_per_image(self.synthesis(f), target),
                                         granularity=granularity, dim=1)
        return contribution_factors(kind, features, granularity=granularity, dim=1)

    def quantize(self, features: Tensor, images: Tensor, quantizer: str = "nonuniform", budget_bits: float = 8.0,
                 contribution: str = "gradient", categories: int = 3, allocation: str = "paper",
                 category_map: str = "channel") -> tuple[Tensor, list[SideInfo]]:
        """``(B, T)`` uint8 payload bits (CPU) and one :class:`SideInfo` per image."""
        q = self._quantizer(quantizer, budget_bits, categories, allocation)
        c = None if quantizer == "uniform" else self.contributions(features, images, contribution, category_map)
        return q.encode(features, c)

    def encode(self, images: Tensor, snr_db: Tensor, quantizer: str = "nonuniform", budget_bits: float = 8.0,
               contribution: str = "gradient", categories: int = 3, allocation: str = "paper",
               category_map: str = "channel", modulation: str = "qpsk", fec: str = "none",
               mcs: Any = AUTO) -> Encoded:
        """Images (sides multiples of 4) -> ``(B, k)`` symbols: the payload's constellation
        points (unit average energy), or (analog) the features paired into complex values,
        power-normalized per image."""
        h, w = images.shape[-2:]
        if h % DOWNSAMPLING or w % DOWNSAMPLING:
            raise SemcomError(f"nuq.encode needs sides that are multiples of {DOWNSAMPLING}, got {h}x{w} "
                              f"(forward/transmit pad automatically)")
        features = self.analysis(images)
        b, shape = features.shape[0], tuple(features.shape[1:])
        side: dict[str, Any] = {"latent_shape": shape}
        if self._analog(quantizer):
            return Encoded(symbols=normalize_power(real_to_complex(features)), side=side,
                           extras={"payload_bits": torch.zeros(b, dtype=torch.int64)})
        total = self.payload_length(quantizer, budget_bits, features[0].numel())
        bits, sides = self.quantize(features, images, quantizer, budget_bits, contribution, categories,
                                    allocation, category_map)
        if fec == "ldpc":
            symbols = self.ldpc.encode(bits, self.mcs_of({"modulation": modulation, "mcs": mcs}))
        else:
            symbols = bitlink.modulate(bits, modulation)
        side["quantizer_side"] = sides
        if self.training and torch.is_grad_enabled():
            side["train_features"] = features  # gradient path only (module notes); never in evaluation
        return Encoded(symbols=symbols.to(features.device), side=side, side_bits=[s.to_bytes() for s in sides],
                       extras={"payload_bits": torch.full((b,), total, dtype=torch.int64),
                               "side_info_bits": torch.tensor([s.num_bits() for s in sides], dtype=torch.int64)})

    # -- receiver -------------------------------------------------------------------
    def parse_side(self, payloads: list[bytes], shape: tuple[int, ...], device: torch.device) -> dict[str, Any]:
        latent = (self.latent_channels, shape[-2] // DOWNSAMPLING, shape[-1] // DOWNSAMPLING)
        sides = [SideInfo.from_bytes(p) for p in payloads]
        lengths = [bitlink.payload_bits(s, latent) for s in sides]  # SemcomError if it does not fit
        return {"quantizer_side": sides, "payload_bits": torch.tensor(lengths, dtype=torch.int64)}

    def received_features(self, received: ChannelOutput, side: dict[str, Any], quantizer: str = "nonuniform",
                          budget_bits: float = 8.0, modulation: str = "qpsk", decisions: str = "hard",
                          fec: str = "none", mcs: Any = AUTO) -> tuple[Tensor, Tensor]:
        """What the receiver makes of the channel output; no gradient path.

        Returns:
            ``(features, failed)``: ``(B, c, h, w)`` dequantized payload or equalized
            analog values, and ``(B,)`` bool, True where an LDPC transport block of the
            image failed its CRC (always False without ``fec="ldpc"``).
        """
        shape = tuple(side["latent_shape"])
        out_shape = (received.symbols.shape[0],) + shape
        n = math.prod(shape)
        none_failed = torch.zeros(out_shape[0], dtype=torch.bool)
        if self._analog(quantizer):
            z = equalize(received, self.equalizer)
            return complex_to_real(z, n).reshape(out_shape), none_failed
        total = self.payload_length(quantizer, budget_bits, n)
        sides = side["quantizer_side"]
        described = side.get("payload_bits")
        if described is not None and bool((torch.as_tensor(described) != total).any()):
            raise SemcomError(f"nuq: the side information describes {torch.as_tensor(described).tolist()} payload "
                              f"bits, the link carries {total} per image")
        if fec == "ldpc":
            bits, crc_ok = self.ldpc.decode(received, total, self.mcs_of({"modulation": modulation, "mcs": mcs}))
            return bitlink.dequantize(bits, sides, out_shape), ~crc_ok
        llr = bitlink.llrs(received, modulation, total)
        if decisions == "soft":
            return bitlink.soft_dequantize(torch.sigmoid(llr), sides, out_shape), none_failed
        return bitlink.dequantize(bitlink.hard_bits(llr), sides, out_shape), none_failed

    def decode(self, received: ChannelOutput, snr_db: Tensor, side: dict[str, Any], quantizer: str = "nonuniform",
               budget_bits: float = 8.0, modulation: str = "qpsk", decisions: str = "hard", fec: str = "none",
               mcs: Any = AUTO) -> Decoded:
        """Channel output -> ``(B, 3, H, W)`` unclamped images, and (``Decoded.failed``) the
        images whose LDPC transport blocks failed their CRC."""
        f, failed = self.received_features(received, side, quantizer, budget_bits, modulation, decisions, fec, mcs)
        sent = side.get("train_features")
        if sent is not None and not self._analog(quantizer):
            f = sent + (f.to(sent.device, sent.dtype) - sent).detach()  # value received, gradient identity
        return Decoded(images=self.synthesis(f.to(received.symbols.device)), failed=failed)

    def _transmit(self, images: Tensor, channel: Any, snr_db: Any, generator: torch.Generator | None,
                  settings: RunSettings):
        result = super()._transmit(images, channel, snr_db, generator, settings)
        result.extras.pop("quantizer_side", None)  # SideInfo objects: their sizes are in side_info_bits
        return result
