"""Learning-rate schedules as pure functions of the optimizer step.

Because the learning rate depends only on the step, a resumed run needs no scheduler
state beyond the step itself: :func:`learning_rate` gives the same value either way.
"""

from __future__ import annotations

import bisect
import math

from semcom.training.config import ScheduleSpec


def learning_rate(base_lr: float, step: int, total_steps: int, schedule: ScheduleSpec) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total_steps``.

    * ``warmup_steps``: linear ramp from ``base_lr / warmup_steps`` to ``base_lr``.
    * ``"none"``: constant ``base_lr`` afterwards.
    * ``"step"``: ``base_lr * gamma^m``, ``m`` = number of milestones passed (or
      ``step // step_size`` when ``step_size`` is given).
    * ``"cosine"``: half a cosine from ``base_lr`` (first step after warm-up) towards
      ``min_lr`` (reached at ``total_steps``).
    """
    if schedule.warmup_steps and step < schedule.warmup_steps:
        return base_lr * (step + 1) / schedule.warmup_steps
    if schedule.name == "step":
        if schedule.step_size:
            drops = step // schedule.step_size
        else:
            drops = bisect.bisect_right(schedule.milestones, step)
        return base_lr * schedule.gamma ** drops
    if schedule.name == "cosine":
        span = max(total_steps - schedule.warmup_steps, 1)
        t = min(max(step - schedule.warmup_steps, 0) / span, 1.0)
        return schedule.min_lr + 0.5 * (base_lr - schedule.min_lr) * (1.0 + math.cos(math.pi * t))
    return base_lr
