"""Sweeps: tidy CSV/JSON, averaging conventions, seeding, plots."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from semcom.phy.bitpipe import side_info_pipe
import torch
from PIL import Image

from semcom.evaluation import EvalConfig, run_sweep
from semcom.evaluation.sweep import batch_generator, make_batches
from semcom.channels import AWGN
from semcom.registry import SYSTEMS

EXPECTED_COLUMNS = ["system", "system_name", "source", "channel", "channel_name", "channel_params",
                    "snr_db", "cbr_requested", "cbr", "cbr_std", "cbr_min", "cbr_max", "channel_uses",
                    "channel_uses_std", "channel_uses_min", "channel_uses_max", "psnr", "psnr_std", "ssim",
                    "ms_ssim", "ms_ssim_db", "images", "repeats", "failures", "failure_rate",
                    "runtime_s", "seconds_per_image"]


def _config(tmp_path, **changes) -> EvalConfig:
    raw = {"systems": [{"system": "uncoded"}], "channels": ["awgn", "rayleigh"], "snr_db": [0, 15],
           "repeats": 1, "batch_size": 3, "seed": 7, "out_dir": str(tmp_path / "out"), "metrics": ["psnr"]}
    raw.update(changes)
    return EvalConfig.from_dict(raw)


def _numbers(rows):
    """Rows without their timing columns (which differ run to run)."""
    return [{k: v for k, v in r.items() if k not in ("runtime_s", "seconds_per_image")} for r in rows]


def test_sweep_writes_tidy_csv_json_and_plots(tmp_path, tiny_images):
    cfg = _config(tmp_path, metrics=["psnr", "ssim", "ms_ssim"])
    rows = run_sweep(cfg, images=tiny_images, progress=False)
    out = tmp_path / "out"

    assert len(rows) == 2 * 2  # 2 channels x 2 SNRs x 1 system
    with open(out / "results.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == EXPECTED_COLUMNS
    assert len(table) == 1 + 4 and all(len(line) == len(EXPECTED_COLUMNS) for line in table)
    assert {(r["channel"], r["snr_db"]) for r in rows} == {(c, s) for c in ("awgn", "rayleigh") for s in (0.0, 15.0)}

    doc = json.loads((out / "results.json").read_text())
    assert {"semcom_version", "config", "seed", "created", "machine", "rows"} <= set(doc)
    assert doc["seed"] == 7 and doc["config"]["snr_db"] == [0.0, 15.0]
    assert doc["machine"]["torch_threads"] == torch.get_num_threads() and doc["machine"]["platform"]
    assert len(doc["rows"]) == 4 and doc["rows"][0]["failures"] == 0  # uncoded flags lost gains (none here)
    assert EvalConfig.from_dict(doc["config"]).to_dict() == cfg.to_dict()  # the record reloads

    for channel in ("awgn", "rayleigh"):
        low, high = (next(r for r in rows if r["channel"] == channel and r["snr_db"] == s) for s in (0.0, 15.0))
        assert high["psnr"] > low["psnr"] + 5
        assert high["ssim"] > low["ssim"] and high["ms_ssim_db"] > low["ms_ssim_db"]
        assert 0 < low["ssim"] < 1 and 0 < high["ms_ssim"] < 1

    # measured cbr is the link's own: uncoded sends ceil(3HW / 2) symbols + its gain per image
    n = 3 * 16 * 16
    gain = side_info_pipe().channel_uses(2)
    link = SYSTEMS.create("uncoded")
    probe = link.transmit(torch.stack(tiny_images), AWGN(), 10.0)
    for r in rows:
        assert r["cbr"] == pytest.approx(float(probe.cbr.mean())) == pytest.approx((n // 2 + gain) / n)
        assert r["channel_uses"] == n // 2 + gain and r["cbr_requested"] is None
        assert r["images"] == 3 and r["repeats"] == 1 and r["runtime_s"] > 0

    for name in ("psnr_vs_snr.png", "psnr_vs_cbr.png"):
        path = out / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            assert im.size[0] > 300 and im.size[1] > 200
            assert len(np.unique(np.asarray(im.convert("L")))) > 10  # something was drawn


def test_repeats_average_noise_and_runs_are_reproducible(tmp_path, tiny_images):
    one = run_sweep(_config(tmp_path, channels=["awgn"], snr_db=[5]), images=tiny_images,
                    progress=False, write=False)
    two = run_sweep(_config(tmp_path, channels=["awgn"], snr_db=[5], repeats=2), images=tiny_images,
                    progress=False, write=False)
    again = run_sweep(_config(tmp_path, channels=["awgn"], snr_db=[5], repeats=2), images=tiny_images,
                      progress=False, write=False)
    other_seed = run_sweep(_config(tmp_path, channels=["awgn"], snr_db=[5], repeats=2, seed=8),
                           images=tiny_images, progress=False, write=False)
    assert _numbers(two) == _numbers(again)
    assert two[0]["psnr"] != one[0]["psnr"] and two[0]["psnr"] != other_seed[0]["psnr"]
    assert two[0]["repeats"] == 2 and abs(two[0]["psnr"] - one[0]["psnr"]) < 1.0  # same noise level


def test_row_is_mean_of_per_image_metrics_with_measured_cbr_and_failures(tmp_path, offset_link):
    # constant images at 8-bit levels 40, 100, 200: OffsetLink adds 4, 10, 20 levels,
    # charges 40, 100, 200 channel uses, and fails the 200 one
    levels = [40, 100, 200]
    images = [torch.full((3, 8, 8), v / 255) for v in levels]
    cfg = _config(tmp_path, channels=["awgn"], snr_db=[3], repeats=2, batch_size=2)
    cfg.systems = [{"link": offset_link, "label": "offset"}]
    (row,) = run_sweep(cfg, images=images, progress=False, write=False)

    per_image_psnr = [20 * math.log10(255 / (v // 10)) for v in levels]
    assert row["psnr"] == pytest.approx(sum(per_image_psnr) / 3, abs=1e-4)
    # not the PSNR of the mean MSE
    assert row["psnr"] != pytest.approx(10 * math.log10(255**2 / (sum((v // 10) ** 2 for v in levels) / 3)), abs=0.1)
    assert row["channel_uses"] == pytest.approx(sum(levels) / 3)
    assert row["cbr"] == pytest.approx(sum(levels) / 3 / (3 * 8 * 8))
    assert row["failures"] == 2 and row["failure_rate"] == pytest.approx(2 / 6)
    assert row["system"] == "offset" and row["images"] == 3


def test_cbr_list_gives_one_row_per_cbr_with_matching_measured_cbr(tmp_path, make_images):
    cfg = _config(tmp_path, channels=["awgn"], snr_db=[10],
                  systems=[{"system": "convjscc", "widths": [4, 4, 4, 4], "cbr": ["1/12", "1/6"],
                            "label": "convjscc"}])
    rows = run_sweep(cfg, images=make_images(2), progress=False, write=False)
    assert [r["cbr_requested"] for r in rows] == pytest.approx([1 / 12, 1 / 6])
    assert [r["cbr"] for r in rows] == pytest.approx([1 / 12, 1 / 6])  # c = 96 cbr latent channels at H/4
    assert {r["system"] for r in rows} == {"convjscc"}


def test_batches_hold_one_size_and_cover_every_image(make_images):
    images = make_images(3, 16, 16) + make_images(2, 8, 12) + make_images(2, 16, 16, seed=1)
    batches = make_batches(images, batch_size=2)
    seen = sorted(i for b in batches for i in b.indices)
    assert seen == list(range(7))
    for b in batches:
        assert len(b.indices) <= 2 and b.images.shape[0] == len(b.indices)
        assert all(torch.equal(b.images[j], images[i]) for j, i in enumerate(b.indices))
    assert [b.indices for b in batches] == [[0, 1], [2, 5], [6], [3, 4]]


def test_batch_generators_are_distinct_and_repeatable():
    draws = {key: torch.randn(4, generator=batch_generator(*key)).tolist()
             for key in [(0, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 0)]}
    assert len({tuple(v) for v in draws.values()}) == 4
    assert torch.randn(4, generator=batch_generator(0, 1, 0)).tolist() == draws[(0, 1, 0)]


def test_sweeps_and_training_read_labels_by_one_rule():
    from semcom.data import collate
    from semcom.evaluation import sweep

    assert sweep.item_label is collate.item_label  # one definition
    image = torch.zeros(3, 2, 2)
    labelled = [(image, 3), (image, np.int64(4)), (image, torch.tensor(5)), {"image": image, "label": 6},
                (image, torch.tensor([7], dtype=torch.int32))]
    assert [collate.item_label(item) for item in labelled] == [3, 4, 5, 6, 7]
    unlabelled = [image, (image,), (image, True), (image, torch.tensor(True)), (image, 2.0),
                  (image, torch.tensor(2.0)), (image, torch.tensor([1, 2])), (image, np.bool_(True)),
                  {"image": image}]
    assert [collate.item_label(item) for item in unlabelled] == [None] * len(unlabelled)
