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
