"""The `nuq` recipe (semcom.evaluation.nuq_claims) on a tiny untrained NUQ checkpoint, and
its table makers on rows with known numbers."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semcom.errors import SemcomError
from semcom.evaluation.config import EvalConfig
from semcom.evaluation.nuq_claims import ANALOG_MODELS, CONFIGS, NUQ_ROLES, NUQ_ZOO, TRAIN_CONFIG, ZOO, nuq_recipe
from semcom.evaluation.nuq_overhead import peak_memory, training_batch
from semcom.evaluation.nuq_tables import quantization_table, weighting_table
from semcom.evaluation.reproduce import RECIPES, repo_path, run_recipe
from semcom.models import create_model, save_model
from semcom.models.nuq import NUQ
from tests.conftest import SHARED_DATA

PRESENT_ANALOG = "convjscc_cifar10_cbr1-12_snr7"
MISSING_ANALOG = "convjscc_not_in_the_zoo"
EVALUATIONS = ["cifar10", "cifar10_stage1", "tiny_imagenet", "weighting_cifar10", "weighting_tiny_imagenet",
               "weighting_cifar10_stage1", "overhead", "analog"]


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _synthetic_pngs(root: Path, size: int, count: int = 2) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:size, 0:size]
    for i in range(count):
        rgb = np.stack([128 + 60 * np.sin(x / 5 + i), 128 + 50 * np.cos(y / 4), 100 + 40 * np.sin((x + y) / 7)], -1)
        Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(root / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny untrained NUQ checkpoint and the two datasets (the shared CIFAR-10 test and
    Tiny-ImageNet val images, or synthetic PNGs of their sizes where those are absent)."""
    root = tmp_path_factory.mktemp("nuq")
    torch.manual_seed(0)
    checkpoint = save_model(create_model("nuq", **NUQ.tiny_config()), root / "nuq_tiny")
    cifar = SHARED_DATA / "cifar10"
    tiny_in = SHARED_DATA / "tiny-imagenet-200"
    return {"root": root, "checkpoint": checkpoint,
            "cifar10": {"name": "cifar10", "root": str(cifar), "split": "test"} if cifar.is_dir() else
            {"name": "folder", "root": str(_synthetic_pngs(root / "c10", 32))},
            "tiny_imagenet": {"name": "tiny-imagenet-val", "root": str(tiny_in)} if tiny_in.is_dir() else
            {"name": "folder", "root": str(_synthetic_pngs(root / "tin", 64))}}


@pytest.fixture(scope="module")
def recipe_out(tiny):
    """The recipe run as `semcom reproduce` runs one: 2 images, one SNR, no LPIPS weights,
    one shipped and one missing analog model."""
    recipe = nuq_recipe(nuq=tiny["checkpoint"], cifar10=tiny["cifar10"], tiny_imagenet=tiny["tiny_imagenet"],
                        analog_models=(PRESENT_ANALOG, MISSING_ANALOG), train_batch_size=2, timing_rounds=1)
    RECIPES.register("_test-nuq")(lambda: recipe)
    out = tiny["root"] / "results"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SEMCOM_LPIPS_WEIGHTS", raising=False)
        run_recipe("_test-nuq", out=out, limit=2, overrides=["snr_db=[10]"], progress=False,
                   argv=["reproduce", "_test-nuq", "--limit", "2"])
    return out


# --------------------------------------------------------------------- configs
def test_configs_load_and_name_the_zoo_model():
    for part, path in CONFIGS.items():
        cfg = EvalConfig.load(repo_path(path))
        assert [cfg.systems[i]["pretrained"] for i in range(len(NUQ_ROLES[part]))] == [ZOO[r] for r in NUQ_ROLES[part]]
        assert cfg.metric_names == (["psnr"] if part == "overhead" else ["psnr", "ms_ssim", "lpips"])
    quant = EvalConfig.load(repo_path(CONFIGS["quantization"]))
    assert [c.name for c in quant.channels] == ["awgn", "rayleigh", "composite"]
    assert quant.systems[1]["run"] == {"quantizer": "uniform", "budget_bits": [10, 8, 6]}
    analog = EvalConfig.load(repo_path(CONFIGS["analog"]))
    assert tuple(s["pretrained"] for s in analog.systems[3:]) == ANALOG_MODELS
    stages = {"autoencoder": ZOO["autoencoder"], "nuq-ste": NUQ_ZOO, "uniform-ste": ZOO["uniform"]}
    assert nuq_recipe().train == [(TRAIN_CONFIG, stages)] and nuq_recipe(nuq="some_zoo_name").train == []
    assert nuq_recipe(nuq_uniform="u").train == [(TRAIN_CONFIG, {"autoencoder": ZOO["autoencoder"], "nuq-ste": NUQ_ZOO})]


