import json

from semcom.evaluation.bench import run_bench


def test_bench_models_reports_quality_macs_and_latency(shared_data, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = run_bench("models", ["--only", "convjscc_cifar10_cbr1-12_snr7", "--cifar-limit", "20",
                                "--kodak-limit", "1", "--repeats", "1", "-o", str(out)])
    assert code == 0
    row = json.loads(out.read_text())["rows"][0]
    assert row["psnr_cifar10"] > 15 and row["psnr_kodak"] > 15  # trained: far above a gray image
    # encoder and decoder of ConvJSCC mirror each other: equal MACs, > 1 GMAC at 512x768
    assert row["macs_encoder_512x768"] > 1e9
    assert abs(row["macs_decoder_512x768"] / row["macs_encoder_512x768"] - 1) < 0.05
    assert row["latency_encode_s"] > 0 and row["params"] > 1e5
    assert "convjscc_cifar10_cbr1-12_snr7" in capsys.readouterr().out


def test_bench_models_checks_run_settings_before_any_work(tmp_path, capsys):
    from semcom.cli import main as cli_main

    code = cli_main(["bench", "models", "--only", "convjscc_cifar10_cbr1-12_snr7", "--run", "rho=0.5",
                     "-o", str(tmp_path / "b.json")])
    assert code == 2 and not (tmp_path / "b.json").exists()
    assert "system convjscc has no run-time setting rho" in capsys.readouterr().err


def test_bench_models_takes_one_value_per_run_setting(tmp_path, capsys):
    from semcom.cli import main as cli_main

    code = cli_main(["bench", "models", "--only", "convjscc_cifar10_cbr1-12_snr7", "--run", "mcs=5,9",
                     "-o", str(tmp_path / "b.json")])
    assert code == 2 and not (tmp_path / "b.json").exists()
    err = capsys.readouterr().err
    assert "semcom bench models: --run mcs=5,9: one value per --run here (lists sweep only in bench digital " \
           "/ evaluation configs)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_single_run_options_refuse_lists_but_keep_single_values():
    import pytest

    from semcom.errors import SemcomError
    from semcom.evaluation.bench import single_run_options

    assert single_run_options(["mcs=9", "rho_enc=1/2"], "semcom transmit") == {"mcs": "9", "rho_enc": "1/2"}
    with pytest.raises(SemcomError, match=r"^semcom transmit: --run mcs=5,9: one value per --run here"):
        single_run_options(["mcs=5,9"], "semcom transmit")
