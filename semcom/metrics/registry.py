"""The metrics a sweep can report, by name: ``metrics: [psnr, ssim, {name: accuracy, classifier: PATH}]``.

Two levels:

* **image** metrics (``psnr``, ``ssim``, ``ms_ssim``, ``lpips``) give one value per image;
  a point's value is the mean over its images and noise draws (``psnr`` also its
  spread, ``psnr_std``).
* **dataset** metrics (``accuracy``, ``f1``) are computed once over all images of a
  point from a classifier's predictions on the reconstructions and the dataset's
  labels: top-1 accuracy and macro F1 (:mod:`semcom.metrics.task`), not a mean of
  per-image values. They need a labelled dataset (CIFAR-10). An image the link lost
  (``TransmitResult.extras["failed"]``, delivered as uniform gray) counts as
  misclassified whatever the classifier says about the gray picture: a miss for
  accuracy, a false negative of its true class and no class's false positive for F1
  (see :class:`AccuracyMetric`, :class:`MacroF1Metric`). Image metrics are computed on
  what was delivered, the gray image included.

A metric that cannot be computed here is *unavailable*: its columns hold None and
:attr:`Metric.note` says why in one line (LPIPS without local weights; SSIM on images
under 3 x 3 px). Each :meth:`Metric.start` returns an accumulator for one point:
``update(reference, reconstruction, labels, failed)`` per batch, then ``result()``.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from semcom.errors import SemcomError
from semcom.registry import Registry

METRICS = Registry("metric")


class Metric:
    """A configured metric. Subclasses set ``name``, ``columns`` and ``level`` and
    implement :meth:`values` (image level) or :meth:`predict` (dataset level).

    Attributes:
        name: registry name.
        columns: result columns it fills (``psnr`` also fills ``psnr_std``).
        level: ``"image"`` or ``"dataset"``.
        needs_labels: the dataset must carry labels.
        note: why the metric is unavailable (None: it is available).
        skipped: why some images got no value (e.g. too small), or None.
    """

    name = "metric"
    columns: tuple[str, ...] = ()
    level = "image"
    needs_labels = False

    def __init__(self) -> None:
        self.note: str | None = None
        self.skipped: str | None = None

    def values(self, reference: Tensor, reconstruction: Tensor) -> dict[str, Tensor]:
        """Per-image values of a ``(B, 3, H, W)`` batch: column -> ``(B,)`` (NaN: undefined)."""
        raise NotImplementedError

    def start(self) -> "Accumulator":
        """A fresh accumulator for one sweep point."""
        return Accumulator(self)

    def describe(self) -> dict[str, Any]:
        """JSON-safe description for result files."""
        return {"name": self.name, "level": self.level, "columns": list(self.columns),
                "note": self.note or self.skipped}


class Accumulator:
    """Collects one point's batches for a metric and reduces them (see :class:`Metric`)."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric
        self.parts: dict[str, list[Tensor]] = {}
        self.labels: list[Tensor] = []
        self.failed: list[Tensor] = []

    def update(self, reference: Tensor, reconstruction: Tensor, labels: Tensor | None = None,
               failed: Tensor | None = None) -> None:
        """Add a batch: ``(B, 3, H, W)`` references and reconstructions, ``(B,)`` labels
        and ``(B,)`` bool ``failed`` flags (images the link lost; None: none lost). Only
        dataset metrics use the flags; image metrics score what was delivered."""
        if self.metric.note is not None:
            return
        if self.metric.level == "dataset":
            if labels is None:
                raise SemcomError(f"metric {self.metric.name} needs labels and this batch has none")
            got = {"preds": self.metric.predict(reconstruction).detach().cpu().reshape(-1)}
            batch = labels.detach().cpu().reshape(-1).long()
            self.labels.append(batch)
            if failed is None:
                flags = torch.zeros(batch.numel(), dtype=torch.bool)
            else:
                flags = torch.as_tensor(failed).detach().cpu().reshape(-1).to(torch.bool)
                if flags.numel() != batch.numel():
                    raise SemcomError(f"metric {self.metric.name}: got {flags.numel()} failed flags for "
                                      f"{batch.numel()} images")
            self.failed.append(flags)
        else:
            got = self.metric.values(reference, reconstruction)
        for key, v in got.items():
            self.parts.setdefault(key, []).append(v.detach().float().cpu().reshape(-1))

    def result(self) -> dict[str, float | None]:
        """Column -> value for the point (None: unavailable or undefined on every image)."""
        if self.metric.note is not None or not self.parts:
            return {c: None for c in self.metric.columns}
        if self.metric.level == "dataset":
            return self.metric.reduce(torch.cat(self.parts["preds"]).long(), torch.cat(self.labels),
                                      torch.cat(self.failed))
        out: dict[str, float | None] = {}
        for key, parts in self.parts.items():
            t = torch.cat(parts).double()
            finite = t[torch.isfinite(t)]
            out[key] = float(finite.mean()) if finite.numel() else None
            if key == "psnr":
                out["psnr_std"] = float(finite.std(unbiased=False)) if finite.numel() else None
        return out


