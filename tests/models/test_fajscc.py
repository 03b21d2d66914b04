"""FAJSCC: rate accounting, run-time complexity settings, the importance-ratio loss,
MACs that fall with rho, SNR adaptation, checkpoints, and a loss that falls."""

import pytest
import torch

from semcom.channels import AWGN
from semcom.errors import SemcomError
from semcom.metrics.complexity import count_macs
from semcom.models import load_model, save_model
from semcom.models.fajscc import FAJSCC
from semcom.registry import SYSTEMS

TINY = FAJSCC.tiny_config()
#: two blocks per stage, window 4, so rho changes the count at every stage of a 64x64 image
SMALLISH = {"cbr": 1 / 16, "widths": [8, 8, 8, 16], "depth": 2, "window": 4}


def _model(seed: int = 0, **config) -> FAJSCC:
    torch.manual_seed(seed)
    return FAJSCC(**(config or TINY))


def test_registered_with_presets_and_settings():
    assert SYSTEMS.get("fajscc") is FAJSCC
    small, base = FAJSCC(size="small"), FAJSCC(size="base")
    assert small.widths == (40, 60, 80, 260) and base.widths == (60, 90, 120, 360)
    assert small.latent_channels == 96 and small.config["snr_adaptive"] is True
    names = {s.name: s.side for s in FAJSCC.settings}
    assert names == {"rho_enc": "encoder", "rho_dec": "decoder", "selection_enc": "encoder",
                     "selection_dec": "decoder"}


@pytest.mark.parametrize("bad", [{"cbr": 1 / 1000}, {"size": "huge", "widths": None}, {"widths": [8, 8]},
                                 {"rho_target": 1.5}, {"depth": 0}])
def test_bad_config_is_one_clear_error(bad):
    with pytest.raises(SemcomError):
        FAJSCC(**{**TINY, **bad})


@pytest.mark.parametrize("size,padded", [((32, 32), (32, 32)), ((40, 50), (48, 64))])
def test_channel_uses_follow_the_padded_latent(size, padded):
    model = _model()
    res = model.transmit(torch.rand(2, 3, *size), AWGN(), 10.0)
    assert res.images.shape == (2, 3, *size)
    positions = (padded[0] // 16) * (padded[1] // 16)
    assert res.channel_uses.tolist() == [48 * positions] * 2  # cbr 1/16: 96 reals per position


def test_run_settings_are_validated_and_reach_their_side():
    model = _model()
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(SemcomError, match="rho_enc"):
        model.transmit(x, AWGN(), 10.0, rho_enc=1.5)
    with pytest.raises(SemcomError, match="selection_dec"):
        model.transmit(x, AWGN(), 10.0, selection_dec="random")
    seen = {}
    enc, dec = model.encode, model.decode
    model.encode = lambda *a, **k: (seen.setdefault("enc", k), enc(*a, **k))[1]
    model.decode = lambda *a, **k: (seen.setdefault("dec", k), dec(*a, **k))[1]
    model.transmit(x, AWGN(), 10.0, rho_enc=0.3, rho_dec=0.8)
    assert seen["enc"] == {"rho_enc": 0.3, "selection_enc": "top"}
    assert seen["dec"] == {"rho_dec": 0.8, "selection_dec": "top"}


def test_top_selection_is_deterministic_and_rho_changes_the_output():
    model = _model(**SMALLISH)
    x = torch.rand(1, 3, 64, 64)
    out = [model.transmit(x, AWGN(), 10.0, generator=torch.Generator().manual_seed(3), rho_dec=r).images
           for r in (0.5, 0.5, 1.0)]
    assert torch.equal(out[0], out[1])
    assert not torch.equal(out[0], out[2])
    enc = model.eval().encode(x, torch.tensor([10.0]), rho_enc=0.25)
    assert torch.allclose(enc.extras["importance_ratio_enc"][:, :2], torch.full((1, 2), 0.25))


def test_training_loss_has_the_ratio_penalty_per_side():
    model = _model(**SMALLISH).train()
    out = model(torch.rand(2, 3, 64, 64), AWGN(), torch.tensor([1.0, 10.0]))
    assert set(out["aux_enc"]) == {"importance_ratio_enc"} and set(out["aux_dec"]) == {"importance_ratio_dec"}
    ratio = out["extras"]["importance_ratio_enc"]
    assert ratio.shape == (2, 8)
    expected = 0.5 * (ratio.mean() - 0.5) ** 2
    torch.testing.assert_close(out["aux_enc"]["importance_ratio_enc"].detach(), expected)
    model.eval()
    assert not model(torch.rand(1, 3, 64, 64), AWGN(), 10.0)["aux"]


def _split_macs(model: FAJSCC, x: torch.Tensor, rho_enc: float, rho_dec: float) -> tuple[int, int]:
    snr = torch.tensor([10.0])
    model.eval()
    enc = model.encode(x, snr, rho_enc=rho_enc)
    macs_enc = count_macs(lambda: model.encode(x, snr, rho_enc=rho_enc))
    macs_dec = count_macs(lambda: model.decode(enc.symbols, snr, enc.side, rho_dec=rho_dec))
    return macs_enc, macs_dec


def test_macs_fall_monotonically_as_rho_falls():
    model = _model(**SMALLISH)
    x = torch.rand(1, 3, 128, 128)
    rhos = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    enc = [_split_macs(model, x, r, 0.5)[0] for r in rhos]
    dec = [_split_macs(model, x, 0.5, r)[1] for r in rhos]
    assert all(a < b for a, b in zip(enc, enc[1:])), enc
    assert all(a < b for a, b in zip(dec, dec[1:])), dec
    # each side's rho moves only its own side
    assert _split_macs(model, x, 0.0, 0.5)[1] == _split_macs(model, x, 1.0, 0.5)[1]


def test_snr_adaptation_and_its_absence():
    x = torch.rand(1, 3, 32, 32)
    model = _model().eval()
    with torch.no_grad():
        a = model.encode(x, torch.tensor([1.0])).symbols
        b = model.encode(x, torch.tensor([10.0])).symbols
    assert not torch.allclose(a, b)
    plain = _model(**{**TINY, "snr_adaptive": False}).eval()
    with torch.no_grad():
        torch.testing.assert_close(plain.encode(x, torch.tensor([1.0])).symbols,
                                   plain.encode(x, torch.tensor([10.0])).symbols)


def test_checkpoint_round_trip(tmp_path):
    model = _model(**SMALLISH)
    path = save_model(model, tmp_path / "fa")
    again = load_model(path)
    assert again.config == model.config
    x = torch.rand(1, 3, 64, 64)
    a = model.transmit(x, AWGN(), 4.0, generator=torch.Generator().manual_seed(0), rho_enc=0.3).images
    b = again.transmit(x, AWGN(), 4.0, generator=torch.Generator().manual_seed(0), rho_enc=0.3).images
    assert torch.equal(a, b)


def test_tiny_model_loss_falls():
    model = _model().train()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=gen)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(30):
        out = model(x, AWGN(), 10.0, generator=gen)
        loss = (out["x_hat"] - x).square().mean() + sum(out["aux"].values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, losses
