"""Tensor transforms: crops, flips, padding, and the pad-and-crop-back round trip."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semcom.data.transforms import (
    CenterCrop,
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    crop_to,
    pad_hw,
    pad_to_multiple,
)
from semcom.errors import SemcomError


def _image(c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(c, h, w, generator=torch.Generator().manual_seed(seed))


def _find_window(big: torch.Tensor, small: torch.Tensor) -> list[tuple[int, int]]:
    h, w = small.shape[-2:]
    return [(t, l) for t in range(big.shape[-2] - h + 1) for l in range(big.shape[-1] - w + 1)
            if torch.equal(big[..., t:t + h, l:l + w], small)]


# ----------------------------------------------------------------------------- pad and crop back
@pytest.mark.parametrize("mode", ["replicate", "reflect", "constant"])
@pytest.mark.parametrize("size", [(33, 17), (1, 1), (64, 48), (5, 70)])
@pytest.mark.parametrize("multiple", [1, 16, 64])
def test_pad_to_multiple_and_crop_to_round_trip_exactly(mode, size, multiple):
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(1))
    padded, original = pad_to_multiple(x, multiple, mode=mode)
    assert original == size
    assert padded.shape[-2] % multiple == 0 and padded.shape[-1] % multiple == 0
    assert padded.shape[-2] - size[0] < multiple and padded.shape[-1] - size[1] < multiple
    assert torch.equal(padded[..., : size[0], : size[1]], x)  # padding only at bottom/right
    assert torch.equal(crop_to(padded, original), x)


def test_replicate_padding_repeats_the_last_row_and_column():
    x = _image(3, 5, 7)
    padded, _ = pad_to_multiple(x[None], 8)
    assert padded.shape == (1, 3, 8, 8)
    assert torch.equal(padded[0, :, 5:, :7], x[:, 4:5, :].expand(3, 3, 7))
    assert torch.equal(padded[0, :, :5, 7], x[:, :, 6])
    assert torch.equal(padded[0, :, 7, 7], x[:, 4, 6])


def test_reflect_padding_keeps_mirroring_beyond_the_image_size():
    row = torch.tensor([[[1.0, 2.0, 3.0]]])  # (1, 1, 3)
    out = pad_hw(row, 0, 0, 0, 5, mode="reflect")
    assert out[0, 0].tolist() == [1, 2, 3, 2, 1, 2, 3, 2]
    single = torch.tensor([[[4.0]]])
    assert pad_hw(single, 1, 2, 0, 3, mode="reflect").unique().tolist() == [4.0]
    # within torch's own range it is torch's reflect
    x = _image(3, 6, 5)
    assert torch.equal(pad_hw(x, 2, 3, 4, 1, "reflect"), F.pad(x[None], (4, 1, 2, 3), mode="reflect")[0])


def test_pad_to_multiple_rejects_bad_arguments():
    x = _image(3, 4, 4)
    for bad in (0, -16, 2.5, True):
        with pytest.raises(SemcomError):
            pad_to_multiple(x, bad)
    with pytest.raises(SemcomError, match="padding mode"):
        pad_to_multiple(x, 8, mode="circular")
    with pytest.raises(SemcomError, match="larger"):
        crop_to(x, (5, 4))


# ----------------------------------------------------------------------------- random crop
def test_random_crop_is_deterministic_with_a_seeded_generator():
    x = _image(3, 40, 50)
    crops = []
    for _ in range(2):
        crop = RandomCrop(16, generator=torch.Generator().manual_seed(5))
        crops.append([crop(x) for _ in range(5)])
    for a, b in zip(*crops):
        assert torch.equal(a, b)
    offsets = {_find_window(x, c)[0] for c in crops[0]}
    assert len(offsets) > 1  # successive draws differ


def test_random_crop_is_a_window_and_covers_every_offset(gen):
    x = _image(3, 10, 12)
    crop = RandomCrop((8, 9), generator=gen)
    seen = set()
    for _ in range(200):
        out = crop(x)
        assert out.shape == (3, 8, 9)
        (offset,) = _find_window(x, out)
        seen.add(offset)
    assert seen == {(t, l) for t in range(3) for l in range(4)}


def test_random_crop_pads_small_images_by_reflection(gen):
    x = _image(3, 3, 3)
    out = RandomCrop(5, generator=gen)(x)
    assert torch.equal(out, F.pad(x[None], (1, 1, 1, 1), mode="reflect")[0])
    tiny = RandomCrop((4, 6), generator=gen)(_image(3, 1, 1))
    assert tiny.shape == (3, 4, 6) and torch.equal(tiny, _image(3, 1, 1).expand(3, 4, 6))


def test_random_crop_uses_one_offset_for_a_batch(gen):
    x = torch.rand(4, 3, 20, 20, generator=gen)
    out = RandomCrop(7, generator=gen)(x)
    assert out.shape == (4, 3, 7, 7)
    offsets = {_find_window(x[i], out[i])[0] for i in range(4)}
    assert len(offsets) == 1


# ----------------------------------------------------------------------------- others
def test_center_crop_takes_the_middle_with_the_odd_pixel_bottom_right():
    x = torch.arange(5 * 6, dtype=torch.float32).reshape(1, 5, 6)
    out = CenterCrop((2, 3))(x)
    assert torch.equal(out, x[:, 1:3, 1:4])
    assert CenterCrop(8)(x).shape == (1, 8, 8)


def test_horizontal_flip_probabilities(gen):
    x = _image(3, 4, 5)
    assert torch.equal(RandomHorizontalFlip(0.0, generator=gen)(x), x)
    assert torch.equal(RandomHorizontalFlip(1.0, generator=gen)(x), x[..., torch.arange(4, -1, -1)])
    flip = RandomHorizontalFlip(0.5, generator=gen)
    flips = sum(not torch.equal(flip(x), x) for _ in range(400))
    assert 150 < flips < 250  # Binomial(400, 0.5): mean 200, sd 10
    with pytest.raises(SemcomError):
        RandomHorizontalFlip(1.5)


def test_flip_is_deterministic_with_a_seeded_generator():
    x = _image(3, 4, 5)
    runs = [[bool(torch.equal(f(x), x)) for _ in range(30)]
            for f in (RandomHorizontalFlip(generator=torch.Generator().manual_seed(9)) for _ in range(2))]
    assert runs[0] == runs[1]


def test_compose_applies_in_order():
    x = torch.arange(16, dtype=torch.float32).reshape(1, 4, 4)
    out = Compose([CenterCrop(2), RandomHorizontalFlip(1.0)])(x)
    assert out[0].tolist() == [[6.0, 5.0], [10.0, 9.0]]
    with pytest.raises(SemcomError):
        Compose([CenterCrop(2), "not a transform"])


@pytest.mark.parametrize("size", [0, -3, (4,), (4, 0), 2.5, "8"])
def test_bad_crop_sizes_are_rejected(size):
    with pytest.raises(SemcomError):
        RandomCrop(size)
    with pytest.raises(SemcomError):
        CenterCrop(size)
