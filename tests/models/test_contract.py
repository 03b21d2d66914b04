"""The model side of the link contract: side information over the PHY, failures
counted, training charges the same, the receiver hook, decoder-side outputs."""

from __future__ import annotations

import pytest
import torch

from semcom.channels.awgn import AWGN
from semcom.channels.base import ChannelOutput
from semcom.channels.fading import RayleighFastFading
from semcom.errors import SemcomError
from semcom.conventions import LOST_IMAGE_VALUE
from semcom.phy import qam
from semcom.phy.bitpipe import side_info_pipe
from support.toy_models import ToyVariableLength


def _x(b=4):
    x = torch.rand(b, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    x[0] *= 0.1
    return x


def test_lost_side_information_is_a_counted_failure_not_a_crash():
    model = ToyVariableLength()
    res = model.transmit(_x(8), AWGN(), -12.0, torch.Generator().manual_seed(0))  # MCS 3 cannot survive
    failed = res.extras["failed"]
    assert failed.dtype == torch.bool and failed.all()
    assert (res.images == LOST_IMAGE_VALUE).all()
    assert (res.channel_uses >= side_info_pipe().channel_uses(2)).all()  # still charged
    ok = model.transmit(_x(8), AWGN(), 20.0, torch.Generator().manual_seed(0))
    assert not ok.extras["failed"].any()


def test_side_bytes_that_do_not_parse_fail_the_image():
    class Garbled(ToyVariableLength):
        def parse_side(self, payloads, shape, device):
            raise SemcomError("bad side information")

    res = Garbled().transmit(_x(2), AWGN(), 20.0)
    assert res.extras["failed"].all() and (res.images == LOST_IMAGE_VALUE).all()


def test_training_delivers_side_information_error_free_but_charges_the_same():
    model = ToyVariableLength().train()
    x = _x()
    out = model(x, AWGN(), -12.0, torch.Generator().manual_seed(0), rate=0.5)
    assert not out["failed"].any()  # error-free in training
    assert out["channel_uses"].tolist() == [12 + side_info_pipe().channel_uses(2)] * 4
    assert set(out["aux"]) == {"rate", "decoder_term"} and set(out["aux_dec"]) == {"decoder_term"}
    assert out["reconstructions"]["coarse"].shape == x.shape
    out["x_hat"].mean().backward()
    assert model.scale.grad is not None


def test_a_variable_length_model_without_side_information_is_refused():
    class Silent(ToyVariableLength):
        def encode(self, images, snr_db, rate=None):
            enc = super().encode(images, snr_db, rate)
            enc.side_bits = None
            return enc

    try:
        Silent().transmit(_x(1), AWGN(), 10.0)
    except SemcomError as e:
        assert "cannot know which were sent" in str(e)
    else:
        raise AssertionError("expected a SemcomError")


def test_a_model_can_receive_the_full_channel_output_and_demap_it_softly():
    seen = {}

    class Soft(ToyVariableLength):
        receives = "channel_output"

        def decode(self, received, snr_db, side, **kw):
            assert isinstance(received, ChannelOutput)
            seen["llr"] = qam(2).demap_channel_output(received)
            seen["csi"] = received.csi
            return super().decode(received.symbols / received.csi, snr_db, side, **kw)

    res = Soft().transmit(_x(2), RayleighFastFading(), 10.0, torch.Generator().manual_seed(0), rate=1.0)
    assert not res.extras["failed"].any()
    assert seen["llr"].shape[0] == 2 and torch.isfinite(seen["llr"]).all()
    assert not torch.allclose(seen["csi"], torch.ones_like(seen["csi"]))  # real fading CSI reached it


def test_only_the_image_whose_side_bytes_do_not_parse_fails():
    class OneBad(ToyVariableLength):
        def encode(self, images, snr_db, rate=None):
            enc = super().encode(images, snr_db, rate)
            enc.side_bits[1] = b"\x00\x01\x02"  # 3 bytes: does not parse
            return enc

    res = OneBad().transmit(_x(3), AWGN(), 20.0)
    assert res.extras["failed"].tolist() == [False, True, False]
    assert (res.images[1] == LOST_IMAGE_VALUE).all() and not (res.images[0] == LOST_IMAGE_VALUE).all()


def test_side_entries_not_sent_and_not_a_priori_are_refused_in_training_too():
    class Leaky(ToyVariableLength):
        def encode(self, images, snr_db, rate=None):
            enc = super().encode(images, snr_db, rate)
            enc.side_bits, enc.mask = None, None
            return enc

    for train in (True, False):
        model = Leaky().train(train)
        with pytest.raises(SemcomError, match="gives its decoder count without sending"):
            model(_x(1), AWGN(), 10.0)


def test_the_symbols_noise_does_not_depend_on_the_side_informations_length():
    class LongSide(ToyVariableLength):
        def encode(self, images, snr_db, rate=None):
            enc = super().encode(images, snr_db, rate)
            enc.side_bits = [p + bytes(200) for p in enc.side_bits]
            return enc

        def parse_side(self, payloads, shape, device):
            return super().parse_side([p[:2] for p in payloads], shape, device)

    x = _x(2)
    a = ToyVariableLength().transmit(x, AWGN(), 5.0, torch.Generator().manual_seed(0), rate=1.0)
    b = LongSide().transmit(x, AWGN(), 5.0, torch.Generator().manual_seed(0), rate=1.0)
    assert (b.channel_uses > a.channel_uses).all()
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)
