"""Image datasets created by name: folders, Kodak, high-resolution crop folders.

Every dataset takes ``root`` (its folder) and ``transform`` (applied to each
``(3, H, W)`` float image in ``[0, 1]``). A dataset with a standard folder name
(``kodak``, ``cifar10``, ...) may instead be found under a data root: the
``data_root`` argument, else :func:`default_data_root` (env ``SEMCOM_DATA``, else
``<repo>/../shared/data``). A missing folder is a :class:`SemcomError` naming the path
and what was expected there.

Unlabelled datasets (``folder``, ``kodak``, ``hr-folder``, ``urban100``) return the
image tensor; labelled ones (see :mod:`semcom.data.labelled`) return ``(image, label)``.
Every dataset has ``names`` (one string per item, e.g. the relative file path) for
per-image reports.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from semcom.data.io import SemcomWarning, SizeSpec, load_image_uint8, read_image_size, to_tensor
from semcom.data.transforms import CenterCrop, Compose, RandomCrop, RandomHorizontalFlip, Size
from semcom.errors import SemcomError
from semcom.registry import DATASETS

Transform = Optional[Callable[[Tensor], Tensor]]

#: Environment variable naming the folder that holds the standard dataset folders.
DATA_ROOT_ENV = "SEMCOM_DATA"

#: File suffixes the folder datasets pick up (case-insensitive).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm", ".pnm")


def default_data_root() -> Path | None:
    """Where the standard dataset folders live: ``$SEMCOM_DATA`` if set, else
    ``<repo>/../shared/data`` if that folder exists, else ``None``."""
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env).expanduser()
    beside_repo = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return beside_repo if beside_repo.is_dir() else None


def resolve_root(root: str | os.PathLike[str] | None, *, dataset: str, expected: str,
                 subdir: str | None = None, data_root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of a dataset: ``root`` if given, else ``<data root>/<subdir>``.

    Raises:
        SemcomError: no path can be found, or the folder does not exist.
    """
    if root is not None:
        path = Path(root).expanduser()
    elif subdir is None:
        raise SemcomError(f"dataset {dataset!r} needs root=<folder holding {expected}>")
    else:
        base = Path(data_root).expanduser() if data_root is not None else default_data_root()
        if base is None:
            raise SemcomError(f"no folder given for dataset {dataset!r}: pass root=<folder holding {expected}>, "
                              f"or data_root / env {DATA_ROOT_ENV} = the folder that holds {subdir}/")
        path = base / subdir
    if not path.is_dir():
        hint = f" (did you mean {path / subdir}?)" if subdir and (path / subdir).is_dir() else ""
        what = "is not a folder" if path.exists() else "does not exist"
        raise SemcomError(f"dataset {dataset!r}: {path} {what}; expected a folder holding {expected}{hint}")
    return path


