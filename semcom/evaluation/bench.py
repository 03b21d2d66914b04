"""``semcom bench``: benchmarks that report figures, never pass/fail tests.

``semcom bench models`` measures every shipped neural checkpoint: PSNR on the 1,000
lossless CIFAR-10 test images and on Kodak (AWGN at the model's training SNR, or 10 dB
for models trained over an SNR range), encoder/decoder latency at 512x768 (batch 1,
median after warm-up), the latency of the whole link (one ``transmit``: encode, AWGN,
decode), MACs at 512x768 and parameters. ``semcom bench digital`` runs the
digital-baseline sweep (see :mod:`semcom.evaluation.bench_digital`); ``semcom bench
train-step`` times data loading and one training step of training configs (see
:mod:`semcom.evaluation.bench_train`).

Both take run-time settings as ``--run NAME=VALUE`` (repeatable), passed to every
``transmit`` and to the MACs/latency measurement (encoder-side settings to the encoder,
decoder-side ones to the decoder); every benched model must declare them (pick models
with ``--only``). ``bench models`` takes one value per setting; ``bench digital`` reads
``--run mcs=5,9,14`` as a sweep axis.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor

from semcom.errors import SemcomError


def _eval_snr(info: dict[str, Any]) -> float:
    snr = info.get("train_snr_db", 10.0)
    return float(snr) if not isinstance(snr, (list, tuple)) else 10.0


def dataset_psnr(model: Any, images: list[torch.Tensor], snr_db: float, batch: int, seed: int,
                 channel: str = "awgn", **settings: Any) -> float:
    """Mean per-image PSNR (dB) of ``model`` over ``images`` (each ``(3, H, W)``) through
    ``channel`` (a registered name, AWGN by default) at ``snr_db``, with run-time
    ``settings`` passed to ``transmit``."""
    from semcom.channels import create_channel
    from semcom.conventions import psnr

    channel = create_channel(channel)
    values = []
    for i in range(0, len(images), batch):
        x = torch.stack(images[i:i + batch])
        res = model.transmit(x, channel, snr_db, torch.Generator().manual_seed(seed + i), **settings)
        values.append(psnr(x, res.images))
    return float(torch.cat(values).mean())


def link_latency(model: Any, images: Tensor, snr_db: float, warmup: int = 1, repeats: int = 5,
                 **settings: Any) -> float:
    """Median wall-clock seconds of one whole ``model.transmit(images, AWGN, snr_db)``
    (encode, channel, decode; under ``torch.no_grad()``), the channel's randomness seeded
    (0) for every call, with run-time ``settings`` passed to ``transmit``. See
    :func:`semcom.metrics.complexity.median_latency` for ``warmup`` and ``repeats``."""
    from semcom.channels import create_channel
    from semcom.metrics.complexity import median_latency

    channel = create_channel("awgn").to(images.device)

    def once() -> Any:
        with torch.no_grad():
            generator = torch.Generator(device=images.device).manual_seed(0)
            return model.transmit(images, channel, snr_db, generator, **settings)

    return median_latency(once, warmup=warmup, repeats=repeats, device=images.device)


def link_peak_memory(model: Any, images: Tensor, snr_db: float, **settings: Any) -> int:
    """Peak bytes allocated during one ``model.transmit(images, AWGN, snr_db)`` above what
    was allocated before (weights and input excluded; :func:`semcom.metrics.complexity.peak_memory`)."""
    from semcom.channels import create_channel
    from semcom.metrics.complexity import peak_memory

    channel = create_channel("awgn").to(images.device)

    def once() -> Any:
        with torch.no_grad():
            return model.transmit(images, channel, snr_db, torch.Generator(device=images.device).manual_seed(0),
                                  **settings)

    return peak_memory(once, device=images.device)


def load_images(name: str, limit: int | None) -> list[torch.Tensor]:
    """The first ``limit`` images (all if None) of dataset ``name`` (CIFAR-10: test split)."""
    from semcom.data import create_dataset, item_image

    ds = create_dataset(name, split="test") if name == "cifar10" else create_dataset(name)
    n = len(ds) if limit is None else min(limit, len(ds))
    return [item_image(ds[i], f"{name} image {i}") for i in range(n)]


#: why a comma in ``--run`` is refused where a command takes one value per setting
ONE_VALUE_PER_RUN = "one value per --run here (lists sweep only in bench digital / evaluation configs)"


def single_run_options(items: Sequence[str] | None, command: str) -> dict[str, str]:
    """``--run NAME=VALUE`` options of a command that runs one point (``semcom transmit``,
    ``semcom bench models``): :func:`semcom.settings.parse_run_options`, refusing a
    comma-separated list (a sweep axis only in ``bench digital`` and evaluation configs).

    Raises:
        SemcomError: ``NAME=VALUE`` malformed, or a value with a comma.
    """
    from semcom.settings import parse_run_options

    run = parse_run_options(items)
    for name, value in run.items():
        if "," in value:
            raise SemcomError(f"{command}: --run {name}={value}: {ONE_VALUE_PER_RUN}")
    return run


def bench_models(argv: Sequence[str]) -> int:
    """Benchmark every shipped checkpoint; prints a table and writes JSON."""
    from semcom.metrics.complexity import count_parameters, encoder_decoder_costs, parameter_bytes
    from semcom.zoo import build, list_pretrained

    p = argparse.ArgumentParser(prog="semcom bench models")
    p.add_argument("--cifar-limit", type=int, default=None, help="CIFAR-10 test images (default all 1,000)")
    p.add_argument("--kodak-limit", type=int, default=None, help="Kodak images (default all 24)")
    p.add_argument("--repeats", type=int, default=5, help="latency repeats")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", default="*", help="shell pattern of zoo names")
    p.add_argument("--run", action="append", metavar="NAME=VALUE",
                   help="run-time setting of the models (repeatable; see `semcom models`)")
    p.add_argument("-o", "--out", default="results/bench_models.json")
    args = p.parse_args(list(argv))
    run = single_run_options(args.run, "semcom bench models")
    torch.set_num_threads(args.threads)

    import fnmatch

    zoo = {k: v for k, v in list_pretrained("system").items() if fnmatch.fnmatch(k, args.only)}
    if not zoo:
        raise SemcomError("no shipped checkpoints match; see `semcom models`")
    models = {name: build(entry["path"]) for name, entry in zoo.items()}
    # every model must take the settings, before any work
    resolved = {name: model.resolve_settings(**run).as_dict() for name, model in models.items()}
    cifar = load_images("cifar10", args.cifar_limit)
    kodak = load_images("kodak", args.kodak_limit)
    rows = []
    x = torch.rand(1, 3, 512, 768, generator=torch.Generator().manual_seed(0))
    for name, entry in zoo.items():
        model = models[name]
        snr = _eval_snr(entry["info"])
        t0 = time.perf_counter()
        row: dict[str, Any] = {"name": name, "system": entry["system"], "cbr": entry["config"].get("cbr"),
                               "eval_snr_db": snr, "params": count_parameters(model),
                               "settings": resolved[name]}
        row["psnr_cifar10"] = dataset_psnr(model, cifar, snr, 100, 0, **run)
        row["psnr_kodak"] = dataset_psnr(model, kodak, snr, 1, 0, **run)
        costs = encoder_decoder_costs(model, x, torch.full((1,), snr), warmup=1, repeats=args.repeats, **run)
        row["macs_encoder_512x768"] = costs["macs_encoder"]
        row["macs_decoder_512x768"] = costs["macs_decoder"]
        row["latency_encode_s"] = costs["latency_encode_s"]
        row["latency_decode_s"] = costs["latency_decode_s"]
        row["latency_link_s"] = link_latency(model, x, snr, warmup=1, repeats=args.repeats, **run)
        row["weight_bytes"] = parameter_bytes(model)
        row["peak_memory_link_bytes"] = link_peak_memory(model, x, snr, **run)
        row["bench_seconds"] = time.perf_counter() - t0
        rows.append(row)
        print(f"{name:30s} cbr {row['cbr']:.4f}  SNR {snr:4.1f} dB  CIFAR-10 {row['psnr_cifar10']:.2f} dB  "
              f"Kodak {row['psnr_kodak']:.2f} dB  enc {row['macs_encoder_512x768'] / 1e9:.2f} GMAC "
              f"{row['latency_encode_s'] * 1e3:.0f} ms  dec {row['macs_decoder_512x768'] / 1e9:.2f} GMAC "
              f"{row['latency_decode_s'] * 1e3:.0f} ms  link {row['latency_link_s'] * 1e3:.0f} ms  "
              f"{row['params'] / 1e3:.0f} k params  weights {row['weight_bytes'] / 2**20:.1f} MiB  "
              f"peak {row['peak_memory_link_bytes'] / 2**20:.0f} MiB", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "processor": platform.processor(), "threads": args.threads,
            "run": run,
            "torch": torch.__version__, "cifar10_images": len(cifar), "kodak_images": len(kodak), "rows": rows}
    out.write_text(json.dumps(meta, indent=2))
    print(f"wrote {out}")
    return 0


def run_bench(what: str, argv: Sequence[str]) -> int:
    """Dispatch ``semcom bench WHAT [options]``."""
    if what == "models":
        return bench_models(argv)
    if what == "digital":
        from semcom.evaluation.bench_digital import bench_digital

        return bench_digital(argv)
    if what == "train-step":
        from semcom.evaluation.bench_train import bench_train_step

        return bench_train_step(argv)
    raise SemcomError(f"unknown benchmark {what!r} (known: models, digital, train-step)")
