"""Labelled datasets: CIFAR-10 (lossless subsets and the 50k JPEG training set) and the
Tiny ImageNet validation subset. Items are ``(image, label)``: ``image`` a transformed
``(3, H, W)`` float32 tensor in ``[0, 1]``, ``label`` an ``int``.

Formats (see each folder's PROVENANCE.md in ``shared/data``):

* ``cifar10/``: sprite PNGs of 1,000 images each (row ``k`` = image ``k``, 32x32x3
  flattened row-major) and ``convnetjs/labels.csv``
  (``file,row,split,split_index,label,class_name``).
* ``cifar10_train_jpeg/``: ``train_0.tar``..``train_4.tar`` of ``CLASS/NNNN.jpg``
  members and ``labels.csv`` (``member,label,class_name,class_index_in_folder,shard``).
* ``tiny-imagenet-200/``: ``wnids.txt``, ``val/val_annotations.txt``,
  ``val/images/val_N.JPEG``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tarfile
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from semcom.data.datasets import _check_index, resolve_root
from semcom.data.io import SemcomWarning, decode_image, load_image, load_image_uint8, read_image_size, to_tensor
from semcom.errors import SemcomError
from semcom.registry import DATASETS

Transform = Optional[Callable[[Tensor], Tensor]]

#: CIFAR-10 class names in label order (``batches.meta``).
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAR_SIDE = 32


def _read_csv(path: Path, required: set[str], dataset: str) -> dict[str, list[str]]:
    """The ``required`` columns of a CSV file with a header, as lists of strings."""
    if not path.is_file():
        raise SemcomError(f"dataset {dataset!r}: label file {path} not found")
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        missing = required - set(header)
        if missing:
            raise SemcomError(f"dataset {dataset!r}: {path} lacks the columns {', '.join(sorted(missing))}")
        rows = [row for row in reader if row]
    if any(len(row) != len(header) for row in rows):
        raise SemcomError(f"dataset {dataset!r}: {path} has rows with a wrong number of fields")
    columns = list(zip(*rows)) if rows else [()] * len(header)
    return {name: list(columns[header.index(name)]) for name in required}


def _int_column(values: list[str], what: str, num_classes: int | None = None) -> np.ndarray:
    """Strings -> int64 array; with ``num_classes``, every value must be a label in range."""
    try:
        array = np.asarray(values, dtype=np.str_).astype(np.int64)
    except ValueError:
        raise SemcomError(f"{what}: non-integer entries") from None
    if num_classes is not None and array.size and (array.min() < 0 or array.max() >= num_classes):
        raise SemcomError(f"{what}: labels outside 0..{num_classes - 1}")
    return array


class ArrayImageDataset(Dataset):
    """Images held in memory as one ``(N, H, W, 3)`` uint8 array, with int labels.

    Attributes:
        images_uint8: ``(N, H, W, 3)`` uint8 numpy array (HWC, RGB).
        labels: ``(N,)`` int64 tensor.
        classes: class names by label.
        names: one identifier per item.
    """

    def __init__(self, images_uint8: np.ndarray, labels: Tensor, classes: tuple[str, ...], names: list[str],
                 transform: Transform) -> None:
        self.images_uint8 = images_uint8
        self.labels = labels
        self.classes = classes
        self.names = names
        self.transform = transform

    def __len__(self) -> int:
        return int(self.images_uint8.shape[0])

    def __getitem__(self, index: int) -> tuple[Any, int]:
        index = _check_index(index, len(self))
        image = to_tensor(self.images_uint8[index])
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])

    def sizes(self) -> list[tuple[int, int]]:
        """``(H, W)`` of every image before the transform."""
        return [tuple(self.images_uint8.shape[1:3])] * len(self)  # type: ignore[list-item]

    def images(self, indices: Sequence[int]) -> Tensor:
        """The images at ``indices`` as one ``(B, 3, H, W)`` float32 tensor, untransformed."""
        return to_tensor(self.images_uint8[list(indices)])


@DATASETS.register("cifar10")
class Cifar10(ArrayImageDataset):
    """CIFAR-10 lossless subsets: ``split="test"`` (test_batch 0-999) or ``"train"`` (0-3999).

    Args:
        root: the ``cifar10`` folder (holding ``convnetjs/labels.csv`` and the sprite
            PNGs), or the ``convnetjs`` folder itself; without it ``<data root>/cifar10``.
        transform: applied to each ``(3, 32, 32)`` image.
        split: "test" or "train".
        data_root: where to find ``cifar10/`` when ``root`` is not given.

    Items are in the original CIFAR-10 order of the split (``split_index``);
    ``names`` are ``"<split>/<split_index>"``.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, transform: Transform = None, *,
                 split: str = "test", data_root: str | os.PathLike[str] | None = None) -> None:
        if split not in ("test", "train"):
            raise SemcomError(f"cifar10: unknown split {split!r} (known: test, train)")
        folder = resolve_root(root, dataset="cifar10", subdir="cifar10", data_root=data_root,
                              expected="convnetjs/labels.csv and the cifar10_batch_*.png sprites")
        if not (folder / "labels.csv").is_file() and (folder / "convnetjs").is_dir():
            folder = folder / "convnetjs"
        table = _read_csv(folder / "labels.csv", {"file", "row", "split", "split_index", "label"}, "cifar10")
        where = f"cifar10: {folder / 'labels.csv'}"
        selected = np.flatnonzero(np.asarray(table["split"]) == split)
        if selected.size == 0:
            raise SemcomError(f"{where} lists no {split!r} images")
        split_index = _int_column(table["split_index"], where)[selected]
        selected = selected[np.argsort(split_index, kind="stable")]
        sprite_rows = _int_column(table["row"], where)
        all_labels = _int_column(table["label"], where, num_classes=10)
        sprites: dict[str, np.ndarray] = {}
        images = np.empty((selected.size, _CIFAR_SIDE, _CIFAR_SIDE, 3), dtype=np.uint8)
        for i, j in enumerate(selected):
            file, k = table["file"][j], int(sprite_rows[j])
            if file not in sprites:
                sprites[file] = self._read_sprite(folder / file)
            if not 0 <= k < sprites[file].shape[0]:
                raise SemcomError(f"{where}: row {k} is outside sprite {file} ({sprites[file].shape[0]} rows)")
            images[i] = sprites[file][k]
        labels = torch.from_numpy(all_labels[selected])
        names = [f"{split}/{table['split_index'][j]}" for j in selected]
        super().__init__(images, labels, CIFAR10_CLASSES, names, transform)
        self.root, self.split = folder, split

    @staticmethod
    def _read_sprite(path: Path) -> np.ndarray:
        """A sprite PNG -> ``(rows, 32, 32, 3)`` uint8: PNG row ``k`` is image ``k``, row-major."""
        pixels = load_image_uint8(path)
        if pixels.shape[1] != _CIFAR_SIDE * _CIFAR_SIDE:
            raise SemcomError(f"cifar10: sprite {path} is {pixels.shape[1]} pixels wide, expected 1024 "
                              "(one 32x32 image per row)")
        return pixels.reshape(pixels.shape[0], _CIFAR_SIDE, _CIFAR_SIDE, 3)


