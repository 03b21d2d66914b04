"""Quad-DeepSC's feature encoder and decoder: step-wise contextual ViT coding of units.

Both coders run the steps of a :class:`~semcom.models.quad.units.StepLayout` in order.
At step ``t`` the ``h x w`` map of the step's units is embedded to width ``C`` and
refined by ``depth`` *contextual ViT blocks* (Fig. 4 of the paper, after NTSCC+):

    x <- SwinBlock(x)                          window self-attention + MLP (relative
                                               position bias; odd blocks shifted)
    x <- x + CrossAttention(LN(x), LN(ctx))    ctx: codewords of steps 0..t-1, same
    x <- x + MLP(LN(x))                        window of every earlier step (t >= 1)

The input of a step is ``Linear(unit) + phase_t[p] + rate[r]``: ``phase_t`` a learned
per-step embedding of the position's phase in its 2x2 block (in an interleaved step it
says which channel group the unit holds; the window attention adds relative
positions), ``rate`` a learned embedding of the unit's rate (its index in the *full*
rate set, so the distilled set uses a subset of the rows). The ``C``-wide output of a
step is its *codeword*, the context of the later steps. Hence a step's codewords
depend on its own and earlier steps' units and rates only (causal across steps).

* :class:`FeatureEncoder`: units ``(B, D_t, h, w)`` -> one shared ``Linear(C, L_max)``
  for every step and rate (the paper's shared FC; :mod:`.rate_matching` masks all but
  the first ``k_i`` values).
* :class:`FeatureDecoder`: received values ``(B, L_max, h, w)`` (zero beyond ``k_i``)
  -> one shared ``Linear(L_max, C)`` plus, when the hyper-latent is sent, a projection
  of the hyper-synthesis output ``(B, 2M, h, w)`` -> per-step ``Linear(C, D_t)`` -> the
  step's units of ``y'``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcom.errors import SemcomError
from semcom.models.quad.units import NUM_PHASES, StepLayout
from semcom.nn.patches import LayerNorm2d
from semcom.nn.swin import SwinBlock
from semcom.nn.windows import MASKED, pad_to_window, relative_position_index, window_partition, window_reverse


class WindowCrossAttention(nn.Module):
    """Multi-head attention from the windows of a map to the same windows of ``T``
    context maps, with a learned relative-position bias shared by the context steps.

    Args:
        dim: ``C`` (divisible by ``heads``).
        heads: attention heads.
        window: window side ``w``.

    Input ``(B, C, h, w)`` queries and ``(B, T, C, h, w)`` context (both normalized);
    output ``(B, C, h, w)``. Zero-padded positions are masked out of the keys.
    """

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        if dim % heads:
            raise SemcomError(f"embed_dim {dim} is not divisible by {heads} heads")
        self.heads, self.window = heads, window
        self.query = nn.Linear(dim, dim)
        self.key_value = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        self.register_buffer("bias_index", relative_position_index(window), persistent=False)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        b, c, h, w = x.shape
        steps = context.shape[1]
        win = self.window
        queries, _ = pad_to_window(x, win)
        hp, wp = queries.shape[-2:]
        q = window_partition(queries, win)  # (B, nW, t, C)
        nw, t = q.shape[1], q.shape[2]
        ctx, _ = pad_to_window(context.reshape(b * steps, c, h, w), win)
        kv = window_partition(ctx, win).reshape(b, steps, nw, t, c).transpose(1, 2).reshape(b * nw, steps * t, c)
        heads, per = self.heads, c // self.heads
        q = self.query(q.reshape(b * nw, t, c)).reshape(b * nw, t, heads, per).transpose(1, 2)
        k, v = self.key_value(kv).reshape(b * nw, steps * t, 2, heads, per).permute(2, 0, 3, 1, 4)
        bias = self.bias_table[self.bias_index.reshape(-1)].reshape(t, t, heads).permute(2, 0, 1)
        bias = bias.repeat(1, 1, steps).unsqueeze(0)  # (1, heads, t, T t)
        if (hp, wp) != (h, w):
            valid = torch.zeros(1, 1, hp, wp, device=x.device)
            valid[..., :h, :w] = 1.0
            keys = window_partition(valid, win).reshape(nw, 1, 1, t).repeat(1, 1, 1, steps)
            bias = bias + torch.where(keys > 0.5, 0.0, MASKED).to(bias.dtype)  # (nW, heads, t, T t)
            bias = bias.unsqueeze(0).expand(b, -1, -1, -1, -1).reshape(b * nw, heads, t, steps * t)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        out = self.proj(out.transpose(1, 2).reshape(b, nw, t, c))
        return window_reverse(out, win, hp, wp)[..., :h, :w]


class ContextBlock(nn.Module):
    """``x + CrossAttention(LN(x), LN(context))``, then ``x + MLP(LN(x))`` (ratio 4)."""

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.norm_query = LayerNorm2d(dim)
        self.norm_context = LayerNorm2d(dim)
        self.attention = WindowCrossAttention(dim, heads, window)
        self.mlp = nn.Sequential(nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, 4 * dim), nn.GELU(),
                                 nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        """``(B, C, h, w)`` and ``(B, T, C, h, w)`` -> ``(B, C, h, w)``."""
        b, steps, c, h, w = context.shape
        ctx = self.norm_context(context.reshape(b * steps, c, h, w)).reshape(b, steps, c, h, w)
        x = x + self.attention(self.norm_query(x), ctx)
        return x + self.mlp(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class StepCoder(nn.Module):
    """The contextual ViT blocks of one step (see the module docstring).

    Args:
        dim, depth, heads, window: width ``C``, blocks, heads and window side.
        contextual: cross-attend to earlier steps' codewords (False for step 0).
    """

    def __init__(self, dim: int, depth: int, heads: int, window: int, contextual: bool) -> None:
        super().__init__()
        self.phase_embedding = nn.Parameter(torch.zeros(NUM_PHASES, dim))
        nn.init.trunc_normal_(self.phase_embedding, std=0.02)
        self.blocks = nn.ModuleList(
            SwinBlock(dim, heads, window, shift=0 if i % 2 == 0 else window // 2) for i in range(depth))
        self.context_blocks = nn.ModuleList(ContextBlock(dim, heads, window) for _ in range(depth)) \
            if contextual else None
        self.norm = LayerNorm2d(dim)

    def forward(self, tokens: Tensor, context: list[Tensor]) -> Tensor:
        """``(B, C, h, w)`` embedded units and the earlier steps' ``(B, C, h, w)``
        codewords -> this step's ``(B, C, h, w)`` codewords."""
        h, w = tokens.shape[-2:]
        phase = self.phase_embedding[StepLayout.phases(h, w, tokens.device)]  # (h, w, C)
        x = tokens + phase.permute(2, 0, 1).unsqueeze(0)
        ctx = torch.stack(context, dim=1) if context and self.context_blocks is not None else None
        for i, block in enumerate(self.blocks):
            x = block(x)
            if ctx is not None:
                x = self.context_blocks[i](x, ctx)
        return self.norm(x)


