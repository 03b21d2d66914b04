"""One bit pipe: bytes over the project's digital PHY, for every part that sends bits.

The digital link's codec bytes and header, a model's side information (masks, rate
maps, hyper-latent bits, quantizer ranges) and any model that sends bits all go
through a :class:`BitPipe`:

* :class:`NRBitPipe`: 5G NR transport blocks (CRC, LDPC, rate matching, QAM) at a
  fixed MCS, with HARQ retransmissions (:class:`~semcom.phy.tb_link.TransportBlockLink`;
  its ``harq`` mode, incremental redundancy by default);
* :class:`WifiBitPipe`: the IEEE 802.11n (1944, 1458) LDPC code with QAM (16-QAM by
  default), no retransmission (:class:`~semcom.phy.wifi_ldpc.WifiLDPCLink`).

``pipe.channel_uses(n)`` is the cost of one transmission of ``n`` bytes *before*
sending (:class:`semcom.sideinfo.SideInfoPath` charges training's error-free side
information with it);
``pipe.send(payload, channel, snr_db, generator)`` simulates it and returns a
:class:`BitDelivery` (bytes, CRC verdict, channel uses of every transmission).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from semcom.errors import SemcomError
from semcom.settings import AUTO

#: MCS of side information and control headers: the most robust index Sionna's 5G
#: encoder accepts (QPSK, code rate 0.245)
SIDE_INFO_MCS = 3
#: smallest payload an NR pipe sends (shorter ones are zero-padded): 32 bits, the
#: smallest TB size whose rate matching Sionna's encoder accepts at every MCS
MIN_PAYLOAD_BYTES = 4


@dataclass
class BitDelivery:
    """What a :class:`BitPipe` delivered.

    Attributes:
        payload: received bytes, as long as those sent (wrong where ``ok`` is False).
        ok: every block passed its check (CRC or parity) at its last transmission.
        channel_uses: complex channel uses of every transmission together.
        transmissions: transmissions of the block sent most often (1 = no retransmission).
    """

    payload: bytes
    ok: bool
    channel_uses: int
    transmissions: int


class BitPipe:
    """Bytes over the PHY at a fixed operating point (subclasses: NR, 802.11n)."""

    name = "bitpipe"

    def channel_uses(self, num_bytes: int) -> int:
        """Complex channel uses of one transmission of ``num_bytes`` bytes (0 for 0)."""
        raise NotImplementedError

    def send(self, payload: bytes, channel: Any, snr_db: float,
             generator: torch.Generator | None = None, mcs: int | None = None) -> BitDelivery:
        """Deliver ``payload`` through ``channel`` at ``snr_db`` dB (``mcs``: override
        the operating point for this call, where the pipe has one)."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description (for result files)."""
        return {"pipe": self.name}


class NRBitPipe(BitPipe):
    """5G NR transport blocks at a fixed or an automatic MCS of TS 38.214 table 1.

    Args:
        mcs: MCS index (3..28), or ``"auto"``: per call, the highest-rate MCS whose
            tabulated TB error rate at the SNR is at most ``target_bler``
            (:func:`semcom.phy.select_mcs`; MCS 3 below every threshold). Default
            :data:`SIDE_INFO_MCS`.
        max_retransmissions: extra transmissions of a failed TB.
        link: an existing :class:`~semcom.phy.tb_link.TransportBlockLink` to share
            (its retransmission and combining settings apply); built if None.
        target_bler: TB error rate the automatic MCS aims at.
        **link_options: options of a new ``TransportBlockLink``.
    """

    name = "5g"

    def __init__(self, mcs: int | str = SIDE_INFO_MCS, max_retransmissions: int = 0, link: Any = None,
                 target_bler: float = 0.1, **link_options: Any) -> None:
        from semcom.phy.tb_link import TransportBlockLink

        self.mcs = AUTO if str(mcs).strip().lower() == AUTO else self._checked(mcs)
        if not 0.0 < float(target_bler) < 1.0:
            raise SemcomError(f"target_bler must be in (0, 1), got {target_bler!r}")
        self.target_bler = float(target_bler)
        self.link = link if link is not None else TransportBlockLink(
            max_retransmissions=int(max_retransmissions), **link_options)

    @staticmethod
    def _checked(mcs: Any) -> int:
        from semcom.phy.mcs import check_usable_mcs

        if isinstance(mcs, bool):
            raise SemcomError(f"mcs must be an MCS index or auto, got {mcs!r}")
        try:
            return check_usable_mcs(int(mcs)).index
        except (TypeError, ValueError):
            raise SemcomError(f"mcs must be an MCS index or auto, got {mcs!r}") from None

    def mcs_for(self, snr_db: float | None = None, channel: Any = None, mcs: int | None = None) -> int:
        """The MCS of a call: ``mcs`` if given, the fixed one, or the automatic choice
        at ``snr_db`` (BLER table of AWGN, or of fading for other channels)."""
        if mcs is not None:
            return self._checked(mcs)
        if self.mcs != AUTO:
            return int(self.mcs)
        if snr_db is None:
            raise SemcomError("an automatic-MCS bit pipe needs the SNR to choose its MCS")
        from semcom.phy import select_mcs

        table = "awgn" if getattr(channel, "name", "awgn") == "awgn" else "rayleigh"
        choice = select_mcs(float(snr_db), self.target_bler, table)
        return SIDE_INFO_MCS if choice is None else int(choice)

    def channel_uses(self, num_bytes: int, mcs: int | None = None, snr_db: float | None = None) -> int:
        if not num_bytes:
            return 0
        return self.link.channel_uses(self._padded(int(num_bytes)), self.mcs_for(snr_db, mcs=mcs))

    @staticmethod
    def _padded(num_bytes: int) -> int:
        """Payloads below :data:`MIN_PAYLOAD_BYTES` are zero-padded to it."""
        return max(int(num_bytes), MIN_PAYLOAD_BYTES)

    def max_payload_bytes(self, channel_uses: int, mcs: int | None = None, snr_db: float | None = None) -> int:
        """Largest payload whose first transmission fits in ``channel_uses``."""
        return self.link.max_payload_bytes(int(channel_uses), self.mcs_for(snr_db, mcs=mcs))

    def send(self, payload: bytes, channel: Any, snr_db: float,
             generator: torch.Generator | None = None, mcs: int | None = None) -> BitDelivery:
        """Deliver ``payload``; ``mcs`` overrides the pipe's MCS for this call."""
        if not payload:
            return BitDelivery(b"", True, 0, 0)
        data = bytes(payload) + bytes(self._padded(len(payload)) - len(payload))
        d = self.link.send(data, self.mcs_for(snr_db, channel, mcs), channel, float(snr_db), generator)
        return BitDelivery(d.payload[:len(payload)], d.ok, int(d.channel_uses), int(d.rounds))

    def describe(self) -> dict[str, Any]:
        return {"pipe": self.name, "mcs": self.mcs, "max_retransmissions": self.link.max_retransmissions,
                "harq": self.link.harq}


