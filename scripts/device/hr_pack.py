"""Carry the high-resolution training images to a remote GPU machine under a size limit.

The FAJSCC / SwinJSCC HR configs train on random 128x128 crops of five folders of the
data root: urban100 (30 PNG), cbsd68 (68 PNG), cbsd432 (432 JPEG), sun_hays80 (80 JPEG)
and mcmaster (18 TIFF): 628 images, 115 MB as stored, 73 MB of them PNG/TIFF. The
transfer limit (64 MiB with the repository) leaves about 56 MiB for them, so:

* the 512 JPEG files are carried **as they are** (42 MB; byte-identical, so lossless);
* the 116 PNG/TIFF images are **re-encoded lossily**. Lossless does not fit: lossless
  WebP gave 67% of the stored bytes on 6 samples (about 49 MB for all; JPEG-XL lossless
  via imagecodecs was 1-7% smaller than WebP on 3 samples, and imagecodecs is only an
  optional dependency, not installed on the GPU machine) for the 16.5 MB left beside the
  JPEGs; JPEG 4:4:4 at quality 98 would need 27.2 MB, at 92 17.1 MB. Each image is
  stored as the candidate that an R-D allocation picks under the limit (lower convex
  hull of bytes vs. squared error per image, then greedy by slope, which minimizes the
  total squared error): as it is, JPEG 4:4:4 (progressive, optimized Huffman tables) at
  quality 88-98, or lossy WebP (4:2:0) at quality 90/95/99. Lower qualities, then
  re-encoding the JPEG files too, are tried only when these do not fit a lower limit.

Measured with the default 56 MiB limit (``pack`` prints this, the manifest records each
image's method and PSNR): 58.54 MB = 55.83 MiB packed (images.bin 58.21 MB, manifest
333 kB). The 116 re-encoded images: 30 JPEG 4:4:4 q90-q96 and 86 WebP q90/q95, at
41.65 dB PSNR overall (pixel-weighted; urban100 42.91, cbsd68 41.39, mcmaster 38.25 dB;
lowest image 37.38 dB, mcmaster/14.tif); the best single JPEG quality that fits (q90)
gave 37.93 dB. Over all 628 training images, the exact JPEGs counted, 47.95 dB. The
reference is what the training loader decodes from the originals
(:func:`semcom.data.io.load_image_uint8`), so this is the PSNR of the pixels the GPU
run trains on against those a run on the original files trains on. Packing takes about
80 s of one core.

    python scripts/device/hr_pack.py pack ../shared/data .gpu/hr [--limit-mib 56]
    python scripts/device/hr_pack.py unpack .gpu/hr /tmp/hr [--workers 8]
    python scripts/device/hr_pack.py verify .gpu/hr /tmp/hr ../shared/data

``pack`` (here, with the repository's environment) writes ``images.bin`` (the encoded
files one after the other) and ``manifest.json`` (per image: folder, original name,
name when unpacked, method, offset, size, sha256 of the original file, of its decoded
pixels, of the packed bytes and of the pixels they decode to, PSNR; per folder and in
all: counts, bytes, PSNR). It prefers lossless when it fits: every file as it is, else
the JPEGs as they are and lossless WebP for the rest (tried when a sample says it may
fit), else the lossy allocation above.

``unpack`` (on the GPU machine: Pillow and numpy only) writes ``DIR/<folder>/<file>``:
files carried as they are under their own names (``*.jpg``), re-encoded images
decoded and written as ``<stem>.png`` (8-bit RGB, no metadata, so the loader reads
back exactly the decoded pixels; sorted order within each folder is unchanged), then
``DIR/.hr_pack`` (the manifest's sha256). With ``SEMCOM_DATA=DIR`` the configs'
``${SEMCOM_DATA}/<folder>`` roots work. It checks every packed file's sha256 (error)
and that the pixels decode as they did here (a warning: another libjpeg/libwebp build
may round a few pixels differently); a DIR that already holds this pack is left as
it is, one holding anything else in those folders is an error.

``verify`` (here) compares an unpacked tree with the originals: sha256 of the files
carried as they are, pixel sha256 of lossless re-encodes, PSNR of lossy ones.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import io
import json
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

FORMAT = "semcom-hr-pack-1"
FOLDERS = ("urban100", "cbsd68", "cbsd432", "sun_hays80", "mcmaster")
MANIFEST = "manifest.json"
BLOB = "images.bin"
MARKER = ".hr_pack"
MIB = 1 << 20
DEFAULT_LIMIT_MIB = 56.0
COPY_SUFFIXES = (".jpg", ".jpeg")  # already lossy: carried as they are
JPEG_QUALITIES = (88, 90, 92, 93, 94, 95, 96, 97, 98)
WEBP_QUALITIES = (90, 95, 99)
LOW_JPEG_QUALITIES = (75, 80, 85)  # measured only when the qualities above do not fit
LOW_WEBP_QUALITIES = (70, 80, 85)
COPY_QUALITIES = (50, 65, 80)  # re-encoding the JPEG files: only when nothing else fits
LOSSLESS_SAMPLE = 6  # images encoded to estimate lossless WebP's ratio before trying it all


# ----------------------------------------------------------------------------- helpers
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_pixels(pixels: np.ndarray) -> str:
    """sha256 of an ``(H, W, 3)`` uint8 array, its shape included."""
    h = hashlib.sha256("x".join(map(str, pixels.shape)).encode() + b":")
    h.update(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
    return h.hexdigest()


def decode_rgb(data: bytes) -> np.ndarray:
    """Decode a packed (re-encoded) image: 8-bit RGB, as the unpack on the GPU does."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def squared_error(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    d = a.astype(np.float32) - b.astype(np.float32)
    flat = d.ravel()
    return float(np.dot(flat.astype(np.float64), flat.astype(np.float64)))


