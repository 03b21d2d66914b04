"""A control channel for one-byte side information: a short block code instead of a transport block.

An NR transport block cannot be shorter than 32 bits (:data:`~semcom.phy.bitpipe.MIN_PAYLOAD_BYTES`)
and carries a 16-bit CRC; at MCS 3 one costs 66-115 complex channel uses, whatever the
payload, which is a large share of a 32x32 image's budget (256 channel uses at CBR
1/12) for side information such as AR-JSCC's group count (one byte). 5G itself codes
such small control payloads with short block codes (TS 38.212 5.3.3; UCI on PUCCH
format 2 uses a (32, K) Reed-Muller-based code), not with LDPC transport blocks.
:class:`SmallBlockPipe` follows that design with textbook parts:

* the 8 payload bits, 2 zero bits known to both sides and the 5G CRC6 (Sionna's
  ``CRCEncoder("CRC6")``) make 16 information bits;
* the second-order Reed-Muller code RM(2, 5) (length 32, dimension 16, minimum
  distance 8; generator from the monomials of degree <= 2 in 5 variables, row-reduced
  so that the information bits sit at its pivot columns) encodes them
  (Sionna's ``LinearEncoder``); the codeword is repeated ``repetitions`` times (default 2)
  and QPSK-modulated (16 complex channel uses per repetition);
* the receiver demaps (zero-forcing equalization with the channel's CSI, as every pipe
  here), adds the LLRs of the repetitions and decodes with Sionna's ordered-statistics
  decoder (``OSDecoder``, order 3: near maximum likelihood for this code); the CRC
  and the two known bits are checked, and an image whose side information fails them
  counts as failed, as with a transport block.

Payloads of more than one byte go to ``fallback`` (by default the NR transport-block
pipe at :data:`~semcom.phy.bitpipe.SIDE_INFO_MCS`).

This is a project design in the spirit of 38.212's small-block coding, not its
bit-exact (32, K) code (whose basis table is not reproduced here); its cost and
robustness are measured by ``benchmarks/side_info_pipes.py``.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from typing import Any

import numpy as np
import torch

from semcom.errors import SemcomError
from semcom.phy.bitpipe import BitDelivery, BitPipe

#: payload bytes the block code carries (longer payloads use the fallback pipe)
MAX_BYTES = 1
#: code length and dimension of RM(2, 5)
CODE_LENGTH, CODE_DIMENSION = 32, 16
#: zero bits known to both sides, between the payload and the CRC
KNOWN_ZERO_BITS = 2
#: bits per QPSK symbol
_QPSK = 2


def reed_muller_generator(order: int = 2, variables: int = 5) -> np.ndarray:
    """Generator matrix ``(k, 2**variables)`` of the Reed-Muller code RM(order, variables):
    one row per monomial of degree <= ``order`` (the constant first), evaluated at every
    point of ``{0, 1}**variables``; uint8."""
    points = (np.arange(2**variables)[:, None] >> np.arange(variables)[None, :]) & 1
    rows = [np.ones(2**variables, dtype=np.uint8)]
    for degree in range(1, order + 1):
        for subset in combinations(range(variables), degree):
            rows.append(np.prod(points[:, list(subset)], axis=1).astype(np.uint8))
    return np.stack(rows)


def row_reduced(generator: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """The reduced row echelon form over GF(2) of a full-rank ``(k, n)`` generator (the
    same code) and its pivot columns: the information bits of a codeword ``u @ G`` of
    the reduced form are the codeword's bits at the pivots."""
    g = generator.copy() % 2
    pivots, row = [], 0
    for col in range(g.shape[1]):
        hits = np.nonzero(g[row:, col])[0]
        if not hits.size:
            continue
        g[[row, row + hits[0]]] = g[[row + hits[0], row]]
        for other in np.nonzero(g[:, col])[0]:
            if other != row:
                g[other] ^= g[row]
        pivots.append(col)
        row += 1
        if row == g.shape[0]:
            break
    if row != g.shape[0]:
        raise SemcomError("the generator matrix is not of full rank")
    return g, pivots


