"""`semcom reproduce quad` on tiny untrained models: Quad-LIC rate-distortion, Quad-DeepSC
against the digital links, ablations, robustness, latency and MACs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semcom.cli import main as cli_main
from semcom.codecs import create_codec
from semcom.codecs.files import compress_image
from semcom.data.io import load_image
from semcom.errors import SemcomError
from semcom.evaluation.config import EvalConfig
from semcom.evaluation.quad_claims import ABLATIONS, CONFIGS, QUAD_DEEPSC, quad_recipe
from semcom.evaluation.quad_links import bd_cbr
from semcom.evaluation.quad_rd import CodecLink, bd_rates, codec_systems
from semcom.evaluation.reproduce import RECIPES, repo_path
from semcom.models import create_model, save_model
from semcom.models.quad import QuadDeepSC, QuadLIC, export_checkpoint

#: the rd part's classical codecs in the tests: two fast ones, 4 points each (BD needs 4)
LADDERS = {"jpeg": [10, 30, 50, 70], "webp": [10, 30, 50, 70]}
#: one CBR budget everywhere: the MCS selection costs ~10 s per new allocation size
CBR = 0.1


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _tiny_quad_recipe():
    """The recipe at test scale: two fast codecs beside the tiny Quad-LIC ladder, one digital
    link (HEVC; Quad-LIC + 5G LDPC is checked in the configs), one CBR budget, two SNRs."""
    return quad_recipe(ladders=LADDERS, digital_codecs=("hevc",), digital_cbrs=[CBR], robust_cbr=CBR,
                       etas=[0.5, 1.0, 2.0, 4.0], snrs=[-3, 10], bd_anchors=("jpeg",), workers=1)


RECIPES.register("_test-quad")(_tiny_quad_recipe)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A zoo of tiny untrained models under their real zoo names (the Quad-LIC ladder
    quad_lic_q1..q4, Quad-DeepSC and its checkerboard ablation; the other ablations
    missing) and a folder of two 64x96 PNGs."""
    root = tmp_path_factory.mktemp("quad")
    zoo = root / "zoo"
    zoo.mkdir()
    for index in range(1, 5):
        torch.manual_seed(index)
        export_checkpoint(QuadLIC(N=16, M=32).update().eval(), zoo / f"quad_lic_q{index}")
    torch.manual_seed(0)
    save_model(create_model("quad_deepsc", **QuadDeepSC.tiny_config()).update(), zoo / QUAD_DEEPSC)
    torch.manual_seed(1)
    checkerboard = create_model("quad_deepsc", **{**QuadDeepSC.tiny_config(), "partition": "checkerboard"})
    save_model(checkerboard.update(), zoo / ABLATIONS["checkerboard"][1])
    images = root / "images"
    images.mkdir()
    y, x = np.mgrid[0:64, 0:96]
    for i in range(2):
        rgb = np.stack([128 + 60 * np.sin(x / 7 + i), 128 + 50 * np.cos(y / 5), 100 + 40 * np.sin((x + y) / 9)], -1)
        Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(images / f"{i}.png")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEMCOM_ZOO", str(zoo))
        yield {"root": root, "zoo": zoo, "images": images}


@pytest.fixture(scope="module")
def recipe_out(tiny):
    """The recipe through the CLI on one image."""
    out = tiny["root"] / "results"
    argv = ["reproduce", "_test-quad", "--limit", "1", "--out", str(out),
            "--set", "dataset.name=folder", "--set", f"dataset.root={tiny['images']}"]
    assert cli_main(argv) == 0
    return {"out": out}


# ------------------------------------------------------------ the whole recipe
def test_recipe_runs_every_part_on_one_image(recipe_out):
    out = recipe_out["out"]
    for name in ("README.md", "manifest.json", "rd/rd.csv", "rd/bd_rate.csv", "rd/rd_psnr.png", "rd/rd_ms_ssim.png",
                 "rd/quad_lic_costs.csv", "awgn10/bd_cbr.csv", "awgn10/costs.csv", "awgn10/ms_ssim_db_vs_cbr.png",
                 "ablations/bd_cbr.csv", "ablations/costs.csv", "fading/psnr_by_channel.png", "snr/psnr_vs_snr.png"):
        assert (out / name).is_file(), name
    steps = json.loads((out / "manifest.json").read_text())["steps"]
    assert [s["name"] for s in steps] == ["rd", "awgn10", "ablations", "fading", "snr"]
    assert {s["images"] for s in steps} == {1}


