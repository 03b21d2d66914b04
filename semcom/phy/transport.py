"""Transport blocks: segmentation and sizing (TS 38.214 5.1.3.2); the codec (CRC, 5G
LDPC with rate matching, HARQ redundancy versions, early-stopping decoding) is
:mod:`semcom.phy.tb_codec`, re-exported here.

Segmentation (documented choice)
--------------------------------
A payload of ``L`` bits is split into ``T = ceil(L / max_tb_bits)`` transport blocks
(TBs) of equal size: each carries ``ceil(L / T)`` payload bits, rounded up to the
smallest transport-block size (TBS) that TS 38.214 Sec. 5.1.3.2 allows (computed by
Sionna's ``calculate_tb_size``); the few padding bits are zeros. All TBs of a payload
share one configuration, so they are encoded and decoded in one batch.

``max_tb_bits`` defaults to 8192, the largest TBS that is one LDPC code block
(``8192 + 24`` CRC bits ``<= 8448``) at rates above 1/4; every TB then has its own
CRC and is retransmitted on its own. For MCS 4 and 10 (rates 0.30 and 0.33) TBs are
capped at 3752 bits, the largest size Sionna codes with base graph 2: larger ones need
base graph 1 below its mother rate 1/3 (repetition in the circular buffer), which
Sionna does not support. At MCS 3 (rate 0.245 <= 1/4) a large TB is split into several base
graph 2 code blocks, each with a CRC24B, as the standard says.

Coded bits and channel uses (TBS from the allocation, TS 38.214 5.1.3.2)
------------------------------------------------------------------------
As in 5G the allocation sets the TBS: an allocation of ``G`` coded bits carries the
TBS that TS 38.214 5.1.3.2 derives from ``N_info = G * R`` (quantized; the TB CRC is
inside ``N_info``, code-block CRCs are not, so the LDPC rate can slightly exceed
``R``). A TB of size TBS therefore gets the smallest ``G`` (a multiple of ``Q_m``)
whose 38.214 TBS is at least TBS and whose effective code rate is at most 0.95 (the
rate above which TS 38.214 5.1.3 lets a UE skip decoding; it binds only for small TBs
at MCS 26-28) (:func:`coded_bits_for`), and the payload that fits
``k`` channel uses is ``T`` times the 38.214 TBS of ``floor(k / T)`` symbols: about
1.6 % more than sizing each TB by ``G = Q_m * ceil((TBS + CRC) / (R * Q_m))`` at most
MCS (0 % at some). One transmission of a TB uses ``G / Q_m`` complex channel uses, and
a payload ``T * G / Q_m`` (``= ceil(coded_bits / bits_per_symbol)``, the convention of
``shared/design/conventions.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from semcom.errors import SemcomError
from semcom.phy.mcs import MCS, check_usable_mcs
from semcom.phy.tb_codec import TransportBlockCodec, get_codec, scrambling_sequence  # noqa: F401 (re-exported)

#: Default largest TB (information bits): one BG1 code block.
DEFAULT_MAX_TB_BITS = 8192
#: Largest TBS whose code block (TBS + 16 CRC bits <= 3824) Sionna puts on base graph 2
#: at rates up to 0.67 (Sionna selects the base graph from the size including the CRC).
BG2_MAX_TBS = 3752
#: Largest effective code rate a UE must decode (TS 38.214 5.1.3).
MAX_EFFECTIVE_RATE = 0.95
#: TS 38.214's smallest TBS.
MIN_TBS = 24
def _tbs_info(target_bits: int, mcs: MCS) -> tuple[int, int, int, int]:
    """``(tbs, num_code_blocks, tb_crc_bits, cb_crc_bits)`` that Sionna's
    ``calculate_tb_size`` gives for a target size."""
    from sionna.phy.nr.utils import calculate_tb_size

    out = calculate_tb_size(modulation_order=mcs.modulation_order, target_coderate=mcs.code_rate,
                            target_tb_size=float(target_bits), num_coded_bits=1,
                            return_cw_length=False, device="cpu")
    tbs, _, num_cb, tb_crc, cb_crc = (int(x) for x in out[:5])
    return tbs, num_cb, tb_crc, cb_crc


@lru_cache(maxsize=4096)
def _tbs(target_bits: int, mcs_index: int) -> int:
    return _tbs_info(target_bits, check_usable_mcs(mcs_index))[0]


@lru_cache(maxsize=4096)
def tb_size_at_least(bits: int, mcs_index: int) -> int:
    """Smallest TS 38.214 transport-block size ``>= bits`` (and ``>= 24``) at an MCS.

    The TBS is a non-decreasing function of the target size, so a binary search over
    targets finds the smallest one reaching ``bits``.
    """
    bits = max(int(bits), MIN_TBS)
    lo, hi = MIN_TBS, 2 * bits + 64  # the TBS of 2 * bits + 64 is certainly >= bits
    while lo < hi:
        mid = (lo + hi) // 2
        if _tbs(mid, mcs_index) >= bits:
            hi = mid
        else:
            lo = mid + 1
    return _tbs(lo, mcs_index)


@lru_cache(maxsize=256)
def largest_tb_size(max_bits: int, mcs_index: int) -> int:
    """Largest TS 38.214 transport-block size ``<= max_bits`` at an MCS (``>= 24``)."""
    lo, hi = MIN_TBS, max(int(max_bits), MIN_TBS)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _tbs(mid, mcs_index) <= max_bits:
            lo = mid
        else:
            hi = mid - 1
    return _tbs(lo, mcs_index)


def max_tb_bits_for(mcs: int | MCS, max_tb_bits: int = DEFAULT_MAX_TB_BITS) -> int:
    """The TB size cap actually used at an MCS (see the module notes on MCS 4 and 10)."""
    m = check_usable_mcs(mcs)
    if 0.25 < m.code_rate < 1.0 / 3.0:
        return min(int(max_tb_bits), BG2_MAX_TBS)
    return int(max_tb_bits)


@dataclass(frozen=True)
class TransportPlan:
    """How a payload is cut into transport blocks and coded at an MCS.

    Attributes:
        mcs: the modulation and coding scheme.
        payload_bits: ``L``, bits to deliver.
        num_tbs: ``T``, transport blocks.
        tb_bits: TBS, information bits per TB (payload plus zero padding).
        coded_bits_per_tb: ``G``, coded bits per TB (a multiple of ``Q_m``).
        num_code_blocks: LDPC code blocks per TB.
        crc_bits_per_tb: TB CRC plus all code-block CRCs of one TB.
    """

    mcs: MCS
    payload_bits: int
    num_tbs: int
    tb_bits: int
    coded_bits_per_tb: int
    num_code_blocks: int
    crc_bits_per_tb: int

    @property
    def bits_per_symbol(self) -> int:
        """``Q_m``."""
        return self.mcs.modulation_order

    @property
    def symbols_per_tb(self) -> int:
        """Complex channel uses of one transmission of one TB: ``G / Q_m``."""
        return self.coded_bits_per_tb // self.mcs.modulation_order

    @property
    def channel_uses(self) -> int:
        """Complex channel uses of one transmission of every TB."""
        return self.num_tbs * self.symbols_per_tb

    @property
    def padding_bits(self) -> int:
        """Zero bits appended to fill the TBs."""
        return self.num_tbs * self.tb_bits - self.payload_bits

    @property
    def code_rate(self) -> float:
        """LDPC code rate including CRC bits, ``(TBS + CRC) / G`` (``<= R``)."""
        return (self.tb_bits + self.crc_bits_per_tb) / self.coded_bits_per_tb

    def describe(self) -> dict[str, int | float]:
        """JSON-serialisable summary."""
        return {"mcs": self.mcs.index, "payload_bits": self.payload_bits, "num_tbs": self.num_tbs,
                "tb_bits": self.tb_bits, "coded_bits_per_tb": self.coded_bits_per_tb,
                "num_code_blocks": self.num_code_blocks, "channel_uses": self.channel_uses}


def plan_transport(payload_bits: int, mcs: int | MCS, max_tb_bits: int = DEFAULT_MAX_TB_BITS) -> TransportPlan:
    """Segment ``payload_bits`` into TBs at ``mcs`` (see the module notes).

    Raises:
        SemcomError: for a negative payload, MCS 0-2, or ``max_tb_bits < 24``.
    """
    m = check_usable_mcs(mcs)
    if not isinstance(payload_bits, int) or payload_bits < 0:
        raise SemcomError(f"payload_bits must be a non-negative integer, got {payload_bits!r}")
    if not isinstance(max_tb_bits, int) or max_tb_bits < MIN_TBS:
        raise SemcomError(f"max_tb_bits must be an integer >= {MIN_TBS}, got {max_tb_bits!r}")
    if payload_bits == 0:
        return TransportPlan(m, 0, 0, 0, 0, 0, 0)
    cap = max_tb_bits_for(m, max_tb_bits)
    num_tbs = math.ceil(payload_bits / cap)
    while True:
        tbs = tb_size_at_least(math.ceil(payload_bits / num_tbs), m.index)
        if tbs <= cap or tbs == MIN_TBS:
            break
        num_tbs += 1
    _, num_cb, tb_crc, cb_crc = _tbs_info(tbs, m)
    coded = coded_bits_for(tbs, m.index)
    return TransportPlan(m, payload_bits, num_tbs, tbs, coded, num_cb, tb_crc + num_cb * cb_crc)


@lru_cache(maxsize=4096)
def allocation_tbs(coded_bits: int, mcs_index: int) -> int:
    """TS 38.214 5.1.3.2 TBS of an allocation of ``coded_bits`` coded bits
    (``N_info = G * R``; Sionna's ``calculate_tb_size``); 0 if under the smallest TBS."""
    from sionna.phy.nr.utils import calculate_tb_size

    m = check_usable_mcs(mcs_index)
    if coded_bits < m.modulation_order:
        return 0
    out = calculate_tb_size(modulation_order=m.modulation_order, target_coderate=m.code_rate,
                            num_coded_bits=int(coded_bits), return_cw_length=False, device="cpu")
    return int(out[0])


@lru_cache(maxsize=4096)
def coded_bits_for(tbs: int, mcs_index: int) -> int:
    """``G``: the smallest allocation (a multiple of ``Q_m`` coded bits) to which
    TS 38.214 5.1.3.2 gives a TBS of at least ``tbs``, and at least enough for an
    effective code rate (CRC bits included) of at most 0.95 (see the module notes)."""
    m = check_usable_mcs(mcs_index)
    q = m.modulation_order
    _, num_cb, tb_crc, cb_crc = _tbs_info(tbs, m)
    # TS 38.214 5.1.3: a UE may skip a TB whose effective code rate exceeds 0.95
    floor_g = q * math.ceil((tbs + tb_crc + num_cb * cb_crc) / (MAX_EFFECTIVE_RATE * q))
    lo, hi = 1, 2 * math.ceil((tbs + 64) / (m.code_rate * q))  # in symbols
    while lo < hi:
        mid = (lo + hi) // 2
        if allocation_tbs(mid * q, m.index) >= tbs:
            hi = mid
        else:
            lo = mid + 1
    return max(lo * q, floor_g)
