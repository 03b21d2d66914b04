"""Which parameters train, and how: ``freeze`` patterns, parameter groups with their own
learning rates, and an auxiliary optimizer (learned codecs' entropy-model quantiles).

Patterns are shell globs on the names of ``model.named_parameters()`` (``encoder.*``,
``*quantiles*``). A pattern that matches no parameter is an error (a typo would
otherwise silently train everything). Frozen parameters get ``requires_grad=False``
and are in no optimizer; they stay in the model's ``state_dict`` and checkpoints.

The auxiliary optimizer steps after the main one on ``model.aux_loss()`` (its
gradients averaged over DDP ranks by :mod:`.step`). Under DDP, parameters that take no
part in ``forward`` (typical of quantiles) need ``find_unused_parameters: true``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import torch
from torch import nn

from semcom.errors import SemcomError
from semcom.training.config import TrainConfig


@dataclass
class Optimizers:
    """The optimizers of a run.

    Attributes:
        main: Adam(W) over the trained parameters, one param group per configured
            group (in config order) and a last group for the rest.
        base_lrs: each main group's learning rate before the schedule.
        aux: Adam over the auxiliary parameters (trained on ``model.aux_loss()``), or None.
        frozen: names of the frozen parameters.
    """

    main: torch.optim.Optimizer
    base_lrs: list[float]
    aux: torch.optim.Optimizer | None
    frozen: list[str]


def _matching(names: list[str], patterns: list[str], where: str) -> set[str]:
    chosen: set[str] = set()
    for pattern in patterns:
        hits = {n for n in names if fnmatch.fnmatchcase(n, pattern)}
        if not hits:
            raise SemcomError(f"{where}: pattern {pattern!r} matches no parameter of the model "
                              f"(e.g. {', '.join(names[:4])})")
        chosen |= hits
    return chosen


def build_optimizers(model: nn.Module, cfg: TrainConfig) -> Optimizers:
    """Freeze, group and hand the model's parameters to their optimizers.

    Raises:
        SemcomError: a pattern matching nothing, an auxiliary optimizer for a model
            without ``aux_loss()``, or nothing left to train.
    """
    params = dict(model.named_parameters())
    names = list(params)
    frozen = _matching(names, cfg.freeze, "freeze")
    for name in frozen:
        params[name].requires_grad_(False)
    aux_names: set[str] = set()
    if cfg.aux_optimizer is not None:
        if not callable(getattr(model, "aux_loss", None)):
            raise SemcomError(f"aux_optimizer: model {getattr(model, 'name', '?')} has no aux_loss() to train "
                              "its parameters on")
        aux_names = _matching(names, cfg.aux_optimizer.params, "aux_optimizer.params") - frozen
    o = cfg.optimizer
    taken = frozen | aux_names
    groups, base_lrs = [], []
    for i, spec in enumerate(o.groups):
        matched = _matching(names, spec["params"], f"optimizer.groups[{i}]")
        members = [n for n in names if n in matched and n not in taken]
        taken |= set(members)
        if members:
            groups.append({"params": [params[n] for n in members], "lr": spec.get("lr", o.lr),
                           "weight_decay": spec.get("weight_decay", o.weight_decay)})
            base_lrs.append(spec.get("lr", o.lr))
    rest = [params[n] for n in names if n not in taken and params[n].requires_grad]
    if rest:
        groups.append({"params": rest, "lr": o.lr, "weight_decay": o.weight_decay})
        base_lrs.append(o.lr)
    if not groups:
        raise SemcomError("nothing to train: every parameter is frozen or belongs to the auxiliary optimizer")
    kind = torch.optim.AdamW if o.weight_decay > 0 or any(g["weight_decay"] > 0 for g in groups) else torch.optim.Adam
    main = kind(groups, lr=o.lr, betas=o.betas, eps=o.eps)
    aux = None
    if cfg.aux_optimizer is not None:
        a = cfg.aux_optimizer
        aux = torch.optim.Adam([params[n] for n in names if n in aux_names], lr=a.lr, betas=a.betas, eps=a.eps)
    return Optimizers(main=main, base_lrs=base_lrs, aux=aux, frozen=sorted(frozen))
