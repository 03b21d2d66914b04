"""Multi-step spatial-channel context model (Quad-LIC's QP-SCCTX and its ablations).

The latent ``y`` ``(B, M, H, W)`` is coded in the steps of a partition
(:mod:`semcom.entropy.partitions`: ``quadtree`` 4 steps, ``checkerboard`` 2,
``channel_autoregressive`` 5). Step ``t`` has its own parameter network

    params_0 = net_0(hyper)
    params_t = net_t(cat(hyper, y_hat * mask_{<t}))          t >= 1

built from :class:`~semcom.nn.depthconv.DepthConvBlock` s and a final 1x1 convolution
to ``2M`` channels: ``means = params[:, :M]``, ``scales = max(softplus(params[:, M:]),
gaussian.scale_bound)``. ``hyper`` is the hyper-synthesis output ``(B, Ch, H, W)``;
``y_hat * mask_{<t}`` is the already-decoded latent, zero at the positions of steps
``>= t`` (the step's context). Only the step-``t`` positions of ``params_t`` are used.

Training (:meth:`ContextModel.forward`) runs the steps in order on the ground truth:
the context of step ``t`` holds ``round(y - mu) + mu`` (straight-through: the value is
rounded, the gradient is the identity into ``y``; ``mu`` is treated as a constant) at
the positions of the earlier steps, ``mu`` being the means of the step that codes them.
This is also what the decoder sees, so training's rate estimate matches the coder. In
``"noise"`` mode the likelihood (and the returned ``y_hat``) use ``y + U(-1/2, 1/2)``;
the context uses the straight-through values above by default (common practice), or
the same noisy values with ``noise_context="noise"`` (the paper's literal stage 1).
Each step network runs once per call in training and in coding alike.

Coding and determinism
----------------------
:meth:`ContextModel.compress` and :meth:`ContextModel.decompress` code each image of
the batch on its own (batch 1), in order, into the one shared stream, calling
``gaussian.encode_into`` / ``decode_from`` once per step. They run the parameter
networks under :func:`coding_context` (``torch.inference_mode()`` and one intra-op
thread, restored afterwards), from identical inputs: the hyper parameters (the caller
must compute them identically on both sides, e.g. from the decoded ``z_hat`` under
:func:`coding_context`) and the decoded ``y_hat`` with zeros at the steps not yet coded.
The table index of a scale is ``gaussian.build_indexes`` of the float32 scale (the
smallest table scale at or above it, compared in float32): no tolerance is involved, so
equal scales give equal indexes.

What is guaranteed: on the same machine with the same PyTorch build, encoder and
decoder compute bitwise identical means and scales whatever thread count the callers
set (the context forces one thread), hence identical indexes and ``y_hat``. What is not:
across machines whose CPUs dispatch different kernels (AVX2 vs AVX-512, FMA or not,
another oneDNN/BLAS version, a GPU) the float outputs may differ in the last bits; a
scale that lands on the other side of a table boundary or a mean that shifts a
rounding then desynchronizes the decoder. The coder cannot correct that; it is
detected: the stream's 16-bit check word (and out-of-range or non-finite decoded
values) makes :meth:`decompress` / ``EntropyDecoder.finish`` raise
:class:`~semcom.entropy.errors.BitstreamError` (undetected with probability about
``2**-16``) instead of returning garbage silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcom.entropy._ops import check_finite, check_mode, quantize
from semcom.entropy.errors import BitstreamError, SemcomError
from semcom.entropy.gaussian import GaussianConditional
from semcom.entropy.partitions import NUM_STEPS, PARTITIONS, partition_masks
from semcom.entropy.stream import EntropyDecoder, EntropyEncoder
from semcom.nn.conv_fast import Pointwise
from semcom.nn.depthconv import DepthConvBlock
from semcom.nn.gdn import lower_bound


@contextmanager
def coding_context() -> Iterator[None]:
    """Deterministic evaluation for entropy coding: ``torch.inference_mode()`` and one
    intra-op thread (the previous count is restored on exit). Not thread-safe: the
    thread count is process-global."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(previous)