def psnr_db(sse: float, values: int) -> float | None:
    """PSNR (8-bit peak) of a total squared error over ``values`` samples; None if exact."""
    if sse <= 0:
        return None
    return 10.0 * math.log10(255.0 ** 2 * values / sse)


def encode(pixels: np.ndarray, method: str, quality: int | None) -> bytes:
    buf = io.BytesIO()
    im = Image.fromarray(pixels, "RGB")
    if method in ("jpeg444", "jpeg422", "jpeg420"):
        im.save(buf, "JPEG", quality=quality, subsampling={"jpeg444": 0, "jpeg422": 1, "jpeg420": 2}[method],
                optimize=True, progressive=True)
    elif method == "webp":
        im.save(buf, "WEBP", quality=quality, method=4)
    elif method == "webp-lossless":
        im.save(buf, "WEBP", lossless=True, quality=80, method=4, exact=True)
    else:
        raise ValueError(f"unknown method {method!r}")
    return buf.getvalue()


def label(method: str, quality: int | None) -> str:
    return method if quality is None else f"{method}-q{quality}"


# ----------------------------------------------------------------------------- allocation
def lower_hull(points: list[tuple[int, float, str, int | None]]) -> list[tuple[int, float, str, int | None]]:
    """The candidates on the lower convex hull of (bytes, squared error), by bytes."""
    pts = sorted(points, key=lambda p: (p[0], p[1]))
    kept: list[tuple[int, float, str, int | None]] = []
    for p in pts:  # drop candidates no better than a smaller one
        if kept and p[1] >= kept[-1][1]:
            continue
        kept.append(p)
    hull: list[tuple[int, float, str, int | None]] = []
    for p in kept:
        while len(hull) >= 2:
            (x1, y1, *_), (x2, y2, *_) = hull[-2], hull[-1]
            # hull[-1] is above the segment hull[-2] -> p: not convex
            if (y2 - y1) * (p[0] - x1) >= (p[1] - y1) * (x2 - x1):
                hull.pop()
            else:
                break
        hull.append(p)
    return hull


def allocate(hulls: list[list[tuple[int, float, str, int | None]]], budget: int) -> list[int] | None:
    """Index into each hull that minimizes the total squared error within ``budget``
    bytes (greedy by slope along the hulls); None if even the smallest do not fit."""
    choice = [0] * len(hulls)
    used = sum(h[0][0] for h in hulls)
    if used > budget:
        return None
    heap: list[tuple[float, int]] = []

    def push(i: int) -> None:
        j = choice[i]
        if j + 1 < len(hulls[i]):
            db = hulls[i][j + 1][0] - hulls[i][j][0]
            de = hulls[i][j][1] - hulls[i][j + 1][1]
            heapq.heappush(heap, (-de / max(db, 1), i))

    for i in range(len(hulls)):
        push(i)
    while heap:
        _, i = heapq.heappop(heap)
        j = choice[i]
        extra = hulls[i][j + 1][0] - hulls[i][j][0]
        if used + extra > budget:
            continue  # this image's next step does not fit; others' smaller ones may
        choice[i] = j + 1
        used += extra
        push(i)
    return choice


