"""AR-JSCC: group layout, policy and forced rates, side information, training, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import semcom.models.arjscc  # noqa: F401  (registers the system)
from semcom.channels.awgn import AWGN
from semcom.conventions import LOST_IMAGE_VALUE
from semcom.errors import SemcomError
from semcom.models import load_model, save_model
from semcom.models.arjscc import ARJSCC
from semcom.nn.snr_modulation import AffineSNRModulation
from semcom.phy.bitpipe import side_info_pipe
from semcom.registry import SYSTEMS
from support.recording import RecordingAWGN as Recording

SIDE_USES = side_info_pipe().channel_uses(1)  # one byte, padded to the pipe's minimum payload


def _tiny(**kw) -> ARJSCC:
    torch.manual_seed(0)
    return ARJSCC(**{**ARJSCC.tiny_config(), **kw})


def _x(b: int = 3, side: int = 32) -> torch.Tensor:
    return torch.rand(b, 3, side, side, generator=torch.Generator().manual_seed(2))


def test_registered_with_the_authors_layout_at_cifar10_size():
    assert "arjscc" in SYSTEMS.names()
    model = ARJSCC()
    assert model.widths == (64, 128, 256) and model.latent_channels == 16 and model.total_groups == 8
    assert model.symbols_per_group(32, 32) == 64  # 2 channels x 64 positions / 2
    assert model.symbols_sent(32, 32, 0) / 3072 == 1 / 12 and model.symbols_sent(32, 32, 4) / 3072 == 1 / 6
    assert model.policy.mlp[0].in_features == 257 and model.policy.mlp[-1].out_features == 5
    assert len(model.channel_encoder.modulations) == 2 and len(model.channel_decoder.modulations) == 2
    assert model.mode == {"temperature": 5.0} and "temperature" not in model.config
    assert model.config["rate_weight"] == 1.5e-3


@pytest.mark.parametrize("groups", [0, 2, 4])
def test_forced_groups_send_exactly_their_symbols_plus_the_charged_side_information(groups):
    model = _tiny()
    channel = Recording()
    res = model.transmit(_x(), channel, 10.0, torch.Generator().manual_seed(0), groups=groups)
    symbols = (4 + groups) * (2 * 64 // 2)
    assert res.channel_uses.tolist() == [symbols + SIDE_USES] * 3
    assert channel.count == int(res.channel_uses.sum())  # symbols and side information: the audit's accounting
    torch.testing.assert_close(res.cbr, res.channel_uses.double() / 3072)
    assert res.extras["groups"].tolist() == [groups] * 3 and not res.extras["failed"].any()
    assert res.extras["settings"] == {"groups": groups}


def test_groups_setting_is_validated_against_the_models_selective_groups():
    model = _tiny()
    for bad in (5, -1, "many"):
        with pytest.raises(SemcomError, match="groups"):
            model.transmit(_x(1), AWGN(), 10.0, groups=bad)
    wide = _tiny(selective_groups=6)
    assert wide.transmit(_x(1), AWGN(), 10.0, groups=6).extras["groups"].tolist() == [6]
    assert model.transmit(_x(1), AWGN(), 10.0, groups="auto").extras["settings"] == {"groups": "auto"}


def test_auto_groups_at_inference_are_the_policys_deterministic_choice():
    model = _tiny().eval()
    x, snr = _x(4), torch.tensor([0.0, 5.0, 10.0, 20.0])
    with torch.no_grad():
        a, b = model.encode(x, snr), model.encode(x, snr)
        logits = model.policy.logits(model.source_encoder(x * 2 - 1), snr)
    assert torch.equal(a.side["groups"], logits.argmax(-1)) and torch.equal(a.symbols, b.symbols)
    r1 = model.transmit(x, AWGN(), snr, torch.Generator().manual_seed(0))
    r2 = model.transmit(x, AWGN(), snr, torch.Generator().manual_seed(9))
    assert torch.equal(r1.extras["groups"], r2.extras["groups"])
    assert r1.channel_uses.tolist() == [(4 + int(k)) * 64 + SIDE_USES for k in r1.extras["groups"]]


def test_per_image_counts_differ_within_a_batch():
    model = _tiny().eval()
    # a policy that sends 4 - snr / 5 selective groups
    model.policy.logits = lambda features, snr_db: F.one_hot((4 - snr_db / 5).round().long(), 5).float()
    channel = Recording()
    res = model.transmit(_x(3), channel, torch.tensor([0.0, 10.0, 20.0]), torch.Generator().manual_seed(0))
    assert res.extras["groups"].tolist() == [4, 2, 0]
    assert res.channel_uses.tolist() == [8 * 64 + SIDE_USES, 6 * 64 + SIDE_USES, 4 * 64 + SIDE_USES]
    assert channel.count == int(res.channel_uses.sum())


def test_side_bits_round_trip_and_bad_bytes_are_refused():
    model = _tiny().eval()
    with torch.no_grad():
        enc = model.encode(_x(3), torch.full((3,), 10.0), groups=3)
    assert enc.side_bits == [bytes([3])] * 3
    side = model.parse_side(enc.side_bits, (3, 3, 32, 32), torch.device("cpu"))
    assert torch.equal(side["groups"], enc.side["groups"])
    assert torch.equal(model.mask_from_side(side, enc.symbols.shape[1]), enc.mask)
    assert enc.mask.sum(dim=1).tolist() == [7 * 64] * 3 and enc.mask[:, : 7 * 64].all()
    with pytest.raises(SemcomError, match="names 5 selective groups"):
        model.parse_side([bytes([5])], (1, 3, 32, 32), torch.device("cpu"))
    with pytest.raises(SemcomError, match="1 byte per image"):
        model.parse_side([b"\x01\x02"], (1, 3, 32, 32), torch.device("cpu"))


def test_a_corrupt_side_byte_fails_only_its_image():
    class Corrupt(ARJSCC):
        def encode(self, images, snr_db, groups="auto"):
            enc = super().encode(images, snr_db, groups)
            enc.side_bits[1] = bytes([200])  # no such count
            return enc

    torch.manual_seed(0)
    res = Corrupt(**ARJSCC.tiny_config()).transmit(_x(3), AWGN(), 20.0, torch.Generator().manual_seed(0))
    assert res.extras["failed"].tolist() == [False, True, False]
    assert (res.images[1] == LOST_IMAGE_VALUE).all() and not (res.images[0] == LOST_IMAGE_VALUE).all()


def test_power_is_normalized_over_the_sent_symbols_only():
    model = _tiny().eval()
    with torch.no_grad():
        enc = model.encode(_x(2), torch.full((2,), 10.0), groups=1)
    sent = enc.mask
    power = (enc.symbols.abs() ** 2 * sent).sum(dim=1) / sent.sum(dim=1)
    torch.testing.assert_close(power, torch.ones(2))
    assert (enc.symbols[~sent] == 0).all()


def test_the_decoder_never_reads_unsent_symbols():
    model = _tiny().eval()
    snr = torch.full((2,), 10.0)
    with torch.no_grad():
        enc = model.encode(_x(2), snr, groups=1)
        received = enc.symbols + 0.1 * torch.randn(enc.symbols.shape, dtype=torch.complex64,
                                                   generator=torch.Generator().manual_seed(3))
        garbage = torch.where(enc.mask, received, torch.full_like(received, 7 - 3j))
        a = model.decode(received * enc.mask, snr, enc.side).images
        b = model.decode(garbage, snr, enc.side).images
        c = model.decode(received, snr, enc.side).images
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(a, c, rtol=0, atol=0)
    assert a.shape == (2, 3, 32, 32) and (a >= 0).all() and (a <= 1).all()


def test_training_gradients_reach_every_parameter_the_policy_through_both_paths():
    model = _tiny().train()
    x = _x(4)
    out = model(x, AWGN(), torch.tensor([0.0, 5.0, 10.0, 20.0]), torch.Generator().manual_seed(0))
    assert out["mask"].dtype == torch.bool and set(out["aux"]) == {"active_bandwidth"}
    counts = out["extras"]["groups"]
    torch.testing.assert_close(out["aux"]["active_bandwidth"],
                               torch.tensor(1.5e-3 * counts.float().mean().item() / 4))
    assert out["channel_uses"].tolist() == [(4 + int(k)) * 64 + SIDE_USES for k in counts]
    F.mse_loss(out["x_hat"], x).backward(retain_graph=True)  # distortion alone: straight-through mask
    policy = [p for n, p in model.named_parameters() if n.startswith("policy.")]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in policy)
    model.zero_grad()
    out["aux"]["active_bandwidth"].backward(retain_graph=True)  # the rate term alone
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in policy)
    model.zero_grad()
    (F.mse_loss(out["x_hat"], x) + out["aux"]["active_bandwidth"]).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_forced_groups_in_training_leave_the_policy_alone_and_batch_one_trains_only_without_its_norm():
    model = _tiny().train()
    out = model(_x(2), AWGN(), 10.0, groups=2)
    assert out["extras"]["groups"].tolist() == [2, 2]
    F.mse_loss(out["x_hat"], _x(2)).backward()
    assert all(p.grad is None for n, p in model.named_parameters() if n.startswith("policy."))
    with pytest.raises(SemcomError, match="at least 2 images"):
        model(_x(1), AWGN(), 10.0)
    assert _tiny(policy_norm=False).train()(_x(1), AWGN(), 10.0)["x_hat"].shape == (1, 3, 32, 32)


def test_temperature_is_a_training_mode():
    model = _tiny()
    assert model.set_modes(temperature=0.5) == {"temperature": 0.5}
    with pytest.raises(SemcomError, match="temperature"):
        model.set_modes(temperature=0.0)
    with pytest.raises(SemcomError):
        model.set_modes(tau=1.0)


def test_other_image_sizes():
    model = _tiny().eval()
    res = model.transmit(torch.rand(2, 3, 36, 20), AWGN(), 10.0, groups=4)  # latent 9x5, 45 symbols a group
    assert res.images.shape == (2, 3, 36, 20) and res.channel_uses.tolist() == [8 * 45 + SIDE_USES] * 2
    padded = model.transmit(torch.rand(1, 3, 30, 30), AWGN(), 10.0, groups=0)  # padded to 32x32
    assert padded.images.shape == (1, 3, 30, 30) and padded.channel_uses.tolist() == [4 * 64 + SIDE_USES]
    small = model.transmit(torch.rand(1, 3, 4, 8), AWGN(), 10.0)  # latent 1x2
    assert small.images.shape == (1, 3, 4, 8)
    with pytest.raises(SemcomError, match="multiples of 4"):
        model.encode(torch.rand(1, 3, 30, 30), torch.full((1,), 10.0))


def test_snr_modulation_scales_and_shifts_each_channel_from_the_snr(gen):
    torch.manual_seed(0)
    mod = AffineSNRModulation(6)
    x = torch.randn(1, 6, 3, 3, generator=gen).expand(2, -1, -1, -1)
    scale, shift = mod.affine(x, torch.tensor([0.0, 20.0]))
    assert (scale > 0).all() and (scale < 1).all() and (scale[0] - scale[1]).abs().max() > 1e-4
    y = mod(x, torch.tensor([0.0, 20.0]))
    torch.testing.assert_close(y, x * scale[:, :, None, None] + shift[:, :, None, None])


def test_a_tiny_model_learns_in_a_few_steps():
    model = _tiny().train()
    coarse = torch.rand(8, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    x = F.interpolate(coarse, size=32, mode="bilinear", align_corners=False)  # smooth images
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3, betas=(0.5, 0.999))  # the authors' betas
    losses = []
    for step in range(20):
        out = model(x, AWGN(), 10.0, torch.Generator().manual_seed(step))
        loss = F.mse_loss(out["x_hat"], x) + out["aux"]["active_bandwidth"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses


def test_checkpoint_round_trip_reproduces_outputs_and_restores_modes(tmp_path: Path):
    model = _tiny().train()
    model(_x(4), AWGN(), 10.0)  # move the batch-norm running statistics off their init
    model.eval()
    path = save_model(model, tmp_path / "arjscc", info={"modes": {"temperature": 0.25}})
    loaded = load_model(path)
    assert loaded.config == model.config and loaded.mode == {"temperature": 0.25} and not loaded.training
    x = _x(3)
    for groups in ("auto", 1):
        a = model.transmit(x, AWGN(), 5.0, torch.Generator().manual_seed(4), groups=groups)
        b = loaded.transmit(x, AWGN(), 5.0, torch.Generator().manual_seed(4), groups=groups)
        torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)
        assert torch.equal(a.channel_uses, b.channel_uses) and torch.equal(a.extras["groups"], b.extras["groups"])
    assert load_model(save_model(model, tmp_path / "plain")).mode == {"temperature": 5.0}


def test_validation_reports_the_charged_cbr_the_policy_spends_at_each_snr():
    from semcom.conventions import cbr_from_channel_uses
    from semcom.training.distributed import DistContext
    from semcom.training.validation import validate

    model = _tiny().eval()
    images = _x(4)
    batches = [(0, images[:2]), (1, images[2:])]
    record = validate(model, AWGN(), batches, [0.0, 20.0], DistContext(), 5, 0)
    assert set(record["cbr_by_snr"]) == {"0", "20"}
    model.eval()  # validate hands the model back in training mode
    for snr, got in record["cbr_by_snr"].items():
        with torch.no_grad():
            uses = torch.cat([model(b, AWGN(), float(snr))["channel_uses"] for _, b in batches])
        assert got == pytest.approx(float(cbr_from_channel_uses(uses, 32, 32).mean()))
        assert got > cbr_from_channel_uses(SIDE_USES, 32, 32)  # side information charged on top


def _train_tiny(rate_weight: float, steps: int = 30) -> float:
    """Mean groups the policy of a tiny model chooses at 10 dB after ``steps`` steps."""
    model = _tiny(rate_weight=rate_weight).train()
    coarse = torch.rand(8, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    x = F.interpolate(coarse, size=32, mode="bilinear", align_corners=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3, betas=(0.5, 0.999))
    for step in range(steps):
        out = model(x, AWGN(), 10.0, torch.Generator().manual_seed(step))
        loss = F.mse_loss(out["x_hat"], x) + out["aux"]["active_bandwidth"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float(model.eval().transmit(x, AWGN(), 10.0).extras["groups"].float().mean())


def test_lambda_traces_the_rate_range():
    """The rate weight (the authors' lambda) moves the policy: a large one drives it to
    fewer groups, none lets the distortion term add groups (a tiny model starts near 0)."""
    free, costly = _train_tiny(0.0), _train_tiny(1.0)
    assert free - costly >= 1.0, (costly, free)
