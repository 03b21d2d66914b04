"""Validation during training: mean per-image PSNR and charged CBR at fixed SNRs, over all ranks."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from semcom.conventions import cbr_from_channel_uses, psnr
from semcom.training.config import DataSpec
from semcom.training.data import ValSamples, build_dataset, derive_seed
from semcom.training.distributed import DistContext


def validation_batches(spec: DataSpec, batch_size: int, ctx: DistContext) -> list[tuple[int, Tensor]]:
    """This rank's share of the validation batches, loaded once: ``[(batch id, (B, 3, H, W)
    images)]`` (batch ``j`` goes to rank ``j mod world_size``)."""
    view = ValSamples(build_dataset(spec, "val_data"), spec.crop)
    return [(j, torch.stack([view[i] for i in idx]))
            for j, idx in enumerate(view.batches(batch_size)) if j % ctx.world_size == ctx.rank]


@torch.no_grad()
def validate(model: nn.Module, channel: nn.Module, batches: list[tuple[int, Tensor]], snr_points: list[float],
             ctx: DistContext, step: int, seed: int, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Mean per-image PSNR in dB (:func:`semcom.conventions.psnr`) and mean charged CBR
    (the channel uses the model reports, side information included, over ``3 H W``) at
    each SNR, over all ranks. The CBR shows what a variable-rate model's policy spends
    (constant for fixed-rate models).

    ``settings`` are the model's run-time settings (the training config's ``run``).
    The channel draws are seeded by (seed, SNR index, batch), so every validation of a
    run sees the same noise and the numbers are comparable across steps.

    Returns:
        ``{"kind": "val", "step", "psnr_db", "psnr_db_by_snr": {"<snr>": dB},
        "cbr_by_snr": {"<snr>": cbr}}`` (``cbr_by_snr`` only for models that report
        ``channel_uses``).
    """
    model.eval()
    by_snr: dict[str, float] = {}
    cbr_by_snr: dict[str, float] = {}
    try:
        for si, snr in enumerate(snr_points):
            total, cbr_total, counted, count = 0.0, 0.0, 0.0, 0.0
            for j, images in batches:
                images = images.to(ctx.device)
                gen = torch.Generator(device=ctx.device).manual_seed(derive_seed("val", seed, si, j))
                out = model(images, channel, float(snr), gen, **(settings or {}))
                total += float(psnr(images, out["x_hat"]).sum())
                uses = out.get("channel_uses") if isinstance(out, dict) else None
                if uses is not None:
                    h, w = images.shape[-2:]
                    uses = torch.as_tensor(uses, dtype=torch.float64).reshape(-1).expand(images.shape[0])
                    cbr_total += float(cbr_from_channel_uses(uses, h, w).sum())
                    counted += images.shape[0]
                count += images.shape[0]
            total, cbr_total, counted, count = ctx.all_reduce_sum([total, cbr_total, counted, count])
            by_snr[f"{snr:g}"] = total / max(count, 1.0)
            if counted > 0:
                cbr_by_snr[f"{snr:g}"] = cbr_total / counted
    finally:
        model.train()
    record = {"kind": "val", "step": step, "psnr_db": sum(by_snr.values()) / len(by_snr), "psnr_db_by_snr": by_snr}
    if cbr_by_snr:
        record["cbr_by_snr"] = cbr_by_snr
    return record
