"""SP-JSCC's semantics-of-pixels (SP) weights: how much each image element matters to a
frozen classifier. This module is the one definition; the ``weighted-mse`` training
loss (:mod:`semcom.training.auxiliary`) and ``semcom semantics sp-weights`` call it.

For an image ``x`` and a classifier with logits ``y^1 .. y^C`` (the paper's eqs. 7-9):

1. ``w^c = d y^c / d x`` for each class ``c``, and ``w = (1/C) sum_c w^c``. Since the
   gradient is linear, ``w = d ((1/C) sum_c y^c) / d x``: one backward pass of the mean
   logit instead of ``C`` passes (the tests check this against the per-class loop).
   ``target="label"`` uses the true class's logit ``y^label`` instead (an option, not
   the paper's choice). The mean over classes of the softmax probabilities would be the
   constant ``1/C``, with zero gradient, so logits it is.
   A caveat of the paper's rule: cross-entropy does not change when one constant is
   added to every logit, so the mean over classes of a linear head's rows gets no
   gradient from the classifier's training; with SGD (as ``semcom semantics
   train-classifier`` trains) only weight decay shrinks it from its initial value, and
   the mean logit's gradient is that fixed direction of the learned features.
   ``target="class_magnitude"`` (an option) takes ``w = (1/C) sum_c |w^c|`` instead,
   the mean magnitude of the per-class gradients (``C`` backward passes).
2. ``w' = |w| / ||w||_2``: the absolute value, L2-normalized over the image's ``3 H W``
   elements (the paper's ``L2_norm(|w|)``).
3. The scale: ``w'' = w' / mean(w')``, so the weights of each image average 1 and
   ``mean(w'' * (x_hat - x)^2)`` has the magnitude of the plain MSE (equal to it when the
   error is spread evenly). Steps 2 and 3 together are ``|w| / mean|w|``; the L2 step is
   kept because it is the paper's, and it keeps the arithmetic in a safe range.

An image whose gradient vanishes everywhere gets weight 1 everywhere (plain MSE).

The weights are computed per image: the classifier runs in eval mode (batch norm with
its running statistics, no dropout), so one image's weights do not depend on the other
images of the batch; a module passed in train mode is switched to eval for the call and
back afterwards. Only the input's gradient is computed (``torch.autograd.grad`` with the
input alone), so no gradient reaches, or is accumulated in, the classifier's parameters.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from semcom.errors import SemcomError

#: what the gradient is taken of: the mean over classes of the logits (the paper), the
#: true class's logit, or (``class_magnitude``) each class's logit, magnitudes averaged
TARGETS = ("mean", "label", "class_magnitude")


def class_logits(classifier: Callable[[Tensor], Tensor], images: Tensor) -> Tensor:
    """``classifier(images)`` checked to be ``(B, classes)`` logits (one clear error otherwise)."""
    logits = classifier(images)
    if not isinstance(logits, Tensor) or logits.dim() != 2 or logits.shape[0] != images.shape[0]:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise SemcomError(f"the classifier must return (B, classes) logits, got {shape}")
    return logits


def input_gradient(classifier: Callable[[Tensor], Tensor], images: Tensor, labels: Tensor | None = None,
                   target: str = "mean") -> tuple[Tensor, Tensor]:
    """The raw (signed) SP gradient ``w`` of each image, and the logits.

    Args:
        classifier: maps ``(B, 3, H, W)`` images in ``[0, 1]`` to ``(B, C)`` logits; an
            ``nn.Module`` is run in eval mode (restored afterwards).
        images: ``(B, 3, H, W)`` float.
        labels: ``(B,)`` int class indices, needed for ``target="label"``.
        target: ``"mean"``: ``w = (1/C) sum_c d y^c / d x``; ``"label"``: ``d y^label / d x``;
            ``"class_magnitude"``: ``(1/C) sum_c |d y^c / d x|`` (non-negative).

    Returns:
        ``(w, logits)``: ``(B, 3, H, W)`` float32 and ``(B, C)``, both detached.

    Raises:
        SemcomError: an unknown target, ``"label"`` without labels, a classifier that
            does not return ``(B, C)`` logits.
    """
    if target not in TARGETS:
        raise SemcomError(f"SP weights: target must be one of {', '.join(TARGETS)}, got {target!r}")
    if target == "label" and labels is None:
        raise SemcomError("SP weights: target 'label' needs the images' class labels")
    if not isinstance(images, Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise SemcomError(f"SP weights: images must be (B, 3, H, W), got {shape}")
    # every submodule's own flag, restored exactly (a partly frozen module stays so)
    was_training = [(m, m.training) for m in classifier.modules()] if isinstance(classifier, nn.Module) else []
    if isinstance(classifier, nn.Module):
        classifier.eval()
    try:
        x = images.detach().float().requires_grad_(True)
        with torch.enable_grad():
            logits = class_logits(classifier, x)
            if target == "class_magnitude":
                # one backward pass per class (sum over images: they do not interact)
                c = logits.shape[1]
                grad = sum(torch.autograd.grad(logits[:, k].float().sum(), x, retain_graph=k < c - 1)[0].abs()
                           for k in range(c)) / c
            else:
                if target == "mean":
                    # the sum over images of each image's mean logit: images do not interact
                    # (eval mode), so d/dx_i of the total is image i's own mean-class gradient
                    score = logits.float().mean(dim=1).sum()
                else:
                    index = labels.to(logits.device).view(-1, 1).long()  # type: ignore[union-attr]
                    score = logits.float().gather(1, index).sum()
                (grad,) = torch.autograd.grad(score, x)
    finally:
        for m, mode in was_training:
            m.training = mode
    return grad.detach(), logits.detach()


def normalize_weights(grad: Tensor) -> Tensor:
    """Steps 2 and 3 of the module docstring: ``|grad|``, L2-normalized per image, scaled
    to mean 1 per image; an all-zero image gets ones.

    Args:
        grad: ``(B, ...)`` signed gradients.

    Returns:
        Same shape, float32, non-negative, mean 1 over each image's elements.
    """
    magnitude = grad.detach().float().abs()
    dims = (-1,) + (1,) * (magnitude.dim() - 1)
    norm = magnitude.flatten(1).norm(dim=1).view(dims)
    nonzero = norm > 0
    unit = torch.where(nonzero, magnitude / norm.clamp_min(torch.finfo(norm.dtype).tiny),
                       torch.ones_like(magnitude))
    return unit / unit.flatten(1).mean(dim=1).view(dims)


def sp_weights(classifier: Callable[[Tensor], Tensor], images: Tensor, labels: Tensor | None = None,
               target: str = "mean") -> Tensor:
    """SP-JSCC's semantics-of-pixels weights of every image element (module docstring).

    Args:
        classifier: maps ``(B, 3, H, W)`` images in ``[0, 1]`` to ``(B, C)`` logits.
        images: ``(B, 3, H, W)`` float in ``[0, 1]``.
        labels: ``(B,)`` class indices, for ``target="label"`` only.
        target: ``"mean"`` (the mean over classes, the paper), ``"label"`` or
            ``"class_magnitude"`` (see the module docstring).

    Returns:
        ``(B, 3, H, W)`` float32, detached, non-negative, mean 1 per image.
    """
    grad, _ = input_gradient(classifier, images, labels, target)
    return normalize_weights(grad)


def sp_weight_map(weights: Tensor) -> Tensor:
    """A displayable map of SP weights: ``(B, 3, H, W)`` -> ``(B, 1, H, W)`` in ``[0, 1]``,
    the sum over the colour channels divided by its per-image maximum (an all-zero image
    stays 0). As the paper's Fig. 5: bright where the classifier looks."""
    if not isinstance(weights, Tensor) or weights.dim() != 4:
        shape = tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__
        raise SemcomError(f"sp_weight_map expects (B, C, H, W) weights, got {shape}")
    summed = weights.detach().float().abs().sum(dim=1, keepdim=True)
    peak = summed.flatten(1).amax(dim=1).view(-1, 1, 1, 1)
    return torch.where(peak > 0, summed / peak.clamp_min(torch.finfo(summed.dtype).tiny), torch.zeros_like(summed))
