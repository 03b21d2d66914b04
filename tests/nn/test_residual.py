import pytest
import torch
import torch.nn.functional as F

from semcom.errors import SemcomError
from semcom.nn.conv import conv, conv_transpose
from semcom.nn.residual import ResidualBlock, ResidualUpBlock


def _silence_main_path(block):
    with torch.no_grad():
        block.main[-1].weight.zero_()
        block.main[-1].bias.zero_()


def test_identity_shortcut_passes_input_through(gen):
    block = ResidualBlock(6, 6, stride=1, activation=None)
    assert isinstance(block.shortcut, torch.nn.Identity)
    x = torch.randn(2, 6, 8, 8, generator=gen)
    _silence_main_path(block)
    torch.testing.assert_close(block(x), x)


def test_down_block_projects_the_shortcut_with_a_strided_1x1_conv(gen):
    block = ResidualBlock(3, 5, stride=2, activation=None)
    x = torch.randn(2, 3, 8, 12, generator=gen)
    assert block(x).shape == (2, 5, 4, 6)
    _silence_main_path(block)
    sc = block.shortcut
    torch.testing.assert_close(block(x), F.conv2d(x, sc.weight, sc.bias, stride=2))


def test_up_block_upsamples_the_shortcut(gen):
    block = ResidualUpBlock(4, 2, scale=2, activation=torch.nn.Sigmoid())
    x = torch.randn(1, 4, 3, 5, generator=gen)
    y = block(x)
    assert y.shape == (1, 2, 6, 10) and (y > 0).all() and (y < 1).all()
    _silence_main_path(block)
    proj = block.shortcut[-1]
    up = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    torch.testing.assert_close(block(x), torch.sigmoid(F.conv2d(up, proj.weight, proj.bias)))


def test_main_path_contributes(gen):
    block = ResidualBlock(4, 4)
    x = torch.randn(1, 4, 6, 6, generator=gen)
    before = block(x)
    _silence_main_path(block)
    assert (before - block(x)).abs().max() > 1e-3


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_conv_pairs_restore_the_size(stride):
    x = torch.zeros(1, 2, 16, 24)
    down = conv(2, 3, 5, stride)(x)
    assert down.shape[-2:] == (16 // stride, 24 // stride)
    assert conv_transpose(3, 2, 9, stride)(down).shape == x.shape


def test_bad_arguments_are_clear_errors():
    with pytest.raises(SemcomError, match="odd"):
        conv(2, 2, 4)
    with pytest.raises(SemcomError, match="activation"):
        ResidualBlock(2, 2, activation="relu")
