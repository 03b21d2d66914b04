"""SP-JSCC's SP weights: the mean-class-gradient identity, abs / L2 / mean-1 scaling, no
gradient into the classifier, batch independence, the display map, the loss using the
same definition, and ``semcom semantics sp-weights``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from semcom.cli import main
from semcom.errors import SemcomError
from semcom.semantics.classifier import Cifar10ResNet
from semcom.semantics.sp_weights import input_gradient, normalize_weights, sp_weight_map, sp_weights
from semcom.zoo.checkpoint import save_checkpoint


def _classifier(gen: torch.Generator, train_mode: bool = False) -> Cifar10ResNet:
    """A tiny cifar10-resnet with non-trivial batch-norm running statistics."""
    torch.manual_seed(7)
    model = Cifar10ResNet(widths=[4, 8, 8, 16], pool="avg").train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(8, 3, 32, 32, generator=gen))
    return model.train(train_mode)


def _per_class_mean_gradient(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The paper's eq. 8 literally: ``(1/C) sum_c d y^c / d x``, one backward per class."""
    model.eval()
    x = images.clone().requires_grad_(True)
    logits = model(x)
    total = torch.zeros_like(images)
    for c in range(logits.shape[1]):
        (g,) = torch.autograd.grad(logits[:, c].sum(), x, retain_graph=True)
        total += g
    return total / logits.shape[1]


def test_one_backward_of_the_mean_logit_is_the_mean_of_the_class_gradients(gen: torch.Generator) -> None:
    model = _classifier(gen)
    images = torch.rand(3, 3, 32, 32, generator=gen)
    grad, logits = input_gradient(model, images)
    explicit = _per_class_mean_gradient(model, images)
    assert logits.shape == (3, 10) and grad.shape == images.shape
    scale = explicit.abs().max()
    assert scale > 0 and torch.allclose(grad, explicit, atol=1e-5 * float(scale), rtol=1e-4)
    weights = sp_weights(model, images)
    magnitude = explicit.abs()
    expected = magnitude / magnitude.flatten(1).mean(dim=1).view(-1, 1, 1, 1)
    assert torch.allclose(weights, expected, rtol=1e-3, atol=1e-4)


def test_class_magnitude_target_is_the_mean_of_the_per_class_gradient_magnitudes(gen: torch.Generator) -> None:
    model = _classifier(gen)
    images = torch.rand(3, 3, 32, 32, generator=gen)
    grad, _ = input_gradient(model, images, target="class_magnitude")
    x = images.clone().requires_grad_(True)
    logits = model.eval()(x)
    explicit = sum(torch.autograd.grad(logits[:, c].sum(), x, retain_graph=True)[0].abs()
                   for c in range(logits.shape[1])) / logits.shape[1]
    scale = explicit.abs().max()
    assert scale > 0 and torch.allclose(grad, explicit, atol=1e-5 * float(scale), rtol=1e-4)
    # |mean of the gradients| <= mean of their magnitudes, strictly where classes disagree in sign
    mean_grad, _ = input_gradient(model, images)
    assert (mean_grad.abs() <= grad + 1e-7).all() and (mean_grad.abs() < grad - 1e-9).float().mean() > 0.5
    weights = sp_weights(model, images, target="class_magnitude")
    assert torch.allclose(weights.flatten(1).mean(dim=1), torch.ones(3), atol=1e-5)


