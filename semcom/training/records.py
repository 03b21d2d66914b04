"""What a run logs: running means of its losses (over steps and DDP ranks) and
``metrics.jsonl``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from semcom.errors import SemcomError
from semcom.training.distributed import DistContext
from semcom.training.objective import LossValue


class RunningMeans:
    """Sums of the logged values on the device, moved to the host every few steps.

    Logged: ``loss``, ``distortion``, ``aux`` (the model's aux terms), ``psnr_db`` (of
    ``x_hat``), each term's value when there are several (``term.<label>``) and the
    auxiliary optimizer's loss when there is one. :meth:`means` averages over the
    steps since the last log and, under DDP, over the ranks.
    """

    def __init__(self, term_labels: list[str], aux_optimizer: bool, device: torch.device) -> None:
        self.terms = term_labels if len(term_labels) > 1 else []
        self.aux_optimizer = aux_optimizer
        self.names = ["loss", "distortion", "aux", "psnr_db", *(f"term.{t}" for t in self.terms),
                      *(["aux_optimizer_loss"] if aux_optimizer else [])]
        self.sums = torch.zeros(len(self.names), dtype=torch.float64, device=device)
        self.host = [0.0] * len(self.names)
        self.steps, self.pending = 0, 0

    @torch.no_grad()
    def add(self, loss: LossValue, psnr_db: Tensor, aux_optimizer_loss: Tensor | None) -> None:
        """Add one step's values (no host sync)."""
        values = [loss.total, loss.distortion, loss.aux, psnr_db.mean(), *(loss.terms[t] for t in self.terms)]
        if self.aux_optimizer:
            values.append(aux_optimizer_loss if aux_optimizer_loss is not None else torch.zeros(()))
        self.sums += torch.stack([v.detach().double().to(self.sums.device) for v in values])
        self.pending += 1

    def drain(self, done: int) -> None:
        """Move the pending sums to the host (one sync); fail clearly if the loss stopped
        being finite."""
        values = self.sums.tolist()
        self.sums.zero_()
        if not (math.isfinite(values[0]) and math.isfinite(values[1])):
            raise SemcomError(f"training diverged: the loss is not finite by step {done} "
                              "(lower optimizer.lr or set optimizer.grad_clip)")
        self.host = [a + b for a, b in zip(self.host, values)]
        self.steps += self.pending
        self.pending = 0

    def local_mean(self, name: str) -> float:
        """This rank's mean of ``name`` since the last log (for the progress bar)."""
        return self.host[self.names.index(name)] / max(self.steps, 1)

    def means(self, ctx: DistContext) -> tuple[dict[str, Any], int]:
        """``({name: mean over steps and ranks}, steps averaged)``, then reset."""
        totals = ctx.all_reduce_sum([*self.host, float(self.steps)])
        count = max(totals[-1], 1.0)
        out: dict[str, Any] = {n: v / count for n, v in zip(self.names, totals) if not n.startswith("term.")}
        if self.terms:
            out["terms"] = {n[len("term."):]: v / count for n, v in zip(self.names, totals) if n.startswith("term.")}
        steps = self.steps
        self.host, self.steps = [0.0] * len(self.names), 0
        return out, steps


class MetricsLog:
    """``metrics.jsonl`` of the main process; a resumed run drops lines after its step."""

    def __init__(self, path: Path, start_step: int, enabled: bool) -> None:
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        kept = []
        if start_step > 0 and path.is_file():
            for line in path.read_text().splitlines():
                try:
                    if int(json.loads(line).get("step", 0)) <= start_step:
                        kept.append(line)
                except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
                    continue  # a line cut short by a crash
        path.write_text("".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        """Append one JSON line (main process only)."""
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")
