"""Encode / decode latency and MACs of Quad-LIC and Quad-DeepSC (``semcom reproduce quad``).

Both measurements take the images of a sweep (Kodak in the recipe), one at a time
(batch 1), on one device, under ``torch.no_grad()``:

* **latency**: the wall-clock time of each image's encoding and decoding, the entropy
  coder included; one untimed warm-up on the first image, then every image timed once
  (CUDA synchronized around each call); the mean and the median over the images in
  milliseconds, with torch's intra-op thread count and the device stated;
* **MACs**: :func:`semcom.metrics.complexity.count_macs` (torch's FLOP counter / 2, a
  multiply-add counted once; matrix products, convolutions and attention, element-wise
  work and the range coder not counted) of the same calls on the first image.

What is timed:

* Quad-LIC (:func:`quad_lic_costs`): encode = :meth:`QuadLIC.compress` (analysis, hyper
  analysis, context model, range coding of ``y`` and ``z``, file header); decode =
  :meth:`QuadLIC.decompress` (range decoding, context model, synthesis);
* Quad-DeepSC (:func:`quad_deepsc_costs`): encode = ``model.encode`` (the Quad-LIC
  entropy estimate, rate matching, the feature encoder, ``z``'s range coding and the
  rate map's PNG: all the transmitter computes before the channel); decode =
  ``model.parse_side`` (range decoding of ``z``, the PNG) + ``model.decode`` (feature
  decoder, synthesis), on the encoder's symbols through AWGN at ``snr_db``, equalized.
  Neither the channel nor the side-information PHY (LDPC) is timed.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from semcom.errors import SemcomError


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
    """``(fn(), wall seconds)``, CUDA synchronized before and after."""
    _synchronize(device)
    start = time.perf_counter()
    out = fn()
    _synchronize(device)
    return out, time.perf_counter() - start


def _summary(encode_s: list[float], decode_s: list[float], image: Tensor, macs: tuple[int, int],
             model: torch.nn.Module, device: torch.device) -> dict[str, Any]:
    from semcom.metrics.complexity import count_parameters

    return {"images": len(encode_s), "height": int(image.shape[-2]), "width": int(image.shape[-1]),
            "encode_ms_mean": 1e3 * statistics.fmean(encode_s), "encode_ms_median": 1e3 * statistics.median(encode_s),
            "decode_ms_mean": 1e3 * statistics.fmean(decode_s), "decode_ms_median": 1e3 * statistics.median(decode_s),
            "gmacs_encoder": macs[0] / 1e9, "gmacs_decoder": macs[1] / 1e9,
            "params_m": count_parameters(model) / 1e6, "threads": torch.get_num_threads(), "device": str(device)}


def _check(images: Sequence[Tensor]) -> None:
    if not images:
        raise SemcomError("latency and MACs need at least one image")
    for i, image in enumerate(images):
        if not isinstance(image, Tensor) or image.dim() != 3 or image.shape[0] != 3:
            raise SemcomError(f"image {i} must be a (3, H, W) tensor, got {getattr(image, 'shape', image)!r}")


def quad_lic_costs(model: Any, images: Sequence[Tensor], device: str | torch.device = "cpu") -> dict[str, Any]:
    """Latency and MACs of a Quad-LIC model (see the module docstring).

    Args:
        model: a :class:`~semcom.models.quad.lic.QuadLIC` with its coding tables built.
        images: ``(3, H, W)`` images in ``[0, 1]`` (any size: the model pads to 64).
        device: where the model runs.

    Returns:
        ``images``, ``height`` / ``width`` (of the first image, the one whose MACs are
        counted), ``encode_ms_mean`` / ``_median``, ``decode_ms_mean`` / ``_median``
        (milliseconds per image), ``gmacs_encoder``, ``gmacs_decoder`` (GMACs of one
        image), ``params_m`` (millions), ``threads``, ``device``.
    """
    from semcom.metrics.complexity import count_macs

    _check(images)
    dev = torch.device(device)
    model = model.to(dev).eval()
    encode_s, decode_s = [], []
    with torch.no_grad():
        first = images[0].to(dev)
        model.decompress(model.compress(first))  # warm-up
        for image in images:
            x = image.to(dev)
            data, seconds = _timed(lambda: model.compress(x), dev)
            encode_s.append(seconds)
            decode_s.append(_timed(lambda: model.decompress(data), dev)[1])
        data = model.compress(first)
        macs = (count_macs(model.compress, first), count_macs(model.decompress, data))
    return _summary(encode_s, decode_s, images[0], macs, model, dev)


def quad_deepsc_costs(model: Any, images: Sequence[Tensor], snr_db: float = 10.0,
                      settings: dict[str, Any] | None = None, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Latency and MACs of a JSCC model with side information, Quad-DeepSC's encoder and
    receiver (see the module docstring).

    Args:
        model: a :class:`~semcom.models.base.JSCCModel` (``encode``, ``parse_side``,
            ``decode``; a model without side bits decodes its encoder's ``side``).
        images: ``(3, H, W)`` images in ``[0, 1]``, padded (replicate) to multiples of
            ``model.size_multiple`` as ``transmit`` does.
        snr_db: the SNR the encoder is told and the AWGN the decoder's input went through.
        settings: run-time settings (validated; each side gets its own, as in ``transmit``).
        device: where the model runs.

    Returns:
        As :func:`quad_lic_costs`; ``height`` / ``width`` of the padded first image.
    """
    from semcom.channels import AWGN
    from semcom.data.transforms import pad_to_multiple
    from semcom.metrics.complexity import count_macs

    _check(images)
    dev = torch.device(device)
    model = model.to(dev).eval()
    run = model.resolve_settings(**(settings or {}))
    enc_kw, dec_kw = run.encoder(), run.decoder()
    snr = torch.full((1,), float(snr_db), device=dev)
    channel = AWGN().to(dev)

    def receiver(enc: Any, shape: tuple[int, ...]) -> Callable[[], Any]:
        received = model.receive(channel, enc, snr, torch.Generator(device=dev).manual_seed(0))

        def decode() -> Any:
            side = dict(enc.side)
            if enc.side_bits is not None:
                side = {k: enc.side[k] for k in model.a_priori_side if k in enc.side}
                side.update(model.parse_side(list(enc.side_bits), shape, dev))
            return model.decode(received, snr, side, **dec_kw)
        return decode

    padded = [pad_to_multiple(image.unsqueeze(0), model.size_multiple)[0].to(dev) for image in images]
    encode_s, decode_s = [], []
    with torch.no_grad():
        receiver(model.encode(padded[0], snr, **enc_kw), tuple(padded[0].shape))()  # warm-up
        for x in padded:
            enc, seconds = _timed(lambda: model.encode(x, snr, **enc_kw), dev)
            encode_s.append(seconds)
            decode_s.append(_timed(receiver(enc, tuple(x.shape)), dev)[1])
        first = padded[0]
        macs_enc = count_macs(model.encode, first, snr, **enc_kw)
        macs_dec = count_macs(receiver(model.encode(first, snr, **enc_kw), tuple(first.shape)))
    return _summary(encode_s, decode_s, padded[0][0], (macs_enc, macs_dec), model, dev)


