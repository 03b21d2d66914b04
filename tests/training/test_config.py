"""Training configs: files, environment variables, overrides, validation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from semcom.errors import SemcomError
from semcom.training import ScheduleSpec, Trainer, config_from_dict, learning_rate, load_config

REPO = Path(__file__).resolve().parents[2]

MINIMAL = {"model": {"name": "convjscc", "cbr": "1/12"}, "data": {"name": "folder", "root": "/x"}}


def test_file_env_default_and_relative_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cfgs").mkdir()
    path = tmp_path / "cfgs" / "run.yaml"
    path.write_text("model: {name: convjscc, cbr: 1/24}\n"
                    "data: {name: cifar10, root: '${MY_DATA:-../data}/cifar10', split: train}\n"
                    "snr_db: [0, 20]\noptimizer: {lr: 1e-4}\nout_dir: ${MY_OUT:-runs/x}\n")
    monkeypatch.delenv("MY_DATA", raising=False)
    monkeypatch.delenv("MY_OUT", raising=False)
    cfg = load_config(path)
    assert cfg.data.root == str((tmp_path / "data" / "cifar10").resolve())  # against the file's folder
    assert cfg.data.options == {"split": "train"}
    assert cfg.model.kwargs == {"cbr": "1/24"}
    assert cfg.snr_db.range == (0.0, 20.0) and cfg.snr_db.fixed is None
    assert cfg.optimizer.lr == 1e-4  # YAML reads "1e-4" as a string; the config converts it
    assert cfg.out_dir == "runs/x"  # relative to the working directory, not the file

    monkeypatch.setenv("MY_DATA", "/elsewhere")
    monkeypatch.setenv("MY_OUT", "/tmp/out")
    cfg = load_config(path)
    assert cfg.data.root == "/elsewhere/cifar10" and cfg.out_dir == "/tmp/out"


def test_unset_variable_without_default_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SURELY_UNSET_VAR", raising=False)
    with pytest.raises(SemcomError, match="SURELY_UNSET_VAR"):
        config_from_dict({**MINIMAL, "out_dir": "${SURELY_UNSET_VAR}/run"})


def test_overrides() -> None:
    cfg = load_config(MINIMAL, ["optimizer.lr=2e-3", "snr_db=[4, 10]", "model.cbr=1/24", "steps=50",
                                "schedule.name=cosine", "data.split=test", "val_snr_db=7"])
    assert cfg.optimizer.lr == 2e-3
    assert cfg.snr_db.range == (4.0, 10.0)
    assert cfg.model.kwargs["cbr"] == "1/24"
    assert cfg.steps == 50 and cfg.schedule.name == "cosine"
    assert cfg.data.options == {"split": "test"}
    assert cfg.val_snr_db == [7.0]
    again = load_config(cfg, ["snr_db.choices=[1, 4, 7]"])
    assert again.snr_db.choices == (1.0, 4.0, 7.0) and again.optimizer.lr == 2e-3
    with pytest.raises(SemcomError, match="key=value"):
        load_config(MINIMAL, ["steps"])


def test_round_trip() -> None:
    cfg = load_config(MINIMAL, ["snr_db=[0, 20]", "schedule.name=step", "schedule.milestones=[10, 20]",
                                "val_data.name=kodak", "val_data.crop=64"])
    assert config_from_dict(cfg.to_dict()) == cfg
    staged = load_config({**MINIMAL, "loss": {"name": "sum", "terms": [{"name": "mse"}, {"name": "ssim", "weight": 0.1}]},
                          "freeze": "encoder.*", "modes": {"quantize": "ste"}, "aux_optimizer": {"params": "*q*"},
                          "optimizer": {"groups": [{"params": "decoder.*", "lr": 1e-3}]},
                          "init_from": {"path": "runs/a/final", "exclude": ["decoder.*"]}})
    assert staged.freeze == ["encoder.*"] and staged.optimizer.groups == [{"params": ["decoder.*"], "lr": 1e-3}]
    assert staged.aux_optimizer.params == ["*q*"] and staged.aux_optimizer.lr == 1e-3
    assert config_from_dict(staged.to_dict()) == staged


@pytest.mark.parametrize("key, value, named", [
    ("stepz", 10, "stepz"),
    ("optimizer", {"lrr": 1e-3}, "optimizer.lrr"),
    ("schedule", {"name": "cosine", "warmup": 3}, "schedule.warmup"),
    ("snr_db", {"fixd": 3}, "snr_db.fixd"),
    ("optimizer", {"groups": [{"params": "a.*", "lrr": 1}]}, "optimizer.groups\\[0\\].lrr"),
    ("aux_optimizer", {"params": "*q*", "momentum": 0.9}, "aux_optimizer.momentum"),
    ("init_from", {"path": "x", "prefix": {}}, "init_from.prefix"),
])
def test_unknown_keys_are_named(key: str, value: object, named: str) -> None:
    with pytest.raises(SemcomError, match=f"unknown config key '{named}'"):
        config_from_dict({**MINIMAL, key: value})


@pytest.mark.parametrize("key, value, fragment", [
    ("steps", 0, "steps"),
    ("batch_size", 2.5, "batch_size"),
    ("loss", "l1", "loss"),
    ("snr_db", [20, 0], "lo <= hi"),
    ("snr_db", [1, 2, 3], "range"),
    ("device", "tpu", "device"),
    ("optimizer", {"lr": -1}, "optimizer.lr"),
    ("schedule", {"name": "step"}, "step_size"),
    ("loss", {"name": "sum", "terms": [{"name": "l2"}]}, "unknown loss 'l2'"),
    ("loss", 3, "loss must be"),
    ("freeze", [""], "freeze"),
    ("optimizer", {"groups": [{"lr": 1}]}, "optimizer.groups\\[0\\].params"),
    ("aux_optimizer", {"params": "*q*", "betas": [0.9, 1.5]}, "aux_optimizer.betas"),
    ("modes", ["ste"], "modes must be a mapping"),
])
def test_invalid_values(key: str, value: object, fragment: str) -> None:
    with pytest.raises(SemcomError, match=fragment):
        config_from_dict({**MINIMAL, key: value})


def test_missing_required_sections() -> None:
    with pytest.raises(SemcomError, match="'data' is required"):
        config_from_dict({"model": {"name": "convjscc"}})


def test_learning_rate_schedules() -> None:
    step = ScheduleSpec(name="step", step_size=10, gamma=0.5)
    assert [learning_rate(1.0, s, 40, step) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    cosine = ScheduleSpec(name="cosine", warmup_steps=4, min_lr=0.1)
    lrs = [learning_rate(1.0, s, 104, cosine) for s in range(104)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert lrs[54] == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 2)))
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:])) and lrs[-1] > 0.1
    assert learning_rate(1.0, 10**6, 104, cosine) == pytest.approx(0.1)


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "train").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from semcom.models import list_models
    from semcom.registry import CODEC_MODELS
    from semcom.training.config import config_from_dict
    from semcom.training.stages import _read, has_stages, stage_configs

    monkeypatch.delenv("SEMCOM_DATA", raising=False)
    if has_stages(path):  # each stage validated as the runner builds it
        cfgs = [config_from_dict(raw) for _, raw in stage_configs(_read(path))]
    else:
        cfgs = [Trainer(path).config]  # validates keys, names and constructor arguments (no data is read)
    shared = (REPO.parent / "shared" / "data").resolve()
    for cfg in cfgs:
        assert cfg.model.name in list_models() or cfg.model.name in CODEC_MODELS
        assert cfg.channel.name in ("awgn", "rayleigh")
        assert cfg.val_data is not None and cfg.steps >= cfg.ckpt_every > 0
        for _, root, _ in cfg.data.components() + cfg.val_data.components():
            assert Path(root).parent == shared  # ../shared/data beside the repository
            if shared.is_dir():
                assert Path(root).is_dir(), root
