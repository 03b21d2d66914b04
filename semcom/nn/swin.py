"""Swin transformer blocks on channels-first maps, and SwinJSCC's SNR modulation.

* :class:`SwinBlock`: pre-norm block ``x + WindowAttention(LN(x))``, then
  ``x + MLP(LN(x))``; windows are regular or shifted (Liu et al. 2021).
* :class:`SwinStage`: ``depth`` blocks alternating regular and shifted windows.
* :class:`GatedSNRModulation`: SwinJSCC's SNR adaptation (Yang et al. 2024): a chain of
  Linear layers over the channels, each gated by a sigmoid of a small MLP of the SNR,
  whose final sigmoid scales the input channels.

Any map size works: a block zero-pads the normalized map to window multiples, masks
the padded tokens out of every window's keys (so the output at a real position does
not depend on the padding), and crops back. A map that fits in one (padded) window is
never shifted, and a map smaller than the window then attends as one window of its own
size would. Masks are built for the actual size and cached per size and device.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor, nn

from semcom.nn.patches import LayerNorm2d
from semcom.nn.windows import (MASKED, WindowAttention, pad_to_window, shifted_window_mask, window_partition,
                               window_reverse)

#: gated Linear layers of SwinJSCC's SNR modulation
SNR_MODULATION_LAYERS = 7


@lru_cache(maxsize=128)
def _attention_mask(height: int, width: int, window: int, shift: int, device: torch.device) -> Tensor | None:
    """``(nW, w*w, w*w)`` additive mask of an ``H x W`` map padded to window multiples
    and rolled by ``-shift``: shifted-window regions and padded keys masked; None when
    there is neither a shift nor padding."""
    hp, wp = -(-height // window) * window, -(-width // window) * window
    padded = (hp, wp) != (height, width)
    if not shift and not padded:
        return None
    t = window * window
    mask = torch.zeros(hp * wp // t, t, t)
    if shift:
        mask = mask + shifted_window_mask(hp, wp, window, shift)
    if padded:
        valid = torch.zeros(1, 1, hp, wp)
        valid[..., :height, :width] = 1.0
        if shift:
            valid = torch.roll(valid, (-shift, -shift), dims=(2, 3))
        keys = window_partition(valid, window).reshape(-1, 1, t)  # (nW, 1, t): key validity
        mask = mask + torch.where(keys > 0.5, 0.0, MASKED)
    return mask.to(device)


class SwinBlock(nn.Module):
    """Pre-norm Swin transformer block on ``(B, C, H, W)`` maps (any ``H``, ``W``).

    ``x <- x + crop(WindowAttention(windows(roll(pad(LN(x))))))``, then
    ``x <- x + MLP(LN(x))`` with the MLP ``Linear(C, r C) -> GELU -> Linear(r C, C)``
    applied at every position. LayerNorms use eps 1e-6.

    Args:
        dim: channels ``C``.
        heads: attention heads (divides ``C``).
        window: window side ``w``.
        shift: roll of the shifted windows, ``0`` (regular windows) or ``0 < shift < w``
            (Swin uses ``w // 2``); not applied when the padded map is one window.
        mlp_ratio: hidden width of the MLP over ``C``.
    """

    def __init__(self, dim: int, heads: int, window: int, shift: int = 0, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if not 0 <= shift < window:
            raise ValueError(f"shift must be in [0, {window}), got {shift}")
        self.window, self.shift = int(window), int(shift)
        self.norm_attention = LayerNorm2d(dim)
        self.attention = WindowAttention(dim, heads, window)
        hidden = int(round(dim * mlp_ratio))
        self.mlp = nn.Sequential(nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        b, c, h, w = x.shape
        y, _ = pad_to_window(self.norm_attention(x), self.window)
        hp, wp = y.shape[-2:]
        shift = self.shift if (hp > self.window or wp > self.window) else 0
        if shift:
            y = torch.roll(y, (-shift, -shift), dims=(2, 3))
        windows = window_partition(y, self.window)  # (B, nW, w*w, C)
        nw, t = windows.shape[1], windows.shape[2]
        mask = _attention_mask(h, w, self.window, shift, x.device)
        out = self.attention(windows.reshape(b * nw, t, c), mask).reshape(b, nw, t, c)
        y = window_reverse(out, self.window, hp, wp)
        if shift:
            y = torch.roll(y, (shift, shift), dims=(2, 3))
        x = x + y[..., :h, :w]
        return x + self.mlp(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class SwinStage(nn.Module):
    """``depth`` :class:`SwinBlock` s of width ``dim``: even ones with regular windows,
    odd ones shifted by ``window // 2``. ``(B, C, H, W)`` -> ``(B, C, H, W)``; depth 0
    is the identity."""

    def __init__(self, dim: int, depth: int, heads: int, window: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, heads, window, shift=0 if i % 2 == 0 else window // 2, mlp_ratio=mlp_ratio)
            for i in range(depth))

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class _SNRGate(nn.Module):
    """``(B,)`` SNR in dB -> ``(B, N)`` gates in ``(0, 1)``: Linear(1, N) -> ReLU ->
    Linear(N, N) -> ReLU -> Linear(N, N) -> sigmoid."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, width), nn.Sigmoid())

    def forward(self, snr_db: Tensor) -> Tensor:
        return self.net(snr_db.reshape(-1, 1))


class GatedSNRModulation(nn.Module):
    """SwinJSCC's SNR adaptation: channel scaling by a sigmoid of an SNR-gated MLP.

    With ``N = round(hidden_ratio * C)`` and ``L = 7`` layers, at every token::

        t = x (detached, as SwinJSCC's encoder reads it)
        t = Linear_i(t) * gate_i(snr_db)      for i = 1..L  (C -> N, then N -> N)
        y = x * sigmoid(Linear(N -> C)(t))

    where each ``gate_i`` is a small MLP of the SNR in dB (unscaled) ending in a sigmoid.
    The scaling path reads the features without passing gradients back through them;
    ``x`` still gets its gradient through the product.

    Args:
        channels: ``C``.
        hidden_ratio: ``N / C`` (SwinJSCC: 1.5).
        layers: gated Linear layers ``L`` (SwinJSCC: 7).

    Input ``(B, L, C)`` tokens or a ``(B, C, H, W)`` map and ``(B,)`` SNRs in dB; output
    of the input's shape.
    """

    def __init__(self, channels: int, hidden_ratio: float = 1.5, layers: int = SNR_MODULATION_LAYERS) -> None:
        super().__init__()
        hidden = max(1, int(round(channels * hidden_ratio)))
        self.layers = nn.ModuleList(nn.Linear(channels if i == 0 else hidden, hidden) for i in range(layers))
        self.gates = nn.ModuleList(_SNRGate(hidden) for _ in range(layers))
        self.out = nn.Linear(hidden, channels)

    def scales(self, tokens: Tensor, snr_db: Tensor) -> Tensor:
        """``(B, ..., C)`` channels-last features and ``(B,)`` dB -> ``(B, ..., C)``
        factors in ``(0, 1)``."""
        b = tokens.shape[0]
        broadcast = (b,) + (1,) * (tokens.dim() - 2) + (-1,)
        snr = snr_db.to(tokens.dtype).reshape(-1).expand(b)
        t = tokens.detach()
        for layer, gate in zip(self.layers, self.gates):
            t = layer(t) * gate(snr).reshape(broadcast)
        return self.out(t).sigmoid()

    def forward(self, x: Tensor, snr_db: Tensor) -> Tensor:
        if x.dim() == 4:
            tokens = x.permute(0, 2, 3, 1)
            return (tokens * self.scales(tokens, snr_db)).permute(0, 3, 1, 2)
        if x.dim() == 3:
            return x * self.scales(x, snr_db)
        raise ValueError(f"GatedSNRModulation expects (B, L, C) or (B, C, H, W), got shape {tuple(x.shape)}")
