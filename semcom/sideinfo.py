"""Side information: what a decoder needs besides the symbols, sent and charged.

Every system that needs more than the image size and its configuration at the
receiver (a variable-length mask, a rate map, hyper-latent bits, quantizer ranges, a
normalization gain, the digital link's header) serializes it to bytes per image and
sends it through one :class:`SideInfoPath`: bits over the project's digital PHY
(:func:`semcom.phy.bitpipe.side_info_pipe`: one byte over a short control code,
RM(2, 5) + CRC6 with QPSK, 32 channel uses; longer payloads as 5G NR transport blocks
at MCS 3, QPSK rate 0.245; no retransmission, unless a system passes its own pipe).

* In evaluation (``simulate=True``) the bytes really cross the channel, with the
  same noise, fading and erasures as the symbols; a block that fails its CRC makes
  its image a counted failure. They draw their noise from a generator seeded by one
  draw of the caller's, so the symbols' noise does not depend on their length.
* In training (``simulate=False``) delivery is error-free, but the channel uses are
  charged by the same formula (:meth:`BitPipe.channel_uses`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor

from semcom.conventions import snr_to_batch


@dataclass
class SideDelivery:
    """Side information of a batch as the receiver got it.

    Attributes:
        payloads: received bytes per image (as long as those sent).
        ok: ``(B,)`` bool, every block of the image's side information passed its CRC.
        channel_uses: ``(B,)`` int64 complex channel uses of each image's side information.
    """

    payloads: list[bytes]
    ok: Tensor
    channel_uses: Tensor


def _own_generator(generator: torch.Generator | None) -> torch.Generator | None:
    """A CPU generator seeded by exactly one draw from ``generator`` (None stays None)."""
    if generator is None:
        return None
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    return torch.Generator().manual_seed(seed)


class SideInfoPath:
    """Sends per-image side-information bytes over a bit pipe (built lazily).

    Args:
        pipe: a :class:`semcom.phy.bitpipe.BitPipe`; default
            :func:`~semcom.phy.bitpipe.side_info_pipe`.
    """

    def __init__(self, pipe: Any = None) -> None:
        self._pipe = pipe

    @property
    def pipe(self) -> Any:
        """The bit pipe (the default one is created on first use)."""
        if self._pipe is None:
            from semcom.phy.bitpipe import side_info_pipe

            self._pipe = side_info_pipe()
        return self._pipe

    def charge(self, payloads: Sequence[bytes]) -> Tensor:
        """``(B,)`` int64 channel uses of one transmission of each image's payload."""
        return torch.tensor([self.pipe.channel_uses(len(p)) for p in payloads], dtype=torch.int64)

    def send(self, payloads: Sequence[bytes], channel: Any, snr_db: Any, generator: torch.Generator | None,
             simulate: bool = True) -> SideDelivery:
        """Deliver each image's ``payloads[b]`` at its SNR (simulated or error-free)."""
        if not simulate:
            return SideDelivery([bytes(p) for p in payloads], torch.ones(len(payloads), dtype=torch.bool),
                                self.charge(payloads))
        snr = snr_to_batch(snr_db, len(payloads)).detach().cpu()
        generator = _own_generator(generator)
        got, ok, uses = [], [], []
        for b, payload in enumerate(payloads):
            d = self.pipe.send(bytes(payload), channel, float(snr[b]), generator)
            got.append(d.payload)
            ok.append(bool(d.ok))
            uses.append(int(d.channel_uses))
        return SideDelivery(got, torch.tensor(ok, dtype=torch.bool), torch.tensor(uses, dtype=torch.int64))

    def describe(self) -> dict[str, Any]:
        """The pipe's description (for result files)."""
        return self.pipe.describe()
