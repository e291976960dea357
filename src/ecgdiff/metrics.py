"""Evaluation metrics of the clinical tasks: R^2, rescaled Mahalanobis distance, intervals, ROC, EMD.

Conventions: arrays are numpy; the last axis is time unless a function says otherwise. Every interval
is returned as ``(estimate, half_width)`` or ``(estimate, low, high)`` and named for what it is.

Rescaled Mahalanobis distance (paper 3.3.1, eq. 15). For one lead of one patient, let ``x`` be the
true beat (``T = 176`` samples) and ``x^(1..n)`` posterior samples of that lead. With ``mu`` the sample
mean and ``Sigma`` a covariance estimate of the samples::

    d(x) = sqrt((x - mu)^T Sigma^{-1} (x - mu))        rescaled:  d(x) / chi2.ppf(0.99, T)

The paper divides the distance ``d`` (not ``d^2``) by the 99 % quantile of the chi-square law with
``T`` degrees of freedom, which is what :func:`rescaled_mahalanobis` computes by default. Since ``d^2``
is the quantity that follows the chi-square law when ``x`` is drawn from ``N(mu, Sigma)``, the
statistically calibrated alternative is ``d^2 / chi2.ppf(0.99, T)`` (values above 1 flag the 1 % tail);
pass ``squared=True`` for it. With ``n = 100`` samples in ``T = 176`` dimensions the sample covariance
is singular, so the covariance is estimated by Ledoit-Wolf shrinkage (:class:`sklearn.covariance.LedoitWolf`),
which is well conditioned for any ``n``; ``covariance="empirical"`` uses the plain sample covariance
(with a pseudo-inverse) where ``n > T``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Quantile level of the chi-square rescaling (paper 3.3.1).
CHI2_LEVEL: float = 0.99


# --------------------------------------------------------------------------- R^2
def r2_score(true: np.ndarray, pred: np.ndarray, axis: int = -1) -> np.ndarray:
    """Coefficient of determination ``1 - sum((true - pred)^2) / sum((true - mean(true))^2)`` along ``axis``.

    Computed separately for every slice (e.g. every patient and lead of ``[P, L, T]`` arrays) by
    :func:`sklearn.metrics.r2_score` (one output per slice). A slice whose target is constant has no defined R^2
    and raises ``ValueError`` (scikit-learn would return a finite stand-in value instead).
    """
    from sklearn.metrics import r2_score as sk_r2

    true = np.asarray(true, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if true.shape != pred.shape:
        raise ValueError(f"r2_score: shapes differ: {true.shape} vs {pred.shape}")
    t = np.moveaxis(true, axis, -1)
    p = np.moveaxis(pred, axis, -1)
    if np.any(np.ptp(t, axis=-1) <= 0):
        raise ValueError("r2_score: a target slice is constant; R^2 is undefined")
    out = sk_r2(t.reshape(-1, t.shape[-1]).T, p.reshape(-1, p.shape[-1]).T, multioutput="raw_values")
    return out.reshape(t.shape[:-1]) if t.ndim > 1 else np.float64(out[0])


# --------------------------------------------------------------------------- intervals
@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval ``[low, high]`` at ``level``."""

    estimate: float
    low: float
    high: float
    level: float = 0.95
    n: int = 0

    @property
    def half_width(self) -> float:
        return 0.5 * (self.high - self.low)

    def format(self, digits: int = 3) -> str:
        """``'0.981 ± 0.004'`` (symmetric intervals) or ``'0.981 [0.970, 0.990]'``."""
        if np.isclose(self.estimate - self.low, self.high - self.estimate, rtol=1e-6, atol=10.0 ** -(digits + 2)):
            return f"{self.estimate:.{digits}f} ± {self.half_width:.{digits}f}"
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def t_interval(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Mean and its Student-t interval ``mean ± t_{(1+level)/2, n-1} * std(ddof=1) / sqrt(n)``.

    The same as ``scipy.stats.t.interval(level, n - 1, loc=mean, scale=scipy.stats.sem(values))``, the
    interval of the talk's tables (the authors' ``plot_lead_inpatining.py``, ``plot_denoising.py``).
    Non-finite values are an error; with one value the interval is undefined (NaN bounds).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("t_interval: no values")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"t_interval: {int((~np.isfinite(v)).sum())} non-finite values")
    if not 0.0 < level < 1.0:
        raise ValueError(f"t_interval: level must be in (0, 1), got {level}")
    mean = float(v.mean())
    if v.size < 2:
        return Interval(mean, float("nan"), float("nan"), level, 1)
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return Interval(mean, mean - half, mean + half, level, int(v.size))


# --------------------------------------------------------------------------- Mahalanobis
def chi2_quantile(dof: int, level: float = CHI2_LEVEL) -> float:
    """The ``level`` quantile of the chi-square law with ``dof`` degrees of freedom."""
    return float(stats.chi2.ppf(level, dof))


