"""The step-indexed data order: reconstructible, sharded across ranks, epoch-complete."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from semcom.data.io import to_tensor
from semcom.errors import SemcomError
from semcom.training.config import DataSpec
from semcom.training.data import Batch, StepBatchSampler, TrainSamples, ValSamples, build_dataset, collate_samples


def test_order_depends_only_on_seed_and_step() -> None:
    full = StepBatchSampler(50, 8, seed=1, total_steps=20)
    resumed = StepBatchSampler(50, 8, seed=1, start_step=13, total_steps=20)
    assert list(full)[13:] == list(resumed)
    assert list(StepBatchSampler(50, 8, seed=2, total_steps=20)) != list(full)


def test_epochs_visit_each_sample_once() -> None:
    sampler = StepBatchSampler(50, 8, seed=0, total_steps=12)  # 6 batches per epoch, 2 dropped
    batches = list(sampler)
    for epoch in range(2):
        seen = [i for b in batches[6 * epoch:6 * (epoch + 1)] for i, _ in b]
        assert len(seen) == len(set(seen)) == 48
    first = [i for i, _ in batches[0]]
    assert first != [i for i, _ in batches[6]]  # a new permutation each epoch


def test_ranks_split_the_global_batch() -> None:
    single = StepBatchSampler(40, 8, seed=5, total_steps=9)
    ranks = [StepBatchSampler(40, 8, seed=5, rank=r, world_size=2, total_steps=9) for r in range(2)]
    for step in range(9):
        assert ranks[0].batch(step) + ranks[1].batch(step) == single.batch(step)
        assert not {i for i, _ in ranks[0].batch(step)} & {i for i, _ in ranks[1].batch(step)}


def test_sampler_rejects_bad_sizes() -> None:
    with pytest.raises(SemcomError, match="divisible"):
        StepBatchSampler(40, 7, seed=0, world_size=2)
    with pytest.raises(SemcomError, match="fewer than batch_size"):
        StepBatchSampler(5, 8, seed=0)


def test_crops_are_a_function_of_the_key(image_folder: Path) -> None:
    dataset = build_dataset(DataSpec(name="folder", root=str(image_folder)))
    view = TrainSamples(dataset, crop=16, hflip=True)
    (a, label), (b, _) = view[(3, 123)], view[(3, 123)]
    assert a.shape == (3, 16, 16) and torch.equal(a, b) and label is None  # a folder has no labels
    whole = dataset[3]
    found = any(torch.equal(a, img[:, t:t + 16, s:s + 16])
                for img in (whole, whole.flip(-1)) for t in range(5) for s in range(9))
    assert found  # a crop of the image (possibly mirrored), not a resampled one
    crops = {tuple(view[(3, seed)][0].flatten()[:40].tolist()) for seed in range(30)}
    assert len(crops) > 5  # other seeds, other windows


def test_limit_sources_and_validation_batches(image_folder: Path) -> None:
    spec = DataSpec(sources=[{"name": "folder", "root": str(image_folder)}] * 2, limit=30)
    dataset = build_dataset(spec)
    assert len(dataset) == 30 and torch.equal(dataset[24], dataset[0])  # second copy starts at 24
    val = ValSamples(build_dataset(DataSpec(name="folder", root=str(image_folder), limit=5)), crop=None)
    assert val.batches(2) == [[0, 1], [2, 3], [4]]
    assert val[4].shape == (3, 20, 24)


def test_unknown_dataset_argument_is_named(image_folder: Path) -> None:
    with pytest.raises(SemcomError, match="data: dataset 'folder' does not take crop_size"):
        build_dataset(DataSpec(name="folder", root=str(image_folder), options={"crop_size": 3}))


@pytest.mark.parametrize("hflip", [True, False])
def test_array_batches_match_the_image_by_image_path(hflip: bool) -> None:
    """The batched path for in-memory arrays (CIFAR-10) gives the same pixels and flips."""
    from torch.utils.data import DataLoader, Subset

    from semcom.data.labelled import ArrayImageDataset

    pixels = np.random.default_rng(0).integers(0, 256, size=(40, 6, 5, 3), dtype=np.uint8)
    labels = torch.arange(40, dtype=torch.int64) % 3
    base = ArrayImageDataset(pixels, labels, ("a", "b", "c"), [str(i) for i in range(40)], None)
    samples = TrainSamples(Subset(base, range(5, 37)), None, hflip)
    keys = StepBatchSampler(32, 16, seed=2, total_steps=3).batch(1)
    batched = samples.__getitems__(keys)
    one_by_one = collate_samples([samples[k] for k in keys])
    assert isinstance(batched, Batch) and batched.images.shape == (16, 3, 6, 5)
    assert torch.equal(batched.images, one_by_one.images)
    assert batched.labels.tolist() == one_by_one.labels.tolist() == [(5 + i) % 3 for i, _ in keys]
    flipped = sum(not torch.equal(samples[k][0], to_tensor(pixels[5 + k[0]])) for k in keys)
    assert (0 < flipped < 16) if hflip else flipped == 0
    loader = DataLoader(samples, batch_sampler=StepBatchSampler(32, 16, seed=2, total_steps=3),
                        collate_fn=collate_samples)
    assert torch.equal(list(loader)[1].images, one_by_one.images)  # DataLoader calls __getitems__


def test_crop_or_transform_keeps_the_image_by_image_path(image_folder: Path) -> None:
    samples = TrainSamples(build_dataset(DataSpec(name="folder", root=str(image_folder))), 8, True)
    keys = StepBatchSampler(len(samples), 4, seed=0, total_steps=1).batch(0)
    batch = samples.__getitems__(keys)
    assert isinstance(batch, list) and all(torch.equal(a, samples[k][0]) for (a, _), k in zip(batch, keys))
    collated = collate_samples(batch)
    assert collated.images.shape == (4, 3, 8, 8) and collated.labels is None


def test_pad_then_crop_takes_windows_of_the_reflect_padded_image() -> None:
    from torch.utils.data import TensorDataset

    from semcom.training.config import config_from_dict

    image = torch.rand(3, 8, 8)
    padded = torch.nn.functional.pad(image[None], (2, 2, 2, 2), mode="reflect")[0]
    view = TrainSamples(TensorDataset(image[None]), crop=8, hflip=False, pad=2)
    offsets = set()
    for seed in range(60):
        crop = view[(0, seed)][0]
        assert crop.shape == (3, 8, 8)
        hits = [(t, s) for t in range(5) for s in range(5) if torch.equal(crop, padded[:, t:t + 8, s:s + 8])]
        assert hits  # a window of the mirrored border, never a resampled one
        offsets.update(hits)
    assert len(offsets) > 10 and any(t != 2 or s != 2 for t, s in offsets)  # the crop moves into the border
    assert torch.equal(TrainSamples(TensorDataset(image[None]), crop=8, hflip=False)[(0, 5)][0], image)
    with pytest.raises(SemcomError, match="needs data.crop"):
        config_from_dict({"model": {"name": "convjscc"}, "data": {"name": "folder", "root": "x", "pad": 4}})
    with pytest.raises(SemcomError, match="val_data"):
        config_from_dict({"model": {"name": "convjscc"}, "data": {"name": "folder", "root": "x"},
                          "val_data": {"name": "folder", "root": "x", "pad": 4}})
    cfg = config_from_dict({"model": {"name": "convjscc"}, "data": {"name": "folder", "root": "x", "crop": 32, "pad": 4}})
    assert cfg.data.pad == 4 and cfg.to_dict()["data"]["pad"] == 4
