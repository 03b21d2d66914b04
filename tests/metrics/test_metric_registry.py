"""The metric registry in sweeps: image vs dataset-level metrics, LPIPS availability,
labels travelling through batches, classifiers from task-model checkpoints, tiny images."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from semcom.errors import SemcomError
from semcom.evaluation import EvalConfig, run_sweep
from semcom.link import Link, TransmitResult
from semcom.metrics.registry import build_metric, metric_name
from semcom.metrics.task import macro_f1
from semcom.registry import TASK_MODELS
from semcom.zoo import save_checkpoint


class Identity(Link):
    """Sends images unchanged (so a classifier sees the originals)."""

    name = "_test-identity"

    def _transmit(self, images, channel, snr_db, generator, settings=None) -> TransmitResult:
        return TransmitResult.build(images.clone(), 10)


@TASK_MODELS.register("_test-threshold")
class Threshold(nn.Module):
    """Class 1 when an image's mean exceeds ``level``, else class 0 (logits)."""

    def __init__(self, level: float = 0.5) -> None:
        super().__init__()
        self.level = nn.Parameter(torch.tensor(float(level)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        m = images.mean(dim=(1, 2, 3)) - self.level
        return torch.stack([-m, m], dim=1)


def _flat(levels):
    return [torch.full((3, 8, 8), v) for v in levels]


def _cfg(tmp_path, metrics, **kw):
    return EvalConfig.from_dict({"systems": [{"link": Identity(), "label": "identity"}], "snr_db": [10],
                                 "metrics": metrics,
                                 "out_dir": str(tmp_path / "o"), **kw})


def test_names_aliases_and_options_are_checked():
    assert [metric_name(m) for m in ("PSNR", "ms-ssim", "MS_SSIM_DB", "macro_f1", {"name": "Top1"})] == \
        ["psnr", "ms_ssim", "ms_ssim", "f1", "accuracy"]
    with pytest.raises(SemcomError, match="metric 'lpips' does not take wieghts; did you mean weights"):
        build_metric({"name": "lpips", "wieghts": "x"})
    with pytest.raises(SemcomError, match="unknown metric"):
        EvalConfig.from_dict({"systems": ["uncoded"], "snr_db": 1, "metrics": ["fid"]})
    with pytest.raises(SemcomError, match="needs a classifier"):
        build_metric("accuracy")


def test_lpips_without_weights_is_an_empty_column_with_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SEMCOM_LPIPS_WEIGHTS", raising=False)
    (row,) = run_sweep(_cfg(tmp_path, ["psnr", "lpips"]), images=_flat([0.2, 0.4]), progress=False)
    assert "lpips" in row and row["lpips"] is None and row["psnr"] == 100.0  # identity: capped PSNR
    doc = json.loads((tmp_path / "o" / "results.json").read_text())
    assert len(doc["notes"]) == 1 and "LPIPS unavailable" in doc["notes"][0]
    assert "note: LPIPS unavailable" in capsys.readouterr().out
    with pytest.raises(SemcomError, match="LPIPS weights not found"):  # a named file must exist
        run_sweep(_cfg(tmp_path, [{"name": "lpips", "weights": str(tmp_path / "none.safetensors")}]),
                  images=_flat([0.2]), progress=False)


def test_accuracy_and_f1_are_dataset_level_over_all_batches(tmp_path):
    # threshold 0.5: predictions 0, 0, 1, 1, 1, 1 for these levels
    images = _flat([0.1, 0.2, 0.6, 0.7, 0.8, 0.9])
    labels = [0, 1, 1, 1, 0, 1]
    clf = Threshold(0.5)
    cfg = _cfg(tmp_path, ["psnr", {"name": "accuracy", "classifier": clf}, {"name": "f1", "classifier": clf}],
               batch_size=2, repeats=2)
    (row,) = run_sweep(cfg, images=images, labels=labels, progress=False, write=False)
    preds = torch.tensor([0, 0, 1, 1, 1, 1])
    assert row["accuracy"] == pytest.approx(4 / 6)
    assert row["f1"] == pytest.approx(macro_f1(preds, torch.tensor(labels), 2))
    per_batch = [macro_f1(preds[i:i + 2], torch.tensor(labels[i:i + 2]), 2) for i in (0, 2, 4)]
    assert row["f1"] != pytest.approx(sum(per_batch) / 3)  # not a mean over batches


def test_a_classifier_loads_from_a_task_model_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "clf", Threshold(0.65).state_dict(), "_test-threshold", {"level": 0.5},
                           {"kind": "task_model", "dataset": "synthetic"})
    cfg = _cfg(tmp_path, [{"name": "accuracy", "classifier": str(path)}])
    (row,) = run_sweep(cfg, images=_flat([0.6, 0.7]), labels=[0, 1], progress=False, write=False)
    assert row["accuracy"] == 1.0  # the stored level 0.65 was loaded, not the config's 0.5


def test_task_metrics_need_labels_before_any_transmission(tmp_path):
    cfg = _cfg(tmp_path, [{"name": "accuracy", "classifier": Threshold()}])
    with pytest.raises(SemcomError, match="accuracy needs class labels"):
        run_sweep(cfg, images=_flat([0.3]), progress=False)
    with pytest.raises(SemcomError, match="got 2 labels for 1 images"):
        run_sweep(cfg, images=_flat([0.3]), labels=[0, 1], progress=False)


def test_cifar10_labels_travel_from_the_dataset(shared_data, tmp_path):
    from semcom.data import create_dataset
    from semcom.evaluation.sweep import load_dataset

    cfg = _cfg(tmp_path, ["psnr", {"name": "accuracy", "classifier": Threshold()}],
               dataset={"name": "cifar10", "split": "test", "limit": 6})
    images, labels = load_dataset(cfg.dataset)
    ds = create_dataset("cifar10", split="test")
    assert labels.tolist() == [int(ds[i][1]) for i in range(6)] and len(images) == 6
    (row,) = run_sweep(cfg, progress=False, write=False)
    preds = torch.stack([Threshold()(im[None]).argmax(1)[0] for im in images])
    assert row["accuracy"] == pytest.approx(float((preds == labels).double().mean()))


def test_tiny_images_report_psnr_and_say_why_ssim_is_missing(tmp_path):
    (row,) = run_sweep(_cfg(tmp_path, ["psnr", "ssim", "ms_ssim"]), images=[torch.full((3, 1, 1), 0.5)],
                       progress=False)
    assert row["psnr"] == 100.0 and row["ssim"] is None and row["ms_ssim"] is None
    notes = json.loads((tmp_path / "o" / "results.json").read_text())["notes"]
    assert any("image smaller than 3x3 px" in n for n in notes)


def test_metric_paths_in_a_config_file_are_relative_to_it(tmp_path):
    from semcom.evaluation import EvalConfig

    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "e.yaml").write_text(
        "systems: [uncoded]\nsnr_db: [1]\nmetrics: [psnr, {name: accuracy, classifier: ../runs/clf},"
        " {name: f1, classifier: zoo_clf}, {name: lpips, weights: w.safetensors}]\n")
    metrics = EvalConfig.load(tmp_path / "cfg" / "e.yaml").metrics
    assert metrics[1]["classifier"] == str((tmp_path / "runs" / "clf").resolve())
    assert metrics[2]["classifier"] == "zoo_clf"  # a zoo name stays a name
    assert metrics[3]["weights"] == str((tmp_path / "cfg" / "w.safetensors").resolve())


