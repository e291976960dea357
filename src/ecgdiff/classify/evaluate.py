"""AUC-PR of the rhythm classifier per class, with a patient-level bootstrap interval.

The talk's table reports, per class (NSR, BBB, AF), scikit-learn's ``average_precision_score`` of the
classifier's probabilities (the authors' ``plot_lead_inpatining.py``): the step-wise area under the
precision-recall curve, ``AP = sum_n (R_n - R_{n-1}) P_n``. Its chance level is the class prevalence.

The talk gives no interval; here a percentile bootstrap over **test patients** gives one: each
replicate draws the test patients with replacement (as many as there are) and keeps all rhythms of
every drawn patient, as often as it was drawn; the AP of a replicate is computed with those multiplicities
as sample weights (identical to repeating the rows). Replicates in which a class has no positive rhythm
(AP undefined) are left out of that class's interval and counted in ``n_boot_used``. Seeded.

The replicates' AP is :func:`weighted_average_precision`, the same step-wise sum as scikit-learn's (tested
equal to it, ties and weights included) without scikit-learn's per-call input validation, which makes a
1000-replicate bootstrap about a hundred times faster; the point estimate is scikit-learn's own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from .predict import CLASSES

COLUMNS = (
    "class",
    "auc_pr",
    "low",
    "high",
    "level",
    "n_rhythms",
    "n_patients",
    "n_positive",
    "prevalence",
    "n_boot",
    "n_boot_used",
)


def weighted_average_precision(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> float:
    """``sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds, in decreasing order, with sample weights.

    Precision ``P_k`` and recall ``R_k`` count the weighted rhythms scored at least the ``k``-th distinct
    score (tied scores enter together), ``R_0 = 0``: scikit-learn's ``average_precision_score``. Needs
    positive weights and at least one positive.
    """
    order = np.argsort(-scores, kind="mergesort")
    y, s, w = labels[order], scores[order], weights[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last rhythm of every group of tied scores
    tps = np.cumsum(w * y)[last]
    fps = np.cumsum(w * (1 - y))[last]
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def auc_pr_table(
    labels: np.ndarray,
    scores: np.ndarray,
    patient_ids: Sequence | np.ndarray | None = None,
    classes: Sequence[str] = CLASSES,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per class: AUC-PR of ``scores [N, C]`` against binary ``labels [N, C]`` and its bootstrap interval.

    ``patient_ids [N]`` groups rhythms by patient for the bootstrap (default: every rhythm its own
    patient). ``n_boot = 0`` gives the point estimates only (``low``/``high`` NaN). A class without any
    positive rhythm has an undefined AUC-PR (NaN, no interval). Columns: :data:`COLUMNS`.
    """
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if s.ndim == 1:
        s = s[:, None]
    if y.shape != s.shape or y.shape[1] != len(classes):
        raise ValueError(f"auc_pr_table: labels {y.shape}, scores {s.shape} and {len(classes)} classes disagree")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("auc_pr_table: labels must be 0/1")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"auc_pr_table: {int((~np.isfinite(s)).sum())} non-finite scores")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    y = y.astype(np.int64)
    n = len(y)
    pid = np.arange(n) if patient_ids is None else np.asarray(patient_ids)
    if pid.shape != (n,):
        raise ValueError(f"auc_pr_table: {pid.shape} patient ids for {n} rhythms")
    uniq, group = np.unique(pid, return_inverse=True)
    rng = np.random.default_rng(seed)
    # counts[b, g]: how often patient g is drawn in replicate b (a multinomial draw of len(uniq) patients)
    counts = rng.multinomial(len(uniq), np.full(len(uniq), 1.0 / len(uniq)), size=n_boot) if n_boot else None
    rows = []
    for c, name in enumerate(classes):
        yc, sc = y[:, c], s[:, c]
        n_pos = int(yc.sum())
        est = float(average_precision_score(yc, sc)) if n_pos > 0 else float("nan")
        low = high = float("nan")
        used = 0
        if counts is not None and n_pos > 0:
            reps = []
            for b in range(n_boot):
                w = counts[b][group]
                keep = w > 0
                if yc[keep].sum() == 0:
                    continue
                reps.append(weighted_average_precision(yc[keep], sc[keep], w[keep].astype(np.float64)))
            used = len(reps)
            if used:
                low, high = (float(q) for q in np.quantile(reps, [(1 - level) / 2, (1 + level) / 2]))
        rows.append(
            {
                "class": name,
                "auc_pr": est,
                "low": low,
                "high": high,
                "level": level,
                "n_rhythms": n,
                "n_patients": len(uniq),
                "n_positive": n_pos,
                "prevalence": n_pos / n if n else float("nan"),
                "n_boot": int(n_boot),
                "n_boot_used": used,
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def macro_auc_pr(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean AUC-PR over the classes that have at least one positive (NaN when none has)."""
    y, s = np.asarray(labels), np.asarray(scores)
    vals = [average_precision_score(y[:, c], s[:, c]) for c in range(y.shape[1]) if y[:, c].sum() > 0]
    return float(np.mean(vals)) if vals else float("nan")


__all__ = ["COLUMNS", "weighted_average_precision", "auc_pr_table", "macro_auc_pr"]
