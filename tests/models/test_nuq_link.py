"""NUQ link: bits as QAM symbols, side information charged, exact at high SNR, bit errors
at low SNR, settings, the transmitter's gradient pass, both training stages, checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from semcom.channels.awgn import AWGN
from semcom.conventions import LOST_IMAGE_VALUE, mse_per_image, normalize_power, real_to_complex
from semcom.errors import SemcomError
from semcom.models import create_model, load_model, save_model
from semcom.models.base import Decoded, Encoded, JSCCModel
from semcom.models.nuq import NUQ
from semcom.models.nuq import bits as bitlink
from semcom.phy.bitpipe import side_info_pipe
from semcom.registry import SYSTEMS
from support.recording import RecordingAWGN as Recording
from semcom.semantics.nuq import NonUniformQuantizer

N_FEATURES = 4 * 8 * 8  # tiny model, 32x32 images: 4 channels at 8x8
PIPE = side_info_pipe()


def _tiny(**kw) -> NUQ:
    torch.manual_seed(0)
    return create_model("nuq", **{**NUQ.tiny_config(), **kw})


def _x(b: int = 2, side: int = 32, seed: int = 2) -> torch.Tensor:
    coarse = torch.rand(b, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse, size=side, mode="bilinear", align_corners=False).clamp(0, 1)


def _snr(b: int, db: float) -> torch.Tensor:
    return torch.full((b,), float(db))


def test_registered_sizes_and_config():
    assert SYSTEMS.get("nuq") is NUQ
    paper, small = NUQ(size="paper"), NUQ()
    assert (paper.widths, paper.depths, paper.window) == ((128, 256), (2, 4), 2)
    assert (small.widths, small.depths, small.heads) == ((64, 128), (2, 2), (2, 4))
    assert small.mode == {"quantize": "ste"} and "quantize" not in small.config
    assert {s.name for s in NUQ.settings} >= {"quantizer", "budget_bits", "contribution", "modulation",
                                              "categories", "allocation", "decisions", "fec"}


@pytest.mark.parametrize("modulation", ["bpsk", "qpsk", "16qam"])
@pytest.mark.parametrize("quantizer", ["uniform", "nonuniform"])
def test_channel_uses_are_the_qam_symbols_plus_the_charged_side_information(modulation, quantizer):
    model = _tiny()
    channel = Recording()
    res = model.transmit(_x(), channel, 20.0, torch.Generator().manual_seed(0), modulation=modulation,
                         quantizer=quantizer)
    bits = 8 * N_FEATURES
    q = bitlink.BITS_PER_SYMBOL[modulation]
    side_bytes = -(-int(res.extras["side_info_bits"][0]) // 8)
    assert res.extras["payload_bits"].tolist() == [bits, bits]
    assert res.channel_uses.tolist() == [bits // q + PIPE.channel_uses(side_bytes)] * 2
    assert channel.count == int(res.channel_uses.sum())  # what passed the channel is what is counted
    # uniform: m, one split and |x|min, |x|max; NUQ: m, map kind, axis, map length, 3 of
    # those, the extra bit's category and count, 2 bits for each of the 4 channels
    nuq_bits = 8 + 1 + 4 + 32 + 3 * 43 + 2 + 32 + 2 * 4
    assert res.extras["side_info_bits"].tolist() == [51 if quantizer == "uniform" else nuq_bits] * 2
    assert not res.extras["failed"].any()


def test_the_unquantized_reference_sends_two_features_per_symbol_and_no_side_information():
    res = _tiny().transmit(_x(), Recording(), 10.0, quantizer="none")
    assert res.channel_uses.tolist() == [N_FEATURES // 2] * 2 and "failed" not in res.extras


@pytest.mark.parametrize("modulation", ["bpsk", "qpsk", "16qam"])
def test_at_60_db_the_receiver_gets_exactly_the_quantized_features(modulation):
    model = _tiny().eval()
    x, snr = _x(), _snr(2, 60.0)
    with torch.no_grad():
        features = model.analysis(x)
        c = model.contributions(features, x)
        quantizer = NonUniformQuantizer(8.0, 3)
        hat = quantizer.decode(*quantizer.encode(features, c), features.shape)  # what was sent
        enc = model.encode(x, snr, modulation=modulation)
        symbols = enc.symbols
        # constellation points as they are: unit power exactly for BPSK and QPSK, on average for 16-QAM
        power_tolerance = 0.05 if modulation == "16qam" else 1e-5
        torch.testing.assert_close(symbols.abs().pow(2).mean(dim=1), torch.ones(2), atol=power_tolerance, rtol=0)
        out = model.receive(AWGN(), enc, snr, torch.Generator().manual_seed(1))
        got, failed = model.received_features(out, enc.side, modulation=modulation)
        full = model(x, AWGN(), 60.0, torch.Generator().manual_seed(1), modulation=modulation)
        want = model.synthesis(hat)
    assert torch.equal(got, hat) and not failed.any()
    assert not full["failed"].any()
    torch.testing.assert_close(full["x_hat"], want, rtol=0, atol=0)


def test_ldpc_carries_the_bits_exactly_and_charges_its_coded_symbols():
    model = _tiny().eval()
    x = _x()
    res = model.transmit(x, Recording(), 3.0, torch.Generator().manual_seed(0), fec="ldpc")
    side_bytes = -(-int(res.extras["side_info_bits"][0]) // 8)
    coded = model.ldpc.channel_uses(8 * N_FEATURES, 3)  # QPSK, rate 251/1024
    assert res.channel_uses.tolist() == [coded + PIPE.channel_uses(side_bytes)] * 2
    with torch.no_grad():
        enc = model.encode(x, _snr(2, 3.0), fec="ldpc")
        out = model.receive(AWGN(), enc, _snr(2, 3.0), torch.Generator().manual_seed(1))
        got, failed = model.received_features(out, enc.side, fec="ldpc")
        features, q = model.analysis(x), NonUniformQuantizer(8.0, 3)
        want = q.decode(*q.encode(features, model.contributions(features, x)), features.shape)
    assert torch.equal(got, want) and not failed.any()  # uncoded QPSK at 3 dB would have ~2 % bit errors


def test_a_transport_block_that_fails_its_crc_fails_the_image(monkeypatch):
    model = _tiny().eval()
    x = _x()
    real_decode = model.ldpc.decode

    def first_image_fails(out, num_bits, mcs):
        bits, crc_ok = real_decode(out, num_bits, mcs)
        return bits, crc_ok & torch.tensor([False, True])

    monkeypatch.setattr(model.ldpc, "decode", first_image_fails)
    res = model.transmit(x, AWGN(), 10.0, torch.Generator().manual_seed(0), fec="ldpc")
    assert res.extras["failed"].tolist() == [True, False]
    assert torch.all(res.images[0] == LOST_IMAGE_VALUE) and not torch.all(res.images[1] == LOST_IMAGE_VALUE)


def test_ldpc_crc_failures_at_low_snr_are_reported_even_with_the_side_information_intact():
    model = _tiny().eval()
    x = _x()
    with torch.no_grad():  # side information delivered error-free: only the payload can fail
        out = model(x, AWGN(), -6.0, torch.Generator().manual_seed(0), simulate_side=False, fec="ldpc")
        clean = model(x, AWGN(), 10.0, torch.Generator().manual_seed(0), simulate_side=False, fec="ldpc")
    assert out["failed"].all() and torch.all(out["x_hat"] == LOST_IMAGE_VALUE)
    assert not clean["failed"].any()


class _FailingDecoder(JSCCModel):
    """Analog symbols; the decoder says it could not decode the first image."""

    name = "failing-decoder"

    def encode(self, images, snr_db):
        return Encoded(symbols=normalize_power(real_to_complex(images.flatten(1))))

    def decode(self, received, snr_db, side):
        b = received.shape[0]
        images = torch.full((b, 3, 4, 4), 0.9)
        return Decoded(images=images, failed=torch.arange(b) == 0)


def test_a_decoder_that_reports_failed_images_gets_them_marked_failed_and_gray():
    out = _FailingDecoder()(torch.rand(3, 3, 4, 4), AWGN(), 20.0, torch.Generator().manual_seed(0))
    assert out["failed"].tolist() == [True, False, False]
    assert torch.all(out["x_hat"][0] == LOST_IMAGE_VALUE) and torch.all(out["x_hat"][1:] == 0.9)


def test_low_snr_gives_bit_errors_and_still_an_image():
    model = _tiny().eval()
    x, snr = _x(3), _snr(3, 2.0)
    with torch.no_grad():
        features = model.analysis(x)
        sent, _ = model.quantize(features, x)
        enc = model.encode(x, snr, modulation="16qam")
        out = model.receive(AWGN(), enc, snr, torch.Generator().manual_seed(0))
        llr = bitlink.llrs(out, "16qam", sent.shape[1])
        errors = (bitlink.hard_bits(llr) != sent).float().mean()
        hard, _ = model.received_features(out, enc.side, modulation="16qam")
        soft, _ = model.received_features(out, enc.side, modulation="16qam", decisions="soft")
        exact = bitlink.dequantize(sent, enc.side["quantizer_side"], features.shape)
    assert 0.02 < errors < 0.3, errors
    assert (soft - exact).pow(2).mean() < (hard - exact).pow(2).mean()  # expected values beat hard bits
    for decisions in ("hard", "soft"):
        res = model.transmit(x, AWGN(), 2.0, torch.Generator().manual_seed(0), modulation="16qam",
                             decisions=decisions)
        assert res.images.shape == x.shape and torch.isfinite(res.images).all() and not res.extras["failed"].any()
    dead = model.transmit(x, AWGN(), -15.0, torch.Generator().manual_seed(0))  # side info lost too
    assert torch.isfinite(dead.images).all() and dead.extras["failed"].all()


@pytest.mark.parametrize("budget", [6, 8, 10])
def test_budget_sets_the_payload_and_the_channel_uses(budget):
    model = _tiny()
    for quantizer in ("uniform", "nonuniform"):
        res = model.transmit(_x(), AWGN(), 20.0, budget_bits=budget, quantizer=quantizer)
        side = PIPE.channel_uses(-(-int(res.extras["side_info_bits"][0]) // 8))
        assert res.extras["payload_bits"].tolist() == [budget * N_FEATURES] * 2
        assert res.channel_uses.tolist() == [budget * N_FEATURES // 2 + side] * 2


def test_nonuniform_and_uniform_send_the_same_payload_at_equal_budget():
    model = _tiny().eval()
    x = _x()
    with torch.no_grad():
        nu, nu_side = model.quantize(model.analysis(x), x, "nonuniform", 8.0)
        un, un_side = model.quantize(model.analysis(x), x, "uniform", 8.0)
        a = model.encode(x, _snr(2, 10.0), quantizer="nonuniform")
        b = model.encode(x, _snr(2, 10.0), quantizer="uniform")
    assert nu.shape == un.shape == (2, 8 * N_FEATURES) and a.symbols.shape == b.symbols.shape
    assert len(set(f.total_bits for f in nu_side[0].formats)) > 1 and un_side[0].formats[0].total_bits == 8
    # water filling and per-element maps keep the payload; only the side information grows
    w = model.encode(x, _snr(2, 10.0), allocation="water-filling", category_map="element", contribution="std")
    assert w.symbols.shape == a.symbols.shape and len(w.side_bits[0]) > len(a.side_bits[0])


def test_the_gradient_contribution_leaves_the_weights_and_their_gradients_alone():
    model = _tiny().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = _x()
    enc = model.encode(x, _snr(2, 10.0))  # gradient contribution: the decoder runs at the transmitter
    c = model.contributions(model.analysis(x).detach(), x)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    torch.testing.assert_close(c.sum(dim=1), torch.ones(2))
    assert c.shape == (2, 4) and not torch.allclose(c, model.contributions(model.analysis(x), x, "magnitude"))
    assert enc.side["train_features"].requires_grad  # the straight-through path of stage 2


@pytest.mark.parametrize("stage", ["none", "ste"])
def test_a_tiny_model_learns_in_both_stages(stage):
    model = _tiny().train()
    model.set_modes(quantize=stage)
    x = _x(4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(10):
        out = model(x, AWGN(), 20.0, torch.Generator().manual_seed(step))
        expected = N_FEATURES // 2 if stage == "none" else 8 * N_FEATURES // 2 + PIPE.channel_uses(27)  # 216 side bits
        assert out["channel_uses"].tolist() == [expected] * 4
        loss = mse_per_image(out["x_hat"], x).mean()
        opt.zero_grad()
        loss.backward()
        if step == 0:  # stage 2: the encoder learns through the straight-through estimator
            assert model.encoder.head.weight.grad.abs().sum() > 0
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-2:]) / 2 < 0.8 * sum(losses[:2]) / 2, losses


def test_stage_two_decodes_what_the_receiver_dequantized():
    model = _tiny().train()
    x = _x()
    out = model(x, AWGN(), 60.0, torch.Generator().manual_seed(0))
    with torch.no_grad():
        features = model.analysis(x)
        hat, _ = NonUniformQuantizer(8.0, 3)(features, model.contributions(features, x))
    torch.testing.assert_close(out["x_hat"].detach(), model.synthesis(hat).detach(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("bad, match", [
    ({"modulation": "8psk"}, "modulation"),
    ({"budget_bits": 0}, "budget_bits"),
    ({"budget_bits": float("nan")}, "budget_bits"),
    ({"budget_bits": 17}, "budget_bits"),
    ({"quantizer": "uniform", "budget_bits": 6.5}, "whole"),
    ({"fec": "ldpc", "modulation": "bpsk"}, "no 5G MCS"),
    ({"fec": "ldpc", "mcs": 12}, "16QAM"),
    ({"mcs": 5}, "only with fec=ldpc"),
    ({"fec": "ldpc", "decisions": "soft"}, "hard bits"),
    ({"contribution": "entropy"}, "contribution"),
])
def test_bad_settings_are_one_clear_error(bad, match):
    model = _tiny()
    with pytest.raises(SemcomError, match=match):
        model.transmit(_x(1), AWGN(), 10.0, **bad)
    with pytest.raises(SemcomError, match=match):
        model(_x(1), AWGN(), 10.0, **bad)


def test_a_budget_that_is_not_a_whole_number_of_bits_is_refused():
    with pytest.raises(SemcomError, match="not a whole number of bits"):
        _tiny().transmit(_x(1), AWGN(), 10.0, budget_bits=8 + 1 / 3)


def test_side_information_round_trips_and_garbage_is_refused():
    model = _tiny().eval()
    with torch.no_grad():
        enc = model.encode(_x(), _snr(2, 10.0))
    side = model.parse_side(enc.side_bits, (2, 3, 32, 32), torch.device("cpu"))
    assert side["payload_bits"].tolist() == [8 * N_FEATURES] * 2
    assert [s.to_bytes() for s in side["quantizer_side"]] == enc.side_bits
    with pytest.raises(SemcomError):
        model.parse_side([enc.side_bits[0][:-3]], (1, 3, 32, 32), torch.device("cpu"))
    with pytest.raises(SemcomError):  # a map for 4 channels does not fit a model with 8
        _tiny(latent_channels=8).parse_side(enc.side_bits, (2, 3, 32, 32), torch.device("cpu"))


def test_checkpoint_round_trip_reproduces_outputs_and_restores_modes(tmp_path: Path):
    model = _tiny().eval()
    path = save_model(model, tmp_path / "nuq", info={"modes": {"quantize": "none"}})
    loaded = load_model(path)
    assert loaded.config == model.config and loaded.mode == {"quantize": "none"} and not loaded.training
    x = _x()
    for settings in ({}, {"quantizer": "uniform", "modulation": "16qam"}, {"quantizer": "none"}):
        a = model.transmit(x, AWGN(), 8.0, torch.Generator().manual_seed(4), **settings)
        b = loaded.transmit(x, AWGN(), 8.0, torch.Generator().manual_seed(4), **settings)
        torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)
        assert torch.equal(a.channel_uses, b.channel_uses)
    assert math.isclose(float(a.cbr[0]), N_FEATURES / 2 / 3072)