def jpeg_method(path: Path) -> str:
    """JPEG at the chroma subsampling of a JPEG file (4:4:4 for grayscale or unknown)."""
    from PIL import JpegImagePlugin

    with Image.open(path) as im:
        sampling = JpegImagePlugin.get_sampling(im)
    return {1: "jpeg422", 2: "jpeg420"}.get(sampling, "jpeg444")


def allocate_lossy(entries: list[dict], copies: list[dict], others: list[dict], budget: int) -> None:
    """Choose each image's encoding (R-D allocation under ``budget`` bytes) and set it.

    Every image may stay as it is (its stored bytes, no error). Level 0 adds JPEG 4:4:4
    and WebP candidates for the images not stored as JPEG; when even their smallest do
    not fit, level 1 adds lower qualities, then level 2 re-encodes the JPEG files too
    (JPEG at their own chroma subsampling)."""
    cands: dict[int, list[tuple[int, float, str, int | None]]] = {
        id(e): [(e["orig_bytes"], 0.0, "copy", None)] for e in entries}
    levels = [
        ("JPEG 4:4:4 and WebP for the PNG/TIFF images", others,
         [("jpeg444", JPEG_QUALITIES), ("webp", WEBP_QUALITIES)]),
        ("lower qualities for them", others, [("jpeg444", LOW_JPEG_QUALITIES), ("webp", LOW_WEBP_QUALITIES)]),
        ("the JPEG files re-encoded as JPEG", copies, [(None, COPY_QUALITIES)]),
    ]
    for level, (what, group, methods) in enumerate(levels):
        print(f"lossy, level {level}: measuring {what} ("
              + "; ".join(f"{m or 'same subsampling'} q{'/'.join(map(str, qs))}" for m, qs in methods) + ")")
        uniform: dict[str, list] = {}  # totals if every image of the group took the same candidate
        for e in group:
            for method, qualities in methods:
                for q in qualities:
                    m = method or jpeg_method(e["path"])
                    data = encode(e["pixels"], m, q)
                    err = squared_error(decode_rgb(data), e["pixels"])
                    cands[id(e)].append((len(data), err, m, q))
                    tot = uniform.setdefault(label(method or "jpeg-same", q), [0, 0.0])
                    tot[0] += len(data)
                    tot[1] += err
        values = sum(e["pixels"].size for e in group)
        for key, (nbytes, err) in uniform.items():
            print(f"  all {len(group)} as {key:15s} {nbytes / 1e6:6.2f} MB  PSNR {psnr_db(err, values):.2f} dB")
        hulls = [lower_hull(cands[id(e)]) for e in entries]
        choice = allocate(hulls, budget)
        if choice is not None:
            break
        print(f"  does not fit: the smallest candidates need {sum(h[0][0] for h in hulls) / 1e6:.1f} MB "
              f"of {budget / 1e6:.1f} MB")
    else:
        raise SystemExit("does not fit even at the lowest qualities: raise --limit-mib")
    for e, hull, j in zip(entries, hulls, choice):
        nbytes, _, method, q = hull[j]
        if method == "copy":
            e.update(method="copy", quality=None, data=e["raw"], out_name=e["name"], sse=0.0)
            continue
        data = encode(e["pixels"], method, q)  # deterministic: the measured candidate again
        if len(data) != nbytes:
            raise SystemExit(f"{e['folder']}/{e['name']}: {label(method, q)} encoded to {len(data)} bytes, "
                             f"measured {nbytes}")
        e.update(method=method, quality=q, data=data, out_name=str(Path(e["name"]).with_suffix(".png")))


