"""Images a link loses (``extras["failed"]``) count as misclassified in the sweep's task
metrics, for every system: a miss for accuracy; for macro F1 a prediction that matches
no class (a false negative of the true class, no class's false positive). Image metrics
score what was delivered."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from semcom.conventions import LOST_IMAGE_VALUE
from semcom.evaluation import EvalConfig, run_sweep
from semcom.link import Link, TransmitResult
from semcom.metrics.registry import build_metric
from semcom.metrics.task import macro_f1

#: 8-bit levels of six flat images, their labels, and the levels the link loses
LEVELS = [25, 51, 128, 140, 204, 230]
LABELS = [0, 0, 1, 1, 2, 2]
LOST = (51, 128)  # one image of class 0, one of class 1


class Thirds(nn.Module):
    """Three classes by an image's mean: below 1/3 -> 0, below 2/3 -> 1, else 2 (logits).
    It labels every image of :data:`LEVELS` right, and the gray lost image as class 1."""

    def forward(self, images: Tensor) -> Tensor:
        m = images.mean(dim=(1, 2, 3))
        centres = torch.tensor([1 / 6, 1 / 2, 5 / 6])
        return -(m[:, None] - centres).abs()


class LosingLink(Link):
    """Sends flat images unchanged except those whose level is in :data:`LOST`: those are
    delivered as the original (``gray=False``, so the classifier would get them right) or as
    the receiver's uniform gray (``gray=True``), and flagged in ``extras["failed"]`` unless
    ``report=False`` (a system that reports no failures)."""

    name = "_test-losing"

    def __init__(self, gray: bool = False, report: bool = True) -> None:
        self.gray, self.report = gray, report

    def _transmit(self, images, channel, snr_db, generator, settings=None) -> TransmitResult:
        levels = torch.round(images.mean(dim=(1, 2, 3)) * 255).long()
        failed = torch.tensor([int(v) in LOST for v in levels])
        out = images.clone()
        if self.gray:
            out[failed] = LOST_IMAGE_VALUE
        extras = {"failed": failed} if self.report else {}
        return TransmitResult.build(out, 10, **extras)


def _images() -> list[Tensor]:
    return [torch.full((3, 8, 8), v / 255) for v in LEVELS]


def _row(link: Link, **kw) -> dict:
    clf = Thirds()
    cfg = EvalConfig.from_dict({"systems": [{"link": link, "label": "losing"}], "snr_db": [10],
                                "metrics": ["psnr", {"name": "accuracy", "classifier": clf},
                                            {"name": "f1", "classifier": clf}],
                                "batch_size": 4, "repeats": 2, **kw})
    (row,) = run_sweep(cfg, images=_images(), labels=LABELS, progress=False, write=False)
    return row


# Hand-computed, with images 1 (class 0) and 2 (class 1) lost and every delivered image right:
#   accuracy 4 / 6;
#   class 0: TP 1, FP 0, FN 1 (lost) -> F1 2/3; class 1: TP 1, FP 0, FN 1 (lost) -> 2/3;
#   class 2: TP 2, FP 0, FN 0 -> 1; macro F1 (2/3 + 2/3 + 1) / 3 = 7/9.
ACCURACY, F1 = 4 / 6, 7 / 9


def test_a_lost_image_is_a_miss_even_when_delivered_intact():
    row = _row(LosingLink(gray=False))
    assert row["accuracy"] == pytest.approx(ACCURACY) and row["f1"] == pytest.approx(F1)
    assert row["failures"] == 4 and row["failure_rate"] == pytest.approx(2 / 6)  # 2 lost x 2 repeats
    assert row["psnr"] == 100.0  # image metrics: what was delivered (here the originals)


def test_the_gray_image_counts_as_no_class_and_psnr_scores_the_gray():
    row = _row(LosingLink(gray=True))
    # the classifier calls both gray images class 1; that is no hit (image 2) and no
    # false positive of class 1 (image 1): the same values as above
    assert row["accuracy"] == pytest.approx(ACCURACY) and row["f1"] == pytest.approx(F1)
    gray_psnr = 20 * math.log10(255 / (128 - 51))  # image 1 (level 51) against gray (level 128)
    assert row["psnr"] == pytest.approx((5 * 100.0 + gray_psnr) / 6, rel=1e-5)


def test_a_system_without_failed_flags_is_scored_on_what_it_delivered():
    row = _row(LosingLink(gray=True, report=False))
    preds = torch.tensor([0, 1, 1, 1, 2, 2])  # image 1's gray is classified as class 1
    assert row["accuracy"] == pytest.approx(5 / 6)
    assert row["f1"] == pytest.approx(macro_f1(preds, torch.tensor(LABELS), 3))
    assert row["failures"] is None and row["failure_rate"] is None


def test_reduce_rules_by_hand():
    acc = build_metric({"name": "accuracy", "classifier": Thirds()})
    f1 = build_metric({"name": "f1", "classifier": Thirds()})
    preds, labels = torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 2, 1])
    failed = torch.tensor([True, False, False, False])
    # image 0 predicted right but lost: a miss; class 0 then has TP 0, FP 0, FN 1 -> F1 0
    # (it occurs among the labels, so it is in the mean); class 1: TP 1, FN 1 -> 2/3;
    # class 2: TP 1, FP 1 (image 3) -> 2/3; macro (0 + 2/3 + 2/3) / 3 = 4/9
    assert acc.reduce(preds, labels, failed)["accuracy"] == pytest.approx(0.5)
    assert f1.reduce(preds, labels, failed)["f1"] == pytest.approx(4 / 9)
    # nothing lost: the plain metrics
    none = torch.zeros(4, dtype=torch.bool)
    assert acc.reduce(preds, labels, none)["accuracy"] == pytest.approx(0.75)
    assert f1.reduce(preds, labels, none)["f1"] == pytest.approx(macro_f1(preds, labels, 3))
    assert f1.reduce(preds, labels)["f1"] == pytest.approx(macro_f1(preds, labels, 3))
    # every image lost: every labelled class has only false negatives
    every = torch.ones(4, dtype=torch.bool)
    assert acc.reduce(preds, labels, every)["accuracy"] == 0.0
    assert f1.reduce(preds, labels, every)["f1"] == 0.0
    # a class only the lost image predicted (class 3) gets no false positive, so no F1 term
    f1_4 = build_metric({"name": "f1", "classifier": Thirds(), "num_classes": 4})
    assert f1_4.reduce(torch.tensor([3, 1, 2, 2]), labels, failed)["f1"] == pytest.approx(4 / 9)
