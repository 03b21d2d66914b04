"""`semcom reproduce fajscc` on tiny untrained models, and the list-of-points form of `run`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semcom.cli import main as cli_main
from semcom.errors import SemcomError
from semcom.evaluation.config import EvalConfig
from semcom.evaluation.fajscc_claims import (CONFIGS, encoder_decoder_macs, fajscc_recipe, macs_claim,
                                             point_curves, rho_summary, snr_claims)
from semcom.evaluation.reproduce import RECIPES, repo_path
from semcom.evaluation.sweep import run_sweep
from semcom.models import save_model
from semcom.models.fajscc import FAJSCC
from semcom.models.swinjscc import SwinJSCC

RHOS = [round(0.1 * i, 1) for i in range(11)]
#: the 31 points of fajscc_rho.yaml: both, encoder only, decoder only ((0.5, 0.5) once)
RHO_POINTS = {(r, r) for r in RHOS} | {(r, 0.5) for r in RHOS} | {(0.5, r) for r in RHOS}


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write_images(root: Path, count: int = 2, size: int = 64) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:size, 0:size]
    for i in range(count):
        rgb = np.stack([128 + 60 * np.sin(x / 7 + i), 128 + 50 * np.cos(y / 5), 100 + 40 * np.sin((x + y) / 9)], -1)
        Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(root / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny untrained FAJSCC / SwinJSCC checkpoints and a folder of two 64x64 PNGs."""
    root = tmp_path_factory.mktemp("fajscc")
    torch.manual_seed(0)
    return {"fajscc": save_model(FAJSCC(**FAJSCC.tiny_config()), root / "fajscc_tiny"),
            "swinjscc": save_model(SwinJSCC(**SwinJSCC.tiny_config()), root / "swinjscc_tiny"),
            "images": _write_images(root / "images"), "root": root}


@pytest.fixture(scope="module")
def recipe_out(tiny):
    """The real recipe through the CLI, models and dataset replaced by `--set`, on one image."""
    out = tiny["root"] / "results"
    argv = ["reproduce", "fajscc", "--limit", "1", "--out", str(out),
            "--set", "dataset.name=folder", "--set", f"dataset.root={tiny['images']}",
            "--set", "systems.0.pretrained=null", "--set", f"systems.0.checkpoint={tiny['fajscc']}",
            "--set", "systems.1.pretrained=null", "--set", f"systems.1.checkpoint={tiny['swinjscc']}"]
    assert cli_main(argv) == 0
    return out


# ----------------------------------------------------------------- the recipe
def test_recipe_writes_the_three_parts(recipe_out, tiny):
    for name in ("README.md", "manifest.json", "macs/results.csv", "macs/macs.csv", "macs/psnr_vs_macs.png",
                 "rho/results.csv", "rho/rho.csv", "rho/rho_spread.csv", "rho/psnr_vs_rho.png",
                 "snr/results.csv", "snr/psnr_vs_snr.png", "snr/ms_ssim_vs_snr.png"):
        assert (recipe_out / name).is_file(), name
    manifest = json.loads((recipe_out / "manifest.json").read_text())
    steps = manifest["steps"]
    assert [s["name"] for s in steps] == ["macs", "rho", "snr"] and {s["images"] for s in steps} == {1}
    for step, part in zip(steps, ("macs", "rho", "snr")):
        assert step["command"].startswith(f"semcom evaluate {CONFIGS[part]} ")
        assert f"--set 'systems.0.checkpoint={tiny['fajscc']}'" in step["command"]
        assert step["config"]["systems"][0]["checkpoint"] == str(tiny["fajscc"])
        assert step["config"]["systems"][1]["checkpoint"] == str(tiny["swinjscc"])
    readme = (recipe_out / "README.md").read_text()
    for plot in ("macs/psnr_vs_macs.png", "rho/psnr_vs_rho.png", "snr/ms_ssim_vs_snr.png"):
        assert readme.count(f"({plot})") == 1, plot


def test_macs_part_counts_more_with_rho(recipe_out):
    table = _csv(recipe_out / "macs" / "macs.csv")
    faj = [t for t in table if t["system"] == "FAJSCC"]
    assert [(float(t["rho_enc"]), float(t["rho_dec"])) for t in faj] == [(r, r) for r in (0, 0.25, 0.5, 0.75, 1)]
    for side in ("gmacs_encoder", "gmacs_decoder", "gmacs"):
        values = [float(t[side]) for t in faj]
        assert all(a < b for a, b in zip(values, values[1:])), side
    (swin,) = [t for t in table if t["system"] == "SwinJSCC"]
    assert swin["rho_enc"] == "" and float(swin["gmacs"]) > 0
    for t in table:
        assert abs(float(t["gmacs"]) - float(t["gmacs_encoder"]) - float(t["gmacs_decoder"])) < 1e-9
        assert t["psnr_1db"] and t["psnr_10db"]
    readme = (recipe_out / "README.md").read_text()
    assert "| system | rho_enc | rho_dec | encoder GMACs | decoder GMACs | total GMACs | PSNR 1 dB | PSNR 10 dB |" \
        in readme and "one 1x3x512x768 image" in readme