def test_abs_normalization_and_scale(gen: torch.Generator) -> None:
    model = _classifier(gen)
    images = torch.rand(4, 3, 32, 32, generator=gen)
    weights = sp_weights(model, images)
    assert weights.dtype == torch.float32 and not weights.requires_grad
    assert (weights >= 0).all()
    assert torch.allclose(weights.flatten(1).mean(dim=1), torch.ones(4), atol=1e-5)  # MSE's magnitude
    g = torch.randn(2, 3, 5, 5, generator=gen)
    base = normalize_weights(g)
    assert torch.allclose(normalize_weights(-3.5 * g), base, atol=1e-6)  # |.| and the L2 step: scale-free
    unit = g.abs() / g.abs().flatten(1).norm(dim=1).view(-1, 1, 1, 1)  # the paper's L2_norm(|w|)
    assert torch.allclose(unit.flatten(1).norm(dim=1), torch.ones(2))
    assert torch.allclose(base, unit / unit.flatten(1).mean(dim=1).view(-1, 1, 1, 1), atol=1e-6)
    g[1] = 0.0
    assert torch.equal(normalize_weights(g)[1], torch.ones(3, 5, 5))  # no gradient: plain MSE
    ones = torch.ones(1, 3, 4, 4)
    assert torch.allclose(((normalize_weights(torch.ones(1, 3, 4, 4)) * ones).mean()), ones.mean())


def test_no_gradient_reaches_the_classifier_and_its_mode_is_kept(gen: torch.Generator) -> None:
    model = _classifier(gen, train_mode=True)
    model.layer2.eval()  # a mixed mode is restored exactly
    modes = {name: m.training for name, m in model.named_modules()}
    stats = {k: v.clone() for k, v in model.state_dict().items()}
    assert all(p.requires_grad for p in model.parameters())
    sp_weights(model, torch.rand(2, 3, 32, 32, generator=gen))
    assert all(p.grad is None for p in model.parameters())
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert all(torch.equal(v, stats[k]) for k, v in model.state_dict().items())  # BN stats untouched (eval)


def test_weights_are_batch_independent(gen: torch.Generator) -> None:
    model = _classifier(gen, train_mode=True)  # given in train mode: computed in eval mode anyway
    images = torch.rand(5, 3, 32, 32, generator=gen)
    together = sp_weights(model, images)
    alone = torch.cat([sp_weights(model, images[i:i + 1]) for i in range(5)])
    assert torch.allclose(together, alone, rtol=1e-4, atol=1e-5)
    other = images.clone()
    other[1:] = torch.rand(4, 3, 32, 32, generator=gen)
    assert torch.allclose(sp_weights(model, other)[0], together[0], rtol=1e-4, atol=1e-5)


def test_label_target_and_errors(gen: torch.Generator) -> None:
    model = _classifier(gen)
    images = torch.rand(2, 3, 32, 32, generator=gen)
    labels = torch.tensor([3, 8])
    x = images.clone().requires_grad_(True)
    logits = model(x)
    (g,) = torch.autograd.grad(logits[0, 3] + logits[1, 8], x)
    assert torch.allclose(input_gradient(model, images, labels, "label")[0], g, atol=1e-6)
    with pytest.raises(SemcomError, match="target must be one of"):
        sp_weights(model, images, target="max")
    with pytest.raises(SemcomError, match="needs the images' class labels"):
        sp_weights(model, images, target="label")
    with pytest.raises(SemcomError, match=r"must return \(B, classes\) logits"):
        sp_weights(lambda x: x.mean(), images)
    with pytest.raises(SemcomError, match=r"images must be \(B, 3, H, W\)"):
        sp_weights(model, images[0])


def test_weight_map_for_display(gen: torch.Generator) -> None:
    weights = sp_weights(_classifier(gen), torch.rand(2, 3, 32, 32, generator=gen))
    shown = sp_weight_map(weights)
    assert shown.shape == (2, 1, 32, 32) and shown.min() >= 0
    assert torch.allclose(shown.flatten(1).amax(dim=1), torch.ones(2))
    assert torch.allclose(shown[0, 0], weights[0].sum(0) / weights[0].sum(0).max())
    assert torch.equal(sp_weight_map(torch.zeros(1, 3, 4, 4)), torch.zeros(1, 1, 4, 4))


