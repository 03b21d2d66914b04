"""The cifar10-resnet task model: shapes, eval-mode batch independence, checkpoints of kind
task_model, a falling loss, and its own training loop (augmentation, resume)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semcom.errors import SemcomError
from semcom.registry import DATASETS, TASK_MODELS
from semcom.semantics.classifier import CIFAR10_MEAN, CIFAR10_STD, Cifar10ResNet, describe
from semcom.semantics.train_classifier import (ClassifierTrainConfig, augment, build_optimizer, schedule_lr,
                                               train_classifier)
from semcom.zoo.checkpoint import load_checkpoint, save_checkpoint

TINY = [4, 8, 8, 16]


def _tiny(seed: int = 0, **kwargs: Any) -> Cifar10ResNet:
    torch.manual_seed(seed)
    return Cifar10ResNet(widths=TINY, **kwargs)


def _with_running_stats(model: Cifar10ResNet, gen: torch.Generator) -> Cifar10ResNet:
    """Give batch norm non-trivial running statistics (a few train-mode passes)."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(8, 3, 32, 32, generator=gen) * 0.8 + 0.1)
    return model.eval()


def test_shapes_config_and_errors(gen: torch.Generator) -> None:
    model = _tiny().eval()
    assert "cifar10-resnet" in TASK_MODELS
    assert model(torch.rand(2, 3, 32, 32, generator=gen)).shape == (2, 10)
    assert model(torch.rand(1, 3, 40, 48, generator=gen)).shape == (1, 10)  # global pooling: any size >= 8
    assert _tiny(num_classes=3, pool="avg")(torch.rand(2, 3, 32, 32, generator=gen)).shape == (2, 3)
    assert model.config == {"widths": TINY, "num_classes": 10, "pool": "max", "logit_scale": 0.125,
                            "mean": list(CIFAR10_MEAN), "std": list(CIFAR10_STD)}
    assert json.loads(json.dumps(model.config)) == model.config  # JSON-safe: a checkpoint rebuilds it
    assert not any(k in model.state_dict() for k in ("mean", "std"))  # constants, not weights
    assert Cifar10ResNet().config["widths"] == [32, 64, 128, 256]
    with pytest.raises(SemcomError, match="widths must be 4"):
        Cifar10ResNet(widths=[8, 8])
    with pytest.raises(SemcomError, match="pool must be"):
        Cifar10ResNet(pool="sum")
    with pytest.raises(SemcomError, match="at least 8x8"):
        model(torch.rand(1, 3, 4, 4))
    report = describe(Cifar10ResNet())
    assert 80e6 < report["macs_per_image"] < 110e6 and 1.5e6 < report["parameters"] < 1.8e6  # about 95 M, 1.65 M


def test_normalization_is_inside(gen: torch.Generator) -> None:
    """A constant image at the CIFAR-10 mean enters the network as zeros."""
    model = _tiny().eval()
    seen: list[torch.Tensor] = []
    hook = model.stem.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    model(torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1).expand(1, 3, 32, 32))
    hook.remove()
    assert seen[0].abs().max() < 1e-6


def test_eval_mode_is_batch_independent(gen: torch.Generator) -> None:
    model = _with_running_stats(_tiny(), gen)
    images = torch.rand(5, 3, 32, 32, generator=gen)
    with torch.no_grad():
        together = model(images)
        alone = torch.cat([model(images[i:i + 1]) for i in range(5)])
        shuffled = model(images.flip(0)).flip(0)
    assert torch.allclose(together, alone, atol=1e-5) and torch.allclose(together, shuffled, atol=1e-5)