def test_rho_part_evaluates_the_31_points_and_tables_three_curves(recipe_out):
    rows = _csv(recipe_out / "rho" / "results.csv")
    faj = [r for r in rows if r["system"] == "FAJSCC"]
    pairs = [(float(r["run.rho_enc"]), float(r["run.rho_dec"])) for r in faj]
    assert len(faj) == 31 * 2 and set(pairs) == RHO_POINTS and len(set(pairs)) == 31
    assert len([r for r in rows if r["system"] == "SwinJSCC"]) == 2
    table = _csv(recipe_out / "rho" / "rho.csv")
    assert [float(t["rho"]) for t in table] == RHOS
    columns = [f"{c}_{s}db" for s in (1, 10) for c in ("both", "encoder", "decoder")]
    assert list(table[0])[2:] == columns and all(t[c] for t in table for c in columns)
    psnr = {(float(r["run.rho_enc"]), float(r["run.rho_dec"]), float(r["snr_db"])): float(r["psnr"]) for r in faj}
    for t in table:
        r = float(t["rho"])
        assert float(t["decoder_10db"]) == psnr[(0.5, r, 10.0)] and float(t["encoder_1db"]) == psnr[(r, 0.5, 1.0)]
    spread = {(s["curve"], float(s["snr_db"])): float(s["spread_db"])
              for s in _csv(recipe_out / "rho" / "rho_spread.csv")}
    for c in ("both", "encoder", "decoder"):
        for s in (1, 10):
            values = [float(t[f"{c}_{s}db"]) for t in table]
            assert spread[(c, float(s))] == pytest.approx(max(values) - min(values))
    readme = (recipe_out / "README.md").read_text()
    assert "| rho | both 1 dB | encoder 1 dB | decoder 1 dB | both 10 dB | encoder 10 dB | decoder 10 dB |" in readme
    assert "| curve | 1 dB | 10 dB |" in readme and "decoder / encoder spread" in readme
    assert readme.count("\n| 0.3 |") == 1


def test_snr_part_pivots_psnr_and_ms_ssim(recipe_out):
    rows = _csv(recipe_out / "snr" / "results.csv")
    systems = ["FAJSCC", "SwinJSCC", "ADJSCC", "HEVC+5G LDPC"]
    assert list(dict.fromkeys(r["system"] for r in rows)) == systems
    assert sorted({float(r["snr_db"]) for r in rows}) == [1, 4, 7, 10, 13]
    assert {float(r["cbr_requested"]) for r in rows if r["system"] == "HEVC+5G LDPC"} == {0.0625}
    assert {(r["run.rho_enc"], r["run.rho_dec"]) for r in rows if r["system"] == "FAJSCC"} == {("0.5", "0.5")}
    readme = (recipe_out / "README.md").read_text()
    assert readme.count("| SNR (dB) | " + " | ".join(systems) + " |") == 2  # PSNR and MS-SSIM
    for r in rows:
        if r["system"] != "HEVC+5G LDPC":  # its cells may carry a "(n% lost)" mark
            assert f"{float(r['psnr']):.2f}" in readme and f"{float(r['ms_ssim']):.4f}" in readme


def test_recipe_options_replace_models_per_sweep(tiny):
    recipe = fajscc_recipe(fajscc=tiny["fajscc"], swinjscc=str(tiny["swinjscc"]) + ".json",
                           adjscc="adjscc_hr_cbr1-16", digital=False)
    configs = {ev.name: EvalConfig.load(repo_path(ev.config) if isinstance(ev.config, str) else ev.config,
                                        ev.overrides) for ev in recipe.evaluations}
    assert list(configs) == ["macs", "rho", "snr"]
    for cfg in configs.values():
        assert cfg.systems[0]["checkpoint"] == str(tiny["fajscc"]) and cfg.systems[0]["pretrained"] is None
        assert cfg.systems[1]["checkpoint"] == str(tiny["swinjscc"])  # the base path, suffix dropped
    assert [s["label"] for s in configs["snr"].systems] == ["FAJSCC", "SwinJSCC", "ADJSCC"]  # no digital
    assert configs["snr"].systems[2]["pretrained"] == "adjscc_hr_cbr1-16"


