"""Task metrics of a fixed classifier on reconstructions: top-1 accuracy and macro F1."""

from __future__ import annotations

import torch
from torch import Tensor

from semcom.errors import SemcomError

__all__ = ["confusion_counts", "macro_f1", "predictions", "top1_accuracy"]


def predictions(logits_or_preds: Tensor) -> Tensor:
    """Predicted class per sample: ``(N, num_classes)`` float logits (argmax) or ``(N,)``
    integer class indices, returned as ``(N,)`` int64."""
    if not isinstance(logits_or_preds, Tensor):
        raise SemcomError(f"predictions must be a tensor, got {type(logits_or_preds).__name__}")
    if logits_or_preds.dim() == 2 and logits_or_preds.is_floating_point():
        if logits_or_preds.shape[1] == 0:
            raise SemcomError("logits have zero classes")
        return logits_or_preds.argmax(dim=1)
    if logits_or_preds.dim() == 1 and not logits_or_preds.is_floating_point():
        return logits_or_preds.long()
    raise SemcomError(
        "predictions must be (N, num_classes) float logits or (N,) integer class indices, "
        f"got {tuple(logits_or_preds.shape)} {logits_or_preds.dtype}"
    )


def _check_labels(labels: Tensor, count: int) -> Tensor:
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.is_floating_point():
        shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise SemcomError(f"labels must be a (N,) integer tensor, got {shape}")
    if labels.numel() != count:
        raise SemcomError(f"got {count} predictions for {labels.numel()} labels")
    if count == 0:
        raise SemcomError("no samples: task metrics need at least one labelled sample")
    return labels.long()


def top1_accuracy(logits_or_preds: Tensor, labels: Tensor) -> float:
    """Fraction of samples whose predicted class equals the label.

    Args:
        logits_or_preds: ``(N, num_classes)`` float logits or ``(N,)`` integer predictions.
        labels: ``(N,)`` integer class indices.

    Returns:
        Accuracy in ``[0, 1]``.
    """
    preds = predictions(logits_or_preds)
    labels = _check_labels(labels, preds.numel())
    return (preds == labels.to(preds.device)).double().mean().item()


def confusion_counts(
    preds: Tensor, labels: Tensor, num_classes: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-class true positives, false positives and false negatives: three ``(num_classes,)``
    int64 tensors. Raises :class:`SemcomError` for a class index outside ``[0, num_classes)``."""
    preds = predictions(preds)
    labels = _check_labels(labels, preds.numel()).to(preds.device)
    if int(num_classes) < 1:
        raise SemcomError(f"num_classes must be positive, got {num_classes}")
    for name, t in (("prediction", preds), ("label", labels)):
        if t.min() < 0 or t.max() >= num_classes:
            raise SemcomError(
                f"{name} outside [0, {num_classes}): got range [{t.min()}, {t.max()}]"
            )
    correct = preds == labels
    tp = torch.bincount(labels[correct], minlength=num_classes)
    fp = torch.bincount(preds[~correct], minlength=num_classes)
    fn = torch.bincount(labels[~correct], minlength=num_classes)
    return tp, fp, fn


def macro_f1(preds: Tensor, labels: Tensor, num_classes: int) -> float:
    """Unweighted mean over classes of ``F1 = 2 TP / (2 TP + FP + FN)``.

    A class that occurs neither among the labels nor among the predictions has no
    defined F1 (0 / 0) and is left out of the mean; a class that is only predicted
    (never a label) or only a label (never predicted) scores 0. This is
    ``sklearn.metrics.f1_score(average="macro")`` without a ``labels`` argument.

    Args:
        preds: ``(N,)`` integer predictions or ``(N, num_classes)`` float logits.
        labels: ``(N,)`` integer class indices.
        num_classes: number of classes; indices must lie in ``[0, num_classes)``.

    Returns:
        Macro F1 in ``[0, 1]``.
    """
    tp, fp, fn = confusion_counts(preds, labels, num_classes)
    denominator = 2 * tp + fp + fn
    present = denominator > 0
    f1 = 2 * tp[present].double() / denominator[present].double()
    return f1.mean().item()
