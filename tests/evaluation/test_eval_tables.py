"""Tables and plots from sweep rows: BD-CBR / BD-PSNR against an anchor, the best-setting
envelope, and PSNR-vs-CBR panels that stay readable with many series."""

from __future__ import annotations

import csv

import pytest

from semcom.errors import SemcomError
from semcom.evaluation import run_sweep
from semcom.evaluation.plots import cbr_panel_keys, plot_psnr_vs_cbr
from semcom.evaluation.tables import bd_rows, bd_table, envelope

CBRS = [0.02, 0.04, 0.08, 0.16]


def _row(system, cbr, value, snr=10.0, channel="awgn", **run):
    return {"system": system, "source": "", "channel": channel, "snr_db": snr, "cbr_requested": cbr,
            "cbr": cbr, "psnr": value, **{f"run.{k}": v for k, v in run.items()}}


def _curve(system, quality, rates=CBRS, **kw):
    return [_row(system, r, quality(r), **kw) for r in rates]


def test_bd_table_measures_known_shifts_against_the_anchor():
    import math

    anchor = _curve("A", lambda r: 20 + 4 * math.log2(r / 0.02))
    better = _curve("B", lambda r: 21 + 4 * math.log2(r / 0.02))  # +1 dB everywhere
    cheaper = _curve("C", lambda r: 20 + 4 * math.log2(r / 0.016), rates=[0.8 * r for r in CBRS])
    table = {t["system"]: t for t in bd_table(anchor + better + cheaper, "A")}
    assert set(table) == {"B", "C"}
    assert table["B"]["bd_psnr"] == pytest.approx(1.0, abs=1e-6) and table["B"]["bd_cbr_percent"] < 0
    assert table["C"]["bd_cbr_percent"] == pytest.approx(-20.0, abs=1e-6)  # same quality at 0.8x cbr
    short = bd_table(anchor + _curve("D", lambda r: 20.0 + r, rates=CBRS[:2]), "A")
    assert short[0]["bd_cbr_percent"] is None and "at least 4" in short[0]["note"]
    with pytest.raises(SemcomError, match="bd anchor 'Z' is not a system label"):
        bd_table(anchor, "Z")


def _mcs_sweep():
    """Anchor ``D`` swept over mcs (mcs 9 is 3 dB above mcs 5 at every cbr) and ``B``
    without settings, 4 dB above mcs 5 (so 1 dB above the best-MCS envelope)."""
    import math

    base = lambda r: 20 + 4 * math.log2(r / 0.02)  # noqa: E731
    rows = _curve("D", base, mcs=5) + _curve("D", lambda r: base(r) + 3, mcs=9)
    return rows + _curve("B", lambda r: base(r) + 4)


def test_bd_table_never_picks_one_of_several_anchor_curves():
    (entry,) = bd_table(_mcs_sweep(), "D")
    assert entry["bd_psnr"] is None and entry["bd_cbr_percent"] is None  # not +4.0 dB against mcs 5
    assert "anchor has 2 curves at awgn, 10 dB (mcs=5 | mcs=9)" in entry["note"]
    assert "envelope" in entry["note"]


def test_bd_table_on_the_envelope_compares_against_the_best_setting_curve():
    import math

    rows = _mcs_sweep()
    env = envelope(rows, "mcs")
    (entry,) = bd_table(bd_rows(rows, env, "mcs"), "D", over="mcs")
    assert entry["system"] == "B" and entry["settings"] == "" and entry["points"] == 4
    assert entry["bd_psnr"] == pytest.approx(1.0, abs=1e-6) and entry["note"] == ""
    # a system that declares the enveloped setting: its best-MCS curve, the column left out of the key
    other = _curve("E", lambda r: 25 + 4 * math.log2(r / 0.02), mcs=14)
    table = {t["system"]: t for t in bd_table(bd_rows(rows + other, envelope(rows + other, "mcs"), "mcs"),
                                              "D", over="mcs")}
    assert table["E"]["bd_psnr"] == pytest.approx(2.0, abs=1e-6) and table["E"]["settings"] == ""