def test_rd_part_measures_the_file_the_decoder_needs(recipe_out, tiny):
    points = _csv(recipe_out["out"] / "rd" / "rd.csv")
    assert [(p["codec"], float(p["quality"])) for p in points] == \
        [("JPEG", q) for q in LADDERS["jpeg"]] + [("WebP", q) for q in LADDERS["webp"]] + \
        [("Quad-LIC", q) for q in (1, 2, 3, 4)]
    image = load_image(sorted(tiny["images"].glob("*.png"))[0])
    for p in points[:4] + points[-4:-3]:  # JPEG, and Quad-LIC's first ladder point (through the zoo)
        codec = "jpeg" if p["codec"] == "JPEG" else "quad_lic"
        written = compress_image(image, tiny["root"] / "x.bin", codec, quality=float(p["quality"]))
        assert float(p["bpp"]) == pytest.approx(written.bpp)  # one image: the mean is its bpp
    for p in points:
        assert float(p["psnr"]) > 0 and 0 < float(p["ms_ssim"]) <= 1 and float(p["bpp"]) > 0
    jpeg = [float(p["bpp"]) for p in points if p["codec"] == "JPEG"]
    assert jpeg == sorted(jpeg)
    table = _csv(recipe_out["out"] / "rd" / "bd_rate.csv")
    webp = [t for t in table if t["codec"] == "WebP" and t["anchor"] == "JPEG"]
    assert {t["metric"] for t in webp} == {"psnr", "ms_ssim_db"}
    assert all(math.isfinite(float(t["bd_rate_percent"])) for t in webp)
    untrained = [t for t in table if t["codec"] == "Quad-LIC"]  # ~8 dB: no overlap with JPEG's quality
    assert len(untrained) == 2 and all(t["bd_rate_percent"] == "" and "do not overlap" in t["note"] for t in untrained)
    costs = _csv(recipe_out["out"] / "rd" / "quad_lic_costs.csv")[0]
    assert costs["model"] == "Quad-LIC q3" and int(costs["threads"]) >= 1
    for key in ("encode_ms_mean", "decode_ms_mean", "gmacs_encoder", "gmacs_decoder", "params_m"):
        assert float(costs[key]) > 0, key
    readme = (recipe_out["out"] / "README.md").read_text()
    assert "| codec | vs JPEG (PSNR) | vs JPEG (MS-SSIM dB) |" in readme
    assert readme.count("(rd/rd_psnr.png)") == 1


def test_link_part_sweeps_eta_and_the_digital_links(recipe_out):
    folder = recipe_out["out"] / "awgn10"
    rows = _csv(folder / "results.csv")
    assert list(dict.fromkeys(r["system"] for r in rows)) == ["Quad-DeepSC", "HEVC intra+5G LDPC"]
    assert [float(r["run.eta"]) for r in rows if r["system"] == "Quad-DeepSC"] == [0.5, 1.0, 2.0, 4.0]
    config = json.loads((folder / "results.json").read_text())["config"]
    digital = [s for s in config["systems"] if s.get("system") == "digital"]
    assert all(s["max_retransmissions"] == 9 and s["cbr"] == [CBR] and "mcs" not in s for s in digital)
    assert config["snr_db"] == [10.0] and [c["name"] for c in config["channels"]] == ["awgn"]
    table = _csv(folder / "bd_cbr.csv")
    mine = [t for t in table if t["system"] == "Quad-DeepSC"]
    assert {(t["anchor"], t["metric"]) for t in mine} == {("HEVC intra+5G LDPC", m) for m in ("psnr", "ms_ssim_db")}
    assert all(t["bd_cbr_percent"] == "" and t["note"] for t in mine)  # one budget: n/a, and why
    costs = _csv(folder / "costs.csv")
    assert [c["model"] for c in costs] == ["Quad-DeepSC"] and float(costs[0]["gmacs_decoder"]) > 0
    assert (int(costs[0]["height"]), int(costs[0]["width"])) == (64, 128)  # padded to multiples of 64


def test_ablations_report_the_missing_ones(recipe_out):
    rows = _csv(recipe_out["out"] / "ablations" / "results.csv")
    assert list(dict.fromkeys(r["system"] for r in rows)) == ["Quad-DeepSC", "w/ checkerboard partition"]
    assert [c["model"] for c in _csv(recipe_out["out"] / "ablations" / "costs.csv")] == \
        ["Quad-DeepSC", "w/ checkerboard partition"]
    readme = (recipe_out["out"] / "README.md").read_text()
    for key in ("channel_ar", "no_unet", "no_quadtree_features", "no_rsd"):
        label, zoo_name = ABLATIONS[key]
        assert f"ablation {label} ({zoo_name}): no weights on this machine" in readme
    assert "ablation w/ checkerboard partition" not in readme


