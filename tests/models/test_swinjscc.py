"""SwinJSCC: Swin blocks against a dense reference, SNR modulation, rate accounting,
gradients, SNR adaptivity, checkpoints and MACs."""

import json

import pytest
import torch

import semcom.models.swinjscc  # noqa: F401  (registers "swinjscc")
from semcom.channels import AWGN
from semcom.channels.base import Channel
from semcom.errors import SemcomError
from semcom.metrics.complexity import count_macs, count_parameters
from semcom.models import load_model, save_model
from semcom.models.swinjscc import SwinJSCC
from semcom.nn.swin import GatedSNRModulation, SwinBlock, SwinStage
from semcom.registry import SYSTEMS

#: a config with padding at every stage (window 3) and no degenerate 1x1 stage at 64x80
PADDED = {"cbr": 1 / 16, "widths": [8, 8, 8, 8], "depths": [2, 2, 2, 2], "heads": [2, 2, 2, 2], "window": 3}


def _model(seed: int = 0, **config) -> SwinJSCC:
    torch.manual_seed(seed)
    return SwinJSCC(**(config or SwinJSCC.tiny_config()))


class Noiseless(Channel):
    """Unit gain, no noise: what arrives is what was sent."""

    def noise_variance(self, shape, snr_db):
        return torch.zeros((shape[0],) + (1,) * (len(shape) - 1))


