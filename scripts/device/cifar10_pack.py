"""Carry the CIFAR-10 data to a remote GPU machine under a small transfer limit.

The five training shards (``train_*.tar``, 77 MB with tar headers and padding) hold 46 MB
of JPEG bytes. ``pack`` writes those bytes as one blob plus an index; ``unpack`` rebuilds
the shards (same member names, same bytes) where :class:`semcom.data.labelled.Cifar10Jpeg`
reads them. The lossless test sprite and its ``labels.csv`` are copied as they are.

    python scripts/device/cifar10_pack.py pack ../shared/data .gpu/cifar10 [--shards 4]

``--shards N`` keeps the first N shards (10,000 images each; train with ``data.limit``
set to 10,000 N, as the class-balanced order reads shard by shard).
    python scripts/device/cifar10_pack.py unpack .gpu/cifar10 /tmp/data
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path

TEST_FILES = ("labels.csv", "cifar10_batch_50.png")


def pack(data_root: Path, out: Path, shards: int | None = None) -> None:
    src = data_root / "cifar10_train_jpeg"
    out.mkdir(parents=True, exist_ok=True)
    index: list[list[object]] = []
    with (out / "train_jpeg.bin").open("wb") as blob:
        for shard in sorted(src.glob("train_*.tar"))[:shards]:
            with tarfile.open(shard) as tar:
                for member in tar.getmembers():
                    if not member.isfile():
                        continue
                    data = tar.extractfile(member).read()  # type: ignore[union-attr]
                    blob.write(data)
                    index.append([shard.name, member.name, len(data)])
    (out / "train_jpeg.json").write_text(json.dumps(index))
    shutil.copy(src / "labels.csv", out / "train_labels.csv")
    for name in TEST_FILES:
        shutil.copy(data_root / "cifar10" / "convnetjs" / name, out / f"test_{name}")
    print(f"packed {len(index)} JPEGs into {out}")


def unpack(packed: Path, data_root: Path) -> None:
    train = data_root / "cifar10_train_jpeg"
    test = data_root / "cifar10" / "convnetjs"
    train.mkdir(parents=True, exist_ok=True)
    test.mkdir(parents=True, exist_ok=True)
    index = json.loads((packed / "train_jpeg.json").read_text())
    tars: dict[str, tarfile.TarFile] = {}
    with (packed / "train_jpeg.bin").open("rb") as blob:
        for shard, name, size in index:
            if shard not in tars:
                tars[shard] = tarfile.open(train / shard, "w", format=tarfile.USTAR_FORMAT)
            info = tarfile.TarInfo(name)
            info.size = size
            tars[shard].addfile(info, io.BytesIO(blob.read(size)))
    for tar in tars.values():
        tar.close()
    shutil.copy(packed / "train_labels.csv", train / "labels.csv")
    for name in TEST_FILES:
        shutil.copy(packed / f"test_{name}", test / name)
    print(f"unpacked {len(index)} JPEGs into {len(tars)} shards under {train}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("pack", "unpack"))
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--shards", type=int, default=None, help="pack: only the first N training shards")
    args = parser.parse_args(argv)
    if args.shards is not None and args.shards < 1:
        parser.error("--shards must be at least 1")
    if args.action == "pack":
        pack(args.source, args.dest, args.shards)
    else:
        unpack(args.source, args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