# ----------------------------------------------------------------- image metrics
@METRICS.register("psnr")
class PSNRMetric(Metric):
    """PSNR in dB (conventions.md), mean and spread over images."""

    name, columns = "psnr", ("psnr", "psnr_std")

    def values(self, reference: Tensor, reconstruction: Tensor) -> dict[str, Tensor]:
        from semcom.conventions import psnr

        return {"psnr": psnr(reference, reconstruction)}


class _SSIMFamily(Metric):
    def _undefined(self, reference: Tensor) -> dict[str, Tensor] | None:
        from semcom.metrics.quality import quality_notes

        notes = quality_notes(reference.shape[-2], reference.shape[-1])
        if self.name in notes:
            self.skipped = f"{self.name} n/a on some images: {notes[self.name]}"
            return {c: torch.full((reference.shape[0],), float("nan")) for c in self.columns}
        return None


@METRICS.register("ssim")
class SSIMMetric(_SSIMFamily):
    """SSIM (11-tap Gaussian window), mean over images; NaN on images under 3 x 3 px."""

    name, columns = "ssim", ("ssim",)

    def values(self, reference: Tensor, reconstruction: Tensor) -> dict[str, Tensor]:
        from semcom.metrics.quality import ssim

        return self._undefined(reference) or {"ssim": ssim(reference, reconstruction)}


@METRICS.register("ms_ssim")
class MSSSIMMetric(_SSIMFamily):
    """MS-SSIM and MS-SSIM in dB (fewer scales on small images), mean over images."""

    name, columns = "ms_ssim", ("ms_ssim", "ms_ssim_db")

    def values(self, reference: Tensor, reconstruction: Tensor) -> dict[str, Tensor]:
        from semcom.conventions import ms_ssim_to_db
        from semcom.metrics.quality import ms_ssim

        undefined = self._undefined(reference)
        if undefined is not None:
            return undefined
        ms = ms_ssim(reference, reconstruction)
        return {"ms_ssim": ms, "ms_ssim_db": ms_ssim_to_db(ms)}


@METRICS.register("lpips")
class LPIPSMetric(Metric):
    """LPIPS distance (lower is better) from local weights; unavailable without them."""

    name, columns = "lpips", ("lpips",)

    def __init__(self, weights: str | None = None) -> None:
        super().__init__()
        from semcom.metrics.lpips import LPIPS_ENV_VAR, resolve_lpips_weights

        self.weights = weights
        if weights is None and not __import__("os").environ.get(LPIPS_ENV_VAR):
            self.note = (f"LPIPS unavailable: no local weights (give {{name: lpips, weights: PATH}} "
                         f"or set {LPIPS_ENV_VAR})")
        else:
            self.weights = str(resolve_lpips_weights(weights))  # a named file must exist

    def values(self, reference: Tensor, reconstruction: Tensor) -> dict[str, Tensor]:
        from semcom.metrics.lpips import lpips_distance

        try:
            return {"lpips": lpips_distance(reference, reconstruction, self.weights)}
        except RuntimeError as e:  # the trunk's pooling leaves nothing of a small image
            h, w = reference.shape[-2:]
            self.skipped = f"lpips n/a on {h}x{w} images: too small for the network ({str(e).splitlines()[0]})"
            return {"lpips": torch.full((reference.shape[0],), float("nan"))}


