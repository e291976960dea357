"""Metrics of the clinical tasks against hand-computed cases."""

import numpy as np
import pytest
from scipy import stats

from ecgdiff import metrics


def test_r2_hand_case():
    # ss_res = 1, ss_tot = (1-2)^2 + 0 + (3-2)^2 = 2
    assert metrics.r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]) == pytest.approx(0.5)
    # per-slice along the last axis; perfect and mean predictions
    true = np.array([[1.0, 2.0, 3.0], [0.0, 2.0, 4.0]])
    pred = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]])
    np.testing.assert_allclose(metrics.r2_score(true, pred), [1.0, 0.0])


def test_r2_rejects_constant_target():
    with pytest.raises(ValueError, match="constant"):
        metrics.r2_score([1.0, 1.0], [1.0, 2.0])


def test_t_interval_hand_case():
    iv = metrics.t_interval([1.0, 2.0, 3.0, 4.0])
    # std(ddof=1) = 1.2909944, / sqrt(4) = 0.6454972, * t_{0.975, 3} = 3.1824463 -> 2.0542603
    assert iv.estimate == pytest.approx(2.5)
    assert iv.half_width == pytest.approx(2.0542603, rel=1e-6)
    assert iv.low == pytest.approx(2.5 - 2.0542603, rel=1e-6)
    assert iv.n == 4
    assert iv.format(2) == "2.50 ± 2.05"


def test_t_interval_rejects_nan():
    with pytest.raises(ValueError, match="non-finite"):
        metrics.t_interval([1.0, np.nan])


def test_r2_matches_scikit_learn_per_slice():
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    true, pred = rng.normal(size=(3, 4, 20)), rng.normal(size=(3, 4, 20))
    ours = metrics.r2_score(true, pred)
    assert ours.shape == (3, 4)
    assert ours[1, 2] == pytest.approx(r2_score(true[1, 2], pred[1, 2]))
    np.testing.assert_allclose(
        metrics.r2_score(true, pred, axis=1)[0], [r2_score(true[0, :, t], pred[0, :, t]) for t in range(20)]
    )


def test_chi2_quantile_closed_form_and_176():
    # chi2 with 2 dof is exponential with mean 2: q = -2 log(1 - level)
    assert metrics.chi2_quantile(2) == pytest.approx(-2 * np.log(0.01))
    # Wilson-Hilferty approximation for 176 dof: 222.57
    k, z = 176, stats.norm.ppf(0.99)
    wh = k * (1 - 2 / (9 * k) + z * np.sqrt(2 / (9 * k))) ** 3
    assert metrics.chi2_quantile(176) == pytest.approx(wh, abs=0.5)


def test_rescaled_mahalanobis_hand_case():
    # one lead, T = 2: samples at (+-1, 0), (0, +-1): mean 0, cov = diag(2/3, 2/3) (ddof = 1)
    samples = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])[:, None, :]
    true = np.array([[1.0, 1.0]])
    d2 = 2 / (2 / 3)  # = 3
    q = -2 * np.log(0.01)
    got = metrics.rescaled_mahalanobis(true, samples, covariance_method="empirical")
    np.testing.assert_allclose(got, [np.sqrt(d2) / q])
    got2 = metrics.rescaled_mahalanobis(true, samples, covariance_method="empirical", squared=True)
    np.testing.assert_allclose(got2, [d2 / q])


def test_rescaled_mahalanobis_ledoit_wolf_is_finite_with_fewer_samples_than_dimensions():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(100, 2, 176))
    true = rng.normal(size=(2, 176))
    out = metrics.rescaled_mahalanobis(true, samples)
    assert out.shape == (2,) and np.all(np.isfinite(out)) and np.all(out > 0)
    # the empirical covariance is singular here; Ledoit-Wolf is not
    _, cov = metrics.covariance(samples[:, 0], "ledoit_wolf")
    assert np.linalg.cond(cov) < 1e3


def test_rescaled_mahalanobis_calibrated_for_a_gaussian_with_many_samples():
    # x ~ N(mu, Sigma) with Sigma estimated from many samples: E[d^2] ~ T
    rng = np.random.default_rng(1)
    t = 20
    a = rng.normal(size=(t, t)) / np.sqrt(t)
    sigma = a @ a.T + 0.1 * np.eye(t)
    chol = np.linalg.cholesky(sigma)
    samples = (chol @ rng.normal(size=(t, 20000))).T[:, None, :]
    d2 = [
        metrics.rescaled_mahalanobis((chol @ rng.normal(size=t))[None], samples, "empirical", squared=True)[0]
        for _ in range(200)
    ]
    assert np.mean(d2) * metrics.chi2_quantile(t) == pytest.approx(t, rel=0.15)


def test_auc_delong_hand_case():
    pos, neg = [0.9, 0.8, 0.4], [0.5, 0.3]
    iv = metrics.auc_delong(pos, neg)
    assert iv.estimate == pytest.approx(5 / 6)
    # V10 = [1, 1, 1/2] (var 1/12), V01 = [2/3, 1] (var 1/18): var = 1/36 + 1/36 = 1/18
    half = stats.norm.ppf(0.975) * np.sqrt(1 / 18)
    assert iv.low == pytest.approx(5 / 6 - half)
    assert iv.high == 1.0  # clipped


def test_auc_ties_count_half_and_match_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    scores = np.round(rng.normal(size=60), 1)
    labels = rng.random(60) < 0.4
    res = metrics.roc(scores, labels)
    assert res.auc.estimate == pytest.approx(roc_auc_score(labels, scores))
    assert res.fpr[0] == 0 and res.tpr[-1] == 1


def test_emd_hand_case():
    # {0, 1} vs {0, 3}: move 1 -> 3 with mass 1/2
    assert metrics.emd(np.array([[0.0], [1.0]]), np.array([[0.0], [3.0]])) == pytest.approx(1.0)
    # 2-D: Euclidean ground cost
    assert metrics.emd(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])) == pytest.approx(5.0)
