"""ConvJSCC, ResJSCC and ADJSCC: rate accounting, widths, SNR adaptivity, checkpoints."""

import json

import pytest
import torch

from semcom.channels.base import Channel
from semcom.errors import CheckpointError, SemcomError
from semcom.models import ADJSCC, ConvJSCC, ResJSCC, create_model, list_models, load_model, save_model
from semcom.models.conv_latent import ConvLatentJSCC, latent_channels_for_cbr
from semcom.registry import SYSTEMS
from semcom.zoo.checkpoint import save_checkpoint

BASELINES = [n for n in list_models() if issubclass(SYSTEMS.get(n), ConvLatentJSCC)]


def _tiny(name, **overrides):
    torch.manual_seed(0)
    return create_model(name, **{**SYSTEMS.get(name).tiny_config(), **overrides})


def test_baselines_are_the_three_conv_models():
    assert set(BASELINES) == {"convjscc", "resjscc", "adjscc"}


@pytest.mark.parametrize("cbr, channels", [(1 / 6, 16), (1 / 12, 8), (1 / 16, 6), (1 / 24, 4),
                                           (1 / 32, 3), ("1/96", 1), (0.25, 24)])
def test_latent_channels_follow_cbr(cbr, channels):
    assert latent_channels_for_cbr(cbr) == channels


@pytest.mark.parametrize("bad", [0.1, 1 / 7, 1 / 200, 0, -1 / 12, "abc", float("nan")])
@pytest.mark.parametrize("name", BASELINES)
def test_invalid_cbr_is_a_clear_error(name, bad):
    with pytest.raises(SemcomError, match="cbr|CBR"):
        create_model(name, cbr=bad)


@pytest.mark.parametrize("name", BASELINES)
def test_invalid_widths_are_clear_errors(name):
    with pytest.raises(SemcomError, match="size"):
        create_model(name, size="huge")
    with pytest.raises(SemcomError, match="widths"):
        create_model(name, widths=[8, 8, 8])
    with pytest.raises(SemcomError, match="widths"):
        create_model(name, widths=[8, 0, 8, 8])


@pytest.mark.parametrize("cbr", [1 / 6, 1 / 12, 1 / 16, 1 / 24])
@pytest.mark.parametrize("name", BASELINES)
def test_measured_cbr_equals_requested_cbr(name, cbr):
    model = _tiny(name, cbr=cbr)
    res = model.transmit(torch.rand(2, 3, 32, 32), Channel(), 10.0)
    assert res.channel_uses.tolist() == [round(3 * 32 * 32 * cbr)] * 2
    assert res.cbr.tolist() == [cbr] * 2