# ----------------------------------------------------------------------------- pack
def pack(data_root: Path, out: Path, limit_bytes: int, folders: tuple[str, ...] = FOLDERS) -> dict:
    # the loader's own file listing and decoding, so the packed set is what training reads
    from semcom.data.datasets import list_images
    from semcom.data.io import load_image_uint8

    entries: list[dict] = []
    for folder in folders:
        root = data_root / folder
        paths = list_images(root)
        if not paths:
            raise SystemExit(f"no images in {root}")
        for path in paths:
            raw = path.read_bytes()
            entries.append({"folder": folder, "name": path.relative_to(root).as_posix(), "path": path,
                            "raw": raw, "orig_bytes": len(raw), "sha256_original": sha256_bytes(raw)})
    print(f"{len(entries)} images in {', '.join(folders)}: {sum(e['orig_bytes'] for e in entries) / 1e6:.1f} MB")

    reserve = 64 * 1024 + 700 * len(entries)  # the manifest, about 500 bytes an image
    budget = limit_bytes - reserve
    copies = [e for e in entries if Path(e["name"]).suffix.lower() in COPY_SUFFIXES]
    others = [e for e in entries if Path(e["name"]).suffix.lower() not in COPY_SUFFIXES]
    for e in entries:
        e["pixels"] = load_image_uint8(e["path"])
        e["sha256_pixels"] = sha256_pixels(e["pixels"])

    def set_copy(e: dict) -> None:
        e.update(method="copy", quality=None, data=e["raw"], out_name=e["name"], sse=0.0)

    if sum(e["orig_bytes"] for e in entries) <= budget:
        print("everything fits as it is: lossless, byte-identical")
        for e in entries:
            set_copy(e)
    else:
        for e in copies:
            set_copy(e)
        room = budget - sum(e["orig_bytes"] for e in copies)
        other_raw = sum(e["orig_bytes"] for e in others)
        print(f"{len(copies)} JPEG files as they are: {sum(e['orig_bytes'] for e in copies) / 1e6:.1f} MB; "
              f"{room / 1e6:.1f} MB left for the {len(others)} other images ({other_raw / 1e6:.1f} MB as stored)")
        step = max(1, len(others) // LOSSLESS_SAMPLE)
        sample = others[::step][:LOSSLESS_SAMPLE]
        ratio = (sum(len(encode(e["pixels"], "webp-lossless", None)) for e in sample)
                 / sum(e["orig_bytes"] for e in sample)) if sample else 1.0
        print(f"lossless WebP on {len(sample)} samples: {ratio:.0%} of their stored bytes "
              f"-> about {ratio * other_raw / 1e6:.1f} MB for all")
        lossless = None
        if 0 < ratio * other_raw <= 1.05 * room:
            lossless = [encode(e["pixels"], "webp-lossless", None) for e in others]
            print(f"lossless WebP, all: {sum(map(len, lossless)) / 1e6:.1f} MB")
            if sum(map(len, lossless)) > room:
                lossless = None
        if lossless is not None:
            for e, data in zip(others, lossless):
                e.update(method="webp-lossless", quality=None, data=data, sse=0.0,
                         out_name=str(Path(e["name"]).with_suffix(".png")))
        else:
            allocate_lossy(entries, copies, others, budget)

    # decode every re-encoded image once more: its pixel hash and exact error
    for e in entries:
        if e["method"] == "copy":
            e["sha256_decoded"] = e["sha256_pixels"]
        else:
            decoded = decode_rgb(e["data"])
            e["sha256_decoded"] = sha256_pixels(decoded)
            e["sse"] = squared_error(decoded, e["pixels"])
        e["values"] = int(e["pixels"].size)
        e["shape"] = list(e["pixels"].shape)

    out.mkdir(parents=True, exist_ok=True)
    records = []
    offset = 0
    with (out / BLOB).open("wb") as blob:
        for e in entries:
            blob.write(e["data"])
            records.append({"folder": e["folder"], "name": e["name"], "out_name": e["out_name"],
                            "method": label(e["method"], e["quality"]), "offset": offset, "size": len(e["data"]),
                            "shape": e["shape"], "orig_bytes": e["orig_bytes"],
                            "sha256_original": e["sha256_original"], "sha256_pixels": e["sha256_pixels"],
                            "sha256_packed": sha256_bytes(e["data"]), "sha256_decoded": e["sha256_decoded"],
                            "psnr_db": None if e["sse"] == 0 else round(psnr_db(e["sse"], e["values"]), 3)})
            offset += len(e["data"])

    def stats(group: list[dict]) -> dict:
        lossy = [e for e in group if e["sse"] > 0]
        methods: dict[str, int] = {}
        for e in group:
            key = label(e["method"], e["quality"])
            methods[key] = methods.get(key, 0) + 1
        out_stats = {"images": len(group), "orig_bytes": sum(e["orig_bytes"] for e in group),
                     "packed_bytes": sum(len(e["data"]) for e in group), "lossy_images": len(lossy),
                     "methods": dict(sorted(methods.items()))}
        if lossy:
            out_stats["psnr_db_lossy"] = round(psnr_db(sum(e["sse"] for e in lossy),
                                                       sum(e["values"] for e in lossy)), 3)
            out_stats["psnr_db_lossy_min"] = round(min(psnr_db(e["sse"], e["values"]) for e in lossy), 3)
            out_stats["psnr_db_all"] = round(psnr_db(sum(e["sse"] for e in group),
                                                     sum(e["values"] for e in group)), 3)
        return out_stats

    summary = {"all": stats(entries), "folders": {f: stats([e for e in entries if e["folder"] == f]) for f in folders}}
    manifest = {"format": FORMAT, "limit_bytes": limit_bytes, "folders": list(folders), "blob": BLOB,
                "blob_bytes": offset, "summary": summary, "images": records}
    text = json.dumps(manifest, indent=0, separators=(",", ":"))
    (out / MANIFEST).write_text(text)
    total = offset + len(text.encode())
    if total > limit_bytes:
        raise SystemExit(f"packed {total} bytes, over the limit {limit_bytes}: raise the manifest reserve")

    print(f"wrote {out / BLOB} ({offset / 1e6:.2f} MB) and {out / MANIFEST} ({len(text) / 1e3:.0f} kB): "
          f"{total / 1e6:.2f} MB = {total / MIB:.2f} MiB of {limit_bytes / MIB:.2f} MiB")
    for name, s in [("all", summary["all"])] + list(summary["folders"].items()):
        line = (f"  {name:11s} {s['images']:4d} images  {s['orig_bytes'] / 1e6:6.1f} MB -> "
                f"{s['packed_bytes'] / 1e6:6.1f} MB")
        if s["lossy_images"]:
            line += (f"  {s['lossy_images']} lossy: PSNR {s['psnr_db_lossy']:.2f} dB (lowest image "
                     f"{s['psnr_db_lossy_min']:.2f}), all {s['images']}: {s['psnr_db_all']:.2f} dB")
        else:
            line += "  lossless"
        print(line + "  " + ", ".join(f"{k} x{v}" for k, v in s["methods"].items()))
    return manifest


# ----------------------------------------------------------------------------- unpack
def unpack(packed: Path, dest: Path, workers: int = 4) -> int:
    """Write the packed images under ``dest``; returns the number of pixel-hash mismatches."""
    manifest_bytes = (packed / MANIFEST).read_bytes()
    marker = sha256_bytes(manifest_bytes)
    manifest = json.loads(manifest_bytes)
    if manifest.get("format") != FORMAT:
        raise SystemExit(f"{packed / MANIFEST}: not a {FORMAT} manifest")
    if (dest / MARKER).is_file() and (dest / MARKER).read_text().strip() == marker:
        print(f"{dest} already holds this pack ({len(manifest['images'])} images): left as it is")
        return 0
    for folder in manifest["folders"]:
        if (dest / folder).is_dir() and any((dest / folder).iterdir()):
            raise SystemExit(f"{dest / folder} is not empty: unpack into a fresh folder")
    for folder in manifest["folders"]:
        (dest / folder).mkdir(parents=True, exist_ok=True)
    blob = (packed / BLOB).read_bytes()
    if len(blob) != manifest["blob_bytes"]:
        raise SystemExit(f"{packed / BLOB}: {len(blob)} bytes, the manifest says {manifest['blob_bytes']}")

    def write(rec: dict) -> bool:
        data = blob[rec["offset"]:rec["offset"] + rec["size"]]
        if sha256_bytes(data) != rec["sha256_packed"]:
            raise SystemExit(f"{rec['folder']}/{rec['name']}: packed bytes corrupt (sha256)")
        target = dest / rec["folder"] / rec["out_name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if rec["method"] == "copy":
            target.write_bytes(data)
            return True
        pixels = decode_rgb(data)
        if list(pixels.shape) != rec["shape"]:
            raise SystemExit(f"{rec['folder']}/{rec['name']}: decoded to {pixels.shape}, expected {rec['shape']}")
        Image.fromarray(pixels, "RGB").save(target, "PNG", compress_level=1)
        return sha256_pixels(pixels) == rec["sha256_decoded"]

    with ThreadPoolExecutor(max(1, workers)) as pool:
        same = list(pool.map(write, manifest["images"]))
    mismatches = same.count(False)
    (dest / MARKER).write_text(marker + "\n")
    s = manifest["summary"]["all"]
    print(f"unpacked {len(same)} images into {dest}/{{{','.join(manifest['folders'])}}}"
          + (f" ({s['lossy_images']} lossy, PSNR {s['psnr_db_lossy']:.2f} dB)" if s["lossy_images"] else " (lossless)"))
    if mismatches:
        print(f"warning: {mismatches} re-encoded images decode to other pixels here than where they were packed "
              "(another libjpeg/libwebp build)", file=sys.stderr)
    return mismatches


# ----------------------------------------------------------------------------- verify
def verify(packed: Path, unpacked: Path, data_root: Path) -> bool:
    """Compare an unpacked tree with the original files; True if all is as recorded."""
    from semcom.data.io import load_image_uint8

    manifest = json.loads((packed / MANIFEST).read_text())
    ok = True
    sse = values = 0.0
    worst = None
    counts = {"copy": 0, "lossless": 0, "lossy": 0}
    for rec in manifest["images"]:
        original = data_root / rec["folder"] / rec["name"]
        target = unpacked / rec["folder"] / rec["out_name"]
        if sha256_bytes(original.read_bytes()) != rec["sha256_original"]:
            print(f"{original}: changed since it was packed")
            ok = False
            continue
        if rec["method"] == "copy":
            counts["copy"] += 1
            if sha256_bytes(target.read_bytes()) != rec["sha256_original"]:
                print(f"{target}: bytes differ from {original}")
                ok = False
            continue
        ref = load_image_uint8(original)
        got = load_image_uint8(target)  # as the training loader reads it
        err = squared_error(got, ref)
        if rec["psnr_db"] is None:
            counts["lossless"] += 1
            if err != 0 or sha256_pixels(got) != rec["sha256_pixels"]:
                print(f"{target}: pixels differ from {original}")
                ok = False
            continue
        counts["lossy"] += 1
        p = psnr_db(err, ref.size)
        if p is None or abs(p - rec["psnr_db"]) > 0.01:
            print(f"{target}: PSNR {p} dB, recorded {rec['psnr_db']} dB")
            ok = False
        sse += err
        values += ref.size
        if p is not None and (worst is None or p < worst[0]):
            worst = (p, f"{rec['folder']}/{rec['name']}")
    extra = [p for folder in manifest["folders"] for p in (unpacked / folder).iterdir()
             if p.name not in {r["out_name"] for r in manifest["images"] if r["folder"] == folder}]
    if extra:
        print(f"unexpected files in {unpacked}: {', '.join(map(str, extra[:5]))}")
        ok = False
    line = (f"verified {sum(counts.values())} images: {counts['copy']} byte-identical, "
            f"{counts['lossless']} pixel-identical")
    if counts["lossy"]:
        line += (f", {counts['lossy']} lossy at PSNR {psnr_db(sse, values):.2f} dB against the originals "
                 f"(lowest {worst[0]:.2f} dB, {worst[1]})")
    print(line + (": OK" if ok else ": FAILED"))
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("pack", help="pack the HR training folders (here)")
    p.add_argument("data_root", type=Path)
    p.add_argument("dest", type=Path)
    p.add_argument("--limit-mib", type=float, default=DEFAULT_LIMIT_MIB,
                   help=f"packed size limit, manifest included (default {DEFAULT_LIMIT_MIB:g} MiB)")
    p.add_argument("--folders", nargs="+", default=list(FOLDERS))
    p = sub.add_parser("unpack", help="write the images as DEST/<folder>/<file> (on the GPU machine)")
    p.add_argument("packed", type=Path)
    p.add_argument("dest", type=Path)
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    p = sub.add_parser("verify", help="compare an unpacked tree with the originals (here)")
    p.add_argument("packed", type=Path)
    p.add_argument("unpacked", type=Path)
    p.add_argument("data_root", type=Path)
    args = parser.parse_args(argv)
    if args.action == "pack":
        pack(args.data_root, args.dest, int(args.limit_mib * MIB), tuple(args.folders))
    elif args.action == "unpack":
        unpack(args.packed, args.dest, args.workers)
    else:
        return 0 if verify(args.packed, args.unpacked, args.data_root) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
