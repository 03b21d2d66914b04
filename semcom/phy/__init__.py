"""The digital PHY, built on Sionna PHY: 5G NR transport blocks (CRC, segmentation,
LDPC with rate matching), QAM with soft demapping from the channel's CSI, the MCS table
of TS 38.214 (table 1), the IEEE 802.11n (1944, 1458) LDPC code, HARQ (incremental redundancy by default), and
BLER tables in Sionna's format read by ``sionna.sys.PHYAbstraction`` for MCS selection
and for a PHY-abstraction mode that draws TB errors instead of decoding.

Typical use (bytes over a channel)::

    from semcom.phy import TransportBlockLink, select_mcs
    link = TransportBlockLink(max_retransmissions=3)     # HARQ-IR, 4 transmissions
    mcs = select_mcs(snr_db=10.0)                      # PHYAbstraction on the AWGN table
    k = link.channel_uses(len(payload), mcs)            # before sending
    delivery = link.send(payload, mcs, channel, 10.0, generator)
    delivery.payload, delivery.ok, delivery.channel_uses

Sionna is imported lazily by the classes that need it.
"""

from semcom.phy.abstract_link import AbstractTransportBlockLink, AbstractWifiLDPCLink
from semcom.phy.abstraction import bler, select_mcs, tb_error_rate, threshold_snr
from semcom.phy.mcs import MCS, check_usable_mcs, get_mcs, mcs_table, usable_mcs
from semcom.phy.modulation import LLR_CLIP, QAM, qam
from semcom.phy.tb_link import HARQ_MODES, Delivery, TransportBlockLink, bits_to_bytes, bytes_to_bits
from semcom.phy.transport import (DEFAULT_MAX_TB_BITS, TransportBlockCodec, TransportPlan,
                                  plan_transport)
from semcom.phy.wifi_ldpc import WifiDelivery, WifiLDPCEncoder, WifiLDPCLink, parity_check_matrix

__all__ = [
    "AbstractTransportBlockLink", "AbstractWifiLDPCLink", "DEFAULT_MAX_TB_BITS", "Delivery", "HARQ_MODES",
    "LLR_CLIP", "MCS", "QAM", "TransportBlockCodec",
    "TransportBlockLink", "TransportPlan", "WifiDelivery", "WifiLDPCEncoder", "WifiLDPCLink",
    "bits_to_bytes", "bler", "bytes_to_bits", "check_usable_mcs", "get_mcs", "mcs_table",
    "parity_check_matrix", "plan_transport", "qam", "select_mcs", "tb_error_rate",
    "threshold_snr", "usable_mcs",
]
