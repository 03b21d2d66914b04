"""Sweep configs: YAML files, key=value overrides, clear errors for bad configs."""

from __future__ import annotations

import math

import pytest

from semcom.errors import SemcomError, UnknownNameError
from semcom.evaluation import EvalConfig, run_sweep
from semcom.evaluation.config import apply_override

BASE = {"systems": [{"system": "uncoded"}], "channels": ["awgn"], "snr_db": [1, 4]}


def _load(**changes):
    return EvalConfig.from_dict({**BASE, **changes})


def test_yaml_file_with_overrides(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("dataset: {name: folder, root: /somewhere, limit: 5}\n"
                    "systems:\n  - system: uncoded\n  - {system: uncoded, equalizer: zf, label: zf}\n"
                    "channels: [awgn, {name: rician, params: {K: 3}}]\n"
                    "snr_db: [0, 10]\nrepeats: 3\n")
    cfg = EvalConfig.load(path, ["snr_db=[1,4]", "dataset.limit=2", "systems.1.equalizer=mmse", "seed=5"])
    assert cfg.snr_db == [1.0, 4.0] and cfg.dataset.limit == 2 and cfg.seed == 5 and cfg.repeats == 3
    assert cfg.systems[1] == {"system": "uncoded", "equalizer": "mmse", "label": "zf"}
    assert [c.label for c in cfg.channels] == ["awgn", "rician"] and cfg.channels[1].params == {"K": 3}
    assert cfg.name == "sweep" and cfg.out_dir.endswith("sweep")
    assert EvalConfig.load(cfg).to_dict() == cfg.to_dict()


def test_paths_in_a_file_are_relative_to_it_and_env_is_expanded(tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "sweep.yaml"
    path.write_text("dataset: {name: folder, root: ../images}\n"
                    "systems: [{checkpoint: '${MY_ZOO:-zoo}/model'}]\nsnr_db: [1]\n"
                    "out_dir: '${MY_OUT:-results}/x'\n")
    monkeypatch.delenv("MY_ZOO", raising=False)
    monkeypatch.setenv("MY_OUT", "/elsewhere")
    cfg = EvalConfig.load(path)
    assert cfg.dataset.root == str(tmp_path / "images")
    assert cfg.systems[0]["checkpoint"] == str(folder / "zoo" / "model")
    assert cfg.out_dir == "/elsewhere/x"  # out_dir stays relative to the working directory
    cfg = EvalConfig.load(path, ["dataset.root=data"])  # overrides: working directory
    assert cfg.dataset.root == "data"
    path.write_text("systems: [uncoded]\nsnr_db: [1]\nout_dir: ${NOT_SET_ANYWHERE}\n")
    with pytest.raises(SemcomError, match="NOT_SET_ANYWHERE is not set"):
        EvalConfig.load(path)
    toml = folder / "sweep.toml"
    toml.write_text('systems = ["uncoded"]\nsnr_db = [2, 3]\n')
    assert EvalConfig.load(toml).snr_db == [2.0, 3.0]


def test_defaults_and_normalisation():
    cfg = EvalConfig.from_dict({"systems": ["uncoded"], "snr_db": 3, "metrics": ["ms-ssim"]})
    assert cfg.snr_db == [3.0] and cfg.repeats == 1 and cfg.channels[0].name == "awgn"
    assert cfg.metrics == ["psnr", "ms_ssim"]  # PSNR is always computed
    cfg = EvalConfig.from_dict({**BASE, "channels": [{"name": "rayleigh", "params": {"block_length": 1}},
                                                     {"name": "rayleigh", "params": {"block_length": 0}}]})
    assert [c.label for c in cfg.channels] == ["rayleigh(block_length=1)", "rayleigh(block_length=0)"]


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(SemcomError, match=r"unknown config key 'snrs'.*did you mean 'snr_db'"):
        EvalConfig.from_dict({**BASE, "snrs": [1]})
    with pytest.raises(SemcomError, match="unknown key 'K'.*params"):
        _load(channels=[{"name": "rician", "K": 3}])


def test_unknown_system_and_bad_system_arguments():
    with pytest.raises(UnknownNameError, match="unknown system 'uncodde'.*did you mean uncoded"):
        _load(systems=[{"system": "uncodde"}])
    with pytest.raises(SemcomError, match="'uncoded' does not take colour.*equalizer"):
        _load(systems=[{"system": "uncoded", "colour": 1}])
    with pytest.raises(SemcomError, match="'uncoded' has no cbr setting"):
        _load(systems=[{"system": "uncoded", "cbr": [0.1, 0.2]}])
    with pytest.raises(SemcomError, match="invalid CBR"):
        _load(systems=[{"system": "convjscc", "cbr": ["1/0"]}])
    with pytest.raises(SemcomError, match="needs one of system, checkpoint or pretrained"):
        _load(systems=[{"label": "x"}])
    with pytest.raises(SemcomError, match="pick one"):
        _load(systems=[{"checkpoint": "a", "pretrained": "b"}])


@pytest.mark.parametrize("snr", [[float("nan")], [1, math.inf], ["abc"], [], [True]])
def test_bad_snr_lists(snr):
    with pytest.raises(SemcomError, match="(?i)snr"):
        _load(snr_db=snr)


def test_nan_snr_from_an_override():
    with pytest.raises(SemcomError, match="SNR must be finite"):
        EvalConfig.load(BASE, ["snr_db=[1, .nan]"])


@pytest.mark.parametrize("key,value,message", [
    ("repeats", 0, "repeats must be >= 1"),
    ("batch_size", 2.5, "batch_size must be an integer"),
    ("metrics", ["lpips-ish"], "unknown metric"),
    ("device", "tpu", "device"),
    ("dataset", {"root": "x"}, "dataset must be a mapping with a name"),
    ("systems", [], "config needs systems"),
    ("metrics", ["psnr", {"name": "ssim", "window": 3}], "metric 'ssim' does not take window"),
    ("plots", [{"x": "mcs"}], r"a plot must be a mapping \{x: COLUMN, y: METRIC\}"),
    ("plots", [{"x": "mcs", "y": "psnr", "colour": "red"}], "unknown key 'colour'"),
    ("envelope", {"metric": "psnr"}, "envelope must be a mapping like {over: ..., metric: psnr}"),
    ("bd", {"anchor": "a", "against": "b"}, r"bd: unknown key 'against' \(known: anchor, metric\)"),
    ("envelope", {"over": "mcs", "max_overshoot": -1}, "envelope.max_overshoot must be a fraction >= 0"),
    ("systems", [{"system": "uncoded", "run": {"a": [[1]]}}], "run.a values must be scalars"),
])
def test_bad_values(key, value, message):
    with pytest.raises(SemcomError, match=message):
        _load(**{key: value})


def test_settings_metrics_and_tables_round_trip():
    cfg = _load(systems=[{"system": "uncoded", "run": {"x": [1, 2]}}], metrics=["MS-SSIM", {"name": "lpips"}],
                plots=[{"x": "x", "y": "psnr"}], envelope="x", bd={"anchor": "uncoded"})
    assert cfg.metrics == ["psnr", "ms_ssim", "lpips"] and cfg.metric_names == ["psnr", "ms_ssim", "lpips"]
    assert cfg.envelope == {"over": "x", "metric": "psnr"} and cfg.bd == {"anchor": "uncoded", "metric": "psnr"}
    assert EvalConfig.from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()


def test_bad_overrides():
    raw = {**BASE}
    with pytest.raises(SemcomError, match="key=value"):
        apply_override(raw, "snr_db")
    with pytest.raises(SemcomError, match="not an index"):
        apply_override(raw, "systems.3.label=x")
    with pytest.raises(SemcomError, match="unknown config key 'snr'"):
        EvalConfig.load(BASE, ["snr=[1]"])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(SemcomError, match="config file not found"):
        EvalConfig.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("systems: [uncoded\nsnr_db: 1\n")
    with pytest.raises(SemcomError, match=r"not valid \(line \d+\)"):
        EvalConfig.load(bad)
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(SemcomError, match="mapping"):
        EvalConfig.load(tmp_path / "list.yaml")


def test_unknown_channel_fails_before_any_transmission(tmp_path, offset_link):
    calls = []
    original = offset_link._transmit
    offset_link._transmit = lambda *a: calls.append(1) or original(*a)
    cfg = EvalConfig.from_dict({**BASE, "channels": ["awgn", "raleigh"], "out_dir": str(tmp_path)})
    cfg.systems = [{"link": offset_link}]
    with pytest.raises(UnknownNameError, match="unknown channel 'raleigh'"):
        run_sweep(cfg, images=_one_image(), progress=False)
    assert calls == [] and not (tmp_path / "results.csv").exists()
    with pytest.raises(SemcomError, match="has no parameter 'Q'"):
        run_sweep(EvalConfig.from_dict({**BASE, "channels": [{"name": "rician", "params": {"Q": 1}}]}),
                  images=_one_image(), progress=False, write=False)


def test_sweep_without_images_or_dataset():
    with pytest.raises(SemcomError, match="no dataset"):
        run_sweep(_load(), progress=False, write=False)


def _one_image():
    import torch

    return [torch.full((3, 8, 8), 0.5)]
