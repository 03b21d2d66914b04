"""Learned factorized prior for the hyper-latent ``z`` (Balle et al. 2018, appendix 6.1).

Each channel ``c`` has its own non-parametric cumulative density ``F_c = sigmoid(f_c(x))``
where ``f_c`` is a small chain of scalar-to-vector layers (``1 -> 3 -> 3 -> 3 -> 1`` for
``filters=(3, 3, 3)``): layer ``k`` maps ``x -> softplus(H_k) x + b_k`` and all but the
last add ``tanh(a_k) * tanh(x)``. Softplus keeps the matrices positive and ``tanh(a_k) >=
-1`` keeps every layer monotone, so ``F_c`` is a valid CDF. The likelihood of the unit
bin around ``v`` is ``F(v + 1/2) - F(v - 1/2)``, computed on the side where both
sigmoids are small (no cancellation in the tails).

Quantization is around learned per-channel medians: ``z_hat = round(z - m_c) + m_c``.
Three learned quantiles per channel (``quantiles[c, 0] = (lower, median, upper)``) are
fitted by :meth:`FactorizedPrior.aux_loss` so that ``F_c`` is ``tail_mass / 2``, ``1/2``
and ``1 - tail_mass / 2`` there; give ``quantiles`` to an auxiliary optimizer and every
other parameter to the main one (``aux_loss`` does not move the density, and the rate
loss does not move the quantiles). :meth:`FactorizedPrior.update` then tabulates each
channel over the integers between its quantized tails (plus an escape symbol, so any
integer still round-trips); it also freezes the medians it used in ``table_medians``, so
checkpoints decode the same bytes the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcom.entropy._ops import check_finite, check_mode, quantize
from semcom.entropy.errors import SemcomError
from semcom.entropy.stream import EntropyDecoder, EntropyEncoder
from semcom.entropy.tables import (
    MAX_TABLE_SYMBOLS,
    CdfTables,
    TableBuffersModule,
    counts_from_probabilities,
    stack_rows,
)
from semcom.nn.gdn import lower_bound


class FactorizedPrior(TableBuffersModule):
    """Per-channel learned density of a ``(B, C, ...)`` tensor.

    Args:
        channels: number of channels ``C``.
        filters: widths of the hidden layers of each channel's density network.
        init_scale: initial width of the density (and of the quantile range).
        likelihood_bound: likelihoods are bounded below by this (in ``(0, 1)``).
        tail_mass: probability the learned lower/upper quantiles leave outside (``(0, 1)``).
    """

    _table_buffers = ("cdf_counts", "cdf_lengths", "cdf_offsets", "table_medians")

    def __init__(self, channels: int, filters: Sequence[int] = (3, 3, 3),
                 init_scale: float = 10.0, likelihood_bound: float = 1e-9,
                 tail_mass: float = 1e-9) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise SemcomError(f"channels must be a positive int, got {channels!r}")
        filters = tuple(filters)
        if not all(isinstance(f, int) and f >= 1 for f in filters):
            raise SemcomError(f"filters must be positive ints, got {filters!r}")
        if not init_scale > 0:
            raise SemcomError(f"init_scale must be > 0, got {init_scale}")
        if not 0 < likelihood_bound < 1:
            raise SemcomError(f"likelihood_bound must be in (0, 1), got {likelihood_bound}")
        if not 0 < tail_mass < 1:
            raise SemcomError(f"tail_mass must be in (0, 1), got {tail_mass}")
        self.channels = channels
        self.filters = filters
        self.init_scale = float(init_scale)
        self.likelihood_bound = float(likelihood_bound)
        self.tail_mass = float(tail_mass)

        widths = (1, *filters, 1)
        # each of the len(widths) - 1 layers scales by ~init_scale ** (1 / layers)
        layer_scale = self.init_scale ** (1.0 / (len(widths) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for k in range(len(widths) - 1):
            raw = math.log(math.expm1(1.0 / layer_scale / widths[k + 1]))
            shape = (channels, widths[k + 1], widths[k])
            self.matrices.append(nn.Parameter(torch.full(shape, raw)))
            self.biases.append(nn.Parameter(torch.rand(channels, widths[k + 1], 1) - 0.5))
            if k < len(widths) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, widths[k + 1], 1)))
        start = torch.tensor([-self.init_scale, 0.0, self.init_scale])
        self.quantiles = nn.Parameter(start.repeat(channels, 1, 1))  # (C, 1, 3)

        self.register_buffer("cdf_counts", torch.zeros(0, 0, dtype=torch.int32))
        self.register_buffer("cdf_lengths", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("cdf_offsets", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("table_medians", torch.zeros(0))

    # ----------------------------------------------------------------- density
    def _logits_cumulative(self, x: Tensor, detach: bool = False) -> Tensor:
        """``f_c(x)`` for ``x`` of shape ``(C, 1, N)`` -> ``(C, 1, N)``; CDF = sigmoid."""
        def param(p: Tensor) -> Tensor:
            p = p.detach() if detach else p
            return p.to(x.dtype)

        logits = x
        for k, matrix in enumerate(self.matrices):
            logits = torch.matmul(F.softplus(param(matrix)), logits) + param(self.biases[k])
            if k < len(self.factors):
                logits = logits + torch.tanh(param(self.factors[k])) * torch.tanh(logits)
        return logits

    def _bin_probability(self, x: Tensor) -> Tensor:
        """Unbounded mass of ``[x - 1/2, x + 1/2]``, ``x`` of shape ``(C, 1, N)``."""
        n = x.shape[-1]
        logits = self._logits_cumulative(torch.cat([x - 0.5, x + 0.5], dim=-1))
        lower, upper = logits[..., :n], logits[..., n:]
        # evaluate on the side where both sigmoids are small
        sign = torch.where(lower + upper > 0, -1.0, 1.0).to(x.dtype).detach()
        return (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()

    def _check_input(self, z: Tensor) -> None:
        if not isinstance(z, Tensor) or z.dim() < 2 or z.shape[1] != self.channels:
            shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise SemcomError(f"expected a (B, {self.channels}, ...) tensor, got {shape}")
        check_finite("z", z)

    def likelihood(self, values: Tensor) -> Tensor:
        """Bounded probability of the unit bin around each element of ``values``.

        Args:
            values: ``(B, C, ...)``.

        Returns:
            likelihoods in ``[likelihood_bound, 1]``, same shape.
        """
        self._check_input(values)
        moved = values.transpose(0, 1)
        probability = self._bin_probability(moved.reshape(self.channels, 1, -1))
        probability = lower_bound(probability, self.likelihood_bound)
        return probability.reshape(moved.shape).transpose(0, 1)

    def medians(self) -> Tensor:
        """Current learned medians, ``(C,)`` (detached)."""
        return self.quantiles[:, 0, 1].detach()

    def forward(self, z: Tensor, mode: str = "noise") -> tuple[Tensor, Tensor]:
        """Quantize ``z`` and return its likelihoods.

        Args:
            z: ``(B, C, ...)``.
            mode: ``"noise"`` (training), ``"round"`` or ``"ste"`` (around the medians).

        Returns:
            ``(z_hat, likelihoods)`` shaped like ``z``; rate in bits is
            ``-log2(likelihoods).sum()``.
        """
        check_mode(mode)
        self._check_input(z)
        shape = (1, self.channels) + (1,) * (z.dim() - 2)
        z_hat = quantize(z, mode, None if mode == "noise" else self.medians().view(shape))
        return z_hat, self.likelihood(z_hat)

    def aux_loss(self) -> Tensor:
        """Sum over channels of ``|f_c(q) - target|`` for the three quantiles (scalar).

        Targets are ``-t, 0, t`` with ``t = log(2 / tail_mass - 1)``, i.e. CDF values
        ``tail_mass / 2``, ``1/2``, ``1 - tail_mass / 2``. Only ``quantiles`` gets a gradient.
        """
        logits = self._logits_cumulative(self.quantiles, detach=True)
        t = math.log(2.0 / self.tail_mass - 1.0)
        target = logits.new_tensor([-t, 0.0, t])
        return (logits - target).abs().sum()

    # ------------------------------------------------------------------ tables
    @torch.no_grad()
    def update(self) -> None:
        """Build one integer coding table per channel (registered buffers).

        Channel ``c`` codes ``s = round(z - m_c)`` for ``s`` in
        ``[floor(lower - m_c), ceil(upper - m_c)]`` (probabilities from the learned
        density, in float64) and escapes anything else.
        """
        q = self.quantiles.detach().to(torch.float64)
        medians = q[:, 0, 1]
        half_cap = (MAX_TABLE_SYMBOLS - 2) // 2
        low = torch.floor(q[:, 0, 0] - medians).clamp(-half_cap, 0).to(torch.int64)
        high = torch.ceil(q[:, 0, 2] - medians).clamp(0, half_cap - 1).to(torch.int64)
        width = int((high - low).max()) + 1
        grid = medians[:, None] + low[:, None] + torch.arange(width, dtype=torch.float64)
        pmf = self._bin_probability(grid[:, None, :])[:, 0, :]
        edges = torch.stack([medians + low - 0.5, medians + high + 0.5], dim=1)[:, None, :]
        edge_logits = self._logits_cumulative(edges)[:, 0, :]
        escape = torch.sigmoid(edge_logits[:, 0]) + torch.sigmoid(-edge_logits[:, 1])
        rows = []
        for c in range(self.channels):
            n = int(high[c] - low[c]) + 1
            rows.append(counts_from_probabilities(
                torch.cat([pmf[c, :n], escape[c : c + 1]]).cpu().numpy()))
        counts, lengths = stack_rows(rows)
        device = self.quantiles.device
        self.cdf_counts = counts.to(device)
        self.cdf_lengths = lengths.to(device)
        self.cdf_offsets = low.to(torch.int32).to(device)
        self.table_medians = self.quantiles[:, 0, 1].detach().clone()

    def _tables(self) -> CdfTables:
        self._require_tables()
        if self.cdf_lengths.numel() != self.channels or self.table_medians.numel() != self.channels:
            raise SemcomError(f"entropy tables do not have {self.channels} channels: call update()")
        return CdfTables.from_buffers(self.cdf_counts, self.cdf_lengths, self.cdf_offsets)

    # ------------------------------------------------------------------ coding
    def encode_into(self, encoder: EntropyEncoder, z: Tensor) -> Tensor:
        """Append ONE image's ``z`` of shape ``(C, ...)`` to ``encoder``.

        Returns:
            ``z_hat = round(z - m) + m`` (same shape), what the decoder reconstructs.
        """
        tables = self._tables()
        self._check_input(z.unsqueeze(0))
        medians = self.table_medians.view((self.channels,) + (1,) * (z.dim() - 1))
        centered = z.detach() - medians
        if centered.numel() and float(centered.abs().max()) >= 2.0**30:
            raise SemcomError("z is too large to code (|z - median| must be < 2**30)")
        symbols = torch.round(centered).to(torch.int64)
        indexes = torch.arange(self.channels).view(medians.shape).expand(z.shape)
        encoder.encode(symbols.cpu().reshape(-1).numpy(),
                       indexes.reshape(-1).numpy().astype(np.int64), tables)
        return symbols.to(z.dtype) + medians.to(z.dtype)

    def decode_from(self, decoder: EntropyDecoder, spatial_shape: Sequence[int]) -> Tensor:
        """Read one image's ``z_hat`` of shape ``(C, *spatial_shape)`` from ``decoder``."""
        tables = self._tables()
        spatial = tuple(spatial_shape)
        if not all(isinstance(s, int) and s >= 0 for s in spatial):
            raise SemcomError(f"spatial shape must be non-negative ints, got {spatial_shape!r}")
        shape = (self.channels, *spatial)
        indexes = torch.arange(self.channels).view((self.channels,) + (1,) * len(spatial))
        flat = decoder.decode(indexes.expand(shape).reshape(-1).numpy().astype(np.int64), tables)
        symbols = torch.from_numpy(flat).reshape(shape)
        medians = self.table_medians.view(indexes.shape).cpu()
        return (symbols.to(medians.dtype) + medians).to(self.table_medians.device)

    def compress(self, z: Tensor) -> tuple[list[bytes], Tensor]:
        """Code each image of ``z`` (``(B, C, ...)``) into its own byte string.

        Returns:
            ``(strings, z_hat)``: ``B`` byte strings and the reconstruction ``(B, C, ...)``.
        """
        self._check_input(z)
        self._tables()
        strings, z_hats = [], []
        for image in z:
            encoder = EntropyEncoder()
            z_hats.append(self.encode_into(encoder, image))
            strings.append(encoder.finish())
        return strings, torch.stack(z_hats) if z_hats else z.detach().clone()

    def decompress(self, strings: Sequence[bytes], spatial_shape: Sequence[int]) -> Tensor:
        """Decode ``strings`` from :meth:`compress` into ``(len(strings), C, *spatial_shape)``.

        Raises:
            BitstreamError: a string is truncated, corrupt, empty or foreign.
        """
        if isinstance(strings, bytes | bytearray) or not isinstance(strings, Sequence):
            raise SemcomError("decompress expects a sequence of byte strings (one per image)")
        self._tables()  # before reading any bytes: say so when update() was not called
        images = []
        for data in strings:
            decoder = EntropyDecoder(data)
            images.append(self.decode_from(decoder, spatial_shape))
            decoder.finish()
        if not images:
            shape = (0, self.channels, *tuple(spatial_shape))
            return torch.zeros(shape, device=self.table_medians.device)
        return torch.stack(images)
