"""Training losses: MSE, 1 - MS-SSIM with gradients, and the model's auxiliary terms."""

from __future__ import annotations

import pytest
import torch

from semcom.conventions import quantize_8bit
from semcom.errors import SemcomError
from semcom.metrics.quality import ms_ssim
from semcom.training import differentiable_ms_ssim, get_distortion, training_loss


@pytest.mark.parametrize("size", [32, 64, 176])  # 2, 3 and 5 MS-SSIM scales
def test_ms_ssim_matches_the_metric_and_has_gradients(size: int, gen: torch.Generator) -> None:
    x = quantize_8bit(torch.rand(2, 3, size, size, generator=gen))
    y = quantize_8bit(x + 0.1 * torch.randn(x.shape, generator=gen)).requires_grad_()
    value = differentiable_ms_ssim(x, y)
    assert torch.equal(value.detach(), ms_ssim(x, y).detach())  # same number on 8-bit images
    (1 - value.mean()).backward()
    assert y.grad is not None and y.grad.abs().sum() > 0  # the metric itself rounds: zero gradient
    assert differentiable_ms_ssim(x, x).allclose(torch.ones(2))


def test_aux_terms_are_added(gen: torch.Generator) -> None:
    x = torch.rand(2, 3, 8, 8, generator=gen)
    x_hat = torch.rand(2, 3, 8, 8, generator=gen)
    mse = get_distortion("mse")
    total, dist = training_loss(mse, x_hat, x, {"rate": torch.tensor(0.25), "ratio": torch.tensor([1.0, 3.0])})
    assert dist == torch.mean((x_hat - x) ** 2)
    assert total.item() == pytest.approx(dist.item() + 0.25 + 2.0)  # vectors enter as their mean
    assert training_loss(mse, x_hat, x, {})[0] == dist
    with pytest.raises(SemcomError, match="float tensor"):
        training_loss(mse, x_hat, x, {"bits": torch.tensor(3)})
    with pytest.raises(SemcomError, match="unknown loss"):
        get_distortion("l1")
