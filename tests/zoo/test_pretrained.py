"""Every shipped checkpoint verifies, rebuilds its model and transmits sensibly."""

from pathlib import Path

import pytest
import torch

from semcom.channels import create_channel
from semcom.conventions import psnr
from semcom.data.io import load_image
from semcom.errors import UnknownNameError
from semcom.models import load_model
from semcom.zoo import DEFAULT_PRETRAINED, list_pretrained, pretrained_path

ZOO = list_pretrained("system")
TASK_MODELS = list_pretrained("task_model")
DEMO = Path(__file__).resolve().parents[2] / "semcom" / "assets" / "kodim23.png"


def test_the_default_model_ships():
    assert DEFAULT_PRETRAINED in ZOO


@pytest.mark.parametrize("name", sorted(ZOO))
def test_checkpoint_loads_and_keeps_its_rate(name):
    entry = ZOO[name]
    model = load_model(pretrained_path(name))
    assert model.name == entry["system"]
    for key in ("dataset", "train_snr_db", "psnr_db"):
        assert key in entry["info"]
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    res = model.transmit(x, create_channel("awgn"), 10.0, torch.Generator().manual_seed(0))
    if "cbr" in entry["config"]:
        assert res.cbr.tolist() == pytest.approx([entry["config"]["cbr"]] * 2)
    else:  # variable rate (arjscc): the policy's choice lies between the forced extremes
        low, high = (model.transmit(x, create_channel("awgn"), 10.0, torch.Generator().manual_seed(0),
                                    groups=g).cbr for g in (0, model.config["selective_groups"]))
        assert (low < high).all() and (low <= res.cbr).all() and (res.cbr <= high).all()
    assert 0 <= res.images.min() and res.images.max() <= 1


@pytest.mark.parametrize("name", sorted(TASK_MODELS))
def test_task_model_loads_and_scores_classes(name):
    from semcom.zoo.pretrained import load_built

    entry = TASK_MODELS[name]
    assert 0 < entry["info"]["accuracy"] <= 1 and "accuracy_on" in entry["info"]
    model = load_built(pretrained_path(name), kind="task_model").eval()
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        scores = model(x)
    assert scores.shape == (3, entry["info"]["classes"]) and torch.isfinite(scores).all()


def test_default_model_reconstructs_the_demo_image():
    model = load_model(pretrained_path(DEFAULT_PRETRAINED))
    x = load_image(DEMO)[None]
    res = model.transmit(x, create_channel("awgn"), 20.0, torch.Generator().manual_seed(0))
    gray = psnr(x, torch.full_like(x, 0.5)).item()
    assert psnr(x, res.images).item() > gray + 8  # looks like the image, not like noise


def test_unknown_pretrained_name():
    with pytest.raises(UnknownNameError, match="unknown pretrained"):
        pretrained_path("no-such-model")


def test_zoo_names_initialise_a_model_of_the_same_config():
    from semcom.models import create_model, init_weights_from

    entry = list_pretrained()["convjscc_cifar10_cbr1-12_snr7"]
    model = create_model(entry["system"], **entry["config"])
    report = init_weights_from(model, "convjscc_cifar10_cbr1-12_snr7")
    assert report.path == Path(entry["path"]) and report.left_at_init == [] and report.unused == []
    assert report.loaded == list(model.state_dict())
    shipped = load_model(entry["path"]).state_dict()
    assert all(torch.equal(v, shipped[k]) for k, v in model.state_dict().items())
