"""Batching variable-size evaluation images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from semcom.data import (ImageFolder, SizeGroupedBatchSampler, collate_images, group_by_size, image_sizes,
                         item_image)
from semcom.errors import SemcomError


def test_collate_stacks_images_and_labels():
    a, b = torch.rand(3, 4, 5), torch.rand(3, 4, 5)
    assert torch.equal(collate_images([a, b]), torch.stack([a, b]))
    images, labels = collate_images([(a, 3), (b, 7)])
    assert torch.equal(images, torch.stack([a, b]))
    assert labels.dtype == torch.int64 and labels.tolist() == [3, 7]


def test_collate_refuses_mixed_sizes_with_a_hint():
    with pytest.raises(SemcomError, match="batch_size=1 or SizeGroupedBatchSampler"):
        collate_images([torch.rand(3, 4, 5), torch.rand(3, 5, 4)])
    with pytest.raises(SemcomError):
        collate_images([])


def test_group_by_size_keeps_order_and_batch_limit():
    sizes = [(2, 3), (3, 2), (2, 3), (2, 3), (3, 2), (2, 3)]
    assert group_by_size(sizes, 2) == [[0, 2], [3, 5], [1, 4]]
    assert group_by_size(sizes, 10) == [[0, 2, 3, 5], [1, 4]]
    assert group_by_size(sizes, 1) == [[i] for i in (0, 2, 3, 5, 1, 4)]
    with pytest.raises(SemcomError):
        group_by_size(sizes, 0)


def test_size_grouped_loader_covers_every_image_once(tmp_path):
    shapes = [(8, 12), (12, 8), (8, 12), (5, 5), (8, 12), (12, 8), (8, 12)]
    for i, (h, w) in enumerate(shapes):
        Image.fromarray(np.full((h, w, 3), i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    ds = ImageFolder(tmp_path)
    assert image_sizes(ds) == shapes
    sampler = SizeGroupedBatchSampler.from_dataset(ds, batch_size=3)
    loader = DataLoader(ds, batch_sampler=sampler, collate_fn=collate_images)
    seen = []
    for batch in loader:
        assert batch.dim() == 4 and batch.shape[0] <= 3
        seen += [int(round(float(x[0, 0, 0]) * 255)) for x in batch]  # each image is filled with its index
    assert sorted(seen) == list(range(len(shapes)))
    assert len(sampler) == 4  # (8, 12) x4 -> 2 batches, (12, 8) x2, (5, 5) x1


def test_image_sizes_falls_back_to_loading_items():
    items = [(torch.rand(3, 2, 4), 0), (torch.rand(3, 6, 1), 1)]
    assert image_sizes(items) == [(2, 4), (6, 1)]


def test_item_image_finds_the_image_in_every_item_form():
    image = torch.rand(3, 5, 7, dtype=torch.float64)
    for item in (image, (image, 4), [image], {"image": image, "label": 4}, image[None]):
        out = item_image(item)
        assert out.dtype == torch.float32 and torch.equal(out, image.float())
    for bad in (torch.rand(1, 5, 7), torch.rand(2, 3, 5, 7), (), {"label": 1}, "x.png"):
        with pytest.raises(SemcomError, match="item 9 is not an RGB image"):
            item_image(bad, "item 9")
