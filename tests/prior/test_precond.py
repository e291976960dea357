"""EDM preconditioning: the coefficient identities and the limits that make the denoiser exact where it must be."""

import math

import pytest
import torch

from ecgdiff.diffusion import precond, schedule
from ecgdiff.diffusion.networks.beat_unet import UNet1D, UNetConfig

SD = schedule.SIGMA_DATA


@pytest.fixture
def sigmas():
    return torch.logspace(-4, 2, 25, dtype=torch.float64)


def test_coefficient_identities(sigmas):
    c_skip, c_out, c_in, c_noise = precond.coefficients(sigmas, SD)
    torch.testing.assert_close(c_skip, SD**2 * c_in**2)
    torch.testing.assert_close(c_out, sigmas * SD * c_in)
    torch.testing.assert_close(c_skip + c_out**2 / SD**2, torch.ones_like(sigmas))
    torch.testing.assert_close(c_noise, sigmas.log() / 4)
    torch.testing.assert_close(precond.loss_weight(sigmas, SD), 1 / c_out**2)
    # the network input c_in (x0 + sigma n) has unit variance when Var(x0) = sd^2
    torch.testing.assert_close(c_in**2 * (SD**2 + sigmas**2), torch.ones_like(sigmas))
    # so does the network's target (x0 - c_skip x) / c_out
    target_var = ((1 - c_skip) ** 2 * SD**2 + c_skip**2 * sigmas**2) / c_out**2
    torch.testing.assert_close(target_var, torch.ones_like(sigmas))


def test_limits(sigmas):
    c_skip, c_out, _, _ = precond.coefficients(torch.tensor([1e-8, 1e4], dtype=torch.float64), SD)
    assert abs(c_skip[0] - 1) < 1e-12 and c_out[0] < 1e-8
    assert c_skip[1] < 1e-8 and abs(c_out[1] - SD) < 1e-8


def _untrained(cond_dim=4):
    torch.manual_seed(0)
    return precond.EDMPrecond(UNet1D(UNetConfig(leads=3, length=16, channels=16, num_blocks=1, cond_dim=cond_dim)))


def test_untrained_denoiser_is_the_gaussian_mmse_and_identity_at_small_sigma():
    model = _untrained()
    x = torch.randn(5, 3, 16)
    c = torch.randn(5, 4)
    sig = torch.tensor([1e-6, 0.01, 0.5, 3.0, 80.0])
    out = model(x, sig, c)
    # zero-initialised output layer: F = 0, D = c_skip x (the exact denoiser of N(0, sd^2) data)
    expected = SD**2 / (sig**2 + SD**2)
    torch.testing.assert_close(out, expected.reshape(-1, 1, 1) * x)
    torch.testing.assert_close(out[0], x[0], rtol=1e-6, atol=1e-6)
    # and after training-like perturbation of every weight, D(x, sigma -> 0) -> x still holds
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    out = model(x, torch.full((5,), 1e-7), c)
    torch.testing.assert_close(out, x, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError):
        model(x, torch.zeros(5), c)


def test_edm_loss_of_exact_gaussian_denoiser_matches_analytic_value():
    # data x0 ~ N(0, sd^2): the untrained model is its exact denoiser, so the loss is known in closed form
    model = _untrained()
    torch.manual_seed(1)
    n = 4000
    x0 = SD * torch.randn(n, 3, 16)
    sigma = torch.full((n,), 0.7)
    noise = torch.randn_like(x0)
    loss = precond.edm_loss(model, x0, sigma, noise, torch.zeros(n, 4)).mean().item()
    assert loss == pytest.approx(precond.expected_loss_floor(0.7, SD**2), rel=0.02)
    # EDM weighting makes that value 1 for every sigma
    assert precond.expected_loss_floor(0.01, SD**2) == pytest.approx(1.0)


def test_training_sigmas_follow_the_lognormal_law():
    g = torch.Generator().manual_seed(0)
    s = schedule.sample_training_sigmas(200_000, g)
    assert s.log().mean().item() == pytest.approx(schedule.P_MEAN, abs=0.01)
    assert s.log().std().item() == pytest.approx(schedule.P_STD, abs=0.01)
    q = schedule.stratified_training_sigmas(4).log()
    torch.testing.assert_close(
        q, schedule.P_MEAN + schedule.P_STD * torch.tensor([-1.15035, -0.31864, 0.31864, 1.15035]), atol=1e-4, rtol=0
    )
    assert math.isclose(float(schedule.stratified_training_sigmas(1)[0]), math.exp(schedule.P_MEAN), rel_tol=1e-6)
