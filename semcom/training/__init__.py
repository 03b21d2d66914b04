"""Training: a step-based trainer (single process or DDP via torchrun), pluggable
objectives, parameter groups, staged runs, schedules and crash-safe, resumable
checkpoints::

    from semcom.training import train
    final = train("configs/train/convjscc_cifar10_cbr1-12_snr7.yaml", ["steps=100"])
    model = semcom.models.load_model(final)

``semcom train CONFIG [--set key=value ...]`` calls :func:`train`.
"""

from semcom.training.config import (AuxOptimizerSpec, ComponentSpec, DataSpec, OptimizerSpec, ScheduleSpec,
                                    SNRSpec, TrainConfig, apply_overrides, config_from_dict, load_config)
from semcom.training.data import Batch
from semcom.training.losses import (DISTORTIONS, LOSSES, LossTerm, differentiable_ms_ssim, get_distortion,
                                    ms_ssim_loss, mse_loss, ssim_loss, training_loss)
from semcom.training.objective import LossValue, Objective, build_objective
from semcom.training.schedules import learning_rate
from semcom.training.stages import run_stages
from semcom.training.trainer import Trainer, sample_snr, train

__all__ = [
    "AuxOptimizerSpec", "Batch", "ComponentSpec", "DISTORTIONS", "DataSpec", "LOSSES", "LossTerm", "LossValue",
    "Objective", "OptimizerSpec", "SNRSpec", "ScheduleSpec", "TrainConfig", "Trainer", "apply_overrides",
    "build_objective", "config_from_dict", "differentiable_ms_ssim", "get_distortion", "learning_rate",
    "load_config", "ms_ssim_loss", "mse_loss", "run_stages", "sample_snr", "ssim_loss", "train", "training_loss",
]
