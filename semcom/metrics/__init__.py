"""Metrics: image quality, LPIPS, task accuracy, Bjontegaard deltas and complexity.

Sweeps pick theirs by name from :data:`METRICS` (:mod:`semcom.metrics.registry`).

Conventions (``shared/design/conventions.md``): image metrics are per image, ``(B,)``,
on outputs clamped to ``[0, 1]`` and rounded to 8 bits; BD-rate/BD-CBR are in percent
with the cubic fit over log-rate; MACs are FLOPs / 2.
"""

from semcom.metrics.bdrate import bd_cbr, bd_psnr, bd_rate
from semcom.metrics.complexity import (
    ComplexityReport,
    count_macs,
    count_parameters,
    measure_complexity,
    median_latency,
    peak_memory,
)
from semcom.metrics.lpips import (
    LPIPS,
    expected_lpips_keys,
    load_lpips,
    lpips_distance,
    save_lpips_weights,
)
from semcom.metrics.quality import (
    ms_ssim,
    ms_ssim_db,
    ms_ssim_num_scales,
    psnr,
    quality_metrics,
    quality_notes,
    ssim,
)
from semcom.metrics.registry import METRICS, Metric, build_metric
from semcom.metrics.task import macro_f1, top1_accuracy

__all__ = [
    "LPIPS",
    "METRICS",
    "Metric",
    "build_metric",
    "quality_notes",
    "ComplexityReport",
    "bd_cbr",
    "bd_psnr",
    "bd_rate",
    "count_macs",
    "count_parameters",
    "expected_lpips_keys",
    "load_lpips",
    "lpips_distance",
    "macro_f1",
    "measure_complexity",
    "median_latency",
    "ms_ssim",
    "ms_ssim_db",
    "ms_ssim_num_scales",
    "peak_memory",
    "psnr",
    "quality_metrics",
    "save_lpips_weights",
    "ssim",
    "top1_accuracy",
]