def test_checkpoint_round_trip_as_a_task_model(tmp_path: Path, gen: torch.Generator) -> None:
    from semcom.metrics.registry import load_classifier
    from semcom.training.auxiliary import build_auxiliary_model
    from semcom.zoo import build
    from semcom.zoo.pretrained import load_built

    model = _with_running_stats(_tiny(), gen)
    path = save_checkpoint(tmp_path / "classifier", model.state_dict(), "cifar10-resnet", model.config,
                           info={"kind": "task_model"})
    images = torch.rand(3, 3, 32, 32, generator=gen)
    with torch.no_grad():
        expected = model(images)
        for loaded in (load_built(path, kind="task_model"), build(str(path)), load_classifier(str(path)),
                       build_auxiliary_model({"path": str(path)}).module):
            assert isinstance(loaded, Cifar10ResNet) and not loaded.training
            assert loaded.config == model.config
            assert torch.equal(loaded(images), expected)


def test_a_tiny_classifier_learns_synthetic_batches(gen: torch.Generator) -> None:
    """Images whose class is their brightest colour channel: the loss falls within a few steps."""
    model = _tiny(num_classes=3).train()
    cfg = ClassifierTrainConfig(lr=0.05, weight_decay=5e-4)
    optimizer = build_optimizer(model, cfg)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [5e-4, 0.0]
    assert all(p.dim() > 1 for p in optimizer.param_groups[0]["params"])
    assert all(p.dim() == 1 for p in optimizer.param_groups[1]["params"])  # no decay on BN parameters
    losses = []
    for _ in range(25):
        labels = torch.randint(0, 3, (32,), generator=gen)
        images = 0.2 + 0.1 * torch.rand(32, 3, 32, 32, generator=gen)
        images[torch.arange(32), labels] += 0.5
        loss = F.cross_entropy(model(images), labels, label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_augment_crops_padded_images_and_flips(gen: torch.Generator) -> None:
    images = torch.rand(6, 3, 8, 8, generator=gen)
    out = augment(images, torch.Generator().manual_seed(3), pad=2, hflip=True)
    g = torch.Generator().manual_seed(3)  # the same draws, in the documented order
    top, left = torch.randint(0, 5, (6,), generator=g), torch.randint(0, 5, (6,), generator=g)
    flip = torch.rand(6, generator=g) < 0.5
    padded = F.pad(images, (2, 2, 2, 2), mode="reflect")
    for i in range(6):
        crop = padded[i, :, top[i]:top[i] + 8, left[i]:left[i] + 8]
        assert torch.equal(out[i], crop.flip(-1) if flip[i] else crop)
    assert torch.equal(augment(images, gen, pad=0, hflip=False), images)


def test_schedule_warms_up_then_decays_to_zero() -> None:
    cfg = ClassifierTrainConfig(lr=0.2, warmup=0.2)
    lrs = [schedule_lr(cfg, s, 100) for s in range(100)]
    assert lrs[0] < lrs[10] < lrs[19] == pytest.approx(0.2)
    assert all(a >= b for a, b in zip(lrs[20:], lrs[21:])) and lrs[-1] < 1e-3


# ------------------------------------------------------------------ the training loop
def _colour_images(root: Any = None, transform: Any = None, limit: int | None = None) -> Any:
    """48 16x16 images labelled by their brightest colour channel (3 classes)."""
    from semcom.data.labelled import ArrayImageDataset

    g = np.random.default_rng(0)
    labels = g.integers(0, 3, size=48)
    pixels = g.uniform(0.1, 0.4, size=(48, 16, 16, 3))
    pixels[np.arange(48), :, :, labels] += 0.5
    data = np.round(255 * pixels).astype(np.uint8)[:limit]
    return ArrayImageDataset(data, torch.from_numpy(labels[:limit]).long(), ("r", "g", "b"),
                             [str(i) for i in range(len(data))], transform)


@pytest.fixture
def colour_data() -> Any:
    DATASETS.register("test-colour")(_colour_images)
    yield "test-colour"
    DATASETS._entries.pop("test-colour", None)
    DATASETS._help.pop("test-colour", None)


def _options(out: Path, **kw: Any) -> dict[str, Any]:
    return {"epochs": 3, "out": str(out), "batch_size": 16, "lr": 0.05, "widths": TINY, "dataset": "test-colour",
            "val_dataset": "test-colour", "val_options": {}, "val_limit": 24, "threads": 1, "pad": 2, **kw}


def test_train_classifier_writes_a_task_model_and_resumes_exactly(colour_data: str, tmp_path: Path) -> None:
    from semcom.zoo.pretrained import load_built

    final = train_classifier(_options(tmp_path / "whole"), verbose=False)
    meta = json.loads(final.with_suffix(".json").read_text())
    assert meta["system"] == "cifar10-resnet" and meta["info"]["kind"] == "task_model"
    assert meta["info"]["class_names"] == ["r", "g", "b"] and meta["info"]["steps"] == 9
    records = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3] and records[-1]["loss"] < records[0]["loss"]
    assert 0.0 <= records[-1]["val_accuracy"] <= 1.0
    model = load_built(final, kind="task_model")
    assert model.num_classes == 3 and not model.training

    class Stop(Exception):
        pass

    def stop_after_first(record: dict[str, Any]) -> None:
        if record["epoch"] == 1:
            raise Stop

    with pytest.raises(Stop):
        train_classifier(_options(tmp_path / "cut", ckpt_every=2), verbose=False, on_epoch=stop_after_first)
    assert not (tmp_path / "cut" / ".lock").exists()  # released on the way out
    resumed = train_classifier(_options(tmp_path / "cut", ckpt_every=2), verbose=False)
    a, b = load_checkpoint(final).tensors, load_checkpoint(resumed).tensors
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)  # bit-identical on CPU

    with pytest.raises(SemcomError, match="trained with lr=0.05, this run asks lr=0.1"):
        train_classifier(_options(tmp_path / "cut", lr=0.1), verbose=False)
    train_classifier(_options(tmp_path / "cut", lr=0.1, epochs=1), restart=True, verbose=False)
    with pytest.raises(SemcomError, match="unknown option 'epoch'"):
        train_classifier({"epoch": 1}, verbose=False)
    with pytest.raises(SemcomError, match="batch_size 64 is larger"):
        train_classifier(_options(tmp_path / "big", batch_size=64), verbose=False)