#: columns of a costs table (markdown), with their headers
COST_COLUMNS = (("encode_ms_mean", "encode ms (mean)"), ("encode_ms_median", "encode ms (median)"),
                ("decode_ms_mean", "decode ms (mean)"), ("decode_ms_median", "decode ms (median)"),
                ("gmacs_encoder", "encoder GMACs"), ("gmacs_decoder", "decoder GMACs"), ("params_m", "params (M)"))


def costs_markdown(costs: dict[str, dict[str, Any]], what: str) -> str:
    """A markdown table of ``{model label: costs}`` (:func:`quad_lic_costs` or
    :func:`quad_deepsc_costs`) with a line saying how they were measured."""
    if not costs:
        return ""
    first = next(iter(costs.values()))
    lines = [f"{what}: wall-clock time per image over {first['images']} image(s), batch 1, the entropy coder "
             f"included (one warm-up first), {first['threads']} torch thread(s) on {first['device']}; GMACs of "
             f"one {first['height']}x{first['width']} image (a multiply-add counted once; the range coder and "
             "element-wise work not counted)\n",
             "| model | " + " | ".join(h for _, h in COST_COLUMNS) + " |", "|---|" + "---|" * len(COST_COLUMNS)]
    for label, c in costs.items():
        digits = {"gmacs_encoder": 3, "gmacs_decoder": 3, "params_m": 3}
        lines.append(f"| {label} | " + " | ".join(f"{c[k]:.{digits.get(k, 1)}f}" for k, _ in COST_COLUMNS) + " |")
    return "\n".join(lines)


__all__ = ["COST_COLUMNS", "costs_markdown", "quad_deepsc_costs", "quad_lic_costs"]
