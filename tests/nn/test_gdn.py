import pytest
import torch

from semcom.nn.gdn import GDN, NonNegative, lower_bound


def _set(gdn: GDN, beta: torch.Tensor, gamma: torch.Tensor) -> None:
    with torch.no_grad():
        gdn.beta_raw.copy_(gdn._beta.init(beta))
        gdn.gamma_raw.copy_(gdn._gamma.init(gamma))


def _reference(x, beta, gamma, inverse):
    # y_i = x_i (/ or *) sqrt(beta_i + sum_j gamma_ij x_j^2), written channel by channel
    out = torch.empty_like(x)
    for i in range(x.shape[1]):
        norm = beta[i] + sum(gamma[i, j] * x[:, j] ** 2 for j in range(x.shape[1]))
        out[:, i] = x[:, i] * norm.sqrt() if inverse else x[:, i] / norm.sqrt()
    return out


@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_matches_the_formula(inverse, gen):
    c = 3
    gdn = GDN(c, inverse=inverse)
    beta = torch.tensor([0.5, 1.0, 2.0])
    gamma = torch.rand(c, c, generator=gen)
    _set(gdn, beta, gamma)
    torch.testing.assert_close(gdn.beta, beta)
    torch.testing.assert_close(gdn.gamma, gamma)
    x = torch.randn(2, c, 4, 5, generator=gen) * 3
    torch.testing.assert_close(gdn(x), _reference(x, beta, gamma, inverse))


def test_gdn_with_zero_gamma_only_scales_by_beta(gen):
    gdn = GDN(2)
    _set(gdn, torch.tensor([4.0, 0.25]), torch.zeros(2, 2))
    x = torch.randn(1, 2, 3, 3, generator=gen)
    torch.testing.assert_close(gdn(x), x / torch.tensor([2.0, 0.5]).reshape(1, 2, 1, 1))


def test_initial_gdn_squashes_large_inputs_and_igdn_expands_them():
    x = torch.full((1, 4, 2, 2), 10.0)
    y = GDN(4)(x)
    z = GDN(4, inverse=True)(x)
    # beta = 1, gamma = 0.1 I at init: 10 / sqrt(1 + 10) and 10 * sqrt(11)
    torch.testing.assert_close(y, torch.full_like(x, 10 / 11**0.5))
    torch.testing.assert_close(z, torch.full_like(x, 10 * 11**0.5))


def test_parameters_stay_nonnegative_whatever_the_raw_values(gen):
    gdn = GDN(5, beta_min=1e-4)
    with torch.no_grad():
        gdn.beta_raw.copy_(-torch.rand(5, generator=gen))
        gdn.gamma_raw.copy_(-torch.rand(5, 5, generator=gen))
    assert (gdn.beta >= 1e-4 * (1 - 1e-5)).all() and (gdn.gamma >= 0).all()
    y = gdn(torch.randn(2, 5, 3, 3, generator=gen))
    assert torch.isfinite(y).all()


def test_lower_bound_lets_gradients_lift_values_off_the_bound():
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    (-lower_bound(x, 0.5)).sum().backward()  # gradient asks both to grow
    assert x.grad.tolist() == [-1.0, -1.0]
    x.grad = None
    lower_bound(x, 0.5).sum().backward()  # asks both to shrink: the clamped one is frozen
    assert x.grad.tolist() == [0.0, 1.0]
    assert lower_bound(x, 0.5).tolist() == [0.5, 2.0]


def test_nonnegative_reparametrization_round_trips():
    p = NonNegative(minimum=0.0)
    v = torch.tensor([0.0, 1e-3, 1.0, 7.5])
    torch.testing.assert_close(p(p.init(v)), v, atol=1e-9, rtol=1e-6)


def test_gdn_learns_a_target_scale(gen):
    # fitting y = x / sqrt(4) for small x drives beta from 1 towards 4
    gdn = GDN(1)
    opt = torch.optim.Adam(gdn.parameters(), lr=0.05)
    x = torch.randn(64, 1, 2, 2, generator=gen) * 0.1
    for _ in range(60):
        opt.zero_grad()
        (gdn(x) - x / 2).pow(2).mean().backward()
        opt.step()
    assert abs(gdn.beta.item() - 4.0) < 0.5
