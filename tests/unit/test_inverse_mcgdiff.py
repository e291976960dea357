"""MCGdiff specifics: tau levels, convergence in the number of particles, noiseless coordinates, batching."""

import torch

from ecgdiff.inverse import Mask, get_sampler
from ecgdiff.inverse.base import RNG, DenoiserCall
from ecgdiff.inverse.gmm import posterior, random_beatlike_gmm
from ecgdiff.inverse.smc import _resample, patient_levels
from ecgdiff.inverse.verify import reference, score, small_problems


def test_inserted_levels_and_padding():
    base = [80.0, 10.0, 1.0, 0.1, 0.0]
    std = torch.tensor([[0.5, 0.5, 0.0], [0.05, 2.0, 1.0]], dtype=torch.float64)
    valid = torch.tensor([[True, True, False], [True, True, True]])
    g = patient_levels(base, std, valid, "insert", 16)
    assert g[0].tolist() == [80.0, 10.0, 1.0, 0.5, 0.1, 0.1, 0.0]  # padded by repeating the last level
    assert g[1].tolist() == [80.0, 10.0, 2.0, 1.0, 0.1, 0.05, 0.0]
    assert patient_levels(base, std, valid, "snap", 16)[0].tolist() == [80.0, 10.0, 1.0, 0.1, 0.0]
    many = torch.linspace(0.01, 0.5, 40, dtype=torch.float64)[None]
    capped = patient_levels(base, many, torch.ones_like(many, dtype=torch.bool), "insert", 5)
    assert capped.shape[1] == len(base) + 5 and {0.01, 0.5} <= set(capped[0].tolist())


def test_resampling_is_unbiased():
    logw = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4]])).expand(20000, 4)
    for method in ("multinomial", "systematic"):
        anc = _resample(logw, RNG(torch.Generator().manual_seed(0), torch.device("cpu"), torch.float32), method)
        freq = torch.bincount(anc.reshape(-1), minlength=4).double() / anc.numel()
        assert torch.allclose(freq, torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64), atol=0.01)


def test_error_falls_as_particles_grow():
    probs = small_problems(x_shape=(3, 16), seed=1)
    prob = probs["span_missing"]
    ref = reference(prob, 400, seed=0)
    sw = []
    for m in (1, 4, 32):
        x = get_sampler("mcgdiff", particles=m).sample(
            prob.prior, prob.y, prob.operator, prob.sigma_y, 400, generator=torch.Generator().manual_seed(2)
        )
        sw.append(score(x, ref)["sw"])
    assert sw[0] > sw[1] > sw[2], sw
    assert sw[2] < 0.5 * sw[0], sw


def test_inserted_levels_beat_snapping():
    """Placing each noise std on the grid (the original MCGdiff's choice) removes the snapping bias."""
    prob = small_problems(x_shape=(3, 16), seed=0)["per_lead_noise"]
    ref = reference(prob, 400, seed=0)
    out = {}
    for levels in ("insert", "snap"):
        x = get_sampler("mcgdiff", particles=16, levels=levels).sample(
            prob.prior, prob.y, prob.operator, prob.sigma_y, 400, generator=torch.Generator().manual_seed(3)
        )
        out[levels] = score(x, ref)["sw"]
    assert out["insert"] < out["snap"], out


def test_noiseless_coordinates_are_reproduced():
    g = torch.Generator().manual_seed(0)
    prior = random_beatlike_gmm((3, 8), n_components=2, rank=3, generator=g)
    mask = torch.zeros(3, 8, dtype=torch.bool)
    mask[:2] = True
    op = Mask(mask)
    y = op.forward(prior.sample(1, g).float())[0]
    x = get_sampler("mcgdiff", particles=8).sample(prior, y, op, 0.0, 50, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(op.forward(x), y.expand(50, -1))
    post = posterior(prior, op, y, 1e-6)
    err = (x.double().mean(0).reshape(-1) - post.mean()).norm() / (prior.mean() - post.mean()).norm()
    assert err < 0.3


def test_batch_equals_single_patient_runs_in_law():
    """Patients with different noise stds get different grids (padded); each chain is still its own posterior."""
    g = torch.Generator().manual_seed(4)
    prior = random_beatlike_gmm((2, 8), n_components=2, rank=3, generator=g)
    op = Mask(torch.ones(2, 8, dtype=torch.bool))
    x = prior.sample(2, g).float()
    sig = torch.tensor([[0.05] * 8 + [0.3] * 8, [0.2] * 16])
    ys = op.forward(x) + sig * torch.randn(2, 16, generator=g)
    s = get_sampler("mcgdiff", particles=16)
    xb = s.sample_batch(prior, ys, op, sig, 300, generator=torch.Generator().manual_seed(0))
    assert xb.shape == (2, 300, 2, 8)
    assert s.last_diagnostics["grid"].shape[0] == 2
    for p in range(2):
        post = posterior(prior, op, ys[p].double(), sig[p].double())
        err = (xb[p].double().mean(0).reshape(-1) - post.mean()).norm() / (prior.mean() - post.mean()).norm()
        assert err < 0.1, (p, float(err))


def test_denoiser_called_patient_major_with_per_patient_levels():
    seen = []

    def den(x, sigma):
        seen.append(sigma.clone())
        return x * 0.0

    op = Mask(torch.ones(1, 4, dtype=torch.bool))
    ys = torch.zeros(3, 4)
    sig = torch.tensor([0.1, 0.2, 0.3])
    get_sampler("mcgdiff", particles=2, steps=3).sample_batch(den, ys, op, sig, 5)
    for s in seen:
        assert s.shape == (3 * 5 * 2,)
        per_patient = s.reshape(3, 10)
        assert (per_patient == per_patient[:, :1]).all()  # one level per patient, repeated B times
    assert any(not torch.equal(s[:10], s[10:20]) for s in seen)  # patients follow their own grids
    assert isinstance(DenoiserCall(den, (1, 4)), DenoiserCall)
