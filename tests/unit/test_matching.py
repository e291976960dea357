"""Age-by-sex matched controls: closer to the MI ages than random controls, distinct patients."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

from ecgdiff import matching


def cohort(seed=0):
    rng = np.random.default_rng(seed)
    cases = pd.DataFrame({"age": np.r_[rng.normal(66, 8, 150), rng.normal(72, 7, 60)], "sex": ["M"] * 150 + ["F"] * 60})
    n = 3000
    cand = pd.DataFrame(
        {"patient_id": [f"p{i}" for i in range(n)], "age": rng.uniform(18, 95, n), "sex": rng.choice(["M", "F"], n)}
    )
    return cases, cand


def test_matched_controls_are_closer_than_random_and_distinct():
    cases, cand = cohort()
    res = matching.match_controls(cases, cand, seed=1)
    ctrl = res.controls
    assert ctrl["patient_id"].is_unique
    assert len(ctrl) > 50
    rng = np.random.default_rng(2)
    for sex in ("M", "F"):
        target = cases.loc[cases.sex == sex, "age"]
        matched = ctrl.loc[ctrl.sex == sex, "age"]
        d_match = wasserstein_distance(matched, target)
        pool = cand.loc[cand.sex == sex, "age"].to_numpy()
        d_rand = np.mean(
            [wasserstein_distance(rng.choice(pool, len(matched), replace=False), target) for _ in range(20)]
        )
        assert d_match < 0.5 * d_rand, (sex, d_match, d_rand)


def test_sex_absent_from_cases_is_never_selected():
    cases, cand = cohort()
    res = matching.match_controls(cases[cases.sex == "M"], cand, seed=0)
    assert set(res.controls["sex"]) == {"M"}
    assert (res.acceptance[cand.sex == "F"] == 0).all()


def test_seeded_and_rejects_duplicates():
    cases, cand = cohort()
    a = matching.match_controls(cases, cand, seed=5).controls.index
    b = matching.match_controls(cases, cand, seed=5).controls.index
    assert a.equals(b)
    with pytest.raises(ValueError, match="more than once"):
        matching.match_controls(cases, pd.concat([cand, cand.iloc[:1]]), seed=0)