# -- blocks ----------------------------------------------------------------------------
def _dense_reference(block: SwinBlock, x: torch.Tensor, shift: int) -> torch.Tensor:
    """The block written as dense attention over all positions: a real token attends to
    the real tokens of its (rolled) window that were not wrapped around by the roll."""
    b, c, h, w = x.shape
    win, heads = block.window, block.attention.heads
    d = c // heads
    hp, wp = -(-h // win) * win, -(-w // win) * win
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()
    r, s = (rows - shift) % hp, (cols - shift) % wp  # positions after rolling by -shift
    same_window = ((r[:, None] // win) == (r[None] // win)) & ((s[:, None] // win) == (s[None] // win))
    wrapped_r, wrapped_s = rows < shift, cols < shift
    allowed = same_window & (wrapped_r[:, None] == wrapped_r[None]) & (wrapped_s[:, None] == wrapped_s[None])
    dr, dc = r[:, None] % win - r[None] % win, s[:, None] % win - s[None] % win
    bias = block.attention.bias_table[(dr + win - 1) * (2 * win - 1) + dc + win - 1].permute(2, 0, 1)
    tokens = block.norm_attention(x).flatten(2).transpose(1, 2)  # (B, HW, C)
    q, k, v = (z.reshape(b, h * w, heads, d).transpose(1, 2)
               for z in block.attention.qkv(tokens).split(c, dim=-1))
    scores = (q @ k.transpose(-1, -2)) / d**0.5 + bias
    scores = scores.masked_fill(~allowed, float("-inf"))
    attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, h * w, c)
    y = x + block.attention.proj(attended).transpose(1, 2).reshape(b, c, h, w)
    return y + block.mlp(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


@pytest.mark.parametrize("size, window, shift", [((8, 8), 4, 0), ((8, 8), 4, 2), ((6, 7), 4, 2),
                                                 ((5, 9), 4, 0), ((10, 11), 3, 1)])
def test_swin_block_equals_dense_masked_attention(size, window, shift, gen):
    torch.manual_seed(0)
    block = SwinBlock(12, 3, window, shift=shift)
    with torch.no_grad():
        block.attention.bias_table.normal_(0, 1.0)
    x = torch.randn(2, 12, *size, generator=gen)
    with torch.no_grad():
        torch.testing.assert_close(block(x), _dense_reference(block, x, shift), rtol=0, atol=1e-5)


def test_a_map_within_one_window_is_not_shifted(gen):
    torch.manual_seed(0)
    shifted, regular = SwinBlock(8, 2, 4, shift=2), SwinBlock(8, 2, 4, shift=0)
    regular.load_state_dict(shifted.state_dict())
    x = torch.randn(1, 8, 3, 4, generator=gen)  # padded to 4x4: one window
    with torch.no_grad():
        torch.testing.assert_close(shifted(x), regular(x), rtol=0, atol=0)
        torch.testing.assert_close(shifted(x), _dense_reference(regular, x, 0), rtol=0, atol=1e-5)


def test_swin_stage_alternates_regular_and_shifted_windows():
    stage = SwinStage(8, 3, 2, 4)
    assert [blk.shift for blk in stage.blocks] == [0, 2, 0]
    assert len(SwinStage(8, 0, 2, 4).blocks) == 0


def test_snr_modulation_scales_channels_by_an_snr_dependent_factor(gen):
    torch.manual_seed(0)
    mod = GatedSNRModulation(6)
    assert len(mod.layers) == len(mod.gates) == 7 and mod.layers[0].out_features == 9
    x = torch.randn(2, 6, 3, 4, generator=gen)
    snr = torch.tensor([0.0, 20.0])
    ratio = mod(x, snr) / x
    assert (ratio > 0).all() and (ratio < 1).all()
    tokens = x.flatten(2).transpose(1, 2)  # (B, L, C): the same per-token scaling
    torch.testing.assert_close(mod(tokens, snr), mod(x, snr).flatten(2).transpose(1, 2))
    same_image = x[:1].expand(2, -1, -1, -1)
    scales = mod.scales(same_image.permute(0, 2, 3, 1), snr)
    assert (scales[0] - scales[1]).abs().max() > 1e-4


# -- model -----------------------------------------------------------------------------
def test_registered_and_built_from_the_registry():
    assert SYSTEMS.get("swinjscc") is SwinJSCC
    model = SYSTEMS.create("swinjscc", **SwinJSCC.tiny_config())
    assert model.name == "swinjscc" and model.size_multiple == 16


@pytest.mark.parametrize("size, widths, params", [("small", (40, 60, 80, 160), (3e6, 6e6)),
                                                  ("base", (60, 90, 120, 200), (5e6, 10e6))])
def test_size_presets(size, widths, params):
    model = SwinJSCC(size=size)
    assert model.widths == widths and model.heads == (4, 6, 8, 10) and model.depths == (2, 2, 2, 2)
    assert model.window == 8 and model.latent_channels == 96
    assert params[0] < count_parameters(model) < params[1]
    assert [len(s.blocks) for s in model.encoder_stages] == [2, 2, 2, 2]


@pytest.mark.parametrize("config, match", [({"cbr": 1 / 7}, "cbr"), ({"cbr": 1 / 2000}, "cbr"),
                                           ({"size": "huge"}, "size"), ({"widths": [8, 8, 8]}, "widths"),
                                           ({"heads": [3, 6, 8, 10]}, "divide"),
                                           ({"depths": [2, 2, -1, 2]}, "depths"),
                                           ({"heads": [4, 6, 8]}, "heads"), ({"window": 0}, "window"),
                                           ({"equalizer": "magic"}, "equalizer")])
def test_bad_configs_are_clear_errors(config, match):
    with pytest.raises(SemcomError, match=match):
        SwinJSCC(**config)


@pytest.mark.parametrize("cbr, per_position", [(1 / 16, 48), (1 / 12, 64), (1 / 24, 32)])
def test_channel_uses_per_latent_position_follow_cbr(cbr, per_position):
    model = _model(**{**SwinJSCC.tiny_config(), "cbr": cbr})
    res = model.transmit(torch.rand(2, 3, 32, 48), AWGN(), 10.0, torch.Generator().manual_seed(0))
    assert res.channel_uses.tolist() == [per_position * 2 * 3] * 2
    assert res.cbr.tolist() == pytest.approx([cbr] * 2)


@pytest.mark.parametrize("height, width", [(40, 50), (33, 17), (16, 16)])
def test_any_image_size_goes_through_and_the_padding_is_charged(height, width):
    model = _model()
    res = model.transmit(torch.rand(2, 3, height, width), AWGN(), 5.0, torch.Generator().manual_seed(0))
    assert res.images.shape == (2, 3, height, width)
    assert ((res.images >= 0) & (res.images <= 1)).all()
    positions = -(-height // 16) * -(-width // 16)
    assert res.channel_uses.tolist() == [48 * positions] * 2
    with pytest.raises(SemcomError, match="multiples of 16"):
        model.encode(torch.rand(1, 3, 24, 32), torch.tensor([5.0]))


def test_symbols_are_power_normalized_per_image():
    model = _model().eval()
    with torch.no_grad():
        enc = model.encode(torch.rand(3, 3, 32, 32), torch.tensor([0.0, 10.0, 20.0]))
    assert enc.symbols.dtype == torch.complex64 and enc.symbols.shape == (3, 48 * 4)
    torch.testing.assert_close(enc.symbols.abs().pow(2).mean(dim=1), torch.ones(3))
    assert enc.side == {"latent_shape": (96, 2, 2)}


@pytest.mark.parametrize("config, size", [(PADDED, (64, 80)), ({"size": "small"}, (128, 128))])
def test_gradients_reach_every_parameter(config, size):
    model = _model(**config).train()
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(0))
    out = model(x, AWGN(), torch.tensor([0.0, 20.0]), torch.Generator().manual_seed(1))
    assert out["x_hat"].shape == x.shape
    (out["x_hat"] - x).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().max() > 0, name


def test_tiny_config_gets_gradients_everywhere_at_16x16():
    model = _model().train()
    out = model(torch.rand(2, 3, 16, 16), AWGN(), torch.tensor([0.0, 20.0]))
    out["x_hat"].mean().backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in model.parameters())


def test_snr_adaptation_changes_encoder_and_decoder():
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    low, high = torch.tensor([0.0]), torch.tensor([20.0])
    for adaptive in (True, False):
        model = _model(**{**SwinJSCC.tiny_config(), "snr_adaptive": adaptive}).eval()
        with torch.no_grad():
            enc = model.encode(x, high)
            enc_changed = (model.encode(x, low).symbols - enc.symbols).abs().max().item()
            dec_changed = (model.decode(enc.symbols, low, enc.side) -
                           model.decode(enc.symbols, high, enc.side)).abs().max().item()
            through = [model(x, Noiseless(), snr)["x_hat"] for snr in (low, high)]
        link_changed = (through[0] - through[1]).abs().max().item()
        if adaptive:
            assert enc_changed > 1e-4 and dec_changed > 1e-4 and link_changed > 1e-4
        else:
            assert enc_changed == dec_changed == link_changed == 0.0
            assert model.encoder_snr is None and model.decoder_snr is None


def test_checkpoint_round_trip_reproduces_the_outputs(tmp_path):
    model = _model(seed=3, **PADDED).eval()
    assert json.loads(json.dumps(model.config)) == model.config
    path = save_model(model, tmp_path / "swin")
    loaded = load_model(path)
    assert isinstance(loaded, SwinJSCC) and loaded.config == model.config
    x = torch.rand(2, 3, 48, 40, generator=torch.Generator().manual_seed(0))
    a = model.transmit(x, AWGN(), 7.0, torch.Generator().manual_seed(5))
    b = loaded.transmit(x, AWGN(), 7.0, torch.Generator().manual_seed(5))
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)
    assert torch.equal(a.channel_uses, b.channel_uses)


def test_small_macs_at_kodak_size_are_those_of_the_fajscc_paper():
    # counted at 256x384 (a quarter of 1x3x512x768, to keep the test fast): no stage map
    # needs padding at either size and every operation works per token or per window,
    # so the MACs at 512x768 are exactly four times these
    model = _model(size="small").eval()
    x, snr = torch.rand(1, 3, 256, 384), torch.tensor([10.0])
    with torch.no_grad():
        enc = model.encode(x, snr)
        received = model.receive(AWGN(), enc, snr, torch.Generator().manual_seed(0))
    macs_encoder = 4 * count_macs(model.encode, x, snr)
    macs_decoder = 4 * count_macs(model.decode, received, snr, enc.side)
    print(f"small SwinJSCC @ 1x3x512x768: encoder {macs_encoder / 1e9:.2f} G, "
          f"decoder {macs_decoder / 1e9:.2f} G MACs")
    assert enc.symbols.shape == (1, 48 * 16 * 24)
    assert 5e9 < macs_encoder + macs_decoder < 60e9
    assert 0.5 < macs_encoder / macs_decoder < 2.0
