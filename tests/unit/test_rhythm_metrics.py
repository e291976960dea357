"""Rhythm-task metrics against hand-computed cases, tslearn, scikit-learn and scipy."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics.pairwise import cosine_similarity as sk_cosine
from tslearn.metrics import dtw as tslearn_dtw
from tslearn.metrics import soft_dtw as tslearn_soft_dtw

from ecgdiff import leads, metrics
from ecgdiff import rhythm_metrics as rm

I12 = {name: i for i, name in enumerate(leads.STANDARD_12)}


def hand_soft_dtw(x: np.ndarray, y: np.ndarray, gamma: float) -> float:
    """The soft-DTW recursion written out: squared Euclidean costs, R[0, 0] = 0, inf borders."""
    n, m = len(x), len(y)
    r = np.full((n + 1, m + 1), np.inf)
    r[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            prev = np.array([r[i - 1, j - 1], r[i - 1, j], r[i, j - 1]])
            lo = prev.min()
            softmin = lo - gamma * np.log(np.sum(np.exp(-(prev - lo) / gamma)))
            r[i, j] = np.sum((x[i - 1] - y[j - 1]) ** 2) + softmin
    return float(r[n, m])


def hand_dtw(x: np.ndarray, y: np.ndarray) -> float:
    n, m = len(x), len(y)
    r = np.full((n + 1, m + 1), np.inf)
    r[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            r[i, j] = (x[i - 1] - y[j - 1]) ** 2 + min(r[i - 1, j - 1], r[i - 1, j], r[i, j - 1])
    return float(np.sqrt(r[n, m]))


# --------------------------------------------------------------------------- masks
def test_scored_mask_lead_one_observed():
    obs = np.zeros((8, 12), dtype=bool)
    obs[0] = True  # lead I over the whole window (and the padding)
    m = rm.scored_mask(obs, length=10)
    assert m.shape == (12, 10)
    assert not m[I12["I"]].any()
    # every other lead is unknown; aVR and aVL need lead II too (the authors' OR mask marked them observed)
    assert all(m[I12[n]].all() for n in leads.STANDARD_12 if n != "I")


def test_scored_mask_limb_leads_follow_from_i_and_ii_per_time():
    obs = np.zeros((8, 6), dtype=bool)
    obs[0, :] = True  # I everywhere
    obs[1, :3] = True  # II in the first half only
    m = rm.scored_mask(obs, length=6)
    for name in ("I", "II", "III", "aVR", "aVL", "aVF"):
        assert not m[I12[name], :3].any(), name
    for name in ("II", "III", "aVR", "aVL", "aVF"):
        assert m[I12[name], 3:].all(), name
    assert m[I12["V1"] :].all()
    # a batch of masks keeps its leading axis
    assert rm.scored_mask(np.stack([obs, obs]), length=6).shape == (2, 12, 6)


# --------------------------------------------------------------------------- RMSE / MAE
def test_rmse_mae_hand_case():
    true = np.zeros((12, 4))
    scored = np.zeros((12, 4), dtype=bool)
    scored[6:8] = True  # V1 and V2: 8 coordinates
    s = np.zeros((2, 12, 4))
    s[0, 6] = 1.0  # 4 errors of 1 among 8 scored coordinates
    s[1, 7, 0] = 4.0  # one error of 4
    s[:, 0] = 100.0  # huge errors on an unscored lead
    np.testing.assert_allclose(rm.rmse_per_sample(true, s, scored), [np.sqrt(4 / 8), np.sqrt(16 / 8)])
    np.testing.assert_allclose(rm.mae_per_sample(true, s, scored), [4 / 8, 4 / 8])


def test_reconstruction_errors_ignore_observed_and_padded_coordinates():
    rng = np.random.default_rng(0)
    length, t = 20, 24
    true = rng.normal(size=(2, 8, t))
    samples = true[:, None] + 0.3 * rng.normal(size=(2, 3, 8, t))
    obs = np.zeros((8, t), dtype=bool)
    obs[:2] = True  # I and II observed: all six limb leads are known, V1-V6 scored
    ref = rm.reconstruction_scores(true, samples, obs, length=length)
    moved = samples.copy()
    moved[:, :, :2] += 5.0  # observed leads
    moved[..., length:] += 7.0  # padding
    out = rm.reconstruction_scores(true, moved, obs, length=length)
    for col in ("rmse", "mae", "soft_dtw", "dtw"):
        np.testing.assert_allclose(out[col], ref[col], rtol=1e-12, err_msg=col)
    assert (ref["n_scored"] == 6 * length).all()
    # by hand on the 12-lead expansion of patient 0: only V1-V6 count
    x = leads.derive(true[0, :, :length], leads.BASIS, leads.STANDARD_12)
    xs = leads.derive(samples[0, :, :, :length], leads.BASIS, leads.STANDARD_12)
    err = xs[:, 6:] - x[6:]
    assert ref["rmse"][0] == pytest.approx(np.mean(np.sqrt((err**2).mean(axis=(1, 2)))))
    assert ref["mae"][0] == pytest.approx(np.mean(np.abs(err).mean(axis=(1, 2))))
    # a change in a scored coordinate does change them
    hit = samples.copy()
    hit[:, :, 2, 0] += 1.0
    assert (rm.reconstruction_scores(true, hit, obs, length=length)["rmse"] > ref["rmse"]).all()


# --------------------------------------------------------------------------- DTW
def test_soft_dtw_against_hand_recursion_and_tslearn():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    for gamma in (0.1, 1.0):
        assert tslearn_soft_dtw(x, y, gamma=gamma) == pytest.approx(hand_soft_dtw(x, y, gamma), rel=1e-10)
    # the soft-minimum of path costs can be negative for equal series (tslearn's, and the authors', value)
    z = np.zeros((4, 1))
    assert hand_soft_dtw(z, z, 1.0) < 0


def test_soft_dtw_score_layouts_and_normaliser():
    rng = np.random.default_rng(2)
    true, est = rng.normal(size=(12, 9)), rng.normal(size=(12, 9))
    idx = [1, 4, 8]
    got = rm.soft_dtw_score(true, est, idx, gamma=0.1, normaliser=1024.0)
    assert got == pytest.approx(hand_soft_dtw(true[idx].T, est[idx].T, 0.1) / 1024.0, rel=1e-10)
    # the authors' layout: the leads are the points of the series
    lead = rm.soft_dtw_score(true, est, idx, gamma=0.1, normaliser=1.0, sequence="lead")
    assert lead == pytest.approx(tslearn_soft_dtw(true[idx], est[idx], gamma=0.1), rel=1e-10)
    with pytest.raises(ValueError, match="sequence"):
        rm.soft_dtw_score(true, est, idx, sequence="leads")


def test_dtw_score_per_lead_against_hand_recursion_and_tslearn():
    a = np.array([[0.0, 1.0, 2.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    b = np.array([[0.0, 0.0, 1.0, 2.0], [1.0, 0.0, 0.0, 0.0]])
    # lead 0: warping aligns 0,1,2 to 0,0,1,2 with the last 1 matched to 2: cost 1 -> 1; lead 1: 1 -> 1
    assert hand_dtw(a[0], b[0]) == pytest.approx(1.0)
    assert tslearn_dtw(a[0], b[0]) == pytest.approx(1.0)
    assert rm.dtw_score(a, b) == pytest.approx(np.mean([hand_dtw(a[i], b[i]) for i in range(2)]))
    assert rm.dtw_score(a, b, [1]) == pytest.approx(hand_dtw(a[1], b[1]))


def test_reconstruction_dtw_uses_the_unobserved_leads_of_the_posterior_mean():
    rng = np.random.default_rng(3)
    length = 12
    true = rng.normal(size=(1, 8, 16))
    samples = rng.normal(size=(1, 4, 8, 16))
    obs = np.zeros((8, 16), dtype=bool)
    obs[0] = True  # lead I: eleven unobserved leads
    row = rm.reconstruction_scores(true, samples, obs, length=length).iloc[0]
    x = leads.derive(true[0, :, :length], leads.BASIS, leads.STANDARD_12)
    mean = leads.derive(samples[0, :, :, :length].mean(axis=0), leads.BASIS, leads.STANDARD_12)
    assert row["soft_dtw"] == pytest.approx(tslearn_soft_dtw(x[1:].T, mean[1:].T, gamma=0.1) / 1024.0, rel=1e-9)
    assert row["dtw"] == pytest.approx(np.mean([tslearn_dtw(x[i], mean[i]) for i in range(1, 12)]), rel=1e-9)


# --------------------------------------------------------------------------- DeScoD-ECG's metrics
def test_descod_metrics_hand_values():
    x = np.array([1.0, 2.0, 3.0, 2.0])
    xh = np.array([1.0, 3.0, 3.0, 0.0])
    assert rm.ssd(x, xh) == pytest.approx(0 + 1 + 0 + 4)
    assert rm.max_abs_deviation(x, xh) == pytest.approx(2.0)
    # DeScoD: 100 sqrt(sum (xh - x)^2 / sum (xh - mean x)^2), mean x = 2: (1 + 1 + 1 + 4) = 7
    assert rm.prd(x, xh) == pytest.approx(100 * np.sqrt(5 / 7))
    # textbook normalised PRD: sum (x - mean x)^2 = 1 + 0 + 1 + 0 = 2
    assert rm.prd(x, xh, denominator="truth") == pytest.approx(100 * np.sqrt(5 / 2))
    # cosine: 1 + 6 + 9 + 0 = 16 over sqrt(18) sqrt(19)
    assert rm.cosine_similarity(x, xh) == pytest.approx(16 / np.sqrt(18 * 19))
    assert rm.cosine_similarity(x, np.zeros(4)) == 0.0


def test_cosine_matches_scikit_learn():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(5, 30)), rng.normal(size=(5, 30))
    np.testing.assert_allclose(rm.cosine_similarity(a, b), np.diag(sk_cosine(a, b)), rtol=1e-12)


def test_descod_scores_are_per_lead_then_averaged_over_twelve_leads():
    rng = np.random.default_rng(5)
    true = rng.normal(size=(3, 8, 10))
    est = true + 0.2 * rng.normal(size=(3, 8, 10))
    df = rm.descod_scores(true, est, length=8)
    x = leads.derive(true[..., :8], leads.BASIS, leads.STANDARD_12)
    xh = leads.derive(est[..., :8], leads.BASIS, leads.STANDARD_12)
    per_lead_ssd = ((xh - x) ** 2).sum(axis=-1)  # [3, 12]
    np.testing.assert_allclose(df["ssd"], per_lead_ssd.mean(axis=1))
    np.testing.assert_allclose(df["max_abs"], np.abs(xh - x).max(axis=-1).mean(axis=1))
    np.testing.assert_allclose(df["cosine"], rm.cosine_similarity(x, xh).mean(axis=1))
    np.testing.assert_allclose(df["prd"], rm.prd(x, xh).mean(axis=1))


def test_denoising_scores_score_every_coordinate_and_the_posterior_mean():
    rng = np.random.default_rng(6)
    true = rng.normal(size=(2, 8, 12))
    samples = true[:, None] + 0.1 * rng.normal(size=(2, 3, 8, 12))
    df = rm.denoising_scores(true, samples, length=10)
    assert (df["n_scored"] == 12 * 10).all()
    des = rm.descod_scores(true, samples.mean(axis=1), length=10)
    np.testing.assert_allclose(df["ssd"], des["ssd"])
    x = leads.derive(true[0, :, :10], leads.BASIS, leads.STANDARD_12)
    xs = leads.derive(samples[0, :, :, :10], leads.BASIS, leads.STANDARD_12)
    assert df["rmse"][0] == pytest.approx(np.mean(np.sqrt(((xs - x) ** 2).mean(axis=(1, 2)))))


# --------------------------------------------------------------------------- intervals
def test_t_interval_matches_scipy_for_five_values():
    v = np.array([0.21, 0.18, 0.25, 0.19, 0.22])
    iv = metrics.t_interval(v, 0.95)
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    assert iv.estimate == pytest.approx(v.mean())
    assert (iv.low, iv.high) == pytest.approx((lo, hi), rel=1e-12)
    assert iv.n == 5
    # wider than the normal interval at n = 5 (t_{0.975, 4} = 2.776 > 1.960)
    one = metrics.t_interval([1.0])
    assert one.estimate == 1.0 and np.isnan(one.low)
    with pytest.raises(ValueError, match="non-finite"):
        metrics.t_interval([1.0, np.inf])


def test_summarise_gives_t_intervals_per_metric():
    import pandas as pd

    df = pd.DataFrame({"patient": range(5), "rmse": [0.2, 0.1, 0.3, 0.2, 0.25], "mae": [1.0, 2.0, 3.0, 4.0, 5.0]})
    out = rm.summarise(df)
    assert list(out["metric"]) == ["rmse", "mae"]
    iv = metrics.t_interval(df["mae"])
    row = out.set_index("metric").loc["mae"]
    assert row["mean"] == pytest.approx(3.0)
    assert (row["low"], row["high"]) == pytest.approx((iv.low, iv.high))
