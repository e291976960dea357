"""The millivolt scale of a lead that was not recorded, inferred from the leads that were.

Beats are normalised lead by lead (:func:`ecgdiff.data.beats.normalise`): each lead of a beat is divided by its
maximum absolute value during the QRS, its *scale* ``s_l`` (mV), kept with the beat (``scale_<lead>`` in the beat
database). A posterior sample of a normalised beat is therefore in millivolts only once multiplied by each
lead's scale. An observed lead's scale is measured on the recording; a reconstructed lead's is not: it is
inferred here.

Model: on the training beats, the log-scales of the target leads are regressed linearly on the log-scales of the
observed leads (ordinary least squares with an intercept, one regression per set of observed leads)::

    log s_target = a + B log s_observed + e,        e ~ N(0, Sigma)   (Sigma: the residual covariance)

QRS amplitudes across leads are products of the heart's dipole strength, its orientation and the torso's
conduction, so their logarithms are close to linear in each other; the residual spread ``Sigma`` is what the
observed leads leave unexplained (orientation, electrode placement), and is reported. The point estimate of a
scale is ``exp(a + B log s_observed)`` (the median of the log-normal predictive law); :meth:`ScaleModel.sample`
draws from the predictive law to carry the scale's uncertainty into millivolt posterior samples.

Training log-scales are computed in every standard lead the beats determine (:class:`LeadScales`; all 12 for
the paper's lead set): the beats in millivolts
(``beats * scale``) are expanded with :func:`ecgdiff.leads.derive` and each lead's QRS maximum is taken over the
normalisation window of the database (``qrs_window_samples``), exactly as the beat pipeline measures the scale of
a recorded lead, so any observed lead (lead I included, which the beat database does not hold) has its
training values. ``docs/cli.md`` reports the error of the inferred scales on held-out LUDB patients
(``benchmarks/scale_model.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import leads as L

#: Training beats used at most (a seeded random subset): the regression has a few coefficients.
MAX_BEATS: int = 20000


@dataclass(frozen=True)
class LeadScales:
    """Log QRS scales ``[N, K]`` (ln mV) of a set of beats in the leads ``leads``: every standard lead that the beats'
    leads determine (all 12 for the paper's lead set)."""

    log_scales: np.ndarray
    leads: tuple[str, ...] = L.STANDARD_12
    patient_id: np.ndarray | None = None
    source: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_beats(
        cls,
        beats: np.ndarray,
        scales: np.ndarray,
        beat_leads: Sequence[str],
        qrs: slice,
        patient_id: np.ndarray | None = None,
        chunk: int = 2048,
        source: dict[str, Any] | None = None,
    ) -> LeadScales:
        """From normalised beats ``[N, L, T]``, their scales ``[N, L]`` (mV) and the QRS window ``qrs`` (samples).

        Beats with a zero or non-finite scale in any lead are dropped (their log is undefined).
        """
        beats = np.asarray(beats)
        scales = np.asarray(scales, dtype=np.float64)
        if beats.shape[:2] != scales.shape:
            raise ValueError(f"beats {beats.shape} and scales {scales.shape} disagree")
        names = tuple(n for n in L.STANDARD_12 if L.derivable(beat_leads, n))
        t = L.derivation_matrix(beat_leads, names)
        out = np.empty((len(beats), len(names)))
        for a in range(0, len(beats), chunk):
            mv = np.asarray(beats[a : a + chunk], dtype=np.float64)[..., qrs] * scales[a : a + chunk, :, None]
            out[a : a + chunk] = np.abs(np.einsum("oi,nit->not", t, mv)).max(axis=-1)
        with np.errstate(divide="ignore"):
            logs = np.log(out)
        ok = np.all(np.isfinite(logs), axis=1)
        pid = None if patient_id is None else np.asarray(patient_id)[ok]
        return cls(logs[ok], names, pid, dict(source or {}, n_dropped=int((~ok).sum())))

    @classmethod
    def from_database(
        cls, db: Any, split: str = "train", max_beats: int | None = MAX_BEATS, seed: int = 0
    ) -> LeadScales:
        """The beats of ``split`` of a beat database (:class:`ecgdiff.data.dataset.BeatDatabase`), at most
        ``max_beats`` of them (a seeded random subset)."""
        mask = (db.meta["split"] == split).to_numpy()
        idx = np.flatnonzero(mask)
        if not len(idx):
            raise ValueError(f"beat database {db.path}: no beat in split {split!r} to fit lead scales on")
        if max_beats is not None and len(idx) > max_beats:
            idx = np.sort(np.random.default_rng(seed).choice(idx, int(max_beats), replace=False))
        meta = db.meta.iloc[idx]
        return cls.from_beats(
            db.beats[idx],
            db.scales(meta),
            db.leads,
            db.geometry.qrs_slice(),
            meta["patient_id"].astype(str).to_numpy(),
            source={"database": str(db.path), "data_hash": db.manifest.get("data_hash"), "split": split},
        )

    def __len__(self) -> int:
        return len(self.log_scales)

    def columns(self, names: Sequence[str]) -> np.ndarray:
        """Log-scales ``[N, len(names)]`` of the leads ``names``."""
        missing = [n for n in L.canonical_all(names) if n not in self.leads]
        if missing:
            raise L.LeadError(f"the training beats do not determine lead(s) {missing} (leads {list(self.leads)})")
        return self.log_scales[:, L.indices(names, self.leads)]

    def subset(self, mask: np.ndarray) -> LeadScales:
        pid = None if self.patient_id is None else self.patient_id[mask]
        return LeadScales(self.log_scales[mask], self.leads, pid, self.source)

    def fit(self, features: Sequence[str], targets: Sequence[str]) -> ScaleModel:
        """The regression of the targets' log-scales on the features' (:class:`ScaleModel`)."""
        return ScaleModel.fit(self, features, targets)


@dataclass(frozen=True)
class ScaleModel:
    """``log s_targets = coef[0] + log s_features @ coef[1:] + e``, ``e ~ N(0, residual_cov)``."""

    features: tuple[str, ...]
    targets: tuple[str, ...]
    coef: np.ndarray  # [1 + F, K]
    residual_cov: np.ndarray  # [K, K]
    n_beats: int

    @classmethod
    def fit(cls, data: LeadScales, features: Sequence[str], targets: Sequence[str]) -> ScaleModel:
        """Ordinary least squares (``numpy.linalg.lstsq``) on the beats of ``data``; the residual covariance has
        ``N - F - 1`` degrees of freedom (0 when there are too few beats to estimate it)."""
        features, targets = L.canonical_all(features), L.canonical_all(targets)
        if not targets:
            raise ValueError("ScaleModel: no target lead")
        n = len(data)
        if n < 2:
            raise ValueError(f"ScaleModel: {n} beat(s) to fit on")
        x = np.column_stack([np.ones(n), data.columns(features)]) if features else np.ones((n, 1))
        y = data.columns(targets)
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid = y - x @ coef
        dof = n - x.shape[1]
        cov = resid.T @ resid / dof if dof > 0 else np.zeros((len(targets), len(targets)))
        return cls(features, targets, coef, np.atleast_2d(cov), n)

    @property
    def residual_sd(self) -> np.ndarray:
        """Standard deviation of each target's log-scale residual (``exp`` of it: the typical factor of error)."""
        return np.sqrt(np.diag(self.residual_cov))

    def predict_log(self, feature_scales: np.ndarray) -> np.ndarray:
        """Predicted log-scales ``[N, K]`` from the features' scales ``[N, F]`` (mV, not logs)."""
        f = np.atleast_2d(np.asarray(feature_scales, dtype=np.float64))
        if f.shape[1] != len(self.features):
            raise ValueError(f"expected {len(self.features)} feature scales ({self.features}), got {f.shape[1]}")
        if np.any(~(f > 0)):
            raise ValueError("feature scales must be positive millivolt values")
        return self.coef[0] + np.log(f) @ self.coef[1:]

    def predict(self, feature_scales: np.ndarray) -> np.ndarray:
        """Point estimates ``[N, K]`` (mV): the median ``exp(predict_log)`` of the predictive law."""
        return np.exp(self.predict_log(feature_scales))

    def interval(self, feature_scales: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Central predictive interval ``(low, high)`` ``[N, K]`` (mV) at ``level`` (parameter uncertainty ignored)."""
        from scipy.stats import norm

        mu = self.predict_log(feature_scales)
        h = norm.ppf(0.5 + level / 2) * self.residual_sd
        return np.exp(mu - h), np.exp(mu + h)

    def sample(self, feature_scales: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws ``[N, n, K]`` (mV) from the log-normal predictive law of each row."""
        mu = self.predict_log(feature_scales)
        w, v = np.linalg.eigh((self.residual_cov + self.residual_cov.T) / 2)
        root = v * np.sqrt(np.clip(w, 0, None))
        z = rng.standard_normal((mu.shape[0], int(n), len(self.targets)))
        return np.exp(mu[:, None, :] + z @ root.T)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "targets": list(self.targets),
            "intercept": self.coef[0].tolist(),
            "slopes": self.coef[1:].tolist(),
            "residual_sd": self.residual_sd.tolist(),
            "n_beats": self.n_beats,
        }


def evaluate(model: ScaleModel, data: LeadScales) -> dict[str, Any]:
    """Errors of the inferred scales on held-out beats ``data`` (true scales known), per target lead.

    ``median_abs_rel_error``: median of ``|s_hat / s - 1|``; ``rms_log_error``: root-mean-square of
    ``log s_hat - log s``; ``coverage_95``: fraction of true scales inside the 95 % predictive interval.
    """
    true = np.exp(data.columns(model.targets))
    feats = np.exp(data.columns(model.features)) if model.features else np.ones((len(data), 0))
    pred = model.predict(feats)
    lo, hi = model.interval(feats)
    rel = np.abs(pred / true - 1)
    out: dict[str, Any] = {"n_beats": len(data), "features": list(model.features), "leads": {}}
    for k, lead in enumerate(model.targets):
        out["leads"][lead] = {
            "median_abs_rel_error": float(np.median(rel[:, k])),
            "rms_log_error": float(np.sqrt(np.mean((np.log(pred[:, k]) - np.log(true[:, k])) ** 2))),
            "coverage_95": float(np.mean((true[:, k] >= lo[:, k]) & (true[:, k] <= hi[:, k]))),
        }
    out["median_abs_rel_error"] = float(np.median(rel))
    return out
