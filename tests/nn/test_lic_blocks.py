"""ELIC blocks, DCVC-DC's DepthConvBlock and the refinement UNet: shapes, structure, residuals."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from semcom.errors import SemcomError
from semcom.nn.depthconv import DepthConvBlock
from semcom.nn.lic_blocks import (
    AttentionBlock,
    ResidualBottleneckBlock,
    SubpixelUp,
    conv_down,
    conv_up,
)
from semcom.nn.unet import UNet


def _zero(module: nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()


def test_residual_bottleneck_shape_and_identity(gen):
    block = ResidualBottleneckBlock(8)
    x = torch.randn(2, 8, 6, 10, generator=gen)
    assert block(x).shape == x.shape
    assert block.reduce.out_channels == block.expand.in_channels == 4
    assert block.conv.kernel_size == (3, 3)
    _zero(block.expand)
    torch.testing.assert_close(block(x), x)


def test_attention_block_is_x_plus_trunk_times_sigmoid_mask(gen):
    block = AttentionBlock(8)
    x = torch.randn(1, 8, 5, 7, generator=gen)
    out = block(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x + block.trunk(x) * torch.sigmoid(block.mask(x)))
    assert len(block.trunk) == 3 and len(block.mask) == 4
    with torch.no_grad():  # mask logits -> -inf: the gate closes and the block is the identity
        block.mask[-1].weight.zero_()
        block.mask[-1].bias.fill_(-1e4)
    torch.testing.assert_close(block(x), x)


@pytest.mark.parametrize("bad", [0, 7, 3.0])
def test_blocks_reject_bad_channels(bad):
    with pytest.raises(SemcomError):
        ResidualBottleneckBlock(bad)
    with pytest.raises(SemcomError):
        AttentionBlock(bad)


def test_down_and_up_convolutions_change_resolution_by_two(gen):
    x = torch.randn(2, 3, 8, 12, generator=gen)
    down = conv_down(3, 6)
    assert down.kernel_size == (5, 5) and down.stride == (2, 2)
    h = down(x)
    assert h.shape == (2, 6, 4, 6)
    assert conv_up(6, 3)(h).shape == x.shape
    sub = SubpixelUp(6, 3)
    assert sub.conv.kernel_size == (5, 5) and sub(h).shape == x.shape


@pytest.mark.parametrize("in_ch,out_ch", [(6, 6), (6, 10)])
def test_depthconv_block_shapes_and_kernels(gen, in_ch, out_ch):
    block = DepthConvBlock(in_ch, out_ch)
    x = torch.randn(2, in_ch, 6, 8, generator=gen)
    out = block(x)
    assert out.shape == (2, out_ch, 6, 8)
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    spatial = [m for m in convs if m.kernel_size != (1, 1)]
    assert len(spatial) == 1  # only the depthwise convolution is 3x3
    assert spatial[0].kernel_size == (3, 3) and spatial[0].groups == in_ch
    assert (block.adaptor is None) == (in_ch == out_ch)
    out.square().mean().backward()
    assert all(p.grad is not None for p in block.parameters())


def test_depthconv_block_residuals(gen):
    block = DepthConvBlock(4, 4)
    x = torch.randn(1, 4, 5, 5, generator=gen)
    _zero(block.conv_out)
    _zero(block.ffn_reduce)
    torch.testing.assert_close(block(x), x)  # both parts are residual
    projecting = DepthConvBlock(4, 6)
    _zero(projecting.conv_out)
    _zero(projecting.ffn_reduce)
    torch.testing.assert_close(projecting(x), projecting.adaptor(x))


def test_depthconv_block_accepts_channels_last(gen):
    block = DepthConvBlock(4, 6)
    x = torch.randn(2, 4, 6, 6, generator=gen)
    torch.testing.assert_close(block(x.contiguous(memory_format=torch.channels_last)), block(x))


@pytest.mark.parametrize("size", [(8, 12), (6, 10), (7, 9)])
def test_unet_keeps_shape_and_is_residual(gen, size):
    net = UNet(6, widths=(4, 8, 8))
    x = torch.randn(2, 6, *size, generator=gen, requires_grad=True)
    out = net(x)
    assert out.shape == x.shape
    out.square().mean().backward()
    assert x.grad is not None and all(p.grad is not None for p in net.parameters())
    _zero(net.head)
    torch.testing.assert_close(net(x), x)


def test_unet_uses_only_depthwise_spatial_kernels_and_skips(gen):
    net = UNet(4, widths=(4, 6, 8))
    spatial = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    assert spatial and all(m.groups == m.in_channels == m.out_channels for m in spatial)
    assert net.dec1.conv_in.in_channels == 12 and net.dec0.conv_in.in_channels == 8  # concat skips
    # the bottleneck sees the whole 8x8 input: a change in one corner reaches the far corner
    x = torch.randn(1, 4, 8, 8, generator=gen)
    moved = x.clone()
    moved[..., 0, 0] += 10.0
    assert not torch.allclose(net(x)[..., -1, -1], net(moved)[..., -1, -1])


def test_unet_rejects_bad_arguments():
    with pytest.raises(SemcomError):
        UNet(4, widths=(4, 8))
    with pytest.raises(SemcomError):
        UNet(0)
    with pytest.raises(SemcomError):
        UNet(4, widths=(4, 4, 4))(torch.zeros(4, 8, 8))
