"""End to end: a two-stage run whose second stage adds a module and loads the first
partially, and a weighted MSE from a frozen auxiliary classifier on labelled batches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from semcom.errors import SemcomError
from semcom.registry import DATASETS, TASK_MODELS
from semcom.training import Trainer, train
from semcom.zoo.checkpoint import load_checkpoint, save_checkpoint
from support.toy_models import TOY_NAME, register_toy, unregister_toy


def _info(path: Path) -> dict[str, Any]:
    return json.loads(path.with_name(path.name + ".json").read_text())["info"]


def _losses(out_dir: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (out_dir / "metrics.jsonl").read_text().splitlines())
            if r["kind"] == "train"]


@pytest.fixture
def toy() -> Any:
    register_toy()
    yield TOY_NAME
    unregister_toy()


def test_two_stages_the_second_adds_a_module_and_loads_the_first(tiny_config: dict[str, Any], toy: str,
                                                                 tmp_path: Path) -> None:
    from semcom.models import create_model
    from semcom.training.data import derive_seed
    from semcom.training.trainer import _seed_globals

    config = {**tiny_config, "model": {"name": toy}, "val_data": None, "steps": 3, "log_every": 3,
              "ckpt_every": 0, "out_dir": str(tmp_path / "staged"),
              "stages": [{"name": "s1"},
                         {"name": "s2", "steps": 2, "model": {"refine": True}, "modes": {"quantize": "ste"},
                          "init_from": {"path": "previous", "strict": False}, "freeze": ["scale"]}]}
    final = train(config, verbose=False)
    s1, s2 = tmp_path / "staged" / "s1" / "final", tmp_path / "staged" / "s2" / "final"
    assert final == s2 and s1.with_suffix(".safetensors").is_file()
    first, second = load_checkpoint(s1).tensors, load_checkpoint(s2).tensors
    assert set(first) == {"scale"} and set(second) == {"scale", "refine.weight", "refine.bias"}
    assert torch.equal(second["scale"], first["scale"])  # loaded, then frozen in stage 2

    info = _info(s2)
    record = info["init_from"]
    assert record["source"] == str(s1) and record["loaded"] == ["scale"]
    assert record["left_at_init"] == ["refine.weight", "refine.bias"]
    assert record["left_at_init_reasons"]["refine.bias"] == "not in the checkpoint"
    assert info["modes"] == {"quantize": "ste"} and info["frozen"] == ["scale"]
    assert _info(s1)["modes"] == {"quantize": "noise"}
    # the new layer started at its initialization and moved by at most lr per Adam step
    _seed_globals(derive_seed("init", tiny_config["seed"]))
    fresh = create_model(toy, refine=True).state_dict()
    lr = tiny_config["optimizer"]["lr"]
    for key in ("refine.weight", "refine.bias"):
        assert (second[key] - fresh[key]).abs().max() <= 2 * lr * 1.01

    # loaded back, each stage's model is in the training modes it ran in, from final or last
    from semcom.models import load_model
    from semcom.zoo import build

    assert build(str(s2)).mode == {"quantize": "ste"} and load_model(s1).mode == {"quantize": "noise"}
    from_last = load_model(s2.with_name("last"))
    assert from_last.mode == {"quantize": "ste"}
    assert all(torch.equal(v, second[k]) for k, v in from_last.state_dict().items())

    again = train(config, verbose=False)  # both stages complete: nothing retrains
    assert again == s2 and torch.equal(load_checkpoint(s2).tensors["refine.weight"], second["refine.weight"])


def test_stage_keys_merge_into_the_base() -> None:
    from semcom.training.stages import stage_configs

    base = {"model": {"name": "convjscc", "cbr": "1/12"}, "optimizer": {"lr": 1e-3, "eps": 1e-7},
            "init_from": {"path": "zoo-name", "exclude": ["decoder.*"]}, "loss": {"name": "ssim", "aux": False},
            "out_dir": "runs/x"}
    stages = stage_configs({**base, "stages": [
        {"name": "a"},
        {"name": "b", "model": {"refine": True}, "optimizer": {"lr": 1e-4}, "init_from": {"path": "previous"},
         "loss": {"name": "mse"}}]})
    (a, first), (b, second) = stages
    assert (a, b) == ("a", "b") and first["out_dir"] == "runs/x/a" and second["out_dir"] == "runs/x/b"
    assert first["init_from"] == base["init_from"] and first["model"] == base["model"]
    assert second["model"] == {"name": "convjscc", "cbr": "1/12", "refine": True}  # merged
    assert second["optimizer"] == {"lr": 1e-4, "eps": 1e-7}
    assert second["init_from"] == {"path": "previous"} and second["loss"] == {"name": "mse"}  # replaced whole


def test_stage_errors_are_clear(tiny_config: dict[str, Any], tmp_path: Path) -> None:
    base = {**tiny_config, "out_dir": str(tmp_path / "bad")}
    with pytest.raises(SemcomError, match="no previous stage"):
        train({**base, "stages": [{"name": "a", "init_from": "previous"}]}, verbose=False)
    with pytest.raises(SemcomError, match="must be unique"):
        train({**base, "stages": [{"name": "a"}, {"name": "a"}]}, verbose=False)
    with pytest.raises(SemcomError, match="cannot set out_dir"):
        train({**base, "stages": [{"name": "a", "out_dir": "x"}]}, verbose=False)
    with pytest.raises(SemcomError, match="chains stages"):
        Trainer({**base, "stages": [{"name": "a"}]})


class _TinyClassifier(nn.Module):
    """Mean colour -> 3 logits."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.head = nn.Linear(3, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.mean(dim=(2, 3)))


