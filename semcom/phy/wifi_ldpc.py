"""IEEE 802.11n LDPC code (n = 1944, k = 1458, rate 3/4), as used by SP-JSCC's baseline.

The parity-check matrix is lifted from the standard's prototype (IEEE 802.11n-2009
Annex R, Table R.3; IEEE 802.11-2012 Table F-3: rate 3/4, n = 1944, Z = 81): each
entry ``s >= 0`` is the 81 x 81 identity with its columns cyclically shifted right by
``s`` (``P_s[r, (r + s) mod 81] = 1``), ``-`` a zero block. The last six block columns
are the parity part: a weight-3 first column (shifts 1, 0, 1) and a dual diagonal,
which gives a systematic encoder by back-substitution (:func:`parity_generator`).

Decoding is Sionna's generic ``LDPCBPDecoder`` on that matrix, run through
:class:`~semcom.phy.decoding.EarlyStoppingBP`. The code has no CRC: a block counts as
received when BP ends on a valid codeword (zero syndrome).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from semcom.channels.base import Channel
from semcom.errors import SemcomError
from semcom.phy.decoding import (DEFAULT_THREADS, EarlyStoppingBP, bp_decoder_factory, check_decoder_settings,
                                 torch_threads)
from semcom.phy.modulation import LLR_CLIP, QAM, qam

#: Lifting size.
Z = 81
#: Code length and information length.
N = 1944
K = 1458

# Prototype matrix, rate 3/4, n = 1944 (6 x 24 blocks).
_PROTOTYPE_R34_N1944 = """
48 29 28 39  9 61  -  -  - 63 45 80  -  -  - 37 32 22  1  0  -  -  -  -
 4 49 42 48 11 30  -  -  - 49 17 41 37 15  - 54  -  -  -  0  0  -  -  -
35 76 78 51 37 35 21  - 17 64  -  -  - 59  7  -  - 32  -  -  0  0  -  -
 9 65 44  9 54 56 73 34 42  -  -  - 35  -  -  - 46 39  0  -  -  0  0  -
 3 62  7 80 68 26  - 80 55  - 36  - 26  -  9  - 72  -  -  -  -  -  0  0
