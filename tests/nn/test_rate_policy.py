import math

import pytest
import torch
import torch.nn.functional as F

from semcom.errors import SemcomError
from semcom.nn.rate_policy import (
    RatePolicy,
    gumbel_noise,
    hard_gumbel_softmax,
    temperature_at,
    thermometer,
    thermometer_from_counts,
)


def test_thermometer_switches_on_the_first_k_entries():
    one_hot = torch.eye(5)  # choices k = 0 .. 4 over 4 selective groups
    mask = thermometer(one_hot)
    assert mask.shape == (5, 4)
    expected = torch.tensor([[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]).float()
    torch.testing.assert_close(mask, expected)
    assert (mask[:, 1:] <= mask[:, :-1]).all()  # non-increasing along the groups
    torch.testing.assert_close(mask.sum(dim=1), torch.arange(5).float())
    assert torch.equal(thermometer_from_counts(torch.arange(5), 4), expected.bool())


def test_hard_gumbel_softmax_is_one_hot_at_the_noisy_argmax_and_passes_a_gradient(gen):
    logits = torch.randn(6, 5, generator=gen, requires_grad=True)
    state = torch.Generator().manual_seed(7)
    sample = hard_gumbel_softmax(logits, 1.0, state)
    noise = gumbel_noise(logits.detach(), torch.Generator().manual_seed(7))
    assert torch.equal(sample.detach(), F.one_hot((logits.detach() + noise).argmax(-1), 5).float())
    # the hard sample does not depend on the temperature; the gradient does
    cold = hard_gumbel_softmax(logits, 0.01, torch.Generator().manual_seed(7))
    assert torch.equal(cold.detach(), sample.detach())
    weights = torch.randn(4, generator=gen)
    (thermometer(sample) * weights).sum().backward()  # through the thermometer mask
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    with pytest.raises(SemcomError, match="temperature must be positive"):
        hard_gumbel_softmax(logits, 0.0)


def test_gumbel_samples_follow_the_softmax():
    logits = torch.tensor([[0.0, 1.0, -1.0, 2.0]]).expand(20000, 4)
    sample = hard_gumbel_softmax(logits, 1.0, torch.Generator().manual_seed(0))
    freq = sample.mean(dim=0)
    torch.testing.assert_close(freq, torch.softmax(logits[0], -1), atol=0.015, rtol=0)


def test_temperature_schedule_of_the_authors():
    assert temperature_at(0) == 5.0
    assert math.isclose(temperature_at(1), 5 * math.exp(-0.015))
    assert math.isclose(temperature_at(100), 5 * math.exp(-1.5))
    assert math.isclose(temperature_at(400), 5 * math.exp(-6.0))  # still above the floor
    assert temperature_at(461) == 0.005 and temperature_at(10_000) == 0.005
    with pytest.raises(SemcomError):
        temperature_at(-1)


def test_policy_reads_pooled_features_and_snr_and_argmax_at_inference(gen):
    torch.manual_seed(0)
    policy = RatePolicy(8, selective_groups=4, hidden=16)
    feats = torch.randn(5, 8, 3, 3, generator=gen)
    snr = torch.tensor([0.0, 5.0, 10.0, 15.0, 20.0])
    assert policy.mlp[0].in_features == 9 and policy.mlp[-1].out_features == 5
    policy.train()
    policy(feats, snr)  # fills the batch-norm running statistics
    policy.eval()
    a, b = policy(feats, snr), policy(feats, snr)
    assert torch.equal(a.counts, b.counts) and torch.equal(a.counts, a.logits.argmax(-1))
    assert torch.equal(a.mask.bool(), thermometer_from_counts(a.counts, 4))
    one = policy(feats[:1], snr[:1])  # one image in eval mode
    assert one.counts.item() == a.counts[0].item()


def test_policy_training_sample_reaches_the_weights_and_batch_one_is_refused(gen):
    policy = RatePolicy(8, selective_groups=3, hidden=16).train()
    feats = torch.randn(4, 8, 2, 2, generator=gen)
    decision = policy(feats, torch.full((4,), 10.0), temperature=2.0, generator=torch.Generator().manual_seed(1))
    assert decision.mask.shape == (4, 3) and decision.counts.dtype == torch.int64
    assert torch.equal(decision.mask.sum(1).detach().long(), decision.counts)
    (decision.mask * torch.randn(4, 3, generator=gen)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    with pytest.raises(SemcomError, match="at least 2 images"):
        policy(feats[:1], torch.full((1,), 10.0))
    plain = RatePolicy(8, selective_groups=3, hidden=16, norm=False).train()
    assert plain(feats[:1], torch.full((1,), 10.0)).mask.shape == (1, 3)


def test_forced_decision():
    policy = RatePolicy(8, selective_groups=4)
    forced = policy.forced(3, 2)
    assert forced.counts.tolist() == [2, 2, 2] and forced.logits is None
    torch.testing.assert_close(forced.mask, torch.tensor([[1.0, 1.0, 0.0, 0.0]]).expand(3, 4))
    with pytest.raises(SemcomError, match=r"\[0, 4\]"):
        policy.forced(1, 5)