def list_images(root: Path, *, recursive: bool = True, extensions: Sequence[str] = IMAGE_EXTENSIONS) -> list[Path]:
    """Image files under ``root`` (hidden files skipped), sorted by relative path."""
    suffixes = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    candidates = root.rglob("*") if recursive else root.iterdir()
    found = [p for p in candidates
             if p.suffix.lower() in suffixes and p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


@DATASETS.register("folder")
class ImageFolder(Dataset):
    """Every image file in a folder (recursive, sorted by relative path).

    Args:
        root: the folder.
        transform: applied to each ``(3, H, W)`` float32 image in ``[0, 1]``.
        data_root: where to look for ``subdir`` when ``root`` is not given (subclasses).
        recursive: also look in sub-folders.
        extensions: file suffixes to include (default :data:`IMAGE_EXTENSIONS`).
        min_size: reject (``ImageLoadError``) images smaller than this (``int`` or ``(H, W)``).
        max_pixels: reject images with more pixels (default ``io.MAX_PIXELS``).
        cache: keep decoded images (uint8) in memory after the first load.

    Items: the transformed image tensor. ``names`` are relative paths.
    """

    dataset_name = "folder"
    subdir: str | None = None
    expected = "the image files (" + ", ".join(IMAGE_EXTENSIONS) + ")"

    def __init__(self, root: str | os.PathLike[str] | None = None, transform: Transform = None, *,
                 data_root: str | os.PathLike[str] | None = None, recursive: bool = True,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS, min_size: SizeSpec = None,
                 max_pixels: int | None = None, cache: bool = False) -> None:
        self.root = resolve_root(root, dataset=self.dataset_name, expected=self.expected,
                                 subdir=self.subdir, data_root=data_root)
        self.paths = list_images(self.root, recursive=recursive, extensions=extensions)
        if not self.paths:
            hint = (f" (did you mean {self.root / self.subdir}?)"
                    if self.subdir and (self.root / self.subdir).is_dir() else "")
            raise SemcomError(f"dataset {self.dataset_name!r}: found none of {self.expected} in {self.root}{hint}")
        self.names = [p.relative_to(self.root).as_posix() for p in self.paths]
        self.transform = transform
        self.min_size = min_size
        self.max_pixels = max_pixels
        self._cache: dict[int, np.ndarray] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.paths)

    def load_uint8(self, index: int) -> np.ndarray:
        """The ``(H, W, 3)`` uint8 pixels of file ``index`` (before the transform)."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        pixels = load_image_uint8(self.paths[index], min_size=self.min_size, max_pixels=self.max_pixels)
        if self._cache is not None:
            self._cache[index] = pixels
        return pixels

    def __getitem__(self, index: int) -> Any:
        image = to_tensor(self.load_uint8(_check_index(index, len(self))))
        return self.transform(image) if self.transform is not None else image

    def sizes(self) -> list[tuple[int, int]]:
        """``(H, W)`` of every image before the transform, read from the file headers."""
        return [read_image_size(p, max_pixels=self.max_pixels) for p in self.paths]


@DATASETS.register("kodak")
class KodakDataset(ImageFolder):
    """Kodak PhotoCD suite: kodim01..24.png (768x512 or 512x768), whole images.

    ``root`` is the folder of the PNGs; without it, ``<data root>/kodak``.
    """

    dataset_name = "kodak"
    subdir = "kodak"
    expected = "the Kodak PNGs kodim01.png ... kodim24.png"

    def __init__(self, root: str | os.PathLike[str] | None = None, transform: Transform = None, *,
                 data_root: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("recursive", False)
        kwargs.setdefault("extensions", (".png",))
        super().__init__(root, transform, data_root=data_root, **kwargs)
        if len(self) != 24:
            warnings.warn(f"kodak: found {len(self)} PNG files in {self.root}, expected 24", SemcomWarning,
                          stacklevel=2)


@DATASETS.register("hr-folder")
class HRFolder(ImageFolder):
    """A folder of high-resolution images (Urban100, DIV2K, CLIC, ...), optionally as crops.

    Args:
        root, transform, data_root, recursive, extensions, min_size, max_pixels: as
            :class:`ImageFolder`; ``transform`` runs after the crop.
        crop_size: ``int`` or ``(H, W)`` crops; ``None`` returns whole images.
        random_crop: random crop and horizontal flip (training) if True, else a centre crop.
        generator: draws the crop offsets and flips.
        repeats: each image appears this many times per epoch (several crops per decode
            when ``cache`` is on).
        cache: keep decoded images in memory (default: on when cropping).
    """

    dataset_name = "hr-folder"

    def __init__(self, root: str | os.PathLike[str] | None = None, transform: Transform = None, *,
                 data_root: str | os.PathLike[str] | None = None, crop_size: Size | None = None,
                 random_crop: bool = True, generator: torch.Generator | None = None, repeats: int = 1,
                 cache: bool | None = None, **kwargs: Any) -> None:
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise SemcomError(f"repeats must be a positive int, got {repeats!r}")
        super().__init__(root, None, data_root=data_root,
                         cache=(crop_size is not None) if cache is None else cache, **kwargs)
        steps: list[Callable[[Tensor], Tensor]] = []
        if crop_size is not None:
            if random_crop:
                steps += [RandomCrop(crop_size, generator=generator), RandomHorizontalFlip(generator=generator)]
            else:
                steps.append(CenterCrop(crop_size))
        if transform is not None:
            steps.append(transform)
        self.transform = Compose(steps) if steps else None
        self.repeats = repeats
        self.names = [n for _ in range(repeats) for n in self.names]

    def __len__(self) -> int:
        return len(self.paths) * self.repeats

    def __getitem__(self, index: int) -> Any:
        return super().__getitem__(_check_index(index, len(self)) % len(self.paths))

    def sizes(self) -> list[tuple[int, int]]:
        return super().sizes() * self.repeats


@DATASETS.register("urban100")
class Urban100Dataset(HRFolder):
    """Urban100 HR images (img_NNN.png); without ``root``, ``<data root>/urban100``."""

    dataset_name = "urban100"
    subdir = "urban100"
    expected = "the Urban100 PNGs img_001.png ..."


def _check_index(index: int, length: int) -> int:
    if not -length <= index < length:
        raise IndexError(f"index {index} out of range for a dataset of {length} items")
    return index % length


def create_dataset(name: str, root: str | os.PathLike[str] | None = None, **kwargs: Any) -> Dataset:
    """Build the dataset registered as ``name`` (see ``DATASETS.names()``).

    Args:
        name: "folder", "kodak", "hr-folder", "urban100", "cifar10", "cifar10-jpeg",
            "tiny-imagenet-val".
        root: the dataset's folder (optional where a standard sub-folder of the data
            root applies).
        **kwargs: the dataset's own arguments (``transform``, ``split``, ``limit``, ...).
    """
    import semcom.data.labelled  # noqa: F401  (registers the labelled datasets)

    return DATASETS.create(name, root=root, **kwargs)
