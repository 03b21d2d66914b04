"""Quad-LIC: an ELIC-style learned image codec with the quadtree context model (QP-SCCTX).

Architecture (``N`` feature channels, ``M`` latent channels; images padded to a multiple
of 64 with replicate padding, the reconstruction cropped back)::

    analysis         conv5x5/2(3->N)  RB x3  conv5x5/2(N->N)  RB x3  Attn(N)
                     conv5x5/2(N->N)  RB x3  conv5x5/2(N->M)  Attn(M)           y: M x H/16
    hyper_analysis   conv3x3(M->N) ReLU conv5x5/2(N->N) ReLU conv5x5/2(N->N)    z: N x H/64
    hyper_prior      FactorizedPrior(N)
    hyper_synthesis  deconv5x5/2(N->N) ReLU deconv5x5/2(N->3N/2) ReLU conv3x3(3N/2->2M)
    context          ContextModel(M, 2M, partition): means and scales of y, step by step
    synthesis        Attn(M) deconv(M->N) RB x3 deconv(N->N) Attn(N) RB x3 deconv(N->N) RB x3
    unet             UNet of DepthConvBlocks on the N x H/2 features (``unet=False``: none)
    to_image         deconv5x5/2(N->3)

``RB`` is :class:`~semcom.nn.lic_blocks.ResidualBottleneckBlock`, ``Attn``
:class:`~semcom.nn.lic_blocks.AttentionBlock`; the UNet (:class:`~semcom.nn.unet.UNet`,
widths ``(N/2, N, N)`` by default) refines the features at the tail of the synthesis,
before the last up-convolution.

Presets (:data:`PRESETS`): ``paper`` N=192, M=320 (ELIC's and the paper's); ``small``
N=64, M=128 for training on this CPU; ``tiny`` N=16, M=32 for tests.

Training (``code(x, mode)``; ``forward`` is the trainer's contract of
:class:`~semcom.codecs.learned.LearnedCodecModel`, so ``semcom train`` trains it like any
model): ``"noise"`` (stage 1, additive uniform noise on ``y`` and
``z``), ``"ste"`` (stage 2, straight-through rounding), ``"round"`` (evaluation, the
rate the coder will spend). Loss: :meth:`QuadLIC.rate_distortion_loss`,
``lmbda * 255**2 * MSE + bpp``. Train ``hyper_prior.quantiles`` on :meth:`aux_loss`
with a separate optimizer, then call :meth:`update` before coding.

Coding: :meth:`compress` / :meth:`decompress` write and read one file per image
(:mod:`semcom.models.quad.bitstream`: 18-byte header with the image size and a model
identifier, then ONE range-coder stream holding ``z`` and the steps of ``y``). The
hyper synthesis, the context networks and the synthesis run under
:func:`~semcom.entropy.coding_context` (one thread, inference mode, fixed memory
layout) on both sides, so the decoder's ``y_hat`` and reconstruction equal the
encoder's bit for bit whatever thread count the caller uses (same machine and
PyTorch build; see :mod:`semcom.entropy.context` for what holds across machines).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcom.entropy import (
    BitstreamError,
    ContextModel,
    EntropyDecoder,
    EntropyEncoder,
    FactorizedPrior,
    GaussianConditional,
    coding_context,
)
from semcom.codecs.learned import LearnedCodecModel
from semcom.entropy._ops import check_mode
from semcom.errors import SemcomError
from semcom.models.quad.bitstream import (
    ModelMismatchError,
    model_fingerprint,
    pack_header,
    parse_header,
)
from semcom.nn.conv import conv
from semcom.nn.lic_blocks import AttentionBlock, ResidualBottleneckBlock, conv_down, conv_up
from semcom.nn.unet import UNet
from semcom.registry import CODEC_MODELS

#: input sizes are padded to a multiple of this (analysis /16, hyper analysis /4)
SIZE_MULTIPLE = 64
#: channel presets: ``paper`` is ELIC's and the paper's, ``small`` the CPU one
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"N": 16, "M": 32},
    "small": {"N": 64, "M": 128},
    "paper": {"N": 192, "M": 320},
}
#: the paper's MSE lambdas, lowest rate first
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483)


def _blocks(channels: int, count: int = 3) -> list[nn.Module]:
    return [ResidualBottleneckBlock(channels) for _ in range(count)]


def _positive_int(name: str, value: Any, even: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (even and value % 2):
        raise SemcomError(f"{name} must be a positive {'even ' if even else ''}int, got {value!r}")
    return value


@CODEC_MODELS.register("quad_lic")
class QuadLIC(LearnedCodecModel):
    """Quad-LIC: ELIC-style transforms, hyperprior and quadtree context model (QP-SCCTX), UNet tail.

    Args:
        N: feature channels of the transforms (even; paper 192).
        M: latent channels (paper 320; a multiple of 4 for ``quadtree``, of 2 for
            ``checkerboard``, at least 9 for ``channel_autoregressive``).
        partition: context-model partition: ``quadtree`` (QP-SCCTX, 4 steps),
            ``checkerboard`` (2) or ``channel_autoregressive`` (5 channel groups).
        unet: refine the synthesis features with the UNet of DepthConvBlocks
            (``False``: the "w/o UNet" ablation).
        lmbda: rate-distortion trade-off of :meth:`rate_distortion_loss`.
        unet_widths: the UNet's ``(w0, w1, w2)``; default ``(N/2, N, N)``.
        context_hidden: width of the context model's step networks (default ``M``).
        context_blocks: DepthConvBlocks per step network.
        noise_context: what the context sees in ``"noise"`` mode (``"ste"`` or
            ``"noise"``, see :class:`~semcom.entropy.ContextModel`).
    """

    name = "quad_lic"
    size_multiple = SIZE_MULTIPLE

    def __init__(self, N: int = 192, M: int = 320, partition: str = "quadtree", unet: bool = True,
                 lmbda: float = 0.0067, unet_widths: list[int] | tuple[int, ...] | None = None,
                 context_hidden: int | None = None, context_blocks: int = 2,
                 noise_context: str = "ste") -> None:
        super().__init__()
        _positive_int("N", N, even=True)
        _positive_int("M", M, even=True)
        if not isinstance(unet, bool):
            raise SemcomError(f"unet must be true or false, got {unet!r}")
        if isinstance(lmbda, bool) or not isinstance(lmbda, (int, float)) or not math.isfinite(lmbda) \
                or lmbda <= 0:
            raise SemcomError(f"lmbda must be a finite number > 0, got {lmbda!r}")
        widths = None if unet_widths is None else [int(w) for w in unet_widths]
        self.config: dict[str, Any] = {
            "N": N, "M": M, "partition": partition, "unet": unet, "lmbda": float(lmbda),
            "unet_widths": widths, "context_hidden": context_hidden,
            "context_blocks": context_blocks, "noise_context": noise_context}
        self.N, self.M, self.lmbda = N, M, float(lmbda)
        self.partition = partition

        self.analysis = nn.Sequential(
            conv_down(3, N), *_blocks(N),
            conv_down(N, N), *_blocks(N), AttentionBlock(N),
            conv_down(N, N), *_blocks(N),
            conv_down(N, M), AttentionBlock(M))
        self.hyper_analysis = nn.Sequential(
            conv(M, N, 3), nn.ReLU(inplace=True),
            conv_down(N, N), nn.ReLU(inplace=True),
            conv_down(N, N))
        middle = N * 3 // 2
        self.hyper_synthesis = nn.Sequential(
            conv_up(N, N), nn.ReLU(inplace=True),
            conv_up(N, middle), nn.ReLU(inplace=True),
            conv(middle, 2 * M, 3))
        self.hyper_prior = FactorizedPrior(N)
        self.gaussian = GaussianConditional()
        self.context = ContextModel(M, 2 * M, partition, hidden=context_hidden, blocks=context_blocks,
                                    noise_context=noise_context)
        self.synthesis = nn.Sequential(
            AttentionBlock(M), conv_up(M, N), *_blocks(N),
            conv_up(N, N), AttentionBlock(N), *_blocks(N),
            conv_up(N, N), *_blocks(N))
        self.unet = UNet(N, widths or (max(N // 2, 1), N, N)) if unet else None
        self.to_image = conv_up(N, 3)

    # ------------------------------------------------------------------ presets
    @classmethod
    def from_preset(cls, preset: str = "small", **overrides: Any) -> "QuadLIC":
        """A model with the channels of :data:`PRESETS` ``[preset]`` and ``overrides``."""
        if preset not in PRESETS:
            raise SemcomError(f"unknown Quad-LIC preset {preset!r} (known: {', '.join(PRESETS)})")
        return cls(**{**PRESETS[preset], **overrides})

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _check_images(x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 3 or not x.is_floating_point():
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise SemcomError(f"Quad-LIC takes float images (B, 3, H, W) in [0, 1], got {shape}")
        if x.shape[0] < 1 or x.shape[2] < 1 or x.shape[3] < 1:
            raise SemcomError(f"Quad-LIC got an empty image batch {tuple(x.shape)}")

    @staticmethod
    def pad(x: Tensor) -> Tensor:
        """``x`` padded (replicate, bottom and right) to multiples of :data:`SIZE_MULTIPLE`."""
        h, w = x.shape[-2:]
        ph, pw = -h % SIZE_MULTIPLE, -w % SIZE_MULTIPLE
        return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x

    def synthesize(self, y_hat: Tensor) -> Tensor:
        """Reconstruction ``(B, 3, 16h, 16w)`` (unclamped) of a latent ``(B, M, h, w)``."""
        features = self.synthesis(y_hat)
        if self.unet is not None:
            features = self.unet(features)
        return self.to_image(features)

    def entropy_parameters(self, x: Tensor, mode: str = "noise") -> dict[str, Tensor]:
        """Everything the rate needs for padded images ``(B, 3, 64a, 64b)``.

        Returns:
            ``{"y", "y_hat", "means", "scales", "y_likelihoods", "z", "z_hat",
            "z_likelihoods", "hyper"}`` (``hyper`` the hyper-synthesis output, ``2M``
            channels at the latent's resolution).
        """
        y = self.analysis(x)
        z = self.hyper_analysis(y)
        z_hat, z_lik = self.hyper_prior(z, mode)
        hyper = self.hyper_synthesis(z_hat)
        y_hat, y_lik, means, scales = self.context(y, hyper, self.gaussian, mode)
        return {"y": y, "y_hat": y_hat, "means": means, "scales": scales, "y_likelihoods": y_lik,
                "z": z, "z_hat": z_hat, "z_likelihoods": z_lik, "hyper": hyper}

    # ----------------------------------------------------------------- training
    def code(self, x: Tensor, mode: str = "noise") -> dict[str, Any]:
        """Code ``x`` ``(B, 3, H, W)`` in ``[0, 1]`` with the training proxy ``mode``.

        Returns:
            ``{"x_hat": (B, 3, H, W) unclamped, "likelihoods": {"y": (B, M, h, w),
            "z": (B, N, h/4, w/4)}, "bpp": (B,)}``; ``bpp`` is each image's estimated
            bits ``-log2`` of both likelihoods, per pixel of the unpadded image.
        """
        check_mode(mode)
        self._check_images(x)
        h, w = x.shape[-2:]
        params = self.entropy_parameters(self.pad(x), mode)
        x_hat = self.synthesize(params["y_hat"])[..., :h, :w]
        bits = (-torch.log2(params["y_likelihoods"])).sum(dim=(1, 2, 3)) \
            + (-torch.log2(params["z_likelihoods"])).sum(dim=(1, 2, 3))
        return {"x_hat": x_hat, "likelihoods": {"y": params["y_likelihoods"], "z": params["z_likelihoods"]},
                "bpp": bits / float(h * w)}

    def rate_distortion_loss(self, x: Tensor, output: dict[str, Any]) -> dict[str, Tensor]:
        """``{"loss": lmbda * 255**2 * MSE + bpp, "mse", "bpp"}`` (batch means) of a
        :meth:`code` ``output`` for the images ``x``."""
        mse = F.mse_loss(output["x_hat"].float(), x.float())
        bpp = output["bpp"].mean()
        return {"loss": self.lmbda * 255.0**2 * mse + bpp, "mse": mse, "bpp": bpp}

    def aux_loss(self) -> Tensor:
        """The factorized prior's quantile loss (train ``*quantiles*`` on it)."""
        return self.hyper_prior.aux_loss()

    def update(self) -> "QuadLIC":
        """Build the integer coding tables (after training, before coding); returns self."""
        self.hyper_prior.update()
        self.gaussian.update()
        return self

    def tables_ready(self) -> bool:
        """Whether :meth:`update` has built (or a state dict has loaded) the tables."""
        return self.hyper_prior._tables_ready() and self.gaussian._tables_ready()

    def model_id(self) -> bytes:
        """8-byte identifier of this model's config, weights and tables (in the header)."""
        return model_fingerprint(self, self.config)

    # ------------------------------------------------------------------ coding
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _hyper(self, z_hat: Tensor) -> Tensor:
        """Hyper parameters of one image's ``z_hat`` ``(N, h, w)``, identically on both sides."""
        return self.hyper_synthesis(z_hat.unsqueeze(0).contiguous(memory_format=torch.channels_last))

    def _reconstruct(self, y_hat: Tensor, height: int, width: int) -> Tensor:
        with coding_context():
            x_hat = self.synthesize(y_hat.contiguous(memory_format=torch.channels_last))
            return x_hat[..., :height, :width].clamp(0.0, 1.0).contiguous()

    def _require_tables(self) -> None:
        self.hyper_prior._tables()
        self.gaussian._tables()

    def compress(self, x: Tensor, return_latents: bool = False) -> bytes | tuple[bytes, dict[str, Tensor]]:
        """Encode one image into a Quad-LIC file.

        Args:
            x: ``(3, H, W)`` or ``(1, 3, H, W)`` float in ``[0, 1]`` (H, W <= 65535).
            return_latents: also return ``{"y_hat", "z_hat", "x_hat"}`` (``x_hat`` the
                ``(3, H, W)`` reconstruction the decoder will produce, bit for bit).

        Raises:
            SemcomError: a bad image, or :meth:`update` not called.
        """
        if isinstance(x, Tensor) and x.dim() == 3:
            x = x.unsqueeze(0)
        self._check_images(x)
        if x.shape[0] != 1:
            raise SemcomError(f"compress codes one image at a time, got a batch of {x.shape[0]}")
        if not bool(torch.isfinite(x).all()) or float(x.min()) < -1e-6 or float(x.max()) > 1 + 1e-6:
            raise SemcomError("compress takes finite images with values in [0, 1]")
        self._require_tables()
        height, width = int(x.shape[-2]), int(x.shape[-1])
        try:
            header = pack_header(height, width, self.model_id())
        except BitstreamError as e:
            raise SemcomError(str(e)) from None
        x = x.to(self._device(), torch.float32)
        with torch.inference_mode():
            y = self.analysis(self.pad(x))
            z = self.hyper_analysis(y)
        encoder = EntropyEncoder()
        with coding_context():
            z_hat = self.hyper_prior.encode_into(encoder, z[0])
            hyper = self._hyper(z_hat)
        y_hat = self.context.compress(y, hyper, self.gaussian, encoder)
        data = header + encoder.finish()
        if not return_latents:
            return data
        x_hat = self._reconstruct(y_hat, height, width)[0]
        return data, {"y_hat": y_hat, "z_hat": z_hat.unsqueeze(0).clone(), "x_hat": x_hat}

    def decompress(self, data: bytes, return_latents: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Decode a file written by :meth:`compress` of this very model.

        Returns:
            the ``(3, H, W)`` float32 image in ``[0, 1]`` (and, with ``return_latents``,
            ``{"y_hat", "z_hat"}``).

        Raises:
            ModelMismatchError: the file names another model (a :class:`BitstreamError`).
            BitstreamError: truncated, corrupt, foreign or random bytes.
            SemcomError: :meth:`update` was never called on this model.
        """
        height, width, model_id, stream = parse_header(data)
        self._require_tables()
        mine = self.model_id()
        if model_id != mine:
            raise ModelMismatchError(
                f"this Quad-LIC file was written by model {model_id.hex()}, but the decoding model is "
                f"{mine.hex()} (N={self.N}, M={self.M}, {self.partition}, lmbda={self.lmbda:g}): decode "
                f"it with the checkpoint that encoded it")
        padded_h, padded_w = -(-height // SIZE_MULTIPLE) * SIZE_MULTIPLE, -(-width // SIZE_MULTIPLE) * SIZE_MULTIPLE
        try:
            decoder = EntropyDecoder(stream)
            with coding_context():
                z_hat = self.hyper_prior.decode_from(decoder, (padded_h // 64, padded_w // 64))
                z_hat = z_hat.to(self._device())
                hyper = self._hyper(z_hat)
            latent_shape = (1, self.M, padded_h // 16, padded_w // 16)
            y_hat = self.context.decompress(hyper, self.gaussian, decoder, latent_shape)
            decoder.finish()
            x_hat = self._reconstruct(y_hat, height, width)[0]
        except BitstreamError:
            raise
        except Exception as exc:  # anything a corrupt stream provokes deeper down
            raise BitstreamError(f"Quad-LIC bitstream is corrupt ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
        if not bool(torch.isfinite(x_hat).all()):
            raise BitstreamError("Quad-LIC bitstream is corrupt (non-finite reconstruction)")
        if return_latents:
            return x_hat, {"y_hat": y_hat, "z_hat": z_hat.unsqueeze(0).clone()}
        return x_hat


__all__ = ["LAMBDAS", "PRESETS", "SIZE_MULTIPLE", "QuadLIC"]