class ContextModel(nn.Module):
    """Entropy parameters of ``y`` from the hyperprior and the already-coded steps.

    Args:
        latent_channels: ``M`` (divisible by 4 for ``quadtree``, by 2 for
            ``checkerboard``, ``>= 9`` for ``channel_autoregressive``).
        hyper_channels: ``Ch``, channels of the hyper parameters (e.g. ``2M``).
        partition: one of :data:`~semcom.entropy.partitions.PARTITIONS`.
        hidden: width of the parameter networks (default ``M``).
        blocks: DepthConvBlocks per step network (``>= 1``).
        noise_context: what the context sees in ``"noise"`` training mode: ``"ste"``
            (rounded around the means, default) or ``"noise"`` (the noisy values).
    """

    def __init__(self, latent_channels: int, hyper_channels: int, partition: str = "quadtree",
                 hidden: int | None = None, blocks: int = 2, noise_context: str = "ste") -> None:
        super().__init__()
        if partition not in PARTITIONS:
            raise SemcomError(f"unknown partition {partition!r}; expected one of {PARTITIONS}")
        if noise_context not in ("ste", "noise"):
            raise SemcomError(f"noise_context must be 'ste' or 'noise', got {noise_context!r}")
        hidden = latent_channels if hidden is None else hidden
        for name, value in (("latent_channels", latent_channels),
                            ("hyper_channels", hyper_channels), ("hidden", hidden),
                            ("blocks", blocks)):
            if not isinstance(value, int) or value < 1:
                raise SemcomError(f"{name} must be a positive int, got {value!r}")
        partition_masks(partition, latent_channels, 2, 2)  # validates M for the partition
        self.latent_channels = latent_channels
        self.hyper_channels = hyper_channels
        self.partition = partition
        self.noise_context = noise_context
        self.num_steps = NUM_STEPS[partition]
        nets = []
        for step in range(self.num_steps):
            width = hyper_channels + (latent_channels if step else 0)
            layers: list[nn.Module] = [DepthConvBlock(width, hidden)]
            layers += [DepthConvBlock(hidden, hidden) for _ in range(blocks - 1)]
            layers.append(Pointwise(hidden, 2 * latent_channels))
            nets.append(nn.Sequential(*layers))
        self.step_networks = nn.ModuleList(nets)
        self._masks: dict[tuple[int, int, str], list[Tensor]] = {}

    # ------------------------------------------------------------------ helpers
    def masks(self, height: int, width: int, device: torch.device | str = "cpu") -> list[Tensor]:
        """The partition's step masks ``(M, H, W)`` (bool, cached per size and device)."""
        key = (height, width, str(device))
        if key not in self._masks:
            self._masks[key] = partition_masks(self.partition, self.latent_channels,
                                               height, width, device)
        return self._masks[key]

    def step_parameters(self, step: int, hyper_params: Tensor, context: Tensor | None,
                        scale_bound: float) -> tuple[Tensor, Tensor]:
        """Means and scales that step ``step``'s network predicts at every position.

        Args:
            step: ``0 .. num_steps - 1``.
            hyper_params: ``(B, Ch, H, W)``.
            context: ``(B, M, H, W)``, the decoded latent of the earlier steps, zeros
                elsewhere; ignored (may be ``None``) at step 0.
            scale_bound: lower bound of the scales (``gaussian.scale_bound``).

        Returns:
            ``(means, scales)``, each ``(B, M, H, W)``, in latent units; scales
            ``>= scale_bound``.
        """
        inputs = hyper_params if step == 0 else torch.cat([hyper_params, context], dim=1)
        # one memory layout whatever the caller's, so both coding sides run the same kernels
        params = self.step_networks[step](inputs.contiguous(memory_format=torch.channels_last))
        means, raw = params.split(self.latent_channels, dim=1)
        return means, lower_bound(F.softplus(raw), scale_bound)

    def _check_shapes(self, hyper_params: Tensor, y_shape: Sequence[int]) -> None:
        if len(y_shape) != 4 or y_shape[1] != self.latent_channels:
            raise SemcomError(f"latent must be (B, {self.latent_channels}, H, W), got "
                              f"{tuple(y_shape)}")
        expected = (y_shape[0], self.hyper_channels, y_shape[2], y_shape[3])
        if tuple(hyper_params.shape) != expected:
            raise SemcomError(f"hyper_params must have shape {expected}, got "
                              f"{tuple(hyper_params.shape)}")

    # ----------------------------------------------------------------- training
    def forward(self, y: Tensor, hyper_params: Tensor, gaussian: GaussianConditional,
                mode: str = "noise") -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Quantize ``y`` and estimate its likelihoods step by step (training / rate).

        Args:
            y: latent ``(B, M, H, W)``.
            hyper_params: ``(B, Ch, H, W)`` from the hyper-synthesis.
            gaussian: the entropy model (its ``scale_bound`` and likelihood bound).
            mode: ``"noise"``, ``"ste"`` or ``"round"`` (see the module docstring).

        Returns:
            ``(y_hat, likelihoods, means, scales)``, each ``(B, M, H, W)``; the rate in
            bits is ``-log2(likelihoods).sum()``.
        """
        check_mode(mode)
        self._check_shapes(hyper_params, y.shape)
        check_finite("y", y)
        masks = self.masks(y.shape[2], y.shape[3], y.device)
        noisy = quantize(y, "noise") if mode == "noise" else None
        means = torch.zeros_like(y)
        scales = torch.ones_like(y)
        context = torch.zeros_like(y)
        for step, mask in enumerate(masks):
            mu, sigma = self.step_parameters(step, hyper_params, context, gaussian.scale_bound)
            means = torch.where(mask, mu, means)
            scales = torch.where(mask, sigma, scales)
            if step + 1 < len(masks):
                use_noise = noisy is not None and self.noise_context == "noise"
                seen = noisy if use_noise else quantize(y, "ste", mu)
                context = torch.where(mask, seen, context)
        y_hat = noisy if noisy is not None else quantize(y, mode, means)
        return y_hat, gaussian.likelihood(y_hat, scales, means), means, scales

    # ------------------------------------------------------------------ coding
    def _code_image(self, hyper_params: Tensor, gaussian: GaussianConditional,
                    code_step: Callable[[Tensor, Tensor, Tensor], Tensor],
                    error: type[SemcomError]) -> Tensor:
        """Run the steps of one image ``(1, Ch, H, W)``; ``code_step(mask, indexes,
        means)`` returns the step's ``y_hat`` values. Same code on both sides."""
        _, _, height, width = hyper_params.shape
        decoded = hyper_params.new_zeros(1, self.latent_channels, height, width).contiguous(
            memory_format=torch.channels_last)
        for step, mask in enumerate(self.masks(height, width, hyper_params.device)):
            means, scales = self.step_parameters(step, hyper_params, decoded,
                                                 gaussian.scale_bound)
            means, scales = means[0][mask], scales[0][mask]
            if not bool(torch.isfinite(means).all() & torch.isfinite(scales).all()):
                raise error("the context model produced non-finite entropy parameters"
                            + (" (corrupt bitstream)" if error is BitstreamError else ""))
            values = code_step(mask, gaussian.build_indexes(scales), means)
            decoded[0][mask] = values.to(decoded.dtype)
        return decoded

    def compress(self, y: Tensor, hyper_params: Tensor, gaussian: GaussianConditional,
                 encoder: EntropyEncoder) -> Tensor:
        """Append the latent to ``encoder``, image by image and step by step.

        Args:
            y: latent ``(B, M, H, W)``.
            hyper_params: ``(B, Ch, H, W)``, exactly what the decoder will compute.
            gaussian: an updated :class:`GaussianConditional` (``update()`` done).
            encoder: the shared stream (``finish()`` is the caller's).

        Returns:
            ``y_hat`` ``(B, M, H, W)``, bit for bit what :meth:`decompress` returns.
        """
        self._check_shapes(hyper_params, y.shape)
        out = []
        with coding_context():
            for i in range(y.shape[0]):
                image = y[i].detach()

                def encode(mask: Tensor, indexes: Tensor, means: Tensor,
                           image: Tensor = image) -> Tensor:
                    return gaussian.encode_into(encoder, image[mask], indexes, means)

                out.append(self._code_image(hyper_params[i : i + 1].detach(), gaussian,
                                            encode, SemcomError))
            y_hat = torch.cat(out)
        return y_hat.clone()

    def decompress(self, hyper_params: Tensor, gaussian: GaussianConditional,
                   decoder: EntropyDecoder, shape: Sequence[int]) -> Tensor:
        """Read back what :meth:`compress` appended (the caller calls ``finish()``).

        Args:
            hyper_params: ``(B, Ch, H, W)``, identical to the encoder's.
            gaussian: the same updated entropy model.
            decoder: the shared stream, positioned where :meth:`compress` started.
            shape: the latent shape ``(B, M, H, W)``.

        Returns:
            ``y_hat`` ``(B, M, H, W)`` float32 (the dtype of ``hyper_params``).

        Raises:
            BitstreamError: the stream is corrupt (detected while decoding or by the
                entropy parameters turning non-finite); the check word is verified by
                ``decoder.finish()``.
        """
        shape = tuple(int(s) for s in shape)
        self._check_shapes(hyper_params, shape)
        out = []
        with coding_context():
            for i in range(shape[0]):

                def decode(mask: Tensor, indexes: Tensor, means: Tensor) -> Tensor:
                    return gaussian.decode_from(decoder, indexes, means)

                out.append(self._code_image(hyper_params[i : i + 1].detach(), gaussian,
                                            decode, BitstreamError))
            y_hat = torch.cat(out)
        return y_hat.clone()


__all__ = ["ContextModel", "coding_context"]