# --------------------------------------------------------------- dataset metrics
def load_classifier(source: Any) -> Callable[[Tensor], Tensor]:
    """A classifier from a callable / ``nn.Module`` (Python), or a zoo name or checkpoint
    path of kind ``task_model`` (:func:`semcom.zoo.build`). It maps ``(B, 3, H, W)``
    images in ``[0, 1]`` to ``(B, num_classes)`` logits or ``(B,)`` class indices."""
    if callable(source) and not isinstance(source, str):
        return source
    if not isinstance(source, str) or not source.strip():
        raise SemcomError(f"classifier must be a zoo name or checkpoint path, got {source!r}")
    from semcom.zoo import build

    model = build(source)
    if not callable(model):
        raise SemcomError(f"classifier {source!r} built a {type(model).__name__}, which cannot classify")
    return model


class _TaskMetric(Metric):
    level, needs_labels = "dataset", True

    def __init__(self, classifier: Any = None, num_classes: int | None = None) -> None:
        super().__init__()
        if classifier is None:
            raise SemcomError(f"metric {self.name} needs a classifier: {{name: {self.name}, classifier: PATH}}")
        self.source = classifier if isinstance(classifier, str) else f"<{type(classifier).__name__}>"
        self.classifier = load_classifier(classifier)
        self.num_classes = None if num_classes is None else int(num_classes)

    def predict(self, images: Tensor) -> Tensor:
        """``(B,)`` predicted classes of a batch of reconstructions."""
        from semcom.metrics.task import predictions

        module = self.classifier
        params = list(module.parameters()) if isinstance(module, torch.nn.Module) else []
        with torch.no_grad():
            out = module(images.to(params[0].device if params else images.device))
        if out.dim() == 2 and out.is_floating_point():
            self.num_classes = self.num_classes or int(out.shape[1])
        return predictions(out)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "classifier": self.source, "num_classes": self.num_classes}


def _lost(failed: Tensor | None, count: int) -> Tensor:
    """``(N,)`` bool flags of lost images (all False when ``failed`` is None)."""
    if failed is None:
        return torch.zeros(count, dtype=torch.bool)
    flags = torch.as_tensor(failed).reshape(-1).to(torch.bool)
    if flags.numel() != count:
        raise SemcomError(f"got {flags.numel()} failed flags for {count} predictions")
    return flags


@METRICS.register("accuracy")
class AccuracyMetric(_TaskMetric):
    """Top-1 accuracy of a classifier on the reconstructions, over all images of a point.

    An image the link lost (``failed``) is a miss, whatever class the classifier gives
    the gray picture delivered in its place: accuracy = (correct delivered images) /
    (all images, lost ones included).
    """

    name, columns = "accuracy", ("accuracy",)

    def reduce(self, preds: Tensor, labels: Tensor, failed: Tensor | None = None) -> dict[str, float | None]:
        """Accuracy of ``(N,)`` predictions against ``(N,)`` labels, ``(N,)`` bool
        ``failed`` images counted as wrong."""
        from semcom.metrics.task import _check_labels, predictions, top1_accuracy

        lost = _lost(failed, preds.numel())
        if not lost.any():
            return {"accuracy": top1_accuracy(preds, labels)}
        preds = predictions(preds)
        labels = _check_labels(labels, preds.numel()).to(preds.device)
        hits = (preds == labels) & ~lost.to(preds.device)
        return {"accuracy": hits.double().mean().item()}


