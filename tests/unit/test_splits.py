"""The patient-level split manifest."""

import numpy as np
import pandas as pd
import pytest

from ecgdiff.data.splits import assign_splits, patient_uniform, split_patients

FR = {"train": 0.8, "cv": 0.1, "test": 0.1}


def cohort(n, n_mi=0, n_other=0, prefix="p"):
    labels = ["mi"] * n_mi + ["bbb"] * n_other + ["healthy"] * (n - n_mi - n_other)
    return pd.DataFrame({"patient_id": [f"{prefix}{i:05d}" for i in range(n)], "label": labels})


def test_deterministic_and_one_set_per_patient():
    pts = cohort(500, n_mi=40, n_other=30)
    a = assign_splits(pts, FR, seed=0)
    b = assign_splits(pts.sample(frac=1.0, random_state=1), FR, seed=0)  # input order does not matter
    pd.testing.assert_frame_equal(a, b)
    assert a["patient_id"].is_unique and len(a) == 500
    assert set(a["split"]) <= {"train", "cv", "test", "mi", "none"}


def test_labels_decide_mi_and_none():
    pts = cohort(300, n_mi=25, n_other=20)
    s = assign_splits(pts, FR, seed=0).merge(pts, on="patient_id")
    assert (s.loc[s["label"] == "mi", "split"] == "mi").all()
    assert (s.loc[s["label"] == "bbb", "split"] == "none").all()
    assert s.loc[s["label"] == "healthy", "split"].isin(["train", "cv", "test"]).all()


def test_fractions_respected():
    n = 20000
    s = assign_splits(cohort(n), {"train": 0.7, "cv": 0.2, "test": 0.1}, seed=5)
    for name, f in {"train": 0.7, "cv": 0.2, "test": 0.1}.items():
        share = (s["split"] == name).mean()
        assert abs(share - f) < 4 * np.sqrt(f * (1 - f) / n)


def test_stable_when_patients_are_added_and_seed_matters():
    small = assign_splits(cohort(200), FR, seed=0)
    large = assign_splits(pd.concat([cohort(200), cohort(300, prefix="q")]), FR, seed=0)
    merged = small.merge(large, on="patient_id", suffixes=("_small", "_large"))
    assert len(merged) == 200 and (merged["split_small"] == merged["split_large"]).all()
    other = assign_splits(cohort(200), FR, seed=1)
    assert (other["split"] != small["split"]).any()


def test_uniform_is_a_keyed_hash():
    u = patient_uniform(["a", "b", "a"], 0)
    assert u[0] == u[2] != u[1] and np.all((0 <= u) & (u < 1))
    assert patient_uniform(["a"], 1)[0] != u[0]


def test_small_cohorts_get_every_set():
    for seed in range(20):
        s = assign_splits(cohort(6), FR, seed=seed)
        assert set(s["split"]) == {"train", "cv", "test"}


def test_invalid_inputs():
    pts = pd.DataFrame({"patient_id": ["a", "a"], "label": ["healthy", "healthy"]})
    with pytest.raises(ValueError, match="twice"):
        assign_splits(pts, FR, 0)
    with pytest.raises(ValueError):
        assign_splits(cohort(5), {"train": 1.0}, 0)


def test_split_patients_puts_everyone_in_a_set_and_stratifies():
    strata = ["NSR"] * 300 + ["AF"] * 12 + ["BBB"] * 4 + ["other"] * 60
    pts = pd.DataFrame({"patient_id": [f"q{i:04d}" for i in range(len(strata))], "stratum": strata})
    plain = split_patients(pts, FR, seed=0)
    assert set(plain["split"]) == {"train", "cv", "test"} and plain["patient_id"].is_unique and len(plain) == 376
    # without strata, the split is the beat database's rule applied to everyone
    as_healthy = assign_splits(pts.assign(label="healthy"), FR, seed=0)
    pd.testing.assert_frame_equal(plain, as_healthy)
    strat = split_patients(pts.sample(frac=1.0, random_state=2), FR, seed=0, stratify=True)
    pd.testing.assert_frame_equal(strat, split_patients(pts, FR, seed=0, stratify=True))  # order-free
    merged = strat.merge(pts, on="patient_id")
    for name, group in merged.groupby("stratum"):
        assert set(group["split"]) == {"train", "cv", "test"}, name  # every label in every set
    # a large stratum is split by the plain hash rule (the fix for empty sets only touches small strata)
    nsr = pts[pts["stratum"] == "NSR"]
    pd.testing.assert_frame_equal(
        merged.loc[merged["stratum"] == "NSR", ["patient_id", "split"]].reset_index(drop=True),
        split_patients(nsr, FR, seed=0),
    )
    with pytest.raises(ValueError, match="twice"):
        split_patients(pd.concat([pts, pts.head(1)]), FR, seed=0)
