"""The sampler interface: registry, options, shapes, seeding, devices and the patient-major batch contract."""

import pytest
import torch

from ecgdiff.inverse import Linear, Mask, available, default_options, get_sampler
from ecgdiff.inverse.gmm import posterior, random_beatlike_gmm

NAMES = ["mcgdiff", "dps", "pgdm", "ddnm", "diffpir", "reddiff", "mgps"]
FAST = {
    "mcgdiff": {"particles": 4, "steps": 8},
    "dps": {"steps": 8},
    "pgdm": {"steps": 8},
    "ddnm": {"steps": 8},
    "diffpir": {"steps": 8},
    "reddiff": {"steps": 8},
    "mgps": {"steps": 8, "grad_steps": 2},
}


def test_registry_and_options():
    assert available() == sorted(NAMES)
    for name in NAMES:
        opts = default_options(name)
        assert "steps" in opts
        assert get_sampler(name, **opts).name == name
    with pytest.raises(KeyError):
        get_sampler("nope")
    with pytest.raises(TypeError, match="partciles"):
        get_sampler("mcgdiff", partciles=3)
    with pytest.raises(ValueError):
        get_sampler("mcgdiff", eta=0.0)
    with pytest.raises(ValueError):
        get_sampler("mgps", midpoint_rule="halfway")


def _problem():
    g = torch.Generator().manual_seed(0)
    prior = random_beatlike_gmm((2, 6), n_components=2, rank=2, generator=g)
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[0] = True
    return prior, Mask(mask), g


@pytest.mark.parametrize("name", NAMES)
def test_shapes_dtype_and_seeding(name):
    prior, op, g = _problem()
    y = op.forward(prior.sample(1, g).float())[0]
    s = get_sampler(name, **FAST[name])
    a = s.sample(prior, y, op, 0.1, 7, generator=torch.Generator().manual_seed(1))
    b = s.sample(prior, y, op, 0.1, 7, generator=torch.Generator().manual_seed(1))
    c = s.sample(prior, y, op, 0.1, 7, generator=torch.Generator().manual_seed(2))
    assert a.shape == (7, 2, 6) and a.dtype == torch.float32 and torch.isfinite(a).all()
    assert torch.equal(a, b) and not torch.equal(a, c)
    lin = Linear(torch.randn(3, 12, generator=g), (2, 6))
    yl = lin.forward(prior.sample(1, g).float())[0]
    assert s.sample(prior, yl, lin, torch.tensor([0.1, 0.2, 0.3]), 3).shape == (3, 2, 6)


@pytest.mark.parametrize("name", NAMES)
def test_patient_major_batch_contract(name):
    """A conditional denoiser that repeats each patient's conditioning B times (repeat_interleave) must see its
    own patient's states: patients whose priors sit far apart come back each near their own posterior."""
    g = torch.Generator().manual_seed(3)
    prior = random_beatlike_gmm((2, 6), n_components=1, rank=2, generator=g)
    shifts = torch.tensor([-3.0, 0.0, 3.0])
    P = 3

    def den(x, sigma):
        B = x.shape[0] // P
        shift = shifts.repeat_interleave(B).reshape(-1, 1, 1).to(x.dtype)
        return prior(x - shift, sigma) + shift

    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[0, :3] = True
    op = Mask(mask)
    ys = torch.stack([op.forward((prior.mean().reshape(1, 2, 6) + s).float())[0] for s in shifts])
    s = get_sampler(name, **{**FAST[name], "steps": 20})
    xb = s.sample_batch(den, ys, [op] * P, torch.full((P,), 0.1), 40, generator=torch.Generator().manual_seed(0))
    assert s.last_calls > 0
    assert xb.shape == (P, 40, 2, 6)
    centres = xb.double().mean((1, 2, 3))
    assert torch.all(centres[1:] - centres[:-1] > 1.5), centres


def test_gmm_denoiser_is_exact_for_one_gaussian():
    g = torch.Generator().manual_seed(0)
    prior = random_beatlike_gmm((2, 5), n_components=1, rank=3, generator=g)
    C = prior.covariance(0)
    x = torch.randn(4, 10, generator=g, dtype=torch.float64)
    s = 0.7
    exact = (
        prior.means[0]
        + (C @ torch.linalg.solve(C + s * s * torch.eye(10, dtype=torch.float64), (x - prior.means[0]).T)).T
    )
    assert torch.allclose(prior(x.reshape(4, 2, 5), torch.full((4,), s)).reshape(4, 10), exact, atol=1e-10)


def test_exact_posterior_of_one_gaussian():
    g = torch.Generator().manual_seed(1)
    prior = random_beatlike_gmm((2, 4), n_components=1, rank=2, generator=g)
    A = torch.randn(3, 8, generator=g, dtype=torch.float64)
    y = torch.randn(3, generator=g, dtype=torch.float64)
    post = posterior(prior, Linear(A, (2, 4)), y, 0.3)
    C, m = prior.covariance(0), prior.means[0]
    P = torch.linalg.inv(torch.linalg.inv(C) + A.T @ A / 0.09)
    assert torch.allclose(post.covs[0], P, atol=1e-8)
    assert torch.allclose(post.means[0], P @ (torch.linalg.solve(C, m) + A.T @ y / 0.09), atol=1e-8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_cuda(name):
    prior, op, g = _problem()
    y = op.forward(prior.sample(1, g).float())[0].cuda()
    x = get_sampler(name, **FAST[name]).sample(
        prior.to("cuda"), y, op, 0.1, 5, generator=torch.Generator(device="cuda").manual_seed(0)
    )
    assert x.device.type == "cuda" and x.shape == (5, 2, 6)


def test_sigma_shapes():
    prior, op, g = _problem()
    ys = op.forward(prior.sample(2, g).float())
    s = get_sampler("ddnm", steps=4)
    assert s.sample_batch(prior, ys, op, torch.tensor([0.1, 0.2]), 3).shape == (2, 3, 2, 6)
    assert s.sample_batch(prior, ys, op, torch.full((2, 6), 0.1), 3).shape == (2, 3, 2, 6)
    with pytest.raises(ValueError):
        s.sample_batch(prior, ys, op, torch.full((4,), 0.1), 3)
    with pytest.raises(ValueError):
        get_sampler("mgps", steps=4).sample(prior, ys[0], op, 0.0, 2)
