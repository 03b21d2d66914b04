"""``semcom bench train-step`` and the link latency of ``semcom bench models``, on tiny
configs and models (a few seconds with one thread)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from semcom.cli import main as cli_main
from semcom.data import save_image


@pytest.fixture
def tiny_train_config(tmp_path: Path) -> Path:
    """A training config of a tiny ConvJSCC on 32-px crops of six 40x48 PNGs, batch 2."""
    root = tmp_path / "images"
    root.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(6):
        save_image(torch.rand(3, 40, 48, generator=g), root / f"img_{i}.png")
    path = tmp_path / "tiny.yaml"
    path.write_text(f"""
model: {{name: convjscc, cbr: 1/12, widths: [8, 8, 8, 8]}}
data: {{name: folder, root: {root}, crop: 32, hflip: true, cache: true}}
channel: {{name: awgn}}
snr_db: {{choices: [1, 10]}}
batch_size: 2
steps: 100
out_dir: {tmp_path / 'run'}
threads: 1
device: cpu
""")
    return path


def test_train_step_times_data_and_step_through_the_cli(tiny_train_config: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench.json"
    threads = torch.get_num_threads()
    code = cli_main(["bench", "train-step", str(tiny_train_config), "--steps", "2", "--warmup", "0",
                     "--threads", "1", "-o", str(out)])
    assert code == 0
    assert torch.get_num_threads() == threads  # the process's setting is restored
    report = json.loads(out.read_text())
    assert report["steps"] == 2 and report["warmup"] == 0 and report["threads"] == [1]
    assert {"platform", "processor", "cpu_count", "torch"} <= set(report["machine"])
    (row,) = report["rows"]
    assert row["name"] == "tiny" and row["threads"] == 1 and row["system"] == "convjscc"
    assert row["batch_size"] == 2 and row["crop"] == 32 and row["images_in_data"] == 6
    assert row["data_s"] > 0 and row["step_s"] > 0 and row["data_reread_s"] > 0
    assert row["step_s_min"] <= row["step_s"] <= row["step_s_max"]
    assert len(row["step_times_s"]) == 2 and len(row["data_times_s"]) == 2
    assert 0 < row["data_share"] < 1 and row["last_loss"] > 0
    printed = capsys.readouterr().out
    assert "machine: " in printed and "tiny" in printed and "s/step" in printed and "data" in printed
    assert not (tmp_path / "run").exists()  # nothing written to the config's out_dir


def test_train_step_interleaves_threads_and_applies_overrides(tiny_train_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    code = cli_main(["bench", "train-step", str(tiny_train_config), "--steps", "1", "--warmup", "0",
                     "--threads", "1,2", "--set", "batch_size=3", "-o", str(out)])
    assert code == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["threads"] for r in rows] == [1, 2] and all(r["batch_size"] == 3 for r in rows)
    assert json.loads(out.read_text())["overrides"] == ["batch_size=3"]


def test_train_step_reuses_the_trainers_step(tiny_train_config: Path) -> None:
    """What the bench times is the trainer's own step: the same loss as ``Trainer`` at step 0."""
    from semcom.training.trainer import Trainer

    trainer = Trainer(tiny_train_config, verbose=False)
    trainer.configure_torch(torch.device("cpu"))
    parts = trainer.build_parts(torch.device("cpu"))
    batch = next(iter(parts.loader(parts.batch_sampler(total_steps=1))))
    assert batch.images.shape == (2, 3, 32, 32)
    lrs, out, loss, aux = parts.run_step(parts.train_step(), batch, 0)
    assert out["x_hat"].shape == batch.images.shape and float(loss.total.detach()) > 0 and aux is None
    assert lrs == parts.optimizers.base_lrs


@pytest.mark.parametrize("case, fragment", [
    ("missing", "config file not found"),
    ("bad-key", "unknown config key 'bogus'"),
    ("no-data", "does not exist"),
    ("threads", "--threads must be positive integers"),
])
def test_train_step_errors_are_one_line(tiny_train_config: Path, tmp_path: Path, capsys, case: str,
                                        fragment: str) -> None:
    config, extra, threads = str(tiny_train_config), [], "1"
    if case == "missing":
        config = str(tmp_path / "missing.yaml")
    elif case == "bad-key":
        extra = ["--set", "bogus=1"]
    elif case == "no-data":
        extra = ["--set", f"data.root={tmp_path / 'nowhere'}"]
    else:
        threads = "0"
    out = tmp_path / "b.json"
    code = cli_main(["bench", "train-step", config, *extra, "--steps", "1", "--warmup", "0", "--threads", threads,
                     "-o", str(out)])
    assert code != 0 and not out.exists()
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_link_latency_times_one_whole_transmit() -> None:
    from semcom.evaluation.bench import link_latency
    from semcom.models import create_model

    model = create_model("convjscc", cbr="1/12", widths=[8, 8, 8, 8])
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    calls = []
    transmit = model.transmit

    def counted(*args, **kwargs):
        calls.append(args[2])
        return transmit(*args, **kwargs)

    model.transmit = counted
    seconds = link_latency(model, x, 7.0, warmup=1, repeats=2)
    assert seconds > 0 and calls == [7.0, 7.0, 7.0]  # one warm-up, two timed, at the given SNR


def test_bench_models_reports_link_latency(shared_data, tmp_path: Path, monkeypatch, capsys) -> None:
    """``bench models`` over a tiny checkpoint in a ``SEMCOM_ZOO`` folder: the new column."""
    from semcom.models import create_model, save_model

    zoo = tmp_path / "zoo"
    zoo.mkdir()
    model = create_model("convjscc", cbr="1/12", widths=[8, 8, 8, 8])
    save_model(model, zoo / "zz_tiny_bench_test", info={"train_snr_db": 7})
    monkeypatch.setenv("SEMCOM_ZOO", str(zoo))
    out = tmp_path / "models.json"
    code = cli_main(["bench", "models", "--only", "zz_tiny_bench_test", "--cifar-limit", "2", "--kodak-limit", "1",
                     "--repeats", "1", "--threads", "1", "-o", str(out)])
    assert code == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["latency_link_s"] > 0 and row["latency_encode_s"] > 0 and row["latency_decode_s"] > 0
    assert row["weight_bytes"] > 0 and row["peak_memory_link_bytes"] > 0
    assert " link " in capsys.readouterr().out
