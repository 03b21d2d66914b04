"""Parameter groups, freezing and an auxiliary optimizer; the out_dir lock; what a resume
warns and logs; losses logged as means over DDP ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from semcom.errors import SemcomError
from semcom.registry import SYSTEMS
from semcom.training import Trainer, train
from semcom.training.distributed import DistContext
from semcom.training.lock import LOCK
from semcom.training.objective import LossValue
from semcom.training.records import RunningMeans
from semcom.zoo.checkpoint import load_checkpoint
from support.toy_models import ToyVariableLength

QUANTILE_TARGET = 0.7


class _ToyWithQuantiles(ToyVariableLength):
    """The toy link plus entropy-model-like quantiles trained only by ``aux_loss()``."""

    name = "test-toy-quantiles"

    def __init__(self, equalizer: str = "mmse", refine: bool = False) -> None:
        super().__init__(equalizer, refine)
        self.quantiles = nn.Parameter(torch.zeros(3))

    def aux_loss(self) -> torch.Tensor:
        return ((self.quantiles - QUANTILE_TARGET) ** 2).sum()


@pytest.fixture
def quantile_toy() -> Any:
    SYSTEMS.register(_ToyWithQuantiles.name)(_ToyWithQuantiles)
    yield _ToyWithQuantiles.name
    SYSTEMS._entries.pop(_ToyWithQuantiles.name, None)
    SYSTEMS._help.pop(_ToyWithQuantiles.name, None)


def _records(out_dir: Path) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, (out_dir / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "train"]


def test_groups_freeze_and_an_auxiliary_optimizer(tiny_config: dict[str, Any], quantile_toy: str,
                                                  tmp_path: Path) -> None:
    cfg = {**tiny_config, "model": {"name": quantile_toy, "refine": True}, "val_data": None, "steps": 4,
           "log_every": 2, "ckpt_every": 2, "optimizer": {"lr": 1e-3, "groups": [{"params": "*.weight", "lr": 1e-2}]},
           "freeze": ["scale"], "aux_optimizer": {"params": "*quantiles*", "lr": 0.05},
           "out_dir": str(tmp_path / "whole")}
    trainer = Trainer(cfg, verbose=False)
    final = trainer.run()
    model = trainer.model
    assert not model.scale.requires_grad and torch.equal(model.scale.detach(), torch.ones(()))  # frozen
    assert torch.all((model.quantiles > 0.15) & (model.quantiles <= 0.2 + 1e-6))  # Adam: up to lr per step to 0.7
    records = _records(tmp_path / "whole")
    assert records[-1]["lrs"] == [1e-2, 1e-3] and records[-1]["aux_optimizer_loss"] > 0
    last = load_checkpoint(tmp_path / "whole" / "last")
    groups = last.info["training"]["optimizer"]["param_groups"]
    # refine.weight, then the rest (refine.bias): scale is frozen, the quantiles are aside
    assert [len(g["params"]) for g in groups] == [1, 1] and [g["lr"] for g in groups] == [1e-2, 1e-3]
    assert any(k.startswith("aux_optim.state.") for k in last.tensors)
    assert json.loads(final.with_name("final.json").read_text())["info"]["frozen"] == ["scale"]

    # a run stopped at step 2 and resumed ends with the same weights, quantiles included
    split = {**cfg, "out_dir": str(tmp_path / "split")}
    train({**split, "steps": 2}, verbose=False)
    resumed = load_checkpoint(train(split, verbose=False)).tensors
    whole = load_checkpoint(final).tensors
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)

    with pytest.raises(SemcomError, match="freeze: pattern 'encoder.\\*' matches no parameter"):
        Trainer({**cfg, "freeze": ["encoder.*"], "out_dir": str(tmp_path / "x")}, verbose=False).run()
    with pytest.raises(SemcomError, match="has no aux_loss"):
        Trainer({**tiny_config, "aux_optimizer": {"params": "*"}, "out_dir": str(tmp_path / "y")},
                verbose=False).run()


def test_a_second_run_on_one_folder_fails_and_a_stale_lock_is_taken_over(tiny_config: dict[str, Any]) -> None:
    out = Path(tiny_config["out_dir"])
    out.mkdir(parents=True)
    cfg = {**tiny_config, "steps": 1, "val_data": None}
    (out / LOCK).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))  # a live holder
    with pytest.raises(SemcomError, match="in use by another training run \\(pid"):
        train(cfg, verbose=False)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / LOCK).write_text(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename}))
    train(cfg, verbose=False)  # the holder is gone: taken over
    assert not (out / LOCK).exists()  # released at the end


def test_resume_warns_about_threads_and_says_its_first_log_averages_fewer_steps(
        tiny_config: dict[str, Any], capsys: pytest.CaptureFixture) -> None:
    cfg = {**tiny_config, "steps": 2, "val_data": None, "log_every": 3, "ckpt_every": 2}
    train(cfg, verbose=False)
    capsys.readouterr()
    with pytest.warns(UserWarning, match="threads 2, the checkpoint was written with 1"):
        train({**cfg, "steps": 6, "threads": 2}, verbose=True)
    err = capsys.readouterr().err
    assert "step 3/6" in err and "mean of the 1 steps since the resume at step 2" in err
    assert "step 6/6" in err and err.count("since the resume") == 1
    assert [(r["step"], r["steps_averaged"]) for r in _records(Path(cfg["out_dir"]))] == [(2, 2), (3, 1), (6, 3)]


class _TwoRanks(DistContext):
    """A context whose all-reduce adds a second rank's (given) values."""

    def __init__(self, other: list[float]) -> None:
        super().__init__()
        self.other = other

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        return [a + b for a, b in zip(values, self.other)]