@pytest.mark.parametrize("name", BASELINES)
def test_padding_is_charged_for_odd_sizes(name):
    # 35x33 is padded to 36x36 -> a 9x9 latent grid
    model = _tiny(name, cbr=1 / 12)  # c = 8 channels: 8 * 81 reals -> 324 symbols
    res = model.transmit(torch.rand(1, 3, 35, 33), Channel(), 10.0)
    assert res.images.shape == (1, 3, 35, 33)
    assert res.channel_uses.tolist() == [8 * 9 * 9 // 2]
    assert res.cbr.item() == pytest.approx(324 / (3 * 35 * 33))
    odd = _tiny(name, cbr=1 / 32)  # c = 3: 243 reals, the last symbol carries one real
    res = odd.transmit(torch.rand(1, 3, 35, 33), Channel(), 10.0)
    assert res.channel_uses.tolist() == [122]


@pytest.mark.parametrize("name", BASELINES)
def test_decode_unpacks_the_symbols_into_the_scaled_latent(name):
    model = _tiny(name, cbr=1 / 32).eval()
    x, snr = torch.rand(2, 3, 12, 8), torch.full((2,), 10.0)
    with torch.no_grad():
        enc = model.encode(x, snr)
        latent = model.analysis(x, snr)
        decoded = model.decode(enc.symbols, snr, enc.side)
        k = enc.symbols.shape[1]  # ceil(3 * 3 * 2 / 2) = 9
        gain = (k**0.5 / latent.flatten(1).norm(dim=1))[:, None, None, None]  # power normalization
        direct = model.synthesis(latent * gain, snr)
    assert enc.side["latent_shape"] == (3, 3, 2) and k == 9
    torch.testing.assert_close(decoded, direct)


def test_only_adjscc_reads_the_snr():
    x = torch.rand(1, 3, 16, 16)
    for name, adaptive in [("adjscc", True), ("convjscc", False), ("resjscc", False)]:
        model = _tiny(name).eval()
        with torch.no_grad():
            enc = model.encode(x, torch.tensor([10.0]))
            low = model.decode(enc.symbols, torch.tensor([0.0]), enc.side)
            high = model.decode(enc.symbols, torch.tensor([20.0]), enc.side)
            enc_low = model.encode(x, torch.tensor([0.0]))
        changed = (low - high).abs().max().item() > 1e-5
        enc_changed = (enc.symbols - enc_low.symbols).abs().max().item() > 1e-5
        assert changed == adaptive and enc_changed == adaptive, name


@pytest.mark.parametrize("name, size, hidden", [("convjscc", "original", [16, 32, 32, 32]),
                                                ("convjscc", "base", [64] * 4),
                                                ("resjscc", "small", [32] * 4),
                                                ("adjscc", "paper", [256] * 4)])
def test_size_presets_set_the_widths(name, size, hidden):
    model = create_model(name, size=size)
    assert list(model.widths) == hidden
    assert model.config["size"] == size and model.config["widths"] is None


def test_default_widths():
    assert ConvJSCC().widths == (16, 32, 32, 32)
    assert ResJSCC().widths == (16, 32, 32, 32)
    assert ADJSCC().widths == (64, 64, 64, 64)
    first = ConvJSCC(cbr=1 / 16).encoder[0]
    assert (first.kernel_size, first.stride, first.out_channels) == ((5, 5), (2, 2), 16)
    assert ConvJSCC(cbr=1 / 16).encoder[-1].out_channels == 6


def test_config_survives_json(tmp_path):
    model = create_model("resjscc", cbr="1/16", widths=(8, 8, 12, 12), equalizer="zf")
    cfg = json.loads(json.dumps(model.config))
    assert cfg == {"cbr": 1 / 16, "size": "original", "widths": [8, 8, 12, 12], "equalizer": "zf"}
    assert SYSTEMS.create("resjscc", **cfg).widths == (8, 8, 12, 12)


# -- checkpoints ---------------------------------------------------------------------
def test_fp16_weights_load_into_fp32_models(tmp_path):
    model = _tiny("adjscc").eval()
    base = save_model(model, tmp_path / "half", dtype=torch.float16)
    loaded = load_model(base)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    rounded = _tiny("adjscc").eval()
    rounded.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        want = rounded(x, Channel(), 5.0, torch.Generator().manual_seed(0))["x_hat"]
        got = loaded(x, Channel(), 5.0, torch.Generator().manual_seed(0))["x_hat"]
    assert torch.equal(want, got)


def test_corrupted_checkpoint_is_refused(tmp_path):
    base = save_model(_tiny("convjscc"), tmp_path / "m")
    st = tmp_path / "m.safetensors"
    data = bytearray(st.read_bytes())
    data[-5] ^= 0x40
    st.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(base)


def test_checkpoint_with_other_keys_is_refused(tmp_path):
    model = _tiny("convjscc")
    state = model.state_dict()
    state.pop("encoder.0.weight")
    state["encoder.0.kernel"] = torch.zeros(1)
    base = save_checkpoint(tmp_path / "k", state, "convjscc", model.config)
    with pytest.raises(CheckpointError, match="missing encoder.0.weight.*unexpected encoder.0.kernel"):
        load_model(base)


def test_checkpoint_with_other_shapes_is_refused(tmp_path):
    model = _tiny("convjscc", cbr=1 / 12)
    config = {**model.config, "cbr": 1 / 6}  # 16 latent channels instead of 8
    base = save_checkpoint(tmp_path / "s", model.state_dict(), "convjscc", config)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_model(base)


def test_checkpoint_of_unknown_system_or_bad_config_is_refused(tmp_path):
    model = _tiny("convjscc")
    base = save_checkpoint(tmp_path / "u", model.state_dict(), "nonesuch", model.config)
    with pytest.raises(CheckpointError, match="nonesuch"):
        load_model(base)
    base = save_checkpoint(tmp_path / "c", model.state_dict(), "convjscc", {"depth": 3})
    with pytest.raises(CheckpointError, match="config"):
        load_model(base)
    base = save_checkpoint(tmp_path / "v", model.state_dict(), "convjscc", {"cbr": 0.1})
    with pytest.raises(CheckpointError, match="cbr"):
        load_model(base)
