"""Metrics of the rhythm tasks (the talk's tables): missing-lead reconstruction and artefact removal.

Every metric is computed on the 12 standard leads expanded from the modelled ones
(:func:`ecgdiff.leads.derive`; the ground truth too) over the ``length = 1000`` valid samples only (the
zero padding to 1024 is never scored). Signals are in millivolts.

Reconstruction (the authors' ``plot_lead_inpatining.py``):

- ``rmse``: per posterior sample ``sqrt(mean((x_hat - x)^2))`` over the **unobserved** coordinates
  (a boolean mask ``[12, T]`` of scored coordinates, :func:`scored_mask`), averaged over the samples of a
  patient; the table then averages over patients;
- ``mae`` (the table's "MAD"): the same with ``mean(|x_hat - x|)`` (a mean absolute error, not a maximum);
- ``soft_dtw`` (the table's "DTW"): soft-DTW with ``gamma = 0.1`` between the truth and the posterior
  **mean**, the unobserved leads taken together as one multivariate series, divided by 1024. Soft-DTW is
  ``R[n, m]`` of the recursion ``R[i, j] = D[i, j] + softmin_gamma(R[i-1, j-1], R[i-1, j], R[i, j-1])``,
  ``D`` the squared Euclidean distances between time points, ``softmin_gamma(a) = -gamma log sum
  exp(-a / gamma)``, ``R[0, 0] = 0`` and ``inf`` on the other borders (Cuturi & Blondel 2017). The authors'
  code (``SoftDTW_functions.py``, Maghoumi's PyTorch port) computes exactly this value, which is what
  :func:`tslearn.metrics.soft_dtw` returns: the soft-minimum of the path costs itself (not the
  normalised divergence ``sdtw(x, y) - (sdtw(x, x) + sdtw(y, y)) / 2``), so it can be negative for
  nearly equal series. Layout: the authors passed arrays ``[leads, time]`` to a function that expects
  ``[time, features]``, so their alignment ran along the *lead* axis (11 "time points" of 1000
  features each). ``sequence="time"`` (the default) aligns along time, as a DTW is meant to;
  ``sequence="lead"`` reproduces their number;
- ``dtw``: a true DTW per lead, :func:`tslearn.metrics.dtw` (``sqrt`` of the smallest sum of squared
  differences along a warping path) of each unobserved lead of the posterior mean against the truth,
  averaged over those leads.

Artefact removal (the authors' ``plot_denoising.py``: ``rmse``, ``mae``, ``soft_dtw`` over every
coordinate, all 12 leads) plus the metrics of DeScoD-ECG (Li et al. 2023; ``metrics.py`` of
``HuayuLiArizona/Score-based-ECG-Denoising``), which that code computes per single-lead signal (axis 1
of ``[beats, 512, 1]``) and then averages over signals. Here they are computed per lead of a rhythm and
averaged over the 12 leads, which gives one number per rhythm (then averaged over patients):

- ``ssd``: sum over time of the squared differences (mV^2);
- ``max_abs``: maximum over time of the absolute difference (DeScoD's "MAD", a maximum there);
- ``prd``: ``100 sqrt(sum (x_hat - x)^2 / sum (x_hat - mean(x))^2)``, DeScoD's formula (the denominator
  holds the *estimate* minus the truth's mean). DeScoD takes ``mean(x)`` over the whole evaluation
  batch (``np.mean(y)`` of 50 beats), which makes the number depend on the batching; here it is the
  mean of the same lead of the same rhythm. ``denominator="truth"`` gives the textbook normalised PRD
  ``100 sqrt(sum (x_hat - x)^2 / sum (x - mean(x))^2)``;
- ``cosine``: cosine similarity over time (scikit-learn's ``cosine_similarity``; 0 when a vector is zero).

The DeScoD metrics are taken on the point estimate: the posterior mean (DeScoD's "multi-shot"
averaging of its outputs before scoring). Intervals over patients: :func:`summarise` with
:func:`ecgdiff.metrics.t_interval` (the ``scipy.stats.t`` interval of the talk's tables).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import leads as leadmod
from .metrics import t_interval

#: Soft-DTW smoothing of the talk's table (``SoftDTW(gamma=0.1)`` in the authors' scripts).
SOFT_DTW_GAMMA: float = 0.1
#: The authors divide the soft-DTW by 1024 (the padded length), although 1000 samples are scored.
DTW_NORMALISER: float = 1024.0
#: Valid samples of a 10-s rhythm at 100 Hz.
LENGTH: int = 1000
SEQUENCES = ("time", "lead")
PRD_DENOMINATORS = ("descod", "truth")


# --------------------------------------------------------------------------- leads and masks
def expand(x: np.ndarray, leads: Sequence[str] = leadmod.BASIS, length: int = LENGTH) -> np.ndarray:
    """``x [..., len(leads), T >= length]`` -> the 12 standard leads over the valid samples, float64."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[-1] < length:
        raise ValueError(f"signals have {x.shape[-1]} samples, fewer than the {length} valid samples")
    return leadmod.derive(x[..., :length], leads, leadmod.STANDARD_12)


