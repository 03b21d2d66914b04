"""SwinJSCC: deep JSCC with Swin-transformer stages (Yang et al. 2024), as FAJSCC scales it.

Layout (``w0..w3`` the stage widths, every stage ``depth`` Swin blocks alternating
regular and shifted windows of side ``window``, see :mod:`semcom.nn.swin`):

* encoder: ``[0, 1] -> [-1, 1]``; patch embedding (patch 2, ``3 -> w0``), stage 0;
  then three times patch merging (x2 down, ``w_{i-1} -> w_i``) and stage ``i``; a
  LayerNorm; the SNR modulation (``snr_adaptive``); a 1x1 linear ``w3 -> c``. The
  latent ``(B, c, H/16, W/16)`` is flattened per image, paired into complex symbols and
  power-normalized per image.
* decoder: the mirror: 1x1 linear ``c -> w3``, SNR modulation, stage 3; three times
  patch division (x2 up) and the stage of that width; a last patch division
  ``w0 -> 3`` without norm, then ``(y + 1) / 2`` (the destandardization of FAJSCC's
  frame: no sigmoid, the output is unclamped; ``transmit`` clamps).

Rate: ``k = c (H/16) (W/16) / 2`` symbols, so ``cbr = k / (3 H W) = c / 1536`` and
``c = 1536 cbr`` (:func:`~semcom.models.conv_latent.latent_channels_for_cbr` with
``d = 16``): cbr 1/16 gives 96 reals, 48 complex symbols per latent position. Images
are padded to multiples of 16 first, and the padding is sent (and charged).

Sizes of the FAJSCC paper: ``"small"`` widths [40, 60, 80, 160], ``"base"``
[60, 90, 120, 200], heads [4, 6, 8, 10], depths [2, 2, 2, 2], window 8, MLP ratio 4.

Simplified against the official SwinJSCC: no rate adaptation (no channel masking: one
model per cbr), no stochastic depth; its base model is far larger (widths
[128, 192, 256, 320], depths [2, 2, 6, 2]). Padded positions inside a window are masked
out of the attention (see :mod:`semcom.nn.swin`); the official code attends to them.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from semcom.conventions import parse_cbr
from semcom.errors import SemcomError
from semcom.models.base import Encoded, JSCCModel
from semcom.models.conv_latent import latent_channels_for_cbr, latent_to_symbols, resolve_widths, symbols_to_latent
from semcom.nn.conv_fast import Pointwise
from semcom.nn.patches import LayerNorm2d, PatchDivision, PatchEmbedding, PatchMerging
from semcom.nn.swin import GatedSNRModulation, SwinStage
from semcom.registry import SYSTEMS

#: total down-sampling of the encoder: patch 2, then three mergings
DOWNSAMPLING = 16
SWINJSCC_SIZES: dict[str, tuple[int, ...]] = {
    "small": (40, 60, 80, 160),
    "base": (60, 90, 120, 200),
}
DEFAULT_HEADS = (4, 6, 8, 10)
DEFAULT_DEPTHS = (2, 2, 2, 2)


def _four_ints(values: Sequence[int] | None, default: tuple[int, ...], what: str,
               minimum: int) -> tuple[int, ...]:
    """``values`` as four integers ``>= minimum`` (``default`` when None)."""
    if values is None:
        return default
    try:
        out = tuple(int(v) for v in values)
        ok = len(out) == 4 and all(o >= minimum and o == float(v) for o, v in zip(out, values))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SemcomError(f"swinjscc {what} must be 4 integers >= {minimum}, got {values!r}")
    return out


@SYSTEMS.register("swinjscc")
class SwinJSCC(JSCCModel):
    """SwinJSCC (Yang et al. 2024) at the FAJSCC paper's scale, SNR-adaptive.

    Four Swin stages to a ``(c, H/16, W/16)`` latent, SNR modulation on the latent channels.

    Args:
        cbr: bandwidth ratio ``k / (3 H W)``; must be ``c / 1536`` for an integer ``c``.
        size: ``"small"`` (widths [40, 60, 80, 160], default) or ``"base"``
            ([60, 90, 120, 200]).
        widths: four stage widths, overriding ``size``.
        depths: Swin blocks per stage (default [2, 2, 2, 2]; 0 leaves a stage out).
        heads: attention heads per stage (default [4, 6, 8, 10]); each divides its width.
        window: attention window side (default 8).
        snr_adaptive: SNR modulation after the encoder's stages and before the
            decoder's (SwinJSCC w/ SA); without it the SNR is ignored.
        equalizer: ``"mmse"`` (default), ``"zf"`` or ``"none"``.
    """

    name = "swinjscc"
    size_multiple = DOWNSAMPLING
    SIZES = SWINJSCC_SIZES

    def __init__(self, cbr: float | str = 1 / 16, size: str = "small", widths: Sequence[int] | None = None,
                 depths: Sequence[int] | None = None, heads: Sequence[int] | None = None, window: int = 8,
                 snr_adaptive: bool = True, equalizer: str = "mmse") -> None:
        super().__init__(equalizer)
        self.cbr = parse_cbr(cbr)
        self.latent_channels = latent_channels_for_cbr(self.cbr, DOWNSAMPLING)
        self.widths = resolve_widths(size, widths, self.SIZES, self.name)
        self.depths = _four_ints(depths, DEFAULT_DEPTHS, "depths", 0)
        self.heads = _four_ints(heads, DEFAULT_HEADS, "heads", 1)
        bad = [f"{w}/{h}" for w, h in zip(self.widths, self.heads) if w % h]
        if bad:
            raise SemcomError(f"swinjscc heads must divide the stage widths, "
                              f"got width/heads {', '.join(bad)}")
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise SemcomError(f"swinjscc window must be a positive integer, got {window!r}")
        self.window, self.snr_adaptive = window, bool(snr_adaptive)
        self.config.update(cbr=self.cbr, size=str(size).lower(),
                           widths=None if widths is None else list(self.widths),
                           depths=None if depths is None else list(self.depths),
                           heads=None if heads is None else list(self.heads),
                           window=self.window, snr_adaptive=self.snr_adaptive)
        w, c = self.widths, self.latent_channels

        def stage(i: int) -> SwinStage:
            return SwinStage(w[i], self.depths[i], self.heads[i], window)

        self.embedding = PatchEmbedding(3, w[0], patch=2)
        self.encoder_stages = nn.ModuleList(stage(i) for i in range(4))
        self.mergings = nn.ModuleList(PatchMerging(w[i], w[i + 1]) for i in range(3))
        self.encoder_norm = LayerNorm2d(w[3])
        self.encoder_snr = GatedSNRModulation(w[3]) if self.snr_adaptive else None
        self.encoder_head = Pointwise(w[3], c)
        self.decoder_head = Pointwise(c, w[3])
        self.decoder_snr = GatedSNRModulation(w[3]) if self.snr_adaptive else None
        self.decoder_stages = nn.ModuleList(stage(i) for i in (3, 2, 1, 0))
        self.divisions = nn.ModuleList(PatchDivision(w[i], w[i - 1]) for i in (3, 2, 1))
        self.to_image = PatchDivision(w[0], 3, norm=False)
        self._init_transformer_weights()

    def _init_transformer_weights(self) -> None:
        """Swin's initialization for the stages: truncated normal (std 0.02) Linear
        weights, zero biases; the SNR modulation keeps PyTorch's default."""
        for stages in (self.encoder_stages, self.decoder_stages):
            for module in stages.modules():
                if isinstance(module, nn.Linear):
                    nn.init.trunc_normal_(module.weight, std=0.02)
                    nn.init.zeros_(module.bias)

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """A fast instance for 32x32 tests. The last stage is left out: at 16x16 inputs
        its map is 1x1, where attention has nothing to attend to (no gradient)."""
        return {"cbr": 1 / 16, "widths": [8, 8, 8, 8], "depths": [2, 2, 2, 0], "heads": [2, 2, 2, 2],
                "window": 2}

    # -- networks -----------------------------------------------------------------
    def analysis(self, images: Tensor, snr_db: Tensor) -> Tensor:
        """``(B, 3, H, W)`` in ``[0, 1]`` and ``(B,)`` dB -> ``(B, c, H/16, W/16)`` real latent."""
        x = (2.0 * images - 1.0).contiguous(memory_format=torch.channels_last)  # free permutes on CPU
        x = self.encoder_stages[0](self.embedding(x))
        for merging, stage in zip(self.mergings, self.encoder_stages[1:]):
            x = stage(merging(x))
        x = self.encoder_norm(x)
        if self.encoder_snr is not None:
            x = self.encoder_snr(x, snr_db)
        return self.encoder_head(x)

    def synthesis(self, latent: Tensor, snr_db: Tensor) -> Tensor:
        """``(B, c, H/16, W/16)`` received latent and ``(B,)`` dB -> ``(B, 3, H, W)``
        unclamped images."""
        x = self.decoder_head(latent)
        if self.decoder_snr is not None:
            x = self.decoder_snr(x, snr_db)
        x = self.decoder_stages[0](x)
        for division, stage in zip(self.divisions, self.decoder_stages[1:]):
            x = stage(division(x))
        return (self.to_image(x) + 1.0) / 2.0

    # -- JSCCModel ----------------------------------------------------------------
    def encode(self, images: Tensor, snr_db: Tensor) -> Encoded:
        """Images ``(B, 3, H, W)`` (sides multiples of 16) -> ``(B, k)`` complex64 symbols
        of unit average power per image, ``k = c H W / 512``."""
        h, w = images.shape[-2:]
        if h % DOWNSAMPLING or w % DOWNSAMPLING:
            raise SemcomError(f"{self.name}.encode needs sides that are multiples of {DOWNSAMPLING}, "
                              f"got {h}x{w} (forward/transmit pad automatically)")
        symbols, side = latent_to_symbols(self.analysis(images, snr_db))
        # the latent shape follows from the image size and the config: no side bits
        return Encoded(symbols=symbols, side=side)

    def decode(self, symbols: Tensor, snr_db: Tensor, side: dict[str, Any]) -> Tensor:
        """``(B, k)`` equalized complex symbols -> ``(B, 3, H, W)`` unclamped images."""
        latent = symbols_to_latent(symbols, side)
        return self.synthesis(latent.to(self.decoder_head.weight.dtype), snr_db)
