"""Run-time settings in sweeps: axes, columns, validation, plots, envelope; rate spread."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
import torch

from semcom.conventions import psnr
from semcom.errors import SemcomError
from semcom.evaluation import EvalConfig, run_sweep
from semcom.evaluation.progress import Progress


def _config(tmp_path, link, run, **changes) -> EvalConfig:
    raw = {"systems": [{"link": link, "label": "knob"}], "channels": ["awgn"], "snr_db": [10],
           "batch_size": 3, "out_dir": str(tmp_path / "out"), "metrics": ["psnr"]}
    raw["systems"][0]["run"] = run
    raw.update(changes)
    return EvalConfig.from_dict(raw)


def test_a_setting_list_is_a_sweep_axis_and_a_column(tmp_path, knob_link, tiny_images):
    cfg = _config(tmp_path, knob_link, {"shift": [0, 10, 20], "uses": 5}, snr_db=[0, 10])
    rows = run_sweep(cfg, images=tiny_images, progress=False)
    assert [(r["snr_db"], r["run.shift"], r["run.uses"]) for r in rows] == [
        (0.0, 0, 5), (10.0, 0, 5), (0.0, 10, 5), (10.0, 10, 5), (0.0, 20, 5), (10.0, 20, 5)]
    batch = torch.stack(tiny_images)
    for r in rows:  # the decoder really received the setting: PSNR of the known shift
        expected = psnr(batch, ((batch * 255 + r["run.shift"]) / 255).clamp(0, 1)).double().mean()
        assert r["psnr"] == pytest.approx(float(expected), rel=1e-6)
    with open(tmp_path / "out" / "results.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header.index("run.shift") == header.index("cbr_requested") + 1 and "run.uses" in header
    assert (tmp_path / "out" / "psnr_vs_shift.png").stat().st_size > 1000  # swept: a plot comes anyway
    assert not (tmp_path / "out" / "psnr_vs_uses.png").exists()  # fixed: no plot
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [s.split(" ")[0] for s in doc["systems"][0]["settings"]] == ["shift", "uses"]


def test_channel_uses_and_cbr_report_mean_spread_and_range(tmp_path, knob_link, tiny_images):
    (row,) = run_sweep(_config(tmp_path, knob_link, {"uses": 5}), images=tiny_images, progress=False,
                       write=False)
    n = 3 * 16 * 16
    assert (row["channel_uses"], row["channel_uses_min"], row["channel_uses_max"]) == (6.0, 5.0, 7.0)
    assert row["channel_uses_std"] == pytest.approx(math.sqrt(2 / 3))  # uses 5, 6, 7 in one batch
    assert row["cbr"] == pytest.approx(6 / n) and row["cbr_std"] == pytest.approx(math.sqrt(2 / 3) / n)
    assert (row["cbr_min"], row["cbr_max"]) == (pytest.approx(5 / n), pytest.approx(7 / n))


@pytest.mark.parametrize("run, message", [
    ({"shift": 99}, r"setting shift must be in \[0, 40\]"),
    ({"shfit": 1}, "has no run-time setting shfit; did you mean shift"),
    ({"shift": [1, 1]}, "lists a value twice"),
    ({"shift": [9, "9"]}, r"run.shift lists a value twice \(9 and '9' are both 9\)"),  # equal once validated
    ({"uses": [5, 7, "5"]}, r"run.uses lists a value twice \(5 and '5'"),
    ({"shift": []}, "empty list"),
    ("shift=1", "run must be a mapping"),
])
def test_bad_settings_fail_before_any_transmission(tmp_path, knob_link, tiny_images, run, message):
    calls = []
    knob_link._transmit = lambda *a, **k: calls.append(1)  # must never be reached
    with pytest.raises(SemcomError, match=message):
        run_sweep(_config(tmp_path, knob_link, run), images=tiny_images, progress=False)
    assert not calls


def test_real_systems_validate_their_settings(tmp_path, tiny_images):
    base = {"channels": ["awgn"], "snr_db": [10], "out_dir": str(tmp_path / "o"), "metrics": ["psnr"]}
    with pytest.raises(SemcomError, match="system 'uncoded' has no run-time setting mcs"):
        run_sweep({**base, "systems": [{"system": "uncoded", "run": {"mcs": 9}}]}, images=tiny_images,
                  progress=False)
    with pytest.raises(SemcomError, match=r"setting mcs must be in \[3, 28\]"):
        run_sweep({**base, "systems": [{"system": "digital", "codec": "jpeg", "run": {"mcs": [9, 40]}}]},
                  images=tiny_images, progress=False)


def test_plot_axes_and_envelope_are_checked_and_written(tmp_path, knob_link, tiny_images):
    with pytest.raises(SemcomError, match="'speed' is no run-time setting"):
        run_sweep(_config(tmp_path, knob_link, {"shift": [0, 5]}, plots=[{"x": "speed", "y": "psnr"}]),
                  images=tiny_images, progress=False)
    with pytest.raises(SemcomError, match="plot y: 'ssim' is not a column"):
        run_sweep(_config(tmp_path, knob_link, {"shift": [0, 5]}, plots=[{"x": "shift", "y": "ssim"}]),
                  images=tiny_images, progress=False)
    cfg = _config(tmp_path, knob_link, {"shift": [20, 0, 10]}, snr_db=[0, 10],
                  plots=[{"x": "run.shift", "y": "channel_uses", "name": "uses"}], envelope={"over": "shift"})
    rows = run_sweep(cfg, images=tiny_images, progress=False)
    assert (tmp_path / "out" / "uses.png").is_file()
    with open(tmp_path / "out" / "envelope.csv", newline="") as f:
        env = list(csv.DictReader(f))
    assert [(float(e["snr_db"]), int(e["run.shift"]), int(e["envelope_candidates"])) for e in env] == \
        [(0.0, 0, 3), (10.0, 0, 3)]  # no shift is the best PSNR at each SNR
    best = max(r["psnr"] for r in rows if r["snr_db"] == 0.0)
    assert float(env[0]["psnr"]) == pytest.approx(best)


def test_progress_is_plain_lines_off_a_terminal(tmp_path, knob_link, tiny_images, capsys):
    run_sweep(_config(tmp_path, knob_link, {"shift": [0, 10]}, name="k"), images=tiny_images, write=False)
    out = capsys.readouterr().out
    assert "\r" not in out
    assert "evaluate k: point 1/2 (50%) knob shift=0 | awgn | 10 dB: PSNR" in out

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    with Progress(total=2, points=1, name="t", stream=tty) as bar:
        bar.begin("x")
        bar.update(2)
        bar.end({"psnr": 1.0})
    assert "\r" in tty.getvalue() and "point 1/1" not in tty.getvalue()  # a bar, not lines
