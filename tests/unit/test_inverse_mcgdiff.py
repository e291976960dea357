"""MCGdiff against the exact posterior of a Gaussian-mixture prior."""

import torch

from ecgdiff.inverse import Mask, get_sampler
from ecgdiff.inverse.gmm import posterior, random_beatlike_gmm
from ecgdiff.inverse.mcgdiff import patient_levels


def test_inserted_levels_and_padding():
    base = [80.0, 10.0, 1.0, 0.1, 0.0]
    std = torch.tensor([[0.5, 0.5, 0.0], [0.05, 2.0, 1.0]], dtype=torch.float64)
    valid = torch.tensor([[True, True, False], [True, True, True]])
    g = patient_levels(base, std, valid, "insert", 16)
    assert g[0].tolist() == [80.0, 10.0, 1.0, 0.5, 0.1, 0.1, 0.0]          # padded by repeating the last level
    assert g[1].tolist() == [80.0, 10.0, 2.0, 1.0, 0.1, 0.05, 0.0]
    assert patient_levels(base, std, valid, "snap", 16)[0].tolist() == [80.0, 10.0, 1.0, 0.1, 0.0]


def test_mcgdiff_mask_seeded_and_accurate():
    g = torch.Generator().manual_seed(0)
    prior = random_beatlike_gmm((3, 8), n_components=3, rank=4, generator=g)
    x = prior.sample(1, g)[0]
    mask = torch.zeros(3, 8, dtype=torch.bool)
    mask[0] = True
    op = Mask(mask)
    y = (op.forward(x[None])[0] + 0.05 * torch.randn(op.m, generator=g, dtype=torch.float64)).float()
    post = posterior(prior, op, y, 0.05)
    s = get_sampler("mcgdiff", particles=20)
    a = s.sample(prior, y, op, 0.05, 300, generator=torch.Generator().manual_seed(3))
    b = s.sample(prior, y, op, 0.05, 300, generator=torch.Generator().manual_seed(3))
    assert a.shape == (300, 3, 8) and a.dtype == torch.float32
    assert torch.equal(a, b)
    err = (a.double().mean(0) - post.mean().reshape(3, 8)).norm()
    err_prior = (prior.mean() - post.mean()).norm()
    assert err < 0.25 * err_prior
