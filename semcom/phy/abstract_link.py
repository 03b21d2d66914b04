"""PHY-abstraction links: transport-block errors drawn from the BLER tables instead of
decoding every block (for large sweeps; full simulation stays the default).

:class:`AbstractTransportBlockLink` has :class:`~semcom.phy.tb_link.TransportBlockLink`'s
accounting and ``send`` signature and returns the same :class:`Delivery`. Each round
really encodes, modulates and sends the pending TBs through the channel (so channel
uses, the channel's random draws and time-correlated channels are exactly as in full
simulation); then, per TB, the post-equalization SINRs ``|h_i|^2 / sigma2`` of its
symbols (0 where erased) are mapped to an effective SNR by EESM
(:func:`~semcom.phy.abstraction.eesm_db`) and the TB fails with the tabulated
probability :func:`~semcom.phy.abstraction.tb_error_rate` at its code-block size and
count. A TB that passes delivers its exact bits; a failed one delivers random bits
(and ``tb_ok`` False).

Retransmissions: ``"none"`` draws each round on its own SINRs. ``"chase"`` adds the
per-symbol SINRs of all transmissions of a TB (maximum-ratio combining of identical
copies, exact for the LLR sum). ``"ir"`` is abstracted the same way, as chase
combining: the tables hold first transmissions only, and incremental redundancy gains
at least what chase combining gains, so abstraction is conservative for IR
retransmissions (first transmissions, which decide almost every outcome at the
selected MCS, are exact).

:class:`AbstractWifiLDPCLink` does the same for the 802.11n code (one draw per block).
"""

from __future__ import annotations

import numpy as np
import torch

from semcom.channels.base import Channel, ChannelOutput
from semcom.channels.equalization import effective_noise_var
from semcom.phy.abstraction import eesm_db, tb_error_rate, wifi_bler
from semcom.phy.mcs import MCS, get_mcs
from semcom.phy.tb_link import Delivery, TransportBlockLink, bits_to_bytes, bytes_to_bits, tb_bits
from semcom.phy.wifi_ldpc import K, WifiDelivery, WifiLDPCLink


def symbol_sinr(out: ChannelOutput) -> torch.Tensor:
    """Linear post-equalization SINR of every received symbol (0 where erased), flat."""
    var = effective_noise_var(out).reshape(-1).double()
    sinr = torch.where(torch.isfinite(var) & (var > 0), 1.0 / var.clamp_min(1e-30), torch.zeros_like(var))
    if out.erasures is not None:
        sinr = torch.where(out.erasures.reshape(-1), torch.zeros_like(sinr), sinr)
    return sinr


class AbstractTransportBlockLink:
    """:class:`TransportBlockLink` with TB errors drawn from the tables (module notes).

    Args:
        link: the full-simulation link whose sizing, MCS and HARQ settings are used
            (a default one if None).
    """

    def __init__(self, link: TransportBlockLink | None = None) -> None:
        self.link = link or TransportBlockLink()

    def __getattr__(self, name: str):  # accounting and settings come from the wrapped link
        if name == "link":
            raise AttributeError(name)
        return getattr(self.link, name)

    @torch.inference_mode()
    def send(self, payload: bytes, mcs: int | MCS, channel: Channel, snr_db: float,
             generator: torch.Generator | None = None) -> Delivery:
        """Deliver ``payload`` with drawn TB errors; the arguments of
        :meth:`TransportBlockLink.send`."""
        link = self.link
        m = get_mcs(mcs)
        bits = bytes_to_bits(payload)
        plan = link.plan(bits.numel(), m)
        t = plan.num_tbs
        empty = torch.zeros(t, dtype=torch.bool)
        zeros = torch.zeros(t, dtype=torch.int64)
        if t == 0:
            return Delivery(b"", empty, empty, zeros, 0, zeros, plan)
        info = tb_bits(bits, plan)
        symbols = link.modulate(info, plan)
        cbs = (plan.tb_bits + plan.crc_bits_per_tb) // plan.num_code_blocks
        combined = torch.zeros(t, plan.symbols_per_tb, dtype=torch.float64)
        tb_ok, transmissions, first_ok = empty.clone(), zeros.clone(), empty
        pending = torch.arange(t)
        uses = 0
        for round_ in range(1 + link.max_retransmissions):
            z = symbols[pending].reshape(1, -1)
            out = channel(z, float(snr_db), generator)
            uses += z.shape[1]
            sinr = symbol_sinr(out).reshape(-1, plan.symbols_per_tb)
            if link.harq == "none":
                combined[pending] = sinr
            else:
                combined[pending] += sinr
            p = tb_error_rate(m.index, cbs, plan.num_code_blocks, eesm_db(combined[pending].numpy(), m.index))
            ok = torch.rand(pending.numel(), generator=generator, dtype=torch.float64) >= torch.from_numpy(
                np.asarray(p, dtype=np.float64))
            tb_ok[pending] = ok
            transmissions[pending] += 1
            if round_ == 0:
                first_ok = tb_ok.clone()
            pending = pending[~ok]
            if pending.numel() == 0:
                break
        decided = info.clone()
        if (~tb_ok).any():
            decided[~tb_ok] = torch.randint(0, 2, (int((~tb_ok).sum()), plan.tb_bits), generator=generator).float()
        received = bits_to_bytes(decided.reshape(-1)[:plan.payload_bits])
        return Delivery(received, tb_ok, first_ok, transmissions, uses, zeros, plan)


