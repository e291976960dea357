"""The low-rank exact posterior of a masked observation against the dense one."""

import pytest
import torch

from ecgdiff.inverse import Linear, Mask
from ecgdiff.inverse.gmm import mask_posterior, posterior, random_beatlike_gmm
from ecgdiff.inverse.verify import make_problem, reference


def _case():
    g = torch.Generator().manual_seed(0)
    prior = random_beatlike_gmm((3, 12), n_components=3, rank=4, generator=g)
    m = torch.zeros(3, 12, dtype=torch.bool)
    m[0] = True
    m[1, :5] = True
    op = Mask(m)
    # an observation between two components, so that the posterior keeps more than one of them
    x = 0.5 * (prior.means[0] + prior.means[1])
    y = op.forward(x[None])[0] + 0.05 * torch.randn(op.m, generator=g, dtype=torch.float64)
    return prior, op, y, torch.linspace(0.03, 0.3, op.m)


def test_mask_posterior_equals_the_dense_posterior():
    prior, op, y, sig = _case()
    dense, low = posterior(prior, op, y, sig), mask_posterior(prior, op, y, sig)
    assert torch.allclose(low.weights, dense.weights, atol=1e-10)
    assert torch.allclose(low.means, dense.means, atol=1e-10)
    assert abs(low.trace() - dense.trace()) < 1e-10 * dense.trace()
    n = 100_000
    xs = low.sample(n, torch.Generator().manual_seed(1)).reshape(n, -1)
    assert xs.shape == (n, 36) and xs.dtype == torch.float64
    scale = dense.covariance().diagonal().sqrt()
    assert ((xs.mean(0) - dense.mean()).abs() / scale).max() < 0.02  # ~ 4 / sqrt(n) standard errors
    assert (torch.cov(xs.T) - dense.covariance()).abs().max() < 0.03 * dense.covariance().abs().max()


def test_lowrank_problem_reference():
    prior, op, _, _ = _case()
    prob = make_problem("p", prior, op, 0.05, torch.Generator().manual_seed(2), lowrank=True)
    dense = make_problem("p", prior, op, 0.05, torch.Generator().manual_seed(2))
    assert torch.equal(prob.y, dense.y)
    ref, ref_dense = reference(prob, 200, 0), reference(dense, 200, 0)
    assert abs(ref.trace - ref_dense.trace) < 1e-9 * ref_dense.trace
    assert torch.allclose(ref.mean, ref_dense.mean, atol=1e-10)
    assert 0 < ref.sw_ref < ref.sw_prior


def test_mask_posterior_needs_a_mask():
    prior, op, y, _ = _case()
    lin = Linear(torch.eye(36)[:5], (3, 12))
    with pytest.raises(TypeError, match="Mask"):
        mask_posterior(prior, lin, y[:5], 0.1)