@functools.lru_cache(maxsize=256)
def _determined(observed: tuple[str, ...]) -> np.ndarray:
    """Which of the 12 standard leads the ``observed`` leads determine exactly (bool ``[12]``)."""
    out = np.zeros(len(leadmod.STANDARD_12), dtype=bool)
    if not observed:
        return out
    for i, name in enumerate(leadmod.STANDARD_12):
        try:
            leadmod.derivation_matrix(observed, [name])
            out[i] = True
        except leadmod.LeadError:
            pass
    return out


def scored_mask(observed: np.ndarray, leads: Sequence[str] = leadmod.BASIS, length: int = LENGTH) -> np.ndarray:
    """The coordinates to score: 12-lead mask ``[..., 12, length]`` of the coordinates NOT known from the observation.

    ``observed [..., len(leads), T >= length]`` is True where a lead of ``leads`` is observed. At each time
    a standard lead counts as observed only when the observed leads determine it exactly (III needs both I
    and II; aVR with only I observed is unknown). The authors' ``get_12leads_mask`` combined the masks of
    I and II with OR instead, which marks aVR and aVL as observed when lead I alone is.
    """
    obs = np.asarray(observed, dtype=bool)
    if obs.shape[-2] != len(leads):
        raise ValueError(f"observation mask has {obs.shape[-2]} leads but {len(leads)} lead names were given")
    if obs.shape[-1] < length:
        raise ValueError(f"observation mask has {obs.shape[-1]} samples, fewer than the {length} valid samples")
    names = leadmod.canonical_all(leads)
    obs = obs[..., :length]
    flat = np.moveaxis(obs, -2, -1).reshape(-1, len(names))  # [(... * T), L_in]
    patterns, inverse = np.unique(flat, axis=0, return_inverse=True)
    det = np.stack([_determined(tuple(n for n, o in zip(names, p) if o)) for p in patterns])  # [K, 12]
    known = det[inverse.ravel()].reshape(*obs.shape[:-2], length, len(leadmod.STANDARD_12))
    return ~np.moveaxis(known, -1, -2)


def scored_leads(scored: np.ndarray) -> np.ndarray:
    """Indices of the leads of a ``[12, T]`` mask with at least one scored coordinate."""
    return np.flatnonzero(np.asarray(scored, dtype=bool).any(axis=-1))