def nearest_nr_mcs(bits_per_symbol: int, code_rate: float) -> int:
    """The usable NR MCS (table 1) of ``bits_per_symbol`` whose rate is nearest ``code_rate``
    (the highest-rate one for a QAM order table 1 lacks, e.g. 256-QAM)."""
    from semcom.phy.mcs import usable_mcs

    rows = [get_mcs(i) for i in usable_mcs()]
    same = [r for r in rows if r.modulation_order == int(bits_per_symbol)] or rows[-1:]
    return min(same, key=lambda r: abs(r.code_rate - code_rate)).index


class AbstractWifiLDPCLink:
    """:class:`WifiLDPCLink` with block errors drawn from the 802.11n table at each
    block's EESM effective SNR (``beta`` of the NR MCS of the same QAM order and the
    rate nearest 3/4: :func:`nearest_nr_mcs`).

    Args:
        link: the full-simulation link whose QAM order is used (default if None).
    """

    def __init__(self, link: WifiLDPCLink | None = None) -> None:
        self.link = link or WifiLDPCLink()

    def __getattr__(self, name: str):
        if name == "link":
            raise AttributeError(name)
        return getattr(self.link, name)

    @torch.inference_mode()
    def send(self, payload: bytes, channel: Channel, snr_db: float,
             generator: torch.Generator | None = None) -> WifiDelivery:
        """Deliver ``payload`` with drawn block errors (arguments of ``WifiLDPCLink.send``)."""
        link = self.link
        bits = bytes_to_bits(payload)
        blocks = link.num_blocks(len(payload))
        if blocks == 0:
            empty = torch.zeros(0, dtype=torch.int64)
            return WifiDelivery(b"", empty.bool(), 0, empty)
        k = link.channel_uses(len(payload))
        z = link.modulator.map(torch.randint(0, 2, (k * link.bits_per_symbol,), generator=generator).float())
        out = channel(z.reshape(1, -1), float(snr_db), generator)
        sinr = symbol_sinr(out).numpy().reshape(blocks, -1)  # the symbols of each 1944-bit block
        snr_blk = eesm_db(sinr, nearest_nr_mcs(link.bits_per_symbol, 0.75))
        ok = torch.rand(blocks, generator=generator, dtype=torch.float64) >= torch.from_numpy(
            np.asarray(wifi_bler(link.bits_per_symbol, snr_blk), dtype=np.float64))
        info = torch.zeros(blocks * K)
        info[:bits.numel()] = bits
        info = info.reshape(blocks, K)
        if (~ok).any():
            info[~ok] = torch.randint(0, 2, (int((~ok).sum()), K), generator=generator).float()
        received = bits_to_bytes(info.reshape(-1)[:bits.numel()])
        return WifiDelivery(received, ok, int(out.symbols.shape[-1]), torch.zeros(blocks, dtype=torch.int64))