def test_results_write_bd_of_the_envelope_when_both_are_configured(tmp_path):
    from semcom.evaluation.config import EvalConfig
    from semcom.evaluation.results import write_results

    rows = [dict(r, images=1, repeats=1) for r in _mcs_sweep()]
    cfg = EvalConfig.from_dict({"systems": [{"system": "uncoded"}], "snr_db": [10],
                                "out_dir": str(tmp_path / "o"), "envelope": {"over": "mcs"}, "bd": {"anchor": "D"}})
    write_results(cfg, rows)
    with open(tmp_path / "o" / "bd.csv", newline="") as f:
        (line,) = list(csv.DictReader(f))
    assert line["system"] == "B" and float(line["bd_psnr"]) == pytest.approx(1.0, abs=1e-6)


def test_bd_overlap_warnings_become_the_note():
    import math
    import warnings

    anchor = _curve("A", lambda r: 20 + 4 * math.log2(r / 0.02))
    shifted = _curve("B", lambda r: 20 + 4 * math.log2(r / 0.02), rates=[2 * r for r in CBRS])  # half overlap
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning escaping bd_table fails the test
        (entry,) = bd_table(anchor + shifted, "A")
    assert entry["bd_cbr_percent"] is not None and entry["bd_psnr"] is not None
    assert "bd_cbr_percent: the curves overlap on only 50 % of their joint range (under 75 %)" in entry["note"]
    assert "bd_psnr: the curves overlap on only 50 %" in entry["note"] and "min_overlap" not in entry["note"]


def test_envelope_keeps_the_best_setting_per_snr():
    rows = [_row("dig", 0.04, p, snr=s, mcs=m) for s, m, p in
            [(1, 5, 20.0), (1, 9, 18.0), (10, 5, 24.0), (10, 9, 27.5), (10, 14, 26.0)]]
    env = envelope(rows, "mcs")
    assert [(e["snr_db"], e["run.mcs"], e["envelope_candidates"]) for e in env] == [(1, 5, 2), (10, 9, 3)]
    assert [e["run.mcs"] for e in envelope(rows, "run.mcs", "lpips")] == []  # no lpips values: nothing kept
    rows[3]["cbr"] = 0.05  # MCS 9 at 10 dB only made it by retransmitting 25 % beyond the budget
    assert [e["run.mcs"] for e in envelope(rows, "mcs", max_overshoot=0.05)] == [5, 14]
    assert [e["run.mcs"] for e in envelope(rows, "mcs", max_overshoot=0.3)] == [5, 9]


def test_bd_config_writes_a_table_with_reasons(tmp_path, tiny_images):
    cfg = {"systems": [{"system": "uncoded", "label": "mmse"}, {"system": "uncoded", "equalizer": "zf",
                                                                "label": "zf"}],
           "channels": ["awgn"], "snr_db": [5], "metrics": ["psnr"], "out_dir": str(tmp_path / "o"),
           "bd": {"anchor": "mmse"}}
    run_sweep(cfg, images=tiny_images, progress=False)
    with open(tmp_path / "o" / "bd.csv", newline="") as f:
        (line,) = list(csv.DictReader(f))
    assert line["system"] == "zf" and line["anchor"] == "mmse" and line["bd_cbr_percent"] == ""
    assert "1 points" in line["note"]  # one cbr per curve: no Bjontegaard fit
    with pytest.raises(SemcomError, match="bd anchor 'nobody'"):
        run_sweep({**cfg, "bd": {"anchor": "nobody"}}, images=tiny_images, progress=False)


def test_many_series_split_psnr_vs_cbr_into_panels(tmp_path):
    few = [r for s in ("A", "B") for r in _curve(s, lambda r: 20 + 100 * r)]
    assert cbr_panel_keys(few) == ()
    two_channels = few + [dict(r, channel="rayleigh") for r in few]
    assert cbr_panel_keys(two_channels) == ("channel",)
    many = [r for snr in range(0, 10, 2) for s in ("A", "B") for r in _curve(s, lambda r: 20 + 100 * r,
                                                                             snr=float(snr))]  # 10 lines
    assert cbr_panel_keys(many) == ("snr_db",) and cbr_panel_keys(many + [dict(r, channel="x") for r in many]) \
        == ("channel", "snr_db")
    path = plot_psnr_vs_cbr(many, tmp_path / "p.png", title="t")
    assert path.stat().st_size > 5000
