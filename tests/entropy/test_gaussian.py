"""GaussianConditional: likelihoods, training modes, tables, exact coding, rate, bad input."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from semcom.entropy import BitstreamError, GaussianConditional, default_scale_table
from semcom.errors import SemcomError

SHAPE = (192, 16, 16)


@pytest.fixture(scope="module")
def model() -> GaussianConditional:
    g = GaussianConditional()
    g.update()
    return g


@pytest.fixture
def latent(gen) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(y, scales, means)`` of one 192x16x16 image, scales log-uniform in 1..20."""
    scales = torch.exp(torch.rand(SHAPE, generator=gen) * math.log(20.0))
    means = torch.randn(SHAPE, generator=gen) * 4
    y = means + scales * torch.randn(SHAPE, generator=gen)
    return y, scales, means


# ------------------------------------------------------------------ likelihoods / training
@pytest.mark.parametrize("scale", [0.11, 0.7, 5.5, 60.0])
def test_likelihoods_sum_to_one_over_integers(scale):
    g = GaussianConditional(likelihood_bound=1e-15)  # 4001 bins x bound stays below 1e-11
    grid = torch.arange(-2000, 2001, dtype=torch.float64)
    for mean in (0.0, 0.3, -7.45):
        values = grid + mean
        total = g.likelihood(values, torch.tensor(scale, dtype=torch.float64),
                             torch.tensor(mean, dtype=torch.float64)).sum()
        assert float(total) == pytest.approx(1.0, abs=1e-6)


def test_tail_likelihood_has_no_cancellation():
    g = GaussianConditional(likelihood_bound=1e-30)
    values = torch.tensor([8.0, -8.0, 12.0])
    got = g.likelihood(values, torch.ones(3))  # float32
    reference = g.likelihood(values.double(), torch.ones(3, dtype=torch.float64))
    naive = (torch.special.ndtr(values + 0.5) - torch.special.ndtr(values - 0.5)).abs()
    assert float(naive[0]) == 0.0  # the upper-side difference cancels in float32
    torch.testing.assert_close(got.double(), reference, rtol=1e-4, atol=0)


def test_likelihood_bounds_apply():
    g = GaussianConditional(scale_bound=0.5, likelihood_bound=1e-6)
    lik = g.likelihood(torch.tensor([0.0, 100.0]), torch.tensor([1e-3, 1.0]))
    expected0 = math.erf(0.5 / 0.5 / math.sqrt(2))  # scale clamped to 0.5
    assert float(lik[0]) == pytest.approx(expected0, rel=1e-5)
    assert float(lik[1]) == pytest.approx(1e-6)


def test_noise_mode_gradients_flow(gen):
    g = GaussianConditional()
    y = (torch.randn(2, 3, 4, 4, generator=gen) * 3).requires_grad_()
    scales = (torch.rand(2, 3, 4, 4, generator=gen) * 3 + 0.5).requires_grad_()
    means = torch.randn(2, 3, 4, 4, generator=gen).requires_grad_()
    y_hat, likelihoods = g(y, scales, means, mode="noise")
    assert float((y_hat - y).detach().abs().max()) <= 0.5
    assert not torch.equal(y_hat, torch.round(y_hat))
    (-torch.log2(likelihoods).sum()).backward()
    for tensor in (y, scales, means):
        assert tensor.grad is not None and float(tensor.grad.abs().sum()) > 0


def test_ste_forward_is_exactly_rounded_and_gradient_passes(gen):
    g = GaussianConditional()
    y = (torch.randn(2, 3, 4, 4, generator=gen) * 3).requires_grad_()
    means = torch.randn(2, 3, 4, 4, generator=gen)
    scales = torch.full((2, 3, 4, 4), 2.0)
    y_hat, likelihoods = g(y, scales, means, mode="ste")
    assert torch.equal(y_hat, torch.round(y.detach() - means) + means)
    rounded, _ = g(y, scales, means, mode="round")
    assert torch.equal(rounded, y_hat.detach())
    y_hat.sum().backward(retain_graph=True)
    assert torch.equal(y.grad, torch.ones_like(y))
    y.grad = None
    (-torch.log2(likelihoods).sum()).backward()
    assert float(y.grad.abs().sum()) > 0


