"""Payload bits <-> channel symbols of the NUQ link, and dequantization at the receiver.

Transmitter (per image, every image of a call has the same payload length ``T``):

* uncoded (``fec="none"``, the paper): the ``T`` bits are zero-padded to a whole number
  of symbols, scrambled (XOR with the TS 38.211 Gold sequence of the 5G PHY,
  :func:`semcom.phy.tb_codec.scrambling_sequence`, the same for every image: without
  it the mostly-zero high bits of small fixed-point magnitudes would put 16-QAM on a few
  points of very unequal power), and Gray-mapped: BPSK ``x = 1 - 2 b`` on the real axis
  (one bit per channel use), QPSK / 16-QAM by :func:`semcom.phy.qam` (2 / 4 bits);
* 5G LDPC (``fec="ldpc"``): the bits are cut into transport blocks at an MCS and coded
  by the project's transport-block codec (TB CRC, LDPC, rate matching, scrambling;
  :class:`semcom.phy.tb_link.TransportBlockLink`), then QAM-mapped at the MCS's order.

The symbols are then power-normalized per image (:func:`semcom.conventions.normalize_power`):
a no-op for BPSK and QPSK; for scrambled 16-QAM a factor within about 1-2 % of 1 that
the receiver does not know (it demaps on the unit-power grid).

Receiver: the channel output is zero-forced with its CSI and demapped to LLRs
``log P(b=1|y) / P(b=0|y)`` with the effective noise variance ``sigma2 / |h_hat|^2``
(exact APP for QAM; BPSK ``-4 Re(z) / sigma2_eff``; erased symbols give 0), clipped to
+-20, then descrambled. Hard decisions are ``llr > 0``; soft decisions
(:func:`soft_dequantize`) replace each code word by its expected value under the bits'
posteriors ``sigmoid(llr)``, taken as independent: ``E[x] = (1 - 2 p_sign) *
sum_j 2^j p_j * step * scale`` (linear in the bits, so the expectation is exact for
independent bits). With LDPC the decoder's hard output bits are dequantized.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor

from semcom.channels.base import ChannelOutput
from semcom.channels.equalization import effective_noise_var, equalize
from semcom.conventions import normalize_power
from semcom.errors import SemcomError
from semcom.phy.modulation import LLR_CLIP, qam
from semcom.semantics.nuq import SideInfo, UniformQuantizer

#: bits per channel use of each modulation
BITS_PER_SYMBOL = {"bpsk": 1, "qpsk": 2, "16qam": 4}
#: any quantizer decodes any side info; this one lays out and dequantizes payloads
_DEQUANTIZER = UniformQuantizer(1)


def symbols_for(num_bits: int, modulation: str) -> int:
    """Uncoded channel uses of ``num_bits`` bits: ``ceil(num_bits / bits_per_symbol)``."""
    q = BITS_PER_SYMBOL[modulation]
    return -(-int(num_bits) // q)


def _scrambler(length: int, device: torch.device) -> Tensor:
    from semcom.phy.tb_codec import scrambling_sequence

    return scrambling_sequence(length).to(device=device, dtype=torch.uint8)


def modulate(bits: Tensor, modulation: str) -> Tensor:
    """``(B, T)`` 0/1 payload bits -> ``(B, ceil(T / Q))`` complex64 symbols of unit power
    per image (padded with zero bits, scrambled, Gray-mapped)."""
    b, t = bits.shape
    q = BITS_PER_SYMBOL[modulation]
    padded = torch.zeros(b, symbols_for(t, modulation) * q, dtype=torch.uint8, device=bits.device)
    padded[:, :t] = bits.to(torch.uint8)
    padded ^= _scrambler(padded.shape[1], bits.device)
    if q == 1:
        re = 1.0 - 2.0 * padded.float()
        z = torch.complex(re, torch.zeros_like(re))
    else:
        z = qam(q).map(padded.cpu()).to(bits.device)
    return normalize_power(z)


def llrs(out: ChannelOutput, modulation: str, num_bits: int) -> Tensor:
    """``(B, k)`` channel output -> ``(B, num_bits)`` descrambled LLRs of the payload bits."""
    q = BITS_PER_SYMBOL[modulation]
    if q == 1:
        z = equalize(out, "zf")
        var = effective_noise_var(out)
        llr = torch.where(torch.isfinite(var), -4.0 * z.real / var.clamp_min(1e-30), torch.zeros_like(z.real))
        llr = llr.clamp(-LLR_CLIP, LLR_CLIP)
    else:
        cpu = ChannelOutput(symbols=out.symbols.detach().cpu(), csi=out.csi.detach().cpu(),
                            noise_var=torch.as_tensor(out.noise_var).detach().cpu(),
                            erasures=None if out.erasures is None else out.erasures.cpu(),
                            gain=out.gain.detach().cpu())
        llr = qam(q).demap_channel_output(cpu).to(out.symbols.device)
    if llr.shape[1] < num_bits:
        raise SemcomError(f"nuq: {llr.shape[1]} received bits per image, the payload has {num_bits}")
    flip = 1.0 - 2.0 * _scrambler(llr.shape[1], llr.device).float()
    return (llr.detach() * flip)[:, :num_bits]


def hard_bits(llr: Tensor) -> Tensor:
    """Hard decisions ``llr > 0`` as uint8 0/1."""
    return (llr > 0).to(torch.uint8)


def dequantize(bits: Tensor, sides: Sequence[SideInfo], shape: Sequence[int]) -> Tensor:
    """Features ``(B, ...)`` from hard payload bits and each image's side info."""
    return _DEQUANTIZER.decode(bits, sides, shape)


