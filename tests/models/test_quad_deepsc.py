"""Quad-DeepSC: units and shapes, masks and accounting, side information, causality of
the step-wise feature coding, the rate scale, training (tiny models, 64x64 images)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from semcom.channels.awgn import AWGN
from semcom.conventions import LOST_IMAGE_VALUE
from semcom.errors import SemcomError
from semcom.models import load_model, save_model
from semcom.models.quad import QuadDeepSC
from semcom.models.quad.rate_matching import RateSets, decode_rate_map, encode_rate_map, pack_side, unpack_side
from semcom.phy.bitpipe import side_info_pipe
from semcom.registry import SYSTEMS
from support.recording import RecordingAWGN

SNR = torch.tensor([10.0])


def _tiny(**kw) -> QuadDeepSC:
    torch.manual_seed(0)
    return QuadDeepSC(**{**QuadDeepSC.tiny_config(), **kw}).eval()


def _x(b: int = 2, side: int = 64) -> torch.Tensor:
    """Smooth random images (upsampled noise), not white noise."""
    low = torch.rand(b, 3, side // 8, side // 8, generator=torch.Generator().manual_seed(2))
    return F.interpolate(low, size=(side, side), mode="bilinear", align_corners=False).clamp(0, 1)


@pytest.fixture(scope="module")
def model() -> QuadDeepSC:
    return _tiny()


def _encode(model: QuadDeepSC, x: torch.Tensor, **settings):
    with torch.no_grad():
        return model.encode(x, SNR.expand(x.shape[0]), **settings)


def _side_uses(side_bits: list[bytes]) -> torch.Tensor:
    pipe = side_info_pipe()
    return torch.tensor([pipe.channel_uses(len(p)) for p in side_bits])


@pytest.mark.parametrize("partition, stepwise, steps",
                         [("quadtree", True, 4), ("checkerboard", True, 2), ("channel_autoregressive", True, 5),
                          ("quadtree", False, 1)])
def test_units_and_shapes_follow_the_partition(partition, stepwise, steps):
    model = _tiny(partition=partition, quadtree_features=stepwise)
    assert "quad_deepsc" in SYSTEMS.names() and model.size_multiple == 64
    x = _x(2, 64)
    enc = _encode(model, x)
    assert enc.side["rate_index"].shape == (2, steps, 4, 4)  # latent 64/16
    assert enc.side["z_hat"].shape == (2, 16, 1, 1)  # N = 16 at 64/64
    assert enc.symbols.shape == (2, steps * 16 * 16) and enc.mask.shape == enc.symbols.shape  # L_max/2 = 16
    assert model.layout.num_steps == steps and sum(model.layout.dims) == 32  # M
    y = torch.randn(2, 32, 4, 4)
    units = [model.layout.gather(y, t) for t in range(steps)]
    torch.testing.assert_close(model.layout.scatter(units), y, rtol=0, atol=0)  # the units tile y once
    with torch.no_grad():
        dec = model.decode(enc.symbols * enc.mask, SNR.expand(2), enc.side)
    assert dec.images.shape == x.shape and torch.isfinite(dec.images).all()


def test_each_unit_sends_exactly_its_length_and_channel_uses_count_what_passed(model):
    x = _x(3, 64)
    enc = _encode(model, x, eta=1.0)
    lengths = model.rates.values("full")[enc.side["rate_index"]]  # real values per unit
    per_unit = enc.mask.reshape(3, -1, model.rates.max_length // 2).sum(-1)
    assert torch.equal(2 * per_unit, lengths.reshape(3, -1))
    assert len(set(lengths.flatten().tolist())) > 1  # lengths differ between units
    power = (enc.symbols.abs() ** 2 * enc.mask).sum(1) / enc.mask.sum(1)
    torch.testing.assert_close(power, torch.ones(3))  # unit power per sent symbol
    channel = RecordingAWGN()
    res = model.transmit(x, channel, 10.0, torch.Generator().manual_seed(0), eta=1.0)
    assert channel.count == int(res.channel_uses.sum())
    assert res.channel_uses.tolist() == (enc.mask.sum(1) + _side_uses(enc.side_bits)).tolist()
    assert not res.extras["failed"].any() and res.images.shape == x.shape


def test_side_bytes_rebuild_the_rate_map_and_z_hat_exactly(model):
    x = _x(2, 128)
    enc = _encode(model, x)
    side = model.parse_side(enc.side_bits, tuple(x.shape), torch.device("cpu"))
    assert torch.equal(side["rate_index"], enc.side["rate_index"])
    assert torch.equal(side["z_hat"], enc.side["z_hat"])
    assert torch.equal(model.mask_from_side(side, enc.symbols.shape[1]), enc.mask)
    z_bytes, png = unpack_side(enc.side_bits[0], with_z=True)
    assert png.startswith(b"\x89PNG") and len(z_bytes) > 0
    index = torch.randint(0, 20, (5, 3, 7))
    assert torch.equal(decode_rate_map(encode_rate_map(index), 5, 3, 7, 20), index)
    with pytest.raises(SemcomError, match="rate index"):
        decode_rate_map(encode_rate_map(index), 5, 3, 7, 4)  # an index outside the set


def test_corrupt_or_truncated_side_bytes_fail_their_image_never_the_batch():
    good = _tiny()
    x = _x(4, 64)
    enc = _encode(good, x)
    png = unpack_side(enc.side_bits[0], with_z=True)[1]
    for bad in (enc.side_bits[0][:-5], b"", b"\x02\x01\x01\x00\xff", pack_side(b"\x00" * 8, png),
                pack_side(unpack_side(enc.side_bits[0], True)[0], png[:20])):
        with pytest.raises(SemcomError, match="does not parse"):
            good.parse_side([bad], (1, 3, 64, 64), torch.device("cpu"))

    class Garbling(QuadDeepSC):
        def encode(self, images, snr_db, eta=None):
            out = super().encode(images, snr_db, eta)
            out.side_bits[1] = out.side_bits[1][: len(out.side_bits[1]) // 2]  # truncated
            noise = torch.randint(0, 256, (len(out.side_bits[2]),), generator=torch.Generator().manual_seed(1))
            out.side_bits[2] = bytes(noise.tolist())  # garbage
            return out

    torch.manual_seed(0)
    garbling = Garbling(**QuadDeepSC.tiny_config())
    res = garbling.transmit(x, AWGN(), 10.0, torch.Generator().manual_seed(0))
    assert res.extras["failed"].tolist() == [False, True, True, False]
    assert (res.images[1:3] == LOST_IMAGE_VALUE).all() and not (res.images[0] == LOST_IMAGE_VALUE).all()
    lost = good.transmit(x[:2], AWGN(), -12.0, torch.Generator().manual_seed(0))  # the PHY's CRC fails
    assert lost.extras["failed"].all() and (lost.channel_uses > 0).all()


def test_step_wise_coding_is_causal():
    model = _tiny()
    layout, steps = model.layout, model.layout.num_steps
    y = torch.randn(1, 32, 8, 8, generator=torch.Generator().manual_seed(0))
    rates = torch.randint(0, 6, (1, steps, 8, 8), generator=torch.Generator().manual_seed(1))
    units = [layout.gather(y, t) for t in range(steps)]
    changed = units[:2] + [u + torch.randn_like(u) for u in units[2:]]  # steps 2, 3 changed
    with torch.no_grad():
        (a, code_a), (b, code_b) = model.feature_encoder(units, rates), model.feature_encoder(changed, rates)
        for t in range(2):
            assert torch.equal(code_a[t], code_b[t]) and torch.equal(a[:, t], b[:, t])
        assert not torch.allclose(a[:, 2], b[:, 2]) and not torch.allclose(a[:, 3], b[:, 3])
        received = torch.randn(1, steps, 32, 8, 8)
        later = received.clone()
        later[:, 3] += 1.0
        hyper = torch.randn(1, 64, 8, 8)
        da, db = model.feature_decoder(received, rates, hyper), model.feature_decoder(later, rates, hyper)
    assert all(torch.equal(da[t], db[t]) for t in range(3)) and not torch.allclose(da[3], db[3])
    with torch.no_grad():  # cross-attention: step 1 sees step 0's codewords
        shifted = model.feature_encoder([units[0] + 1.0] + units[1:], rates)[0]
    assert not torch.allclose(shifted[:, 1], a[:, 1])


def test_eta_scales_the_symbols_monotonically(model):
    x = _x(2, 64)
    sent = []
    for eta in (0.0, 0.05, 0.2, 0.5, 1.0, 2.0, 8.0):
        enc = _encode(model, x, eta=eta)
        sent.append(enc.mask.sum(1))
        res = model.transmit(x, AWGN(), 10.0, torch.Generator().manual_seed(0), eta=eta)
        assert res.channel_uses.tolist() == (sent[-1] + _side_uses(enc.side_bits)).tolist()
        assert res.extras["settings"] == {"eta": eta}
    sent = torch.stack(sent)
    assert (sent[1:] >= sent[:-1]).all() and (sent[0] == 0).all() and (sent[-1] > sent[2]).all()
    assert (sent[-1] == enc.mask.shape[1]).all()  # everything at L_max
    with pytest.raises(SemcomError, match="eta"):
        model.transmit(x, AWGN(), 10.0, eta=-1.0)


def test_distilled_rate_set_and_modes():
    model = _tiny()
    assert model.mode == {"rate_set": "full", "quantize": "noise"} and "rate_set" not in model.config
    model.set_modes(rate_set="distilled")
    x = _x(2, 64)
    enc = _encode(model, x, eta=1.0)
    lengths = model.rates.values("distilled")[enc.side["rate_index"]]
    assert set(lengths.unique().tolist()) <= {0, 4, 16, 32} and int(enc.side["rate_index"].max()) < 4
    side = model.parse_side(enc.side_bits, tuple(x.shape), torch.device("cpu"))
    assert torch.equal(model.mask_from_side(side, enc.symbols.shape[1]), enc.mask)
    with pytest.raises(SemcomError):
        model.set_modes(rate_set="medium")
    rates = RateSets([0, 2, 4, 8], [0, 4])
    assert rates.match(torch.tensor([0.0, 1.0, 1.1, 3.0, 5.9, 6.1, 100.0]), 1.0, "full").tolist() == \
        [0, 0, 1, 1, 2, 3, 3]  # nearest, ties to the shorter
    for full, distilled in (([0, 3], [0]), ([4, 2], [2]), ([0, 2], [4]), ([], [])):
        with pytest.raises(SemcomError):
            RateSets(full, distilled)


def test_without_hyperprior_only_the_rate_map_is_sent():
    model = _tiny(send_hyperprior=False)
    x = _x(2, 64)
    enc = _encode(model, x)
    assert set(enc.side) == {"rate_index"} and unpack_side(enc.side_bits[0], with_z=False)[1].startswith(b"\x89PNG")
    res = model.transmit(x, AWGN(), 10.0, torch.Generator().manual_seed(0))
    assert not res.extras["failed"].any()


def test_loss_falls_in_a_few_steps_with_the_lic_anchor_and_rate_terms():
    model = _tiny().train()
    x = _x(2, 64)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for step in range(20):
        out = model(x, AWGN(), 10.0, torch.Generator().manual_seed(step))
        assert set(out["aux"]) == {"rate"} and out["reconstructions"]["lic"].shape == x.shape
        loss = F.mse_loss(out["x_hat"], x) + F.mse_loss(out["reconstructions"]["lic"], x) + out["aux"]["rate"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert model.feature_encoder.to_values.weight.grad is not None and model.lic.analysis[0].weight.grad is not None
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses


def test_checkpoint_rebuilds_the_model_and_coding_never_resizes_its_tables(tmp_path: Path):
    model = _tiny(partition="checkerboard")
    x = _x(1, 64)
    a = model.transmit(x, AWGN(), 10.0, torch.Generator().manual_seed(0))  # z coded on a copy's tables
    model.train()(x, AWGN(), 10.0)
    assert model.eval().lic.hyper_prior.cdf_counts.numel() == 0  # init_from: previous still loads strictly
    loaded = load_model(save_model(model, tmp_path / "quad_deepsc"))
    assert loaded.config == model.config and isinstance(loaded, QuadDeepSC)
    b = loaded.transmit(x, AWGN(), 10.0, torch.Generator().manual_seed(0))
    c = model.update().transmit(x, AWGN(), 10.0, torch.Generator().manual_seed(0))  # its own tables now
    assert model.lic.tables_ready()
    for other in (b, c):
        torch.testing.assert_close(a.images, other.images, rtol=0, atol=0)
        assert torch.equal(a.channel_uses, other.channel_uses)
    with pytest.raises(SemcomError, match="preset"):
        QuadDeepSC(preset="huge")


def test_a_model_saved_with_its_coding_tables_loads_into_a_fresh_one(tmp_path):
    from semcom.models import create_model, load_model, save_model
    from semcom.models.quad.deepsc import QuadDeepSC
    from semcom.zoo.loading import init_weights_from

    torch.manual_seed(0)
    model = create_model("quad_deepsc", **QuadDeepSC.tiny_config())
    model.lic.update()  # the tables now have their trained shapes; a fresh model's are empty
    base = save_model(model, tmp_path / "with_tables")
    loaded = load_model(base)
    assert loaded.lic.tables_ready()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    fresh = create_model("quad_deepsc", **QuadDeepSC.tiny_config())
    report = init_weights_from(fresh, str(base))
    assert not report.left_at_init and fresh.lic.tables_ready()


def test_the_rate_estimate_counts_no_unit_longer_than_the_longest_rate(model):
    x = _x(1)
    enc = _encode(model, x, eta=10000.0)  # every unit at L_max
    sent = int(enc.mask.sum())
    longest = int(model.rates.values(model.mode["rate_set"]).max())
    units = enc.side["rate_index"].numel()
    assert sent == units * longest // 2
    with torch.no_grad():
        bits_z = model._lic_transmitter(x)["bits_z"] if model.send_hyperprior else torch.zeros(1)
    estimate = float(enc.aux["rate"]) / model.rate_weight * 3 * 64 * 64
    assert estimate == pytest.approx(sent + float(model._uses_per_bit() * bits_z.sum()), rel=1e-4)