def test_the_training_config_has_the_stages_the_recipe_ships():
    from semcom.training.stages import stage_configs
    from semcom.configfile import read_config_file

    stages = dict(stage_configs(read_config_file(repo_path(TRAIN_CONFIG))))
    assert set(stages) == {"autoencoder", "nuq-ste", "uniform-ste"}
    assert stages["nuq-ste"]["init_from"] == "previous" and stages["uniform-ste"]["init_from"] == "stage:autoencoder"
    assert stages["uniform-ste"]["run"] == {"quantizer": "uniform", "budget_bits": 8}
    assert stages["nuq-ste"].get("run") is None and stages["autoencoder"]["modes"] == {"quantize": "none"}
    assert stages["nuq-ste"]["steps"] == stages["uniform-ste"]["steps"]  # the twins get the same budget


def test_each_curve_uses_the_weights_tuned_for_it():
    recipe = nuq_recipe(nuq="n_zoo", nuq_uniform="u_zoo", nuq_autoencoder="a_zoo", analog_models=())
    by_name = {ev.name: EvalConfig.load(repo_path(ev.config) if isinstance(ev.config, str) else ev.config,
                                        ev.overrides) for ev in recipe.evaluations}
    if "cifar10" not in by_name:
        pytest.skip("the CIFAR-10 data of ../shared is not beside this checkout")
    pairs = lambda part: [(s.get("run", {}).get("quantizer"), s["pretrained"]) for s in by_name[part].systems[:3]]
    assert pairs("cifar10") == [("none", "a_zoo"), ("uniform", "u_zoo"), ("nonuniform", "n_zoo")]
    assert pairs("cifar10_stage1") == [("none", "a_zoo"), ("uniform", "a_zoo"), ("nonuniform", "a_zoo")]
    assert [s["run"]["budget_bits"] for s in by_name["cifar10_stage1"].systems[1:3]] == [8, 8]
    assert [s["pretrained"] for s in by_name["weighting_cifar10"].systems] == ["n_zoo", "u_zoo"]
    assert [s["pretrained"] for s in by_name["weighting_cifar10_stage1"].systems] == ["a_zoo", "a_zoo"]
    assert [s["pretrained"] for s in by_name["analog"].systems[:3]] == ["n_zoo", "u_zoo", "a_zoo"]


# ------------------------------------------------------------------ the recipe
def test_recipe_writes_every_part(recipe_out):
    for name in ("README.md", "manifest.json", "cifar10/nonuniform_gain.csv", "cifar10/psnr_by_channel.png",
                 "cifar10/ms_ssim_by_channel.png", "tiny_imagenet/nonuniform_gain.csv",
                 "tiny_imagenet/psnr_by_channel.png", "weighting_cifar10/weighting.csv",
                 "weighting_tiny_imagenet/weighting.csv", "overhead/overhead.csv", "overhead/overhead.json",
                 "analog/analog.csv", *(f"{e}/results.csv" for e in EVALUATIONS)):
        assert (recipe_out / name).is_file(), name
    steps = json.loads((recipe_out / "manifest.json").read_text())["steps"]
    assert [s["name"] for s in steps] == EVALUATIONS and {s["images"] for s in steps} == {2}
    rows = _csv(recipe_out / "cifar10" / "results.csv")
    curves = {(r["run.quantizer"], r["run.budget_bits"]) for r in rows}
    assert {q for q, _ in curves} == {"none", "uniform", "nonuniform"} and len(curves) == 7
    assert {r["channel"] for r in rows} == {"awgn", "rayleigh", "composite"}
    readme = (recipe_out / "README.md").read_text()
    assert "](cifar10/psnr_by_channel.png)" in readme and "| SNR (dB) | unquantized | uniform 10-bit |" in readme


