"""Registry-driven checks run on every registered neural JSCC model (as timm does).

A model class may define ``tiny_config()`` (keyword arguments of a small, fast
instance); otherwise its defaults are used. Inputs are 16x16 rounded up to the model's
``size_multiple``.
"""

import pytest
import torch

from semcom.channels.base import Channel, complex_normal
from semcom.conventions import mse_per_image
from semcom.data import pad_to_multiple
from semcom.models import create_model, list_models, load_model, save_model
from semcom.registry import CHANNELS, SYSTEMS

MODELS = list_models()


class _FastRayleigh(Channel):
    """Fallback fast Rayleigh fading (i.i.d. CN(0, 1) per symbol)."""

    name = "test-rayleigh"

    def sample_gain(self, shape, generator=None, device=None):
        return complex_normal(shape, generator, device)


def _rayleigh() -> Channel:
    try:
        import semcom.channels.fading  # noqa: F401  (registers "rayleigh" when present)
    except ImportError:
        pass
    return CHANNELS.create("rayleigh") if "rayleigh" in CHANNELS else _FastRayleigh()


CHANNEL_FACTORIES = {"awgn": Channel, "rayleigh": _rayleigh}


def _build(name: str, seed: int = 0):
    torch.manual_seed(seed)
    cls = SYSTEMS.get(name)
    cfg = cls.tiny_config() if hasattr(cls, "tiny_config") else {}
    return create_model(name, **cfg)


def _side(model, base: int = 16) -> int:
    m = model.size_multiple
    return -(-base // m) * m


def _images(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Smooth colour ramps plus a little texture: learnable, not constant."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([xx, yy, 1 - xx * yy])
    phase = torch.rand(b, 3, 1, 1, generator=g)
    return (0.6 * base + 0.3 * phase + 0.1 * torch.rand(b, 3, h, w, generator=g)).clamp(0, 1)


def test_the_baselines_are_registered():
    assert {"convjscc", "resjscc", "adjscc"} <= set(MODELS)
    assert "uncoded" not in MODELS  # a Link, not a neural model


@pytest.mark.parametrize("channel", ["awgn", "rayleigh"])
@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_gives_finite_nonzero_grads(name, channel):
    model = _build(name).train()
    s = _side(model)
    x = _images(2, s, s)
    # three draws: a model that samples what to compute in training (FAJSCC's windows)
    # may leave a block's attention unused in one draw of a tiny batch
    for seed in (1, 2, 3):
        out = model(x, CHANNEL_FACTORIES[channel](), torch.tensor([0.0, 20.0]), torch.Generator().manual_seed(seed))
        assert out["x_hat"].shape == x.shape and torch.isfinite(out["x_hat"]).all()
        loss = mse_per_image(out["x_hat"], x).mean() + sum(v.float().mean() for v in out["aux"].values())
        if hasattr(model, "aux_loss"):  # auxiliary parameters (a prior's quantiles) train on their own loss
            loss = loss + model.aux_loss()
        loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient for {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient for {pname}"
        assert p.grad.abs().max() > 0, f"{name}: zero gradient for {pname}"


@pytest.mark.parametrize("name", MODELS)
def test_each_image_is_power_normalized_on_its_own(name):
    model = _build(name).eval()
    s = _side(model)
    x = _images(2, s, s)
    x[0] *= 0.02  # a nearly black image beside a bright one
    with torch.no_grad():
        enc = model.encode(pad_to_multiple(x, model.size_multiple)[0], torch.tensor([10.0, 10.0]))
    assert enc.symbols.dtype == torch.complex64 and enc.symbols.shape[0] == 2
    sent = enc.symbols.shape[1] if enc.mask is None else enc.mask.sum(dim=1)
    power = enc.symbols.abs().pow(2).sum(dim=1) / sent  # unsent symbols are zero
    torch.testing.assert_close(power, torch.ones(2), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", MODELS)
def test_images_do_not_share_symbols(name):
    model = _build(name).eval()
    s = _side(model)
    x = _images(2, s, s)
    y = x.clone()
    y[0] = 1 - y[0]
    snr = torch.tensor([10.0, 10.0])
    with torch.no_grad():
        a, b = model.encode(x, snr), model.encode(y, snr)
    torch.testing.assert_close(a.symbols[1], b.symbols[1])
    assert (a.symbols[0] - b.symbols[0]).abs().max() > 1e-3


@pytest.mark.parametrize("channel", ["awgn", "rayleigh"])
@pytest.mark.parametrize("name", MODELS)
def test_transmit_returns_images_in_range_for_odd_sizes(name, channel):
    model = _build(name)
    h, w = _side(model) + 3, _side(model) + 1
    res = model.transmit(_images(2, h, w), CHANNEL_FACTORIES[channel](), 5.0, torch.Generator().manual_seed(2))
    assert res.images.shape == (2, 3, h, w)
    assert res.images.min() >= 0 and res.images.max() <= 1
    assert res.channel_uses.dtype == torch.int64 and (res.channel_uses > 0).all()
    torch.testing.assert_close(res.cbr, res.channel_uses.double() / (3 * h * w))
    assert model.training  # transmit restores the mode


@pytest.mark.parametrize("name", MODELS)
def test_config_rebuilds_the_same_architecture(name):
    model = _build(name)
    twin = SYSTEMS.create(name, **model.config)
    assert twin.config == model.config
    assert {k: v.shape for k, v in twin.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip_reproduces_outputs(name, tmp_path):
    model = _build(name).eval()
    s = _side(model)
    x = _images(2, s, s)
    base = save_model(model, tmp_path / name, info={"note": "test"})
    loaded = load_model(base)
    assert type(loaded) is type(model) and not loaded.training
    args = (x, Channel(), 7.0)
    with torch.no_grad():
        want = model(*args, torch.Generator().manual_seed(3))["x_hat"]
        got = loaded(*args, torch.Generator().manual_seed(3))["x_hat"]
    assert torch.equal(want, got)


@pytest.mark.parametrize("name", MODELS)
def test_mse_falls_when_training_on_a_fixed_batch(name):
    model = _build(name).train()
    s = _side(model)
    x = _images(2, s, s)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(30):
        opt.zero_grad()
        out = model(x, Channel(), 20.0, torch.Generator().manual_seed(step))
        loss = mse_per_image(out["x_hat"], x).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.5 * first, f"{name}: loss {first:.4f} -> {last:.4f}"
