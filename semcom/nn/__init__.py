"""Reusable neural-network blocks shared by the JSCC models."""

from semcom.nn.attention_feature import AttentionFeature
from semcom.nn.conv import conv, conv_transpose
from semcom.nn.depthconv import DepthConvBlock
from semcom.nn.gdn import GDN, NonNegative, lower_bound
from semcom.nn.lic_blocks import AttentionBlock, ResidualBottleneckBlock, SubpixelUp, conv_down, conv_up
from semcom.nn.residual import ResidualBlock, ResidualUpBlock
from semcom.nn.unet import UNet

__all__ = ["AttentionBlock", "AttentionFeature", "DepthConvBlock", "GDN", "NonNegative", "ResidualBlock",
           "ResidualBottleneckBlock", "ResidualUpBlock", "SubpixelUp", "UNet", "conv", "conv_down",
           "conv_transpose", "conv_up", "lower_bound"]
