"""One face for every system (`semcom.build`), checkpoint kinds, and `semcom models`."""

from __future__ import annotations

import pytest
import torch

import semcom
from semcom.cli import main as cli_main
from semcom.errors import CheckpointError, SemcomError, UnknownNameError
from semcom.models import ConvJSCC, save_model
from semcom.zoo import checkpoint_kind, list_pretrained, read_checkpoint_meta, save_checkpoint

TINY = {"widths": [4, 4, 4, 4]}


def test_build_takes_a_registry_name_a_zoo_name_or_a_path(tmp_path, monkeypatch):
    assert type(semcom.build("uncoded", equalizer="zf")).__name__ == "UncodedLink"
    torch.manual_seed(0)
    model = ConvJSCC(cbr=1 / 6, **TINY)
    path = save_model(model, tmp_path / "zoo" / "tiny")
    monkeypatch.setenv("SEMCOM_ZOO", str(tmp_path / "zoo"))
    for source in ("tiny", str(path), str(path) + ".safetensors", str(path) + ".json"):
        built = semcom.build(source)
        assert isinstance(built, ConvJSCC) and not built.training
        assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(), model.state_dict().values()))
    assert semcom.build("tiny", equalizer="zf").equalizer == "zf"
    with pytest.raises(SemcomError, match=r"system 'convjscc' \(checkpoint .*\) does not take colour"):
        semcom.build("tiny", colour=1)
    with pytest.raises(SemcomError, match=r"system 'uncoded' has no cbr setting \(it takes: equalizer\)"):
        semcom.build("uncoded", cbr=0.1)
    with pytest.raises(UnknownNameError, match=r"'nowhere' is no system, zoo model or checkpoint \(systems: "
                                               r"adjscc, .*zoo: .*tiny"):
        semcom.build("nowhere")


def test_kinds_default_to_system_and_are_checked(tmp_path, monkeypatch):
    zoo = list_pretrained()
    systems = {k: v for k, v in zoo.items() if v["kind"] == "system"}
    tasks = {k: v for k, v in zoo.items() if v["kind"] == "task_model"}
    assert systems and all("kind" not in v["info"] or v["info"]["kind"] == "system"  # shipped links say nothing
                           for v in systems.values())
    assert list_pretrained("system") == systems and list_pretrained("task_model") == tasks
    assert all(v["info"]["kind"] == "task_model" for v in tasks.values())
    save_checkpoint(tmp_path / "clf", {"w": torch.zeros(1)}, "some-classifier", {}, {"kind": "task_model"})
    bad = save_checkpoint(tmp_path / "odd", {"w": torch.zeros(1)}, "x", {}, {"kind": "toaster"})
    monkeypatch.setenv("SEMCOM_ZOO", str(tmp_path))
    assert list_pretrained()["clf"]["kind"] == "task_model" and "odd" not in list_pretrained()
    assert "clf" in set(list_pretrained("task_model"))
    with pytest.raises(CheckpointError, match="declares kind 'toaster'"):
        checkpoint_kind(read_checkpoint_meta(bad))


def test_models_lists_settings_and_groups_the_zoo_by_kind(tmp_path, monkeypatch, capsys):
    save_checkpoint(tmp_path / "clf", {"w": torch.zeros(1)}, "some-classifier", {},
                    {"kind": "task_model", "dataset": "CIFAR-10", "accuracy": 0.91, "accuracy_on": "CIFAR-10 test 1000"})
    monkeypatch.setenv("SEMCOM_ZOO", str(tmp_path))
    assert cli_main(["models"]) == 0
    out = capsys.readouterr().out
    assert "--run mcs (int in [3, 28] or auto" in out  # the digital link's setting, described
    systems, tasks = out.index("pretrained systems (kind system"), out.index("task models (kind task_model")
    assert systems < out.index("convjscc_cifar10_cbr1-12_snr7") < tasks < out.index("clf ")
    assert "top-1 accuracy 91.00 % (CIFAR-10 test 1000)" in out
