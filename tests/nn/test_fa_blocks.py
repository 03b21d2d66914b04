"""FAJSCC's blocks on their own: GDF, spatial attention, SNR features, importance
predictor, warping, window selection, FA block and group, fast convolutions."""

import pytest
import torch
import torch.nn.functional as F

from semcom.metrics.complexity import count_macs
from semcom.nn.conv_fast import DilatedDepthwiseConv, Pointwise
from semcom.nn.fa_block import FABlock, FAGroup, important_windows
from semcom.nn.gdf import GatedDepthwiseFeedForward
from semcom.nn.importance import ImportancePredictor, warp
from semcom.nn.snr_features import BlockSNRProjection, SNRFeatures
from semcom.nn.spatial_attention import SpatialAttention
from semcom.nn.windows import window_partition


def _all_grads(module: torch.nn.Module) -> list[str]:
    return [n for n, p in module.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]


def test_gdf_shape_and_gating():
    torch.manual_seed(0)
    gdf = GatedDepthwiseFeedForward(6)
    x = torch.randn(2, 6, 5, 7, requires_grad=True)
    y = gdf(x)
    assert y.shape == x.shape
    assert all(p.bias is None for p in (gdf.expand, gdf.depthwise, gdf.project))
    a, b = gdf.depthwise(gdf.expand(x)).chunk(2, dim=1)
    torch.testing.assert_close(y, gdf.project(F.gelu(a) * b))
    y.square().sum().backward()
    assert not _all_grads(gdf)


def test_spatial_attention_scales_positions():
    torch.manual_seed(0)
    sa = SpatialAttention()
    x = torch.randn(2, 4, 9, 9)
    w = sa.weights(x)
    assert w.shape == (2, 1, 9, 9) and (w > 0).all() and (w < 1).all()
    torch.testing.assert_close(sa(x), x * w)


def test_two_step_snr_features():
    torch.manual_seed(0)
    group, block = SNRFeatures(), BlockSNRProjection(12)
    f = group(torch.tensor([1.0, 10.0]))
    assert f.shape == (2, 8, 1, 1)
    out = block(f)
    assert out.shape == (2, 12, 1, 1)
    assert not torch.allclose(out[0], out[1])  # the SNR reaches the block feature


def test_importance_predictor_outputs():
    torch.manual_seed(0)
    pred = ImportancePredictor(16, window=4, max_offset=3.0)
    v, extra = torch.randn(2, 16, 8, 12), torch.randn(2, 4, 8, 12)
    imp = pred(v, extra)
    assert imp.offsets.shape == (2, 2, 8, 12) and imp.offsets.abs().max() <= 3.0
    assert imp.channel_attention.shape == (2, 16, 1, 1)
    assert imp.spatial_attention.shape == (2, 1, 8, 12)
    assert imp.window_logits.shape == (2, 6, 2)
    scores = imp.scores()
    assert scores.shape == (2, 6) and ((scores > 0) & (scores < 1)).all()


def test_warp_zero_offsets_is_identity_and_integer_offsets_shift():
    x = torch.randn(1, 3, 6, 8)
    torch.testing.assert_close(warp(x, torch.zeros(1, 2, 6, 8)), x)
    right = torch.zeros(1, 2, 6, 8)
    right[:, 0] = 1.0  # sample one pixel to the right (x offset)
    torch.testing.assert_close(warp(x, right)[..., :-1], x[..., 1:])
    torch.testing.assert_close(warp(x, right)[..., -1], x[..., -1])  # border padding
    down = torch.zeros(1, 2, 6, 8)
    down[:, 1] = 2.0
    torch.testing.assert_close(warp(x, down)[..., :-2, :], x[..., 2:, :])


