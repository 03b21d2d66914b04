"""The transport-block codec: Sionna's ``TBEncoder`` (RV 0) or its steps with another
redundancy version, and an early-stopping decoder of one transmission or of several
combined (HARQ with incremental redundancy). Sizing lives in :mod:`semcom.phy.transport`.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from semcom.errors import SemcomError
from semcom.phy.decoding import EarlyStoppingBP, check_decoder_settings
from semcom.phy.mcs import MCS, check_usable_mcs

if TYPE_CHECKING:
    from semcom.phy.transport import TransportPlan

#: Scrambler initialisation ``c_init = n_RNTI * 2**15 + n_ID`` (TS 38.211 6.3.1.1) with
#: Sionna's ``TBEncoder`` defaults ``n_RNTI = n_ID = 1``.
SCRAMBLER_C_INIT = 1 * 2**15 + 1

_scrambling_cache: list[Tensor] = []


def scrambling_sequence(length: int) -> Tensor:
    """First ``length`` bits ``(length,)`` float32 of the TS 38.211 Gold sequence used
    for scrambling (Sionna's ``generate_prng_seq``, computed once and sliced: a
    sequence is a prefix of every longer one, and generating it costs ~10 us a bit)."""
    from sionna.phy.nr.utils import generate_prng_seq

    if not _scrambling_cache or _scrambling_cache[0].numel() < length:
        n = max(int(length), 40_000)
        _scrambling_cache[:] = [torch.as_tensor(generate_prng_seq(n, SCRAMBLER_C_INIT), dtype=torch.float32)]
    return _scrambling_cache[0][:length]


@lru_cache(maxsize=8192)
class TransportBlockCodec:
    """Encoder and early-stopping decoder for one TB configuration.

    Encoding is Sionna's ``TBEncoder`` (TB CRC, code-block segmentation and CRC,
    5G LDPC, rate matching, bit interleaving) followed by TS 38.211 scrambling with a
    cached sequence (the output equals ``TBEncoder`` with its scrambler, but a new
    configuration is built ~0.1-0.4 s faster). Decoding mirrors Sionna's ``TBDecoder``
    step by step from the encoder's public parts, but runs the LDPC decoder through
    :class:`~semcom.phy.decoding.EarlyStoppingBP`.

    Args:
        mcs: the MCS.
        tb_bits: TBS (a valid TS 38.214 size, see :func:`tb_size_at_least`).
        coded_bits: ``G`` per TB, a multiple of ``Q_m``.
        num_iter: maximum BP iterations.
        check_every: iterations between early-stopping checks.
        cn_update: Sionna check-node rule.
        max_batch: code blocks per decoder call (bounds memory).
    """

    def __init__(self, mcs: int | MCS, tb_bits: int, coded_bits: int, num_iter: int = 20,
                 check_every: int = 2, cn_update: str = "boxplus", max_batch: int = 64) -> None:
        from sionna.phy.fec.crc import CRCDecoder
        from sionna.phy.fec.ldpc import LDPC5GDecoder
        from sionna.phy.nr import TBEncoder

        m = check_usable_mcs(mcs)
        check_decoder_settings(num_iter, check_every, cn_update)
        if coded_bits <= 0 or coded_bits % m.modulation_order:
            raise SemcomError(f"coded_bits must be a positive multiple of {m.modulation_order}, got {coded_bits}")
        self.mcs = m
        self.tb_bits = int(tb_bits)
        self.coded_bits = int(coded_bits)
        self.max_batch = int(max_batch)
        with warnings.catch_warnings():  # Sionna warns above rate 948/1024 (MCS 28 reaches 0.933)
            warnings.simplefilter("ignore", UserWarning)
            self.encoder = TBEncoder(target_tb_size=self.tb_bits, num_coded_bits=self.coded_bits,
                                     target_coderate=m.code_rate, num_bits_per_symbol=m.modulation_order,
                                     use_scrambler=False, device="cpu")
        enc = self.encoder
        if enc.tb_size != self.tb_bits or enc.n != self.coded_bits:
            raise SemcomError(f"{tb_bits} is not a valid transport-block size at {m} "
                              f"(Sionna would use {enc.tb_size})")
        self.num_code_blocks = enc.num_cbs
        ldpc = enc.ldpc_encoder
        self._ldpc_n = ldpc.n
        self.bp = EarlyStoppingBP(lambda **kw: LDPC5GDecoder(ldpc, return_infobits=True, device="cpu", **kw),
                                  num_iter=num_iter, check_every=check_every, cn_update=cn_update)
        self._scrambling = scrambling_sequence(self.coded_bits)
        self._cb_crc = CRCDecoder(enc.cb_crc_encoder, device="cpu") if enc.cb_crc_encoder is not None else None
        self._tb_crc = CRCDecoder(enc.tb_crc_encoder, device="cpu")
        self._perm_inv = enc.output_perm_inv.to(torch.int64)
        self._perm = torch.argsort(self._perm_inv)
        self._num_cycles = (num_iter, check_every, cn_update)
        self._harq: EarlyStoppingBP | None = None

    # -- redundancy versions (HARQ with incremental redundancy) -------------------
    def _encode_rv(self, bits: Tensor, rv: int) -> Tensor:
        """Sionna's ``TBEncoder`` steps from its public parts, with the LDPC encoder's
        redundancy version ``rv`` (TS 38.212 5.4.2.1) instead of RV 0."""
        enc = self.encoder
        u = enc.tb_crc_encoder(bits)
        ldpc = enc.ldpc_encoder
        crc_len = 24 if enc.cb_crc_encoder is not None else 0
        u = u.reshape(-1, self.num_code_blocks, ldpc.k - crc_len)
        if enc.cb_crc_encoder is not None:
            u = enc.cb_crc_encoder(u)
        c = ldpc(u, rv=[int(rv)]).reshape(bits.shape[0], -1)
        return c.index_select(-1, self._perm)[:, :self.coded_bits]

    @torch.inference_mode()
    def encode(self, bits: Tensor, rv: int = 0) -> Tensor:
        """``(N, tb_bits)`` bits in {0, 1} -> ``(N, coded_bits)`` float32 coded bits of
        redundancy version ``rv`` (0, 1, 2 or 3; RV 0 is Sionna's ``TBEncoder`` output)."""
        if bits.dim() != 2 or bits.shape[1] != self.tb_bits:
            raise SemcomError(f"expected (N, {self.tb_bits}) bits, got {tuple(bits.shape)}")
        if rv not in (0, 1, 2, 3):
            raise SemcomError(f"redundancy version must be 0, 1, 2 or 3, got {rv!r}")
        coded = self.encoder(bits.float()) if rv == 0 else self._encode_rv(bits.float(), rv)
        return torch.abs(coded - self._scrambling)

    def _code_block_llrs(self, llr: Tensor) -> Tensor:
        """``(N, G)`` channel LLRs -> ``(N * C, n)`` descrambled LLRs per code block in
        the LDPC encoder's output order (0 where a code block sent fewer bits)."""
        n_tb = llr.shape[0]
        x = (llr.float() * (1.0 - 2.0 * self._scrambling)).reshape(n_tb, 1, self.coded_bits)
        fillers = torch.zeros(n_tb, 1, self._ldpc_n * self.num_code_blocks - self.coded_bits)
        x = torch.cat([x, fillers], dim=-1).index_select(-1, self._perm_inv)
        return x.reshape(n_tb * self.num_code_blocks, self._ldpc_n)

    def _harq_decoder(self) -> EarlyStoppingBP:
        """Sionna's ``LDPC5GDecoder`` in HARQ mode (it places each redundancy version in
        the circular buffer and adds them before BP), with early stopping."""
        if self._harq is None:
            num_iter, check_every, cn_update = self._num_cycles
            self._harq = EarlyStoppingBP(lambda **kw: _HarqDecoder(self.encoder.ldpc_encoder, **kw),
                                         num_iter=num_iter, check_every=check_every, cn_update=cn_update)
        return self._harq

    @torch.inference_mode()
    def decode_rvs(self, llrs: Tensor, rvs: list[int]) -> tuple[Tensor, Tensor, Tensor]:
        """Decode TBs from several transmissions combined in the circular buffer (HARQ
        with incremental redundancy; repeated RVs are chase-combined).

        Args:
            llrs: ``(N, R, G)`` float32 channel LLRs of the ``R`` transmissions.
            rvs: the ``R`` redundancy versions sent (TS 38.212 order 0, 2, 3, 1).

        Returns:
            what :meth:`decode` returns.
        """
        if llrs.dim() != 3 or llrs.shape[1:] != (len(rvs), self.coded_bits) or \
                any(rv not in (0, 1, 2, 3) for rv in rvs):
            raise SemcomError(f"expected (N, {len(rvs)}, {self.coded_bits}) LLRs for RVs in 0..3, "
                              f"got {tuple(llrs.shape)} for {rvs}")
        x = torch.stack([self._code_block_llrs(llrs[:, r]) for r in range(len(rvs))], dim=1)
        bp = self._harq_decoder()
        bp.decoder.rv = [int(rv) for rv in rvs]
        return self._finish(self._run_bp(bp, x), llrs.shape[0])

    @torch.inference_mode()
    def decode(self, llr: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Decode TBs from channel LLRs (``log P(b=1)/P(b=0)``).

        Args:
            llr: ``(N, coded_bits)`` float32.

        Returns:
            ``bits`` ``(N, tb_bits)`` float32 hard decisions; ``crc_ok`` ``(N,)`` bool
            TB CRC verdicts; ``iterations`` ``(N,)`` int64 BP iterations (largest over
            the TB's code blocks).
        """
        g = self.coded_bits
        if llr.dim() != 2 or llr.shape[1] != g:
            raise SemcomError(f"expected (N, {g}) LLRs, got {tuple(llr.shape)}")
        return self._finish(self._run_bp(self.bp, self._code_block_llrs(llr)), llr.shape[0])

    def _run_bp(self, bp: EarlyStoppingBP, x: Tensor) -> list[tuple[Tensor, Tensor, Tensor]]:
        return [bp(x[i:i + self.max_batch]) for i in range(0, x.shape[0], self.max_batch)]

    def _finish(self, parts: list[tuple[Tensor, Tensor, Tensor]], n_tb: int) -> tuple[Tensor, Tensor, Tensor]:
        """Code-block decisions -> TB bits, TB CRC verdicts, iterations."""
        n_cb = self.num_code_blocks
        cb_bits = torch.cat([p[0] for p in parts])
        iterations = torch.cat([p[1] for p in parts]).reshape(n_tb, n_cb).amax(dim=1)
        if self._cb_crc is not None:
            cb_bits, _ = self._cb_crc(cb_bits)
        tb_bits, crc_ok = self._tb_crc(cb_bits.reshape(n_tb, -1))
        return tb_bits, crc_ok.reshape(n_tb).bool(), iterations


class _HarqDecoder(torch.nn.Module):
    """``LDPC5GDecoder(harq_mode=True)`` whose redundancy versions are set per call
    (``rv``), so :class:`EarlyStoppingBP` can drive it like any Sionna decoder."""

    def __init__(self, ldpc_encoder: object, **kwargs: object) -> None:
        from sionna.phy.fec.ldpc import LDPC5GDecoder

        super().__init__()
        self.inner = LDPC5GDecoder(ldpc_encoder, return_infobits=True, harq_mode=True, device="cpu", **kwargs)
        self.rv = [0]

    @property
    def pcm(self) -> object:
        """The (unpruned) parity-check matrix BP runs on."""
        return self.inner.pcm

    def forward(self, llr: Tensor, num_iter: int, msg_v2c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.inner(llr, rv=self.rv, num_iter=num_iter, msg_v2c=msg_v2c)


def get_codec(plan: TransportPlan, num_iter: int = 20, check_every: int = 2,
              cn_update: str = "boxplus") -> TransportBlockCodec:
    """A cached :class:`TransportBlockCodec` for a plan's TB configuration (building
    one takes 0.1-0.3 s; plans with the same TBS, ``G`` and MCS share it)."""
    if plan.num_tbs < 1:
        raise SemcomError("an empty payload has no transport-block codec")
    return _cached_codec(plan.mcs.index, plan.tb_bits, plan.coded_bits_per_tb, num_iter, check_every, cn_update)


@lru_cache(maxsize=48)
def _cached_codec(mcs_index: int, tb_bits: int, coded_bits: int, num_iter: int, check_every: int,
                  cn_update: str) -> TransportBlockCodec:
    return TransportBlockCodec(mcs_index, tb_bits, coded_bits, num_iter=num_iter,
                               check_every=check_every, cn_update=cn_update)

