"""LDPC decoding throughput of the digital PHY, in information bits per second.

Decodes full-size transport blocks (5G NR LDPC through Sionna, early stopping) at an
operating point 1 dB above each MCS's tabulated BLER-0.1 SNR (typical use) and 1.5 dB
below it (every block fails: all iterations run), plus the IEEE 802.11n (1944, 1458)
code with 16-QAM. Reports the best of ``--repeats`` runs (wall time, the machine's
other load inflates single runs) and the process CPU time, for each torch thread count.

    python benchmarks/ldpc_throughput.py --threads 1 2
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from semcom.channels.base import Channel
from semcom.phy.abstraction import threshold_snr
from semcom.phy.tb_link import TransportBlockLink
from semcom.phy.wifi_ldpc import K, N, WifiLDPCEncoder, WifiLDPCLink, wifi_decoder


def time_decode(decode, llr: torch.Tensor, repeats: int) -> tuple[float, float, object]:
    """Best wall time and its CPU time over ``repeats`` calls; returns the last output."""
    best_wall, best_cpu, out = math.inf, math.inf, None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        out = decode(llr)
        w, c = time.perf_counter() - w, time.process_time() - c
        if w < best_wall:
            best_wall, best_cpu = w, c
    return best_wall, best_cpu, out


def bench_5g(mcs: int, offset_db: float, num_tbs: int, repeats: int, gen: torch.Generator) -> dict:
    link = TransportBlockLink(threads=None)
    plan = link.full_tb_plan(num_tbs, mcs)
    codec = link.codec(plan)
    codec.bp.threads = None  # use the thread count set by main()
    bits = torch.randint(0, 2, (plan.num_tbs, plan.tb_bits), generator=gen).float()
    snr = threshold_snr(mcs, 0.1) + offset_db
    out = Channel()(link.modulator(plan).map(codec.encode(bits)).reshape(1, -1), snr, gen)
    llr = link.llrs(out, plan)
    codec.decode(llr[:1])  # warm-up
    wall, cpu, (_, ok, iters) = time_decode(codec.decode, llr, repeats)
    info = plan.num_tbs * plan.tb_bits
    return {"threads": torch.get_num_threads(), "code": f"5G MCS {mcs}", "tb_bits": plan.tb_bits,
            "code_blocks": plan.num_tbs * plan.num_code_blocks,
            "snr_db": round(snr, 2), "bler": round(1 - ok.float().mean().item(), 3),
            "mean_iterations": round(iters.float().mean().item(), 1), "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3), "info_kbit_per_s": round(info / wall / 1e3, 1)}


def bench_wifi(snr_db: float, num_blocks: int, repeats: int, gen: torch.Generator) -> dict:
    link = WifiLDPCLink(bits_per_symbol=4)
    code = WifiLDPCEncoder()(torch.randint(0, 2, (num_blocks, K), generator=gen).float())
    out = Channel()(link.modulator.map(code.reshape(1, -1)), snr_db, gen)
    llr = link.modulator.demap_channel_output(out).reshape(num_blocks, N)
    decoder = wifi_decoder()
    decoder.threads = None
    decoder(llr[:1])
    wall, cpu, (_, iters, ok) = time_decode(decoder, llr, repeats)
    return {"threads": torch.get_num_threads(), "code": "802.11n (1944,1458) 16-QAM", "tb_bits": K,
            "code_blocks": num_blocks, "snr_db": snr_db,
            "bler": round(1 - ok.float().mean().item(), 3), "mean_iterations": round(iters.float().mean().item(), 1),
            "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "info_kbit_per_s": round(num_blocks * K / wall / 1e3, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--mcs", type=int, nargs="*", default=[3, 9, 15, 20, 28])
    parser.add_argument("--num-tbs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        gen = torch.Generator().manual_seed(0)
        for mcs in args.mcs:
            for offset in (1.0, -1.5):
                rows.append(bench_5g(mcs, offset, args.num_tbs, args.repeats, gen))
                print(rows[-1], flush=True)
        for snr in (11.5, 9.0):
            rows.append(bench_wifi(snr, 32, args.repeats, gen))
            print(rows[-1], flush=True)
    print("\n| threads | code | TB bits | CBs | SNR dB | BLER | mean it. | wall s | CPU s | info kbit/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['code']} | {r['tb_bits']} | {r['code_blocks']} | {r['snr_db']} | "
              f"{r['bler']} | {r['mean_iterations']} | {r['wall_s']} | {r['cpu_s']} | {r['info_kbit_per_s']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