def test_warp_is_bilinear_and_differentiable_in_offsets():
    x = torch.arange(8.0).reshape(1, 1, 1, 8).expand(1, 1, 3, 8).contiguous()
    off = torch.zeros(1, 2, 3, 8)
    off[:, 0] = 0.25
    off.requires_grad_()
    y = warp(x, off)
    torch.testing.assert_close(y[..., :-1], x[..., :-1] + 0.25)
    y.sum().backward()
    assert off.grad[:, 0, :, :-1].abs().min() > 0


def test_important_windows_top_counts_and_order():
    logits = torch.randn(3, 10, 2)
    scores = logits.softmax(-1)[..., 0]
    for rho, k in ((0.0, 0), (0.26, 3), (0.5, 5), (1.0, 10)):
        chosen = important_windows(logits, rho, "top")
        assert [len(c) for c in chosen] == [k] * 3
        for b, idx in enumerate(chosen):
            if k:
                assert torch.equal(idx, scores[b].topk(k).indices)
    with pytest.raises(ValueError):
        important_windows(logits, 0.5, "random")


def test_important_windows_sample_mode_bounds():
    torch.manual_seed(0)
    logits = torch.zeros(4, 16, 2)  # p = 0.5: sampled ratio about 0.5
    counts = [len(c) for c in important_windows(logits, 0.5, "sample")]
    assert all(0 <= c <= 16 for c in counts) and len(set(counts)) > 1  # it does draw
    assert all(len(c) == 16 for c in important_windows(torch.tensor([[[9.0, -9.0]] * 16]), 1.0, "sample"))


def _block(dim=8, window=4, snr=True, seed=0) -> FABlock:
    torch.manual_seed(seed)
    return FABlock(dim, window, snr_adaptive=snr)


def _block_inputs(b=2, dim=8, h=8, w=12):
    torch.manual_seed(1)
    return torch.randn(b, dim, h, w), torch.randn(b, 2, h, w), torch.randn(b, 8, 1, 1)


def test_fa_block_training_samples_and_every_parameter_learns():
    blk = _block().train()
    x, g, s = _block_inputs()
    y, ratio = blk(x, g, s)
    assert y.shape == x.shape and ratio.shape == (2,)
    assert ((ratio * 6) == (ratio * 6).round()).all()  # a fraction of 6 windows
    (y.square().mean() + ratio.mean()).backward()
    assert not _all_grads(blk)  # the score MLP learns through the straight-through sample


def _dense_reference(blk: FABlock, x, g, s, keep: torch.Tensor) -> torch.Tensor:
    """The block computed densely: attention on every window, kept where ``keep``."""
    x = x + blk.snr(s)
    b, c, h, w = x.shape
    v = blk.value(x)
    from semcom.nn.windows import window_coordinates, window_reverse
    coords = window_coordinates(h, w, blk.window).expand(b, -1, -1, -1)
    imp = blk.predictor(v, torch.cat([g, coords], 1))
    light = window_partition(v * imp.spatial_attention, blk.window)
    q = blk.query(window_partition(x, blk.window))
    k = blk.key(window_partition(x + warp(x, imp.offsets), blk.window))
    att = torch.softmax(q @ k.transpose(-1, -2) * c ** -0.5, dim=-1) @ window_partition(v, blk.window)
    mixed = torch.where(keep[..., None, None], att, light)
    out = window_reverse(mixed, blk.window, h, w)
    out = blk.local(out) * imp.channel_attention + out
    x = blk.norm1(x + blk.out(out))
    return blk.norm2(x + blk.ffn(x))


def test_fa_block_inference_gathers_exactly_the_top_windows():
    blk = _block().eval()
    x, g, s = _block_inputs()
    with torch.no_grad():
        for rho in (0.0, 0.5, 1.0):
            y, ratio = blk(x, g, s, rho=rho)
            # which windows the block chose, from its own scores
            v = blk.value(x + blk.snr(s))
            from semcom.nn.windows import window_coordinates
            coords = window_coordinates(8, 12, 4).expand(2, -1, -1, -1)
            logits = blk.predictor(v, torch.cat([g, coords], 1)).window_logits
            keep = torch.zeros(2, 6, dtype=torch.bool)
            for b, idx in enumerate(important_windows(logits, rho)):
                keep[b, idx] = True
            torch.testing.assert_close(y, _dense_reference(blk, x, g, s, keep), atol=1e-5, rtol=1e-4)
            assert torch.allclose(ratio, torch.full((2,), round(rho * 6) / 6))


