"""Datasets: folder discovery, root resolution, and the real shared data formats."""

from __future__ import annotations

import csv
import io
import os
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import semcom.data.datasets as datasets_module
import semcom.data.labelled as labelled_module
from semcom.data import (
    Cifar10,
    Cifar10Jpeg,
    HRFolder,
    ImageFolder,
    SemcomWarning,
    create_dataset,
    default_data_root,
)
from semcom.data.transforms import CenterCrop
from semcom.errors import SemcomError, UnknownNameError
from semcom.registry import DATASETS


def _write(path: Path, size_hw: tuple[int, int], seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).integers(0, 256, (*size_hw, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return a


@pytest.fixture
def no_default_root(monkeypatch):
    monkeypatch.setattr(datasets_module, "default_data_root", lambda: None)


def test_all_datasets_are_registered():
    assert {"folder", "kodak", "cifar10", "cifar10-jpeg", "tiny-imagenet-val", "hr-folder", "urban100"} <= set(
        DATASETS.names())
    with pytest.raises(UnknownNameError, match="kodac.*did you mean kodak"):
        create_dataset("kodac")


# ----------------------------------------------------------------------------- folder
def test_folder_is_recursive_sorted_and_filters_extensions(tmp_path):
    a = _write(tmp_path / "b.png", (4, 5), 0)
    _write(tmp_path / "a" / "z.PNG", (6, 5), 1)
    _write(tmp_path / "a" / "c.bmp", (3, 3), 2)
    (tmp_path / "notes.txt").write_text("not an image")
    _write(tmp_path / ".hidden" / "h.png", (2, 2), 3)
    _write(tmp_path / "._b.png", (2, 2), 4)
    ds = create_dataset("folder", tmp_path)
    assert ds.names == ["a/c.bmp", "a/z.PNG", "b.png"]
    assert len(ds) == 3
    assert torch.equal(ds[2], torch.from_numpy(a).permute(2, 0, 1).float() / 255)
    assert torch.equal(ds[-1], ds[2])
    assert ds.sizes() == [(3, 3), (6, 5), (4, 5)]
    flat = ImageFolder(tmp_path, recursive=False)
    assert flat.names == ["b.png"]
    with pytest.raises(IndexError):
        ds[3]


def test_folder_transform_and_cache(tmp_path):
    _write(tmp_path / "x.png", (10, 12), 0)
    ds = ImageFolder(tmp_path, transform=CenterCrop(4), cache=True)
    first = ds[0]
    assert first.shape == (3, 4, 4)
    (tmp_path / "x.png").write_bytes(b"")  # served from the cache now
    assert torch.equal(ds[0], first)


def test_folder_errors_name_the_path(tmp_path):
    with pytest.raises(SemcomError, match=f"{tmp_path / 'missing'}.*does not exist"):
        create_dataset("folder", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SemcomError, match="found none of the image files"):
        create_dataset("folder", tmp_path / "empty")
    with pytest.raises(SemcomError, match="needs root"):
        create_dataset("folder")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(SemcomError, match="not a folder"):
        create_dataset("folder", tmp_path / "file.png")


def test_bad_image_in_folder_raises_image_load_error_on_access(tmp_path):
    (tmp_path / "bad.png").write_text("nope")
    ds = create_dataset("folder", tmp_path)
    with pytest.raises(SemcomError, match="bad.png"):
        ds[0]


# ----------------------------------------------------------------------------- root resolution
def test_default_data_root_prefers_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SEMCOM_DATA", str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.delenv("SEMCOM_DATA")
    beside = Path(datasets_module.__file__).resolve().parents[2].parent / "shared" / "data"
    assert default_data_root() == (beside if beside.is_dir() else None)


def test_kodak_needs_a_path(no_default_root):
    with pytest.raises(SemcomError, match="no folder given for dataset 'kodak'.*SEMCOM_DATA"):
        create_dataset("kodak")


def test_kodak_from_data_root_env_and_hint(monkeypatch, tmp_path):
    _write(tmp_path / "kodak" / "kodim01.png", (8, 12), 0)
    _write(tmp_path / "kodak" / "kodim02.png", (12, 8), 1)
    with pytest.warns(SemcomWarning, match="expected 24"):
        ds = create_dataset("kodak", data_root=tmp_path)
    assert ds.names == ["kodim01.png", "kodim02.png"]
    monkeypatch.setenv("SEMCOM_DATA", str(tmp_path))
    with pytest.warns(SemcomWarning):
        assert len(create_dataset("kodak")) == 2
    monkeypatch.setenv("SEMCOM_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(SemcomError, match="nowhere/kodak does not exist"):
        create_dataset("kodak")
    with pytest.raises(SemcomError, match="did you mean .*kodak"):
        create_dataset("kodak", tmp_path)  # the data root instead of the kodak folder


# ----------------------------------------------------------------------------- hr-folder
def test_hr_folder_random_crops_are_windows_and_deterministic(tmp_path):
    images = [_write(tmp_path / f"img_{i}.png", (30, 40), i) for i in range(2)]
    make = lambda: HRFolder(tmp_path, crop_size=16, generator=torch.Generator().manual_seed(0), repeats=3)
    a, b = make(), make()
    assert len(a) == 6 and a.names[:2] == a.names[2:4] == ["img_0.png", "img_1.png"]
    for i in range(6):
        crop = a[i]
        assert torch.equal(crop, b[i]) and crop.shape == (3, 16, 16)
        full = torch.from_numpy(images[i % 2]).permute(2, 0, 1).float() / 255
        assert any(torch.equal(full[:, t:t + 16, l:l + 16], crop) or
                   torch.equal(full[:, t:t + 16, l:l + 16].flip(-1), crop)
                   for t in range(15) for l in range(25))


def test_hr_folder_center_crop_and_whole_images(tmp_path):
    a = _write(tmp_path / "x.png", (21, 30), 0)
    full = torch.from_numpy(a).permute(2, 0, 1).float() / 255
    assert torch.equal(create_dataset("hr-folder", tmp_path, crop_size=8, random_crop=False)[0],
                       CenterCrop(8)(full))
    assert torch.equal(create_dataset("hr-folder", tmp_path)[0], full)
    with pytest.raises(SemcomError):
        HRFolder(tmp_path, repeats=0)


# ----------------------------------------------------------------------------- cifar10 (synthetic)
def _fake_cifar(root: Path, sprite_width: int = 1024) -> np.ndarray:
    (root / "convnetjs").mkdir(parents=True)
    rows = np.random.default_rng(0).integers(0, 256, (3, sprite_width, 3), dtype=np.uint8)
    Image.fromarray(rows).save(root / "convnetjs" / "s.png")
    with open(root / "convnetjs" / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "row", "split", "split_index", "label", "class_name"])
        w.writerows([["s.png", 0, "test", 1, 4, "deer"], ["s.png", 1, "test", 0, 9, "truck"],
                     ["s.png", 2, "train", 0, 0, "airplane"]])
    return rows


def test_cifar10_sprite_rows_are_images_in_split_order(tmp_path):
    rows = _fake_cifar(tmp_path)
    ds = Cifar10(tmp_path, split="test")
    assert len(ds) == 2 and ds.names == ["test/0", "test/1"]
    image, label = ds[0]  # split_index 0 is sprite row 1
    assert label == 9 and ds.classes[label] == "truck"
    assert torch.equal(image, torch.from_numpy(rows[1].reshape(32, 32, 3)).permute(2, 0, 1).float() / 255)
    assert len(Cifar10(tmp_path / "convnetjs", split="train")) == 1
    with pytest.raises(SemcomError, match="unknown split"):
        Cifar10(tmp_path, split="val")


def test_cifar10_rejects_a_wrong_sprite(tmp_path):
    _fake_cifar(tmp_path, sprite_width=1000)
    with pytest.raises(SemcomError, match="1024"):
        Cifar10(tmp_path)


# ----------------------------------------------------------------------------- cifar10-jpeg (synthetic)
def _fake_cifar_jpeg(root: Path, drop: str | None = None) -> dict[str, np.ndarray]:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    members, rows = {}, []
    for shard in range(2):
        with tarfile.open(root / f"train_{shard}.tar", "w") as tar:
            for label, cls in enumerate(["airplane", "automobile"]):
                for k in range(2 * shard, 2 * shard + 2):
                    name = f"{cls}/{k:04d}.jpg"
                    buf = io.BytesIO()
                    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "JPEG")
                    members[name] = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
                    rows.append([name, label, cls, k, f"train_{shard}.tar"])
                    if name == drop:
                        continue
                    info = tarfile.TarInfo(name)
                    info.size = len(buf.getvalue())
                    tar.addfile(info, io.BytesIO(buf.getvalue()))
    rows.sort(key=lambda r: (r[1], r[3]))
    with open(root / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([["member", "label", "class_name", "class_index_in_folder", "shard"], *rows])
    return members


def test_cifar10_jpeg_order_is_class_balanced_and_limit_reads_prefix(tmp_path):
    members = _fake_cifar_jpeg(tmp_path)
    ds = Cifar10Jpeg(tmp_path)
    assert ds.names == ["airplane/0000.jpg", "automobile/0000.jpg", "airplane/0001.jpg", "automobile/0001.jpg",
                        "airplane/0002.jpg", "automobile/0002.jpg", "airplane/0003.jpg", "automobile/0003.jpg"]
    assert ds.labels.tolist() == [0, 1] * 4
    for i, name in enumerate(ds.names):
        assert np.array_equal(ds.images_uint8[i], members[name])
    image, label = ds[3]
    assert label == 1 and torch.equal(image, torch.tensor(members[ds.names[3]]).permute(2, 0, 1) / 255)
    (tmp_path / "train_1.tar").unlink()  # a prefix of 4 needs only the first shard
    assert Cifar10Jpeg(tmp_path, limit=4).names == ds.names[:4]
    with pytest.raises(SemcomError, match="train_1.tar not found"):
        Cifar10Jpeg(tmp_path, limit=5)
    with pytest.raises(SemcomError, match="limit"):
        Cifar10Jpeg(tmp_path, limit=0)


def test_cifar10_jpeg_missing_member_is_an_error(tmp_path):
    _fake_cifar_jpeg(tmp_path, drop="automobile/0001.jpg")
    with pytest.raises(SemcomError, match="holds 3 of the 4 members.*automobile/0001.jpg"):
        Cifar10Jpeg(tmp_path)


def test_cifar10_jpeg_cache_dir(tmp_path):
    _fake_cifar_jpeg(tmp_path / "data")
    first = Cifar10Jpeg(tmp_path / "data", cache_dir=tmp_path / "cache")
    (cache_file,) = (tmp_path / "cache").glob("*.npy")
    for tar in (tmp_path / "data").glob("*.tar"):  # same size and mtime, garbage content
        stat = tar.stat()
        tar.write_bytes(b"\0" * stat.st_size)
        os.utime(tar, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = Cifar10Jpeg(tmp_path / "data", cache_dir=tmp_path / "cache")
    assert np.array_equal(again.images_uint8, first.images_uint8)
    cache_file.write_bytes(b"broken")
    with pytest.raises(SemcomError):  # rebuilt from the (now garbage) shards
        Cifar10Jpeg(tmp_path / "data", cache_dir=tmp_path / "cache")


# ----------------------------------------------------------------------------- shared data
def test_cifar10_test_split_matches_the_labels_csv(shared_data):
    folder = shared_data / "cifar10" / "convnetjs"
    ds = create_dataset("cifar10", shared_data / "cifar10", split="test")
    assert len(ds) == 1000
    with open(folder / "labels.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "test"]
    expected = {int(r["split_index"]): int(r["label"]) for r in rows}
    assert ds.labels.tolist() == [expected[i] for i in range(1000)]
    assert ds.labels.min() >= 0 and ds.labels.max() <= 9
    assert torch.bincount(ds.labels).tolist() == [103, 89, 100, 103, 90, 86, 112, 102, 106, 109]  # PROVENANCE.md
    sprite = np.asarray(Image.open(folder / "cifar10_batch_50.png").convert("RGB")).reshape(1000, 32, 32, 3)
    by_index = {int(r["split_index"]): int(r["row"]) for r in rows}
    for i in (0, 1, 517, 999):
        image, label = ds[i]
        assert image.shape == (3, 32, 32) and label == expected[i]
        assert torch.equal(image, torch.tensor(sprite[by_index[i]]).permute(2, 0, 1).float() / 255)


def test_cifar10_jpeg_limit_loads_fast_and_matches_members(shared_data, monkeypatch):
    root = shared_data / "cifar10_train_jpeg"
    decoded = []
    real_decode = labelled_module.decode_image
    monkeypatch.setattr(labelled_module, "decode_image", lambda data, name: decoded.append(name) or
                        real_decode(data, name))
    start = time.perf_counter()
    ds = create_dataset("cifar10-jpeg", root, limit=100)
    elapsed = time.perf_counter() - start
    assert len(ds) == 100 and ds.images_uint8.shape == (100, 32, 32, 3)
    assert torch.bincount(ds.labels, minlength=10).tolist() == [10] * 10
    # only the 100 needed members of the first shard are decoded (about 0.5 s on an idle core)
    assert len(decoded) == 100 and all(name.startswith("train_0.tar:") for name in decoded)
    assert elapsed < 15.0, elapsed
    with open(root / "labels.csv") as f:
        label_of = {r["member"]: int(r["label"]) for r in csv.DictReader(f)}
    assert ds.labels.tolist() == [label_of[n] for n in ds.names]
    with tarfile.open(root / "train_0.tar") as tar:
        for i in (0, 57, 99):
            data = tar.extractfile(ds.names[i]).read()
            expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            assert np.array_equal(ds.images_uint8[i], expected)


def test_tiny_imagenet_val_labels_follow_the_annotations(shared_data):
    root = shared_data / "tiny-imagenet-200"
    ds = create_dataset("tiny-imagenet-val", root)
    assert len(ds) == 1000 and len(ds.classes) == 200
    wnids = (root / "wnids.txt").read_text().split()
    lines = (root / "val" / "val_annotations.txt").read_text().splitlines()
    assert ds.labels.tolist() == [wnids.index(line.split("\t")[1]) for line in lines]
    assert ds.names[0] == "val_0.JPEG" and ds.classes[ds.labels[0]] == "n03444034"
    image, label = ds[0]
    assert image.shape == (3, 64, 64) and label == int(ds.labels[0])
    gray = next(i for i, p in enumerate(ds.paths) if Image.open(p).mode == "L")
    g, _ = ds[gray]
    assert torch.equal(g[0], g[1]) and torch.equal(g[1], g[2])


def test_kodak_and_urban100_from_shared_data(shared_data):
    kodak = create_dataset("kodak", data_root=shared_data)
    assert len(kodak) == 24 and kodak.names[0] == "kodim01.png"
    sizes = kodak.sizes()
    assert sizes.count((512, 768)) == 18 and sizes.count((768, 512)) == 6
    assert kodak[3].shape == (3, 768, 512)  # kodim04 is portrait
    urban = create_dataset("urban100", shared_data / "urban100", crop_size=64,
                           generator=torch.Generator().manual_seed(0))
    assert len(urban) == 30 and urban[0].shape == (3, 64, 64)
