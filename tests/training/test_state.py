"""Training checkpoints: pickle-free optimizer/RNG state and crash-safe replacement of ``last``."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from semcom.errors import CheckpointError
from semcom.training.state import (has_training_state, load_training_state, optimizer_state_from_flat,
                                   optimizer_state_to_flat, recover_last, restore_rng_state, save_training_state)
from semcom.zoo.checkpoint import load_checkpoint, save_checkpoint


def _trained(steps: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.PReLU(), torch.nn.Linear(3, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.8, 0.99))
    for i in range(steps):
        x = torch.randn(5, 4, generator=torch.Generator().manual_seed(i))
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    return model, opt


def _continue(model: torch.nn.Module, opt: torch.optim.Optimizer, start: int, stop: int) -> None:
    for i in range(start, stop):
        x = torch.randn(5, 4, generator=torch.Generator().manual_seed(i))
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()


def test_optimizer_state_round_trip_continues_identically() -> None:
    model, opt = _trained(3)
    tensors, meta = optimizer_state_to_flat(opt.state_dict())
    assert all(k.startswith("optim.state.") for k in tensors) and "exp_avg_sq" in "".join(tensors)
    clone, clone_opt = _trained(0)
    clone.load_state_dict(model.state_dict())
    from_disk = {k: v.clone() for k, v in tensors.items()}  # load_state_dict would alias otherwise
    clone_opt.load_state_dict(optimizer_state_from_flat(from_disk, meta))
    _continue(model, opt, 3, 6)
    _continue(clone, clone_opt, 3, 6)
    for a, b in zip(model.parameters(), clone.parameters()):
        assert torch.equal(a, b)


def test_rng_states_round_trip() -> None:
    from semcom.training.state import rng_state_to_flat

    torch.manual_seed(1), random.seed(1), np.random.seed(1)
    np.random.normal()  # leaves a cached Gaussian in numpy's state
    tensors, meta = rng_state_to_flat()
    expected = (torch.rand(3), random.random(), np.random.normal(), np.random.rand())
    torch.manual_seed(9), random.seed(9), np.random.seed(9)
    restore_rng_state(tensors, meta)
    again = (torch.rand(3), random.random(), np.random.normal(), np.random.rand())
    assert torch.equal(expected[0], again[0]) and expected[1:] == again[1:]


def _save(out: Path, step: int) -> None:
    model, opt = _trained(step)
    save_training_state(out, step, model.state_dict(), opt.state_dict(), "toy", {"width": 3})


def test_save_and_load(tmp_path: Path) -> None:
    _save(tmp_path, 2)
    state = load_training_state(tmp_path)
    model, opt = _trained(2)
    assert state.step == 2 and state.system == "toy" and state.model_config == {"width": 3}
    assert all(torch.equal(state.model_state[k], v) for k, v in model.state_dict().items())
    assert sorted(os.listdir(tmp_path)) == ["last.json", "last.safetensors"]


def test_interrupted_replacement_is_recovered(tmp_path: Path) -> None:
    _save(tmp_path, 1)
    # a crash after the new tensors were moved over last.safetensors, before the JSON was
    model, opt = _trained(2)
    save_training_state(tmp_path / "scratch", 2, model.state_dict(), opt.state_dict(), "toy", {"width": 3})
    os.replace(tmp_path / "scratch" / "last.safetensors", tmp_path / "last.safetensors")
    os.replace(tmp_path / "scratch" / "last.json", tmp_path / "last.next.json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "last")  # new tensors, old JSON: the sha256 catches it
    recover_last(tmp_path)
    assert load_training_state(tmp_path).step == 2


def test_complete_staged_checkpoint_is_moved_and_partial_one_dropped(tmp_path: Path) -> None:
    _save(tmp_path, 1)
    model, opt = _trained(3)
    save_checkpoint(tmp_path / "last.next", {"w": torch.ones(2)}, "toy", {}, {"training": {}})
    recover_last(tmp_path)  # complete pair: the crash came before the move, so finish it
    assert load_checkpoint(tmp_path / "last").tensors["w"].tolist() == [1.0, 1.0]

    _save(tmp_path, 1)
    (tmp_path / "last.next.safetensors").write_bytes(b"half a file")  # crash while writing
    (tmp_path / "last.next.json.tmp").write_text("{")
    recover_last(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["last.json", "last.safetensors"]
    assert load_training_state(tmp_path).step == 1 and has_training_state(tmp_path)
