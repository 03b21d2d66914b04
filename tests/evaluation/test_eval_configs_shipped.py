"""The example sweeps in configs/eval/ are valid and run."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from semcom.evaluation import EvalConfig, evaluate

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "eval"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))


def test_there_are_example_configs():
    assert {p.stem for p in CONFIGS} >= {"kodak_uncoded", "cifar10_jscc"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_example_config_validates(path):
    cfg = EvalConfig.load(path)
    assert cfg.name == path.stem and cfg.snr_db and cfg.systems and cfg.dataset is not None
    for spec in cfg.systems:  # zoo names are file names: no folders, no suffix
        name = spec.get("pretrained", "")
        assert "/" not in name and not name.endswith((".json", ".safetensors"))


@pytest.mark.slow
def test_kodak_example_runs_on_one_image(tmp_path, shared_data):
    out = evaluate(CONFIG_DIR / "kodak_uncoded.yaml", progress=False,
                   overrides=["dataset.limit=1", "snr_db=[5, 15]", "repeats=1", "metrics=[psnr]",
                              f"out_dir={tmp_path}", f"dataset.root={shared_data / 'kodak'}"])
    with open(out / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 2 * 2 * 2  # systems x channels x SNRs
    for system in ("uncoded", "uncoded-zf"):
        for channel in ("awgn", "rayleigh"):
            low, high = (float(t["psnr"]) for t in table if t["system"] == system and t["channel"] == channel)
            assert high > low + 5
