"""``semcom bench digital``: the digital baseline swept over Kodak, and its speed.

Runs image codec + 5G NR LDPC + QAM (auto MCS from the BLER tables, up to 9
retransmissions) through :func:`semcom.evaluation.sweep.run_sweep` for each codec,
channel, SNR and CBR budget, writes the sweep's CSV/JSON/plots, then reports LDPC
decoding throughput (information bits per second) and the time to send one image.
``--run NAME=VALUE`` passes a run-time setting of the digital link (``--run mcs=9``);
a comma-separated value is a sweep axis (``--run mcs=5,9,14``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from semcom.evaluation.tables import swept_settings


def ldpc_throughput(mcs_list: Sequence[int] = (5, 9, 16, 22), num_tbs: int = 8, snr_margin_db: float = 2.0,
                    seed: int = 0) -> list[dict[str, Any]]:
    """Information bits per second of full 8448-bit TBs decoded at ``threshold + margin``."""
    from semcom.channels import create_channel
    from semcom.phy import TransportBlockLink, threshold_snr

    link = TransportBlockLink()
    out = []
    for mcs in mcs_list:
        plan = link.full_tb_plan(num_tbs, mcs)
        payload = bytes(torch.randint(0, 256, (plan.payload_bits // 8,),
                                      generator=torch.Generator().manual_seed(seed)).to(torch.uint8).tolist())
        snr = threshold_snr(mcs) + snr_margin_db
        link.send(payload, mcs, create_channel("awgn"), snr, torch.Generator().manual_seed(seed))  # warm-up
        t0 = time.perf_counter()
        d = link.send(payload, mcs, create_channel("awgn"), snr, torch.Generator().manual_seed(seed + 1))
        dt = time.perf_counter() - t0
        out.append({"mcs": mcs, "snr_db": round(snr, 2), "tbs": plan.num_tbs, "info_bits": plan.payload_bits,
                    "seconds": dt, "info_bits_per_s": plan.payload_bits / dt, "ok": d.ok})
    return out


def one_image_seconds(codec: str = "hevc", snr_db: float = 10.0, cbr: float = 0.04, seed: int = 0) -> dict[str, Any]:
    """Seconds to send one Kodak image end to end (AWGN, auto MCS, this process): the
    first time (codec fit from scratch) and again (the image's encodings cached)."""
    from semcom.channels import create_channel
    from semcom.evaluation.bench import load_images
    from semcom.models import digital

    image = load_images("kodak", 1)[0].unsqueeze(0)
    link = digital.SeparationLink(codec=codec, cbr=cbr)
    digital._ENCODINGS.clear()
    link.transmit(image, create_channel("awgn"), snr_db, torch.Generator().manual_seed(seed))  # warm-up
    digital._ENCODINGS.clear()
    t0 = time.perf_counter()
    res = link.transmit(image, create_channel("awgn"), snr_db, torch.Generator().manual_seed(seed + 1))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    link.transmit(image, create_channel("awgn"), snr_db, torch.Generator().manual_seed(seed + 2))
    again = time.perf_counter() - t0
    return {"codec": codec, "snr_db": snr_db, "cbr": cbr, "mcs": int(res.extras["mcs"][0]),
            "first_s": first, "cached_s": again}


def run_axes(items: Sequence[str] | None) -> dict[str, Any]:
    """``--run`` options as a system spec's ``run`` mapping: ``mcs=9`` -> ``{"mcs": "9"}``,
    ``mcs=5,9`` -> ``{"mcs": ["5", "9"]}`` (values are validated by the link's settings)."""
    from semcom.settings import parse_run_options

    out: dict[str, Any] = {}
    for name, value in parse_run_options(items).items():
        parts = [v.strip() for v in value.split(",") if v.strip()]
        out[name] = parts if len(parts) > 1 else value
    return out


def _run_label(row: dict[str, Any], swept: set[str]) -> str:
    """The system label plus the values of the swept settings (``hevc+5G LDPC mcs=9``)."""
    return row["system"] + "".join(f" {k[4:]}={row[k]}" for k in sorted(swept) if k in row)


def psnr_tables(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown tables of mean PSNR (dB), one per channel and CBR budget: a row per
    system, a column per SNR; lost images count at their gray substitute, and
    ``(n% lost)`` gives the share of images lost."""
    snrs = sorted({float(r["snr_db"]) for r in rows})
    swept = swept_settings(rows)
    out = []
    for channel in dict.fromkeys(r["channel"] for r in rows):
        for cbr in sorted({float(r["cbr_requested"]) for r in rows if r["channel"] == channel}):
            sel = [r for r in rows if r["channel"] == channel and float(r["cbr_requested"]) == cbr]
            out.append(f"\n{channel}, CBR budget {cbr:g} (PSNR dB at SNR dB; measured CBR range "
                       f"{min(float(r['cbr']) for r in sel):.4f}-{max(float(r['cbr']) for r in sel):.4f})\n")
            out.append("| system | " + " | ".join(f"{x:g}" for x in snrs) + " |")
            out.append("|---|" + "---|" * len(snrs))
            for system in dict.fromkeys(_run_label(r, swept) for r in sel):
                cells = []
                for x in snrs:
                    hit = [r for r in sel if _run_label(r, swept) == system and float(r["snr_db"]) == x]
                    if not hit:
                        cells.append("")
                        continue
                    lost = float(hit[0].get("failure_rate") or 0.0)
                    cells.append(f"{float(hit[0]['psnr']):.2f}" + (f" ({100 * lost:.0f}% lost)" if lost else ""))
                out.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def bench_digital(argv: Sequence[str]) -> int:
    """Parse options, run the sweep and the speed measurements, print a summary."""
    from semcom.evaluation.sweep import run_sweep

    p = argparse.ArgumentParser(prog="semcom bench digital")
    p.add_argument("--codecs", default="hevc", help="comma-separated codec names (default hevc)")
    p.add_argument("--channels", default="awgn,rayleigh", help="comma-separated channels")
    p.add_argument("--snr", default="1,4,7,10,13", help="comma-separated SNRs in dB")
    p.add_argument("--cbr", default="0.04,0.1", help="comma-separated CBR budgets")
    p.add_argument("--limit", type=int, default=None, help="Kodak images (default all 24)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    p.add_argument("--workers", type=int, default=2,
                   help="processes sending images in parallel (default 2: one per core here)")
    p.add_argument("--run", action="append", metavar="NAME=VALUE",
                   help="run-time setting of the digital link, e.g. mcs=9 or mcs=5,9,14 (a sweep axis)")
    p.add_argument("--out", default="results/bench_digital")
    args = p.parse_args(list(argv))
    run = run_axes(args.run)
    torch.set_num_threads(args.threads)
    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    cbrs = [float(c) for c in args.cbr.split(",")]
    config = {
        "name": "bench-digital",
        "dataset": {"name": "kodak", **({"limit": args.limit} if args.limit else {})},
        "systems": [{"system": "digital", "codec": c, "cbr": cbrs, "label": f"{c}+5G LDPC",
                     "workers": args.workers, **({"run": run} if run else {})} for c in codecs],
        "channels": [c.strip() for c in args.channels.split(",")],
        "snr_db": [float(s) for s in args.snr.split(",")],
        "batch_size": 24, "seed": 0, "out_dir": args.out, "threads": args.threads,
        "metrics": ["psnr"],
    }
    t0 = time.perf_counter()
    rows = run_sweep(config)
    sweep_s = time.perf_counter() - t0
    print(f"\nsweep: {len(rows)} points in {sweep_s:.0f} s")
    print(f"{'system':18s} {'channel':10s} {'snr':>5s} {'cbr req':>8s} {'cbr':>7s} {'PSNR':>6s} {'fail':>5s}")
    swept = swept_settings(rows)
    for r in rows:
        print(f"{_run_label(r, swept):18s} {r['channel']:10s} {r['snr_db']:5.1f} {r['cbr_requested']:8.4f} "
              f"{r['cbr']:7.4f} {r['psnr']:6.2f} {r.get('failure_rate') or 0:5.2f}")
    print(psnr_tables(rows))
    thr = ldpc_throughput()
    for t in thr:
        print(f"LDPC MCS {t['mcs']:2d} at {t['snr_db']:5.2f} dB: {t['info_bits_per_s'] / 1e3:7.1f} kbit/s "
              f"({t['tbs']} TBs, {t['seconds']:.2f} s)")
    one = one_image_seconds(codecs[0])
    print(f"one Kodak image end to end ({one['codec']}, AWGN {one['snr_db']:g} dB, cbr {one['cbr']:g}, "
          f"MCS {one['mcs']}): {one['first_s']:.2f} s with the codec fit, {one['cached_s']:.2f} s cached")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_digital.json").write_text(json.dumps(
        {"sweep_seconds": sweep_s, "threads": args.threads, "workers": args.workers, "ldpc_throughput": thr,
         "one_image": one}, indent=2))
    print(f"wrote {out}")
    return 0
