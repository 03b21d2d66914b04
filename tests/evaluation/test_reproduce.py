"""`semcom reproduce NAME`: recipes run their evaluations and write tables, plots and a manifest."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from PIL import Image

from semcom.cli import main as cli_main
from semcom.evaluation.reproduce import RECIPES, Evaluation, Recipe, markdown_pivot, run_recipe


@pytest.fixture
def folder(tmp_path, make_images):
    root = tmp_path / "imgs"
    root.mkdir()
    for i, im in enumerate(make_images(3)):
        Image.fromarray((im.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()).save(root / f"{i}.png")
    return root


@RECIPES.register("_test-quick")
def quick() -> Recipe:
    """A quick recipe of the tests: uncoded over AWGN and Rayleigh on a folder."""
    import os

    config = {"name": "quick", "dataset": {"name": "folder", "root": os.environ["QUICK_ROOT"], "limit": 3},
              "systems": [{"system": "uncoded"}], "channels": ["awgn", "rayleigh"], "snr_db": [0, 10],
              "metrics": ["psnr"], "seed": 3}
    return Recipe("_test-quick", "Quick.", [Evaluation("uncoded", config, markdown_pivot,
                                                       overrides=("repeats=2",))])


def test_a_recipe_writes_tables_plots_and_a_manifest(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("QUICK_ROOT", str(folder))
    out = run_recipe("_test-quick", out=tmp_path / "res", limit=2, overrides=["snr_db=[0, 5, 10]"],
                     progress=False, argv=["reproduce", "_test-quick", "--limit", "2"])
    with open(out / "uncoded" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 3 and {r["images"] for r in rows} == {"2"} and {r["repeats"] for r in rows} == {"2"}
    readme = (out / "README.md").read_text()
    for r in rows:  # every PSNR of the sweep is in the README's tables, as printed
        assert f"{float(r['psnr']):.2f}" in readme
    assert "| system | 0 | 5 | 10 |" in readme and "![psnr_vs_snr.png](uncoded/psnr_vs_snr.png)" in readme
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "semcom reproduce _test-quick --limit 2"
    (step,) = manifest["steps"]
    assert step["seed"] == 3 and step["config"]["dataset"]["limit"] == 2 and step["config"]["repeats"] == 2
    assert "--set 'dataset.limit=2'" in step["command"] and "--set 'snr_db=[0, 5, 10]'" in step["command"]
    assert {"semcom", "torch", "python", "platform"} <= set(manifest["versions"])


@RECIPES.register("_test-breaks")
def breaks() -> Recipe:
    """Two sweeps (the test makes the second fail)."""
    import os

    good = {"name": "good", "dataset": {"name": "folder", "root": os.environ["QUICK_ROOT"], "limit": 2},
            "systems": [{"system": "uncoded"}], "channels": ["awgn"], "snr_db": [5], "metrics": ["psnr"]}
    bad = {**good, "name": "bad"}
    return Recipe("_test-breaks", "Breaks.", [Evaluation("good", good, markdown_pivot),
                                              Evaluation("bad", bad, markdown_pivot)])


def test_an_interrupted_recipe_keeps_what_it_measured(folder, tmp_path, monkeypatch):
    from semcom.errors import SemcomError
    from semcom.evaluation import sweep

    monkeypatch.setenv("QUICK_ROOT", str(folder))
    real = sweep.run_sweep

    def failing(cfg, **kw):
        if cfg.name == "bad":
            raise SemcomError("interrupted")
        return real(cfg, **kw)

    monkeypatch.setattr(sweep, "run_sweep", failing)
    with pytest.raises(SemcomError, match="interrupted"):
        run_recipe("_test-breaks", out=tmp_path / "res", progress=False, argv=["reproduce", "_test-breaks"])
    readme = (tmp_path / "res" / "README.md").read_text()
    manifest = json.loads((tmp_path / "res" / "manifest.json").read_text())
    assert "## good" in readme and "## bad" not in readme and "**Incomplete:** bad" in readme
    assert "**Failed:** bad: interrupted" in readme and manifest["failed"] == "bad: interrupted"
    assert manifest["complete"] is False and [s["name"] for s in manifest["steps"]] == ["good"]

    # a run failing at its first sweep replaces an older complete report at once
    def first_fails(cfg, **kw):
        raise SemcomError("broken at once")

    monkeypatch.setattr(sweep, "run_sweep", first_fails)
    with pytest.raises(SemcomError, match="broken at once"):
        run_recipe("_test-breaks", out=tmp_path / "res", progress=False, argv=["reproduce", "_test-breaks"])
    readme = (tmp_path / "res" / "README.md").read_text()
    assert "## good" not in readme and "**Incomplete:** good, bad" in readme and "**Failed:** good" in readme
    assert json.loads((tmp_path / "res" / "manifest.json").read_text())["steps"] == []


def test_cli_lists_runs_and_refuses_bad_input(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QUICK_ROOT", str(folder))
    assert cli_main(["reproduce", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "baselines" in listed and "_test-quick" in listed
    assert cli_main(["reproduce", "_test-quick", "--limit", "1", "--out", str(tmp_path / "r"),
                     "--set", "snr_db=[10]"]) == 0
    assert "results: " in capsys.readouterr().out and (tmp_path / "r" / "README.md").is_file()
    assert cli_main(["reproduce", "nothing"]) == 2
    assert "error: unknown recipe 'nothing'" in capsys.readouterr().err
    assert cli_main(["reproduce", "_test-quick", "--limit", "0"]) == 2
    assert "--limit must be a positive number" in capsys.readouterr().err
    assert cli_main(["reproduce", "_test-quick", "--set", "snr_db=[nan]", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()  # configs are checked before anything runs


@pytest.mark.slow
def test_baselines_recipe_on_one_image_and_one_snr(shared_data, tmp_path):
    out = run_recipe("baselines", out=tmp_path / "b", limit=1, overrides=["snr_db=[10]"], progress=False)
    readme = (out / "README.md").read_text()
    assert "| ConvJSCC@7dB |" in readme and "| HEVC+5G LDPC |" in readme
    with open(out / "digital_kodak" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["cbr_requested"]) for r in rows] == [0.04, 0.1]
    assert float(rows[1]["psnr"]) > float(rows[0]["psnr"]) > 20


def test_table_makers_get_the_output_folder_when_they_ask(tmp_path):
    from semcom.evaluation.reproduce import make_table

    seen = []
    assert make_table(lambda rows: f"{len(rows)} rows", [{}], tmp_path) == "1 rows"
    assert make_table(lambda rows, out_dir: seen.append(out_dir) or "ok", [], tmp_path) == "ok"
    assert seen == [tmp_path]
    assert make_table(markdown_pivot, [], tmp_path) == ""  # metric stays its default: no folder given


def _staged_recipe(root, stages):
    """A recipe training a tiny two-stage ConvJSCC config, each stage replacing a zoo name."""
    import yaml

    config = root / "staged.yaml"
    config.write_text(yaml.safe_dump({
        "model": {"name": "convjscc", "cbr": "1/12", "widths": [8, 8, 8, 8]},
        "data": {"name": "folder", "root": str(root / "imgs"), "crop": 16}, "snr_db": 10, "batch_size": 2,
        "steps": 2, "log_every": 2, "threads": 1, "device": "cpu", "out_dir": str(root / "unused"),
        "stages": [{"name": "first"}, {"name": "second", "init_from": "previous"}]}))
    evaluation = {"name": "staged", "dataset": {"name": "folder", "root": str(root / "imgs"), "limit": 1},
                  "systems": [{"pretrained": "zoo_first", "label": "first"},
                              {"pretrained": "zoo_second", "label": "second"}],
                  "channels": ["awgn"], "snr_db": [10], "metrics": ["psnr"]}
    return Recipe("_test-staged", "Staged.", [Evaluation("staged", evaluation, markdown_pivot)],
                  train=[(str(config), stages)])


def test_a_staged_training_replaces_one_zoo_model_per_stage(folder, tmp_path):
    from semcom.errors import SemcomError

    recipe = _staged_recipe(folder.parent, {"first": "zoo_first", "second": "zoo_second"})
    RECIPES.register("_test-staged")(lambda: recipe)
    out = run_recipe("_test-staged", out=tmp_path / "res", train=True, progress=False,
                     argv=["reproduce", "_test-staged", "--train"])
    manifest = json.loads((out / "manifest.json").read_text())
    trained, evaluated = manifest["steps"]
    finals = {z: str(out / "train" / "staged" / s / "final") for s, z in (("first", "zoo_first"),
                                                                        ("second", "zoo_second"))}
    assert trained["kind"] == "train" and trained["checkpoint"] == finals
    assert [s["checkpoint"] for s in evaluated["config"]["systems"]] == [finals["zoo_first"], finals["zoo_second"]]
    with open(out / "staged" / "results.csv", newline="") as f:
        assert [r["system"] for r in csv.DictReader(f)] == ["first", "second"]

    bad = _staged_recipe(folder.parent, {"third": "zoo_first"})
    RECIPES.register("_test-staged-bad")(lambda: bad)
    with pytest.raises(SemcomError, match="no final weights at .*third"):
        run_recipe("_test-staged-bad", out=tmp_path / "bad", train=True, progress=False,
                   argv=["reproduce", "_test-staged-bad", "--train"])
