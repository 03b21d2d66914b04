"""Loading a subset of a checkpoint into a model: prefix maps, excludes, strict and not."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import semcom.models
from semcom.errors import CheckpointError, SemcomError
from semcom.models import create_model, load_model, save_model
from semcom.zoo.checkpoint import save_checkpoint
from semcom.zoo.loading import InitSpec, init_weights_from


def _tiny(**kw):
    return create_model("convjscc", cbr="1/12", widths=[8, 8, 8, 8], **kw)


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    torch.manual_seed(1)
    model = _tiny()
    return save_model(model, tmp_path / "src"), model.state_dict()


def test_models_reexport_the_zoo_loaders() -> None:
    from semcom.zoo import loading

    assert semcom.models.load_model is loading.load_model
    assert semcom.models.init_weights_from is loading.init_weights_from


def test_exclude_leaves_tensors_at_initialization(source) -> None:
    path, weights = source
    torch.manual_seed(2)
    model = _tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = init_weights_from(model, {"path": str(path), "exclude": ["decoder.*"]})
    after = model.state_dict()
    decoder = [k for k in after if k.startswith("decoder.")]
    assert decoder and report.left_at_init == decoder
    assert all(report.reasons[k] == "excluded" for k in decoder)
    assert report.loaded == [k for k in after if not k.startswith("decoder.")]
    assert all(torch.equal(after[k], weights[k]) for k in report.loaded)
    assert all(torch.equal(after[k], before[k]) for k in decoder)
    assert report.unused == [] and len(report.sha256) == 64
    assert "left at initialization: decoder." in report.summary()


def test_prefix_map_renames_checkpoint_keys(source, tmp_path: Path) -> None:
    path, weights = source
    renamed = {("analysis." + k[len("encoder."):] if k.startswith("encoder.") else k): v
               for k, v in weights.items()}
    other = save_checkpoint(tmp_path / "renamed", renamed, "convjscc", _tiny().config)
    model = _tiny()
    with pytest.raises(CheckpointError, match="does not match convjscc: model tensors not loaded: encoder"):
        init_weights_from(model, {"path": str(other), "strict": True})
    loose = init_weights_from(model, {"path": str(other)})  # without the map: the decoder only
    assert all(k.startswith("decoder.") for k in loose.loaded)
    assert all(k.startswith("analysis.") for k in loose.unused) and loose.unused
    report = init_weights_from(model, {"path": str(other), "map": {"analysis.": "encoder."}, "strict": True})
    assert report.left_at_init == [] and report.unused == []
    assert all(torch.equal(model.state_dict()[k], weights[k]) for k in weights)


def test_other_shapes_are_reported_or_refused(source) -> None:
    path, weights = source
    model = create_model("convjscc", cbr="1/24", widths=[8, 8, 8, 8])  # 4 latent channels, not 8
    report = init_weights_from(model, {"path": str(path)})
    assert report.left_at_init and all("shape" in report.reasons[k] for k in report.left_at_init)
    assert all(torch.equal(model.state_dict()[k], weights[k]) for k in report.loaded)
    with pytest.raises(CheckpointError, match="cannot initialise convjscc"):
        init_weights_from(model, str(path))  # the plain form: same system and config
    with pytest.raises(CheckpointError, match="no tensor of convjscc matches"):
        init_weights_from(model, {"path": str(path), "exclude": ["*"]})


@pytest.mark.parametrize("value, fragment", [
    ({"path": "x", "strictly": True}, "init_from.strictly"),
    ({"map": {}}, "init_from.path"),
    ({"path": "x", "map": ["a"]}, "init_from.map"),
    ({"path": "x", "exclude": [3]}, "init_from.exclude"),
    ({"path": "x", "strict": "yes"}, "init_from.strict"),
    (3, "init_from must be"),
])
def test_bad_init_specs_are_named(value, fragment: str) -> None:
    with pytest.raises(SemcomError, match=fragment):
        InitSpec.from_config(value)


def test_missing_source_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint .* and no zoo model"):
        init_weights_from(_tiny(), {"path": str(tmp_path / "nothing")})


def test_a_map_sending_two_keys_to_one_is_refused(source, tmp_path: Path) -> None:
    path, weights = source
    both = {**weights, **{"analysis." + k[len("encoder."):]: v.clone() for k, v in weights.items()
                          if k.startswith("encoder.")}}
    other = save_checkpoint(tmp_path / "both", both, "convjscc", _tiny().config)
    model = _tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"init_from.map sends both '(analysis|encoder)\.(\S+)' and "
                                              r"'(analysis|encoder)\.\2' to 'encoder\.\2'; map each"):
        init_weights_from(model, {"path": str(other), "map": {"analysis.": "encoder."}})
    assert all(torch.equal(model.state_dict()[k], before[k]) for k in before)  # nothing loaded


@pytest.fixture
def toy() -> str:
    from support.toy_models import TOY_NAME, register_toy, unregister_toy

    register_toy()
    yield TOY_NAME
    unregister_toy()


def test_loading_restores_the_recorded_training_modes(toy: str, tmp_path: Path) -> None:
    from semcom.zoo.pretrained import build, load_built

    model = create_model(toy)
    assert model.mode == {"quantize": "noise"}  # the default
    final = save_model(model, tmp_path / "final", info={"modes": {"quantize": "ste"}})
    for loaded in (load_model(final), load_built(final), build(str(final))):
        assert loaded.mode == {"quantize": "ste"} and not loaded.training
    plain = save_model(model, tmp_path / "plain")  # records no modes: the defaults
    assert load_model(plain).mode == {"quantize": "noise"}
    bad = save_model(model, tmp_path / "bad", info={"modes": {"quantise": "ste"}})
    with pytest.raises(CheckpointError, match=r"checkpoint .*bad: cannot restore its training modes: .*quantise"):
        load_model(bad)
    with pytest.raises(CheckpointError, match="info modes must be a mapping"):
        load_model(save_model(model, tmp_path / "listed", info={"modes": ["ste"]}))
    other = save_model(_tiny(), tmp_path / "convjscc", info={"modes": {"quantize": "ste"}})
    with pytest.raises(CheckpointError, match="cannot restore its training modes"):
        load_model(other)  # convjscc has no such mode


def test_load_model_reads_a_runs_last_like_load_built(toy: str, tmp_path: Path) -> None:
    from semcom.training.state import save_training_state
    from semcom.zoo.pretrained import load_built

    torch.manual_seed(5)
    model = create_model(toy, refine=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    last = save_training_state(tmp_path / "run", 1, model.state_dict(), optimizer.state_dict(), model.name,
                               dict(model.config), extra={"modes": {"quantize": "ste"}})
    for loaded in (load_model(last), load_built(last)):
        assert loaded.config == model.config and loaded.mode == {"quantize": "ste"}
        assert set(loaded.state_dict()) == set(model.state_dict())
        assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())


def test_load_model_refuses_what_is_not_a_neural_system(tmp_path: Path) -> None:
    from torch import nn

    from semcom.registry import TASK_MODELS

    TASK_MODELS.register("test-linear-classifier")(lambda: nn.Linear(3, 2))
    try:
        task = save_checkpoint(tmp_path / "task", nn.Linear(3, 2).state_dict(), "test-linear-classifier", {},
                               info={"kind": "task_model"})
        with pytest.raises(CheckpointError, match=r"holds a task_model, not a system$"):
            load_model(task)
    finally:
        TASK_MODELS._entries.pop("test-linear-classifier", None)
        TASK_MODELS._help.pop("test-linear-classifier", None)
    digital = save_checkpoint(tmp_path / "digital", {}, "uncoded", {})
    with pytest.raises(CheckpointError, match="system 'uncoded' is not a neural model"):
        load_model(digital)