def _labelled_images(root: Any = None, transform: Any = None) -> Any:
    """40 smooth 16x16 images, labelled by their dominant colour channel."""
    from semcom.data.labelled import ArrayImageDataset

    g = np.random.default_rng(5)
    colour = g.uniform(0.1, 0.9, size=(40, 1, 1, 3))
    ramp = np.linspace(0, 0.1, 16)[None, :, None, None]
    pixels = np.clip(255 * (colour + ramp), 0, 255).astype(np.uint8)
    labels = torch.from_numpy(colour[:, 0, 0, :].argmax(axis=1)).long()
    return ArrayImageDataset(pixels, labels, ("r", "g", "b"), [str(i) for i in range(40)], transform)


@pytest.fixture
def labelled_task(tmp_path: Path) -> Any:
    TASK_MODELS.register("test-tiny-classifier")(_TinyClassifier)
    DATASETS.register("test-labelled")(_labelled_images)
    torch.manual_seed(4)
    classifier = _TinyClassifier()
    path = save_checkpoint(tmp_path / "classifier", classifier.state_dict(), "test-tiny-classifier", {},
                           info={"kind": "task_model"})
    yield path
    for registry, name in ((TASK_MODELS, "test-tiny-classifier"), (DATASETS, "test-labelled")):
        registry._entries.pop(name, None)
        registry._help.pop(name, None)


def test_weighted_mse_from_a_frozen_classifier_on_labelled_batches(tiny_config: dict[str, Any], labelled_task: Path,
                                                                  tmp_path: Path) -> None:
    cfg = {**tiny_config, "data": {"name": "test-labelled", "hflip": True}, "val_data": None, "steps": 40,
           "log_every": 10, "ckpt_every": 0, "snr_db": 20, "optimizer": {"lr": 1e-2},
           "loss": {"name": "weighted-mse", "aux_model": {"path": str(labelled_task)}, "target": "label"},
           "out_dir": str(tmp_path / "weighted")}
    trainer = Trainer(cfg, verbose=False)
    final = trainer.run()
    losses = _losses(tmp_path / "weighted")
    assert losses[-1] < 0.9 * losses[0]  # about 0.75

    classifier = trainer.objective.terms[0].aux_model.module
    stored = load_checkpoint(labelled_task).tensors
    assert all(torch.equal(p, stored[k]) for k, p in classifier.state_dict().items())  # unchanged
    assert not any(p.requires_grad for p in classifier.parameters())
    weights = load_checkpoint(final).tensors
    assert set(weights) == set(trainer.model.state_dict())  # nothing of the classifier
    groups = load_checkpoint(tmp_path / "weighted" / "last").info["training"]["optimizer"]["param_groups"]
    assert sum(len(g["params"]) for g in groups) == len(list(trainer.model.parameters()))

    from semcom.training import build_objective

    by_name = build_objective({"name": "weighted-mse", "aux_model": {"name": "test-tiny-classifier", "classes": 3}})
    assert list(by_name.parameters()) and not any(p.requires_grad for p in by_name.parameters())
    with pytest.raises(SemcomError, match="holds a system, not a task model"):
        build_objective({"name": "weighted-mse", "aux_model": {"path": str(final)}})
    with pytest.raises(SemcomError, match="needs a labelled training set"):
        train({**cfg, "data": tiny_config["data"], "steps": 1, "out_dir": str(tmp_path / "unlabelled")},
              verbose=False)


