"""The loss registry and the objective: terms, weights, extra reconstructions, aux sides,
SP-JSCC's input-gradient weights, LPIPS from local weights, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from semcom.errors import SemcomError
from semcom.metrics.quality import ms_ssim, ssim
from semcom.training import Batch, build_objective
from semcom.training.auxiliary import FrozenModel, input_gradient_weights


def _output(gen: torch.Generator, **extra) -> dict:
    return {"x_hat": torch.rand(2, 3, 32, 32, generator=gen, requires_grad=True),
            "aux": {"rate": torch.tensor(0.25), "ratio": torch.tensor(0.5)},
            "aux_enc": {"rate": torch.tensor(0.25)}, "aux_dec": {"ratio": torch.tensor(0.5)},
            "reconstructions": {}, **extra}


def test_single_terms_match_their_metrics(gen: torch.Generator) -> None:
    batch = Batch(torch.rand(2, 3, 32, 32, generator=gen))
    out = _output(gen)
    x, y = batch.images, out["x_hat"]
    plain = build_objective("mse")(out, batch)
    assert plain.distortion.item() == pytest.approx(torch.mean((y - x) ** 2).item())
    assert plain.total.item() == pytest.approx(plain.distortion.item() + 0.75)  # + encoder and decoder aux
    one_minus = {"ssim": 1 - ssim(x, y, quantize=False).mean(), "ms-ssim": 1 - ms_ssim(x, y, quantize=False).mean()}
    for name, want in one_minus.items():
        value = build_objective({"name": name, "aux": False})(out, batch)
        assert value.total.item() == pytest.approx(want.item(), abs=1e-6)
        value.total.backward()
        assert y.grad is not None and y.grad.abs().sum() > 0
        y.grad = None


def test_sum_of_terms_with_an_extra_reconstruction_and_aux_sides(gen: torch.Generator) -> None:
    batch = Batch(torch.rand(2, 3, 32, 32, generator=gen))
    coarse = torch.rand(2, 3, 32, 32, generator=gen)
    out = _output(gen, reconstructions={"lic": coarse})
    spec = {"name": "sum", "terms": [{"name": "mse"}, {"name": "mse", "on": "lic", "weight": 0.5}],
            "aux": "encoder"}
    value = build_objective(spec)(out, batch)
    d_main = torch.mean((out["x_hat"] - batch.images) ** 2)
    d_lic = torch.mean((coarse - batch.images) ** 2)
    assert set(value.terms) == {"mse", "mse@lic"}
    assert value.terms["mse@lic"].item() == pytest.approx(d_lic.item())
    assert value.distortion.item() == pytest.approx((d_main + 0.5 * d_lic).item())
    assert value.aux.item() == pytest.approx(0.25)  # the encoder side only
    assert build_objective({**spec, "aux": "decoder"})(out, batch).aux.item() == pytest.approx(0.5)
    assert build_objective({**spec, "aux": False})(out, batch).aux.item() == 0.0
    with pytest.raises(SemcomError, match="no reconstruction 'lic'"):
        build_objective(spec)(_output(gen), batch)


@pytest.mark.parametrize("spec, fragment", [
    ("l1", "unknown loss 'l1'"),
    ({"name": "mse", "scale": 2}, "loss: loss 'mse' does not take scale"),
    ({"name": "mse", "weight": -1}, "loss.weight"),
    ({"name": "mse", "aux": "sometimes"}, "loss.aux"),
    ({"name": "sum", "terms": []}, "loss.terms"),
    ({"name": "sum", "terms": [{"name": "sum"}]}, "cannot be a term"),
    ({"name": "sum", "terms": [{"name": "mse"}], "weights": 1}, "loss.weights"),
    ({"name": "weighted-mse", "aux_model": {"name": "no-such-classifier"}}, "unknown task model"),
    ({"name": "weighted-mse", "aux_model": {"name": "x", "path": "y"}}, "aux_model must be"),
    ({"name": "lpips", "weights": "/no/such/lpips.safetensors"}, "LPIPS weights not found"),
    ({"name": "weighted-mse"}, r"^loss: loss 'weighted-mse' needs aux_model \(it takes: aux_model, target\)$"),
    ({"name": "weighted-mse", "targte": "label"},
     r"^loss: loss 'weighted-mse' does not take targte; did you mean target\?; it also needs aux_model "),
    ({"name": "mse", "weight": float("nan")}, r"^loss.weight must be a finite number >= 0, got nan$"),
    ({"name": "mse", "weight": float("inf")}, "loss.weight must be a finite number"),
    ({"name": "mse", "weight": 10 ** 400}, "loss.weight must be a finite number"),
    ({"name": "sum", "terms": [{"name": "mse"}, {"name": "ssim", "weight": float("-inf")}]},
     r"^loss.terms\[1\].weight must be a finite number"),
])
def test_bad_losses_fail_clearly(spec, fragment: str) -> None:
    with pytest.raises(SemcomError, match=fragment):
        build_objective(spec)


def test_lpips_loss_from_local_weights(tmp_path: Path, gen: torch.Generator, monkeypatch) -> None:
    from semcom.metrics.lpips import LPIPS, save_lpips_weights

    monkeypatch.delenv("SEMCOM_LPIPS_WEIGHTS", raising=False)
    with pytest.raises(SemcomError, match="LPIPS needs a local weights file"):
        build_objective("lpips")
    torch.manual_seed(0)
    state = {k: v.abs() if k.startswith("lins.") else v for k, v in LPIPS("alex").state_dict().items()}
    weights = save_lpips_weights(state, tmp_path / "lpips.safetensors", "alex")  # heads are non-negative
    objective = build_objective({"name": "lpips", "weights": str(weights)})
    batch = Batch(torch.rand(2, 3, 64, 64, generator=gen))
    assert objective({"x_hat": batch.images.clone(), "aux": {}}, batch).total.item() == pytest.approx(0.0, abs=1e-6)
    x_hat = (batch.images + 0.2 * torch.randn(batch.images.shape, generator=gen)).requires_grad_()
    value = objective({"x_hat": x_hat, "aux": {}}, batch).total
    value.backward()
    assert value.item() > 0 and x_hat.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in objective.parameters())  # a fixed network


class _Linear(nn.Module):
    """logits = W vec(x): the input gradient of class c is row c of W."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.t()


