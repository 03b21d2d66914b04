"""Reusable neural-network blocks shared by the JSCC models."""

from semcom.nn.attention_feature import AttentionFeature
from semcom.nn.conv import conv, conv_transpose
from semcom.nn.gdn import GDN, NonNegative, lower_bound
from semcom.nn.residual import ResidualBlock, ResidualUpBlock

__all__ = ["AttentionFeature", "GDN", "NonNegative", "ResidualBlock", "ResidualUpBlock",
           "conv", "conv_transpose", "lower_bound"]