def _rate_tokens(embedding: nn.Embedding, rate_index: Tensor) -> Tensor:
    """``(B, S, h, w)`` full-set rate indices -> ``(B, S, C, h, w)`` embeddings."""
    return embedding(rate_index).permute(0, 1, 4, 2, 3)


class _Coder(nn.Module):
    """What both coders share: the layout, the rate embedding, the step coders."""

    def __init__(self, layout: StepLayout, num_rates: int, dim: int, depth: int, heads: int, window: int) -> None:
        super().__init__()
        for name, value in (("embed_dim", dim), ("depth", depth), ("heads", heads), ("window", window)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SemcomError(f"{name} must be a positive int, got {value!r}")
        if dim % heads:
            raise SemcomError(f"embed_dim {dim} is not divisible by {heads} heads")
        self.layout = layout
        self.rate_embedding = nn.Embedding(num_rates, dim)
        nn.init.trunc_normal_(self.rate_embedding.weight, std=0.02)
        self.steps = nn.ModuleList(StepCoder(dim, depth, heads, window, contextual=t > 0)
                                   for t in range(layout.num_steps))


class FeatureEncoder(_Coder):
    """Units -> ``L_max`` real values per unit, step by step (see the module docstring).

    Args:
        layout: the steps and their unit widths ``D_t``.
        num_rates: size of the full rate set (rows of the rate embedding).
        max_length: ``L_max``.
        dim, depth, heads, window: the ViT blocks.
    """

    def __init__(self, layout: StepLayout, num_rates: int, max_length: int, dim: int, depth: int,
                 heads: int, window: int) -> None:
        super().__init__(layout, num_rates, dim, depth, heads, window)
        self.embed = nn.ModuleList(nn.Conv2d(d, dim, 1) for d in layout.dims)
        self.to_values = nn.Conv2d(dim, max_length, 1)  # the shared FC

    def forward(self, units: list[Tensor], rate_index: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Code the ``S`` steps.

        Args:
            units: ``S`` tensors ``(B, D_t, h, w)``.
            rate_index: ``(B, S, h, w)`` int64 index of each unit's length in the full set.

        Returns:
            ``(values, codewords)``: ``(B, S, L_max, h, w)`` real values per unit (to be
            masked to ``k_i``) and the ``S`` steps' ``(B, C, h, w)`` codewords.
        """
        rates = _rate_tokens(self.rate_embedding, rate_index)
        codewords: list[Tensor] = []
        for t, (embed, step) in enumerate(zip(self.embed, self.steps)):
            codewords.append(step(embed(units[t]) + rates[:, t], codewords))
        values = torch.stack([self.to_values(c) for c in codewords], dim=1)
        return values, codewords


class FeatureDecoder(_Coder):
    """Received values -> the units of ``y'``, step by step (see the module docstring).

    Args:
        layout, num_rates, max_length, dim, depth, heads, window: as the encoder's.
        hyper_channels: channels of the hyper-synthesis output it conditions on
            (``2M``), or 0 when the hyper-latent is not sent.
    """

    def __init__(self, layout: StepLayout, num_rates: int, max_length: int, dim: int, depth: int,
                 heads: int, window: int, hyper_channels: int = 0) -> None:
        super().__init__(layout, num_rates, dim, depth, heads, window)
        self.embed = nn.Conv2d(max_length, dim, 1)  # shared over steps and rates
        self.from_hyper = nn.Conv2d(hyper_channels, dim, 1) if hyper_channels else None
        self.to_units = nn.ModuleList(nn.Conv2d(dim, d, 1) for d in layout.dims)

    def forward(self, received: Tensor, rate_index: Tensor, hyper: Tensor | None = None) -> list[Tensor]:
        """Decode the ``S`` steps.

        Args:
            received: ``(B, S, L_max, h, w)`` equalized real values, zero where not sent.
            rate_index: ``(B, S, h, w)`` int64 full-set rate indices.
            hyper: ``(B, 2M, h, w)`` hyper-synthesis output (when the model sends ``z``).

        Returns:
            ``S`` tensors ``(B, D_t, h, w)``: the decoded units (:meth:`StepLayout.scatter`
            assembles ``y'``).
        """
        rates = _rate_tokens(self.rate_embedding, rate_index)
        shared = 0.0
        if self.from_hyper is not None:
            if hyper is None:
                raise SemcomError("this feature decoder conditions on the hyper-latent, but none was given")
            shared = self.from_hyper(hyper)
        codewords: list[Tensor] = []
        for t, step in enumerate(self.steps):
            codewords.append(step(self.embed(received[:, t]) + rates[:, t] + shared, codewords))
        return [head(c) for head, c in zip(self.to_units, codewords)]


__all__ = ["ContextBlock", "FeatureDecoder", "FeatureEncoder", "StepCoder", "WindowCrossAttention"]