def test_lpips_with_local_weights_in_a_sweep(tmp_path):
    from semcom.metrics.lpips import LPIPS, save_lpips_weights

    torch.manual_seed(0)
    model = LPIPS("alex")
    for lin in model.lins:
        nn.init.uniform_(lin.weight, 0.0, 1.0)
    weights = str(save_lpips_weights(model.state_dict(), tmp_path / "w.safetensors", "alex"))

    class Noisy(Identity):
        def _transmit(self, images, channel, snr_db, generator, settings=None):
            return TransmitResult.build((images + 0.1 * torch.randn(images.shape, generator=generator))
                                        .clamp(0, 1), 10)

    gen = torch.Generator().manual_seed(1)
    images = [torch.rand(3, 32, 32, generator=gen) for _ in range(2)]
    metrics = ["psnr", {"name": "lpips", "weights": weights}]
    (same,) = run_sweep(_cfg(tmp_path, metrics), images=images, progress=False, write=False)
    noisy_cfg = EvalConfig.from_dict({**_cfg(tmp_path, metrics).to_dict(),
                                      "systems": [{"link": Noisy(), "label": "noisy"}]})
    (noisy,) = run_sweep(noisy_cfg, images=images, progress=False, write=False)
    assert same["lpips"] == pytest.approx(0.0, abs=1e-6) and noisy["lpips"] > 0.01
    (tiny,) = run_sweep(_cfg(tmp_path, metrics), images=_flat([0.5]), progress=False)
    assert tiny["lpips"] is None
    notes = json.loads((tmp_path / "o" / "results.json").read_text())["notes"]
    assert any("lpips n/a on 8x8 images: too small" in n for n in notes)