# ------------------------------------------------------------------ tables / indexes
def test_default_scale_table():
    table = default_scale_table()
    assert table.numel() == 64
    assert float(table[0]) == pytest.approx(0.11) and float(table[-1]) == pytest.approx(256.0)
    ratios = table[1:] / table[:-1]
    torch.testing.assert_close(ratios, torch.full_like(ratios, float(ratios[0])))


def test_build_indexes_takes_the_nearest_upper_entry(model):
    table = model.scale_table.float()
    scales = torch.stack([table[5], table[5] * 1.001, table[5] * 0.999, torch.tensor(0.01),
                          torch.tensor(-3.0), torch.tensor(1e6)])
    assert model.build_indexes(scales).tolist() == [5, 6, 5, 0, 0, 63]
    random = torch.exp(torch.rand(1000) * 6 - 2)
    idx = model.build_indexes(random)
    assert idx.dtype == torch.int64
    chosen = model.scale_table[idx]
    inside = random.double() <= model.scale_table[-1]
    assert bool((chosen[inside] >= random.double()[inside] * (1 - 1e-7)).all())
    lower = model.scale_table[(idx - 1).clamp(min=0)]
    assert bool(((lower < random.double()) | (idx == 0)).all())


def test_update_builds_valid_tables(model):
    counts, lengths = model.cdf_counts.long(), model.cdf_lengths.long()
    assert counts.shape[0] == 64
    valid = torch.arange(counts.shape[1]).view(1, -1) < lengths.view(-1, 1)
    assert bool((counts[valid] >= 1).all())
    assert torch.equal((counts * valid).sum(1), torch.full((64,), 2**24))
    # symmetric range [-h, h] plus one escape, h ~ 6.1 sigma at tail mass 1e-9
    assert torch.equal(lengths, -2 * model.cdf_offsets.long() + 2)
    assert int(-model.cdf_offsets[-1]) == math.ceil(256 * 6.1094)
    # the most probable symbol is the centre
    centre = counts.gather(1, (-model.cdf_offsets.long()).view(-1, 1)).squeeze(1)
    assert torch.equal(centre, (counts * valid).max(1).values)


# ------------------------------------------------------------------ coding
def test_round_trip_is_exact_including_escapes(model, latent):
    y, scales, means = latent
    y = y.clone()
    y[0, 0, 0] = 1.0e4
    y[1, 2, 3] = -1.0e4
    y[5, 5, 5] = means[5, 5, 5] + 2.0**29
    y[6, 6, 6] = means[6, 6, 6] - 3.0e5
    indexes = model.build_indexes(scales)
    data = model.compress(y, indexes, means)
    decoded = model.decompress(data, indexes, means)
    rounded, _ = model(y, scales, means, mode="round")
    assert torch.equal(decoded, rounded)
    assert torch.equal(torch.round(decoded - means), torch.round(y - means))


def test_escape_values_far_outside_the_smallest_table(model):
    values = torch.tensor([0.0, 1.0, -1.0, 2.0, -2.0, 1e4, -1e4, 2.0**29, -(2.0**29) + 64])
    indexes = torch.zeros(values.shape, dtype=torch.long)  # scale 0.11: range [-1, 1]
    data = model.compress(values, indexes)
    assert torch.equal(model.decompress(data, indexes), values)
    with pytest.raises(SemcomError, match="too large"):
        model.compress(torch.tensor([2.0**31]), indexes[:1])


def test_round_trip_without_means_any_shape(model, gen):
    y = torch.randn(7, 3, 5, generator=gen) * 10
    indexes = torch.randint(0, 64, y.shape, generator=gen)
    data = model.compress(y, indexes)
    assert torch.equal(model.decompress(data, indexes), torch.round(y))


def test_bytes_do_not_depend_on_thread_count(model, latent):
    y, scales, means = latent
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = model.compress(y, model.build_indexes(scales), means)
        torch.set_num_threads(2)
        two = model.compress(y, model.build_indexes(scales), means)
        decoded_two = model.decompress(one, model.build_indexes(scales), means)
        torch.set_num_threads(1)
        decoded_one = model.decompress(two, model.build_indexes(scales), means)
    finally:
        torch.set_num_threads(threads)
    assert one == two
    assert torch.equal(decoded_one, decoded_two)


def test_state_dict_reproduces_the_same_bytes(model, latent):
    y, scales, means = latent
    indexes = model.build_indexes(scales)
    data = model.compress(y, indexes, means)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = GaussianConditional(scale_table=[1.0, 2.0])  # different table: replaced on load
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh.compress(y, indexes, means) == data
    expected = model.decompress(data, indexes, means)
    assert torch.equal(fresh.decompress(data, indexes, means), expected)


