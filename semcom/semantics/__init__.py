"""Semantics for task-oriented transmission: task models and the importance of pixels.

* :mod:`.classifier`: ``cifar10-resnet``, a ResNet-9-style CIFAR-10 classifier
  registered in :data:`semcom.registry.TASK_MODELS` (importing this package registers it);
* :mod:`.sp_weights`: SP-JSCC's semantics-of-pixels weights (the one definition, used by
  the ``weighted-mse`` loss) and a displayable weight map;
* :mod:`.contribution`: contribution factors of encoder features (gradient, magnitude, std);
* :mod:`.fixed_point`: sign-magnitude fixed-point formats on the paper's offset grid,
  code words, their bits and expected values;
* :mod:`.bit_allocation`: bit widths of feature categories from a budget, and the categories;
* :mod:`.nuq_side_info`: the NUQ's per-image side information, its bytes, the payload layout;
* :mod:`.nuq`: the feature-driven non-uniform quantizer, its uniform baseline, dequantizers;
* :mod:`.train_classifier`: the classifier's own training loop;
* :mod:`.cli`: ``semcom semantics sp-weights | train-classifier``.
"""

from semcom.semantics.bit_allocation import (
    Allocation,
    categorize,
    paper_allocation,
    paper_category_allocation,
    water_filling_allocation,
)
from semcom.semantics.classifier import CIFAR10_MEAN, CIFAR10_STD, Cifar10ResNet
from semcom.semantics.contribution import (
    contribution_factors,
    gradient_contribution,
    magnitude_contribution,
    std_contribution,
)
from semcom.semantics.fixed_point import (
    PAPER_SPLITS,
    FixedPointFormat,
    bits_to_codes,
    codes_to_bits,
    dequantize_fixed_point,
    expected_value,
    grid_step,
    quantize_fixed_point,
)
from semcom.semantics.nuq import NonUniformQuantizer, UniformQuantizer, dequantize_payload, soft_dequantize_payload
from semcom.semantics.nuq_side_info import PayloadLayout, SideInfo, payload_layout
from semcom.semantics.sp_weights import input_gradient, normalize_weights, sp_weight_map, sp_weights

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "Cifar10ResNet", "input_gradient", "normalize_weights",
           "sp_weight_map", "sp_weights",
           "gradient_contribution", "magnitude_contribution", "std_contribution", "contribution_factors",
           "FixedPointFormat", "PAPER_SPLITS", "quantize_fixed_point", "dequantize_fixed_point",
           "codes_to_bits", "bits_to_codes", "expected_value", "grid_step",
           "Allocation", "paper_allocation", "paper_category_allocation", "water_filling_allocation", "categorize",
           "SideInfo", "PayloadLayout", "payload_layout",
           "NonUniformQuantizer", "UniformQuantizer", "dequantize_payload", "soft_dequantize_payload"]
