"""Frozen auxiliary models of a loss, and SP-JSCC's input-gradient weights (computed by
:mod:`semcom.semantics.sp_weights`, the one definition).

An auxiliary model (a classifier whose input gradients weight the MSE, as SP-JSCC
trains) is built from a config, frozen (``requires_grad`` off, always in eval mode) and
held by the loss term, so it is no part of the trained model: not in its ``state_dict``,
its checkpoint or its optimizer.

``aux_model`` in a config is one of

* ``{name: NAME, **kwargs}``: a task model registered in :data:`semcom.registry.TASK_MODELS`
  (randomly initialized unless its factory loads weights itself);
* ``{path: CHECKPOINT}`` or a plain string: a checkpoint (or zoo name) of kind
  ``task_model`` (``info["kind"]``, :mod:`semcom.zoo.pretrained`), loaded strictly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from torch import Tensor, nn

from semcom.errors import SemcomError
from semcom.registry import TASK_MODELS
from semcom.semantics.sp_weights import TARGETS, sp_weights  # also registers cifar10-resnet
from semcom.training.losses import LossTerm

if TYPE_CHECKING:
    from semcom.training.data import Batch


class FrozenModel(nn.Module):
    """``module`` with gradients off and eval mode kept (``train()`` does not change it)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> "FrozenModel":
        self.training = mode
        self.module.eval()
        return self

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped module's output (its parameters get no gradient)."""
        return self.module(*args, **kwargs)


def build_auxiliary_model(spec: Mapping[str, Any] | str, where: str = "aux_model") -> FrozenModel:
    """The frozen auxiliary model described by ``spec`` (see the module docstring).

    Raises:
        SemcomError: an unknown task model or argument, a missing or mismatched
            checkpoint (named).
    """
    from semcom.zoo.checkpoint import read_checkpoint_meta
    from semcom.zoo.loading import resolve_source
    from semcom.zoo.pretrained import checkpoint_kind, load_built

    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, Mapping) or ("name" in spec) == ("path" in spec):
        raise SemcomError(f"{where} must be {{name: TASK_MODEL, ...}} or {{path: CHECKPOINT}}, got {spec!r}")
    if "path" in spec:
        if len(spec) > 1:
            raise SemcomError(f"unknown config key '{where}.{next(k for k in spec if k != 'path')}' "
                              "(a checkpoint rebuilds its own model)")
        path = resolve_source(str(spec["path"]))
        kind = checkpoint_kind(read_checkpoint_meta(path))
        if kind != "task_model":
            raise SemcomError(f"{where}: checkpoint {path} holds a {kind}, not a task model "
                              "(info kind 'task_model')")
        module = load_built(path)
    else:
        options = {k: v for k, v in spec.items() if k != "name"}
        module = _create(str(spec["name"]), options, where)
    return FrozenModel(module)


def _create(name: str, options: dict[str, Any], where: str) -> nn.Module:
    TASK_MODELS.check_kwargs(name, options, what=f"{where}: task model {name!r}")
    module = TASK_MODELS.create(name, **options)
    if not isinstance(module, nn.Module):
        raise SemcomError(f"{where}: task model {name!r} did not build a torch module")
    return module


def input_gradient_weights(classifier: nn.Module, images: Tensor, labels: Tensor | None = None,
                           target: str = "mean") -> Tensor:
    """SP-JSCC's semantic-preserving weights of each image element, for the
    ``weighted-mse`` loss: :func:`semcom.semantics.sp_weights.sp_weights` (the one
    definition; see there), with this loss's own messages for its ``target`` option.

    ``w = d s / d x`` with ``s`` the mean over classes of the classifier's logits
    (``target="mean"``: the paper's mean of the per-class gradients ``d y^c / d x``) or
    the logit of the true class (``target="label"``), or the mean of the per-class
    gradients' magnitudes (``target="class_magnitude"``); ``|w|`` L2-normalized per image and
    scaled to mean 1 over the image's ``3 H W`` elements, so the weighted MSE keeps the
    magnitude of the plain MSE; an image whose gradient vanishes gets weight 1 everywhere.

    Args:
        classifier: maps ``(B, 3, H, W)`` images in ``[0, 1]`` to ``(B, C)`` logits.
        images: ``(B, 3, H, W)`` float.
        labels: ``(B,)`` int64, needed for ``target="label"``.

    Returns:
        ``(B, 3, H, W)`` float32 weights, detached, positive mean 1 per image.
    """
    if target not in TARGETS:
        raise SemcomError(f"weighted-mse target must be one of {', '.join(TARGETS)}, got {target!r}")
    if target == "label" and labels is None:
        raise SemcomError("weighted-mse target 'label' needs a labelled training set (e.g. cifar10-jpeg)")
    return sp_weights(classifier, images, labels, target)


class InputGradientWeightedMSE(LossTerm):
    """``mean(w * (x_hat - x)^2)`` with ``w`` from :func:`input_gradient_weights` of a
    frozen auxiliary model (the mean over elements, so it has the magnitude of MSE; the
    paper writes the sum).

    Args:
        aux_model: the auxiliary model's config (see the module docstring).
        target: ``"mean"`` (the mean over classes), ``"label"`` (the true class) or
            ``"class_magnitude"`` (the mean of per-class gradient magnitudes).
    """

    def __init__(self, aux_model: Mapping[str, Any] | str, target: str = "mean") -> None:
        super().__init__()
        if target not in TARGETS:
            raise SemcomError(f"loss weighted-mse: target must be one of {', '.join(TARGETS)}, got {target!r}")
        self.aux_model = build_auxiliary_model(aux_model, "loss.aux_model")
        self.target = target

    def forward(self, x_hat: Tensor, batch: "Batch") -> Tensor:
        """Scalar weighted MSE of ``(B, 3, H, W)`` ``x_hat`` against ``batch.images``."""
        weights = input_gradient_weights(self.aux_model, batch.images, batch.labels, self.target)
        return (weights * (x_hat.float() - batch.images.float()).pow(2)).mean()
