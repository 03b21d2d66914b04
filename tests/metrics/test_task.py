"""Task metrics against hand-computed confusion counts."""

from __future__ import annotations

import pytest
import torch

from semcom.errors import SemcomError
from semcom.metrics.task import confusion_counts, macro_f1, top1_accuracy

LABELS = torch.tensor([0, 0, 1, 1, 2])
PREDS = torch.tensor([0, 1, 1, 1, 0])


def test_accuracy_from_predictions_and_from_logits() -> None:
    assert top1_accuracy(PREDS, LABELS) == pytest.approx(3 / 5)
    logits = torch.full((5, 4), -1.0)
    logits[torch.arange(5), PREDS] = 2.0
    assert top1_accuracy(logits, LABELS) == pytest.approx(3 / 5)


def test_macro_f1_hand_computed_with_a_class_that_never_appears() -> None:
    # class 0: TP 1, FP 1, FN 1 -> 2/4; class 1: TP 2, FP 1 -> 4/5; class 2: FN 1 -> 0;
    # class 3 never appears (0/0) and is left out of the mean
    tp, fp, fn = confusion_counts(PREDS, LABELS, num_classes=4)
    assert tp.tolist() == [1, 2, 0, 0]
    assert fp.tolist() == [1, 1, 0, 0]
    assert fn.tolist() == [1, 0, 1, 0]
    assert macro_f1(PREDS, LABELS, num_classes=4) == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_a_class_only_predicted_scores_zero() -> None:
    # class 0: TP 1, FN 1 -> 2/3; class 1 only predicted -> 0; class 2 absent
    assert macro_f1(torch.tensor([0, 1]), torch.tensor([0, 0]), 3) == pytest.approx(1 / 3)


def test_perfect_predictions() -> None:
    labels = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    assert top1_accuracy(labels, labels) == 1.0
    assert macro_f1(labels, labels, 10) == 1.0


def test_bad_inputs_raise_semcom_errors() -> None:
    with pytest.raises(SemcomError, match="outside"):
        macro_f1(torch.tensor([0, 5]), torch.tensor([0, 1]), 3)
    with pytest.raises(SemcomError, match="2 predictions for 3 labels"):
        top1_accuracy(torch.tensor([0, 1]), torch.tensor([0, 1, 2]))
    with pytest.raises(SemcomError, match="integer"):
        top1_accuracy(torch.tensor([0, 1]), torch.tensor([0.0, 1.0]))
    with pytest.raises(SemcomError, match="at least one"):
        top1_accuracy(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    with pytest.raises(SemcomError, match="logits"):
        top1_accuracy(torch.rand(5), LABELS)