@DATASETS.register("cifar10-jpeg")
class Cifar10Jpeg(ArrayImageDataset):
    """CIFAR-10 training set, 50,000 JPEG q75 images (lossy: for training, not PSNR truth).

    The tar shards are read once (members located by the tar index, no unpacking) and
    all decoded images are kept as one ``(N, 32, 32, 3)`` uint8 array (150 MB for 50k).

    Args:
        root: the ``cifar10_train_jpeg`` folder; without it ``<data root>/cifar10_train_jpeg``.
        transform: applied to each ``(3, 32, 32)`` image.
        limit: keep only the first ``limit`` items. Items are ordered class-balanced
            (``airplane/0000, automobile/0000, ..., truck/0000, airplane/0001, ...``), so
            any prefix has (nearly) equal class counts; only the shards it needs are read.
        data_root: where to find ``cifar10_train_jpeg/`` when ``root`` is not given.
        cache_dir: if given, the decoded array is saved there as ``.npy`` (keyed by the
            content of ``labels.csv`` and the shards' sizes and mtimes) and reused next time.

    ``names`` are the member names (``CLASS/NNNN.jpg``).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, transform: Transform = None, *,
                 limit: int | None = None, data_root: str | os.PathLike[str] | None = None,
                 cache_dir: str | os.PathLike[str] | None = None) -> None:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise SemcomError(f"cifar10-jpeg: limit must be a positive int, got {limit!r}")
        folder = resolve_root(root, dataset="cifar10-jpeg", subdir="cifar10_train_jpeg", data_root=data_root,
                              expected="labels.csv and the tar shards train_0.tar ... train_4.tar")
        table = _read_csv(folder / "labels.csv", {"member", "label", "class_index_in_folder", "shard"},
                          "cifar10-jpeg")
        where = f"cifar10-jpeg: {folder / 'labels.csv'}"
        all_labels = _int_column(table["label"], where, num_classes=10)
        order = np.lexsort((all_labels, _int_column(table["class_index_in_folder"], where)))[:limit]
        members = [table["member"][j] for j in order]
        by_shard: dict[str, dict[str, int]] = {}
        for i, j in enumerate(order):
            by_shard.setdefault(table["shard"][j], {})[members[i]] = i
        cache_file = self._cache_file(cache_dir, folder, sorted(by_shard), len(members))
        images = self._load_cache(cache_file, len(members))
        if images is None:
            images = np.empty((len(members), _CIFAR_SIDE, _CIFAR_SIDE, 3), dtype=np.uint8)
            for shard in sorted(by_shard):
                self._read_shard(folder / shard, by_shard[shard], images)
            self._save_cache(cache_file, images)
        super().__init__(images, torch.from_numpy(all_labels[order]), CIFAR10_CLASSES, members, transform)
        self.root = folder

    @staticmethod
    def _cache_file(cache_dir: str | os.PathLike[str] | None, folder: Path, shards: list[str],
                    count: int) -> Path | None:
        if cache_dir is None:
            return None
        key = hashlib.sha256((folder / "labels.csv").read_bytes())
        for shard in shards:
            stat = (folder / shard).stat() if (folder / shard).is_file() else None
            key.update(f"{shard}:{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1};".encode())
        return Path(cache_dir).expanduser() / f"cifar10-jpeg-{count}-{key.hexdigest()[:16]}.npy"

    @staticmethod
    def _load_cache(cache_file: Path | None, count: int) -> np.ndarray | None:
        if cache_file is None or not cache_file.is_file():
            return None
        try:
            images = np.load(cache_file, allow_pickle=False)
        except (OSError, ValueError):
            return None  # a damaged cache is rebuilt
        expected = (count, _CIFAR_SIDE, _CIFAR_SIDE, 3)
        return images if images.shape == expected and images.dtype == np.uint8 else None

    @staticmethod
    def _save_cache(cache_file: Path | None, images: np.ndarray) -> None:
        if cache_file is None:
            return
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            partial = cache_file.with_name(f"{cache_file.stem}.{os.getpid()}.partial.npy")
            np.save(partial, images, allow_pickle=False)
            os.replace(partial, cache_file)
        except OSError as err:
            warnings.warn(f"cifar10-jpeg: cannot write cache {cache_file}: {err}", SemcomWarning, stacklevel=3)

    @staticmethod
    def _read_shard(path: Path, position: dict[str, int], images: np.ndarray) -> None:
        """Decode the members of one tar named in ``position`` into ``images[position[name]]``."""
        if not path.is_file():
            raise SemcomError(f"cifar10-jpeg: shard {path} not found (named in labels.csv)")
        try:
            data = path.read_bytes()
            index = _index_tar(data)
        except (tarfile.TarError, OSError) as err:
            raise SemcomError(f"cifar10-jpeg: cannot read shard {path}: {err}") from None
        missing = [name for name in position if name not in index]
        if missing:
            raise SemcomError(f"cifar10-jpeg: shard {path} holds {len(position) - len(missing)} of the "
                              f"{len(position)} members labels.csv assigns to it (missing e.g. {missing[0]})")
        for name, i in position.items():
            offset, size = index[name]
            pixels = decode_image(data[offset:offset + size], f"{path.name}:{name}")
            if pixels.shape != images.shape[1:]:
                raise SemcomError(f"cifar10-jpeg: {path.name}:{name} is {pixels.shape[1]}x{pixels.shape[0]}, "
                                  "expected 32x32")
            images[i] = pixels


def _index_tar(data: bytes) -> dict[str, tuple[int, int]]:
    """``name -> (data offset, size)`` of the regular files in an uncompressed tar.

    Plain ustar headers are walked directly (several times faster than ``tarfile`` for
    10,000 small members); anything else (pax or GNU long names, ...) goes to ``tarfile``.
    """
    index: dict[str, tuple[int, int]] = {}
    offset = 0
    while offset + 512 <= len(data) and data[offset] != 0:
        header = data[offset:offset + 512]
        kind = header[156:157]
        if header[257:262] != b"ustar" or kind not in (b"0", b"\0"):
            return _index_tar_slow(data)
        name = header[0:100].split(b"\0", 1)[0].decode("utf-8")
        prefix = header[345:500].split(b"\0", 1)[0].decode("utf-8")
        size = int(header[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
        index[f"{prefix}/{name}" if prefix else name] = (offset + 512, size)
        offset += 512 + (size + 511) // 512 * 512
    return index


def _index_tar_slow(data: bytes) -> dict[str, tuple[int, int]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {info.name: (info.offset_data, info.size) for info in tar if info.isfile()}


@DATASETS.register("tiny-imagenet-val")
class TinyImageNetVal(Dataset):
    """Tiny ImageNet validation images (64x64 JPEG) with labels from the annotations.

    Args:
        root: the ``tiny-imagenet-200`` folder (``wnids.txt``, ``val/val_annotations.txt``,
            ``val/images/``); without it ``<data root>/tiny-imagenet-200``.
        transform: applied to each ``(3, 64, 64)`` image.
        data_root: where to find ``tiny-imagenet-200/`` when ``root`` is not given.

    Labels index ``wnids.txt`` (0..199); ``classes`` are the wnids, ``class_words`` their
    names from ``classes.tsv`` where present. Grayscale images are replicated to RGB.
    Items follow the annotation file's order; ``names`` are the file names.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, transform: Transform = None, *,
                 data_root: str | os.PathLike[str] | None = None) -> None:
        folder = resolve_root(root, dataset="tiny-imagenet-val", subdir="tiny-imagenet-200", data_root=data_root,
                              expected="wnids.txt, val/val_annotations.txt and val/images/")
        wnids_file, annotations = folder / "wnids.txt", folder / "val" / "val_annotations.txt"
        for needed in (wnids_file, annotations):
            if not needed.is_file():
                raise SemcomError(f"tiny-imagenet-val: {needed} not found")
        self.classes = tuple(line.strip() for line in wnids_file.read_text().splitlines() if line.strip())
        index = {wnid: i for i, wnid in enumerate(self.classes)}
        self.paths: list[Path] = []
        labels: list[int] = []
        for n, line in enumerate(annotations.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2 or fields[1] not in index:
                raise SemcomError(f"tiny-imagenet-val: {annotations} line {n}: unknown or missing wnid")
            self.paths.append(folder / "val" / "images" / fields[0])
            labels.append(index[fields[1]])
        if not self.paths:
            raise SemcomError(f"tiny-imagenet-val: {annotations} lists no images")
        self.labels = torch.tensor(labels, dtype=torch.int64)
        self.names = [p.name for p in self.paths]
        self.class_words = self._read_words(folder / "classes.tsv")
        self.root, self.transform = folder, transform

    def _read_words(self, path: Path) -> tuple[str, ...]:
        words = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                fields = line.split("\t")
                if len(fields) >= 3:
                    words[fields[1]] = fields[2]
        return tuple(words.get(w, w) for w in self.classes)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        index = _check_index(index, len(self))
        image = load_image(self.paths[index])
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])

    def sizes(self) -> list[tuple[int, int]]:
        """``(H, W)`` of every image (read from the headers)."""
        return [read_image_size(p) for p in self.paths]