def payload_bits(side: SideInfo, shape: Sequence[int]) -> int:
    """Payload length (bits) that ``side`` describes for one image of feature ``shape``
    (SemcomError when the side info does not fit the shape)."""
    index, formats, _, offsets = _DEQUANTIZER._layout(side, tuple(shape))
    if not index.numel():
        return 0
    return int(offsets[-1]) + formats[int(index[-1])].total_bits


def soft_dequantize(p_one: Tensor, sides: Sequence[SideInfo], shape: Sequence[int]) -> Tensor:
    """Features ``(B, ...)`` as the expected value of each code word under independent bit
    posteriors ``p_one = P(b = 1)``, ``(B, T)`` (the module notes)."""
    shape = tuple(shape)
    p = p_one.detach().double().cpu()
    out = torch.zeros(shape, dtype=torch.float32)
    for b in range(shape[0]):
        index, formats, scales, offsets = _DEQUANTIZER._layout(sides[b], shape[1:])
        hat = torch.zeros(index.numel(), dtype=torch.float64)
        for j, (fmt, scale) in enumerate(zip(formats, scales)):
            sel = index == j
            if not fmt.total_bits or not bool(sel.any()):
                continue
            probs = p[b][offsets[sel].unsqueeze(1) + torch.arange(fmt.total_bits)]
            width = fmt.integer_bits + fmt.fraction_bits
            weights = 2.0 ** torch.arange(width - 1, -1, -1, dtype=torch.float64)
            magnitude = (probs[:, fmt.sign_bits:] * weights).sum(dim=1)
            sign = 1.0 - 2.0 * probs[:, 0] if fmt.sign_bits else torch.ones_like(magnitude)
            hat[sel] = sign * magnitude * (fmt.step * scale)
        out[b] = hat.float().reshape(shape[1:])
    return out.to(p_one.device)


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
        """``(B, T)`` bits -> ``(B, k)`` unit-power coded QAM symbols."""
        from semcom.phy.tb_link import tb_bits

        b, t = bits.shape
        plan = self.link.plan(t, mcs)
        info = torch.cat([tb_bits(bits[i].float().cpu(), plan) for i in range(b)])
        z = self.link.modulate(info, plan).reshape(b, -1)
        return normalize_power(z).to(bits.device)

    @torch.no_grad()
    def decode(self, out: ChannelOutput, num_bits: int, mcs: int) -> tuple[Tensor, Tensor]:
        """Channel output ``(B, k)`` -> ``(B, num_bits)`` uint8 decoded bits and ``(B,)``
        bool: every transport block of the image passed its CRC."""
        b = out.symbols.shape[0]
        plan = self.link.plan(int(num_bits), mcs)
        cpu = ChannelOutput(symbols=out.symbols.detach().cpu(), csi=out.csi.detach().cpu(),
                            noise_var=torch.as_tensor(out.noise_var).detach().cpu(),
                            erasures=None if out.erasures is None else out.erasures.cpu(),
                            gain=out.gain.detach().cpu())
        llr = self.link.llrs(cpu, plan)  # (B * num_tbs, G)
        decided, crc_ok, _ = self.link.codec(plan).decode(llr)
        bits = decided.reshape(b, -1)[:, :num_bits].round().to(torch.uint8)
        return bits.to(out.symbols.device), crc_ok.reshape(b, -1).all(dim=1).cpu()
