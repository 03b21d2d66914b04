import csv
import json

import pytest

from semcom.evaluation.bench import run_bench


@pytest.mark.slow
def test_bench_digital_sweeps_and_times_the_link(shared_data, tmp_path, capsys):
    out = tmp_path / "bd"
    code = run_bench("digital", ["--codecs", "jpeg", "--channels", "awgn", "--snr", "12", "--cbr", "0.1",
                                 "--limit", "1", "--workers", "1", "--out", str(out)])
    assert code == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 1 and rows[0]["system"] == "jpeg+5G LDPC"
    assert float(rows[0]["psnr"]) > 25  # kodim01 at cbr 0.1 and 12 dB: a clean JPEG, nothing lost
    assert 0.09 <= float(rows[0]["cbr"]) <= 0.1  # the first transmission fills the budget
    report = json.loads((out / "bench_digital.json").read_text())
    assert [t["mcs"] for t in report["ldpc_throughput"]] == [5, 9, 16, 22]
    assert all(t["ok"] and t["info_bits_per_s"] > 0 for t in report["ldpc_throughput"])
    assert report["one_image"]["first_s"] > 0 and report["one_image"]["codec"] == "jpeg"
    printed = capsys.readouterr().out
    assert "kbit/s" in printed and "| jpeg+5G LDPC | " in printed  # the PSNR table


def test_run_options_become_fixed_settings_or_sweep_axes():
    from semcom.errors import SemcomError
    from semcom.evaluation.bench_digital import psnr_tables, run_axes

    assert run_axes(["mcs=9"]) == {"mcs": "9"} and run_axes(["mcs=5, 9,14"]) == {"mcs": ["5", "9", "14"]}
    with pytest.raises(SemcomError, match="--run expects NAME=VALUE"):
        run_axes(["mcs"])
    rows = [{"system": "hevc", "channel": "awgn", "cbr_requested": 0.04, "cbr": 0.04, "snr_db": 10.0,
             "psnr": p, "run.mcs": m, "run.phy_abstraction": False} for m, p in ((5, 30.0), (9, 31.5))]
    table = psnr_tables(rows)  # one table row per swept value; fixed settings stay out of the label
    assert "| hevc mcs=5 | 30.00 |" in table and "| hevc mcs=9 | 31.50 |" in table
