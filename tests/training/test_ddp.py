"""Data-parallel training through torchrun with 2 gloo processes on CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file

from semcom.training import train
from semcom.zoo.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]

WORKER = """
import os, sys
from safetensors.torch import save_file
from semcom.training import Trainer
trainer = Trainer(sys.argv[1], verbose=False)
final = trainer.run()
state = {k: v.contiguous() for k, v in trainer.model.state_dict().items()}
save_file(state, os.path.join(sys.argv[2], "rank%s.safetensors" % os.environ["RANK"]))
"""


def _torchrun(worker_code: str, cfg: dict[str, Any], tmp_path: Path) -> None:
    """Run ``worker_code`` (argv: config file, tmp_path) in 2 torchrun processes."""
    config_file, worker = tmp_path / "config.yaml", tmp_path / "worker.py"
    config_file.write_text(yaml.safe_dump(cfg))
    worker.write_text(worker_code)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         str(worker), str(config_file), str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_two_gloo_processes(tiny_config: dict[str, Any], tmp_path: Path) -> None:
    # high SNR: the ranks draw different channel noise than one process would, so the
    # comparison with a single-process run below is close but not exact
    cfg = {**tiny_config, "steps": 6, "ckpt_every": 3, "val_every": 3, "snr_db": 60, "batch_size": 8,
           "out_dir": str(tmp_path / "ddp")}
    _torchrun(WORKER, cfg, tmp_path)

    out = tmp_path / "ddp"
    final = load_checkpoint(out / "final").tensors
    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(2)]
    for key, value in final.items():
        assert torch.equal(ranks[0][key], value) and torch.equal(ranks[1][key], value), key
    last = load_checkpoint(out / "last").info["training"]
    assert last["step"] == 6 and last["world_size"] == 2
    assert sorted(p.name for p in out.iterdir()) == [
        "config.yaml", "final.json", "final.safetensors", "last.json", "last.safetensors", "metrics.jsonl"]

    # each rank trained on its half of the same global batches: the averaged gradients
    # match a single process on the whole batch up to float rounding and channel noise
    single = load_checkpoint(train({**cfg, "out_dir": str(tmp_path / "single")}, verbose=False)).tensors
    initial = _fresh_state(cfg)
    flat = lambda state: torch.cat([state[k].flatten() for k in sorted(initial)])  # noqa: E731
    gap, move = (flat(final) - flat(single)).abs(), (flat(single) - flat(initial)).abs()
    assert gap.mean() < 0.05 * move.mean()  # measured: about 0.004


def _fresh_state(cfg: dict[str, Any]) -> dict[str, torch.Tensor]:
    from semcom.models import create_model
    from semcom.training.data import derive_seed
    from semcom.training.trainer import _seed_globals

    _seed_globals(derive_seed("init", cfg["seed"]))
    return create_model(cfg["model"]["name"], **{k: v for k, v in cfg["model"].items() if k != "name"}).state_dict()


STAGES_WORKER = """
import os, sys
import torch.distributed as dist
from semcom.training.stages import run_stages
import semcom.training.distributed as distributed
groups = []
real = distributed.dist.init_process_group
def counting(*args, **kwargs):
    groups.append(1)
    return real(*args, **kwargs)
distributed.dist.init_process_group = counting
final = run_stages(sys.argv[1], verbose=False)
assert not dist.is_initialized()
with open(os.path.join(sys.argv[2], "joins%s.txt" % os.environ["RANK"]), "w") as f:
    f.write(str(len(groups)))
"""


@pytest.mark.slow
def test_stages_under_torchrun_share_one_process_group(tiny_config: dict[str, Any], tmp_path: Path) -> None:
    base = {k: v for k, v in tiny_config.items() if k != "steps"}
    cfg = {**base, "batch_size": 8, "ckpt_every": 2, "val_every": 2, "out_dir": str(tmp_path / "staged"),
           "stages": [{"name": "a", "steps": 4}, {"name": "b", "steps": 2, "init_from": "previous",
                                                   "optimizer": {"lr": 1.0e-3}}]}
    _torchrun(STAGES_WORKER, cfg, tmp_path)
    for name, steps in (("a", 4), ("b", 2)):
        last = load_checkpoint(tmp_path / "staged" / name / "last").info["training"]
        assert last["step"] == steps and last["world_size"] == 2
        assert (tmp_path / "staged" / name / "final.safetensors").is_file()
    # joined once for both stages, not re-joined at the boundary
    assert [(tmp_path / f"joins{r}.txt").read_text() for r in range(2)] == ["1", "1"]
