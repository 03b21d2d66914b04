"""Payload bits <-> channel symbols of the NUQ link, and dequantization at the receiver.

Transmitter (per image, every image of a call has the same payload length ``T``):

* uncoded (``fec="none"``, the paper): the ``T`` bits are zero-padded to a whole number
  of symbols, scrambled (XOR with the TS 38.211 Gold sequence of the 5G PHY,
  :func:`semcom.phy.tb_codec.scrambling_sequence`, the same for every image: without
  it the mostly-zero high bits of small fixed-point magnitudes would put 16-QAM on a few
  points of very unequal power), and Gray-mapped by :func:`semcom.phy.modulation.modem`:
  BPSK ``x = 1 - 2 b`` on the real axis (one bit per channel use), QPSK / 16-QAM (2 / 4);
* 5G LDPC (``fec="ldpc"``): the bits are cut into transport blocks at an MCS and coded
  by the project's transport-block codec (TB CRC, LDPC, rate matching, scrambling;
  :class:`semcom.phy.tb_link.TransportBlockLink`), then QAM-mapped at the MCS's order.

The symbols are the constellation points as they are: every constellation has unit
average energy by construction, so no per-image scale factor exists that the receiver
would have to know (BPSK and QPSK have exactly unit power per image; scrambled 16-QAM
within about 1-2 % of it, averaged over the constellation).

Receiver: the channel output is zero-forced with its CSI and demapped to LLRs
``log P(b=1|y) / P(b=0|y)`` with the effective noise variance ``sigma2 / |h_hat|^2``
(:mod:`semcom.phy.modulation`: exact APP; erased symbols give 0), clipped to +-20, then
descrambled. Hard decisions are ``llr > 0``; soft decisions (:func:`soft_dequantize`)
replace each code word by its expected value under the bits' posteriors
``sigmoid(llr)``, taken as independent
(:func:`semcom.semantics.fixed_point.expected_value`, exact for independent bits). With
LDPC the decoder's hard output bits are dequantized and each image reports whether all
its transport blocks passed their CRC.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor

from semcom.channels.base import ChannelOutput
from semcom.errors import SemcomError
from semcom.phy.modulation import modem
from semcom.semantics.nuq import dequantize_payload, soft_dequantize_payload
from semcom.semantics.nuq_side_info import SideInfo, payload_layout

#: bits per channel use of each modulation
BITS_PER_SYMBOL = {"bpsk": 1, "qpsk": 2, "16qam": 4}


def symbols_for(num_bits: int, modulation: str) -> int:
    """Uncoded channel uses of ``num_bits`` bits: ``ceil(num_bits / bits_per_symbol)``."""
    q = BITS_PER_SYMBOL[modulation]
    return -(-int(num_bits) // q)


def _scrambler(length: int, device: torch.device) -> Tensor:
    from semcom.phy.tb_codec import scrambling_sequence

    return scrambling_sequence(length).to(device=device, dtype=torch.uint8)


def _on_cpu(out: ChannelOutput) -> ChannelOutput:
    return ChannelOutput(symbols=out.symbols.detach().cpu(), csi=out.csi.detach().cpu(),
                         noise_var=torch.as_tensor(out.noise_var).detach().cpu(),
                         erasures=None if out.erasures is None else out.erasures.cpu(),
                         gain=out.gain.detach().cpu())


def modulate(bits: Tensor, modulation: str) -> Tensor:
    """``(B, T)`` 0/1 payload bits -> ``(B, ceil(T / Q))`` complex64 constellation points
    (padded with zero bits, scrambled, Gray-mapped; unit average energy by construction,
    not rescaled per image)."""
    b, t = bits.shape
    q = BITS_PER_SYMBOL[modulation]
    padded = torch.zeros(b, symbols_for(t, modulation) * q, dtype=torch.uint8, device=bits.device)
    padded[:, :t] = bits.to(torch.uint8)
    padded ^= _scrambler(padded.shape[1], bits.device)
    return modem(q).map(padded.cpu()).to(bits.device)


def llrs(out: ChannelOutput, modulation: str, num_bits: int) -> Tensor:
    """``(B, k)`` channel output -> ``(B, num_bits)`` descrambled LLRs of the payload bits."""
    llr = modem(BITS_PER_SYMBOL[modulation]).demap_channel_output(_on_cpu(out)).to(out.symbols.device)
    if llr.shape[1] < num_bits:
        raise SemcomError(f"nuq: {llr.shape[1]} received bits per image, the payload has {num_bits}")
    flip = 1.0 - 2.0 * _scrambler(llr.shape[1], llr.device).float()
    return (llr.detach() * flip)[:, :num_bits]


def hard_bits(llr: Tensor) -> Tensor:
    """Hard decisions ``llr > 0`` as uint8 0/1."""
    return (llr > 0).to(torch.uint8)


def dequantize(bits: Tensor, sides: Sequence[SideInfo], shape: Sequence[int]) -> Tensor:
    """Features ``(B, ...)`` from hard payload bits ``(B, T)`` and each image's side info."""
    return dequantize_payload(bits, sides, shape)