def test_shipped_recipe_uses_all_kodak_images_and_the_zoo():
    recipe = RECIPES.create("fajscc")
    assert [ev.config for ev in recipe.evaluations] == [CONFIGS["macs"], CONFIGS["rho"], CONFIGS["snr"]]
    configs = [EvalConfig.load(repo_path(ev.config), ev.overrides) for ev in recipe.evaluations]
    for cfg in configs:
        assert cfg.dataset.name == "kodak" and cfg.dataset.limit is None  # all 24 unless --limit
        assert cfg.systems[0]["pretrained"] == "fajscc_hr_cbr1-16"
        assert cfg.systems[1]["pretrained"] == "swinjscc_hr_cbr1-16"
        assert {c.name for c in cfg.channels} == {"awgn"}
    macs, rho, snr = configs
    assert macs.snr_db == rho.snr_db == [1, 10] and snr.snr_db == [1, 4, 7, 10, 13]
    assert [(p["rho_enc"], p["rho_dec"]) for p in macs.systems[0]["run"]] == [(r, r) for r in (0, 0.25, 0.5, 0.75, 1)]
    points = [(p["rho_enc"], p["rho_dec"]) for p in rho.systems[0]["run"]]
    assert len(points) == 31 and set(points) == RHO_POINTS
    assert snr.systems[2]["pretrained"] == "adjscc_hr_cbr1-16"
    assert snr.systems[3]["system"] == "digital" and snr.systems[3]["codec"] == "hevc"
    assert float(snr.systems[3]["cbr"]) == 0.0625 and "ms_ssim" in snr.metric_names


def test_point_curves():
    assert point_curves(0.5, 0.5) == [("both", 0.5), ("encoder", 0.5), ("decoder", 0.5)]
    assert point_curves(0.3, 0.5) == [("encoder", 0.3)] and point_curves(0.5, 0.0) == [("decoder", 0.0)]
    assert point_curves(0.2, 0.2) == [("both", 0.2)] and point_curves(0.2, 0.3) == []
    (summary,) = rho_summary({("F", "both", 1.0): {0.0: 20.0, 0.5: 23.0, 1.0: 24.0}})
    assert summary["spread_db"] == 4.0 and summary["share_by_0.5"] == 0.75


# ---------------------------------------------------------------------- MACs
def test_encoder_and_decoder_macs_grow_with_their_own_rho():
    torch.manual_seed(0)
    model = FAJSCC(**FAJSCC.tiny_config())
    shape = (1, 3, 64, 64)
    enc = [encoder_decoder_macs(model, {"rho_enc": r, "rho_dec": 0.5}, shape) for r in (0.0, 0.5, 1.0)]
    dec = [encoder_decoder_macs(model, {"rho_enc": 0.5, "rho_dec": r}, shape) for r in (0.0, 0.5, 1.0)]
    assert enc[0][0] < enc[1][0] < enc[2][0] and len({m[1] for m in enc}) == 1  # rho_dec fixed: same decoder
    assert dec[0][1] < dec[1][1] < dec[2][1] and len({m[0] for m in dec}) == 1
    assert enc[1] == dec[1] == encoder_decoder_macs(model, None, shape)  # the defaults are 0.5 / 0.5
    with pytest.raises(SemcomError, match="rho_enc"):
        encoder_decoder_macs(model, {"rho_enc": 2.0}, shape)


# ----------------------------------------------------- run as a list of points
def _sweep(link, run, **extra):
    return {"systems": [{"link": link, "label": "knob", "run": run}], "snr_db": [10], "metrics": ["psnr"],
            "seed": 0, **extra}


def test_points_run_evaluates_exactly_the_listed_points(knob_link, tiny_images, tmp_path):
    points = [{"shift": 5, "uses": 20}, {"shift": 0, "uses": 10}, {"shift": 5}]  # the last: uses 10 (default)
    rows = run_sweep(_sweep(knob_link, points, out_dir=str(tmp_path / "p")), images=tiny_images,
                     progress=False, write=True)
    assert [(r["run.shift"], r["run.uses"]) for r in rows] == [(5, 20), (0, 10), (5, 10)]  # in order, no product
    assert [r["channel_uses"] for r in rows] == [21.0, 11.0, 11.0]  # uses + i over 3 images: mean uses + 1
    assert type(rows) is list and (tmp_path / "p" / "results.csv").is_file()  # plain rows; the sweep wrote out_dir
    for name in ("psnr_vs_shift.png", "psnr_vs_uses.png"):  # both take two values among the points
        assert (tmp_path / "p" / name).is_file()
    product = run_sweep(_sweep(knob_link, {"shift": [0, 5], "uses": [10, 20]}), images=tiny_images,
                        progress=False, write=False)
    assert len(product) == 4  # the mapping form still multiplies
    single = run_sweep(_sweep(knob_link, [{"shift": 3}]), images=tiny_images, progress=False,
                       write=False)
    assert [(r["run.shift"], r["run.uses"]) for r in single] == [(3, 10)]
    partly = run_sweep(_sweep(knob_link, [{"shift": 1, "uses": 20}, {"shift": 1}], out_dir=str(tmp_path / "q")),
                       images=tiny_images, progress=False, write=True)
    assert [r["run.uses"] for r in partly] == [20, 10]  # the second point takes the default
    assert (tmp_path / "q" / "psnr_vs_uses.png").is_file() and not (tmp_path / "q" / "psnr_vs_shift.png").exists()


