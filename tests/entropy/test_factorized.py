"""FactorizedPrior: density, training modes, aux loss, exact coding, rate, bad input."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from semcom.entropy import BitstreamError, FactorizedPrior
from semcom.errors import SemcomError

CHANNELS = 192
LAPLACE_SCALES = torch.exp(torch.linspace(0.0, math.log(20.0), CHANNELS))  # 1..20
CENTERS = torch.linspace(-3.0, 3.0, CHANNELS)


def laplace_sample(gen: torch.Generator, batch: int, size: int,
                   scales: torch.Tensor = LAPLACE_SCALES, centers: torch.Tensor = CENTERS
                   ) -> torch.Tensor:
    """``(batch, C, size, size)`` Laplacian data, per-channel ``scales`` and ``centers``."""
    c = scales.numel()
    u = torch.rand(batch, c, size, size, generator=gen) - 0.5
    x = -torch.sign(u) * torch.log1p(-2 * u.abs()) * scales.view(1, c, 1, 1)
    return x + centers.view(1, c, 1, 1)


def fit_prior(prior: FactorizedPrior, data: torch.Tensor, steps: int, aux_lr: float) -> list[float]:
    """Train the density (noise mode) and the quantiles (aux loss); return aux losses."""
    density = [p for name, p in prior.named_parameters() if name != "quantiles"]
    main_opt = torch.optim.Adam(density, lr=0.05)
    aux_opt = torch.optim.Adam([prior.quantiles], lr=aux_lr)
    history = []
    for _ in range(steps):
        _, likelihoods = prior(data, mode="noise")
        loss = -torch.log2(likelihoods).mean()
        main_opt.zero_grad()
        loss.backward()
        main_opt.step()
        aux = prior.aux_loss()
        aux_opt.zero_grad()
        aux.backward()
        aux_opt.step()
        history.append(float(aux.detach()))
    return history


@pytest.fixture(scope="module")
def prior() -> FactorizedPrior:
    """192 channels fitted for 100 quick steps to Laplacian data (scales 1..20), updated."""
    torch.manual_seed(0)
    model = FactorizedPrior(CHANNELS)
    fit_prior(model, laplace_sample(torch.Generator().manual_seed(7), 1, 8), 100, aux_lr=3.0)
    model.update()
    return model.eval()


@pytest.fixture
def z(gen) -> torch.Tensor:
    return laplace_sample(gen, 2, 16)


# ------------------------------------------------------------------ density / training
def test_likelihoods_sum_to_one_over_integers():
    torch.manual_seed(1)
    model = FactorizedPrior(3, init_scale=4.0)
    grid = torch.arange(-400, 401, dtype=torch.float32)
    values = (grid.view(1, 1, -1) + torch.tensor([0.0, 0.25, -0.4]).view(1, 3, 1))
    with torch.no_grad():
        total = model.likelihood(values).sum(-1).squeeze(0)
    torch.testing.assert_close(total, torch.ones(3), atol=1e-4, rtol=0)


def test_density_is_monotone_cdf():
    model = FactorizedPrior(2)
    with torch.no_grad():
        for p in model.factors:
            p.fill_(-5.0)  # tanh(a) close to -1: the most non-linear allowed
        x = torch.linspace(-50, 50, 2001).repeat(2, 1, 1)
        cdf = torch.sigmoid(model._logits_cumulative(x))
    assert bool((cdf[..., 1:] >= cdf[..., :-1]).all())


def test_noise_mode_gradients_flow(gen):
    model = FactorizedPrior(4)
    z = torch.randn(2, 4, 5, 5, generator=gen, requires_grad=True)
    z_hat, likelihoods = model(z, mode="noise")
    assert not torch.equal(z_hat, torch.round(z_hat))  # noisy, not rounded
    assert float((z_hat - z).detach().abs().max()) <= 0.5
    (-torch.log2(likelihoods).sum()).backward()
    assert z.grad is not None and float(z.grad.abs().sum()) > 0
    assert all(float(p.grad.abs().sum()) > 0 for p in model.matrices)
    assert model.quantiles.grad is None  # the rate loss does not move the quantiles


def test_ste_forward_is_exactly_rounded_and_gradient_passes(gen):
    model = FactorizedPrior(4)
    with torch.no_grad():
        model.quantiles[:, 0, 1] = torch.tensor([0.3, -0.2, 0.0, 1.7])
    z = (torch.randn(2, 4, 5, 5, generator=gen) * 3).requires_grad_()
    z_hat, likelihoods = model(z, mode="ste")
    medians = model.medians().view(1, 4, 1, 1)
    assert torch.equal(z_hat, torch.round(z.detach() - medians) + medians)
    z_hat.sum().backward(retain_graph=True)
    assert torch.equal(z.grad, torch.ones_like(z))
    z.grad = None
    (-torch.log2(likelihoods).sum()).backward()
    assert float(z.grad.abs().sum()) > 0
    rounded, _ = model(z, mode="round")
    assert torch.equal(rounded, z_hat.detach())


def test_aux_loss_fits_the_quantiles_of_the_density():
    # no hidden layers: F(x) = sigmoid(a x + b), a logistic with known quantiles
    model = FactorizedPrior(2, filters=())
    a, b = torch.tensor([0.5, 2.0]), torch.tensor([1.0, -3.0])
    with torch.no_grad():
        model.matrices[0].copy_(torch.log(torch.expm1(a)).view(2, 1, 1))
        model.biases[0].copy_(b.view(2, 1, 1))
    t = math.log(2 / 1e-9 - 1)
    expected = torch.stack([(-t - b) / a, -b / a, (t - b) / a], dim=1)
    optimizer = torch.optim.Adam([model.quantiles], lr=2.0)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.97)
    for _ in range(200):
        optimizer.zero_grad()
        model.aux_loss().backward()
        optimizer.step()
        schedule.step()
    torch.testing.assert_close(model.quantiles.detach()[:, 0], expected, atol=0.05, rtol=0)
    assert float(model.aux_loss().detach()) < 0.05


def test_aux_loss_moves_quantiles_towards_the_data_tails(gen):
    torch.manual_seed(2)
    scales = torch.tensor([0.5, 1.0, 3.0, 6.0])
    centers = torch.tensor([0.0, 2.0, -4.0, 8.0])
    data = laplace_sample(gen, 1, 16, scales=scales, centers=centers)
    model = FactorizedPrior(4)  # quantiles start at (-10, 0, 10)
    history = fit_prior(model, data, steps=100, aux_lr=2.0)
    q = model.quantiles.detach()[:, 0]
    assert history[-1] < 0.1 * history[0]
    # a Laplace median is its center
    torch.testing.assert_close(q[:, 1], centers, atol=0.75, rtol=0)
    # the tails bracket all the data and spread with the scale (~20.7 b at 1e-9)
    assert bool((q[:, 0] < data.amin((0, 2, 3))).all() and (q[:, 2] > data.amax((0, 2, 3))).all())
    width = q[:, 2] - q[:, 0]
    assert bool((width[1:] > width[:-1]).all())
    assert float(width[3]) > 5 * 20.0
    assert bool((width < 4 * 2 * 20.7 * scales).all())


def test_aux_loss_gradient_reaches_only_the_quantiles():
    model = FactorizedPrior(3)
    model.aux_loss().backward()
    assert float(model.quantiles.grad.abs().sum()) > 0
    assert all(p.grad is None for name, p in model.named_parameters() if name != "quantiles")


# ------------------------------------------------------------------ tables / coding
def test_update_builds_valid_tables(prior):
    counts, lengths = prior.cdf_counts.long(), prior.cdf_lengths.long()
    assert counts.shape[0] == CHANNELS and lengths.shape == (CHANNELS,)
    valid = torch.arange(counts.shape[1]).view(1, -1) < lengths.view(-1, 1)
    assert bool((counts[valid] >= 1).all())
    assert torch.equal((counts * valid).sum(1), torch.full((CHANNELS,), 2**24))
    assert bool((prior.cdf_offsets <= 0).all())
    # wider channels get wider tables
    assert int(lengths[-1]) > 5 * int(lengths[0])
    assert torch.equal(prior.table_medians, prior.medians())


def test_round_trip_is_exact_including_escapes(prior, z):
    z = z.clone()
    z[0, 0, 0, 0] = 1.0e4
    z[0, 5, 3, 2] = -1.0e4
    z[1, 191, 15, 15] = 123456.7
    z[1, 100, 0, 1] = -(2.0**29)
    strings, z_hat = prior.compress(z)
    assert len(strings) == 2 and all(isinstance(s, bytes) for s in strings)
    decoded = prior.decompress(strings, (16, 16))
    assert torch.equal(decoded, z_hat)
    rounded, _ = prior(z, mode="round")
    assert torch.equal(z_hat, rounded)
    medians = prior.table_medians.view(1, -1, 1, 1)
    assert torch.equal(torch.round(decoded - medians), torch.round(z - medians))
    assert float(decoded[0, 0, 0, 0]) == pytest.approx(1.0e4, abs=0.5)


def test_bytes_do_not_depend_on_thread_count(prior, z):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one, _ = prior.compress(z)
        torch.set_num_threads(2)
        two, _ = prior.compress(z)
        decoded_two = prior.decompress(one, (16, 16))
        torch.set_num_threads(1)
        decoded_one = prior.decompress(one, (16, 16))
    finally:
        torch.set_num_threads(threads)
    assert one == two
    assert torch.equal(decoded_one, decoded_two)


def test_state_dict_reproduces_the_same_bytes(prior, z):
    strings, z_hat = prior.compress(z)
    buffer = io.BytesIO()
    torch.save(prior.state_dict(), buffer)
    buffer.seek(0)
    fresh = FactorizedPrior(CHANNELS)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh.compress(z)[0] == strings
    assert torch.equal(fresh.decompress(strings, (16, 16)), z_hat)


def test_tables_are_frozen_until_the_next_update(prior, z):
    strings, _ = prior.compress(z)
    copy = FactorizedPrior(CHANNELS)
    copy.load_state_dict(prior.state_dict())
    with torch.no_grad():
        copy.quantiles.add_(0.3)  # training continues after update()
    assert copy.compress(z)[0] == strings
    copy.update()
    assert copy.compress(z)[0] != strings


def test_rate_matches_the_likelihoods(prior, gen):
    z = laplace_sample(gen, 1, 16)  # 192 x 16 x 16
    strings, _ = prior.compress(z)
    _, likelihoods = prior(z, mode="round")
    model_bits = float(-torch.log2(likelihoods.detach()).sum())
    coded_bits = 8 * len(strings[0])
    gap = coded_bits / model_bits - 1
    print(f"\nfactorized prior: coded {coded_bits} bits, model {model_bits:.0f} bits, "
          f"gap {100 * gap:+.3f} %")
    assert abs(gap) < 0.02


# ------------------------------------------------------------------ errors / bad input
def test_compress_before_update_says_to_call_update():
    model = FactorizedPrior(4)
    with pytest.raises(SemcomError, match=r"update\(\)"):
        model.compress(torch.zeros(1, 4, 2, 2))
    with pytest.raises(SemcomError, match=r"update\(\)"):
        model.decompress([b""], (2, 2))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_input_is_rejected(prior, bad):
    z = torch.zeros(1, CHANNELS, 2, 2)
    z[0, 3, 1, 1] = bad
    with pytest.raises(SemcomError, match="NaN or infinite"):
        prior.compress(z)
    with pytest.raises(SemcomError, match="NaN or infinite"):
        prior(z, mode="noise")


def test_wrong_shapes_and_modes_are_rejected(prior):
    with pytest.raises(SemcomError, match="expected a"):
        prior.compress(torch.zeros(1, 3, 2, 2))
    with pytest.raises(SemcomError, match="quantization mode"):
        prior(torch.zeros(1, CHANNELS, 2, 2), mode="floor")
    with pytest.raises(SemcomError, match="sequence of byte strings"):
        prior.decompress(b"abcd", (2, 2))


@pytest.mark.parametrize("kwargs", [dict(channels=0), dict(channels=2, filters=(3, 0)),
                                    dict(channels=2, init_scale=0.0),
                                    dict(channels=2, likelihood_bound=0.0),
                                    dict(channels=2, tail_mass=1.5)])
def test_constructor_validates(kwargs):
    with pytest.raises(SemcomError):
        FactorizedPrior(**kwargs)


def test_bad_bytes_raise_bitstream_error(prior, z):
    strings, _ = prior.compress(z[:1, :, :4, :4])
    good = strings[0]
    rng = np.random.default_rng(1234)
    inputs = [b"", good[:-4], good[:-1], good + b"\x00\x00\x00\x00", good[: len(good) // 2]]
    for _ in range(100):
        inputs.append(rng.integers(0, 256, size=int(rng.integers(0, 2 * len(good))),
                                   dtype=np.uint8).tobytes())
    for _ in range(100):
        flipped = bytearray(good)
        bit = int(rng.integers(0, 8 * len(good)))
        flipped[bit // 8] ^= 1 << (bit % 8)
        inputs.append(bytes(flipped))
    detected = 0
    for data in inputs:
        try:
            out = prior.decompress([data], (4, 4))
        except BitstreamError:
            detected += 1
        else:  # undetected corruption must still give a well-formed tensor
            assert out.shape == (1, CHANNELS, 4, 4)
    assert detected >= len(inputs) - 3
