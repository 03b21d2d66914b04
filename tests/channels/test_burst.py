"""Gilbert-Elliott burst channel and the two-state Markov chain behind it."""

from __future__ import annotations

import math

import pytest
import torch

from semcom.channels import GilbertElliott, create_channel
from semcom.channels.common import two_state_markov_chain
from semcom.conventions import snr_db_to_noise_var
from semcom.errors import SemcomError

P, R, E, KAPPA = 0.02, 0.2, 0.5, 10.0


def run_lengths(state: torch.Tensor, value: bool) -> torch.Tensor:
    """Lengths of the runs of ``value`` that start and end strictly inside each row."""
    lengths = []
    for row in state:
        change = torch.nonzero(row[1:] != row[:-1]).reshape(-1) + 1  # first index of each new run
        starts, ends = change[:-1], change[1:]
        lengths.append((ends - starts)[row[starts] == value])
    return torch.cat(lengths).double()


def test_markov_chain_transition_probabilities(stats) -> None:
    state, segment = two_state_markov_chain(40, 2500, P, R, torch.Generator().manual_seed(1))
    prev, nxt = state[:, :-1], state[:, 1:]
    good_to_bad, se = stats.row_ratio((~prev & nxt).double(), (~prev).double())
    stats.within(good_to_bad, P, se, "P(good -> bad)")
    bad_to_good, se = stats.row_ratio((prev & ~nxt).double(), prev.double())
    stats.within(bad_to_good, R, se, "P(bad -> good)")
    # segments count the runs: a new segment exactly where the state changes
    assert torch.equal(segment[:, 1:] != segment[:, :-1], nxt != prev)
    assert torch.all(segment[:, 0] == 0)


def test_bad_state_occupancy_erasures_and_burst_length(stats) -> None:
    channel = GilbertElliott(p=P, r=R, kappa=KAPPA, e=E, state_known=True)
    snr_db = 10.0
    sigma2 = snr_db_to_noise_var(snr_db)
    z = torch.ones(40, 2500, dtype=torch.complex64)
    out = channel(z, snr_db, torch.Generator().manual_seed(2))
    bad = out.noise_var > 1.5 * sigma2  # state_known: noise_var is kappa * sigma2 in the bad state
    occupancy = P / (P + R)
    mean, se = stats.row_mean(bad.double())
    stats.within(mean, occupancy, se, "bad-state occupancy")
    mean, se = stats.row_mean(out.erasures.double())
    stats.within(mean, E * occupancy, se, "erasure rate")
    assert not (out.erasures & ~bad).any(), "erasures only happen in the bad state"
    assert torch.all(out.symbols[out.erasures] == 0)
    for value, mean_run, what in ((True, 1 / R, "mean burst length"), (False, 1 / P, "mean good run")):
        runs = run_lengths(bad, value)
        stats.within(runs.mean().item(), mean_run, runs.std().item() / math.sqrt(runs.numel()), what)
    # noise: sigma2 in the good state, kappa * sigma2 in the bad state (unerased symbols)
    noise = (out.symbols - z).abs().pow(2)
    good_var, se = stats.iid_mean(noise[~bad])
    stats.within(good_var, sigma2, se, "good-state noise variance")
    bad_var, se = stats.iid_mean(noise[bad & ~out.erasures])
    stats.within(bad_var, KAPPA * sigma2, se, "bad-state noise variance")


def test_receiver_does_not_know_the_state_by_default() -> None:
    channel = create_channel("gilbert-elliott", p=P, r=R)
    out = channel(torch.ones(3, 500, dtype=torch.complex64), 4.0, torch.Generator().manual_seed(3))
    assert out.noise_var.shape == (3, 1)
    assert torch.allclose(out.noise_var, torch.full((3, 1), snr_db_to_noise_var(4.0)))
    assert out.erasures is not None and out.erasures.any()


def test_degenerate_chains() -> None:
    g = torch.Generator().manual_seed(4)
    z = torch.ones(4, 300, dtype=torch.complex64)
    never = GilbertElliott(p=0.0, r=0.3, e=1.0)(z, 10.0, g)
    assert not never.erasures.any()
    always = GilbertElliott(p=0.3, r=0.0, e=1.0)(z, 10.0, g)  # absorbing bad state, stationary start
    assert always.erasures.all() and torch.all(always.symbols == 0)
    state, _ = two_state_markov_chain(2, 10, 1.0, 1.0, g)
    assert torch.all(state[:, 1:] != state[:, :-1])  # p = r = 1 alternates every symbol


@pytest.mark.parametrize("params, message", [
    ({"p": 1.5}, r"p must be in \[0, 1\], got 1.5"),
    ({"r": -0.1}, r"r must be in \[0, 1\], got -0.1"),
    ({"e": 2}, r"e must be in \[0, 1\], got 2"),
    ({"p": float("nan")}, r"p must be in \[0, 1\]"),
    ({"kappa": 0.5}, r"kappa must be >= 1, got 0.5"),
])
def test_bad_parameters(params, message) -> None:
    with pytest.raises(SemcomError, match=message):
        create_channel("gilbert-elliott", **params)