26 75 33 21 69 59  3 38  -  -  - 35  - 62 36 26  -  -  1  -  -  -  -  0
"""


def base_matrix() -> np.ndarray:
    """``(6, 24)`` int64 prototype: cyclic shifts, ``-1`` for a zero block."""
    rows = [[-1 if t == "-" else int(t) for t in line.split()]
            for line in _PROTOTYPE_R34_N1944.strip().splitlines()]
    return np.array(rows, dtype=np.int64)


@lru_cache(maxsize=1)
def parity_check_matrix() -> sp.csr_matrix:
    """``(486, 1944)`` binary parity-check matrix ``H`` (scipy CSR, uint8)."""
    bm = base_matrix()
    r_idx, c_idx = [], []
    ar = np.arange(Z)
    for i, j in zip(*np.nonzero(bm >= 0)):
        r_idx.append(i * Z + ar)
        c_idx.append(j * Z + (ar + bm[i, j]) % Z)
    rows, cols = np.concatenate(r_idx), np.concatenate(c_idx)
    return sp.csr_matrix((np.ones(rows.size, dtype=np.uint8), (rows, cols)), shape=(bm.shape[0] * Z, bm.shape[1] * Z))


def _shift(blocks: Tensor, s: int) -> Tensor:
    """``P_s x`` for ``(..., Z)`` vectors: ``(P_s x)[r] = x[(r + s) mod Z]``."""
    return torch.roll(blocks, -int(s), dims=-1)


def _encode_by_substitution(info: Tensor) -> Tensor:
    """Parity bits ``(B, 486)`` of ``(B, 1458)`` info bits by the dual-diagonal recursion."""
    bm = base_matrix()
    m_b, n_b = bm.shape
    k_b = n_b - m_b
    s = info.reshape(info.shape[0], k_b, Z)
    lam = []
    for i in range(m_b):
        acc = torch.zeros(info.shape[0], Z)
        for j in range(k_b):
            if bm[i, j] >= 0:
                acc = acc + _shift(s[:, j], bm[i, j])
        lam.append(torch.remainder(acc, 2))
    first = bm[:, k_b]
    # Summing every row cancels the dual diagonal and leaves P_a + P_0 + P_a = I on p_0.
    p = [torch.remainder(sum(lam), 2)]
    for i in range(m_b - 1):
        acc = lam[i] + (p[i] if i > 0 else 0) + (_shift(p[0], first[i]) if first[i] >= 0 else 0)
        p.append(torch.remainder(acc, 2))
    return torch.cat(p, dim=1)


@lru_cache(maxsize=1)
def parity_generator() -> Tensor:
    """``(1458, 486)`` float32 0/1 matrix ``G_p``: parity ``= info @ G_p mod 2``.

    Built once by running the standard's back-substitution on every unit vector
    (encoding is linear), so encoding a batch is one matrix product.
    """
    return _encode_by_substitution(torch.eye(K))


class WifiLDPCEncoder:
    """Systematic encoder: codeword ``[info (1458) | parity (486)]``."""

    k = K
    n = N

    def __call__(self, bits: Tensor) -> Tensor:
        """``(..., 1458)`` bits in {0, 1} -> ``(..., 1944)`` float32 codewords."""
        if bits.shape[-1] != K:
            raise SemcomError(f"the 802.11n (1944, 1458) encoder takes 1458 bits per block, got {bits.shape[-1]}")
        info = bits.float().reshape(-1, K)
        parity = torch.remainder(info @ parity_generator(), 2.0)
        return torch.cat([info, parity], dim=1).reshape(*bits.shape[:-1], N)


@lru_cache(maxsize=8)
def wifi_decoder(num_iter: int = 20, check_every: int = 2, cn_update: str = "boxplus") -> EarlyStoppingBP:
    """Sionna ``LDPCBPDecoder`` on :func:`parity_check_matrix` with early stopping.

    Calling it on ``(B, 1944)`` LLRs (``log P(b=1)/P(b=0)``) returns hard codeword
    bits ``(B, 1944)``, iterations ``(B,)`` and syndrome flags ``(B,)``.
    """
    return EarlyStoppingBP(bp_decoder_factory(parity_check_matrix()), num_iter=num_iter,
                           check_every=check_every, cn_update=cn_update)


@dataclass
class WifiDelivery:
    """What :meth:`WifiLDPCLink.send` delivered.

    Attributes:
        payload: received bytes, as long as the payload sent.
        block_ok: ``(num_blocks,)`` bool, BP ended on a valid codeword.
        channel_uses: complex channel uses.
        iterations: ``(num_blocks,)`` int64 BP iterations.
    """

    payload: bytes
    block_ok: Tensor
    channel_uses: int
    iterations: Tensor

    @property
    def ok(self) -> bool:
        """Every block decoded to a valid codeword."""
        return bool(self.block_ok.all())


class WifiLDPCLink:
    """Bytes over a semcom channel with the 802.11n (1944, 1458) code and QAM.

    The payload's bits are cut into 1458-bit blocks (the last one zero-padded), each
    encoded to 1944 bits, Gray-mapped (16-QAM by default, as in SP-JSCC), sent as one
    ``(1, k)`` row, zero-forced with the channel's CSI and soft-demapped; no
    retransmission. ``k = ceil(num_blocks * 1944 / bits_per_symbol)``.

    Args:
        bits_per_symbol: QAM order (2, 4, 6 or 8).
        num_iter, check_every, cn_update: BP settings (see :class:`EarlyStoppingBP`).
        llr_clip: LLR clamp after demapping.
        threads: torch intra-op threads during :meth:`send` (None: the global setting).
    """

    def __init__(self, bits_per_symbol: int = 4, num_iter: int = 20, check_every: int = 2,
                 cn_update: str = "boxplus", llr_clip: float = LLR_CLIP,
                 threads: int | None = DEFAULT_THREADS) -> None:
        check_decoder_settings(num_iter, check_every, cn_update, threads)
        self.modulator: QAM = qam(bits_per_symbol)
        self.bits_per_symbol = int(bits_per_symbol)
        self.num_iter, self.check_every, self.cn_update = num_iter, check_every, cn_update
        self.llr_clip = float(llr_clip)
        self.threads = threads
        self.encoder = WifiLDPCEncoder()

    def num_blocks(self, payload_bytes: int) -> int:
        """Code blocks for a payload of ``payload_bytes`` bytes."""
        return math.ceil(8 * int(payload_bytes) / K)

    def channel_uses(self, payload_bytes: int) -> int:
        """Complex channel uses of a payload of ``payload_bytes`` bytes."""
        return -(-self.num_blocks(payload_bytes) * N // self.bits_per_symbol)

    @torch.inference_mode()
    def send(self, payload: bytes, channel: Channel, snr_db: float,
             generator: torch.Generator | None = None) -> WifiDelivery:
        """Deliver ``payload`` over ``channel`` at ``snr_db``; ``generator`` seeds the channel."""
        with torch_threads(self.threads):
            return self._send(payload, channel, snr_db, generator)

    def _send(self, payload: bytes, channel: Channel, snr_db: float,
              generator: torch.Generator | None) -> WifiDelivery:
        from semcom.phy.tb_link import bits_to_bytes, bytes_to_bits

        bits = bytes_to_bits(payload)
        blocks = self.num_blocks(len(payload))
        if blocks == 0:
            empty = torch.zeros(0, dtype=torch.int64)
            return WifiDelivery(b"", empty.bool(), 0, empty)
        info = torch.zeros(blocks * K)
        info[:bits.numel()] = bits
        coded = self.encoder(info.reshape(blocks, K)).reshape(-1)
        pad = (-coded.numel()) % self.bits_per_symbol  # whole symbols; never needed for Q_m | 1944
        coded = torch.cat([coded, torch.zeros(pad)])
        out = channel(self.modulator.map(coded).reshape(1, -1), float(snr_db), generator)
        llr = self.modulator.demap_channel_output(out, self.llr_clip).reshape(-1)[:blocks * N]
        decoder = wifi_decoder(self.num_iter, self.check_every, self.cn_update)
        words, iterations, ok = decoder(llr.reshape(blocks, N))
        received = bits_to_bytes(words[:, :K].reshape(-1)[:bits.numel()])
        return WifiDelivery(received, ok, int(out.symbols.shape[-1]), iterations)