def test_input_gradient_weights_are_the_normalized_mean_class_gradient(gen: torch.Generator) -> None:
    w = torch.randn(4, 3 * 8 * 8, generator=gen)
    classifier = FrozenModel(_Linear(w))
    images = torch.rand(3, 3, 8, 8, generator=gen)
    weights = input_gradient_weights(classifier, images)
    expected = w.mean(dim=0).abs()
    expected = expected / expected.mean()
    assert weights.shape == images.shape and not weights.requires_grad
    assert torch.allclose(weights, expected.view(1, 3, 8, 8).expand_as(weights), atol=1e-5)
    assert torch.allclose(weights.flatten(1).mean(dim=1), torch.ones(3))  # mean 1 per image
    labels = torch.tensor([0, 2, 3])
    by_label = input_gradient_weights(classifier, images, labels, target="label")
    for i, c in enumerate(labels.tolist()):
        row = w[c].abs()
        assert torch.allclose(by_label[i].flatten(), row / row.mean(), atol=1e-5)
    with pytest.raises(SemcomError, match="needs a labelled training set"):
        input_gradient_weights(classifier, images, None, target="label")
    flat = input_gradient_weights(FrozenModel(_Linear(torch.zeros(4, 192))), images)
    assert torch.equal(flat, torch.ones_like(flat))  # no gradient: plain MSE
    assert classifier.module.weight.grad is None and not classifier.module.weight.requires_grad  # frozen