def _check_scored(scored: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(scored, dtype=bool)
    if m.shape != shape:
        raise ValueError(f"scored mask has shape {m.shape}, expected {shape}")
    if not m.any():
        raise ValueError("no coordinate is scored (every coordinate is observed)")
    return m


# --------------------------------------------------------------------------- per-sample errors
def rmse_per_sample(true: np.ndarray, samples: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """``sqrt(mean((sample - true)^2))`` over the scored coordinates, for each of ``samples [n, L, T]``: ``[n]``."""
    true, samples = np.asarray(true, dtype=np.float64), np.asarray(samples, dtype=np.float64)
    m = _check_scored(scored, true.shape)
    if samples.shape[1:] != true.shape:
        raise ValueError(f"samples {samples.shape} do not match the truth {true.shape}")
    return np.sqrt(((samples[:, m] - true[m]) ** 2).mean(axis=1))


def mae_per_sample(true: np.ndarray, samples: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """``mean(|sample - true|)`` over the scored coordinates, for each of ``samples [n, L, T]``: ``[n]``."""
    true, samples = np.asarray(true, dtype=np.float64), np.asarray(samples, dtype=np.float64)
    m = _check_scored(scored, true.shape)
    if samples.shape[1:] != true.shape:
        raise ValueError(f"samples {samples.shape} do not match the truth {true.shape}")
    return np.abs(samples[:, m] - true[m]).mean(axis=1)


# --------------------------------------------------------------------------- DTW
def soft_dtw_score(
    true: np.ndarray,
    estimate: np.ndarray,
    lead_index: Sequence[int] | np.ndarray | None = None,
    gamma: float = SOFT_DTW_GAMMA,
    normaliser: float = DTW_NORMALISER,
    sequence: str = "time",
) -> float:
    """Soft-DTW of ``estimate [L, T]`` against ``true [L, T]`` on the leads ``lead_index`` taken together, / ``normaliser``.

    ``sequence="time"``: a series of ``T`` time points with one coordinate per lead; ``"lead"``: the
    authors' layout, a series of ``len(lead_index)`` points of ``T`` coordinates. See the module docstring.
    """
    from tslearn.metrics import soft_dtw

    if sequence not in SEQUENCES:
        raise ValueError(f"sequence must be one of {SEQUENCES}, got {sequence!r}")
    true, estimate = np.asarray(true, dtype=np.float64), np.asarray(estimate, dtype=np.float64)
    if true.shape != estimate.shape or true.ndim != 2:
        raise ValueError(f"soft_dtw_score: need two [L, T] arrays of one shape, got {true.shape}, {estimate.shape}")
    idx = np.arange(true.shape[0]) if lead_index is None else np.asarray(lead_index, dtype=np.int64)
    if idx.size == 0:
        raise ValueError("soft_dtw_score: no lead to compare")
    a, b = true[idx], estimate[idx]
    if sequence == "time":
        a, b = a.T, b.T
    return float(soft_dtw(a, b, gamma=gamma, be="numpy")) / float(normaliser)


def dtw_score(true: np.ndarray, estimate: np.ndarray, lead_index: Sequence[int] | np.ndarray | None = None) -> float:
    """Mean over the leads ``lead_index`` of :func:`tslearn.metrics.dtw` between ``estimate [L, T]`` and ``true [L, T]``."""
    from tslearn.metrics import dtw  # be="numpy": tslearn otherwise picks its backend from str(array), a slow repr

    true, estimate = np.asarray(true, dtype=np.float64), np.asarray(estimate, dtype=np.float64)
    if true.shape != estimate.shape or true.ndim != 2:
        raise ValueError(f"dtw_score: need two [L, T] arrays of one shape, got {true.shape}, {estimate.shape}")
    idx = np.arange(true.shape[0]) if lead_index is None else np.asarray(lead_index, dtype=np.int64)
    if idx.size == 0:
        raise ValueError("dtw_score: no lead to compare")
    return float(np.mean([dtw(true[i], estimate[i], be="numpy") for i in idx]))


# --------------------------------------------------------------------------- DeScoD-ECG's metrics (last axis = time)
def ssd(true: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Sum of squared distances over time (DeScoD's ``SSD``)."""
    return np.sum((np.asarray(estimate, dtype=np.float64) - np.asarray(true, dtype=np.float64)) ** 2, axis=-1)


def max_abs_deviation(true: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Maximum absolute deviation over time (DeScoD's ``MAD``)."""
    return np.max(np.abs(np.asarray(estimate, dtype=np.float64) - np.asarray(true, dtype=np.float64)), axis=-1)


def prd(true: np.ndarray, estimate: np.ndarray, denominator: str = "descod") -> np.ndarray:
    """Percentage root-mean-square difference over time (see the module docstring for the two denominators).

    A zero denominator gives ``inf`` (or NaN when the numerator is zero too).
    """
    if denominator not in PRD_DENOMINATORS:
        raise ValueError(f"denominator must be one of {PRD_DENOMINATORS}, got {denominator!r}")
    x = np.asarray(true, dtype=np.float64)
    xh = np.asarray(estimate, dtype=np.float64)
    num = np.sum((xh - x) ** 2, axis=-1)
    ref = xh if denominator == "descod" else x
    den = np.sum((ref - x.mean(axis=-1, keepdims=True)) ** 2, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100.0 * np.sqrt(num / den)


def cosine_similarity(true: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Cosine similarity over time (0 when either vector is zero, as scikit-learn's ``cosine_similarity``)."""
    x = np.asarray(true, dtype=np.float64)
    xh = np.asarray(estimate, dtype=np.float64)
    norms = np.linalg.norm(x, axis=-1) * np.linalg.norm(xh, axis=-1)
    dot = np.sum(x * xh, axis=-1)
    return np.divide(dot, norms, out=np.zeros_like(dot), where=norms > 0)


# --------------------------------------------------------------------------- per-patient tables
def _patients(p: int, patient_ids: Sequence | None) -> list:
    if patient_ids is None:
        return list(range(p))
    ids = list(patient_ids)
    if len(ids) != p:
        raise ValueError(f"{len(ids)} patient ids for {p} patients")
    return ids


def _check_inputs(true: np.ndarray, samples: np.ndarray) -> None:
    if true.ndim != 3 or samples.ndim != 4 or samples.shape[0] != true.shape[0] or samples.shape[2:] != true.shape[1:]:
        raise ValueError(
            f"need true [P, L, T] and samples [P, n, L, T] (a point estimate as samples[:, None]), "
            f"got {true.shape}, {samples.shape}"
        )


def reconstruction_scores(
    true: np.ndarray,
    samples: np.ndarray,
    observed: np.ndarray | None = None,
    leads: Sequence[str] = leadmod.BASIS,
    length: int = LENGTH,
    gamma: float = SOFT_DTW_GAMMA,
    normaliser: float = DTW_NORMALISER,
    sequence: str = "time",
    patient_ids: Sequence | None = None,
) -> pd.DataFrame:
    """One row per patient: ``rmse``, ``mae`` (means over samples), ``soft_dtw`` and ``dtw`` (posterior mean).

    ``true [P, len(leads), T]`` and ``samples [P, n, len(leads), T]`` in the lead order ``leads`` (``T >=
    length``: padding allowed, never scored); ``observed`` (bool ``[len(leads), T]`` for every patient or
    ``[P, len(leads), T]``, True = observed) gives the coordinates left out of the scores
    (:func:`scored_mask`); ``None`` scores every coordinate (artefact removal). The DTW metrics use the
    leads with at least one scored coordinate, over all valid samples.
    """
    true, samples = np.asarray(true), np.asarray(samples)
    _check_inputs(true, samples)
    p = true.shape[0]
    ids = _patients(p, patient_ids)
    if observed is None:
        scored_all = np.ones((len(leadmod.STANDARD_12), length), dtype=bool)
    else:
        scored_all = scored_mask(observed, leads, length)
        if scored_all.ndim == 3 and scored_all.shape[0] != p:
            raise ValueError(f"observation masks for {scored_all.shape[0]} patients, {p} patients given")
    rows = []
    for i in range(p):
        x = expand(true[i], leads, length)
        xs = expand(samples[i], leads, length)
        m = scored_all if scored_all.ndim == 2 else scored_all[i]
        if not m.any():
            raise ValueError(f"patient {ids[i]}: every coordinate is observed, nothing to score")
        mean = xs.mean(axis=0)
        lead_idx = scored_leads(m)
        rows.append(
            {
                "patient": ids[i],
                "rmse": float(rmse_per_sample(x, xs, m).mean()),
                "mae": float(mae_per_sample(x, xs, m).mean()),
                "soft_dtw": soft_dtw_score(x, mean, lead_idx, gamma, normaliser, sequence),
                "dtw": dtw_score(x, mean, lead_idx),
                "n_samples": int(xs.shape[0]),
                "n_scored": int(m.sum()),
            }
        )
    return pd.DataFrame(rows)


def descod_scores(
    true: np.ndarray,
    estimate: np.ndarray,
    leads: Sequence[str] = leadmod.BASIS,
    length: int = LENGTH,
    prd_denominator: str = "descod",
    patient_ids: Sequence | None = None,
) -> pd.DataFrame:
    """One row per rhythm: DeScoD-ECG's ``ssd``, ``max_abs``, ``prd``, ``cosine``, per lead then averaged over 12 leads.

    ``true`` and ``estimate`` are ``[P, len(leads), T]`` (every coordinate scored).
    """
    true, estimate = np.asarray(true), np.asarray(estimate)
    if true.shape != estimate.shape or true.ndim != 3:
        raise ValueError(
            f"descod_scores: need true and estimate [P, L, T] of one shape, got {true.shape}, {estimate.shape}"
        )
    x, xh = expand(true, leads, length), expand(estimate, leads, length)
    return pd.DataFrame(
        {
            "patient": _patients(true.shape[0], patient_ids),
            "ssd": ssd(x, xh).mean(axis=-1),
            "max_abs": max_abs_deviation(x, xh).mean(axis=-1),
            "prd": prd(x, xh, prd_denominator).mean(axis=-1),
            "cosine": cosine_similarity(x, xh).mean(axis=-1),
        }
    )


def denoising_scores(
    true: np.ndarray,
    samples: np.ndarray,
    leads: Sequence[str] = leadmod.BASIS,
    length: int = LENGTH,
    gamma: float = SOFT_DTW_GAMMA,
    normaliser: float = DTW_NORMALISER,
    sequence: str = "time",
    prd_denominator: str = "descod",
    patient_ids: Sequence | None = None,
) -> pd.DataFrame:
    """Artefact-removal scores per patient: :func:`reconstruction_scores` over every coordinate and the
    DeScoD metrics (:func:`descod_scores`) of the posterior mean. ``samples`` is ``[P, n, len(leads), T]``."""
    true, samples = np.asarray(true), np.asarray(samples)
    _check_inputs(true, samples)
    rec = reconstruction_scores(
        true, samples, None, leads, length, gamma, normaliser, sequence, patient_ids=patient_ids
    )
    des = descod_scores(true, samples.mean(axis=1), leads, length, prd_denominator, patient_ids=patient_ids)
    return pd.concat([rec, des.drop(columns="patient")], axis=1)


def summarise(scores: pd.DataFrame, columns: Sequence[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """Mean and t-interval over patients of each metric column: ``metric, mean, low, high, half_width, level, n``."""
    cols = (
        list(columns)
        if columns is not None
        else [c for c in ("rmse", "mae", "soft_dtw", "dtw", "ssd", "max_abs", "prd", "cosine") if c in scores.columns]
    )
    rows = []
    for c in cols:
        iv = t_interval(scores[c].to_numpy(), level)
        rows.append(
            {"metric": c, "mean": iv.estimate, "low": iv.low, "high": iv.high, "half_width": iv.half_width}
            | {"level": level, "n": iv.n}
        )
    return pd.DataFrame(rows)


__all__ = [
    "SOFT_DTW_GAMMA",
    "DTW_NORMALISER",
    "LENGTH",
    "expand",
    "scored_mask",
    "scored_leads",
    "rmse_per_sample",
    "mae_per_sample",
    "soft_dtw_score",
    "dtw_score",
    "ssd",
    "max_abs_deviation",
    "prd",
    "cosine_similarity",
    "reconstruction_scores",
    "descod_scores",
    "denoising_scores",
    "summarise",
]
