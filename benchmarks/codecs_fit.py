"""Fit every available codec to a byte budget on one image; print bytes, bpp, PSNR and times.

    python benchmarks/codecs_fit.py [--image PATH] [--max-bytes 12288] [--codecs jpeg,hevc]

The defaults reproduce the table in shared/design/codecs.md (kodim23, 0.25 bpp). Times
are wall-clock seconds of one run: ``fit`` (the whole bisection) and one ``decode``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from semcom.codecs import available_codecs, create_codec
from semcom.conventions import psnr

DEFAULT_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak" / "kodim23.png"


def load_image(path: Path) -> torch.Tensor:
    """``(3, H, W)`` float32 in ``[0, 1]``."""
    with Image.open(path) as image:
        pixels = np.array(image.convert("RGB"))
    return torch.from_numpy(pixels).permute(2, 0, 1).float().div(255.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--max-bytes", type=int, default=12_288)
    parser.add_argument("--codecs", default=None, help="comma-separated names (default: all available)")
    args = parser.parse_args()

    image = load_image(args.image)
    names = args.codecs.split(",") if args.codecs else available_codecs()
    print(f"{args.image.name} {image.shape[2]}x{image.shape[1]}, budget {args.max_bytes:,} bytes, "
          f"torch threads {torch.get_num_threads()}")
    print("| codec | knob | bytes | bpp | PSNR (dB) | time to fit (s) | decode (s) |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        codec = create_codec(name)
        start = time.perf_counter()
        result = codec.fit(image, args.max_bytes)
        fit_s = time.perf_counter() - start
        if result is None:
            print(f"| {name} | - | does not fit | | | {fit_s:.2f} | |")
            continue
        start = time.perf_counter()
        decoded = codec.decode(result.data)
        decode_s = time.perf_counter() - start
        quality = f"{codec.knob.name}={result.quality:g}"
        value = float(psnr(image[None], decoded[None]))
        print(f"| {name} | {quality} | {result.num_bytes:,} | {result.bpp:.3f} | {value:.2f} | "
              f"{fit_s:.2f} | {decode_s:.3f} |", flush=True)


if __name__ == "__main__":
    main()
