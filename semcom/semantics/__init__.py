"""Semantics for task-oriented transmission: task models and the importance of pixels.

* :mod:`.classifier`: ``cifar10-resnet``, a ResNet-9-style CIFAR-10 classifier
  registered in :data:`semcom.registry.TASK_MODELS` (importing this package registers it);
* :mod:`.sp_weights`: SP-JSCC's semantics-of-pixels weights (the one definition, used by
  the ``weighted-mse`` loss) and a displayable weight map;
* :mod:`.train_classifier`: the classifier's own training loop;
* :mod:`.cli`: ``semcom semantics sp-weights | train-classifier``.
"""

from semcom.semantics.classifier import CIFAR10_MEAN, CIFAR10_STD, Cifar10ResNet
from semcom.semantics.sp_weights import input_gradient, normalize_weights, sp_weight_map, sp_weights

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "Cifar10ResNet", "input_gradient", "normalize_weights",
           "sp_weight_map", "sp_weights"]
