"""A small, fast residual CIFAR-10 classifier: the frozen task model of SP-JSCC.

``cifar10-resnet`` (registered in :data:`semcom.registry.TASK_MODELS`) is a
ResNet-9-style network for 32x32 images, the kind that reaches 90-94 % top-1 on
CIFAR-10 in about ten epochs in the fast-training literature:

====================  ============================================  ===============
stage                 layers                                         output (32x32)
====================  ============================================  ===============
stem                  conv 3x3 -> BN -> ReLU                          ``w0`` x 32 x 32
layer 1               conv-BN-ReLU, max-pool 2, residual block        ``w1`` x 16 x 16
layer 2               conv-BN-ReLU, max-pool 2                        ``w2`` x 8 x 8
layer 3               conv-BN-ReLU, max-pool 2, residual block        ``w3`` x 4 x 4
head                  global pool (max or avg), linear, x scale       ``num_classes``
====================  ============================================  ===============

A residual block is ``x + (conv-BN-ReLU)(conv-BN-ReLU)(x)`` at constant width; the
convolutions are 3x3 without bias (each is followed by batch norm). The logits are
multiplied by a fixed ``logit_scale`` (0.125 by default, a known trick that keeps the
early softmax soft with this un-normalized head).

Input: ``(B, 3, H, W)`` images in ``[0, 1]``, normalized inside with the CIFAR-10
training-set per-channel mean and standard deviation (:data:`CIFAR10_MEAN`,
:data:`CIFAR10_STD`; these are buffers outside the state dict, so checkpoints hold only
learned weights and BN statistics). Output: ``(B, num_classes)`` logits. Global pooling
makes any input size of at least 8 x 8 work; it is trained at 32 x 32.

The constructor's arguments are :attr:`Cifar10ResNet.config`, so a checkpoint written
with ``save_checkpoint(path, model.state_dict(), "cifar10-resnet", model.config,
info={"kind": "task_model"})`` is rebuilt by :func:`semcom.zoo.build` /
:func:`semcom.zoo.pretrained.load_built`, by the ``weighted-mse`` loss's ``aux_model``
and by the ``accuracy`` / ``f1`` metrics' ``classifier``.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from semcom.errors import SemcomError
from semcom.registry import TASK_MODELS

#: per-channel mean of the CIFAR-10 training images (RGB, in [0, 1])
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
#: per-channel standard deviation of the CIFAR-10 training images (RGB, in [0, 1]; the
#: pixel-level std, not the often-quoted (0.2023, 0.1994, 0.2010) of per-image stds)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

#: default widths ``(stem, layer 1, layer 2, layer 3)``: half of the original ResNet-9's
#: (64, 128, 256, 512), about 4x fewer MACs (see the module's report in
#: :func:`describe`); the full width is ``widths=[64, 128, 256, 512]``
DEFAULT_WIDTHS = (32, 64, 128, 256)

POOLS = ("max", "avg")


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 convolution (padding 1, no bias) -> batch norm -> ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class Residual(nn.Module):
    """``x + body(x)`` with ``body`` two :func:`conv_bn` at width ``channels``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        return x + self.body(x)


@TASK_MODELS.register("cifar10-resnet", help="ResNet-9-style CIFAR-10 classifier (images in [0, 1] -> logits)")
class Cifar10ResNet(nn.Module):
    """ResNet-9-style classifier for 32x32 images (see the module docstring).

    Args:
        widths: channels of the stem and the three layers (4 positive ints).
        num_classes: number of logits.
        pool: global pooling before the linear head, ``"max"`` or ``"avg"``.
        logit_scale: fixed factor applied to the logits.
        mean, std: per-channel input normalization (default CIFAR-10's).
    """

    def __init__(self, widths: Sequence[int] = DEFAULT_WIDTHS, num_classes: int = 10, pool: str = "max",
                 logit_scale: float = 0.125, mean: Sequence[float] = CIFAR10_MEAN,
                 std: Sequence[float] = CIFAR10_STD) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) != 4 or any(w < 1 for w in widths):
            raise SemcomError(f"cifar10-resnet: widths must be 4 positive ints, got {list(widths)!r}")
        if isinstance(num_classes, bool) or int(num_classes) < 1:
            raise SemcomError(f"cifar10-resnet: num_classes must be a positive int, got {num_classes!r}")
        if pool not in POOLS:
            raise SemcomError(f"cifar10-resnet: pool must be one of {', '.join(POOLS)}, got {pool!r}")
        if len(mean) != 3 or len(std) != 3 or any(float(s) <= 0 for s in std):
            raise SemcomError("cifar10-resnet: mean and std must be 3 values each (std positive)")
        self.config: dict[str, Any] = {"widths": widths, "num_classes": int(num_classes), "pool": pool,
                                       "logit_scale": float(logit_scale), "mean": [float(m) for m in mean],
                                       "std": [float(s) for s in std]}
        w0, w1, w2, w3 = widths
        self.register_buffer("mean", torch.tensor(self.config["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.config["std"]).view(1, 3, 1, 1), persistent=False)
        self.stem = conv_bn(3, w0)
        self.layer1 = nn.Sequential(conv_bn(w0, w1), nn.MaxPool2d(2), Residual(w1))
        self.layer2 = nn.Sequential(conv_bn(w1, w2), nn.MaxPool2d(2))
        self.layer3 = nn.Sequential(conv_bn(w2, w3), nn.MaxPool2d(2), Residual(w3))
        self.pool = nn.AdaptiveMaxPool2d(1) if pool == "max" else nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(w3, int(num_classes), bias=False)
        self.logit_scale = float(logit_scale)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal convolutions (fan-out, ReLU), BN at weight 1 / bias 0, the
        head at PyTorch's default."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.head.reset_parameters()

    @property
    def num_classes(self) -> int:
        """Number of logits."""
        return int(self.config["num_classes"])

    def features(self, images: Tensor) -> Tensor:
        """``(B, 3, H, W)`` images in ``[0, 1]`` -> ``(B, w3)`` pooled features."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise SemcomError(f"cifar10-resnet expects (B, 3, H, W) images, got {tuple(images.shape)}")
        if min(images.shape[-2:]) < 8:
            raise SemcomError(f"cifar10-resnet needs images of at least 8x8 pixels, got "
                              f"{images.shape[-1]}x{images.shape[-2]}")
        x = (images.to(self.mean.dtype) - self.mean) / self.std
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.pool(x).flatten(1)

    def forward(self, images: Tensor) -> Tensor:
        """``(B, 3, H, W)`` images in ``[0, 1]`` -> ``(B, num_classes)`` logits."""
        return self.head(self.features(images)) * self.logit_scale


def describe(model: Cifar10ResNet, size: int = 32) -> dict[str, Any]:
    """Parameters and MACs per ``size`` x ``size`` image of ``model``
    (:func:`semcom.metrics.complexity.count_macs`, batch 1, eval mode)."""
    from semcom.metrics.complexity import count_macs, count_parameters

    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        macs = count_macs(model, torch.zeros(1, 3, size, size, device=device))
    finally:
        model.train(was_training)
    return {"widths": list(model.config["widths"]), "parameters": count_parameters(model), "macs_per_image": macs}