class WifiBitPipe(BitPipe):
    """The 802.11n (1944, 1458) LDPC code, rate 3/4, with QAM; no retransmission.

    Args:
        bits_per_symbol: QAM order (4 = 16-QAM, the SP-JSCC baseline).
        link: an existing :class:`~semcom.phy.wifi_ldpc.WifiLDPCLink` to share.
        **link_options: options of a new ``WifiLDPCLink``.
    """

    name = "wifi"

    def __init__(self, bits_per_symbol: int = 4, link: Any = None, **link_options: Any) -> None:
        from semcom.phy.wifi_ldpc import WifiLDPCLink

        self.link = link if link is not None else WifiLDPCLink(bits_per_symbol=int(bits_per_symbol),
                                                              **link_options)

    def channel_uses(self, num_bytes: int) -> int:
        return self.link.channel_uses(int(num_bytes)) if num_bytes else 0

    def max_payload_bytes(self, channel_uses: int) -> int:
        """Largest payload whose transmission fits in ``channel_uses``."""
        lo, hi = 0, max(0, int(channel_uses))
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self.channel_uses(mid) <= channel_uses else (lo, mid - 1)
        return lo

    def send(self, payload: bytes, channel: Any, snr_db: float,
             generator: torch.Generator | None = None, mcs: int | None = None) -> BitDelivery:
        """Deliver ``payload`` (``mcs`` is accepted for the common interface and ignored:
        the code and QAM order are fixed)."""
        if not payload:
            return BitDelivery(b"", True, 0, 0)
        d = self.link.send(bytes(payload), channel, float(snr_db), generator)
        return BitDelivery(d.payload, d.ok, int(d.channel_uses), 1)

    def describe(self) -> dict[str, Any]:
        return {"pipe": self.name, "bits_per_symbol": self.link.bits_per_symbol}


PIPES = {"5g": NRBitPipe, "wifi": WifiBitPipe}


def create_bit_pipe(kind: str = "5g", **options: Any) -> BitPipe:
    """``create_bit_pipe("5g", mcs=3)`` or ``create_bit_pipe("wifi", bits_per_symbol=4)``."""
    key = str(kind).lower()
    if key not in PIPES:
        raise SemcomError(f"unknown bit pipe {kind!r} (known: {', '.join(PIPES)})")
    return PIPES[key](**options)


def side_info_pipe() -> BitPipe:
    """The pipe every system's side information uses: one-byte payloads over the
    small-block control code (:class:`~semcom.phy.small_block.SmallBlockPipe`: RM(2, 5)
    + CRC6, QPSK, 2 repetitions, 32 channel uses), longer ones as 5G NR transport
    blocks at :data:`SIDE_INFO_MCS`; no retransmission (a failed side-information block
    is a failed image)."""
    from semcom.phy.small_block import SmallBlockPipe

    return SmallBlockPipe(repetitions=2, fallback=NRBitPipe(SIDE_INFO_MCS, max_retransmissions=0))