def test_fa_block_without_important_windows_ignores_query_and_key():
    blk = _block().eval()
    x, g, s = _block_inputs()
    with torch.no_grad():
        y0, _ = blk(x, g, s, rho=0.0)
        blk.query.weight.normal_()
        blk.key.weight.normal_()
        y1, _ = blk(x, g, s, rho=0.0)
        y2, _ = blk(x, g, s, rho=1.0)
    torch.testing.assert_close(y0, y1)
    assert not torch.allclose(y1, y2)


def test_fa_block_attention_compute_falls_with_rho():
    blk = _block(dim=16, window=4).eval()
    x, g, s = _block_inputs(dim=16, h=16, w=16)
    macs = [count_macs(blk, x, g, s, rho=r) for r in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(a < b for a, b in zip(macs, macs[1:]))
    # the step per window is q, k projections (16x16 per token) + two 16x16x16 products
    per_window = 2 * 16 * (16 * 16) + 2 * 16 * 16 * 16
    assert macs[-1] - macs[0] == 2 * 16 * per_window


def test_fa_group_any_size_and_ratios():
    torch.manual_seed(0)
    group = FAGroup(8, depth=2, window=4).train()
    x = torch.randn(2, 8, 10, 13, requires_grad=True)
    y, ratios = group(x, torch.tensor([1.0, 7.0]))
    assert y.shape == x.shape and ratios.shape == (2, 2)
    y.sum().backward()
    assert not _all_grads(group)
    group.eval()
    with torch.no_grad():
        y, ratios = group(x, torch.tensor([1.0, 7.0]), rho=0.5)
    assert y.shape == x.shape  # 3x4 windows of the padded 12x16 map: round(0.5 * 12) = 6
    assert torch.allclose(ratios, torch.full((2, 2), 0.5))


def test_fa_group_without_snr_adaptation_ignores_snr():
    torch.manual_seed(0)
    group = FAGroup(8, depth=1, window=4, snr_adaptive=False).eval()
    x = torch.randn(1, 8, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(group(x, torch.tensor([1.0]))[0], group(x, torch.tensor([13.0]))[0])
    assert group.snr is None and group.blocks[0].snr is None


@pytest.mark.parametrize("size", [(12, 16), (11, 9)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_convolutions_match_the_originals(size, channels_last):
    torch.manual_seed(0)
    x = torch.randn(2, 6, *size)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    dil = DilatedDepthwiseConv(6)
    ref = torch.nn.Conv2d(6, 6, 3, padding=2, dilation=2, groups=6)
    ref.load_state_dict(dil.state_dict())
    torch.testing.assert_close(dil(x), ref(x), atol=1e-6, rtol=1e-5)  # with gradients: the phase split
    with torch.no_grad():
        torch.testing.assert_close(dil(x), ref(x), atol=1e-6, rtol=1e-5)
    xg, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    upstream = torch.randn(2, 6, *size)
    (dil(xg) * upstream).sum().backward()
    (ref(xr) * upstream).sum().backward()
    torch.testing.assert_close(xg.grad, xr.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dil.weight.grad, ref.weight.grad, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(dil.bias.grad, ref.bias.grad, atol=1e-4, rtol=1e-5)
    pw = Pointwise(6, 5)
    ref1 = torch.nn.Conv2d(6, 5, 1)
    ref1.load_state_dict(pw.state_dict())
    torch.testing.assert_close(pw(x), ref1(x), atol=1e-6, rtol=1e-5)
    assert count_macs(pw, x) == count_macs(ref1, x)