def covariance(samples: np.ndarray, method: str = "ledoit_wolf") -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and covariance ``[D, D]`` of ``samples [n, D]``.

    ``ledoit_wolf``: shrinkage estimate (well conditioned whatever ``n``); ``empirical``: sample
    covariance (``ddof=1``).
    """
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[0] < 2:
        raise ValueError(f"covariance: need samples [n >= 2, D], got shape {samples.shape}")
    mean = samples.mean(axis=0)
    if method == "ledoit_wolf":
        from sklearn.covariance import LedoitWolf

        cov = LedoitWolf(assume_centered=False).fit(samples).covariance_
    elif method == "empirical":
        cov = np.cov(samples, rowvar=False, ddof=1)
    else:
        raise ValueError(f"unknown covariance method {method!r} (ledoit_wolf | empirical)")
    return mean, np.atleast_2d(cov)


def mahalanobis(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> float:
    """``sqrt((x - mean)^T cov^{-1} (x - mean))`` (pseudo-inverse through a symmetric eigendecomposition)."""
    diff = np.asarray(x, dtype=np.float64).ravel() - np.asarray(mean, dtype=np.float64).ravel()
    w, v = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    keep = w > w.max() * 1e-12
    if not keep.any():
        raise ValueError("mahalanobis: covariance is zero")
    proj = v[:, keep].T @ diff
    return float(np.sqrt(np.sum(proj**2 / w[keep])))


def rescaled_mahalanobis(
    true: np.ndarray,
    samples: np.ndarray,
    covariance_method: str = "ledoit_wolf",
    squared: bool = False,
    level: float = CHI2_LEVEL,
) -> np.ndarray:
    """Rescaled Mahalanobis distance of each lead of ``true [L, T]`` from ``samples [n, L, T]``: ``[L]``.

    Per lead: ``d / chi2.ppf(level, T)`` (paper) or ``d^2 / chi2.ppf(level, T)`` with ``squared=True``.
    Average over leads for the paper's per-patient number.
    """
    true = np.asarray(true, dtype=np.float64)
    samples = np.asarray(samples, dtype=np.float64)
    if true.ndim != 2 or samples.ndim != 3 or samples.shape[1:] != true.shape:
        raise ValueError(
            f"rescaled_mahalanobis: need true [L, T] and samples [n, L, T], got {true.shape}, {samples.shape}"
        )
    q = chi2_quantile(true.shape[1], level)
    out = np.empty(true.shape[0])
    for lead in range(true.shape[0]):
        mean, cov = covariance(samples[:, lead], covariance_method)
        d = mahalanobis(true[lead], mean, cov)
        out[lead] = (d**2 if squared else d) / q
    return out


# --------------------------------------------------------------------------- ROC
@dataclass(frozen=True)
class RocResult:
    """ROC curve (false/true positive rates at decreasing thresholds), AUC and its DeLong interval."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: Interval


def auc_delong(scores_pos: np.ndarray, scores_neg: np.ndarray, level: float = 0.95) -> Interval:
    """AUC = P(score_pos > score_neg) + P(=)/2, with DeLong et al.'s (1988) variance and a normal interval.

    The interval is clipped to [0, 1]. Needs at least two scores in each class.
    """
    pos = np.asarray(scores_pos, dtype=np.float64).ravel()
    neg = np.asarray(scores_neg, dtype=np.float64).ravel()
    m, n = pos.size, neg.size
    if m < 2 or n < 2:
        raise ValueError(f"auc_delong: need >= 2 scores per class (got {m} positives, {n} negatives)")
    # psi[i, j] = 1 if pos_i > neg_j, 1/2 if tied, 0 otherwise
    psi = (pos[:, None] > neg[None, :]).astype(np.float64) + 0.5 * (pos[:, None] == neg[None, :])
    auc = float(psi.mean())
    v10 = psi.mean(axis=1)  # structural components of the positives
    v01 = psi.mean(axis=0)  # ... of the negatives
    var = v10.var(ddof=1) / m + v01.var(ddof=1) / n
    half = float(stats.norm.ppf(0.5 + level / 2) * np.sqrt(var))
    return Interval(auc, max(0.0, auc - half), min(1.0, auc + half), level, m + n)


def roc(scores: np.ndarray, labels: np.ndarray, level: float = 0.95) -> RocResult:
    """ROC curve of ``scores`` for binary ``labels`` (1 = positive; larger score = more positive)."""
    from sklearn.metrics import roc_curve

    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).astype(bool).ravel()
    fpr, tpr, thr = roc_curve(labels, scores)
    return RocResult(fpr, tpr, thr, auc_delong(scores[labels], scores[~labels], level))


# --------------------------------------------------------------------------- EMD
def emd(a: np.ndarray, b: np.ndarray, metric: str = "euclidean") -> float:
    """Earth mover's distance between two empirical laws (uniform weights) of ``a [n, ...]`` and ``b [m, ...]``.

    Samples are flattened; the ground cost is the Euclidean distance (``metric`` as in :func:`ot.dist`),
    so the result is the 1-Wasserstein distance. Exact network-simplex solver of POT.
    """
    import ot

    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"emd: sample dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    cost = ot.dist(a, b, metric=metric)
    wa = np.full(len(a), 1.0 / len(a))
    wb = np.full(len(b), 1.0 / len(b))
    return float(ot.emd2(wa, wb, cost, numItermax=10_000_000))
