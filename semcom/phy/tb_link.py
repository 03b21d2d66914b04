"""The digital PHY as one object: bytes in, bytes out, over any semcom channel.

:class:`TransportBlockLink` strings together :mod:`semcom.phy.transport` (segmentation,
CRC, LDPC), :mod:`semcom.phy.modulation` (QAM, LLRs from the channel's CSI) and a
semcom :class:`~semcom.channels.base.Channel`, with HARQ retransmission of failed transport
blocks: incremental redundancy (the default), chase combining or none.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from semcom.channels.base import Channel, ChannelOutput
from semcom.errors import SemcomError
from semcom.phy.decoding import DEFAULT_THREADS, check_decoder_settings, torch_threads
from semcom.phy.mcs import MCS, get_mcs
from semcom.phy.modulation import LLR_CLIP, QAM, qam
from semcom.phy.transport import (DEFAULT_MAX_TB_BITS, MIN_TBS, TransportBlockCodec, TransportPlan,
                                  get_codec, largest_tb_size, max_tb_bits_for, plan_transport)


#: HARQ combining modes of :class:`TransportBlockLink`.
HARQ_MODES = ("ir", "chase", "none")
#: Redundancy versions of successive transmissions (TS 38.214 5.1.2.1, Table 5.1.2.1-2).
RV_SEQUENCE = (0, 2, 3, 1)


def bytes_to_bits(payload: bytes) -> Tensor:
    """``(8 * len(payload),)`` float32 bits, most significant bit of each byte first."""
    arr = np.frombuffer(bytes(payload), dtype=np.uint8)
    return torch.from_numpy(np.unpackbits(arr).astype(np.float32))


def bits_to_bytes(bits: Tensor) -> bytes:
    """Inverse of :func:`bytes_to_bits` (length must be a multiple of 8)."""
    arr = (bits.detach().reshape(-1) > 0.5).numpy().astype(np.uint8)
    if arr.size % 8:
        raise SemcomError(f"{arr.size} bits do not make whole bytes")
    return np.packbits(arr).tobytes()


@dataclass
class Delivery:
    """What :meth:`TransportBlockLink.send` delivered.

    Attributes:
        payload: received bytes, as long as the payload sent; TBs that never passed
            their CRC hold the decoder's last (wrong) decisions.
        tb_ok: ``(T,)`` bool, TB CRC passed at the last transmission of each TB.
        first_tb_ok: ``(T,)`` bool, TB CRC passed at the first transmission.
        transmissions: ``(T,)`` int64, times each TB was sent (1 + retransmissions).
        channel_uses: complex channel uses of every transmission together.
        iterations: ``(T,)`` int64 BP iterations of each TB's last decoding.
        plan: the :class:`TransportPlan`.
    """

    payload: bytes
    tb_ok: Tensor
    first_tb_ok: Tensor
    transmissions: Tensor
    channel_uses: int
    iterations: Tensor
    plan: TransportPlan

    @property
    def ok(self) -> bool:
        """Every TB passed its CRC (the payload is, with CRC confidence, exact)."""
        return bool(self.tb_ok.all())

    @property
    def byte_ok(self) -> Tensor:
        """``(len(payload),)`` bool: the byte lies entirely in TBs that passed their CRC."""
        if self.plan.num_tbs == 0:
            return torch.zeros(0, dtype=torch.bool)
        bit_ok = self.tb_ok.repeat_interleave(self.plan.tb_bits)[:self.plan.payload_bits]
        return bit_ok.reshape(-1, 8).all(dim=1)

    @property
    def rounds(self) -> int:
        """Transmission rounds used (1 when nothing was retransmitted)."""
        return int(self.transmissions.max()) if self.transmissions.numel() else 0

    def describe(self) -> dict[str, int | float | bool]:
        """JSON-serialisable summary."""
        t = max(self.plan.num_tbs, 1)
        return {**self.plan.describe(), "ok": self.ok, "rounds": self.rounds,
                "failed_tbs": int((~self.tb_ok).sum()),
                "first_bler": float((~self.first_tb_ok).sum()) / t,
                "total_channel_uses": self.channel_uses}


class TransportBlockLink:
    """Bytes over a semcom channel with 5G NR transport blocks (the digital PHY).

    ``send`` segments the payload (:func:`plan_transport`), encodes every TB
    (:class:`TransportBlockCodec`), maps to QAM, sends **one row of symbols**
    ``(1, k)`` through the channel, zero-forces with the channel's CSI, demaps with
    the effective noise variance (erasures give zero LLRs), decodes all TBs in one
    batch and checks each TB's CRC. TBs that fail are sent again, up to
    ``max_retransmissions`` times, each time through a fresh channel call (fresh
    noise and fading), combined by ``harq``:

    * ``"ir"`` (default, as 5G does): transmission ``i`` sends redundancy version
      ``(0, 2, 3, 1)[i % 4]`` of TS 38.212 5.4.2.1 (a different window of the LDPC
      circular buffer, Sionna's ``LDPC5GEncoder(rv=...)``), and the receiver decodes
      all transmissions of a TB together (Sionna's ``LDPC5GDecoder(harq_mode=True)``);
    * ``"chase"``: every transmission is RV 0 and the LLRs are added;
    * ``"none"``: every transmission is RV 0, decoded alone (plain ARQ).

    ``channel_uses`` counts every transmission (all RVs have ``G`` coded bits).

    This is not a :class:`semcom.link.Link` (it carries bytes, not images); image
    links build on it.

    Args:
        max_tb_bits: largest TB in information bits (default 8192, one code block).
        num_iter: maximum BP iterations per code block.
        check_every: BP iterations between early-stopping checks.
        cn_update: Sionna check-node rule (:data:`~semcom.phy.decoding.CN_UPDATES`).
        max_retransmissions: extra transmissions allowed for a failed TB (0 = none;
            5G typically allows 3, i.e. 4 transmissions).
        harq: ``"ir"``, ``"chase"`` or ``"none"`` (see above).
        llr_clip: LLR clamp after demapping.
        demapping: ``"app"`` or ``"maxlog"``.
        threads: torch intra-op threads during :meth:`send` (default 1, see
            :data:`~semcom.phy.decoding.DEFAULT_THREADS`; None: the global setting).
    """

    def __init__(self, max_tb_bits: int = DEFAULT_MAX_TB_BITS, num_iter: int = 20, check_every: int = 2,
                 cn_update: str = "boxplus", max_retransmissions: int = 0, harq: str = "ir",
                 llr_clip: float = LLR_CLIP, demapping: str = "app",
                 threads: int | None = DEFAULT_THREADS) -> None:
        check_decoder_settings(num_iter, check_every, cn_update, threads)
        if not isinstance(max_tb_bits, int) or max_tb_bits < MIN_TBS:
            raise SemcomError(f"max_tb_bits must be an integer >= {MIN_TBS}, got {max_tb_bits!r}")
        if not isinstance(max_retransmissions, int) or max_retransmissions < 0:
            raise SemcomError(f"max_retransmissions must be an integer >= 0, got {max_retransmissions!r}")
        if harq not in HARQ_MODES:
            raise SemcomError(f"harq must be one of {', '.join(HARQ_MODES)}, got {harq!r}")
        if not llr_clip > 0:
            raise SemcomError(f"llr_clip must be positive, got {llr_clip!r}")
        self.max_tb_bits = max_tb_bits
        self.num_iter = num_iter
        self.check_every = check_every
        self.cn_update = cn_update
        self.max_retransmissions = max_retransmissions
        self.harq = harq
        self.llr_clip = float(llr_clip)
        self.demapping = demapping
        self.threads = threads

    # -- accounting ------------------------------------------------------------
    def plan(self, payload_bits: int, mcs: int | MCS) -> TransportPlan:
        """The :class:`TransportPlan` of a payload of ``payload_bits`` bits."""
        return plan_transport(payload_bits, mcs, self.max_tb_bits)

    def channel_uses(self, payload_bytes: int, mcs: int | MCS) -> int:
        """Complex channel uses of one transmission of ``payload_bytes`` bytes."""
        return self.plan(8 * int(payload_bytes), mcs).channel_uses

    def max_payload_bytes(self, channel_uses: int, mcs: int | MCS) -> int:
        """Largest payload (bytes) whose first transmission fits in ``channel_uses``."""
        return _max_payload_bytes(int(channel_uses), get_mcs(mcs).index, self.max_tb_bits)

    def full_tb_plan(self, num_tbs: int, mcs: int | MCS) -> TransportPlan:
        """A plan of ``num_tbs`` TBs of the largest size this link uses at ``mcs``."""
        tb_bits = largest_tb_size(max_tb_bits_for(mcs, self.max_tb_bits), get_mcs(mcs).index)
        return self.plan(int(num_tbs) * tb_bits, mcs)

    def modulator(self, plan: TransportPlan) -> QAM:
        """The (shared) QAM mapper/demapper of a plan's MCS."""
        return qam(plan.bits_per_symbol, self.demapping)

    def codec(self, plan: TransportPlan) -> TransportBlockCodec:
        """The (cached) codec of a plan's TB configuration."""
        return get_codec(plan, self.num_iter, self.check_every, self.cn_update)

    # -- transmission ----------------------------------------------------------
    def encode(self, payload: bytes, mcs: int | MCS, rv: int = 0) -> tuple[Tensor, TransportPlan]:
        """Payload -> ``(T, G / Q_m)`` complex64 QAM symbols of every TB (redundancy
        version ``rv``), and the plan."""
        bits = bytes_to_bits(payload)
        plan = self.plan(bits.numel(), mcs)
        if plan.num_tbs == 0:
            return torch.zeros(0, 0, dtype=torch.complex64), plan
        return self.modulate(tb_bits(bits, plan), plan, rv), plan

    def modulate(self, bits: Tensor, plan: TransportPlan, rv: int = 0) -> Tensor:
        """``(T, TBS)`` TB bits -> ``(T, G / Q_m)`` QAM symbols of redundancy version ``rv``."""
        return self.modulator(plan).map(self.codec(plan).encode(bits, rv))

    def llrs(self, out: ChannelOutput, plan: TransportPlan) -> Tensor:
        """Channel output of ``n`` TBs' symbols ``(1, n * G / Q_m)`` -> ``(n, G)`` LLRs."""
        llr = self.modulator(plan).demap_channel_output(out, self.llr_clip)
        return llr.reshape(-1, plan.coded_bits_per_tb)

    @torch.inference_mode()
    def send(self, payload: bytes, mcs: int | MCS, channel: Channel, snr_db: float,
             generator: torch.Generator | None = None) -> Delivery:
        """Deliver ``payload`` over ``channel`` at ``snr_db`` (see the class notes).

        Args:
            payload: bytes to send (may be empty: nothing is sent).
            mcs: MCS index of table 1 (3..28) or an :class:`MCS`.
            channel: a :class:`semcom.channels.base.Channel`.
            snr_db: average received SNR in dB.
            generator: seeds the channel; the same seed repeats the run exactly.
        """
        with torch_threads(self.threads):
            return self._send(payload, mcs, channel, snr_db, generator)

    def _send(self, payload: bytes, mcs: int | MCS, channel: Channel, snr_db: float,
              generator: torch.Generator | None) -> Delivery:
        bits = bytes_to_bits(payload)
        plan = self.plan(bits.numel(), mcs)
        t = plan.num_tbs
        empty = torch.zeros(t, dtype=torch.bool)
        if t == 0:
            z = torch.zeros(0, dtype=torch.int64)
            return Delivery(b"", empty, empty, z, 0, z, plan)
        info = tb_bits(bits, plan)
        codec = self.codec(plan)
        symbols = {0: self.modulate(info, plan)}
        decided = torch.zeros(t, plan.tb_bits)
        tb_ok = empty.clone()
        transmissions = torch.zeros(t, dtype=torch.int64)
        iterations = torch.zeros(t, dtype=torch.int64)
        history = torch.zeros(t, 1 + self.max_retransmissions, plan.coded_bits_per_tb) if self.harq == "ir" else None
        combined = torch.zeros(t, plan.coded_bits_per_tb) if self.harq == "chase" else None
        rvs = [RV_SEQUENCE[i % 4] if self.harq == "ir" else 0 for i in range(1 + self.max_retransmissions)]
        first_ok = empty
        pending = torch.arange(t)
        uses = 0
        for round_ in range(1 + self.max_retransmissions):
            rv = rvs[round_]
            if rv not in symbols:
                symbols[rv] = self.modulate(info, plan, rv)
            z = symbols[rv][pending].reshape(1, -1)
            out = channel(z, float(snr_db), generator)
            uses += z.shape[1]
            llr = self.llrs(out, plan)
            if history is not None and round_ > 0:
                history[pending, round_] = llr
                result = codec.decode_rvs(history[pending, :round_ + 1], rvs[:round_ + 1])
            else:
                if history is not None:
                    history[pending, 0] = llr
                if combined is not None:
                    combined[pending] += llr
                    llr = combined[pending]
                result = codec.decode(llr)
            bits_hat, crc_ok, iters = result
            decided[pending] = bits_hat
            tb_ok[pending] = crc_ok
            transmissions[pending] += 1
            iterations[pending] = iters
            if round_ == 0:
                first_ok = tb_ok.clone()
            pending = pending[~crc_ok]
            if pending.numel() == 0:
                break
        received = bits_to_bytes(decided.reshape(-1)[:plan.payload_bits])
        return Delivery(received, tb_ok, first_ok, transmissions, uses, iterations, plan)


@lru_cache(maxsize=4096)
def _max_payload_bytes(channel_uses: int, mcs_index: int, max_tb_bits: int) -> int:
    lo, hi = 0, max(1, channel_uses * 8)  # > 8 bits per symbol never fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if plan_transport(8 * mid, mcs_index, max_tb_bits).channel_uses <= channel_uses:
            lo = mid
        else:
            hi = mid - 1
    return lo


def tb_bits(bits: Tensor, plan: TransportPlan) -> Tensor:
    """Payload bits ``(L,)`` -> ``(T, TBS)`` TB bits, zero-padded."""
    padded = torch.zeros(plan.num_tbs * plan.tb_bits)
    padded[:bits.numel()] = bits
    return padded.reshape(plan.num_tbs, plan.tb_bits)
