"""Gray-labelled QAM and BPSK mapping and soft demapping (Sionna's ``Mapper`` / ``Demapper``).

Every constellation has unit average energy by construction (Sionna's normalization):
a transmitter sends its points as they are, so the receiver demaps on the same known
grid and needs no per-transmission scale factor. :func:`modem` gives the shared instance
of any supported order (:data:`MODEM_BITS`: BPSK 1, QAM 2..8 bits per symbol).

LLR sign convention (Sionna's, used everywhere in :mod:`semcom.phy`):
``llr = log P(b = 1 | y) / P(b = 0 | y)``, so a positive LLR favours bit 1 and
``bit_hat = (llr > 0)``. Sionna's LDPC decoders expect exactly this ("logits").

Received symbols are first equalized with the channel's CSI (zero forcing, which is
unbiased) and demapped with the per-symbol effective noise variance
``sigma2 / |h_hat|^2`` (:func:`semcom.channels.equalization.effective_noise_var`).
Erased symbols (infinite variance) give LLRs of exactly 0, and every LLR is clamped to
``+-llr_clip``.

Sionna's square QAM is a Gray PAM on each axis (even label bits on the real part, odd
bits on the imaginary part), so exact APP demapping separates: :class:`QAM` demaps the
real and imaginary parts with Sionna's ``Demapper`` on the axis PAM (``2 * 2**(Q_m/2)``
distances per symbol instead of ``2**Q_m``; 64-QAM about 4x faster). The result equals
Sionna's full QAM demapper up to float rounding (tested).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from semcom.channels.base import ChannelOutput
from semcom.channels.equalization import effective_noise_var, equalize
from semcom.errors import SemcomError

#: Modulation orders (bits per symbol) supported by :class:`QAM`.
BITS_PER_SYMBOL = (2, 4, 6, 8)
#: Modulation orders of :func:`modem`: BPSK and the QAM orders.
MODEM_BITS = (1,) + BITS_PER_SYMBOL
#: Default LLR clamp; Sionna's BP decoders clip their inputs at 20 as well.
LLR_CLIP = 20.0


class QAM:
    """Square Gray-labelled QAM with unit average power (QPSK, 16/64/256-QAM).

    Args:
        bits_per_symbol: 2, 4, 6 or 8.
        demapping: ``"app"`` (exact log-sum-exp) or ``"maxlog"``.
        device: where Sionna's blocks live (``"cpu"`` by default).
    """

    def __init__(self, bits_per_symbol: int, demapping: str = "app", device: str = "cpu") -> None:
        if bits_per_symbol not in BITS_PER_SYMBOL:
            raise SemcomError(f"bits_per_symbol must be one of {BITS_PER_SYMBOL}, got {bits_per_symbol!r}")
        if demapping not in ("app", "maxlog"):
            raise SemcomError(f"demapping must be 'app' or 'maxlog', got {demapping!r}")
        from sionna.phy.mapping import Constellation, Demapper, Mapper

        self.bits_per_symbol = int(bits_per_symbol)
        self.demapping = demapping
        self._mapper = Mapper("qam", self.bits_per_symbol, device=device)
        half = self.bits_per_symbol // 2
        # Axis PAM read off the QAM itself: label j on the even bits, zeros on the odd ones.
        rows = torch.arange(2 ** half)
        qam_index = torch.zeros_like(rows)
        for b in range(half):
            bit = (rows >> (half - 1 - b)) & 1
            qam_index |= bit << (self.bits_per_symbol - 1 - 2 * b)
        axis_points = self.points[qam_index].real
        axis = Constellation("custom", half, points=torch.complex(axis_points, torch.zeros_like(axis_points)),
                             device=device)
        self._axis_demapper = Demapper(demapping, constellation=axis, device=device)

    @property
    def points(self) -> Tensor:
        """``(2**bits_per_symbol,)`` complex64 constellation; point ``i`` carries the
        bits of ``i`` written MSB first."""
        return self._mapper.constellation()

    def map(self, bits: Tensor) -> Tensor:
        """``(..., n)`` bits in {0, 1} (any real or integer dtype) -> ``(..., n / Q_m)``
        complex64 symbols; ``n`` must be a multiple of ``bits_per_symbol``."""
        if bits.shape[-1] % self.bits_per_symbol:
            raise SemcomError(f"{bits.shape[-1]} bits do not fill whole {self.bits_per_symbol}-bit symbols")
        return self._mapper(bits.float())

    def demap(self, y: Tensor, noise_var: Tensor | float, erasures: Tensor | None = None,
              llr_clip: float = LLR_CLIP) -> Tensor:
        """Soft-demap equalized symbols.

        Args:
            y: ``(..., k)`` complex symbol estimates (unit-power constellation scale).
            noise_var: total complex noise variance of each estimate, float,
                broadcastable to ``y``; ``inf`` marks a symbol without information.
            erasures: optional ``(..., k)`` bool, True where the symbol was erased.
            llr_clip: LLRs are clamped to ``[-llr_clip, llr_clip]``.

        Returns:
            ``(..., k * Q_m)`` float32 LLRs ``log P(b=1|y) / P(b=0|y)``.
        """
        void, safe_y, safe_var = _without_void(y, noise_var, erasures)
        half = self.bits_per_symbol // 2
        zero = torch.zeros_like(safe_y.real)
        llr_re = self._axis_demapper(torch.complex(safe_y.real, zero), safe_var).reshape(*y.shape, half)
        llr_im = self._axis_demapper(torch.complex(safe_y.imag, zero), safe_var).reshape(*y.shape, half)
        llr = torch.stack([llr_re, llr_im], dim=-1).reshape(*y.shape, self.bits_per_symbol)
        llr = torch.where(void.unsqueeze(-1), torch.zeros_like(llr), llr)
        return llr.clamp(-llr_clip, llr_clip).reshape(*y.shape[:-1], -1)

    def demap_channel_output(self, out: ChannelOutput, llr_clip: float = LLR_CLIP) -> Tensor:
        """Zero-force ``out`` with its CSI and demap with ``sigma2 / |h_hat|^2``.

        Returns ``(..., k * Q_m)`` float32 LLRs (0 at erased symbols).
        """
        z_hat = equalize(out, "zf")
        return self.demap(z_hat, effective_noise_var(out), out.erasures, llr_clip)


def _without_void(y: Tensor, noise_var: Tensor | float,
                  erasures: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """``(void, y, var)``: the symbols without information (infinite variance or erased)
    and ``y``, ``var`` with those replaced by 0 and 1 (Sionna would give 0 for an infinite
    variance too, but NaN if ``y`` is also inf)."""
    var = torch.as_tensor(noise_var, dtype=torch.float32, device=y.device)
    var = var.expand(y.shape) if var.dim() else var.reshape(1).expand(y.shape)
    void = ~torch.isfinite(var)
    if erasures is not None:
        void = void | erasures
    return void, torch.where(void, torch.zeros_like(y), y), torch.where(void, torch.ones_like(var), var)


class BPSK:
    """BPSK on the real axis: bit ``b`` -> ``1 - 2 b`` (unit energy), Sionna's 1-bit PAM.

    The LLR of a symbol estimate ``y`` with complex noise variance ``sigma2`` is
    ``log P(b=1|y) / P(b=0|y) = -4 Re(y) / sigma2`` (Sionna's ``Demapper``; the imaginary
    part carries no information). Same interface as :class:`QAM`.

    Args:
        demapping: ``"app"`` or ``"maxlog"`` (identical for BPSK).
        device: where Sionna's blocks live (``"cpu"`` by default).
    """

    bits_per_symbol = 1

    def __init__(self, demapping: str = "app", device: str = "cpu") -> None:
        if demapping not in ("app", "maxlog"):
            raise SemcomError(f"demapping must be 'app' or 'maxlog', got {demapping!r}")
        from sionna.phy.mapping import Demapper, Mapper

        self.demapping = demapping
        self._mapper = Mapper("pam", 1, device=device)
        self._demapper = Demapper(demapping, "pam", 1, device=device)

    @property
    def points(self) -> Tensor:
        """``(2,)`` complex64 constellation ``[1, -1]`` (point ``i`` carries bit ``i``)."""
        return self._mapper.constellation()

    def map(self, bits: Tensor) -> Tensor:
        """``(..., n)`` bits in {0, 1} (any real or integer dtype) -> ``(..., n)`` complex64
        symbols ``1 - 2 b``."""
        return self._mapper(bits.float())

    def demap(self, y: Tensor, noise_var: Tensor | float, erasures: Tensor | None = None,
              llr_clip: float = LLR_CLIP) -> Tensor:
        """Soft-demap equalized symbols.

        Args:
            y: ``(..., k)`` complex symbol estimates (unit-energy scale).
            noise_var: total complex noise variance of each estimate, broadcastable to
                ``y``; ``inf`` marks a symbol without information.
            erasures: optional ``(..., k)`` bool, True where the symbol was erased.
            llr_clip: LLRs are clamped to ``[-llr_clip, llr_clip]``.

        Returns:
            ``(..., k)`` float32 LLRs ``log P(b=1|y) / P(b=0|y)`` (0 where void).
        """
        void, safe_y, safe_var = _without_void(y, noise_var, erasures)
        llr = self._demapper(safe_y, safe_var)
        return torch.where(void, torch.zeros_like(llr), llr).clamp(-llr_clip, llr_clip)

    def demap_channel_output(self, out: ChannelOutput, llr_clip: float = LLR_CLIP) -> Tensor:
        """Zero-force ``out`` with its CSI and demap with ``sigma2 / |h_hat|^2``: ``(..., k)``
        float32 LLRs (0 at erased symbols)."""
        return self.demap(equalize(out, "zf"), effective_noise_var(out), out.erasures, llr_clip)


@lru_cache(maxsize=8)
def qam(bits_per_symbol: int, demapping: str = "app") -> QAM:
    """A shared CPU :class:`QAM` instance (building Sionna blocks is not free)."""
    return QAM(bits_per_symbol, demapping)


@lru_cache(maxsize=8)
def modem(bits_per_symbol: int, demapping: str = "app") -> BPSK | QAM:
    """A shared CPU modem of ``bits_per_symbol`` bits (:data:`MODEM_BITS`): :class:`BPSK`
    for 1, :class:`QAM` otherwise; both map to unit-energy points and demap to LLRs."""
    if bits_per_symbol == 1:
        return BPSK(demapping)
    if bits_per_symbol not in BITS_PER_SYMBOL:
        raise SemcomError(f"bits_per_symbol must be one of {MODEM_BITS}, got {bits_per_symbol!r}")
    return qam(bits_per_symbol, demapping)
