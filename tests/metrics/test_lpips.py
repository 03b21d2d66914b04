"""LPIPS from a local file: clear errors, round trip, conversion of original layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from semcom.errors import SemcomError
from semcom.metrics import convert_lpips
from semcom.metrics.lpips import (
    LPIPS,
    LPIPS_ENV_VAR,
    LPIPS_NETS,
    expected_lpips_keys,
    load_lpips,
    lpips_distance,
    save_lpips_weights,
)


def random_lpips(seed: int = 0) -> LPIPS:
    torch.manual_seed(seed)
    model = LPIPS("alex")
    for lin in model.lins:  # LPIPS heads are non-negative (clamped in training)
        lin.weight.uniform_(0.0, 1.0)
    return model


@pytest.fixture
def weights_file(tmp_path: Path) -> tuple[LPIPS, Path]:
    model = random_lpips()
    path = save_lpips_weights(model.state_dict(), tmp_path / "lpips_alex.safetensors", "alex")
    return model, path


def test_missing_file_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(LPIPS_ENV_VAR, raising=False)
    with pytest.raises(SemcomError, match=f"none was given.*{LPIPS_ENV_VAR}.*lins"):
        load_lpips()
    with pytest.raises(SemcomError, match=r"not found at .*nope\.safetensors.*convert_lpips.*lins"):
        load_lpips(tmp_path / "nope.safetensors")
    monkeypatch.setenv(LPIPS_ENV_VAR, str(tmp_path / "also_missing.safetensors"))
    with pytest.raises(SemcomError, match="also_missing"):
        lpips_distance(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))


def test_malformed_files_are_clear_errors(tmp_path: Path, weights_file) -> None:
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"this is not a safetensors file")
    with pytest.raises(SemcomError, match="not a readable safetensors file"):
        load_lpips(garbage)
    model, _ = weights_file
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    del state["lins.4.weight"]
    save_file(state, str(tmp_path / "partial.safetensors"))
    with pytest.raises(SemcomError, match=r"lacks LPIPS-alex tensors lins\.4\.weight"):
        load_lpips(tmp_path / "partial.safetensors")
    state["lins.4.weight"] = torch.ones(1, 128, 1, 1)
    save_file(state, str(tmp_path / "wrong.safetensors"))
    wrong_shape = r"lins\.4\.weight has shape \(1, 128, 1, 1\), expected \(1, 256, 1, 1\)"
    with pytest.raises(SemcomError, match=wrong_shape):
        load_lpips(tmp_path / "wrong.safetensors")


def test_round_trip_identical_zero_different_positive(weights_file, monkeypatch, gen) -> None:
    model, path = weights_file
    loaded = load_lpips(path)
    assert loaded.net == "alex"
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = torch.rand(3, 3, 64, 64, generator=gen)
    y = x.clone()
    y[1] = (y[1] + 0.05 * torch.randn(y[1].shape, generator=gen)).clamp(0, 1)
    y[2] = torch.rand(y[2].shape, generator=gen)
    d = loaded(x, y)
    assert d.shape == (3,)
    assert d[0].item() == 0.0
    assert 0 < d[1].item() < d[2].item()
    torch.testing.assert_close(d, model(x, y))
    # the evaluation metric finds the file through the environment variable
    monkeypatch.setenv(LPIPS_ENV_VAR, str(path))
    metric = lpips_distance(x, y)
    assert metric[0].item() == 0.0 and torch.all(metric[1:] > 0)


def test_forward_matches_a_hand_written_lpips(weights_file, gen) -> None:
    # independent re-statement of LPIPS: scale, unit-normalize channels, squared
    # difference, weighted channel sum, spatial mean, sum over the five ReLU taps
    model, _ = weights_file
    x, y = torch.rand(2, 3, 48, 48, generator=gen), torch.rand(2, 3, 48, 48, generator=gen)
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    feats = []
    for img in (x, y):
        h = (img * 2 - 1 - shift) / scale
        taps = []
        for i, layer in enumerate(model.features):
            h = layer(h)
            if i in (1, 4, 7, 9, 11):
                taps.append(h / (torch.linalg.vector_norm(h, dim=1, keepdim=True) + 1e-10))
        feats.append(taps)
    expected = sum(
        ((fx - fy) ** 2 * lin.weight.view(1, -1, 1, 1)).sum(1).mean(dim=(1, 2))
        for lin, fx, fy in zip(model.lins, *feats)
    )
    torch.testing.assert_close(model(x, y), expected)


@pytest.mark.parametrize("net", sorted(LPIPS_NETS))
def test_module_layout_is_the_documented_file_layout(net: str) -> None:
    expected = expected_lpips_keys(net)
    assert len(expected) == {"alex": 2 * 5 + 5, "vgg": 2 * 13 + 5}[net]
    state = LPIPS(net).state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == expected


def _lpips_package_style(model: LPIPS) -> dict[str, torch.Tensor]:
    """The key names a saved ``lpips.LPIPS`` state dict uses (slices keep indices)."""
    taps = LPIPS_NETS["alex"][1]
    out = {"scaling_layer.shift": torch.zeros(1, 3, 1, 1), "scaling_layer.scale": torch.ones(3)}
    for key, value in model.state_dict().items():
        if key.startswith("features."):
            index = int(key.split(".")[1])
            slice_no = 1 + sum(t < index for t in taps)
            out[f"net.slice{slice_no}.{index}.{key.split('.')[2]}"] = value
        else:
            k = key.split(".")[1]
            out[f"lin{k}.model.1.weight"] = value
            out[f"lins.{k}.model.1.weight"] = value
    return out


def test_convert_torchvision_trunk_plus_heads(tmp_path: Path, gen) -> None:
    model = random_lpips(seed=1)
    trunk = {k: v for k, v in model.state_dict().items() if k.startswith("features.")}
    trunk["classifier.1.weight"] = torch.zeros(4096, 9216 // 64)  # dropped
    heads = {
        f"lin{k.split('.')[1]}.model.1.weight": v
        for k, v in model.state_dict().items()
        if k.startswith("lins.")
    }
    torch.save(trunk, tmp_path / "alexnet.pth")
    torch.save(heads, tmp_path / "alex.pth")
    out = tmp_path / "converted.safetensors"
    trunk_path, heads_path = str(tmp_path / "alexnet.pth"), str(tmp_path / "alex.pth")
    argv = ["--net", "alex", "--trunk", trunk_path, "--heads", heads_path, "-o", str(out)]
    rc = convert_lpips.main(argv)
    assert rc == 0
    x, y = torch.rand(2, 3, 64, 64, generator=gen), torch.rand(2, 3, 64, 64, generator=gen)
    torch.testing.assert_close(load_lpips(out)(x, y), model(x, y))


def test_convert_lpips_package_state_dict(tmp_path: Path, gen, capsys) -> None:
    model = random_lpips(seed=2)
    torch.save(_lpips_package_style(model), tmp_path / "full.pth")
    out = convert_lpips.convert_lpips_files(
        tmp_path / "o.safetensors", tmp_path / "full.pth", net="alex"
    )
    x, y = torch.rand(1, 3, 64, 64, generator=gen), torch.rand(1, 3, 64, 64, generator=gen)
    torch.testing.assert_close(load_lpips(out)(x, y), model(x, y))
    # heads alone are not enough, and the CLI reports that on one line
    torch.save({"lin0.model.1.weight": torch.ones(1, 64, 1, 1)}, tmp_path / "heads.pth")
    argv = ["--heads", str(tmp_path / "heads.pth"), "-o", str(tmp_path / "x.safetensors")]
    assert convert_lpips.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "features.0.weight" in err and "\n" not in err


@pytest.mark.parametrize(
    ("net", "size", "expected"),
    [
        # AlexNet's well-known maps at 224 px: 55, 27, 13, 13, 13
        ("alex", 224, [(64, 55), (192, 27), (384, 13), (256, 13), (256, 13)]),
        # VGG-16 halves the size before each of the last four taps
        ("vgg", 32, [(64, 32), (128, 16), (256, 8), (512, 4), (512, 2)]),
    ],
)
def test_feature_taps_have_the_published_sizes(net: str, size: int, expected) -> None:
    model = LPIPS(net)
    maps = model._feature_maps(torch.rand(1, 3, size, size))
    assert [(m.shape[1], m.shape[2]) for m in maps] == expected
    for m in maps:  # unit length over channels, or zero where every ReLU is off
        norms = torch.linalg.vector_norm(m, dim=1)
        assert torch.all(((norms - 1).abs() < 1e-4) | (norms < 1e-6))
