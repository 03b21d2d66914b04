"""The NUQ link's modulation: BPSK in :mod:`semcom.phy.modulation` (Sionna's 1-bit PAM),
its LLRs, and constellation points sent without a per-image scale the receiver would
have to know (a high-SNR round trip is bit-exact from the channel output alone)."""

from __future__ import annotations

import pytest
import torch

from semcom.channels.awgn import AWGN
from semcom.channels.base import ChannelOutput
from semcom.errors import SemcomError
from semcom.models.nuq import bits as bitlink
from semcom.phy.modulation import BPSK, QAM, modem
from semcom.phy.tb_codec import scrambling_sequence


def test_bpsk_maps_bit_b_to_one_minus_two_b_and_its_llr_is_minus_four_re_y_over_sigma2() -> None:
    bpsk = modem(1)
    assert isinstance(bpsk, BPSK) and bpsk.bits_per_symbol == 1
    assert isinstance(modem(4), QAM) and modem(4).bits_per_symbol == 4
    bits = torch.tensor([[0, 1, 1, 0]])
    torch.testing.assert_close(bpsk.map(bits), torch.tensor([[1, -1, -1, 1]], dtype=torch.complex64))
    y = torch.tensor([[0.3 + 0.7j, -1.2 - 0.1j]], dtype=torch.complex64)
    sigma2 = torch.tensor([[0.5, 2.0]])
    torch.testing.assert_close(bpsk.demap(y, sigma2), -4.0 * y.real / sigma2)
    assert bpsk.demap(torch.tensor([[-50.0 + 0j]]), 0.01).item() == 20.0  # clamped


def test_bpsk_erasures_and_deep_fades_give_zero_llrs() -> None:
    bpsk = modem(1)
    x = bpsk.map(torch.tensor([[0, 1, 0, 1]]))
    erased = torch.tensor([[False, True, False, False]])
    csi = torch.tensor([[1, 1, 0, 1]], dtype=torch.complex64)  # a deep fade on the third
    out = ChannelOutput(symbols=torch.where(erased, 0, x) * csi, csi=csi, noise_var=torch.full((1, 1), 0.01),
                        erasures=erased, gain=csi)
    llr = bpsk.demap_channel_output(out)
    assert torch.isfinite(llr).all() and llr[0, 1] == 0 and llr[0, 2] == 0
    assert llr[0, 0] < 0 < llr[0, 3]


def test_unknown_modem_order_is_one_clear_error() -> None:
    with pytest.raises(SemcomError, match="bits_per_symbol"):
        modem(3)


@pytest.mark.parametrize("modulation", ["bpsk", "qpsk", "16qam"])
def test_a_high_snr_round_trip_is_bit_exact_with_nothing_but_the_channel_output(modulation: str) -> None:
    # payload bits equal to the scrambling sequence: after scrambling every symbol is
    # the same point, far from unit power for 16-QAM; a per-image power normalization
    # would scale it by a factor the receiver never learns
    q = bitlink.BITS_PER_SYMBOL[modulation]
    n = 64 * q
    random = torch.randint(0, 2, (n,), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    bits = torch.stack([scrambling_sequence(n).to(torch.uint8), random])
    symbols = bitlink.modulate(bits, modulation)
    points = modem(q).points
    assert (symbols[:, :, None] - points).abs().min(dim=2).values.max() < 1e-6  # constellation points as they are
    assert torch.all(symbols[0] == symbols[0, 0])
    out = AWGN()(symbols, torch.full((2,), 50.0), torch.Generator().manual_seed(1))
    assert torch.equal(bitlink.hard_bits(bitlink.llrs(out, modulation, n)), bits)