def test_lpips_is_reported_unavailable(recipe_out):
    readme = (recipe_out / "README.md").read_text()
    assert readme.count("LPIPS unavailable: no local backbone weights") == 7  # every part with LPIPS
    assert all(r["lpips"] == "" for r in _csv(recipe_out / "cifar10" / "results.csv"))


def test_claims_come_from_the_measured_numbers(recipe_out):
    readme = (recipe_out / "README.md").read_text()
    for part in ("cifar10", "tiny_imagenet"):
        for gain in (g for g in _csv(recipe_out / part / "nonuniform_gain.csv") if float(g["budget_bits"]) == 8):
            psnr = f"PSNR {float(gain['d_psnr']):+.2f} ± {float(gain['d_psnr_2se']):.2f} dB"
            assert f"  - {gain['channel']}: 10 dB (highest): {psnr}" in readme
    for point in _csv(recipe_out / "weighting_cifar10" / "weighting.csv"):
        assert f"  - {point['channel']} 10 dB: PSNR {float(point['d_psnr']):+.2f}" in readme


def test_missing_analog_model_is_reported_and_channel_uses_stated(recipe_out):
    readme = (recipe_out / "README.md").read_text()
    assert f"- analog model `{MISSING_ANALOG}` unavailable: not in the zoo" in readme
    points = {p["name"]: p for p in _csv(recipe_out / "analog" / "analog.csv")}
    assert float(points["ConvJSCC@7dB"]["channel_uses"]) == 256
    nu = points["NUQ non-uniform 1-bit 16qam"]  # 4 x 8 x 8 features of the tiny model, 1 bit each, 4 per symbol
    assert int(nu["payload_uses"]) == 64 and float(nu["side_uses"]) > 0
    analog = points["NUQ unquantized"]  # 256 features, two per complex symbol
    assert float(analog["channel_uses"]) == 128 and float(analog["side_uses"]) == 0
    assert "vs NUQ" in readme and "not equal, NUQ spends" in readme


def test_overhead_table(recipe_out):
    rows = _csv(recipe_out / "overhead" / "overhead.csv")
    assert [r["method"] for r in rows] == ["uniform 8-bit", "non-uniform 8-bit"]
    for r in rows:
        assert float(r["train_min_per_epoch_estimate"]) == pytest.approx(
            float(r["train_step_s"]) * math.ceil(50_000 / 2) / 60)
        assert float(r["inference_peak_mb"]) > 0 and float(r["train_step_peak_mb"]) > 0
        assert r["memory_method"] == "torch profiler CPU allocation timeline" and int(r["train_batch"]) == 2
    readme = (recipe_out / "README.md").read_text()
    assert "**the training time per epoch is an estimate**" in readme and "load average" in readme


# ------------------------------------------------------- unavailable, bad input
def test_unavailable_dataset_is_one_line_and_its_sweeps_are_left_out(tiny):
    recipe = nuq_recipe(nuq=tiny["checkpoint"], cifar10=tiny["cifar10"],
                        tiny_imagenet={"name": "tiny-imagenet-val", "root": str(tiny["root"] / "absent")},
                        analog_models=())
    assert [e.name for e in recipe.evaluations] == ["cifar10", "cifar10_stage1", "weighting_cifar10",
                                                    "weighting_cifar10_stage1", "overhead", "analog"]
    lines = [line for line in recipe.description.splitlines() if "Tiny-ImageNet val unavailable" in line]
    assert len(lines) == 1 and "absent" in lines[0]


def test_missing_nuq_model_is_noted_and_fails_with_one_clear_error():
    from semcom.evaluation.systems import build_systems
    from semcom.zoo.pretrained import has_pretrained

    if has_pretrained(NUQ_ZOO):
        pytest.skip(f"{NUQ_ZOO} is in the zoo")
    recipe = nuq_recipe(analog_models=())
    assert f"NUQ model `{NUQ_ZOO}` not in the zoo yet" in recipe.description
    if not recipe.evaluations:  # the recipe leaves out parts whose data is missing
        pytest.skip("the CIFAR-10 data of ../shared is not beside this checkout")
    cfg = EvalConfig.load(repo_path(recipe.evaluations[0].config), recipe.evaluations[0].overrides)
    with pytest.raises(SemcomError, match=NUQ_ZOO):
        build_systems(cfg.systems[:1])


