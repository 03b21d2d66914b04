"""The trainer: learning, determinism, kill-and-resume, clean failures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from semcom.errors import SemcomError
from semcom.models import load_model
from semcom.training import SNRSpec, Trainer, sample_snr, train
from semcom.zoo.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]


def _records(out_dir: Path, kind: str) -> list[dict[str, Any]]:
    lines = (out_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).tensors


def test_loss_falls_and_final_checkpoint_loads(tiny_config: dict[str, Any]) -> None:
    cfg = {**tiny_config, "steps": 48, "snr_db": 20, "val_every": 48, "ckpt_every": 0, "log_every": 8,
           "optimizer": {"lr": 5e-3}}
    final = train(cfg, verbose=False)
    out = Path(cfg["out_dir"])
    train_log = _records(out, "train")
    assert [r["step"] for r in train_log] == [8, 16, 24, 32, 40, 48]
    assert train_log[-1]["loss"] < 0.88 * train_log[0]["loss"]  # about 0.78 in practice
    assert train_log[-1]["psnr_db"] > train_log[0]["psnr_db"] + 0.5
    val = _records(out, "val")
    assert [r["step"] for r in val] == [48] and list(val[0]["psnr_db_by_snr"]) == ["20"]

    model = load_model(final)  # the plain model checkpoint rebuilds itself
    assert model.name == "convjscc" and model.config["widths"] == [8, 8, 8, 8]
    # the charged CBR the validation saw is the model's, counted from its channel uses
    assert val[0]["cbr_by_snr"]["20"] == pytest.approx(model.config["cbr"], rel=0.02)
    meta = json.loads(final.with_name("final.json").read_text())
    assert meta["info"]["steps"] == 48 and meta["info"]["validation"]["psnr_db"] == val[0]["psnr_db"]
    assert load_checkpoint(out / "last").info["training"]["step"] == 48


def test_same_seed_same_weights_whatever_the_workers(tiny_config: dict[str, Any], tmp_path: Path) -> None:
    runs = {}
    for name, seed, workers in (("a", 3, 0), ("b", 3, 1), ("c", 4, 0)):
        cfg = {**tiny_config, "steps": 4, "seed": seed, "num_workers": workers, "val_data": None,
               "out_dir": str(tmp_path / name)}
        runs[name] = _weights(train(cfg, verbose=False))
    assert all(torch.equal(runs["a"][k], runs["b"][k]) for k in runs["a"])
    assert not all(torch.equal(runs["a"][k], runs["c"][k]) for k in runs["a"])


def test_kill_and_resume_is_bit_exact(tiny_config: dict[str, Any], tmp_path: Path) -> None:
    steps = 12
    reference = {**tiny_config, "steps": steps, "ckpt_every": steps // 2, "out_dir": str(tmp_path / "ref")}
    train(reference, verbose=False)

    crashed_dir = tmp_path / "crashed"
    config_file = tmp_path / "crashed.yaml"
    config_file.write_text(yaml.safe_dump({**reference, "out_dir": str(crashed_dir)}))
    script = "import sys; from semcom.training import train; train(sys.argv[1], [sys.argv[2]], verbose=False)"
    proc = subprocess.run([sys.executable, "-c", script, str(config_file), f"crash_after_step={steps // 2}"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr  # the simulated crash, right after the checkpoint
    assert load_checkpoint(crashed_dir / "last").info["training"]["step"] == steps // 2
    assert not (crashed_dir / "final.safetensors").exists()

    final = train(config_file, verbose=False)  # resumes from last by default
    ref_last, resumed_last = _weights(tmp_path / "ref" / "last"), _weights(crashed_dir / "last")
    assert set(ref_last) == set(resumed_last) and any(k.startswith("optim.") for k in ref_last)
    for key in ref_last:  # weights, Adam moments and RNG states
        assert torch.equal(ref_last[key], resumed_last[key]), key
    ref_final = _weights(tmp_path / "ref" / "final")
    assert all(torch.equal(ref_final[k], v) for k, v in _weights(final).items())
    steps_logged = [r["step"] for r in _records(crashed_dir, "train")]
    assert steps_logged == sorted(set(steps_logged)) == [r["step"] for r in _records(tmp_path / "ref", "train")]


def test_resume_checks(tiny_config: dict[str, Any]) -> None:
    with pytest.raises(SemcomError, match="cannot resume: no checkpoint"):
        Trainer(tiny_config, resume=True, verbose=False).run()
    train({**tiny_config, "steps": 2, "val_data": None}, verbose=False)
    with pytest.raises(SemcomError, match="cannot resume"):
        train({**tiny_config, "steps": 4, "model": {**tiny_config["model"], "cbr": "1/24"}}, verbose=False)
    with pytest.raises(SemcomError, match="beyond steps"):
        train({**tiny_config, "steps": 1}, verbose=False)
    # an explicit fresh start ignores (and replaces) the old run
    train({**tiny_config, "steps": 1, "val_data": None}, resume=False, verbose=False)
    assert load_checkpoint(Path(tiny_config["out_dir"]) / "last").info["training"]["step"] == 1


@pytest.mark.parametrize("section, value, fragment", [
    ("model", {"name": "nosuchmodel"}, "unknown system 'nosuchmodel'"),
    ("model", {"name": "uncoded"}, "not a trainable"),
    ("model", {"name": "convjscc", "cbrr": "1/12"}, "model: system 'convjscc' does not take cbrr"),
    ("channel", {"name": "nosuchchannel"}, "unknown channel 'nosuchchannel'"),
    ("channel", {"name": "awgn", "snr": 3}, "no parameter 'snr'"),
    ("data", {"name": "nosuchdataset", "root": "/x"}, "unknown dataset 'nosuchdataset'"),
    ("imports", ["no_such_module_here"], "cannot import"),
    ("modes", {"quantize": "ste"}, "system 'convjscc' has no training mode 'quantize' \\(its modes: none\\)"),
    ("loss", {"name": "mse", "on": 3}, "loss.on"),
])
def test_bad_components_fail_at_construction(tiny_config: dict[str, Any], section: str, value: Any,
                                             fragment: str) -> None:
    with pytest.raises(SemcomError, match=fragment):
        Trainer({**tiny_config, section: value})


def test_sample_snr() -> None:
    g = torch.Generator().manual_seed(0)
    drawn = sample_snr(SNRSpec(range=(2.0, 6.0)), 4000, g, torch.device("cpu"))
    assert drawn.min() >= 2 and drawn.max() <= 6
    assert abs(drawn.mean().item() - 4.0) < 0.1 and abs(drawn.var().item() - 16 / 12) < 0.1  # uniform
    picked = sample_snr(SNRSpec(choices=(1.0, 4.0, 7.0)), 3000, g, torch.device("cpu"))
    counts = [(picked == c).sum().item() for c in (1.0, 4.0, 7.0)]
    assert sum(counts) == 3000 and min(counts) > 900
    assert sample_snr(SNRSpec(fixed=5.0), 3, g, torch.device("cpu")).tolist() == [5.0] * 3


def test_ms_ssim_loss_trains(tiny_config: dict[str, Any]) -> None:
    cfg = {**tiny_config, "loss": "ms-ssim", "steps": 16, "snr_db": 20, "val_data": None, "log_every": 8,
           "ckpt_every": 0}
    train(cfg, verbose=False)
    first, last = _records(Path(cfg["out_dir"]), "train")
    assert 0 < last["loss"] < first["loss"] <= 1


def test_init_from_starts_a_fresh_run_from_given_weights(tiny_config: dict[str, Any], tmp_path: Path) -> None:
    source = train({**tiny_config, "steps": 3, "val_data": None, "out_dir": str(tmp_path / "src")}, verbose=False)
    frozen = {**tiny_config, "steps": 1, "val_data": None, "optimizer": {"lr": 1e-12}, "init_from": str(source)}
    started = _weights(train({**frozen, "out_dir": str(tmp_path / "init")}, verbose=False))
    scratch = _weights(train({**frozen, "init_from": None, "out_dir": str(tmp_path / "scratch")}, verbose=False))
    reference = _weights(source)
    close = [torch.allclose(started[k], reference[k], atol=1e-6) for k in reference]
    assert all(close)  # one step at lr 1e-12 leaves the initial weights
    assert not all(torch.allclose(scratch[k], reference[k], atol=1e-6) for k in reference)
    record = json.loads((tmp_path / "init" / "final.json").read_text())["info"]["init_from"]
    assert record["source"] == str(source) and record["path"] == str(source) and len(record["sha256"]) == 64
    assert record["left_at_init"] == [] and sorted(record["loaded"]) == sorted(reference)
    train({**frozen, "steps": 2, "out_dir": str(tmp_path / "init")}, verbose=False)  # a resume keeps the record
    assert json.loads((tmp_path / "init" / "final.json").read_text())["info"]["init_from"] == record
    from_last = _weights(train({**frozen, "init_from": str(tmp_path / "src" / "last"),
                                "out_dir": str(tmp_path / "from_last")}, verbose=False))
    assert all(torch.allclose(from_last[k], reference[k], atol=1e-6) for k in reference)  # model part of a state

    with pytest.raises(SemcomError, match="cannot initialise convjscc .* from"):
        train({**frozen, "model": {**tiny_config["model"], "cbr": "1/24"}, "out_dir": str(tmp_path / "x")},
              verbose=False)
    with pytest.raises(SemcomError, match="no checkpoint .* and no zoo model"):
        train({**frozen, "init_from": str(tmp_path / "nothing"), "out_dir": str(tmp_path / "y")}, verbose=False)
