"""Partitions and the multi-step context model: tiling, causality, exact coding, rate."""

from __future__ import annotations

import pytest
import torch

from semcom.entropy import BitstreamError, EntropyDecoder, EntropyEncoder, GaussianConditional
from semcom.entropy._ops import quantize
from semcom.entropy.context import ContextModel, coding_context
from semcom.entropy.partitions import (
    NUM_STEPS,
    PARTITIONS,
    channel_group_sizes,
    checkerboard_masks,
    partition_masks,
    quadtree_masks,
    quadtree_step_map,
)
from semcom.errors import SemcomError

M, H, W = 16, 8, 8


@pytest.fixture(scope="module")
def gaussian() -> GaussianConditional:
    g = GaussianConditional()
    g.update()
    return g


def _model(partition: str, channels: int = M, seed: int = 0) -> ContextModel:
    torch.manual_seed(seed)
    return ContextModel(channels, 2 * channels, partition, hidden=8, blocks=1).eval()


def _inputs(gen, batch: int = 1, channels: int = M, size: tuple[int, int] = (H, W)):
    y = torch.randn(batch, channels, *size, generator=gen) * 1.5
    hyper = torch.randn(batch, 2 * channels, *size, generator=gen)
    return y, hyper


# -------------------------------------------------------------------------- partitions
@pytest.mark.parametrize("name", PARTITIONS)
@pytest.mark.parametrize("size", [(8, 8), (6, 10), (5, 7)])
def test_partitions_tile_the_latent_once(name, size):
    masks = partition_masks(name, 32, *size)
    assert len(masks) == NUM_STEPS[name]
    count = torch.stack(masks).sum(0)
    assert masks[0].shape == (32, *size) and masks[0].dtype == torch.bool
    assert bool((count == 1).all())  # disjoint and covering


@pytest.mark.parametrize("name,expected", [("quadtree", [1 / 4] * 4), ("checkerboard", [1 / 2] * 2),
                                           ("channel_autoregressive", [2 / 32, 2 / 32, 4 / 32,
                                                                       8 / 32, 16 / 32])])