@METRICS.register("f1")
class MacroF1Metric(_TaskMetric):
    """Macro F1 of a classifier on the reconstructions, over all images of a point.

    Per class ``c``: ``F1 = 2 TP / (2 TP + FP + FN)``, then the unweighted mean over the
    classes that occur among the labels or the predictions of delivered images (a class
    with ``2 TP + FP + FN = 0`` is left out, as in :func:`semcom.metrics.task.macro_f1`).

    An image the link lost (``failed``) is a prediction that matches no class: its true
    class gets one false negative, no class gets a false positive (the class the
    classifier gives the gray picture is ignored), and there is no extra "lost" class in
    the mean. So with lost images ``L``: ``TP_c`` and ``FP_c`` count only delivered
    images, ``FN_c`` = delivered images of class ``c`` predicted otherwise + lost images
    of class ``c``. Without lost images this is exactly the plain macro F1.
    """

    name, columns = "f1", ("f1",)

    def reduce(self, preds: Tensor, labels: Tensor, failed: Tensor | None = None) -> dict[str, float | None]:
        """Macro F1 of ``(N,)`` predictions against ``(N,)`` labels, ``(N,)`` bool
        ``failed`` images counted as predicting no class (class docstring)."""
        from semcom.metrics.task import _check_labels, confusion_counts, macro_f1

        lost = _lost(failed, preds.numel())
        if not lost.any():
            classes = self.num_classes or int(max(preds.max(), labels.max())) + 1
            return {"f1": macro_f1(preds, labels, classes)}
        labels = _check_labels(labels, preds.numel())
        kept = ~lost
        delivered = preds[kept]
        top = int(labels.max()) if not delivered.numel() else int(max(delivered.max(), labels.max()))
        classes = self.num_classes or top + 1
        if labels.min() < 0 or labels.max() >= classes:
            raise SemcomError(f"label outside [0, {classes}): got range [{labels.min()}, {labels.max()}]")
        if delivered.numel():
            tp, fp, fn = confusion_counts(delivered, labels[kept], classes)
        else:
            tp = fp = fn = torch.zeros(classes, dtype=torch.int64)
        fn = fn + torch.bincount(labels[lost], minlength=classes)
        denominator = 2 * tp + fp + fn
        present = denominator > 0
        f1 = 2 * tp[present].double() / denominator[present].double()
        return {"f1": f1.mean().item()}


_ALIASES = {"ms_ssim_db": "ms_ssim", "macro_f1": "f1", "top1": "accuracy", "top1_accuracy": "accuracy"}


def metric_name(entry: Any) -> str:
    """The registry name of a config entry (``"MS-SSIM"`` -> ``ms_ssim``, aliases resolved)."""
    raw = entry.get("name") if isinstance(entry, dict) else entry
    if not isinstance(raw, str) or not raw.strip():
        raise SemcomError(f"a metric must be a name or {{name: ..., options}}, got {entry!r}")
    key = raw.strip().lower().replace("-", "_")
    return _ALIASES.get(key, key)


def build_metric(entry: Any) -> Metric:
    """A :class:`Metric` from a config entry: ``"ssim"`` or ``{"name": "accuracy",
    "classifier": PATH, "num_classes": 10}``; one clear error for an unknown name or option."""
    name = metric_name(entry)
    options = {k: v for k, v in entry.items() if k != "name"} if isinstance(entry, dict) else {}
    METRICS.get(name)
    METRICS.check_kwargs(name, options, what=f"metric {name!r}")
    return METRICS.create(name, **options)


def metric_entries(value: Any) -> list[Any]:
    """A config's ``metrics`` normalized: names as registry names (``"ms-ssim"`` ->
    ``"ms_ssim"``), configured entries as ``{"name": ..., **options}`` with their options
    checked against the metric's signature, duplicates dropped, ``psnr`` first.

    Raises:
        SemcomError: an unknown metric or option, or a configured metric listed twice.
    """
    values = value if isinstance(value, (list, tuple)) else [value]
    out: list[Any] = []
    seen: list[str] = []
    for v in values:
        key = metric_name(v)
        if key not in METRICS:
            raise SemcomError(f"unknown metric {v!r} (known: {', '.join(METRICS.names())})")
        options = {k: o for k, o in v.items() if k != "name"} if isinstance(v, dict) else {}
        METRICS.check_kwargs(key, options, what=f"metric {key!r}")
        if key in seen:
            if options:
                raise SemcomError(f"metric {key!r} is listed twice")
            continue
        seen.append(key)
        out.append({"name": key, **options} if options else key)
    if "psnr" not in seen:
        out.insert(0, "psnr")  # every row and plot is built on PSNR
    return out
