"""Belief-propagation decoding with early stopping, on Sionna's BP decoders.

Sionna's ``LDPCBPDecoder`` / ``LDPC5GDecoder`` always run a fixed number of
iterations for the whole batch. Most codewords above threshold converge after a few,
so :class:`EarlyStoppingBP` runs the Sionna decoder in chunks of ``check_every``
iterations, carrying its message state between chunks (``return_state=True``; a
flooding schedule resumed from the variable-to-check messages is the same as one
uninterrupted run), and after each chunk drops every codeword whose hard decision
satisfies all parity checks. The posterior needed for that check is read through
Sionna's documented ``v2c_callbacks`` hook. Results equal a fixed-iteration decode up
to the iteration at which each codeword was frozen.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from semcom.errors import SemcomError

#: Check-node rules accepted (Sionna's names). "boxplus" is exact and, in Sionna's
#: implementation, as fast as min-sum; "boxplus-phi" is exact but about 2x slower.
CN_UPDATES = ("boxplus", "boxplus-phi", "minsum", "offset-minsum")


#: Default torch intra-op threads while the PHY decodes. Sionna's BP is many mid-size
#: gathers and element-wise ops; on the shared 2-core machine, 2 threads ran 3-10x
#: slower (wall time) than 1 whenever other processes were busy (OpenMP threads
#: waiting on each other). Parallelize over images or processes instead.
DEFAULT_THREADS = 1


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run a block with ``threads`` torch intra-op threads (None: leave unchanged)."""
    old = torch.get_num_threads()
    if threads is None or threads == old:
        yield
        return
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(old)


class _PosteriorTap:
    """A v2c callback that keeps the latest a-posteriori LLRs (Sionna's internal sign:
    positive favours bit 0) without changing the messages."""

    def __init__(self) -> None:
        self.posterior: Tensor | None = None

    def __call__(self, msg_vn: Tensor, it: int, x_hat: Tensor) -> Tensor:
        self.posterior = x_hat
        return msg_vn


def check_decoder_settings(num_iter: int, check_every: int, cn_update: str, threads: int | None = 1) -> None:
    """Validate BP settings; raises :class:`SemcomError` with a clear message."""
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise SemcomError(f"threads must be a positive integer or None, got {threads!r}")
    if not isinstance(num_iter, int) or num_iter < 1:
        raise SemcomError(f"num_iter must be a positive integer, got {num_iter!r}")
    if not isinstance(check_every, int) or check_every < 1:
        raise SemcomError(f"check_every must be a positive integer, got {check_every!r}")
    if cn_update not in CN_UPDATES:
        raise SemcomError(f"cn_update must be one of {', '.join(CN_UPDATES)}, got {cn_update!r}")


class EarlyStoppingBP:
    """Chunked BP decoding that freezes each codeword once its syndrome is zero.

    Args:
        make_decoder: builds the Sionna decoder from keyword arguments
            (``num_iter``, ``cn_update``, ``hard_out``, ``return_state``,
            ``v2c_callbacks``); e.g. ``lambda **kw: LDPCBPDecoder(pcm, **kw)``.
        num_iter: maximum BP iterations per codeword.
        check_every: iterations between syndrome checks (1 = after every iteration).
        cn_update: Sionna check-node rule, one of :data:`CN_UPDATES`.
        threads: torch intra-op threads while decoding (None: the global setting).
    """

    def __init__(self, make_decoder: Callable[..., torch.nn.Module], num_iter: int = 20,
                 check_every: int = 2, cn_update: str = "boxplus",
                 threads: int | None = DEFAULT_THREADS) -> None:
        check_decoder_settings(num_iter, check_every, cn_update, threads)
        self.num_iter = num_iter
        self.check_every = check_every
        self.threads = threads
        self._tap = _PosteriorTap()
        self.decoder = make_decoder(num_iter=num_iter, cn_update=cn_update, hard_out=True,
                                    return_state=True, v2c_callbacks=[self._tap])
        pcm = sp.csr_matrix(self.decoder.pcm)
        cn_idx, vn_idx, _ = sp.find(pcm)
        self._cn_idx = torch.as_tensor(cn_idx, dtype=torch.int64)
        self._vn_idx = torch.as_tensor(vn_idx, dtype=torch.int64)
        self._num_checks = pcm.shape[0]

    def syndrome_ok(self, posterior: Tensor) -> Tensor:
        """``(N,)`` bool: does the hard decision of ``(N, num_vns)`` posterior LLRs
        (Sionna's internal sign) satisfy every parity check?"""
        bits = (posterior <= 0).to(torch.float32)
        counts = torch.zeros(bits.shape[0], self._num_checks, dtype=torch.float32)
        counts.index_add_(1, self._cn_idx, bits[:, self._vn_idx])
        return (torch.remainder(counts, 2.0) == 0).all(dim=1)

    @torch.inference_mode()
    def __call__(self, llr: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Decode a batch of codewords.

        Args:
            llr: ``(N, n)`` float32 channel LLRs ``log P(b=1)/P(b=0)`` in the layout the
                wrapped decoder expects (rate-matched bits for ``LDPC5GDecoder``).

        Returns:
            ``bits``: ``(N, m)`` float32 hard decisions (what the wrapped decoder
            returns: information bits for 5G, the codeword for ``LDPCBPDecoder``);
            ``iterations``: ``(N,)`` int64 iterations spent per codeword;
            ``converged``: ``(N,)`` bool, True where the syndrome was zero.
        """
        with torch_threads(self.threads):
            return self._decode(llr.float())

    def _decode(self, llr: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n_words = llr.shape[0]
        iterations = torch.zeros(n_words, dtype=torch.int64)
        converged = torch.zeros(n_words, dtype=torch.bool)
        out: Tensor | None = None
        active = torch.arange(n_words)
        state: Tensor | None = None
        done = 0
        while done < self.num_iter and active.numel():
            step = min(self.check_every, self.num_iter - done)
            bits, state = self.decoder(llr[active], num_iter=step, msg_v2c=state)
            ok = self.syndrome_ok(self._tap.posterior)
            if out is None:
                out = torch.zeros(n_words, bits.shape[-1], dtype=torch.float32)
            out[active] = bits.float()
            iterations[active] += step
            converged[active] = ok
            done += step
            keep = ~ok
            active, state = active[keep], state[keep]
        if out is None:  # empty batch
            out = torch.zeros(0, 0)
        return out, iterations, converged


def bp_decoder_factory(pcm: np.ndarray | sp.spmatrix, device: str = "cpu") -> Callable[..., torch.nn.Module]:
    """Factory for :class:`EarlyStoppingBP` around Sionna's generic ``LDPCBPDecoder``."""
    from sionna.phy.fec.ldpc import LDPCBPDecoder

    csr = sp.csr_matrix(pcm)

    def make(**kwargs: object) -> torch.nn.Module:
        return LDPCBPDecoder(csr, device=device, **kwargs)

    return make