def test_cli_trains_on_the_cifar10_jpeg_set(shared_data: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from semcom.cli import main

    out = tmp_path / "classifier"
    rc = main(["semantics", "train-classifier", "--epochs", "1", "--out", str(out), "--limit", "64",
               "--batch-size", "32", "--widths", "4,8,8,8", "--val-limit", "50", "--threads", "1", "--quiet"])
    assert rc == 0
    assert "final checkpoint:" in capsys.readouterr().out
    meta = json.loads((out / "final.json").read_text())
    assert meta["info"]["train_images"] == 64 and meta["info"]["class_names"][0] == "airplane"
    assert main(["semantics", "train-classifier", "--widths", "4,8"]) == 2
    assert "--widths must be 4" in capsys.readouterr().err


def test_predict_labels_matches_the_logits_in_any_batching_and_checks_its_input(gen: torch.Generator) -> None:
    from semcom.semantics.train_classifier import evaluate_accuracy, predict_labels

    model = Cifar10ResNet(widths=[4, 4, 8, 8]).eval()
    images = torch.randint(0, 256, (7, 3, 16, 16), generator=gen, dtype=torch.uint8)
    with torch.no_grad():
        expected = model(images.float() / 255.0).argmax(dim=1)
    model.train()
    for batch_size in (1, 3, 100):
        got = predict_labels(model, images, "cpu", batch_size=batch_size)
        assert got.dtype == torch.int64 and torch.equal(got, expected)
    assert model.training  # mode restored
    labels = expected.clone()
    labels[:2] = (labels[:2] + 1) % 10
    assert evaluate_accuracy(model, images, labels, torch.device("cpu")) == pytest.approx(5 / 7)
    with pytest.raises(SemcomError, match="uint8"):
        predict_labels(model, images.float())
    with pytest.raises(SemcomError, match="batch_size"):
        predict_labels(model, images, batch_size=0)