def test_points_run_loads_back_and_is_overridable(tmp_path):
    raw = {"systems": [{"system": "uncoded", "run": [{"a": 1}, {"a": 2, "b": "x"}]}], "snr_db": [1]}
    cfg = EvalConfig.load(raw)
    assert cfg.systems[0]["run"] == [{"a": 1}, {"a": 2, "b": "x"}]
    assert EvalConfig.load(cfg.to_dict()).systems == cfg.systems
    over = EvalConfig.load(raw, ["systems.0.run=[{a: 3}, {a: 4}]"])
    assert over.systems[0]["run"] == [{"a": 3}, {"a": 4}]
    assert EvalConfig.load(raw, ["systems.0.run.1.a=9"]).systems[0]["run"][1] == {"a": 9, "b": "x"}


@pytest.mark.parametrize("run, message", [
    ([], "run is an empty list"),
    ([{"a": 1}, 3], "run point 1 must be a mapping"),
    ([{"a": [1, 2]}], "run point 0: a must be one scalar value"),
    ([{"a": 1, "b": 2}, {"b": 2, "a": 1}], "run points 0 and 1 are the same point"),
])
def test_points_run_errors_in_the_config(run, message):
    with pytest.raises(SemcomError, match=message):
        EvalConfig.load({"systems": [{"system": "uncoded", "run": run}], "snr_db": [1]})


def test_points_run_errors_before_any_transmission(knob_link, tiny_images):
    with pytest.raises(SemcomError, match="are the same point"):  # the same once the default is filled in
        run_sweep(_sweep(knob_link, [{"shift": 1}, {"shift": 1, "uses": 10}]), images=tiny_images,
                  progress=False, write=False)
    with pytest.raises(SemcomError, match="no run-time setting shfit"):
        run_sweep(_sweep(knob_link, [{"shfit": 1}]), images=tiny_images, progress=False, write=False)
    with pytest.raises(SemcomError, match="knob"):
        run_sweep(_sweep(knob_link, [{"shift": 99}]), images=tiny_images, progress=False, write=False)


def _snr_rows(psnr: dict[str, list[float]]) -> list[dict]:
    return [{"system": system, "snr_db": snr, "psnr": value, "channel": "awgn"}
            for system, values in psnr.items() for snr, value in zip([1, 4, 7, 10, 13], values)]


def test_snr_claims_judge_each_claim_on_its_own_snrs():
    rows = _snr_rows({"FAJSCC": [24, 25, 26, 27, 28], "SwinJSCC": [24, 25, 26.5, 27, 27],
                      "ADJSCC": [22, 23, 24, 25, 26], "HEVC+5G LDPC": [0, 20, 25.9, 30, 31]})
    swin, hevc, adjscc = snr_claims(rows)
    assert "SwinJSCC" in swin and "does not hold" in swin and "7 dB -0.50" in swin
    assert "HEVC" in hevc and ": holds" in hevc and "10 dB" not in hevc  # 10 and 13 dB are not claimed
    assert "ADJSCC" in adjscc and ": holds" in adjscc and "13 dB +2.00" in adjscc
    tie = snr_claims(_snr_rows({"FAJSCC": [1] * 5, "SwinJSCC": [1] * 5, "ADJSCC": [1] * 5}))
    assert ": holds" in tie[0] and "does not hold" in tie[2]  # "not worse" allows a tie, "beats" does not
    assert "not judged" in tie[1]


def test_macs_claim_compares_rho_half_with_the_fixed_systems():
    points = [{"system": "FAJSCC", "rho_enc": 0.5, "rho_dec": 0.5, "gmacs": 14.4},
              {"system": "FAJSCC", "rho_enc": 1.0, "rho_dec": 1.0, "gmacs": 17.6},
              {"system": "SwinJSCC", "rho_enc": None, "rho_dec": None, "gmacs": 21.0}]
    (line,) = macs_claim(points)
    assert ": holds" in line and "14.400 vs 21.000" in line
    points[2]["gmacs"] = 14.0
    assert "does not hold" in macs_claim(points)[0]
