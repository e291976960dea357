"""The samplers against an analytic Gaussian denoiser: x0 ~ N(m, diag s^2) gives D(x, sigma) = m + s^2/(s^2+sigma^2)(x - m)."""

import pytest
import torch

from ecgdiff.diffusion import schedule
from ecgdiff.diffusion.sample import heun_sample, sample, ve_sample

M = torch.tensor([1.0, -0.5, 0.2, 0.0], dtype=torch.float64).reshape(1, 1, 4)
S = torch.tensor([0.3, 1.2, 0.05, 0.6], dtype=torch.float64).reshape(1, 1, 4)
N = 20_000


def gaussian_denoiser(x, sigma):
    sig = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, 1, 1)
    return M + S**2 / (S**2 + sig**2) * (x - M)


def exact_start(seed):
    # x_K from the exact marginal N(m, s^2 + sigma_max^2): isolates the sampler's own error
    g = torch.Generator().manual_seed(seed)
    return M + (S**2 + schedule.SIGMA_MAX**2).sqrt() * torch.randn((N, 1, 4), generator=g, dtype=torch.float64)


def check_moments(x, rel_std=0.03):
    mean, std = x.mean(0), x.std(0)
    se = S / N**0.5
    assert ((mean - M[0]).abs() < 5 * se[0] + 1e-3).all(), (mean, M)
    assert ((std / S[0] - 1).abs() < rel_std).all(), (std, S)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ve_sampler_reproduces_gaussian(eta):
    g = torch.Generator().manual_seed(1)
    x = ve_sample(gaussian_denoiser, (N, 1, 4), 400, eta=eta, generator=g, dtype=torch.float64, x_init=exact_start(0))
    check_moments(x)
    # the covariance is diagonal, as the data's
    flat = x.reshape(N, 4)
    corr = torch.corrcoef(flat.T)
    assert (corr - torch.eye(4, dtype=torch.float64)).abs().max() < 0.05


def test_heun_sampler_reproduces_gaussian_with_fewer_steps():
    x = heun_sample(gaussian_denoiser, (N, 1, 4), 100, dtype=torch.float64, x_init=exact_start(2))
    check_moments(x, rel_std=0.015)


def test_from_the_reference_distribution_the_bias_is_small():
    g = torch.Generator().manual_seed(3)
    x = sample(gaussian_denoiser, (N, 1, 4), 200, method="ve", eta=1.0, generator=g)
    assert ((x.double().mean(0) - M[0]).abs() < 0.02).all()


def test_a_wrong_step_coefficient_fails_the_check(monkeypatch):
    # (v_next/v)^2 instead of sqrt((v_next^2 - s^2)/v^2) at eta = 0: the sampler collapses the variance
    monkeypatch.setattr(schedule, "ddim_coefficient", lambda v, v_next, s: (v_next / v) ** 2 if v > 0 else 0.0)
    x = ve_sample(
        gaussian_denoiser,
        (N, 1, 4),
        400,
        eta=0.0,
        generator=torch.Generator().manual_seed(1),
        dtype=torch.float64,
        x_init=exact_start(0),
    )
    with pytest.raises(AssertionError):
        check_moments(x)


def test_too_few_steps_are_visibly_worse_and_seed_reproducible():
    a = ve_sample(gaussian_denoiser, (100, 1, 4), 5, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    b = ve_sample(gaussian_denoiser, (100, 1, 4), 5, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError):
        sample(gaussian_denoiser, (4, 1, 4), 5, method="euler")