def test_step_sizes(name, expected):
    masks = partition_masks(name, 32, 8, 6)
    assert [float(m.float().mean()) for m in masks] == pytest.approx(expected)
    if name != "channel_autoregressive":  # spatial partitions code M / steps channels everywhere
        for mask in masks:
            assert bool((mask.sum(0) == 32 // len(masks)).all())


def test_quadtree_groups_use_distinct_assignments_with_0_4_4_8_neighbours():
    maps = [quadtree_step_map(8, 8, g) for g in range(4)]
    blocks = {tuple(m[:2, :2].reshape(-1).tolist()) for m in maps}
    assert len(blocks) == 4  # four different 2x2 assignments
    assert all(sorted(b) == [0, 1, 2, 3] for b in blocks)
    masks = quadtree_masks(8, 8, 8)
    for g, step_map in enumerate(maps):
        torch.testing.assert_close(masks[1][2 * g], step_map == 1)  # channel group g
        for step, neighbours in enumerate([0, 4, 4, 8]):
            r, c = (int(v) + 1 for v in torch.nonzero(step_map[1:-1, 1:-1] == step)[0])
            window = step_map[r - 1 : r + 2, c - 1 : c + 2]
            assert int((window < step).sum()) == neighbours


def test_checkerboard_parity_alternates_between_channel_groups():
    first = checkerboard_masks(4, 4, 4)[0]
    parity = (torch.arange(4).reshape(-1, 1) + torch.arange(4)) % 2
    assert bool((first[0] == (parity == 0)).all()) and bool((first[3] == (parity == 1)).all())


def test_channel_group_sizes():
    assert channel_group_sizes(320) == [16, 16, 32, 64, 192]
    assert channel_group_sizes(192) == [10, 10, 20, 40, 112]
    assert channel_group_sizes(16) == [1, 1, 2, 4, 8]
    assert channel_group_sizes(9) == [1, 1, 2, 4, 1]
    with pytest.raises(SemcomError):
        channel_group_sizes(8)


@pytest.mark.parametrize("name,channels", [("quadtree", 6), ("checkerboard", 5), ("nope", 8)])
def test_partitions_reject_bad_channels(name, channels):
    with pytest.raises(SemcomError):
        partition_masks(name, channels, 4, 4)


# ------------------------------------------------------------------------- training
@pytest.mark.parametrize("partition", PARTITIONS)
@pytest.mark.parametrize("mode", ["noise", "ste"])
def test_forward_backpropagates(gaussian, gen, partition, mode):
    model = _model(partition).train()
    y, hyper = _inputs(gen, batch=2)
    y.requires_grad_()
    hyper.requires_grad_()
    y_hat, likelihoods, means, scales = model(y, hyper, gaussian, mode)
    for t in (y_hat, likelihoods, means, scales):
        assert t.shape == y.shape
    assert bool((scales >= gaussian.scale_bound).all()) and bool((likelihoods <= 1).all())
    loss = -torch.log2(likelihoods).sum() + y_hat.square().mean()
    loss.backward()
    assert y.grad is not None and hyper.grad is not None
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("partition", PARTITIONS)
def test_steps_are_causal(gaussian, gen, partition):
    model = _model(partition)
    y, hyper = _inputs(gen)
    masks = model.masks(H, W)
    with torch.no_grad():
        _, _, means, scales = model(y, hyper, gaussian, "round")
        for t in range(len(masks)):
            later = torch.stack(masks[t:]).any(0)
            moved = torch.where(later, y + 3.0 * torch.randn(y.shape, generator=gen), y)
            _, _, means2, scales2 = model(moved, hyper, gaussian, "round")
            upto = torch.stack(masks[: t + 1]).any(0).expand_as(y)
            assert torch.equal(means2[upto], means[upto])
            assert torch.equal(scales2[upto], scales[upto])
            if t > 0:  # ... and the context is really used: step t reacts to steps < t
                _, _, means3, _ = model(torch.where(later, y, y + 3.0), hyper, gaussian, "round")
                here = masks[t].expand_as(y)
                assert not torch.equal(means3[here], means[here])


def test_noise_mode_context_options(gaussian, gen):
    y, hyper = _inputs(gen)
    for option in ("ste", "noise"):
        torch.manual_seed(0)
        model = ContextModel(M, 2 * M, hidden=8, blocks=1, noise_context=option)
        y_hat, _, _, _ = model(y, hyper, gaussian, "noise")
        assert float((y_hat - y).abs().max()) <= 0.5  # the returned y_hat is the noisy one
    with pytest.raises(SemcomError):
        ContextModel(M, 2 * M, noise_context="round")


# ---------------------------------------------------------------------------- coding
def _round_trip(model, gaussian, y, hyper):
    encoder = EntropyEncoder()
    y_hat = model.compress(y, hyper, gaussian, encoder)
    data = encoder.finish()
    decoder = EntropyDecoder(data)
    decoded = model.decompress(hyper, gaussian, decoder, y.shape)
    decoder.finish()
    return data, y_hat, decoded


@pytest.mark.parametrize("partition", PARTITIONS)
@pytest.mark.parametrize("batch", [1, 2])
def test_round_trip_is_bit_exact(gaussian, gen, partition, batch):
    model = _model(partition)
    y, hyper = _inputs(gen, batch=batch)
    _, y_hat, decoded = _round_trip(model, gaussian, y, hyper)
    assert torch.equal(decoded, y_hat) and not torch.is_inference(decoded)
    with torch.no_grad():
        reference, _, _, _ = model(y, hyper, gaussian, "round")
    torch.testing.assert_close(y_hat, reference, rtol=0, atol=1e-5)


def test_coding_is_independent_of_the_callers_thread_count(gaussian, gen):
    model = _model("quadtree")
    y, hyper = _inputs(gen, batch=2, size=(16, 16))
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        encoder = EntropyEncoder()
        y_hat = model.compress(y, hyper, gaussian, encoder)
        assert torch.get_num_threads() == 2  # restored by the coding context
        data = encoder.finish()
        torch.set_num_threads(1)
        other = EntropyEncoder()
        model.compress(y, hyper, gaussian, other)
        assert other.finish() == data
        decoder = EntropyDecoder(data)
        decoded = model.decompress(hyper.contiguous(memory_format=torch.channels_last),
                                   gaussian, decoder, y.shape)
        decoder.finish()
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(decoded, y_hat)


def test_coding_context_restores_threads_on_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), coding_context():
        assert torch.get_num_threads() == 1 and torch.is_inference_mode_enabled()
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("partition", PARTITIONS)
def test_corrupt_stream_raises(gaussian, gen, partition):
    model = _model(partition)
    y, hyper = _inputs(gen)
    data, _, _ = _round_trip(model, gaussian, y, hyper)
    # (one appended 32-bit word is not detected by the stream layer itself: not tested here)
    corrupted = [data[: len(data) - 4], data[: len(data) - 8], data[: len(data) // 2], b""]
    for pos in (0, 3, len(data) // 3, len(data) // 2, len(data) - 5, len(data) - 1):
        flipped = bytearray(data)
        flipped[pos] ^= 0x5A
        corrupted.append(bytes(flipped))
    for bad in corrupted:
        with pytest.raises(BitstreamError):
            decoder = EntropyDecoder(bad)
            model.decompress(hyper, gaussian, decoder, y.shape)
            decoder.finish()


@pytest.mark.parametrize("partition", PARTITIONS)
def test_stream_size_matches_the_training_rate(gaussian, partition):
    """A latent drawn from the model's own conditionals (step by step): the coder's size
    and ``-log2`` of the "round" likelihoods agree to within 2 %."""
    channels, size = 32, 16
    model = _model(partition, channels)
    gen = torch.Generator().manual_seed(7)
    hyper = torch.randn(1, 2 * channels, size, size, generator=gen)
    y = torch.zeros(1, channels, size, size)
    with torch.no_grad():
        context = torch.zeros_like(y)
        for step, mask in enumerate(model.masks(size, size)):
            mu, sigma = model.step_parameters(step, hyper, context, gaussian.scale_bound)
            y = torch.where(mask, mu + sigma * torch.randn(y.shape, generator=gen), y)
            context = torch.where(mask, quantize(y, "round", mu), context)
        _, likelihoods, _, _ = model(y, hyper, gaussian, "round")
    estimate = float(-torch.log2(likelihoods).sum())
    encoder = EntropyEncoder()
    model.compress(y, hyper, gaussian, encoder)
    measured = 8 * len(encoder.finish())
    assert estimate > 5000
    assert measured == pytest.approx(estimate, rel=0.02)


def test_bad_arguments(gaussian, gen):
    y, hyper = _inputs(gen)
    model = _model("checkerboard")
    with pytest.raises(SemcomError):
        model(y, hyper[:, :5], gaussian, "round")
    with pytest.raises(SemcomError):
        model(y, hyper, gaussian, "floor")
    with pytest.raises(SemcomError):
        model.compress(y, hyper, GaussianConditional(), EntropyEncoder())  # no update()
    with pytest.raises(SemcomError):
        ContextModel(M, 2 * M, "hexagonal")
    with pytest.raises(SemcomError):
        ContextModel(6, 12, "quadtree")
