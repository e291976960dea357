"""Age-by-sex matched control patients for the MI anomaly-detection task (paper appendix 6.4).

The paper approximates the MI set's age density separately for each sex with a Gaussian kernel of
2-year bandwidth and samples healthy test patients "based on this distribution", each patient at
most once. We make that precise as rejection sampling, which returns distinct patients whose ages
follow the target density exactly (up to the kernel estimates):

For each sex ``s``, with ``f_s`` the kernel density of the MI patients' ages and ``g_s`` that of the
candidate controls' ages (same kernel), candidate ``i`` of age ``a_i`` is kept independently with
probability ``r_i / max_j r_j`` where ``r_i = f_s(a_i) / g_s(a_i)``. A candidate pool distributed as
``g_s`` thinned with probability proportional to ``f_s / g_s`` is distributed as ``f_s``. The price of
exactness is size: where MI patients are much more frequent than candidates (old age) the ratio is
large and the acceptance probability of everyone else small, so far fewer controls than candidates
are kept; that is what the paper reports (337 controls out of 2864 test patients).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Kernel bandwidth in years (paper appendix 6.4).
BANDWIDTH_YEARS: float = 2.0


def kde(samples: np.ndarray, bandwidth: float = BANDWIDTH_YEARS):
    """Gaussian kernel density of 1-D ``samples`` (scikit-learn); returns ``density(points) -> array``."""
    from sklearn.neighbors import KernelDensity

    samples = np.asarray(samples, dtype=np.float64).reshape(-1, 1)
    if samples.shape[0] == 0:
        raise ValueError("kde: no samples")
    model = KernelDensity(kernel="gaussian", bandwidth=bandwidth).fit(samples)
    return lambda points: np.exp(model.score_samples(np.asarray(points, dtype=np.float64).reshape(-1, 1)))


@dataclass(frozen=True)
class MatchResult:
    """Selected controls (rows of the candidate table) and each candidate's acceptance probability."""

    controls: pd.DataFrame
    acceptance: pd.Series


def match_controls(
    cases: pd.DataFrame,
    candidates: pd.DataFrame,
    seed: int,
    bandwidth: float = BANDWIDTH_YEARS,
    patient_col: str = "patient_id",
) -> MatchResult:
    """Sample distinct control patients whose age-by-sex distribution matches ``cases``.

    Args:
        cases: one row per case patient (MI), with ``age`` and ``sex`` columns.
        candidates: one row per candidate control patient (healthy test patients), same columns plus
            ``patient_col``; a patient appearing in several rows is an error.
        seed: seeds the acceptance draws.
        bandwidth: kernel bandwidth in years.

    Returns:
        :class:`MatchResult` with the accepted candidate rows (original index kept) and every candidate's
        acceptance probability. Candidates of a sex absent from ``cases`` are never accepted.
    """
    for name, df in (("cases", cases), ("candidates", candidates)):
        missing = {"age", "sex"} - set(df.columns)
        if missing:
            raise ValueError(f"match_controls: {name} lack columns {sorted(missing)}")
        if df["age"].isna().any() or df["sex"].isna().any():
            raise ValueError(f"match_controls: {name} have missing age or sex")
    if candidates[patient_col].duplicated().any():
        dup = candidates.loc[candidates[patient_col].duplicated(), patient_col].iloc[0]
        raise ValueError(f"match_controls: candidate patient {dup!r} appears more than once")
    rng = np.random.default_rng(seed)
    accept = pd.Series(0.0, index=candidates.index)
    for sex in sorted(candidates["sex"].unique()):
        case_ages = cases.loc[cases["sex"] == sex, "age"].to_numpy(dtype=float)
        pool = candidates.index[candidates["sex"] == sex]
        if case_ages.size == 0 or len(pool) == 0:
            continue
        ages = candidates.loc[pool, "age"].to_numpy(dtype=float)
        ratio = kde(case_ages, bandwidth)(ages) / kde(ages, bandwidth)(ages)
        accept.loc[pool] = ratio / ratio.max()
    draws = rng.random(len(candidates))
    chosen = candidates.loc[draws < accept.to_numpy()]
    return MatchResult(controls=chosen, acceptance=accept)
