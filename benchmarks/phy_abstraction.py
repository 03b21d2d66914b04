"""PHY abstraction vs full simulation on a small Kodak sweep of the digital link.

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/phy_abstraction.py \\
        [--images 4] [--snr 1,4,7,10,13] [--cbr 0.04] [--repeats 3] [--out /tmp/phy_abstraction.jsonl]

Every (configuration, image, SNR, budget, repeat) is sent twice with the same seed:
``phy_abstraction=False`` (every TB decoded) and ``True`` (TB errors drawn from the
BLER tables). Two configurations: ``default`` (auto MCS, HARQ-IR, 4 transmissions) and
``no_harq`` (auto MCS, one transmission: the loss rate then measures the tables
directly). Rows go to a JSON-lines file as they are measured (a rerun skips them); the
summary compares mean PSNR, loss rate (with a two-proportion z score) and mean CBR,
and the time spent in ``transmit`` by each mode (codec encodings are cached first).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import semcom
from semcom.channels import create_channel
from semcom.conventions import psnr
from semcom.data import default_data_root
from semcom.registry import SYSTEMS

CONFIGS = {"default": {}, "no_harq": {"max_retransmissions": 0, "harq": "none"}}


def kodak(n: int) -> list[tuple[str, torch.Tensor]]:
    """The first ``n`` Kodak images (``../shared/data`` or the two shipped in ``semcom/assets``)."""
    root = default_data_root()
    folder = root / "kodak" if root and (root / "kodak").is_dir() else Path(semcom.__file__).parent / "assets"
    paths = sorted(folder.glob("kodim*.png"))[:n]
    out = []
    for path in paths:
        with Image.open(path) as im:
            out.append((path.stem, torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).float() / 255.0))
    return out


def run(args: argparse.Namespace) -> list[dict]:
    log = Path(args.out)
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    done = {(r["config"], r["image"], r["snr"], r["cbr"], r["repeat"], r["abstraction"]) for r in rows}
    channel = create_channel(args.channel)
    images = kodak(args.images)
    for config, options in CONFIGS.items():
        for cbr in args.cbr:
            link = SYSTEMS.create("digital", codec=args.codec, cbr=cbr, **options)
            for name, image in images:
                for snr in args.snr:
                    for rep in range(args.repeats):
                        seed = rep * 1000 + int(10 * snr)
                        for abstraction in (True, False):
                            key = (config, name, snr, cbr, rep, abstraction)
                            if key in done:
                                continue
                            if abstraction and rep == 0:  # cache the codec's encodings untimed
                                link.transmit(image[None], channel, snr, torch.Generator().manual_seed(seed),
                                              phy_abstraction=True)
                            t = time.perf_counter()
                            res = link.transmit(image[None], channel, snr, torch.Generator().manual_seed(seed),
                                                phy_abstraction=abstraction)
                            row = {"config": config, "image": name, "snr": snr, "cbr": cbr, "repeat": rep,
                                   "abstraction": abstraction, "seconds": round(time.perf_counter() - t, 4),
                                   "psnr": float(psnr(image[None], res.images)[0]),
                                   "failed": bool(res.extras["failed"][0]), "mcs": int(res.extras["mcs"][0]),
                                   "cbr_used": float(res.cbr[0]),
                                   "transmissions": int(res.extras["transmissions"][0])}
                            rows.append(row)
                            with log.open("a") as f:
                                f.write(json.dumps(row) + "\n")
                            print(json.dumps(row), flush=True)
    return rows


def summary(rows: list[dict]) -> str:
    lines = ["| config | mode | points | mean PSNR (dB) | loss rate | mean CBR | transmit time (s) |",
             "|---|---|---|---|---|---|---|"]
    for config in CONFIGS:
        stats = {}
        for abstraction in (False, True):
            sel = [r for r in rows if r["config"] == config and r["abstraction"] == abstraction]
            if not sel:
                continue
            n = len(sel)
            stats[abstraction] = (n, np.mean([r["psnr"] for r in sel]), np.mean([r["failed"] for r in sel]),
                                  np.mean([r["cbr_used"] for r in sel]), sum(r["seconds"] for r in sel))
            n, p, loss, cbr, secs = stats[abstraction]
            lines.append(f"| {config} | {'abstraction' if abstraction else 'full'} | {n} | {p:.3f} | {loss:.3f} | "
                         f"{cbr:.5f} | {secs:.1f} |")
        if len(stats) == 2:
            (n0, p0, l0, c0, s0), (n1, p1, l1, c1, s1) = stats[False], stats[True]
            pooled = (l0 * n0 + l1 * n1) / (n0 + n1)
            se = math.sqrt(max(pooled * (1 - pooled) * (1 / n0 + 1 / n1), 1e-12))
            lines.append(f"| {config} | difference | | {p1 - p0:+.3f} | {l1 - l0:+.3f} (z = {(l1 - l0) / se:+.2f}) | "
                         f"{c1 - c0:+.5f} | speed-up {s0 / max(s1, 1e-9):.0f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--codec", default="hevc")
    parser.add_argument("--channel", default="awgn")
    parser.add_argument("--snr", type=lambda s: [float(x) for x in s.split(",")], default=[1.0, 4.0, 7.0, 10.0, 13.0])
    parser.add_argument("--cbr", type=lambda s: [float(x) for x in s.split(",")], default=[0.04])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="/tmp/phy_abstraction.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(summary(run(args)))


if __name__ == "__main__":
    main()
