"""The harmonic artefact model and its alternation with posterior sampling (``ecgdiff.inverse.artefacts``).

Exactness checks: the Ridge closed form against scikit-learn, the Lasso against per-lead scikit-learn fits, the
inner posterior step against the exact Gaussian posterior of ``y - artefact`` (an isotropic Gaussian prior, for
which PGDM's Gaussian approximation of ``p(x0 | x_v)`` is exact, so that with enough steps only Monte-Carlo
error remains), and the whole alternation on a problem whose artefact lies in the harmonic span and whose prior
puts (almost) no mass there, so that the weights are identifiable.
"""

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso, MultiTaskLasso, Ridge

from ecgdiff.inverse import Mask, gmm
from ecgdiff.inverse.artefacts import ArtefactModel, ArtefactSettings, harmonics, settings_from_config

FS = 100.0


def _residuals(k, n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    drift = rng.uniform(-1, 1, (k, 1)) * np.cos(2 * np.pi * 0.3 * t) + rng.uniform(-1, 1, (k, 1)) * np.sin(
        2 * np.pi * 1.7 * t
    )
    return drift + 0.3 * rng.standard_normal((k, n))


# ------------------------------------------------------------------ the design and the regressions
def test_default_grid_drops_the_two_zero_sines():
    s = ArtefactSettings()
    assert s.n_regressors == 1024 and s.frequencies[0] == 0.0 and s.frequencies[-1] == 50.0
    d = ArtefactModel(s).design(1000)
    # sin at 0 Hz (column 512) and at the Nyquist frequency 50 Hz (column 1023) vanish on the sample grid
    assert np.flatnonzero(~d.keep).tolist() == [512, 1023]
    assert np.abs(d.full[:, ~d.keep]).max() < 1e-9 and d.X.shape == (1000, 1022)
    W = ArtefactModel(s).fit_ridge(_residuals(3, 1000))
    assert W.shape == (3, 1024) and np.all(W[:, [512, 1023]] == 0.0)


def test_default_grid_spans_almost_any_window():
    """1022 regressors for 1000 samples: a Ridge fit (alpha 1) reproduces even white noise to 0.2 % of its rms
    (documented: on this grid only the Lasso's sparsity and the prior tell the artefact from the ECG)."""
    m = ArtefactModel(ArtefactSettings())
    w = np.random.default_rng(0).standard_normal((4, 1000))
    fit = m.evaluate(m.fit_ridge(w), 1000)
    assert np.sqrt(((w - fit) ** 2).mean()) < 0.01 * np.sqrt((w**2).mean())


def test_noise_std_rules():
    y = np.random.default_rng(0).standard_normal((2, 3, 50)) + 1.0
    a, xh = np.full_like(y, 0.5), np.zeros_like(y)
    np.testing.assert_allclose(ArtefactModel().noise_level(y, a, xh), np.sqrt(((y - 0.5) ** 2).mean(-1)))
    sig = ArtefactModel(ArtefactSettings(noise_std="signal")).noise_level(y, a, xh)
    np.testing.assert_allclose(sig, y.std(-1))
    assert np.all(ArtefactModel(ArtefactSettings(noise_std=0.05)).noise_level(y, a, xh) == 0.05)
    with pytest.raises(ValueError, match="noise_std"):
        ArtefactSettings(noise_std="mad")


@pytest.mark.parametrize("n_freqs,n", [(8, 200), (512, 300)])  # p < n and p > n (dual form)
def test_ridge_closed_form_equals_sklearn(n_freqs, n):
    s = ArtefactSettings(n_freqs=n_freqs, f_max=5.0 if n_freqs == 8 else 50.0, ridge_alpha=1.0)
    m = ArtefactModel(s)
    R = _residuals(6, n)
    W = m.fit_ridge(R)
    d = m.design(n)
    ref = Ridge(alpha=1.0, fit_intercept=False).fit(d.X, R.T).coef_
    np.testing.assert_allclose(W[:, d.keep], ref, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(m.evaluate(W, n), ref @ d.X.T, rtol=1e-7, atol=1e-9)


def test_lasso_is_the_per_lead_problem_not_multitask():
    m = ArtefactModel(ArtefactSettings(n_freqs=40, f_max=4.0, lasso_alpha=0.1))
    R = _residuals(4, 300, seed=1)
    W = m.fit_lasso(R)
    d = m.design(300)
    for k in range(4):
        ref = Lasso(alpha=0.1, fit_intercept=False, max_iter=1000, tol=1e-4).fit(d.X, R[k]).coef_
        np.testing.assert_allclose(W[k, d.keep], ref, atol=1e-8)
    assert np.count_nonzero(W) > 0
    # MultiTaskLasso (an l2,1 penalty sharing the support across leads) is a different problem
    mt = MultiTaskLasso(alpha=0.1, fit_intercept=False).fit(d.X, R.T).coef_
    assert np.abs(mt - W[:, d.keep]).max() > 1e-2


def test_settings_are_validated():
    with pytest.raises(ValueError, match="rounds"):
        ArtefactSettings(rounds=1)
    with pytest.raises(ValueError, match="Nyquist"):
        ArtefactSettings(f_max=60.0)
    with pytest.raises(ValueError, match="unknown sampler"):
        ArtefactSettings(sampler="nope")
    with pytest.raises(TypeError, match="no option"):
        ArtefactSettings(sampler="ddnm", sampler_options={"zeta": 1.0})
    with pytest.raises(ValueError, match="unknown key"):
        settings_from_config({"n_freq": 3})
    assert settings_from_config({"sampler": "ddnm", "sampler_options": {"eta": 0.85}}).sampler == "ddnm"


# ------------------------------------------------------------------ the inner step: exact Gaussian posterior
def test_posterior_step_matches_the_exact_gaussian_posterior_of_y_minus_artefact():
    """Two patients, per-lead noise stds, an artefact each: draws vs the exact posterior of ``y - artefact``.

    Tolerances: the mean within 4.5 standard errors per coordinate, variances within 1 +- 0.15 (4.7 standard
    errors of a variance ratio at N = 2000; measured at most 0.11 over the 24 coordinates, the discretisation
    bias of 300 steps included) and off-diagonal covariances within 5 standard errors (measured 3.2).
    """
    L, T, n, N, s0 = 2, 12, 10, 2000, 0.5
    g = torch.Generator().manual_seed(0)
    d = L * T
    mean = 0.5 * torch.randn(1, d, generator=g, dtype=torch.float64)
    Q = torch.zeros(1, d, 1, dtype=torch.float64)
    Q[0, 0, 0] = 1.0
    prior = gmm.LowRankGMM(torch.ones(1), mean, Q, torch.zeros(1, 1), torch.full((1,), s0**2), (L, T))
    x = prior.sample(2, g).float()
    sigma = torch.tensor([[0.1, 0.3], [0.2, 0.05]])
    t = torch.arange(n) / FS
    art = torch.zeros(2, L, T)
    art[0, :, :n] = 0.8 * torch.cos(2 * np.pi * 3.0 * t)
    art[1, :, :n] = -0.5 + 0.3 * torch.sin(2 * np.pi * 7.0 * t)
    y = x + art + sigma[:, :, None] * torch.randn(2, L, T, generator=g)
    y[..., n:] = 0.0
    model = ArtefactModel(ArtefactSettings(sampler="pgdm", sampler_options={"steps": 300, "sigma_d": s0}, n_samples=N))
    draws = model.posterior_step(prior, y, art, n, sigma, torch.Generator().manual_seed(1))
    assert draws.shape == (2, N, L, T)
    valid = torch.zeros(L, T, dtype=torch.bool)
    valid[:, :n] = True
    op = Mask(valid)
    for p in range(2):
        sig_m = sigma[p][:, None].expand(L, n).reshape(-1)
        post = gmm.posterior(prior, op, op((y[p] - art[p])[None])[0], sig_m)
        mu, C = post.mean(), post.covariance()
        xs = draws[p].reshape(N, d).double()
        z = (xs.mean(0) - mu) / (C.diagonal() / N).sqrt()
        assert z.abs().max() < 4.5, z
        C_hat = torch.cov(xs.T)
        ratio = C_hat.diagonal() / C.diagonal()
        assert (ratio - 1).abs().max() < 0.15, ratio
        sd = C.diagonal().sqrt()
        off = (C_hat - C) / (sd[:, None] * sd[None, :]) * np.sqrt(N)
        off.fill_diagonal_(0.0)
        assert off.abs().max() < 5.0
        # the observed coordinates moved: the posterior is not the prior (guards a sampler ignoring y)
        assert (xs.mean(0) - prior.mean()).abs().max() > 0.3


# ------------------------------------------------------------------ the alternation
def _span_problem(P=3, L=2, T=128, n=120, seed=0):
    """Prior N(m, Q diag(lam) Q^T + 0.01^2 I) with Q orthogonal (on each lead's valid samples) to the harmonics of
    the grid 0, 1, 2 Hz, so that the prior is sure of the clean signal's part in that span (its mean's part, which
    is not 0: a regression of y alone would put it into the artefact); an artefact in the span; noise 0.05."""
    g = torch.Generator().manual_seed(seed)
    base = gmm.random_beatlike_gmm((L, T), n_components=1, rank=6, floor_std=0.01, component_std=0.3, generator=g)
    freqs = np.linspace(0.0, 2.0, 3)
    H = harmonics(n, FS, freqs)
    basis, _ = np.linalg.qr(H[:, np.linalg.norm(H, axis=0) > 1e-9])

    def proj_out(v):
        v = v.reshape(L, T).copy()
        v[:, :n] -= (v[:, :n] @ basis) @ basis.T
        return torch.as_tensor(v.reshape(-1))

    m = base.means.clone()
    Q, _ = torch.linalg.qr(torch.stack([proj_out(q) for q in base.Q[0].T.numpy()], 1))
    prior = gmm.LowRankGMM(torch.ones(1), m, Q[None], base.lam, base.floor, (L, T))
    x = prior.sample(P, g).numpy()
    x[..., n:] = 0.0
    mu = np.random.default_rng(seed + 1).uniform(-0.6, 0.6, (P, L, 6))
    mu[..., 3] = 0.0  # the sine at 0 Hz is no regressor
    art = np.einsum("plj,nj->pln", mu, H)
    y = x.copy()
    y[..., :n] += art + 0.05 * np.random.default_rng(seed + 2).standard_normal((P, L, n))
    settings = dict(n_freqs=3, f_max=2.0, fs=FS)
    return prior, torch.tensor(y, dtype=torch.float32), x, mu, n, settings


@pytest.mark.parametrize("sampler", ["pgdm", "diffpir"])
def test_alternation_recovers_weights_and_signal(sampler):
    """Tolerances: weights within 5 % (relative l2; Ridge's own shrinkage alpha / (||phi||^2 + alpha) is 1.6 % here,
    measured 2.4 % with pgdm, diffpir, mcgdiff and mgps), clean-signal rmse below 0.03 mV (floor std 0.01, noise
    0.05; measured 0.013). The Lasso alone (0.67) and a Ridge fit of y itself (0.78) are far off."""
    prior, y, x, mu, n, settings = _span_problem()
    s = ArtefactSettings(**settings, sampler=sampler, n_samples=20, tol=0.0)
    res = ArtefactModel(s).run(prior, y, n, torch.Generator().manual_seed(3))
    P, L, T = y.shape
    assert res.samples.shape == (P, 20, L, T) and res.artefact.shape == (P, L, T)
    assert res.weights.shape == (P, L, 6) and np.all(res.weights[..., 3] == 0)
    assert res.rounds_run.tolist() == [5, 5, 5] and not res.converged.any()
    assert [h["step"] for h in res.history] == ["lasso", "ridge", "ridge", "ridge", "ridge"]
    assert torch.all(res.artefact[..., n:] == 0)
    werr = np.linalg.norm(res.weights - mu) / np.linalg.norm(mu)
    rmse = float(np.sqrt(((res.mean.numpy()[..., :n] - x[..., :n]) ** 2).mean()))
    assert werr < 0.05, werr
    assert rmse < 0.03, rmse
    # the sampling rounds improve on the Lasso alone and on the noisy signal
    y_valid = y[..., :n].double().numpy().reshape(P * L, n)
    lasso = ArtefactModel(s).fit_lasso(y_valid).reshape(P, L, -1)
    ridge_of_y = ArtefactModel(s).fit_ridge(y_valid).reshape(P, L, -1)
    assert np.linalg.norm(lasso - mu) / np.linalg.norm(mu) > 0.5
    assert np.linalg.norm(ridge_of_y - mu) / np.linalg.norm(mu) > 0.5
    assert rmse < 0.1 * float(np.sqrt(((y.numpy()[..., :n] - x[..., :n]) ** 2).mean()))
    # the noise std of the last rounds is the observation noise's (0.05)
    assert np.allclose(res.sigma_y, 0.05, rtol=0.25)
    # samples conditioned on the previous artefact; the final one is its refit
    assert torch.allclose(res.artefact, res.artefact_sampled, atol=0.02)


def test_convergence_stops_each_patient_and_caps_rounds():
    prior, y, _, _, n, settings = _span_problem(P=2)
    s = ArtefactSettings(**settings, sampler="pgdm", sampler_options={"steps": 20}, n_samples=8, tol=0.05)
    res = ArtefactModel(s).run(prior, y, n, torch.Generator().manual_seed(0))
    assert res.converged.all() and res.rounds_run.max() < 5
    last = res.history[-1]
    assert np.nanmax(last["rel_change"]) < 0.05
    s0 = ArtefactSettings(**settings, sampler="pgdm", sampler_options={"steps": 20}, n_samples=8, tol=0.0, rounds=3)
    res0 = ArtefactModel(s0).run(prior, y, n, torch.Generator().manual_seed(0))
    assert res0.rounds_run.tolist() == [3, 3] and len(res0.history) == 3 and not res0.converged.any()


def test_beat_shaped_denoiser_runs():
    """A 9 x 176 beat-shaped prior at 250 Hz (no padding) goes through the same code."""
    g = torch.Generator().manual_seed(0)
    prior = gmm.random_beatlike_gmm((9, 176), n_components=2, rank=4, generator=g)
    x = prior.sample(2, g).float()
    t = torch.arange(176) / 250.0
    y = x + 0.4 * torch.cos(2 * np.pi * 0.7 * t) + 0.02 * torch.randn(2, 9, 176, generator=g)
    s = ArtefactSettings(
        n_freqs=16, f_max=3.0, fs=250.0, rounds=3, sampler="diffpir", sampler_options={"steps": 10}, n_samples=4
    )
    res = ArtefactModel(s).run(prior, y, generator=torch.Generator().manual_seed(1))
    assert res.samples.shape == (2, 4, 9, 176) and torch.isfinite(res.samples).all()
    assert res.weights.shape == (2, 9, 32)
    assert float((res.mean - x).pow(2).mean()) < float((y - x).pow(2).mean())