def test_logged_losses_are_means_over_ranks() -> None:
    running = RunningMeans(["mse"], aux_optimizer=False, device=torch.device("cpu"))
    for loss in (1.0, 3.0):
        value = torch.tensor(loss)
        running.add(LossValue(total=value, distortion=value, aux=torch.zeros(()), terms={"mse": value}),
                    torch.tensor([10.0, 20.0]), None)
    running.drain(2)
    # this rank: loss 1 and 3 over 2 steps; the other rank: sums 10 (loss), 10, 0, 50 (PSNR) over 2 steps
    means, steps = running.means(_TwoRanks([10.0, 10.0, 0.0, 50.0, 2.0]))
    assert steps == 2 and means["loss"] == pytest.approx((4.0 + 10.0) / 4)
    assert means["psnr_db"] == pytest.approx((30.0 + 50.0) / 4)
    with pytest.raises(SemcomError, match="diverged"):
        running.add(LossValue(*(torch.tensor(float("nan")),) * 3, terms={}), torch.zeros(1), None)
        running.drain(3)


def test_a_checkpoint_from_before_new_keys_resumes_without_a_warning(tiny_config: dict[str, Any]) -> None:
    import warnings

    cfg = {**tiny_config, "steps": 2, "val_data": None, "ckpt_every": 2}
    train(cfg, verbose=False)
    meta_path = Path(cfg["out_dir"]) / "last.json"
    meta = json.loads(meta_path.read_text())
    del meta["info"]["training"]["config"]["optimizer"]["groups"]  # as written before groups existed
    meta_path.write_text(json.dumps(meta))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train({**cfg, "steps": 3}, verbose=False)
    with pytest.warns(UserWarning, match="differs from the checkpoint's in optimizer"):
        train({**cfg, "steps": 4, "optimizer": {"lr": 1e-3}}, verbose=False)
    with pytest.warns(UserWarning, match="in optimizer"), \
            pytest.raises(SemcomError, match="does not fit the config's parameter groups"):
        train({**cfg, "steps": 5, "optimizer": {"lr": 1e-3, "groups": [{"params": "encoder.*", "lr": 1e-2}]}},
              verbose=False)


def test_each_groups_patterns_are_matched_once_not_per_parameter(monkeypatch) -> None:
    from semcom.training import optim
    from semcom.training.config import config_from_dict

    model = nn.Sequential(*(nn.Linear(2, 2) for _ in range(6)))
    cfg = config_from_dict({"model": {"name": "convjscc"}, "data": {"name": "folder", "root": "x"},
                            "optimizer": {"lr": 1e-3, "groups": [{"params": "*.weight", "lr": 1e-2},
                                                                 {"params": ["0.*", "1.*"], "lr": 1e-4}]}})
    calls: list[str] = []
    matching = optim._matching

    def counted(names, patterns, where):
        calls.append(where)
        return matching(names, patterns, where)

    monkeypatch.setattr(optim, "_matching", counted)
    built = optim.build_optimizers(model, cfg)
    assert calls == ["freeze", "optimizer.groups[0]", "optimizer.groups[1]"]
    assert [len(g["params"]) for g in built.main.param_groups] == [6, 2, 4]  # weights, 0./1. biases, the rest
    assert built.base_lrs == [1e-2, 1e-4, 1e-3]


def test_a_checkpoint_from_before_a_new_model_argument_resumes_when_the_model_holds_its_default(
        tiny_config: dict[str, Any]) -> None:
    from semcom.zoo.checkpoint import same_model_config

    cfg = {**tiny_config, "steps": 2, "val_data": None, "ckpt_every": 2}
    train(cfg, verbose=False)
    meta_path = Path(cfg["out_dir"]) / "last.json"
    meta = json.loads(meta_path.read_text())
    assert meta["config"]["equalizer"] == "mmse"  # the constructor's default
    del meta["config"]["equalizer"]  # as written before the argument existed
    meta_path.write_text(json.dumps(meta))
    train({**cfg, "steps": 3}, verbose=False)
    assert load_checkpoint(Path(cfg["out_dir"]) / "last").info["training"]["step"] == 3
    # a missing entry whose value is not the default does not match
    from semcom.models import create_model

    model = create_model("convjscc", cbr="1/12", widths=[8, 8, 8, 8])
    stored = json.loads(json.dumps(model.config))
    assert same_model_config(stored, model)
    assert not same_model_config({k: v for k, v in stored.items() if k != "widths"}, model)
    assert not same_model_config({**stored, "unknown": 1}, model)
    assert not same_model_config({**stored, "cbr": 1 / 24}, model)
