"""Noise-level estimation (paper 3.2, algorithm 2) recovers known per-lead stds."""

import pytest
import torch

from ecgdiff.inverse import SMC, Linear, Mask, NoiseEstimation, get_sampler
from ecgdiff.inverse.gmm import noise_mle, random_beatlike_gmm
from ecgdiff.inverse.noise import resolve_groups


def _denoising_problem(seed, stds, shape=(3, 48)):
    g = torch.Generator().manual_seed(seed)
    prior = random_beatlike_gmm(shape, n_components=3, rank=4, generator=g)
    op = Mask(torch.ones(shape, dtype=torch.bool))
    x = prior.sample(1, g)[0]
    noise = stds[op.groups(0)].double() * torch.randn(op.m, generator=g, dtype=torch.float64)
    y = (op.forward(x[None])[0] + noise).float()
    realised = noise.reshape(shape).pow(2).mean(1).sqrt().float()  # the per-lead stds actually drawn
    return prior, op, y, realised


@pytest.mark.parametrize("method,steps,tol", [("em", 50, 0.15), ("gradient", 20, 0.3)])
def test_recovers_per_lead_noise(method, steps, tol):
    """MCEM reaches the exact MLE up to the sampler's discretisation: with the paper's 20 steps the smallest std
    (0.05, close to the prior's own isotropic floor 0.03) comes out ~20% low, with 50 steps within a few %."""
    true = torch.tensor([0.05, 0.15, 0.3])
    prior, op, y, realised = _denoising_problem(0, true)
    hist = []
    ne = NoiseEstimation(iterations=10, init=1.0, runs=10, particles=30, method=method, smc=SMC(steps=steps))
    est = ne.estimate(prior, y[None], op, "lead", history=hist, generator=torch.Generator().manual_seed(0))[0]
    assert est.shape == (3,)
    assert len(hist) == 10 and (hist[0][0] < 1.0).all()
    mle = noise_mle(prior, op, y, op.groups(0)).float()
    # Monte-Carlo EM converges to the exact maximum-likelihood estimate ...
    assert ((est - mle).abs() / mle < tol).all(), (est, mle)
    # ... which recovers the noise that was drawn (up to the finite-sample error of an MLE on 48 samples a lead)
    assert ((mle - realised).abs() / realised < 0.35).all(), (mle, realised)
    assert ((est - true).abs() / true < 0.35).all(), (est, true)


def test_single_and_grouped_api():
    true = torch.tensor([0.1, 0.1, 0.1])
    prior, op, y, realised = _denoising_problem(1, true)
    one = NoiseEstimation(iterations=6, runs=5, particles=20).estimate(
        prior, y, op, groups="all", generator=torch.Generator().manual_seed(0)
    )
    assert one.shape == (1,)
    assert abs(float(one[0]) - float(realised.pow(2).mean().sqrt())) < 0.03


def test_estimate_then_sample_with_mcgdiffs_smc():
    """Paper 3.3's procedure: estimate the per-lead stds with the SMC of the sampler, then sample given them."""
    true = torch.tensor([0.05, 0.2, 0.1])
    prior, op, y, realised = _denoising_problem(2, true, shape=(3, 32))
    s = get_sampler("mcgdiff", particles=16)
    gen = torch.Generator().manual_seed(0)
    est = NoiseEstimation(iterations=8, runs=6, particles=16, smc=s.smc).estimate(prior, y, op, generator=gen)
    assert est.shape == (3,)
    assert ((est - realised).abs() / realised < 0.3).all()
    x = s.sample(prior, y, op, est[op.groups(0)], 20, generator=gen)
    assert x.shape == (20, 3, 32)


def test_noise_estimation_settings_are_checked():
    with pytest.raises(ValueError, match="runs"):
        NoiseEstimation(runs=0)
    with pytest.raises(ValueError, match="method"):
        NoiseEstimation(method="newton")
    with pytest.raises(TypeError, match="SMC"):
        NoiseEstimation(smc={"steps": 3})


def test_groups_resolution():
    m = torch.zeros(3, 4, dtype=torch.bool)
    m[[0, 2]] = True
    assert resolve_groups(Mask(m), "lead", 8).tolist() == [0] * 4 + [1] * 4
    assert resolve_groups(Mask(m), "all", 8).tolist() == [0] * 8
    with pytest.raises(TypeError):
        resolve_groups(Linear(torch.eye(4)), "lead", 4)
    with pytest.raises(ValueError):
        resolve_groups(Mask(m), torch.tensor([0, 2, 2, 2, 2, 2, 2, 2]), 8)
