"""FAJSCC's feature importance-aware (FA) block and group.

FA block on a channels-first map ``x`` ``(B, C, H, W)`` (sides multiples of the window
``w``), post-norm:

1. (w/ SA) ``x = x + FC(snr_feature)`` (step two of the SNR feature extraction);
2. ``v = W_v x``; the :class:`~semcom.nn.importance.ImportancePredictor` reads
   ``[v, global map, window coordinates]``;
3. windows are classified: training draws a hard straight-through Gumbel-softmax
   sample per window; inference keeps the top ``round(rho * nW)`` windows by score
   (``selection="top"``, the paper) or draws the sample and keeps
   ``min(int(nW * r * 2 * rho), nW)`` of them ranked by score (``"sample"``, the
   authors' code; ``r`` the sampled ratio);
4. important windows: single-head self-attention with ``q = W_q x`` and
   ``k = W_k (x + warp(x, offsets))``; at inference only the selected windows are
   gathered and attended (compute falls with ``rho``), then scattered back. Less
   important windows: ``v * spatial_attention``;
5. ``out = GELU(DWdil(DW(out))) * channel_attention + out``; ``out = W_o out``;
6. ``x = LN(x + out)``, ``x = LN(x + GDF(x))``.

The block returns its ratio of important windows per image ``(B,)`` (the loss pushes its
mean towards the target). Attention is scaled by ``1/sqrt(C)`` (``scaled_attention``);
the authors' code uses no scaling and no position bias (``scaled_attention=False``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcom.nn.conv_fast import DilatedDepthwiseConv, Pointwise, memory_format_of

from semcom.nn.gdf import GatedDepthwiseFeedForward
from semcom.nn.importance import Importance, ImportancePredictor, sample_at, warp
from semcom.nn.patches import LayerNorm2d
from semcom.nn.snr_features import SNR_FEATURES, BlockSNRProjection, SNRFeatures
from semcom.nn.windows import pad_to_window, window_coordinates, window_partition, window_reverse

SELECTIONS = ("top", "sample")


def important_windows(logits: Tensor, rho: float, selection: str = "top") -> list[Tensor]:
    """Indices of the important windows of each image at inference.

    Args:
        logits: ``(B, nW, 2)`` window logits (class 0: important).
        rho: importance ratio in ``[0, 1]``.
        selection: ``"top"``: the ``round(rho * nW)`` best scores; ``"sample"``: a Gumbel
            sample's ratio ``r`` sets ``min(int(nW * r * 2 * rho), nW)`` best scores.

    Returns:
        One ``(K_b,)`` int64 tensor per image, sorted by decreasing score.
    """
    b, n, _ = logits.shape
    scores = logits.softmax(dim=-1)[..., 0]
    if selection == "top":
        counts = [int(round(rho * n))] * b
    elif selection == "sample":
        ratio = F.gumbel_softmax(logits, hard=True)[..., 0].mean(dim=1)
        counts = [min(int(n * float(r) * 2 * rho), n) for r in ratio]
    else:
        raise ValueError(f"unknown selection {selection!r} (known: {', '.join(SELECTIONS)})")
    order = scores.argsort(dim=1, descending=True)
    return [order[i, :k] for i, k in enumerate(counts)]


class FABlock(nn.Module):
    """One FA block (see the module docstring).

    Args:
        dim: channels ``C``.
        window: window side ``w``.
        snr_adaptive: add a projected SNR feature to the input (w/ SA).
        scaled_attention: scale attention logits by ``1/sqrt(C)``.
        max_offset: offsets of the warp are ``tanh(.) * max_offset`` pixels (8).
    """

    def __init__(self, dim: int, window: int = 8, snr_adaptive: bool = True,
                 scaled_attention: bool = True, max_offset: float = 8.0) -> None:
        super().__init__()
        self.window = window
        self.scale = dim ** -0.5 if scaled_attention else 1.0
        self.snr = BlockSNRProjection(dim) if snr_adaptive else None
        self.value = Pointwise(dim, dim)
        self.predictor = ImportancePredictor(dim, window, max_offset=max_offset)
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.local = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1, groups=dim),
                                   DilatedDepthwiseConv(dim), nn.GELU())
        self.out = Pointwise(dim, dim)
        self.norm1 = LayerNorm2d(dim)
        self.ffn = GatedDepthwiseFeedForward(dim)
        self.norm2 = LayerNorm2d(dim)

    def forward(self, x: Tensor, global_map: Tensor, snr_feature: Tensor | None = None,
                rho: float = 0.5, selection: str = "top") -> tuple[Tensor, Tensor]:
        """``x`` ``(B, C, H, W)``, ``global_map`` ``(B, 2, H, W)``, ``snr_feature``
        ``(B, 8, 1, 1)`` -> (``(B, C, H, W)``, ``(B,)`` ratio of important windows)."""
        if self.snr is not None:
            x = x + self.snr(snr_feature)
        b, c, h, w = x.shape
        v = self.value(x)
        coords = window_coordinates(h, w, self.window, x.device).to(x.dtype).expand(b, -1, -1, -1)
        coords = coords.contiguous(memory_format=memory_format_of(x))  # cat keeps the layout
        imp = self.predictor(v, torch.cat([global_map, coords], dim=1))
        if self.training:
            light = window_partition(v * imp.spatial_attention, self.window)   # (B, nW, T, C)
            xw = window_partition(x, self.window)
            kw = window_partition(x + warp(x, imp.offsets), self.window)
            vw = window_partition(v, self.window)
            keep = F.gumbel_softmax(imp.window_logits, hard=True)[..., 0]     # (B, nW), straight-through
            att = F.scaled_dot_product_attention(self.query(xw), self.key(kw), vw, scale=self.scale)
            gate = keep[..., None, None]
            out = window_reverse(gate * att + (1 - gate) * light, self.window, h, w)
            ratio = keep.mean(dim=1)
        else:
            out, ratio = self._attend_selected(x, v, imp, rho, selection)
        out = self.local(out) * imp.channel_attention + out
        x = self.norm1(x + self.out(out))
        return self.norm2(x + self.ffn(x)), ratio

    def _attend_selected(self, x: Tensor, v: Tensor, imp: Importance, rho: float,
                         selection: str) -> tuple[Tensor, Tensor]:
        """Inference: ``v * spatial_attention`` everywhere, then self-attention on the
        gathered important windows only (their queries, warped keys and values), written
        back in place. Returns the ``(B, C, H, W)`` map and the ``(B,)`` ratios."""
        b, c, h, w = x.shape
        n = imp.window_logits.shape[1]
        chosen = important_windows(imp.window_logits, rho, selection)
        counts = [len(i) for i in chosen]
        out = (v * imp.spatial_attention).permute(0, 2, 3, 1).contiguous()  # (B, H, W, C)
        if len(set(counts)) == 1:  # one gather for the whole batch
            if counts[0]:
                self._attend_windows(x, v, imp.offsets, out, torch.stack(chosen))
        else:
            for i, sel in enumerate(chosen):
                if len(sel):
                    self._attend_windows(x[i:i + 1], v[i:i + 1], imp.offsets[i:i + 1], out[i:i + 1], sel[None])
        ratio = torch.tensor(counts, dtype=x.dtype, device=x.device) / n
        return out.permute(0, 3, 1, 2), ratio

    def _attend_windows(self, x: Tensor, v: Tensor, offsets: Tensor, out: Tensor, idx: Tensor) -> None:
        """Self-attention of the windows ``idx`` ``(B, K)`` of ``x``; written into ``out``
        ``(B, H, W, C)`` (a view of the output map)."""
        b, c, h, w = x.shape
        win = self.window
        cols = w // win
        rows, colidx = idx // cols, idx % cols
        bidx = torch.arange(b, device=x.device)[:, None].expand_as(idx)

        def gather(t: Tensor) -> Tensor:  # (B, C', H, W) -> (B, K, T, C') windows at idx
            t6 = t.permute(0, 2, 3, 1).reshape(b, h // win, win, cols, win, t.shape[1])
            return t6[bidx, rows, :, colidx].reshape(b, idx.shape[1], win * win, t.shape[1])

        # keys: x + x sampled at each position's offset, only at the selected positions
        ramp = torch.arange(win, device=x.device, dtype=x.dtype)
        py = (rows[..., None, None] * win + ramp[:, None]).to(x.dtype)             # (B, K, w, 1)
        px = (colidx[..., None, None] * win + ramp[None, :]).to(x.dtype)           # (B, K, 1, w)
        off = gather(offsets).reshape(b, idx.shape[1], win, win, 2)
        rows_out = (b, idx.shape[1] * win, win)
        sampled = sample_at(x, (px + off[..., 0]).reshape(rows_out), (py + off[..., 1]).reshape(rows_out))
        sampled = sampled.permute(0, 2, 3, 1).reshape(b, idx.shape[1], win * win, c)
        xs = gather(x)
        att = F.scaled_dot_product_attention(self.query(xs), self.key(xs + sampled), gather(v), scale=self.scale)
        o6 = out.view(b, h // win, win, cols, win, c)
        o6[bidx, rows, :, colidx] = att.reshape(b, idx.shape[1], win, win, c)


class FAGroup(nn.Module):
    """A stage's FA blocks with their shared SNR MLP, global predictor and 1x1 tail.

    ``(B, C, H, W)`` -> ``(B, C, H, W)`` (any size: padded to window multiples inside,
    cropped back) and ``(B, depth)`` ratios of important windows.

    Args:
        dim: channels ``C``.
        depth: FA blocks (2 in FAJSCC).
        window: window side.
        snr_adaptive: two-step SNR feature extraction (w/ SA).
        scaled_attention: see :class:`FABlock`.
        max_offset: largest offset (pixels) of the information-preserving warp.
    """

    def __init__(self, dim: int, depth: int = 2, window: int = 8, snr_adaptive: bool = True,
                 scaled_attention: bool = True, max_offset: float = 8.0) -> None:
        super().__init__()
        self.window = window
        self.snr = SNRFeatures(SNR_FEATURES) if snr_adaptive else None
        self.global_map = nn.Sequential(Pointwise(dim, 8), nn.LeakyReLU(0.1), nn.Conv2d(8, 2, 3, padding=1))
        self.blocks = nn.ModuleList(FABlock(dim, window, snr_adaptive, scaled_attention, max_offset)
                                    for _ in range(depth))
        self.tail = Pointwise(dim, dim)

    def forward(self, x: Tensor, snr_db: Tensor, rho: float = 0.5,
                selection: str = "top") -> tuple[Tensor, Tensor]:
        x, (h, w) = pad_to_window(x, self.window)
        feature = None if self.snr is None else self.snr(snr_db)
        global_map = self.global_map(x)
        y, ratios = x, []
        for block in self.blocks:
            y, r = block(y, global_map, feature, rho, selection)
            ratios.append(r)
        out = self.tail(y) + x
        return out[..., :h, :w], torch.stack(ratios, dim=1)