def test_robustness_parts(recipe_out):
    fading = _csv(recipe_out["out"] / "fading" / "results.csv")
    channels = {r["channel"] for r in fading}
    assert channels == {"rayleigh", "rayleigh imperfect CSI", "gauss-markov", "gauss-markov imperfect CSI",
                        "gilbert-elliott", "blockage", "blockage imperfect CSI"}
    imperfect = [r for r in fading if r["channel"].endswith("imperfect CSI")]
    assert {json.loads(r["channel_params"])["csi_nmse"] for r in imperfect} == {0.1}
    assert {r["system"] for r in fading} == {"Quad-DeepSC", "HEVC intra+5G LDPC"}
    snr = _csv(recipe_out["out"] / "snr" / "results.csv")
    assert {(r["channel"], float(r["snr_db"])) for r in snr} == {(c, s) for c in ("awgn", "rayleigh") for s in (-3, 10)}
    readme = (recipe_out["out"] / "README.md").read_text()
    assert "| channel | Quad-DeepSC | HEVC intra+5G LDPC |" in readme
    assert "awgn: psnr at SNR (dB)" in readme and "rayleigh: psnr at SNR (dB)" in readme


# ----------------------------------------------------------- the shipped recipe
def test_shipped_recipe_uses_all_kodak_images_and_zoo_names(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCOM_ZOO", str(tmp_path))  # an empty zoo: no Quad weights
    recipe = RECIPES.create("quad")
    assert [ev.name for ev in recipe.evaluations] == ["rd", "awgn10", "fading", "snr"]  # no ablation weights
    for ev in recipe.evaluations:
        cfg = EvalConfig.load(repo_path(ev.config) if isinstance(ev.config, str) else ev.config, ev.overrides)
        assert cfg.dataset.name == "kodak" and cfg.dataset.limit is None
        assert "Quad-DeepSC" not in {s.get("label") for s in cfg.systems}  # left out, not a crash
    rd = recipe.evaluations[0].config
    rd_text = recipe.evaluations[0].table([])  # its own missing parts only
    assert "- Quad-LIC (rd): quad_lic: the weights of quality 1 are missing" in rd_text and "5G LDPC" not in rd_text
    assert [s["label"] for s in rd["systems"]] == ["JPEG", "JPEG 2000", "WebP", "HEVC intra", "AVIF", "VVC intra"]
    for part in ("awgn10", "snr"):
        (ev,) = [e for e in recipe.evaluations if e.name == part]
        labels = [s["label"] for s in ev.config["systems"]]
        assert labels == ["VVC intra+5G LDPC", "HEVC intra+5G LDPC"]  # Quad-LIC + 5G LDPC needs the ladder
    snr = EvalConfig.load(repo_path(CONFIGS["snr"]))
    assert snr.snr_db == [-3, -1, 1, 3, 5, 7, 10] and [c.name for c in snr.channels] == ["awgn", "rayleigh"]
    for line in ("Quad-LIC (rd): quad_lic: the weights of quality 1 are missing",
                 f"Quad-DeepSC ({QUAD_DEEPSC}): no weights on this machine",
                 "Quad-LIC+5G LDPC: quad_lic: the weights of quality 1 are missing"):
        assert line in recipe.description


def test_shipped_recipe_uses_the_config_files_when_everything_is_there(tiny):
    recipe = quad_recipe()
    configs = {ev.name: ev.config for ev in recipe.evaluations}
    assert configs["awgn10"] == CONFIGS["awgn10"] and configs["fading"] == CONFIGS["fading"]
    awgn = EvalConfig.load(repo_path(CONFIGS["awgn10"]))
    assert awgn.systems[0]["pretrained"] == QUAD_DEEPSC
    assert awgn.systems[0]["run"] == {"eta": [0.25, 0.35, 0.5, 0.7, 1.0]}
    assert [s["codec"] for s in awgn.systems[1:]] == ["vvc", "hevc", "quad_lic"]
    assert all(s["max_retransmissions"] == 9 for s in awgn.systems[1:])
    assert [s["label"] for s in configs["ablations"]["systems"]] == ["Quad-DeepSC", "w/ checkerboard partition"]


def test_recipe_options_replace_models(tiny, tmp_path):
    path = save_model(create_model("quad_deepsc", **QuadDeepSC.tiny_config()), tmp_path / "mine")
    recipe = quad_recipe(quad_deepsc=str(path) + ".json", ablations={"no_unet": path},
                         quad_lic=[tiny["zoo"] / "quad_lic_q2"], digital_codecs=("hevc",))
    awgn = next(ev.config for ev in recipe.evaluations if ev.name == "awgn10")
    assert awgn["systems"][0]["checkpoint"] == str(Path(path).resolve()) and "pretrained" not in awgn["systems"][0]
    assert [s["label"] for s in awgn["systems"]] == ["Quad-DeepSC", "HEVC intra+5G LDPC"]
    ablations = next(ev.config for ev in recipe.evaluations if ev.name == "ablations")["systems"]
    assert [s["label"] for s in ablations] == ["Quad-DeepSC", "w/ checkerboard partition", "w/o UNet"]
    rd = recipe.evaluations[0].config["systems"]
    assert rd[-1]["label"] == "Quad-LIC" and rd[-1]["run"] == {"quality": [1]}  # a one-point ladder
    with pytest.raises(SemcomError, match="unknown ablation 'no_vit'"):
        quad_recipe(ablations={"no_vit": path})


def test_missing_data_is_one_error_line(tiny, tmp_path, capsys):
    argv = ["reproduce", "_test-quad", "--limit", "1", "--out", str(tmp_path / "r"),
            "--set", f"dataset.root={tmp_path / 'no_kodak'}"]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: dataset 'kodak'") and "does not exist" in err[0]


# ------------------------------------------------------------------ the pieces
def test_codec_systems_report_missing_weights_and_check_ladders(tmp_path):
    specs, missing = codec_systems({"jpeg": [10, 50]}, quad_lic=[str(tmp_path / "nothing")])
    assert [s["label"] for s in specs] == ["JPEG"] and isinstance(specs[0]["link"], CodecLink)
    assert len(missing) == 1 and missing[0].startswith("Quad-LIC (rd): quad_lic: the weights of quality 1 are missing")
    with pytest.raises(SemcomError, match="quality must be in"):
        codec_systems({"jpeg": [0, 50]}, quad_lic=[])


def test_codec_link_charges_the_file_bits(make_images):
    link = CodecLink(create_codec("webp"))
    images = torch.stack(make_images(2, 32, 48))
    result = link.transmit(images, None, 10.0, quality=40)
    codec = create_codec("webp")
    for i in range(2):
        file_bytes = len(codec.unwrap(codec.encode(images[i], 40)))
        assert int(result.channel_uses[i]) == 8 * file_bytes
        assert float(result.cbr[i]) * 3 == pytest.approx(8 * file_bytes / (32 * 48))  # cbr = bpp / 3
    assert torch.equal(result.images[0], codec.decode(codec.encode(images[0], 40)))


def _points(codec: str, bpps: list[float], psnrs: list[float]) -> list[dict]:
    return [{"codec": codec, "bpp": b, "psnr": q, "ms_ssim_db": q / 2} for b, q in zip(bpps, psnrs)]


def test_bd_rate_is_finite_on_overlapping_curves_and_na_otherwise():
    anchor = _points("A", [0.1, 0.2, 0.4, 0.8], [28, 31, 34, 37])
    half = _points("B", [0.05, 0.1, 0.2, 0.4], [28, 31, 34, 37])  # the same quality at half the rate
    apart = _points("C", [0.1, 0.2, 0.4, 0.8], [10, 11, 12, 13])
    short = _points("D", [0.1, 0.2, 0.4], [28, 31, 34])
    table = {(e["codec"], e["metric"]): e for e in bd_rates(anchor + half + apart + short, ["A", "Z"])
             if e["anchor"] == "A"}
    assert table[("B", "psnr")]["bd_rate_percent"] == pytest.approx(-50, abs=1e-6)
    assert table[("B", "ms_ssim_db")]["bd_rate_percent"] == pytest.approx(-50, abs=1e-6)
    assert table[("C", "psnr")]["bd_rate_percent"] is None and "do not overlap" in table[("C", "psnr")]["note"]
    assert table[("D", "psnr")]["bd_rate_percent"] is None and "3 points" in table[("D", "psnr")]["note"]
    absent = [e for e in bd_rates(anchor + half, ["Z"])]
    assert {e["note"] for e in absent} == {"anchor Z was not measured"}


def test_bd_cbr_of_an_eta_sweep_against_a_digital_curve():
    def row(system, cbr, psnr, **run):
        return {"system": system, "source": system, "channel": "awgn", "snr_db": 10.0, "cbr": cbr, "psnr": psnr,
                "ms_ssim_db": psnr / 2, **{f"run.{k}": v for k, v in run.items()}}

    digital = [row("VVC", c, q, mcs="auto") for c, q in zip([0.02, 0.04, 0.06, 0.08], [28, 31, 33, 34.5])]
    quad = [row("Quad", 0.9 * c, q, eta=e) for c, q, e in zip([0.02, 0.04, 0.06, 0.08], [28, 31, 33, 34.5],
                                                               [0.25, 0.5, 0.7, 1.0])]
    table = bd_cbr(digital + quad, ["VVC", "absent"])
    assert {(e["system"], e["metric"]) for e in table} == {("Quad", "psnr"), ("Quad", "ms_ssim_db")}
    for e in table:  # the four eta points are one curve: 10 % fewer channel uses at every quality
        assert e["bd_cbr_percent"] == pytest.approx(-10, abs=1e-6) and e["points"] == 4
