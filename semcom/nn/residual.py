"""Residual convolution blocks (ResJSCC's building blocks).

Down block (stride ``s``, ``H -> H / s``)::

    main     = conv5x5(stride s) -> PReLU -> conv5x5
    shortcut = identity            if in == out and s == 1
               conv1x1(stride s)   otherwise
    out      = act(main + shortcut)

Up block (scale ``s``, ``H -> H * s``)::

    main     = transposed conv5x5(stride s) -> PReLU -> conv5x5
    shortcut = identity                           if in == out and s == 1
               nearest upsampling x s -> conv1x1  otherwise
    out      = act(main + shortcut)

``act`` is a per-channel PReLU by default; pass ``activation=None`` for a linear output
(the encoder's last block, whose output is normalized and sent) or any module (the
decoder's last block uses a sigmoid).
"""

from __future__ import annotations

from torch import Tensor, nn

from semcom.errors import SemcomError
from semcom.nn.conv import conv, conv_transpose

_DEFAULT = "prelu"


def _activation(spec: nn.Module | str | None, channels: int) -> nn.Module:
    if spec is None:
        return nn.Identity()
    if spec == _DEFAULT:
        return nn.PReLU(channels)
    if isinstance(spec, nn.Module):
        return spec
    raise SemcomError(f"activation must be 'prelu', None or a module, got {spec!r}")


class ResidualBlock(nn.Module):
    """Residual block that keeps or reduces resolution: ``(B, in, H, W) -> (B, out, H/s, W/s)``.

    Args:
        in_channels, out_channels: feature widths.
        kernel_size: size of the two main-path convolutions.
        stride: down-sampling factor of the first convolution (and the shortcut).
        activation: ``"prelu"`` (per channel), ``None`` (linear) or a module, applied
            after the sum.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 1,
                 activation: nn.Module | str | None = _DEFAULT) -> None:
        super().__init__()
        self.main = nn.Sequential(
            conv(in_channels, out_channels, kernel_size, stride),
            nn.PReLU(out_channels),
            conv(out_channels, out_channels, kernel_size, 1),
        )
        if in_channels == out_channels and stride == 1:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride)
        self.activation = _activation(activation, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.main(x) + self.shortcut(x))


class ResidualUpBlock(nn.Module):
    """Residual block that keeps or raises resolution: ``(B, in, H, W) -> (B, out, sH, sW)``.

    Args:
        in_channels, out_channels: feature widths.
        kernel_size: size of the two main-path convolutions.
        scale: up-sampling factor of the transposed convolution (and the shortcut).
        activation: ``"prelu"`` (per channel), ``None`` (linear) or a module.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, scale: int = 1,
                 activation: nn.Module | str | None = _DEFAULT) -> None:
        super().__init__()
        self.main = nn.Sequential(
            conv_transpose(in_channels, out_channels, kernel_size, scale),
            nn.PReLU(out_channels),
            conv(out_channels, out_channels, kernel_size, 1),
        )
        if in_channels == out_channels and scale == 1:
            self.shortcut: nn.Module = nn.Identity()
        else:
            layers: list[nn.Module] = [nn.Upsample(scale_factor=scale, mode="nearest")] if scale > 1 else []
            self.shortcut = nn.Sequential(*layers, nn.Conv2d(in_channels, out_channels, 1))
        self.activation = _activation(activation, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.main(x) + self.shortcut(x))