def test_lpips_weights_reach_the_metric(tmp_path):
    weights = tmp_path / "lpips_alex.safetensors"
    weights.write_bytes(b"not read here")
    recipe = nuq_recipe(nuq="x_zoo_name", lpips_weights=weights, analog_models=())
    for ev in recipe.evaluations:
        cfg = EvalConfig.load(repo_path(ev.config) if isinstance(ev.config, str) else ev.config, ev.overrides)
        if ev.name == "overhead":
            assert cfg.metrics == ["psnr"]
        else:
            assert cfg.metrics[2] == {"name": "lpips", "weights": str(weights.resolve())}
        assert cfg.systems[0] == {**cfg.systems[0], "pretrained": "x_zoo_name", "checkpoint": None}
    with pytest.raises(SemcomError, match="LPIPS weights file"):
        nuq_recipe(lpips_weights=tmp_path / "absent.safetensors")


@pytest.mark.parametrize("kwargs", [{"train_batch_size": 0}, {"timing_rounds": 1.5}])
def test_bad_recipe_arguments(kwargs):
    with pytest.raises(SemcomError, match="positive integer"):
        nuq_recipe(**kwargs)


# ----------------------------------------------------------- the table makers
def _row(quantizer, bits, snr, psnr, channel="awgn", lpips=None, contribution="gradient", uses=1000.0, ms_ssim=0.9):
    return {"system": quantizer, "channel": channel, "snr_db": snr, "run.quantizer": quantizer,
            "run.budget_bits": bits, "run.contribution": contribution, "run.modulation": "qpsk", "psnr": psnr,
            "psnr_std": 2.0, "images": 100, "repeats": 1, "ms_ssim": ms_ssim, "lpips": lpips,
            "channel_uses": uses, "cbr": uses / 3072, "failure_rate": 0.0, "seconds_per_image": 0.01}


@pytest.mark.parametrize("high_gain", [1.5, -0.75])
def test_8bit_claim_follows_the_numbers(high_gain):
    rows = [_row("none", 8.0, s, 30.0) for s in (1.0, 13.0)]
    rows += [_row("uniform", 8.0, 1.0, 20.0, lpips=0.3, uses=4211),
             _row("uniform", 8.0, 13.0, 25.0, lpips=0.2, uses=4211),
             _row("nonuniform", 8.0, 1.0, 19.75, lpips=0.31, uses=4570),
             _row("nonuniform", 8.0, 13.0, 25.0 + high_gain, lpips=0.15, uses=4570, ms_ssim=0.925)]
    text = quantization_table(rows)
    error = 2 * math.sqrt(2 * 4.0 / 100)
    assert f"13 dB (highest): PSNR {high_gain:+.2f} ± {error:.2f} dB, MS-SSIM +0.0250, LPIPS -0.0500" in text
    assert f"1 dB (lowest): PSNR -0.25 ± {error:.2f} dB" in text and "LPIPS +0.0100" in text
    assert f"non-uniform higher PSNR at {int(high_gain > 0)} of 2 SNRs ({int(high_gain > error)} beyond" in text
    assert ("is larger than at the lowest" in text) == (high_gain > -0.25)
    assert "non-uniform sends 4570 channel uses per image and uniform 4211 (+8.5 %)" in text
    assert "awgn: LPIPS against SNR" in text and "LPIPS unavailable" not in text


def test_weighting_claim_follows_the_numbers():
    rows = [_row("nonuniform", 8.0, 10.0, p, contribution=c, lpips=lp)
            for c, p, lp in (("gradient", 26.0, 0.1), ("magnitude", 25.0, 0.2), ("std", 25.5, 0.15))]
    rows.append(_row("uniform", 8.0, 10.0, 24.0))
    text = weighting_table(rows)
    assert "awgn 10 dB: PSNR +0.50 ± 0.57 dB (vs std), LPIPS -0.0500" in text
    assert "gradient higher PSNR than both heuristics at 1 of 1 points (0 beyond ± 2 SE)" in text


def test_peak_memory_and_training_batch():
    _, peak, method = peak_memory(lambda: torch.ones(1_000_000).sum(), torch.device("cpu"))
    assert peak >= 4_000_000 and "profiler" in method
    batch = training_batch([torch.rand(3, 64, 64), torch.rand(3, 32, 32)], 3)
    assert batch.shape == (3, 3, 32, 32)
    with pytest.raises(SemcomError, match="32x32"):
        training_batch([torch.rand(3, 16, 16)], 2)