@lru_cache(maxsize=None)
def _coder(osd_order: int) -> tuple[Any, Any, Any, Any, list[int]]:
    from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
    from sionna.phy.fec.linear import LinearEncoder, OSDecoder

    generator, pivots = row_reduced(reed_muller_generator())
    crc_encoder = CRCEncoder("CRC6")
    return (crc_encoder, CRCDecoder(crc_encoder), LinearEncoder(generator),
            OSDecoder(generator, t=int(osd_order)), pivots)


class SmallBlockPipe(BitPipe):
    """One-byte payloads over RM(2, 5) + CRC6 + QPSK with repetition (see the module docstring).

    Args:
        repetitions: transmissions of the 32-bit codeword, soft-combined (>= 1).
        fallback: the pipe of payloads longer than :data:`MAX_BYTES` bytes (default: the
            NR transport-block side-information pipe, built on first use).
        osd_order: order of the ordered-statistics decoder.
    """

    name = "small-block"

    def __init__(self, repetitions: int = 2, fallback: BitPipe | None = None, osd_order: int = 3) -> None:
        if isinstance(repetitions, bool) or not isinstance(repetitions, int) or repetitions < 1:
            raise SemcomError(f"repetitions must be an int >= 1, got {repetitions!r}")
        self.repetitions = repetitions
        self.osd_order = int(osd_order)
        self._fallback = fallback

    @property
    def fallback(self) -> BitPipe:
        """The pipe of longer payloads."""
        if self._fallback is None:
            from semcom.phy.bitpipe import SIDE_INFO_MCS, NRBitPipe

            self._fallback = NRBitPipe(SIDE_INFO_MCS, max_retransmissions=0)
        return self._fallback

    def channel_uses(self, num_bytes: int) -> int:
        """16 complex channel uses per repetition for 1 byte; the fallback's cost above."""
        if not num_bytes:
            return 0
        if num_bytes > MAX_BYTES:
            return self.fallback.channel_uses(num_bytes)
        return self.repetitions * CODE_LENGTH // _QPSK

    def send(self, payload: bytes, channel: Any, snr_db: float,
             generator: torch.Generator | None = None, mcs: int | None = None) -> BitDelivery:
        """Deliver ``payload`` (``mcs`` goes to the fallback; the block code has none)."""
        if not payload:
            return BitDelivery(b"", True, 0, 0)
        if len(payload) > MAX_BYTES:
            return self.fallback.send(payload, channel, snr_db, generator, mcs)
        from semcom.phy.modulation import modem
        from semcom.phy.tb_link import bits_to_bytes, bytes_to_bits

        crc_encoder, crc_decoder, encoder, decoder, pivots = _coder(self.osd_order)
        with torch.inference_mode():
            info = torch.cat([bytes_to_bits(bytes(payload)).float(), torch.zeros(KNOWN_ZERO_BITS)])
            word = encoder(crc_encoder(info[None]))[0]
            qpsk = modem(_QPSK)
            out = channel(qpsk.map(word.repeat(self.repetitions)).reshape(1, -1), float(snr_db), generator)
            llr = qpsk.demap_channel_output(out).reshape(self.repetitions, CODE_LENGTH).sum(dim=0)
            decided = decoder(llr[None])[0, pivots]
            bits, crc_ok = crc_decoder(decided[None])
            bits = bits[0]
            ok = bool(crc_ok.reshape(-1)[0]) and not bool(bits[8:].any())
        return BitDelivery(bits_to_bytes(bits[:8]), ok, int(out.symbols.shape[-1]), 1)

    def describe(self) -> dict[str, Any]:
        return {"pipe": self.name, "code": "RM(2,5) + CRC6, QPSK", "repetitions": self.repetitions,
                "osd_order": self.osd_order, "fallback": self.fallback.describe()}


__all__ = ["CODE_DIMENSION", "CODE_LENGTH", "MAX_BYTES", "SmallBlockPipe", "reed_muller_generator",
           "row_reduced"]