def payload_bits(side: SideInfo, shape: Sequence[int]) -> int:
    """Payload length (bits) that ``side`` describes for one image of feature ``shape``
    (SemcomError when the side info does not fit the shape)."""
    return payload_layout(side, tuple(shape)).total_bits


def soft_dequantize(p_one: Tensor, sides: Sequence[SideInfo], shape: Sequence[int]) -> Tensor:
    """Features ``(B, ...)`` as the expected value of each code word under independent bit
    posteriors ``p_one = P(b = 1)``, ``(B, T)`` (the module notes)."""
    return soft_dequantize_payload(p_one, sides, shape)


# ----------------------------------------------------------------------------- 5G LDPC
class LDPCBits:
    """Payload bits over 5G NR transport blocks at a fixed MCS, one block set per image.

    Uses the public pieces of :class:`semcom.phy.tb_link.TransportBlockLink` (``plan``,
    ``modulate``, ``llrs``, ``codec``) so that the coded symbols are what the model's
    encoder emits and the harness's channel carries them; no retransmission.
    """

    def __init__(self) -> None:
        self._link: Any = None

    @property
    def link(self) -> Any:
        if self._link is None:
            from semcom.phy.tb_link import TransportBlockLink

            self._link = TransportBlockLink()
        return self._link

    def channel_uses(self, num_bits: int, mcs: int) -> int:
        return int(self.link.plan(int(num_bits), mcs).channel_uses)

    @torch.no_grad()
    def encode(self, bits: Tensor, mcs: int) -> Tensor:
        """``(B, T)`` bits -> ``(B, k)`` coded QAM symbols (unit-energy constellation points)."""
        from semcom.phy.tb_link import tb_bits

        b, t = bits.shape
        plan = self.link.plan(t, mcs)
        info = torch.cat([tb_bits(bits[i].float().cpu(), plan) for i in range(b)])
        return self.link.modulate(info, plan).reshape(b, -1).to(bits.device)

    @torch.no_grad()
    def decode(self, out: ChannelOutput, num_bits: int, mcs: int) -> tuple[Tensor, Tensor]:
        """Channel output ``(B, k)`` -> ``(B, num_bits)`` uint8 decoded bits and ``(B,)``
        bool: every transport block of the image passed its CRC."""
        b = out.symbols.shape[0]
        plan = self.link.plan(int(num_bits), mcs)
        llr = self.link.llrs(_on_cpu(out), plan)  # (B * num_tbs, G)
        decided, crc_ok, _ = self.link.codec(plan).decode(llr)
        bits = decided.reshape(b, -1)[:, :num_bits].round().to(torch.uint8)
        return bits.to(out.symbols.device), crc_ok.reshape(b, -1).all(dim=1).cpu()
