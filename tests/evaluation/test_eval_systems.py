"""Building systems from specs (registry names, cbr lists, checkpoints, zoo names) and the
``semcom evaluate`` entry point on a real image folder."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from PIL import Image

from semcom.cli import main as cli_main
from semcom.errors import CheckpointError, SemcomError, UnknownNameError
from semcom.evaluation import build_link, build_systems, evaluate, run_sweep
from semcom.models import ConvJSCC, save_model

TINY = {"widths": [4, 4, 4, 4]}


@pytest.fixture
def checkpoints(tmp_path):
    """Two tiny ConvJSCC checkpoints, cbr 1/12 and 1/6: name -> (base path, model)."""
    torch.manual_seed(0)
    out = {}
    for name, cbr in (("conv_cbr1-12", 1 / 12), ("conv_cbr1-6", 1 / 6)):
        model = ConvJSCC(cbr=cbr, **TINY)
        out[name] = (save_model(model, tmp_path / "zoo" / name), model)
    return out


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_build_by_name_and_cbr():
    link = build_link({"system": "convjscc", "cbr": "1/6", **TINY})
    assert isinstance(link, ConvJSCC) and not link.training
    assert link.describe()["cbr"] == pytest.approx(1 / 6)
    with pytest.raises(SemcomError, match="lists 2 cbr values"):
        build_link({"system": "convjscc", "cbr": ["1/6", "1/12"]})
    systems = build_systems([{"system": "convjscc", "cbr": ["1/6", "1/12"], **TINY}, {"system": "uncoded"}])
    assert [(s.label, s.cbr_requested) for s in systems] == [("convjscc", 1 / 6), ("convjscc", 1 / 12),
                                                             ("uncoded", None)]


def test_checkpoint_rebuilds_its_weights_and_checks_cbr(checkpoints):
    path, model = checkpoints["conv_cbr1-12"]
    link = build_link({"checkpoint": str(path)})
    assert isinstance(link, ConvJSCC) and _same_weights(link, model)
    assert build_link({"checkpoint": str(path), "cbr": "1/12"}) is not None
    zf = build_link({"checkpoint": str(path), "equalizer": "zf"})
    assert zf.equalizer == "zf" and _same_weights(zf, model)
    with pytest.raises(SemcomError, match="built for cbr 0.0833333, not the requested 0.166667"):
        build_link({"checkpoint": str(path), "cbr": "1/6"})
    with pytest.raises(SemcomError, match="holds system 'convjscc', not 'resjscc'"):
        build_link({"checkpoint": str(path), "system": "resjscc"})
    with pytest.raises(SemcomError, match="does not take colour"):
        build_link({"checkpoint": str(path), "colour": 1})
    with pytest.raises(CheckpointError, match="not found"):
        build_link({"checkpoint": str(path) + "_missing"})


def test_pretrained_names_come_from_the_zoo(checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCOM_ZOO", str(tmp_path / "zoo"))
    link = build_link({"pretrained": "conv_cbr1-6"})
    assert _same_weights(link, checkpoints["conv_cbr1-6"][1])
    with pytest.raises(UnknownNameError, match="unknown pretrained model 'conv_cbr1-24'"):
        build_link({"pretrained": "conv_cbr1-24"})


def test_shared_labels_form_one_family_but_duplicates_fail(checkpoints):
    paths = [str(p) for p, _ in checkpoints.values()]
    systems = build_systems([{"checkpoint": p, "label": "ConvJSCC"} for p in paths])
    assert [s.label for s in systems] == ["ConvJSCC", "ConvJSCC"] and [s.source for s in systems] == paths
    unlabelled = build_systems([{"checkpoint": p} for p in paths])
    assert [s.label for s in unlabelled] == ["conv_cbr1-12", "conv_cbr1-6"]
    with pytest.raises(SemcomError, match="'ConvJSCC' is listed twice"):
        build_systems([{"checkpoint": paths[0], "label": "ConvJSCC"}] * 2)
    with pytest.raises(SemcomError, match="'uncoded' is listed twice"):
        build_systems([{"system": "uncoded"}, {"system": "uncoded"}])
    assert [s.label for s in build_systems([{"system": "uncoded"}, {"system": "uncoded", "equalizer": "zf"}])] \
        == ["uncoded", "uncoded(equalizer=zf)"]


def _write_folder(root, make_images):
    root.mkdir()
    for i, image in enumerate(make_images(3, 16, 16) + make_images(1, 12, 16, seed=3)):
        pixels = (image.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        Image.fromarray(pixels).save(root / f"img{i}.png")


def test_evaluate_on_a_folder_with_checkpoint_family(tmp_path, checkpoints, make_images):
    _write_folder(tmp_path / "images", make_images)
    paths = [str(p) for p, _ in checkpoints.values()]
    config = {"dataset": {"name": "folder", "root": str(tmp_path / "images"), "limit": 3},
              "systems": [{"checkpoint": p, "label": "ConvJSCC"} for p in paths] + [{"system": "uncoded"}],
              "channels": ["awgn"], "snr_db": [10], "out_dir": str(tmp_path / "out"), "metrics": ["psnr"]}
    out = evaluate(config, overrides=["snr_db=[2, 12]"], progress=False)
    assert out == tmp_path / "out"
    with open(out / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 3 * 2 and {t["images"] for t in table} == {"3"}
    conv = sorted((round(float(t["cbr"]) * 12, 9), float(t["snr_db"])) for t in table if t["system"] == "ConvJSCC")
    assert conv == [(1, 2), (1, 12), (2, 2), (2, 12)]  # cbr 1/12 and 1/6, each at both SNRs
    doc = json.loads((out / "results.json").read_text())
    assert doc["config"]["snr_db"] == [2.0, 12.0] and doc["config"]["dataset"]["limit"] == 3
    assert [s["source"] for s in doc["systems"]][:2] == paths
    assert (out / "psnr_vs_cbr.png").stat().st_size > 1000


def test_cli_evaluate_runs_a_yaml_file_and_reports_errors_in_one_line(tmp_path, make_images, capsys):
    _write_folder(tmp_path / "images", make_images)  # 3 of 16x16 and one 12x16: two batches
    path = tmp_path / "sweep.yaml"
    path.write_text(f"dataset: {{name: folder, root: {tmp_path / 'images'}}}\n"
                    "systems: [uncoded]\nsnr_db: [5]\nmetrics: [psnr]\n"
                    f"out_dir: {tmp_path / 'cli_out'}\n")
    assert cli_main(["evaluate", str(path), "--set", "channels=[awgn, rayleigh]"]) == 0
    with open(tmp_path / "cli_out" / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [t["channel"] for t in table] == ["awgn", "rayleigh"] and table[0]["images"] == "4"
    capsys.readouterr()
    assert cli_main(["evaluate", str(path), "--set", "snr_db=[nan]"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "SNR" in err and "\n" not in err


@pytest.fixture
def toy_registered():
    from support.toy_models import register_toy, unregister_toy

    register_toy()
    yield
    unregister_toy()


def test_a_settings_sweep_builds_each_system_once(tmp_path, toy_registered, tiny_images, monkeypatch):
    from support.toy_models import TOY_NAME, ToyVariableLength

    path = save_model(ToyVariableLength(), tmp_path / "toy")
    built, sent = [], []
    init, transmit = ToyVariableLength.__init__, ToyVariableLength.transmit

    def counting_init(self, *args, **kwargs):
        built.append(1)
        init(self, *args, **kwargs)

    def spying_transmit(self, *args, **kwargs):
        sent.append((id(self), dict(kwargs)))
        return transmit(self, *args, **kwargs)

    monkeypatch.setattr(ToyVariableLength, "__init__", counting_init)
    monkeypatch.setattr(ToyVariableLength, "transmit", spying_transmit)
    cfg = {"systems": [{"system": TOY_NAME, "label": "by-name",
                        "run": {"gain": [1.0, 2.0], "rate": [0.5, "auto"]}},
                       {"checkpoint": str(path), "label": "from-checkpoint", "run": {"gain": [1.0, 3.0]}}],
           "channels": ["awgn"], "snr_db": [10], "metrics": ["psnr"], "batch_size": 3,
           "out_dir": str(tmp_path / "o")}
    rows = run_sweep(cfg, images=tiny_images, progress=False)
    assert [(r["system"], r["run.gain"], r["run.rate"]) for r in rows] == [
        ("by-name", 1.0, 0.5), ("by-name", 1.0, "auto"), ("by-name", 2.0, 0.5), ("by-name", 2.0, "auto"),
        ("from-checkpoint", 1.0, "auto"), ("from-checkpoint", 3.0, "auto")]
    assert len(built) == 2  # one model per spec, however many settings it is swept over
    links = list(dict.fromkeys(link for link, _ in sent))
    assert len(links) == 2 and len(sent) == 6  # one batch per point, every point of a spec on one link
    assert [kw.get("gain") for _, kw in sent] == [1.0, 1.0, 2.0, 2.0, 1.0, 3.0]  # the settings still vary


def test_auto_and_null_are_one_value_of_a_sweep():
    from semcom.evaluation.systems import resolve_runs
    from support.toy_models import ToyVariableLength

    toy = ToyVariableLength()
    assert len(resolve_runs(toy, {"run": {"rate": ["auto", 0.5]}}, "toy")) == 2
    with pytest.raises(SemcomError, match=r"run.rate lists a value twice \('auto' and None"):
        resolve_runs(toy, {"run": {"rate": ["auto", None]}}, "toy")


def test_build_systems_reads_both_forms_of_run(knob_link):
    product, points = build_systems([
        {"link": knob_link, "label": "grid", "run": {"shift": [0, 5], "uses": 20}},
        {"link": knob_link, "label": "listed", "run": [{"shift": 1, "uses": 20}, {"shift": 1}]}])
    assert type(product) is type(points)  # one SystemUnderTest type for both forms
    assert [given for given, _ in product.runs] == [{"shift": 0, "uses": 20}, {"shift": 5, "uses": 20}]
    assert [given for given, _ in points.runs] == [{"shift": 1, "uses": 20}, {"shift": 1}]
    assert [resolved["uses"] for _, resolved in points.runs] == [20, 10]  # defaults filled in
    assert product.swept == ["shift"] and points.swept == ["uses"]  # more than one value across the runs
    assert points.spec["run"] == [{"shift": 1, "uses": 20}, {"shift": 1}]