def test_the_weighted_mse_loss_uses_this_definition(gen: torch.Generator) -> None:
    from semcom.training.auxiliary import FrozenModel, input_gradient_weights

    model = _classifier(gen)
    images = torch.rand(3, 3, 32, 32, generator=gen)
    frozen = FrozenModel(model)
    assert torch.equal(input_gradient_weights(frozen, images), sp_weights(frozen, images))
    assert torch.allclose(sp_weights(frozen, images), sp_weights(model, images))
    assert not frozen.module.training and frozen.training  # the wrapper's own mode is kept


# ------------------------------------------------------------------------------ CLI
@pytest.fixture
def saved_classifier(tmp_path: Path, gen: torch.Generator) -> Path:
    model = _classifier(gen)
    return save_checkpoint(tmp_path / "classifier", model.state_dict(), "cifar10-resnet", model.config,
                           info={"kind": "task_model"})


@pytest.fixture
def image_file(tmp_path: Path, gen: torch.Generator) -> Path:
    pixels = (torch.rand(24, 40, 3, generator=gen) * 255).to(torch.uint8).numpy()
    path = tmp_path / "image.png"
    Image.fromarray(pixels, mode="RGB").save(path)
    return path


def test_cli_writes_a_grayscale_map_of_the_image_size(saved_classifier: Path, image_file: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "maps" / "weights.png"
    rc = main(["semantics", "sp-weights", str(image_file), "-o", str(out), "--classifier", str(saved_classifier),
               "--threads", "1"])
    printed = capsys.readouterr().out
    assert rc == 0
    with Image.open(out) as im:
        assert im.size == (40, 24) and im.mode == "L"
        assert int(np.asarray(im).max()) == 255  # scaled to [0, 1]: the brightest pixel is white
    assert "predicted" in printed and "wrote" in printed
    predicted = printed.split("predicted")[1].split()[0]
    from semcom.data.labelled import CIFAR10_CLASSES

    assert predicted in CIFAR10_CLASSES
    other = tmp_path / "maps" / "magnitude.png"
    assert main(["semantics", "sp-weights", str(image_file), "-o", str(other), "--classifier",
                 str(saved_classifier), "--threads", "1", "--target", "class_magnitude"]) == 0
    with Image.open(out) as a, Image.open(other) as b:
        assert a.size == b.size and not np.array_equal(np.asarray(a), np.asarray(b))  # another rule, another map


def _error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]
    return err[0]


def test_cli_errors_are_one_line(saved_classifier: Path, image_file: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "w.png")
    base = ["semantics", "sp-weights"]
    from semcom.cli import main as cli_main
    from semcom.semantics.cli import DEFAULT_CLASSIFIER
    from semcom.zoo.pretrained import has_pretrained

    if has_pretrained(DEFAULT_CLASSIFIER):  # without --classifier the shipped one serves
        shipped = str(tmp_path / "shipped.png")
        assert cli_main(base + [str(image_file), "-o", shipped]) == 0 and Path(shipped).exists()
        capsys.readouterr()
    else:
        assert "--classifier" in _error_line(capsys, base + [str(image_file), "-o", out])
    assert "no such file" in _error_line(capsys, base + [str(tmp_path / "missing.png"), "-o", out,
                                                         "--classifier", str(saved_classifier)])
    assert "no such checkpoint" in _error_line(capsys, base + [str(image_file), "-o", out,
                                                               "--classifier", str(tmp_path / "nothing")])
    assert "needs -o" in _error_line(capsys, base + [str(image_file), "--classifier", str(saved_classifier)])
    assert "required: image" in _error_line(capsys, base)
    assert "unknown semantics command" in _error_line(capsys, ["semantics", "sp-weight"])
    weights = saved_classifier.with_name(saved_classifier.name + ".safetensors")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert "corrupt" in _error_line(capsys, base + [str(image_file), "-o", out, "--classifier", str(saved_classifier)])
    assert not Path(out).exists()
    text = tmp_path / "not-an-image.png"
    text.write_text("hello")
    assert "cannot load image" in _error_line(capsys, base + [str(text), "-o", out, "--classifier", "x"])
