"""Variable-length transmission: masked power normalization and packed channel input."""

from __future__ import annotations

import torch

from semcom.channels.awgn import AWGN
from semcom.channels.base import ChannelOutput
from semcom.channels.fading import GaussMarkovFading
from semcom.channels.packing import send_masked
from semcom.conventions import normalize_power


def _symbols(b, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(b, k, generator=g), torch.randn(b, k, generator=g))


def test_masked_normalization_has_unit_power_per_sent_symbol():
    z = _symbols(3, 40)
    mask = torch.zeros(3, 40, dtype=torch.bool)
    mask[0, :10] = True
    mask[1, ::2] = True
    mask[2] = True
    out = normalize_power(z * 7.0, mask=mask)
    assert (out[~mask] == 0).all()
    power = out.abs().pow(2).sum(dim=1) / mask.sum(dim=1)
    torch.testing.assert_close(power, torch.ones(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(normalize_power(z, mask=torch.ones(3, 40, dtype=torch.bool)), normalize_power(z))


def test_unsent_symbols_pass_a_straight_through_gradient_to_the_mask_but_no_value():
    z = _symbols(2, 8)
    logits = torch.zeros(2, 8, requires_grad=True)
    hard = (torch.arange(8) < 3).float().expand(2, 8)  # first 3 sent
    mask = hard + torch.sigmoid(logits) - torch.sigmoid(logits).detach()  # straight-through
    sent = normalize_power(z, mask=mask)
    out = send_masked(AWGN(), sent, hard > 0.5, torch.full((2,), 10.0), torch.Generator().manual_seed(0))
    assert (out.symbols[:, 3:] == 0).all()  # nothing arrives where nothing was sent
    target = _symbols(2, 8, seed=5)
    (out.symbols - target).abs().pow(2).sum().backward()  # a decoder-like loss
    assert (logits.grad[:, 3:].abs() > 1e-4).all()  # switching a symbol on gets a gradient
    assert (logits.grad[:, :3].abs() > 0).any()


class Recorder(GaussMarkovFading):
    def __init__(self):
        super().__init__(a=0.9)
        self.inputs = []

    def forward(self, z, snr_db, generator=None) -> ChannelOutput:
        self.inputs.append(z.detach().clone())
        return super().forward(z, snr_db, generator)


def test_only_sent_symbols_enter_the_channel_in_order_and_come_back_in_place():
    z = _symbols(4, 12)
    mask = torch.zeros(4, 12, dtype=torch.bool)
    mask[0, [1, 4, 5]] = True
    mask[1, [0, 2, 11]] = True  # same length as image 0: sent together
    mask[2, :7] = True
    channel = Recorder()
    out = send_masked(channel, z, mask, torch.full((4,), 200.0), torch.Generator().manual_seed(0))
    shapes = sorted(tuple(t.shape) for t in channel.inputs)
    assert shapes == [(1, 7), (2, 3)]  # image 3 sends nothing: no call
    group = next(t for t in channel.inputs if t.shape == (2, 3))
    torch.testing.assert_close(group[0], z[0, [1, 4, 5]])
    torch.testing.assert_close(group[1], z[1, [0, 2, 11]])
    # near-noiseless: what arrives, divided by the channel, is what was sent, in place
    received = out.symbols / out.gain
    torch.testing.assert_close(received[mask], z[mask], atol=1e-4, rtol=1e-4)
    assert (out.symbols[~mask] == 0).all() and (out.csi[~mask] == 1).all()
    assert out.noise_var.shape == (4, 12) and (out.noise_var[~mask] >= 0).all()


def test_without_a_mask_it_is_one_plain_channel_call():
    z = _symbols(2, 10)
    a = send_masked(AWGN(), z, None, torch.tensor([5.0, 5.0]), torch.Generator().manual_seed(1))
    b = AWGN()(z, torch.tensor([5.0, 5.0]), torch.Generator().manual_seed(1))
    torch.testing.assert_close(a.symbols, b.symbols, rtol=0, atol=0)
