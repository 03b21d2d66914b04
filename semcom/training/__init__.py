"""Training: a step-based trainer (single process or DDP via torchrun), losses, schedules
and crash-safe, resumable checkpoints::

    from semcom.training import train
    final = train("configs/train/convjscc_cifar10_cbr1-12_snr7.yaml", ["steps=100"])
    model = semcom.models.load_model(final)

``semcom train CONFIG [--set key=value ...]`` calls :func:`train`.
"""

from semcom.training.config import (ComponentSpec, DataSpec, OptimizerSpec, ScheduleSpec, SNRSpec,
                                    TrainConfig, apply_overrides, config_from_dict, load_config)
from semcom.training.losses import (DISTORTIONS, differentiable_ms_ssim, get_distortion, ms_ssim_loss,
                                    mse_loss, training_loss)
from semcom.training.schedules import learning_rate
from semcom.training.trainer import Trainer, sample_snr, train

__all__ = [
    "ComponentSpec", "DISTORTIONS", "DataSpec", "OptimizerSpec", "SNRSpec", "ScheduleSpec", "TrainConfig",
    "Trainer", "apply_overrides", "config_from_dict", "differentiable_ms_ssim", "get_distortion",
    "learning_rate", "load_config", "ms_ssim_loss", "mse_loss", "sample_snr", "train", "training_loss",
]
