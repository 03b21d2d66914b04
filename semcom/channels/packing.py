"""Variable-length transmission: only the sent symbols enter the channel, in order.

A variable-rate encoder produces ``(B, k)`` symbols and a ``(B, k)`` mask of those it
sends. :func:`send_masked` packs each image's sent symbols into a contiguous sequence
(in their original order), sends the images of equal length together through the
channel (so time-correlated channels: Gauss-Markov, bursts, block fading, see the real
sequence and nothing else), and unpacks what arrived back to ``(B, k)`` positions:
unsent positions carry ``y = 0``, ``h = h_hat = 1`` and are not erased. Without a mask
(or with every symbol sent) it is exactly one channel call.
"""

from __future__ import annotations

import torch
from torch import Tensor

from semcom.channels.base import ChannelOutput
from semcom.conventions import snr_to_batch
from semcom.errors import SemcomError


def sent_counts(mask: Tensor | None, batch: int, length: int) -> Tensor:
    """``(B,)`` int64 symbols each image sends (``length`` for every image without a mask)."""
    if mask is None:
        return torch.full((batch,), int(length), dtype=torch.int64)
    return mask.reshape(batch, -1).to(torch.bool).sum(dim=1).to(torch.int64).cpu()


def check_mask(mask: Tensor | None, symbols: Tensor) -> Tensor | None:
    """A ``(B, k)`` bool mask matching ``(B, k)`` symbols (None stays None)."""
    if mask is None:
        return None
    if tuple(mask.shape) != tuple(symbols.shape):
        raise SemcomError(f"symbol mask of shape {tuple(mask.shape)} does not match symbols "
                          f"{tuple(symbols.shape)}")
    return mask.to(torch.bool)


def send_masked(channel: torch.nn.Module, symbols: Tensor, mask: Tensor | None, snr_db: Tensor,
                generator: torch.Generator | None = None) -> ChannelOutput:
    """Send the masked symbols of each image through ``channel``; differentiable.

    Args:
        channel: a :class:`semcom.channels.base.Channel`.
        symbols: ``(B, k)`` complex symbols (unsent ones are ignored).
        mask: ``(B, k)`` bool, True where a symbol is sent; None: all are sent.
        snr_db: ``(B,)`` SNR per image in dB.
        generator: randomness of the channel.

    Returns:
        A :class:`ChannelOutput` with ``(B, k)`` fields at the original positions.
    """
    mask = check_mask(mask, symbols)
    b, k = symbols.shape
    snr = snr_to_batch(snr_db, b, symbols.device)
    if mask is None or bool(mask.all()):
        return channel(symbols, snr, generator)
    counts = mask.sum(dim=1)
    device = symbols.device
    y = torch.zeros(b, k, dtype=torch.complex64, device=device)
    csi = torch.ones(b, k, dtype=torch.complex64, device=device)
    gain = torch.ones(b, k, dtype=torch.complex64, device=device)
    noise_var = torch.zeros(b, k, dtype=torch.float32, device=device)
    erasures = torch.zeros(b, k, dtype=torch.bool, device=device)
    any_erasures = False
    # images of equal length go together, in order of first appearance
    for length in dict.fromkeys(counts.tolist()):
        if length == 0:
            continue
        rows = torch.nonzero(counts == length).reshape(-1)
        sub_mask = mask[rows]
        packed = symbols[rows][sub_mask].reshape(rows.numel(), length)  # row-major: in order
        out = channel(packed, snr[rows], generator)
        r, c = torch.nonzero(sub_mask, as_tuple=True)
        at = (rows[r], c)
        y = y.index_put(at, out.symbols.reshape(-1))
        csi = csi.index_put(at, out.csi.reshape(-1))
        gain = gain.index_put(at, out.gain.reshape(-1))
        var = torch.as_tensor(out.noise_var, dtype=torch.float32, device=device).expand(rows.numel(), length)
        noise_var = noise_var.index_put(at, var.reshape(-1))
        if out.erasures is not None:
            any_erasures = True
            erasures = erasures.index_put(at, out.erasures.reshape(-1))
    # unsent positions arrive as 0, but pass a straight-through gradient (as if sent
    # over an ideal channel), so a policy learns to switch a symbol on as well as off
    off = (~mask).to(symbols.real.dtype)
    y = y + (symbols - symbols.detach()) * off
    # unsent positions: noise variance of the image (keeps MMSE weights finite)
    fill = torch.where(mask, noise_var, noise_var.amax(dim=1, keepdim=True).expand(b, k))
    return ChannelOutput(symbols=y, csi=csi, noise_var=fill, erasures=erasures if any_erasures else None,
                         gain=gain)
