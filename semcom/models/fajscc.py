"""FAJSCC: feature importance-aware deep JSCC with run-time encoder/decoder complexity.

Choi et al., "Feature Importance-Aware Deep Joint Source-Channel Coding for
Computationally Efficient and Adjustable Image Transmission" (facts restored in
``shared/design/systems.md``; every line written here).

Layout (``(B, 3, H, W)`` images, sides padded to multiples of 16):

* encoder: standardize to ``[-1, 1]``; patch embedding (patch 2) -> FA group (width
  ``w0``, at H/2); patch merging -> group (``w1``, H/4); merging -> group (``w2``, H/8);
  merging -> group (``w3``, H/16); a 1x1 FC to ``c = 1536 * cbr`` reals per latent
  position (cbr 1/16 -> 96 reals = 48 complex symbols); power normalization per image;
* decoder: the mirror: FC ``c -> w3``, groups with patch division between them, a last
  division to RGB at full size, destandardization ``(y + 1) / 2``.

``size="small"``: widths ``[40, 60, 80, 260]``; ``"base"``: ``[60, 90, 120, 360]``; two
FA blocks per group, window 8 at every stage (:mod:`semcom.nn.fa_block`). "w/ SA"
(``snr_adaptive=True``) adds the two-step SNR feature extraction; "w/o SA" drops it.

Run-time settings (not part of the trained model): ``rho_enc`` and ``rho_dec`` in
``[0, 1]``, the fraction of windows each encoder/decoder block attends; and
``selection_enc``/``selection_dec``: ``"top"`` (the paper, deterministic; default) or
``"sample"`` (the authors' code: a Gumbel draw at inference too). Training always draws
hard straight-through Gumbel-softmax samples, and its loss adds, per side,
``gamma * (mean sampled ratio - rho_target)^2`` (the mean over the batch and the side's
FA blocks; ``gamma = 0.5``, ``rho_target = 0.5``), Eq. (1) of the paper.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from semcom.nn.conv_fast import Pointwise

from semcom.errors import SemcomError
from semcom.models.base import Decoded, Encoded, JSCCModel
from semcom.models.conv_latent import latent_channels_for_cbr, latent_to_symbols, resolve_widths, symbols_to_latent
from semcom.nn.fa_block import SELECTIONS, FAGroup
from semcom.nn.patches import PatchDivision, PatchEmbedding, PatchMerging
from semcom.registry import SYSTEMS
from semcom.settings import Setting

#: total down-sampling (patch 2, then three mergings)
DOWNSAMPLING = 16
FAJSCC_SIZES: dict[str, tuple[int, ...]] = {"small": (40, 60, 80, 260), "base": (60, 90, 120, 360)}


@SYSTEMS.register("fajscc")
class FAJSCC(JSCCModel):
    """FAJSCC (w/ SA or w/o SA), small or base.

    Args:
        cbr: bandwidth ratio ``k / (3 H W)``, ``c / 1536`` for an integer ``c`` (1/16 -> 96).
        size: ``"small"`` (default) or ``"base"``.
        widths: four stage widths, overriding ``size``.
        depth: FA blocks per stage (2).
        window: window side at every stage (8).
        snr_adaptive: w/ SA (True) or w/o SA.
        gamma: weight of the importance-ratio penalty (0.5).
        rho_target: target ratio of important windows in training (0.5).
        scaled_attention: scale attention by ``1/sqrt(C)`` (True; the authors' code: False).
        max_offset: offsets of the information-preserving warp, ``tanh(.) * max_offset``
            pixels (8 as in the authors' code).
        equalizer: ``"mmse"`` (default), ``"zf"`` or ``"none"``.
    """

    name = "fajscc"
    size_multiple = DOWNSAMPLING
    settings = (
        Setting("rho_enc", float, 0.5, "encoder", low=0.0, high=1.0,
                help="fraction of windows the encoder's FA blocks attend (compute falls with it)"),
        Setting("rho_dec", float, 0.5, "decoder", low=0.0, high=1.0,
                help="fraction of windows the decoder's FA blocks attend"),
        Setting("selection_enc", str, "top", "encoder", choices=SELECTIONS,
                help="encoder window choice: top scores (paper) or a Gumbel draw (authors' code)"),
        Setting("selection_dec", str, "top", "decoder", choices=SELECTIONS,
                help="decoder window choice: top scores (paper) or a Gumbel draw (authors' code)"),
    )

    def __init__(self, cbr: float | str = 1 / 16, size: str = "small", widths: Sequence[int] | None = None,
                 depth: int = 2, window: int = 8, snr_adaptive: bool = True, gamma: float = 0.5,
                 rho_target: float = 0.5, scaled_attention: bool = True, max_offset: float = 8.0,
                 equalizer: str = "mmse") -> None:
        super().__init__(equalizer)
        self.latent_channels = latent_channels_for_cbr(cbr, DOWNSAMPLING)
        self.cbr = self.latent_channels / (2 * 3 * DOWNSAMPLING**2)
        self.widths = resolve_widths(size, widths, FAJSCC_SIZES, self.name)
        if int(depth) < 1 or int(window) < 1:
            raise SemcomError(f"fajscc needs depth >= 1 and window >= 1, got {depth} and {window}")
        if not 0.0 <= float(rho_target) <= 1.0 or float(gamma) < 0:
            raise SemcomError(f"fajscc needs rho_target in [0, 1] and gamma >= 0, got {rho_target}, {gamma}")
        self.gamma, self.rho_target = float(gamma), float(rho_target)
        self.config.update(cbr=self.cbr, size=str(size).lower(), widths=None if widths is None else list(self.widths),
                           depth=int(depth), window=int(window), snr_adaptive=bool(snr_adaptive),
                           gamma=self.gamma, rho_target=self.rho_target, scaled_attention=bool(scaled_attention),
                           max_offset=float(max_offset))
        w = self.widths
        group = dict(depth=int(depth), window=int(window), snr_adaptive=bool(snr_adaptive),
                     scaled_attention=bool(scaled_attention), max_offset=float(max_offset))
        self.embed = PatchEmbedding(3, w[0], patch=2)
        self.merges = nn.ModuleList(PatchMerging(w[i], w[i + 1]) for i in range(3))
        self.enc_groups = nn.ModuleList(FAGroup(width, **group) for width in w)
        self.to_latent = Pointwise(w[3], self.latent_channels)
        self.from_latent = Pointwise(self.latent_channels, w[3])
        self.dec_groups = nn.ModuleList(FAGroup(width, **group) for width in reversed(w))
        self.divisions = nn.ModuleList(PatchDivision(w[i + 1], w[i]) for i in reversed(range(3)))
        self.to_image = PatchDivision(w[0], 3, norm=False)

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """A small, fast instance for 16x16-32x32 test images (window 2, 8 channels,
        offsets within a pixel so the warp of a 2x2 map stays inside it)."""
        return {"cbr": 1 / 16, "widths": [8, 8, 8, 8], "depth": 1, "window": 2, "max_offset": 0.5}

    # -- ratio penalty ------------------------------------------------------------
    def _penalty(self, ratios: Tensor, side: str) -> dict[str, Tensor]:
        if not self.training:
            return {}
        return {f"importance_ratio_{side}": self.gamma * (ratios.mean() - self.rho_target) ** 2}

    # -- JSCCModel ----------------------------------------------------------------
    def encode(self, images: Tensor, snr_db: Tensor, rho_enc: float = 0.5,
               selection_enc: str = "top") -> Encoded:
        """``(B, 3, H, W)`` in ``[0, 1]`` (sides multiples of 16) -> ``(B, k)`` symbols,
        ``k = c H W / 512``; ``extras["importance_ratio_enc"]`` ``(B, 4 * depth)``."""
        h, w = images.shape[-2:]
        if h % DOWNSAMPLING or w % DOWNSAMPLING:
            raise SemcomError(f"fajscc.encode needs sides that are multiples of {DOWNSAMPLING}, got {h}x{w} "
                              f"(forward/transmit pad automatically)")
        x = self.embed((images * 2 - 1).contiguous(memory_format=torch.channels_last))  # fast on CPU
        ratios = []
        for i, group in enumerate(self.enc_groups):
            if i:
                x = self.merges[i - 1](x)
            x, r = group(x, snr_db, rho_enc, selection_enc)
            ratios.append(r)
        symbols, side = latent_to_symbols(self.to_latent(x))
        ratio = _cat_ratios(ratios)
        return Encoded(symbols=symbols, side=side,
                       aux=self._penalty(ratio, "enc"), extras={"importance_ratio_enc": ratio.detach()})

    def decode(self, symbols: Tensor, snr_db: Tensor, side: dict[str, Any], rho_dec: float = 0.5,
               selection_dec: str = "top") -> Decoded:
        """``(B, k)`` equalized symbols -> ``(B, 3, H, W)`` images (unclamped, about [0, 1])."""
        x = self.from_latent(symbols_to_latent(symbols, side))
        ratios = []
        for i, group in enumerate(self.dec_groups):
            x, r = group(x, snr_db, rho_dec, selection_dec)
            ratios.append(r)
            x = self.divisions[i](x) if i < 3 else self.to_image(x)
        ratio = _cat_ratios(ratios)
        return Decoded(images=(x + 1) / 2, aux=self._penalty(ratio, "dec"))


def _cat_ratios(ratios: list[Tensor]) -> Tensor:
    """``(B, blocks)`` of the groups' ``(B, depth)`` ratios."""
    return torch.cat(ratios, dim=1)