def test_an_auxiliary_model_built_by_name_starts_from_the_run_seed(tiny_config: dict[str, Any],
                                                                   labelled_task: Path, tmp_path: Path) -> None:
    cfg = {**tiny_config, "data": {"name": "test-labelled"}, "val_data": None,
           "loss": {"name": "weighted-mse", "aux_model": {"name": "test-tiny-classifier", "classes": 3}},
           "out_dir": str(tmp_path / "aux")}

    def aux_weights(config: dict[str, Any], global_seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(global_seed)
        torch.rand(7)  # the caller's own use of the global generator
        before = torch.get_rng_state()
        trainer = Trainer(config, verbose=False)
        assert torch.equal(torch.get_rng_state(), before)  # the caller's generator is left alone
        return trainer.objective.terms[0].aux_model.module.state_dict()

    first, second = aux_weights(cfg, 0), aux_weights(cfg, 12345)
    assert set(first) == {"head.weight", "head.bias"}
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = aux_weights({**cfg, "seed": cfg["seed"] + 1}, 0)
    assert not torch.equal(first["head.weight"], other["head.weight"])  # it follows the run seed


def test_a_stage_starts_from_an_earlier_stage_by_name(tiny_config: dict[str, Any], toy: str, tmp_path: Path) -> None:
    config = {**tiny_config, "model": {"name": toy}, "val_data": None, "steps": 2, "log_every": 2,
              "ckpt_every": 0, "out_dir": str(tmp_path / "named"),
              "stages": [{"name": "base"},
                         {"name": "tuned", "init_from": "previous", "modes": {"quantize": "ste"}},
                         {"name": "twin", "init_from": {"path": "stage:base"}, "modes": {"quantize": "ste"}}]}
    final = train(config, verbose=False)
    root = tmp_path / "named"
    assert final == root / "twin" / "final"
    assert _info(root / "tuned" / "final")["init_from"]["source"] == str(root / "base" / "final")
    assert _info(root / "twin" / "final")["init_from"]["source"] == str(root / "base" / "final")
    base, twin = (load_checkpoint(root / n / "final").tensors["scale"] for n in ("base", "twin"))
    assert not torch.equal(base, twin)  # trained on from the base's weights

    for bad, match in ((["stage:twin"], "no earlier stage is named 'twin'"),
                       (["stage:nope"], "no earlier stage is named 'nope'")):
        stages = [{"name": "base"}, {"name": "tuned", "init_from": bad[0]}, {"name": "twin"}]
        with pytest.raises(SemcomError, match=match):
            train({**config, "out_dir": str(tmp_path / "bad"), "stages": stages}, verbose=False)


def _val_cbr(out_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    return [v for r in rows if r["kind"] == "val" for v in r["cbr_by_snr"].values()]


def test_run_settings_reach_training_and_validation(tiny_config: dict[str, Any], toy: str, tmp_path: Path) -> None:
    config = {**tiny_config, "model": {"name": toy}, "steps": 2, "val_every": 2, "log_every": 2,
              "ckpt_every": 0, "val_snr_db": [10]}
    half = train({**config, "out_dir": str(tmp_path / "half"), "run": {"rate": 0.5}}, verbose=False)
    full = train({**config, "out_dir": str(tmp_path / "full"), "run": {"rate": 1.0}}, verbose=False)
    assert _info(half)["run"] == {"rate": 0.5} and "run" not in _info(train(
        {**config, "out_dir": str(tmp_path / "default")}, verbose=False))
    # 16x16 crops: 3 * 4 * 4 / 2 = 24 complex symbols, all or half sent, 2 side bytes each
    side = _val_cbr(tmp_path / "full")[0] - 24 / (3 * 16 * 16)
    assert _val_cbr(tmp_path / "half")[0] == pytest.approx(12 / (3 * 16 * 16) + side)
    assert side > 0  # the side information is charged on top
    assert not torch.equal(load_checkpoint(half).tensors["scale"], load_checkpoint(full).tensors["scale"])
    with pytest.raises(SemcomError, match="no run-time setting ratee"):
        train({**config, "out_dir": str(tmp_path / "bad"), "run": {"ratee": 0.5}}, verbose=False)
    with pytest.raises(SemcomError, match="rate"):
        train({**config, "out_dir": str(tmp_path / "bad"), "run": {"rate": 2.0}}, verbose=False)
    with pytest.raises(SemcomError, match="run must be a mapping"):
        train({**config, "out_dir": str(tmp_path / "bad"), "run": [0.5]}, verbose=False)
