"""Windows (partition, masks, relative positions, window attention) and patch layers,
each checked against a hand-built reference."""

import pytest
import torch
import torch.nn.functional as F

from semcom.nn.patches import LayerNorm2d, PatchDivision, PatchEmbedding, PatchMerging
from semcom.nn.windows import (MASKED, WindowAttention, pad_to_window, relative_position_index,
                               shifted_window_mask, window_coordinates, window_partition, window_reverse)


def _hand_built_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """Swin's mask with explicit loops: after rolling by ``-shift``, a token belongs to
    row region 0 (above ``H - window``), 1 (above ``H - shift``) or 2 (the wrapped
    rows), the same for columns; tokens attend only within their region."""
    def region(i: int, size: int) -> int:
        return 0 if i < size - window else (1 if i < size - shift else 2)

    per_row = width // window
    n_windows = (height // window) * per_row
    t = window * window
    mask = torch.zeros(n_windows, t, t)
    for n in range(n_windows):
        top, left = (n // per_row) * window, (n % per_row) * window
        labels = [3 * region(top + p // window, height) + region(left + p % window, width) for p in range(t)]
        for p in range(t):
            for q in range(t):
                if labels[p] != labels[q]:
                    mask[n, p, q] = MASKED
    return mask


def test_partition_and_reverse_round_trip_bit_exactly(gen):
    x = torch.randn(2, 5, 12, 8, generator=gen)
    windows = window_partition(x, 4)
    assert windows.shape == (2, 6, 16, 5)
    assert torch.equal(window_reverse(windows, 4, 12, 8), x)


def test_partition_orders_windows_and_tokens_row_by_row(gen):
    x = torch.randn(1, 3, 4, 6, generator=gen)
    windows = window_partition(x, 2)  # 2 x 3 windows
    # window 4 = second row, second column; its token 1 = first row, second column
    assert torch.equal(windows[0, 4, 1], x[0, :, 2, 3])
    assert torch.equal(windows[0, 2, 2], x[0, :, 1, 4])


def test_pad_to_window_zero_pads_bottom_right(gen):
    x = torch.randn(1, 2, 5, 8, generator=gen)
    padded, size = pad_to_window(x, 4)
    assert size == (5, 8) and padded.shape == (1, 2, 8, 8)
    assert torch.equal(padded[..., :5, :], x) and (padded[..., 5:, :] == 0).all()
    same, _ = pad_to_window(x[..., :4, :], 4)
    assert same.shape == (1, 2, 4, 8)


@pytest.mark.parametrize("height, width, window, shift", [(8, 8, 4, 2), (24, 40, 8, 4), (12, 6, 3, 1),
                                                          (8, 16, 8, 4)])
def test_shifted_window_mask_equals_the_hand_built_one(height, width, window, shift):
    mask = shifted_window_mask(height, width, window, shift)
    assert mask.shape == ((height // window) * (width // window), window**2, window**2)
    torch.testing.assert_close(mask, _hand_built_mask(height, width, window, shift), rtol=0, atol=0)


def test_shifted_window_mask_at_a_size_never_trained_on():
    mask = shifted_window_mask(24, 40, 8, 4)  # 3 x 5 windows
    assert set(mask.unique().tolist()) == {0.0, MASKED}
    assert torch.equal(mask, mask.transpose(1, 2))
    assert (mask.diagonal(dim1=1, dim2=2) == 0).all()
    grid = (mask != 0).any(dim=(1, 2)).reshape(3, 5)
    # only the last window row and column mix regions
    assert not grid[:2, :4].any() and grid[2].all() and grid[:, 4].all()
    # the corner window holds four regions of 16 tokens each: 4 * 16^2 allowed pairs
    assert int((mask[-1] == 0).sum()) == 4 * 16**2


def test_shifted_window_mask_rejects_a_bad_shift():
    for shift in (0, 4, -1):
        with pytest.raises(ValueError, match="shift"):
            shifted_window_mask(8, 8, 4, shift)


def test_window_coordinates_repeat_a_ramp_per_window():
    grid = window_coordinates(5, 7, 3)
    assert grid.shape == (1, 2, 5, 7)
    torch.testing.assert_close(grid[0, 0, :, 0], torch.tensor([-1.0, 0.0, 1.0, -1.0, 0.0]))
    torch.testing.assert_close(grid[0, 1, 0], torch.tensor([-1.0, 0.0, 1.0, -1.0, 0.0, 1.0, -1.0]))
    assert (grid[0, 0] == grid[0, 0, :, :1]).all() and (grid[0, 1] == grid[0, 1, :1]).all()


@pytest.mark.parametrize("window", [1, 2, 3, 8])
def test_relative_position_index_covers_the_table_and_is_antisymmetric(window):
    index = relative_position_index(window)
    t, size = window * window, (2 * window - 1) ** 2
    assert index.shape == (t, t) and index.dtype == torch.int64
    assert int(index.min()) == 0 and int(index.max()) == size - 1
    assert len(index.unique()) == size
    # (dr, dc) and (-dr, -dc) sit symmetrically about the table's centre
    assert (index + index.T == size - 1).all()
    assert (index.diagonal() == (size - 1) // 2).all()
    for p in range(t):
        for q in range(t):
            dr, dc = p // window - q // window, p % window - q % window
            assert int(index[p, q]) == (dr + window - 1) * (2 * window - 1) + dc + window - 1


def _reference_attention(attn: WindowAttention, tokens: torch.Tensor,
                         mask: torch.Tensor | None) -> torch.Tensor:
    """Explicit softmax attention with the bias table looked up pair by pair."""
    n, t, c = tokens.shape
    heads, window, d = attn.heads, attn.window, c // attn.heads
    q, k, v = attn.qkv(tokens).split(c, dim=-1)
    q, k, v = (z.reshape(n, t, heads, d).transpose(1, 2) for z in (q, k, v))  # (n, heads, t, d)
    scores = q @ k.transpose(-1, -2) / d**0.5
    bias = torch.zeros(heads, t, t)
    for p in range(t):
        for r in range(t):
            dr, dc = p // window - r // window, p % window - r % window
            bias[:, p, r] = attn.bias_table[(dr + window - 1) * (2 * window - 1) + dc + window - 1]
    scores = scores + bias
    if mask is not None:
        scores = scores + mask.repeat(n // mask.shape[0], 1, 1).unsqueeze(1)
    out = scores.softmax(dim=-1) @ v
    return attn.proj(out.transpose(1, 2).reshape(n, t, c))


@pytest.mark.parametrize("heads", [1, 4])
def test_window_attention_equals_explicit_masked_softmax(heads, gen):
    torch.manual_seed(0)
    attn = WindowAttention(16, heads, 4)
    with torch.no_grad():
        attn.bias_table.normal_(0, 1.0)  # a bias large enough to matter
    mask = shifted_window_mask(8, 8, 4, 2)  # 4 windows
    tokens = torch.randn(3 * 4, 16, 16, generator=gen)
    out = attn(tokens, mask)
    assert out.shape == tokens.shape
    with torch.no_grad():
        torch.testing.assert_close(out, _reference_attention(attn, tokens, mask), rtol=0, atol=1e-5)
        torch.testing.assert_close(attn(tokens), _reference_attention(attn, tokens, None), rtol=0, atol=1e-5)


def test_window_attention_without_position_bias(gen):
    attn = WindowAttention(8, 2, 2, position_bias=False)
    tokens = torch.randn(4, 4, 8, generator=gen)
    mask = shifted_window_mask(4, 4, 2, 1)
    q, k, v = attn.qkv(tokens).reshape(4, 4, 3, 2, 4).permute(2, 0, 3, 1, 4)
    weights = (q @ k.transpose(-1, -2) / 2.0 + mask.unsqueeze(1)).softmax(-1)
    expected = attn.proj((weights @ v).transpose(1, 2).reshape(4, 4, 8))
    torch.testing.assert_close(attn(tokens, mask), expected, rtol=0, atol=1e-5)


def test_window_attention_gradients_reach_every_parameter(gen):
    attn = WindowAttention(12, 3, 4)
    tokens = torch.randn(8, 16, 12, generator=gen, requires_grad=True)
    attn(tokens, shifted_window_mask(8, 16, 4, 2)).square().mean().backward()
    for name, p in attn.named_parameters():
        assert p.grad is not None and p.grad.abs().max() > 0, name
    assert tokens.grad.abs().max() > 0


def test_window_attention_rejects_heads_that_do_not_divide_the_width():
    with pytest.raises(ValueError, match="divisible"):
        WindowAttention(10, 4, 2)


def test_layer_norm_2d_normalizes_each_position_over_channels(gen):
    norm = LayerNorm2d(6)
    with torch.no_grad():
        norm.norm.weight.normal_(generator=gen)
        norm.norm.bias.normal_(generator=gen)
    x = 3.0 + 2.0 * torch.randn(2, 6, 4, 5, generator=gen)
    mean = x.mean(dim=1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=1, keepdim=True)
    weight, bias = norm.norm.weight[:, None, None], norm.norm.bias[:, None, None]
    expected = (x - mean) / torch.sqrt(var + 1e-6) * weight + bias
    torch.testing.assert_close(norm(x), expected, rtol=1e-5, atol=1e-5)


def test_patch_layers_change_the_resolution_and_width(gen):
    x = torch.rand(2, 3, 16, 24, generator=gen)
    embedded = PatchEmbedding(3, 10, patch=2)(x)
    assert embedded.shape == (2, 10, 8, 12)
    merged = PatchMerging(10, 14)(embedded)
    assert merged.shape == (2, 14, 4, 6)
    divided = PatchDivision(14, 10)(merged)
    assert divided.shape == (2, 10, 8, 12)
    last = PatchDivision(10, 3, norm=False)
    assert last(divided).shape == (2, 3, 16, 24) and last.expand.bias is not None


def test_patch_merging_reads_each_2x2_neighbourhood_only(gen):
    merge = PatchMerging(2, 3)
    x = torch.randn(1, 2, 4, 4, generator=gen)
    y = merge(x)
    x2 = x.clone()
    x2[..., 0:2, 2:4] += 1.0  # change the top-right 2x2 block only
    changed = (merge(x2) - y).abs().amax(dim=1)[0] > 0
    assert changed.tolist() == [[False, True], [False, False]]


def test_patch_division_spreads_each_position_over_2x2_pixels(gen):
    divide = PatchDivision(4, 2, norm=False)
    x = torch.randn(1, 4, 2, 2, generator=gen)
    x2 = x.clone()
    x2[..., 1, 0] += 1.0
    changed = (divide(x2) - divide(x)).abs().amax(dim=1)[0] > 0
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[2:4, 0:2] = True
    assert torch.equal(changed, expected)
    manual = F.pixel_shuffle(divide.expand(x), 2)
    torch.testing.assert_close(divide(x), manual)
