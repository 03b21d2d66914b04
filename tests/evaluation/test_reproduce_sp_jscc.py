"""`semcom reproduce sp-jscc` on tiny untrained models, and the SP-JSCC training configs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from semcom.cli import main as cli_main
from semcom.conventions import parse_cbr
from semcom.nn.rate_policy import temperature_at
from semcom.evaluation.config import EvalConfig
from semcom.evaluation.reproduce import RECIPES, repo_path
from semcom.evaluation.sp_jscc_claims import (CONFIGS, METRICS, REALIZATIONS, _config, _metric_tables, claims,
                                              summarize)
from semcom.models import save_model
from semcom.models.arjscc import ARJSCC
from semcom.semantics.classifier import Cifar10ResNet
from semcom.training import config_from_dict
from semcom.training.stages import _read, stage_configs
from semcom.zoo.checkpoint import save_checkpoint

TRAIN = {"arjscc": "configs/train/arjscc_cifar10.yaml", "spjscc": "configs/train/spjscc_cifar10.yaml"}


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------- training configs
@pytest.mark.parametrize("which", sorted(TRAIN))
def test_training_config_loads(which):
    stages = stage_configs(_read(repo_path(TRAIN[which])))
    assert [name for name, _ in stages] == ["lr5e-4", "lr5e-5", "finetune"]
    cfgs = [config_from_dict(raw) for _, raw in stages]
    assert [c.steps for c in cfgs] == [2400, 300, 100]  # the reduced budget, most of it at lr 5e-4
    assert all(c.optimizer.grad_clip == 0.5 for c in cfgs)  # every stage clipped (see the config)
    assert [c.optimizer.lr for c in cfgs] == [5e-4, 5e-5, 1e-5]
    assert all(c.optimizer.betas == (0.5, 0.999) and c.batch_size == 128 for c in cfgs)
    seen = sum(c.steps for c in cfgs) * 128 / 50_000  # epochs of the reduced run
    # every stage at the reduced run's place in the authors' schedule (its mid-epoch); the
    # hard sample ignores tau, so a low value would only make the policy's gradient sparse;
    # the finetune stage's policy is frozen and keeps the previous value
    mid = [(sum(c.steps for c in cfgs[:i]) + cfgs[i].steps / 2) * 128 / 50_000 for i in range(2)]
    assert seen < 8 and [c.modes["temperature"] for c in cfgs] == pytest.approx(
        [temperature_at(e) for e in (mid[0], mid[1], mid[1])], rel=0.01)
    assert cfgs[0].freeze == [] and cfgs[2].freeze == ["policy.*", "source_encoder.*"]
    assert cfgs[1].init_from == "previous" and cfgs[2].init_from == "previous"
    assert cfgs[0].snr_db.range == (0, 20) and cfgs[0].data.name == "cifar10-jpeg" and cfgs[0].data.hflip
    assert cfgs[0].val_data.name == "cifar10" and cfgs[0].val_data.limit == 1000
    model = ARJSCC(**{**cfgs[0].model.kwargs, **ARJSCC.tiny_config()})
    names = [n for n, _ in model.named_parameters()]
    for pattern in ("policy.", "source_encoder."):  # the frozen patterns name real parameters
        assert any(n.startswith(pattern) for n in names)
    model.set_modes(**cfgs[2].modes)
    loss = cfgs[0].loss
    if which == "arjscc":
        assert loss == "mse"
    else:
        assert loss == {"name": "weighted-mse", "aux_model": "cifar10-resnet_cifar10"}


def test_the_two_training_configs_differ_only_in_loss_and_out_dir():
    a, s = (_read(repo_path(TRAIN[k])) for k in ("arjscc", "spjscc"))
    differ = {k for k in set(a) | set(s) if a.get(k) != s.get(k)}
    assert differ == {"loss", "out_dir"}


# ------------------------------------------------------------------ eval configs
def test_eval_configs():
    snr, cpp = (EvalConfig.load(repo_path(CONFIGS[p])) for p in ("snr", "cpp"))
    assert snr.snr_db == [0, 5, 10, 15, 20] and cpp.snr_db == [5, 10]
    for cfg in (snr, cpp):
        assert cfg.repeats == 5 and cfg.dataset.name == "cifar10" and cfg.dataset.limit == 1000
        assert cfg.metric_names == ["psnr", "ssim", "accuracy", "f1"]
        assert [s.get("pretrained") for s in cfg.systems[:2]] == ["arjscc_cifar10", "spjscc_cifar10"]
        assert cfg.systems[2]["system"] == "digital" and cfg.systems[2]["phy"] == "wifi"
    assert cpp.systems[0]["run"] == {"groups": [0, 1, 2, 3, 4]}


# ------------------------------------------------------------ the classifier
def test_task_metrics_use_the_classifier_as_given():
    """Lost images are the harness's business (tests/evaluation/test_lost_images.py):
    the recipe hands the classifier to accuracy and F1 unwrapped."""
    net = Cifar10ResNet(widths=[4, 8, 8, 8])
    for given in ("cifar10-resnet_cifar10", net):
        raw = _config("snr", True, given)
        task = [m for m in raw["metrics"] if isinstance(m, dict) and m.get("name") in ("accuracy", "f1")]
        assert len(task) == 2 and all(m["classifier"] is given for m in task)


def test_summary_spread_and_paired_claims():
    def row(system, acc, psnr, snr=5.0):
        return {"system": system, "cbr_requested": None, "run.groups": 2, "channel": "awgn", "snr_db": snr,
                "cbr": 0.125, "failure_rate": 0.0, "accuracy": acc, "f1": acc, "psnr": psnr, "ssim": 0.9}

    runs = [[row("AR-JSCC", 0.50, 20.0), row("SP-JSCC", 0.52, 19.9)],
            [row("AR-JSCC", 0.60, 21.0), row("SP-JSCC", 0.61, 20.8)]]
    summary = summarize(runs)
    ar = next(e for e in summary if e["system"] == "AR-JSCC")
    assert ar["accuracy"] == pytest.approx(55) and ar["accuracy_std"] == pytest.approx(5)
    assert (ar["accuracy_min"], ar["accuracy_max"]) == pytest.approx((50, 60)) and ar["cpp"] == pytest.approx(0.375)
    (c,) = claims(summary, runs, True)
    assert c["d_accuracy"] == pytest.approx(1.5) and c["d_accuracy_std"] == pytest.approx(0.5)
    assert c["d_psnr"] == pytest.approx(-0.15)


def test_cpp_table_rows_pair_forced_groups_with_the_digital_budget_of_equal_channel_uses():
    # groups g: (4 + g) / 48 of symbols plus the charged side-information byte, 1/96
    rows = [{"system": s, "cbr_requested": None, "run.groups": g, "channel": "awgn", "snr_db": 5.0,
             "cbr": (4 + g) / 48 + 1 / 96, "psnr": 20.0 + g + (s == "SP-JSCC")} for s in ("AR-JSCC", "SP-JSCC")
            for g in range(5)]
    cfg = EvalConfig.load(repo_path(CONFIGS["cpp"]))
    budgets = cfg.systems[2]["cbr"]
    rows += [{"system": "BPG+LDPC", "cbr_requested": parse_cbr(c), "run.groups": None, "channel": "awgn",
              "snr_db": 5.0, "cbr": parse_cbr(c) * 0.97, "psnr": 10.0 + i} for i, c in enumerate(budgets)]
    table = _metric_tables(summarize([rows]), True, None)
    body = [line for line in table.splitlines() if line.startswith("| 0.")]
    assert len(body) == 5  # one row per budget: every model and the baseline share it
    for g, line in enumerate(body):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0].endswith(f"; {g})")
        assert cells[1:] == [f"{20 + g:.2f} ± 0.00", f"{21 + g:.2f} ± 0.00", f"{10 + g:.2f} ± 0.00"]


# ------------------------------------------------------------------ the recipe
@pytest.fixture(scope="module")
def recipe_out(tmp_path_factory):
    """The real recipe through the CLI on 2 CIFAR-10 test images: tiny untrained AR-JSCC
    checkpoints as both models, a tiny classifier as the zoo's cifar10-resnet_cifar10."""
    from tests.conftest import SHARED_DATA

    if not (SHARED_DATA / "cifar10").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    root = tmp_path_factory.mktemp("sp_jscc")
    torch.manual_seed(0)
    ar = save_model(ARJSCC(**ARJSCC.tiny_config()), root / "arjscc_tiny")
    sp = save_model(ARJSCC(**ARJSCC.tiny_config()), root / "spjscc_tiny")
    zoo = root / "zoo"
    zoo.mkdir()
    net = Cifar10ResNet(widths=[4, 8, 8, 8])
    save_checkpoint(zoo / "cifar10-resnet_cifar10", net.state_dict(), "cifar10-resnet", net.config,
                    info={"kind": "task_model"})
    out = root / "results"
    argv = ["reproduce", "sp-jscc", "--limit", "2", "--out", str(out),
            "--set", f"dataset.root={SHARED_DATA / 'cifar10'}",
            "--set", "systems.0.pretrained=null", "--set", f"systems.0.checkpoint={ar}",
            "--set", "systems.1.pretrained=null", "--set", f"systems.1.checkpoint={sp}",
            "--set", "systems.2.workers=1", "--set", "systems.2.cbr=[1/12]", "--set", "batch_size=2"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEMCOM_ZOO", str(zoo))
        assert cli_main(argv) == 0
    return out


def test_recipe_is_registered():
    assert "sp-jscc" in RECIPES.names()


def test_recipe_writes_realizations_summaries_and_plots(recipe_out):
    for part in ("snr", "cpp"):
        for k in range(REALIZATIONS):
            assert (recipe_out / part / f"r{k}" / "results.csv").is_file()
        assert (recipe_out / part / "summary.csv").is_file()
        for metric in METRICS:
            assert (recipe_out / part / f"{metric}_vs_{part}.png").is_file(), (part, metric)
    assert (recipe_out / "cpp" / "claims.csv").is_file()
    manifest = json.loads((recipe_out / "manifest.json").read_text())
    steps = manifest["steps"]
    assert [s["name"] for s in steps] == [f"{p}/r{k}" for p in ("snr", "cpp") for k in range(REALIZATIONS)]
    assert [s["seed"] for s in steps] == list(range(REALIZATIONS)) * 2 and {s["images"] for s in steps} == {2}
    readme = (recipe_out / "README.md").read_text()
    assert "Ceiling (classifier on the 2 original images)" in readme and "SP-JSCC minus AR-JSCC" in readme
    assert "](snr/accuracy_vs_snr.png)" in readme and "](cpp/claims.csv)" not in readme


def test_summary_rows_and_spread(recipe_out):
    snr = _csv(recipe_out / "snr" / "summary.csv")
    assert {(r["system"], float(r["snr_db"])) for r in snr} == \
        {(s, x) for s in ("AR-JSCC", "SP-JSCC", "BPG+LDPC") for x in (0, 5, 10, 15, 20)}
    for r in snr:
        assert int(r["realizations"]) == REALIZATIONS
        for metric in METRICS:
            for col in (metric, f"{metric}_std", f"{metric}_min", f"{metric}_max"):
                assert r[col] != "", (r["system"], col)
            assert float(r[f"{metric}_min"]) <= float(r[metric]) <= float(r[f"{metric}_max"])
    jscc = [r for r in snr if r["system"] != "BPG+LDPC"]
    assert any(float(r["psnr_std"]) > 0 for r in jscc)  # the noise differs between realizations
    cpp = _csv(recipe_out / "cpp" / "summary.csv")
    groups = {(r["system"], r["groups"], float(r["snr_db"])) for r in cpp if r["system"] != "BPG+LDPC"}
    assert groups == {(s, str(g), x) for s in ("AR-JSCC", "SP-JSCC") for g in range(5) for x in (5, 10)}
    cpps = sorted({round(float(r["cpp"]), 3) for r in cpp if r["system"] == "AR-JSCC"})
    assert len(cpps) == 5 and cpps[0] >= 0.25 and all(b > a for a, b in zip(cpps, cpps[1:]))
    claim = _csv(recipe_out / "cpp" / "claims.csv")
    assert len(claim) == 10 and {"d_accuracy", "d_accuracy_std", "d_psnr", "d_psnr_std"} <= set(claim[0])
