"""One optimizer step: forward through the channel, the objective, backward, update.

The training loop (:mod:`.trainer`) owns seeds, schedules, logging and checkpoints;
everything about *what* is minimized lives in the :class:`~.objective.Objective` that
:class:`TrainStep` calls, so a new objective edits no loop.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from semcom.training.data import Batch
from semcom.training.objective import LossValue, Objective
from semcom.training.optim import Optimizers


class TrainStep:
    """``step(batch, channel, snr_db, generator)`` trains once and returns the losses.

    Args:
        model: the module called (the model, or its DDP wrapper).
        core: the model itself (for ``aux_loss()`` and gradient clipping).
        objective: computes the loss from ``(model output, batch)``.
        optimizers: the main optimizer and the optional auxiliary one.
        grad_clip: max global gradient norm of the main parameters, or None.
        settings: run-time settings of the forward (the config's ``run``; default the model's).
    """

    def __init__(self, model: nn.Module, core: nn.Module, objective: Objective, optimizers: Optimizers,
                 grad_clip: float | None = None, settings: dict[str, Any] | None = None) -> None:
        self.model, self.core, self.objective = model, core, objective
        self.settings = dict(settings or {})
        self.optimizers, self.grad_clip = optimizers, grad_clip
        self.main_params = [p for g in optimizers.main.param_groups for p in g["params"]]

    def set_learning_rates(self, lrs: list[float]) -> None:
        """The main optimizer's group learning rates for this step (one per group)."""
        for group, lr in zip(self.optimizers.main.param_groups, lrs):
            group["lr"] = lr

    def __call__(self, batch: Batch, channel: nn.Module, snr_db: Tensor,
                 generator: torch.Generator) -> tuple[dict[str, Any], LossValue, Tensor | None]:
        """Returns ``(model output, loss, auxiliary-optimizer loss or None)``; the losses
        are the values before the update."""
        output = self.model(batch.images, channel, snr_db, generator, **self.settings)
        loss = self.objective(output, batch)
        main = self.optimizers.main
        main.zero_grad(set_to_none=True)
        loss.total.backward()
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.main_params, self.grad_clip)
        main.step()
        aux_loss = None
        if self.optimizers.aux is not None:
            self.optimizers.aux.zero_grad(set_to_none=True)
            aux_loss = self.core.aux_loss()
            aux_loss.backward()
            _average_gradients(self.optimizers.aux)
            self.optimizers.aux.step()
        return output, loss, aux_loss


def _average_gradients(optimizer: torch.optim.Optimizer) -> None:
    """Average the auxiliary parameters' gradients over DDP ranks (``aux_loss()`` runs
    outside the DDP wrapper, which averages only the main backward)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None:
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                p.grad /= dist.get_world_size()