def test_corrupt_tables_are_rejected(model):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["cdf_counts"][3, 0] += 1  # row no longer sums to 2**24
    broken = GaussianConditional()
    broken.load_state_dict(state)
    with pytest.raises(SemcomError, match="corrupt"):
        broken.compress(torch.zeros(2), torch.zeros(2, dtype=torch.long))


def test_rate_matches_the_likelihoods(model, latent):
    y, scales, means = latent
    data = model.compress(y, model.build_indexes(scales), means)
    _, likelihoods = model(y, scales, means, mode="round")
    model_bits = float(-torch.log2(likelihoods.detach()).sum())
    coded_bits = 8 * len(data)
    gap = coded_bits / model_bits - 1
    print(f"\ngaussian conditional: coded {coded_bits} bits, model {model_bits:.0f} bits, "
          f"gap {100 * gap:+.3f} %")
    assert abs(gap) < 0.02


# ------------------------------------------------------------------ errors / bad input
def test_compress_before_update_says_to_call_update():
    g = GaussianConditional()
    idx = torch.zeros(3, dtype=torch.long)
    with pytest.raises(SemcomError, match=r"update\(\)"):
        g.compress(torch.zeros(3), idx)
    with pytest.raises(SemcomError, match=r"update\(\)"):
        g.decompress(b"", idx)


@pytest.mark.parametrize("where", ["y", "scales", "means"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_inputs_are_rejected(model, where, bad):
    tensors = {"y": torch.zeros(4), "scales": torch.ones(4), "means": torch.zeros(4)}
    tensors[where][2] = bad
    with pytest.raises(SemcomError, match="NaN or infinite"):
        model(tensors["y"], tensors["scales"], tensors["means"], mode="round")
    with pytest.raises(SemcomError, match="NaN or infinite"):
        idx = model.build_indexes(tensors["scales"])
        model.compress(tensors["y"], idx, tensors["means"])


def test_bad_indexes_are_rejected(model):
    y = torch.zeros(4)
    with pytest.raises(SemcomError, match="shape"):
        model.compress(y, torch.zeros(3, dtype=torch.long))
    with pytest.raises(SemcomError, match="integer tensor"):
        model.compress(y, torch.zeros(4))
    with pytest.raises(SemcomError, match=r"\[0, 64\)"):
        model.compress(y, torch.full((4,), 64))
    with pytest.raises(SemcomError, match="quantization mode"):
        model(y, torch.ones(4), mode="nearest")


@pytest.mark.parametrize("kwargs", [dict(scale_table=[]), dict(scale_table=[1.0, 0.5]),
                                    dict(scale_table=[0.0, 1.0]), dict(scale_bound=0.0),
                                    dict(likelihood_bound=1.0), dict(tail_mass=0.7)])
def test_constructor_validates(kwargs):
    with pytest.raises(SemcomError):
        GaussianConditional(**kwargs)


def test_bad_bytes_raise_bitstream_error(model, gen):
    scales = torch.exp(torch.rand(8, 8, 8, generator=gen) * 3)
    means = torch.randn(8, 8, 8, generator=gen)
    y = means + scales * torch.randn(8, 8, 8, generator=gen)
    indexes = model.build_indexes(scales)
    good = model.compress(y, indexes, means)
    rng = np.random.default_rng(99)
    inputs = [b"", b"\x00" * 4, good[:-4], good[:-2], good + b"\xff" * 4, good[: len(good) // 3],
              good[4:]]
    for _ in range(100):
        inputs.append(rng.integers(0, 256, size=4 * int(rng.integers(0, len(good) // 2)),
                                   dtype=np.uint8).tobytes())
    for _ in range(100):
        flipped = bytearray(good)
        for bit in rng.integers(0, 8 * len(good), size=int(rng.integers(1, 4))):
            flipped[int(bit) // 8] ^= 1 << (int(bit) % 8)
        inputs.append(bytes(flipped))
    detected = 0
    for data in inputs:
        try:
            out = model.decompress(data, indexes, means)
        except BitstreamError as error:
            assert "bitstream" in str(error)
            detected += 1
        else:
            assert out.shape == y.shape
    assert detected >= len(inputs) - 3
