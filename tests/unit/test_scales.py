"""The millivolt scale of unrecorded leads: training log-scales, the log-scale regression (against scikit-learn and a
known law), its predictive draws, and its error against the truth on held-out LUDB patients."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from ecgdiff import leads
from ecgdiff.data.scales import LeadScales, ScaleModel, evaluate


def synthetic_scales(n: int, rng: np.random.Generator, noise: float = 0.1) -> tuple[LeadScales, np.ndarray]:
    """Log-scales of the 12 leads with V1-V6 = a + b * (log I, log II) + N(0, noise^2)."""
    logs = rng.normal(0, 0.4, size=(n, 12))
    coef = rng.normal(0, 0.6, size=(3, 6))
    x = np.column_stack([np.ones(n), logs[:, :2]])
    logs[:, 6:] = x @ coef + noise * rng.standard_normal((n, 6))
    return LeadScales(logs), coef


def test_regression_matches_scikit_learn_and_recovers_a_known_law():
    rng = np.random.default_rng(0)
    data, coef = synthetic_scales(4000, rng)
    model = data.fit(["I", "II"], leads.PRECORDIAL)
    ref = LinearRegression().fit(data.columns(["I", "II"]), data.columns(leads.PRECORDIAL))
    np.testing.assert_allclose(model.coef[0], ref.intercept_, atol=1e-10)
    np.testing.assert_allclose(model.coef[1:], ref.coef_.T, atol=1e-10)
    np.testing.assert_allclose(model.coef, coef, atol=0.02)
    np.testing.assert_allclose(model.residual_sd, 0.1, rtol=0.05)
    feats = np.exp(data.columns(["I", "II"]))[:5]
    np.testing.assert_allclose(model.predict(feats), np.exp(ref.predict(np.log(feats))), rtol=1e-10)
    lo, hi = model.interval(feats)
    assert np.all(lo < model.predict(feats)) and np.all(model.predict(feats) < hi)


def test_predictive_draws_follow_the_residual_law():
    rng = np.random.default_rng(1)
    data, _ = synthetic_scales(3000, rng, noise=0.2)
    model = data.fit(["I"], ["V1", "V2"])
    feats = np.exp(data.columns(["I"]))[:1]
    draws = model.sample(feats, 20000, np.random.default_rng(2))[0]  # [n, 2]
    np.testing.assert_allclose(np.log(draws).mean(axis=0), model.predict_log(feats)[0], atol=0.01)
    np.testing.assert_allclose(np.cov(np.log(draws).T), model.residual_cov, atol=0.003)


def test_intercept_only_model_and_errors():
    data, _ = synthetic_scales(50, np.random.default_rng(3))
    model = data.fit([], ["V1"])
    np.testing.assert_allclose(model.coef[0], data.columns(["V1"]).mean(axis=0))
    with pytest.raises(ValueError, match="positive millivolt"):
        data.fit(["I"], ["V1"]).predict(np.array([[0.0]]))
    with pytest.raises(ValueError, match="no target"):
        ScaleModel.fit(data, ["I"], [])


def test_training_scales_are_the_pipelines_scales(ludb_db):
    """In the database's leads the training log-scales are the stored ones; lead I's is its QRS maximum in mV."""
    db = ludb_db
    data = LeadScales.from_database(db, "train")
    _, meta = db.subset("train")
    np.testing.assert_allclose(data.columns(db.leads), np.log(db.scales(meta)), atol=1e-6)  # float32 beats
    qrs = db.geometry.qrs_slice()
    x_mv = np.asarray(db.subset("train")[0][:3], dtype=np.float64) * db.scales(meta)[:3, :, None]
    i_mv = leads.derive(x_mv, db.leads, ["I"])[:, 0]
    np.testing.assert_allclose(data.columns(["I"])[:3, 0], np.log(np.abs(i_mv[:, qrs]).max(axis=1)), atol=1e-12)
    assert data.leads == leads.STANDARD_12


def test_inferred_scales_against_the_truth_on_held_out_patients(ludb_db):
    """Fitted on the training patients' beats, scored on the test and CV patients' (true scales known): the
    regression on the observed leads' log-scales beats the intercept-only model (the training median) and its 95 %
    predictive interval holds most true scales. The full LUDB numbers are in docs/cli.md (benchmarks/scale_model.py)."""
    db = ludb_db
    train = LeadScales.from_database(db, "train")
    held = LeadScales(np.concatenate([LeadScales.from_database(db, s).log_scales for s in ("test", "cv")]))
    for observed, targets in ((["I"], ["aVL", "aVF", *leads.PRECORDIAL]), (["aVL", "aVR", "aVF"], leads.PRECORDIAL)):
        ev = evaluate(train.fit(observed, targets), held)
        base = evaluate(train.fit([], targets), held)
        assert ev["n_beats"] > 50
        assert ev["median_abs_rel_error"] < 0.35
        assert ev["median_abs_rel_error"] < base["median_abs_rel_error"], (observed, ev, base)
        coverage = np.mean([v["coverage_95"] for v in ev["leads"].values()])
        assert 0.75 < coverage <= 1.0
