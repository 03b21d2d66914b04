"""Gaussian conditional entropy model for the latent ``y`` (Balle et al. 2018, Minnen 2018).

Each element ``y_i`` has a mean ``mu_i`` and a scale ``sigma_i`` (predicted by a
hyperprior and/or a context model). The coded symbol is ``q_i = round(y_i - mu_i)``, the
reconstruction ``y_hat_i = q_i + mu_i`` and its probability the mass of the unit bin

    P(q) = Phi((q + 1/2) / sigma) - Phi((q - 1/2) / sigma),

evaluated on the lower side, ``Phi(x) = erfc(-x / sqrt 2) / 2`` with ``|q|``, so that the
tails (both terms tiny) lose no precision to cancellation.

For coding, scales are snapped to a fixed table (default: 64 log-spaced scales from 0.11
to 256) by :meth:`GaussianConditional.build_indexes`, taking the nearest table scale
*at or above* ``sigma`` (entries are 13 % apart, so the snap costs at most ~0.02 bit per
element). The decoder must reproduce the same indexes and means bit for bit (the coder
cannot correct a model mismatch), so compute them the same way on both sides. :meth:`GaussianConditional.update` turns every table scale
into an integer table (see :mod:`semcom.entropy.tables`) over ``|q| <= ceil(sigma * z)``
with ``z`` the two-sided ``tail_mass`` quantile, plus an escape for anything beyond.

The whole-image API is :meth:`compress` / :meth:`decompress`; a context model that
codes a latent in several steps (checkerboard, quadtree: step ``t`` codes only the
positions whose means and scales depend on earlier steps) calls
:meth:`encode_into` / :meth:`decode_from` once per step on one shared
:class:`~semcom.entropy.stream.EntropyEncoder` / ``EntropyDecoder``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

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


def default_scale_table(count: int = 64, low: float = 0.11, high: float = 256.0) -> Tensor:
    """``count`` log-spaced scales from ``low`` to ``high`` (float64, ascending)."""
    return torch.exp(torch.linspace(math.log(low), math.log(high), count, dtype=torch.float64))


def _normal_cdf(x: Tensor) -> Tensor:
    return 0.5 * torch.erfc(-x * (0.5**0.5))


def gaussian_bin_probability(values: Tensor, scales: Tensor) -> Tensor:
    """Mass of the unit bin ``[v - 1/2, v + 1/2]`` under ``N(0, scale^2)``.

    Args:
        values: offsets from the mean, any shape.
        scales: standard deviations ``> 0``, broadcastable to ``values``.

    Returns:
        probabilities (no lower bound applied), the broadcast shape.
    """
    v = values.abs()
    return _normal_cdf((0.5 - v) / scales) - _normal_cdf((-0.5 - v) / scales)


class GaussianConditional(TableBuffersModule):
    """Entropy model of ``y`` given per-element means and scales.

    Args:
        scale_table: ascending positive scales the coder snaps to; ``None`` gives
            :func:`default_scale_table`.
        scale_bound: scales are bounded below by this in :meth:`forward` (> 0).
        likelihood_bound: likelihoods are bounded below by this (in ``(0, 1)``).
        tail_mass: probability left outside each coding table's range (in ``(0, 0.5)``);
            those values are still coded, through the escape symbol.
    """

    _table_buffers = ("scale_table", "cdf_counts", "cdf_lengths", "cdf_offsets")

    def __init__(self, scale_table: Sequence[float] | Tensor | None = None,
                 scale_bound: float = 0.11, likelihood_bound: float = 1e-9,
                 tail_mass: float = 1e-9) -> None:
        super().__init__()
        table = default_scale_table() if scale_table is None else torch.as_tensor(
            scale_table, dtype=torch.float64).reshape(-1)
        if table.numel() == 0 or not bool(torch.isfinite(table).all()) or table.min() <= 0:
            raise SemcomError("scale_table must be a non-empty sequence of finite scales > 0")
        if table.numel() > 1 and not bool((table[1:] > table[:-1]).all()):
            raise SemcomError("scale_table must be strictly increasing")
        if not scale_bound > 0:
            raise SemcomError(f"scale_bound must be > 0, got {scale_bound}")
        if not 0 < likelihood_bound < 1:
            raise SemcomError(f"likelihood_bound must be in (0, 1), got {likelihood_bound}")
        if not 0 < tail_mass < 0.5:
            raise SemcomError(f"tail_mass must be in (0, 0.5), got {tail_mass}")
        self.scale_bound = float(scale_bound)
        self.likelihood_bound = float(likelihood_bound)
        self.tail_mass = float(tail_mass)
        self.register_buffer("scale_table", table)
        self.register_buffer("cdf_counts", torch.zeros(0, 0, dtype=torch.int32))
        self.register_buffer("cdf_lengths", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("cdf_offsets", torch.zeros(0, dtype=torch.int32))

    # ----------------------------------------------------------------- training
    def likelihood(self, values: Tensor, scales: Tensor, means: Tensor | None = None) -> Tensor:
        """Bounded probability of the unit bin around each of ``values``.

        Args:
            values: quantized (or noisy) ``y``, any shape.
            scales: broadcastable to ``values``; bounded below by ``scale_bound``.
            means: broadcastable to ``values`` or ``None`` (zero).

        Returns:
            likelihoods in ``[likelihood_bound, 1]``, shape of ``values``.
        """
        centered = values if means is None else values - means
        probability = gaussian_bin_probability(centered, lower_bound(scales, self.scale_bound))
        return lower_bound(probability, self.likelihood_bound)

    def forward(self, y: Tensor, scales: Tensor, means: Tensor | None = None,
                mode: str = "noise") -> tuple[Tensor, Tensor]:
        """Quantize ``y`` and return its likelihoods.

        Args:
            y: latent, any shape, e.g. ``(B, C, H, W)``.
            scales: broadcastable to ``y``.
            means: broadcastable to ``y`` or ``None``.
            mode: ``"noise"`` (training), ``"round"`` or ``"ste"``.

        Returns:
            ``(y_hat, likelihoods)``, both shaped like ``y``; the rate in bits is
            ``-log2(likelihoods).sum()``.
        """
        check_mode(mode)
        for name, tensor in (("y", y), ("scales", scales), ("means", means)):
            check_finite(name, tensor)
        y_hat = quantize(y, mode, means)
        return y_hat, self.likelihood(y_hat, scales, means)

    # ------------------------------------------------------------------ tables
    def update(self) -> None:
        """Build the integer coding table of every table scale (registered buffers)."""
        z = float(torch.special.ndtri(torch.tensor(1.0 - self.tail_mass / 2, dtype=torch.float64)))
        rows, offsets = [], []
        for scale in self.scale_table.detach().cpu().to(torch.float64):
            half = int(math.ceil(float(scale) * z))
            half = max(1, min(half, (MAX_TABLE_SYMBOLS - 2) // 2))
            values = torch.arange(-half, half + 1, dtype=torch.float64)
            probabilities = gaussian_bin_probability(values, scale)
            escape = torch.erfc((half + 0.5) / scale * (0.5**0.5))  # both tails
            pmf = torch.cat([probabilities, escape.reshape(1)]).numpy()
            rows.append(counts_from_probabilities(pmf))
            offsets.append(-half)
        counts, lengths = stack_rows(rows)
        device = self.scale_table.device
        self.cdf_counts = counts.to(device)
        self.cdf_lengths = lengths.to(device)
        self.cdf_offsets = torch.tensor(offsets, dtype=torch.int32, device=device)

    def _tables(self) -> CdfTables:
        self._require_tables()
        if self.cdf_lengths.numel() != self.scale_table.numel():
            raise SemcomError(f"entropy tables hold {self.cdf_lengths.numel()} rows but the "
                              f"scale table has {self.scale_table.numel()}: call update()")
        return CdfTables.from_buffers(self.cdf_counts, self.cdf_lengths, self.cdf_offsets)

    def build_indexes(self, scales: Tensor) -> Tensor:
        """Table row of each scale: the smallest table scale ``>= scale`` (clamped).

        Args:
            scales: any shape, finite.

        Returns:
            int64 tensor of the same shape with values in ``[0, len(scale_table))``.
        """
        check_finite("scales", scales)
        # compare in the scales' own precision, so a scale equal to an entry picks it
        dtype = scales.dtype if scales.is_floating_point() else torch.float64
        table = self.scale_table.to(device=scales.device, dtype=dtype)
        flat = scales.detach().to(dtype).reshape(-1).contiguous()
        indexes = torch.searchsorted(table, flat, right=False)
        return indexes.clamp_(max=table.numel() - 1).reshape(scales.shape)

    # ------------------------------------------------------------------ coding
    def _symbols(self, y: Tensor, means: Tensor | None) -> Tensor:
        check_finite("y", y)
        check_finite("means", means)
        centered = y.detach() if means is None else y.detach() - means.detach()
        if centered.numel() and float(centered.abs().max()) >= 2.0**30:
            raise SemcomError("y - means is too large to code (|value| must be < 2**30)")
        return torch.round(centered).to(torch.int64)

    @staticmethod
    def _index_array(indexes: Tensor, shape: torch.Size) -> np.ndarray:
        if not isinstance(indexes, Tensor) or indexes.is_floating_point() or indexes.is_complex():
            raise SemcomError("indexes must be an integer tensor (from build_indexes)")
        if indexes.shape != shape:
            raise SemcomError(f"indexes have shape {tuple(indexes.shape)}, expected {tuple(shape)}")
        return indexes.detach().cpu().reshape(-1).numpy().astype(np.int64)

    @staticmethod
    def _dequantize(symbols: Tensor, means: Tensor | None, dtype: torch.dtype) -> Tensor:
        values = symbols.to(dtype)
        return values if means is None else values + means.detach()

    def encode_into(self, encoder: EntropyEncoder, y: Tensor, indexes: Tensor,
                    means: Tensor | None = None) -> Tensor:
        """Append ``round(y - means)`` to ``encoder`` (one step of a multi-step context).

        Args:
            encoder: the shared stream.
            y: values to code, any shape (e.g. one image's ``(C, H, W)`` or a subset).
            indexes: ``build_indexes(scales)``, same shape as ``y``.
            means: broadcastable to ``y`` or ``None``.

        Returns:
            ``y_hat = round(y - means) + means``, what the decoder will reconstruct.
        """
        tables = self._tables()
        symbols = self._symbols(y, means)
        encoder.encode(symbols.cpu().reshape(-1).numpy(), self._index_array(indexes, y.shape),
                       tables)
        return self._dequantize(symbols.to(y.device), means, y.dtype)

    def decode_from(self, decoder: EntropyDecoder, indexes: Tensor,
                    means: Tensor | None = None) -> Tensor:
        """Read the values that :meth:`encode_into` appended with the same ``indexes``.

        Args:
            decoder: the shared stream.
            indexes: same as at encoding, any shape.
            means: same as at encoding (broadcastable to ``indexes``) or ``None``.

        Returns:
            ``y_hat`` shaped like ``indexes`` (float32, or the dtype of ``means``).
        """
        tables = self._tables()
        check_finite("means", means)
        flat = decoder.decode(self._index_array(indexes, indexes.shape), tables)
        symbols = torch.from_numpy(flat).reshape(indexes.shape).to(indexes.device)
        dtype = means.dtype if means is not None else torch.float32
        return self._dequantize(symbols, means, dtype)

    def compress(self, y: Tensor, indexes: Tensor, means: Tensor | None = None) -> bytes:
        """Code the latent of ONE image into its own byte string.

        Args:
            y: any shape (e.g. ``(C, H, W)``); indexes: same shape; means: broadcastable.

        Returns:
            the stream bytes (see :mod:`semcom.entropy.stream`).
        """
        encoder = EntropyEncoder()
        self.encode_into(encoder, y, indexes, means)
        return encoder.finish()

    def decompress(self, data: bytes, indexes: Tensor, means: Tensor | None = None) -> Tensor:
        """Decode what :meth:`compress` produced with the same ``indexes`` and ``means``.

        Raises:
            BitstreamError: truncated, corrupt, empty or foreign ``data``.
        """
        self._tables()  # before reading any bytes: say so when update() was not called
        decoder = EntropyDecoder(data)
        y_hat = self.decode_from(decoder, indexes, means)
        decoder.finish()
        return y_hat
