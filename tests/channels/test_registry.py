"""Registry-driven tests: every registered channel, with its defaults, obeys the contract."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from semcom.channels import (Channel, ChannelOutput, complex_normal, create_channel, equalize,
                             list_channels)
from semcom.conventions import normalize_power, snr_db_to_noise_var
from semcom.errors import SemcomError, UnknownNameError
from semcom.registry import CHANNELS

NAMES = CHANNELS.names()
#: channels whose reported noise_var is per symbol only with an option
NOISE_KNOWN = {"gilbert-elliott": {"state_known": True}}
#: channels whose noise is not the nominal sigma2 on every symbol
NON_NOMINAL_NOISE = {"gilbert-elliott", "composite"}


def symbols(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return normalize_power(complex_normal((batch, length), g))


def test_every_documented_channel_is_registered() -> None:
    expected = {"awgn", "rayleigh", "rician", "gauss-markov", "gilbert-elliott", "blockage", "composite"}
    assert expected <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_unit_average_gain(name: str, stats) -> None:
    # E|h|^2 = 1, so snr_db is the average received SNR. Many short images, so that the
    # slow channels (one draw per image or per long segment) are averaged over many draws.
    g = torch.Generator().manual_seed(11)
    h = create_channel(name).sample_gain((1000, 100), g)
    assert h.dtype == torch.complex64 and h.shape == (1000, 100)
    mean, se = stats.row_mean(h.abs().pow(2))
    stats.within(mean, 1.0, se, f"{name} E|h|^2", floor=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_noise_matches_reported_variance(name: str, stats) -> None:
    channel = create_channel(name, **NOISE_KNOWN.get(name, {}))
    z = symbols(100, 1000)
    out = channel(z, 5.0, torch.Generator().manual_seed(3))
    assert isinstance(out, ChannelOutput)
    received = out.symbols - out.gain * z
    kept = ~out.erasures if out.erasures is not None else torch.ones_like(z, dtype=torch.bool)
    ratio, se = stats.row_ratio(received.abs().pow(2) * kept, out.noise_var.expand_as(z) * kept)
    stats.within(ratio, 1.0, se, f"{name} noise power / reported noise_var")


@pytest.mark.parametrize("name", sorted(set(NAMES) - NON_NOMINAL_NOISE))
def test_measured_average_snr(name: str, stats) -> None:
    # 10 log10(E|h z|^2 / E|n|^2) over many images equals the requested snr_db.
    snr_db = 7.0
    z = symbols(500, 200, seed=1)
    out = create_channel(name)(z, snr_db, torch.Generator().manual_seed(4))
    signal = (out.gain * z).abs().pow(2)
    noise = (out.symbols - out.gain * z).abs().pow(2)
    ratio, se = stats.row_ratio(signal, noise)
    stats.within(10 * math.log10(ratio), snr_db, 10 / math.log(10) * se / ratio, f"{name} measured SNR (dB)")


@pytest.mark.parametrize("name", NAMES)
def test_imperfect_csi_has_requested_nmse(name: str, stats) -> None:
    nmse = 0.1
    channel = create_channel(name, csi_nmse=nmse)
    out = channel(symbols(100, 1000), 10.0, torch.Generator().manual_seed(5))
    measured, se = stats.row_ratio((out.csi - out.gain).abs().pow(2), out.gain.abs().pow(2))
    stats.within(measured, nmse, se, f"{name} CSI NMSE")
    perfect = create_channel(name)(symbols(4, 100), 10.0, torch.Generator().manual_seed(5))
    assert torch.equal(perfect.csi, perfect.gain)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("method", ["zf", "mmse"])
def test_gradients_flow_to_the_symbols(name: str, method: str) -> None:
    z = symbols(3, 256).requires_grad_(True)
    target = symbols(3, 256, seed=9)
    out = create_channel(name)(z, 10.0, torch.Generator().manual_seed(6))
    loss = (equalize(out, method) - target).abs().pow(2).mean()
    loss.backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
    assert z.grad.abs().sum() > 0
    if out.erasures is not None:  # an erased symbol carries no information back
        assert torch.all(z.grad[out.erasures] == 0)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_output(name: str) -> None:
    channel = create_channel(name, csi_nmse=0.05)
    z = symbols(4, 3000)
    runs = [channel(z, 3.0, torch.Generator().manual_seed(seed)) for seed in (21, 21, 22)]
    for field in ("symbols", "csi", "gain", "noise_var", "erasures"):
        a, b, c = (getattr(r, field) for r in runs)
        if a is None:
            assert b is None and c is None
            continue
        assert torch.equal(a, b), f"{name}.{field} differs for the same seed"
    assert not torch.equal(runs[0].symbols, runs[2].symbols)


@pytest.mark.parametrize("name", NAMES)
def test_zero_forcing_inverts_a_noiseless_channel(name: str) -> None:
    z = symbols(8, 2000)
    out = create_channel(name)(z, 300.0, torch.Generator().manual_seed(7))
    z_hat = equalize(out, "zf")
    usable = out.gain.abs().pow(2) > 1e-4
    if out.erasures is not None:
        usable &= ~out.erasures
        assert torch.all(z_hat[out.erasures] == 0)
    assert usable.float().mean() > 0.5
    error = (z_hat - z).abs()[usable]
    assert error.max() <= 1e-5 + 1e-4 * z.abs().max(), f"{name}: ZF error {error.max():.3g}"


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_and_multi_axis_input(name: str) -> None:
    z = symbols(2, 3 * 64).reshape(2, 3, 64)
    out = create_channel(name)(z, 10.0, torch.Generator().manual_seed(8))
    assert out.symbols.shape == out.csi.shape == out.gain.shape == (2, 3, 64)
    assert out.symbols.dtype == out.csi.dtype == torch.complex64
    assert out.noise_var.dim() == 3 and out.noise_var.dtype == torch.float32
    assert torch.isfinite(out.symbols).all()


@pytest.mark.parametrize("name", NAMES)
def test_rejects_non_finite_snr_and_real_input(name: str) -> None:
    channel = create_channel(name)
    z = symbols(2, 64)
    for bad in (float("nan"), float("inf"), torch.tensor([1.0, float("nan")])):
        with pytest.raises(SemcomError, match="finite"):
            channel(z, bad)
    with pytest.raises(SemcomError, match="SNR values"):
        channel(z, torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(SemcomError, match="complex"):
        channel(z.real, 10.0)
    with pytest.raises(SemcomError, match="csi_nmse"):
        create_channel(name, csi_nmse=-0.1)


def test_per_image_snr() -> None:
    z = symbols(2, 4000)
    out = create_channel("awgn")(z, torch.tensor([0.0, 20.0]), torch.Generator().manual_seed(9))
    assert torch.allclose(out.noise_var.reshape(-1), snr_db_to_noise_var(torch.tensor([0.0, 20.0])))
    power = (out.symbols - z).abs().pow(2).mean(dim=1)
    assert power[0] > 50 * power[1]


def test_list_channels_matches_constructors() -> None:
    listing = list_channels()
    assert sorted(listing) == NAMES
    for name, entry in listing.items():
        assert entry["description"] and "\n" not in entry["description"]
        signature = inspect.signature(CHANNELS.get(name))
        assert list(entry["params"]) == list(signature.parameters)
        assert "csi_nmse" in entry["params"]
        channel = create_channel(name, **entry["params"])
        assert isinstance(channel, Channel) and channel.name == name
        described = channel.describe()
        for key, default in entry["params"].items():
            assert described[key] == default or (default is None and described[key] in (None, 0)), (name, key)
    assert list(list_channels("ray*")) == ["rayleigh"]


def test_create_channel_resolves_names_and_parameters() -> None:
    assert create_channel("RICIAN", k=5).K == 5.0  # case-insensitive name and parameter
    with pytest.raises(UnknownNameError, match="unknown channel 'raleigh'.*did you mean rayleigh"):
        create_channel("raleigh")
    with pytest.raises(SemcomError, match="channel 'rician' has no parameter 'snr'"):
        create_channel("rician", snr=3)
