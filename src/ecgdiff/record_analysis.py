"""The paper's beat tasks applied to one recording: noise levels and denoised beats, the MI anomaly score with ST
deviations, QT from the posterior, and what the beat pipeline kept of the record.

Each function takes a :class:`~ecgdiff.data.records.Record` (millivolts) and a beat prior and runs the task's own
code on every beat of the record (beats from :func:`ecgdiff.data.beats.extract_beats` in the prior's leads,
which the record must determine), batched through the sampler (:class:`ecgdiff.reconstruct.Sampling`):

- :func:`denoise_record` (paper 3.3.1, algorithm 2): every sample of every lead observed; the per-lead noise
  levels estimated by :class:`ecgdiff.inverse.NoiseEstimation` (Monte-Carlo EM over MCGdiff's SMC), then the
  posterior given them: the denoised beats, in millivolts (each lead's measured scale).
- :func:`anomaly_record` (paper 3.3.4, :mod:`ecgdiff.tasks.beat.anomaly`): the augmented limb leads observed, the
  rescaled Mahalanobis distance (:func:`ecgdiff.metrics.rescaled_mahalanobis`) of the real V1-V6 from their
  posterior, averaged over the six leads, per beat; the ST deviation at J + 60 ms, real beat minus posterior mean,
  in millivolts (both at the record's own precordial scales: the record has these leads); where the record's
  distance (the median over its beats) falls in a reference distribution of healthy patients' distances
  (:func:`reference_from_shards`: the workflow's anomaly shards, control group; or
  :func:`reference_from_database`: computed here on the beat database's healthy test patients).
- :func:`qt_record` (paper 3.3.3, :mod:`ecgdiff.tasks.beat.qt_rr`): every lead observed up to the end of the QRS,
  the T wave generated at the beat's own RR; the QT of each posterior sample (:func:`ecgdiff.qt.measure_qt`) on the
  T-wave lead of the real beat; optionally the QT-RR laws of table 2 fitted to the QT of one beat's posterior
  over a grid of RR values.
- :func:`record_info`: leads, rate, duration, units, age and sex, and which beats the pipeline kept and why it
  dropped the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import leads as L
from . import metrics, progress
from . import qt as qtlib
from .data import beats as beatlib
from .data.dataset import BeatGeometry
from .data.records import Record, RecordError
from .diffusion import conditioning
from .reconstruct import (
    PAPER_SAMPLING,
    Sampling,
    beat_params,
    condition,
    record_signal,
    require_age_sex,
    stitch,
    summarise_samples,
)
from .tasks.beat import anomaly as anomaly_task
from .tasks.beat import qt_rr as qt_task
from .tasks.posterior import LinearObservation, batches, sample_with_estimated_noise

#: The QT-RR grid of ``qt_record`` (ms; the workflow's ``tasks.qt_rr.rr_ms``).
RR_GRID_MS: tuple[float, ...] = (600.0, 750.0, 900.0, 1050.0, 1200.0)


def prior_beats(record: Record, prior: Any, params: beatlib.BeatParams) -> beatlib.RecordBeats:
    """The record's beats in the prior's leads (:func:`ecgdiff.data.beats.extract_beats`)."""
    missing = [n for n in prior.leads if not L.derivable(record.leads, n)]
    if missing:
        raise RecordError(
            record.record_id,
            f"the prior's lead(s) {missing} are not determined by the recorded leads {list(record.leads)}",
        )
    return beatlib.extract_beats(record, prior.leads, params)


def geometry(prior: Any, params: beatlib.BeatParams) -> BeatGeometry:
    return BeatGeometry(params.fs, params.before, params.length, tuple(prior.leads), params.qrs_window)


# ----------------------------------------------------------------------------- denoising
@dataclass
class Denoised:
    """Denoised beats of one record (millivolts) and the estimated noise levels."""

    record_id: str
    fs: float
    leads: tuple[str, ...]
    r_index: np.ndarray  # [B]
    rr_ms: np.ndarray  # [B]
    before: int
    observed: np.ndarray  # [B, L, T] the recorded beats (mV)
    mean: np.ndarray  # [B, L, T] posterior mean (mV)
    low: np.ndarray
    high: np.ndarray
    sigma: np.ndarray  # [B, L] estimated noise std (normalised units)
    sigma_mv: np.ndarray  # [B, L] the same in millivolts (times each lead's scale)
    scales: np.ndarray  # [B, L] (mV)
    stitched_mean: np.ndarray  # [L, N]
    stitched_observed: np.ndarray  # [L, N]
    covered: np.ndarray  # [N]
    rejects: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "beats": int(len(self.r_index)),
            "median_noise_sd_mV": {n: float(np.median(self.sigma_mv[:, j])) for j, n in enumerate(self.leads)},
            "median_noise_sd_normalised": {n: float(np.median(self.sigma[:, j])) for j, n in enumerate(self.leads)},
            "rms_correction_mV": {
                n: float(np.sqrt(np.mean((self.mean[:, j] - self.observed[:, j]) ** 2)))
                for j, n in enumerate(self.leads)
            },
            "settings": self.settings,
        }


def denoise_record(
    record: Record,
    prior: Any,
    sampling: Sampling = PAPER_SAMPLING,
    params: beatlib.BeatParams | None = None,
    show_progress: bool = True,
) -> Denoised:
    """Noise levels per lead and beat (algorithm 2) and the denoised beats; see the module docstring."""
    params = params or beat_params(prior)
    rb = prior_beats(record, prior, params)
    cond = condition(prior, record, rb.rr_ms)
    B, L_, T = rb.beats.shape
    obs = LinearObservation.from_mask(np.ones((L_, T), dtype=bool))
    provider, gen = sampling.provider(prior), sampling.generator(prior)
    mean, low, high = (np.zeros((B, L_, T)) for _ in range(3))
    sigma = np.zeros((B, L_))
    parts = batches(B, sampling.batch_beats)
    with progress.bar(
        total=len(parts), desc=f"{record.record_id}: denoise", unit="batch", disable=not show_progress
    ) as bar:
        for b in parts:
            x = rb.beats[b].astype(np.float64)
            sig = None if sampling.sigma is None else np.full((len(x), L_), float(sampling.sigma))
            smp, sigma[b] = sample_with_estimated_noise(
                provider,
                None if cond is None else cond[b],
                obs.apply(x),
                obs,
                sampling.n_samples,
                gen,
                sigma_groups=sig,
            )
            mv = smp.astype(np.float64) * rb.scales[b][:, None, :, None]
            mean[b], low[b], high[b] = summarise_samples(mv, sampling.band)
            bar.update(1)
    observed = rb.beats * rb.scales[..., None]
    sig_full = record_signal(record, prior.leads, params)
    ramp = int(round(100.0 * params.fs / 1000.0))
    st_mean, covered = stitch(mean, rb.r_index, params.before, sig_full.shape[1], ramp)
    return Denoised(
        record_id=record.record_id,
        fs=params.fs,
        leads=tuple(prior.leads),
        r_index=rb.r_index,
        rr_ms=rb.rr_ms,
        before=params.before,
        observed=observed.astype(np.float64),
        mean=mean,
        low=low,
        high=high,
        sigma=sigma,
        sigma_mv=sigma * rb.scales,
        scales=rb.scales.astype(np.float64),
        stitched_mean=st_mean,
        stitched_observed=sig_full,
        covered=covered,
        rejects=list(rb.rejects),
        settings=sampling.describe(),
    )


# ----------------------------------------------------------------------------- anomaly
@dataclass(frozen=True)
class AnomalySettings:
    """The anomaly score's settings (paper 3.3.4; the workflow's ``tasks.anomaly`` defaults)."""

    observed: tuple[str, ...] = ("aVL", "aVR", "aVF")  # paper: the augmented limb leads
    scored: tuple[str, ...] = L.PRECORDIAL  # paper: V1-V6
    st_ms: float = 60.0  # ST deviation at J + 60 ms
    covariance: str = "ledoit_wolf"  # the posterior covariance estimator (n_samples < 176 dimensions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "observed", L.canonical_all(self.observed))
        object.__setattr__(self, "scored", L.canonical_all(self.scored))
        if self.covariance not in ("ledoit_wolf", "empirical"):
            raise ValueError(f"covariance must be ledoit_wolf or empirical, got {self.covariance!r}")


@dataclass
class Reference:
    """A reference distribution of healthy patients' anomaly distances and where it came from."""

    distances: np.ndarray
    source: str

    def percentile(self, value: float) -> float:
        """Percentage of the reference at or below ``value``."""
        return float(100.0 * np.mean(self.distances <= value)) if len(self.distances) else float("nan")


@dataclass
class Anomaly:
    """The anomaly score of one record's beats (amplitudes in millivolts)."""

    record_id: str
    fs: float
    before: int
    settings: AnomalySettings
    r_index: np.ndarray  # [B]
    distance: np.ndarray  # [B, K] per scored lead
    st_index: np.ndarray  # [B] ST sample (-1: none)
    st_mv: np.ndarray  # [B, K]
    true_mv: np.ndarray  # [B, K, T] the scored leads
    mean_mv: np.ndarray  # [B, K, T] their posterior mean
    sd_mv: np.ndarray  # [B, K, T] and standard deviation
    sigma: np.ndarray  # [B, O] noise levels of the observed leads (normalised)
    reference: Reference | None = None
    sampling: dict[str, Any] = field(default_factory=dict)

    @property
    def beat_distance(self) -> np.ndarray:
        """Mean over the scored leads per beat (the task's score of one beat)."""
        return self.distance.mean(axis=1)

    @property
    def record_distance(self) -> float:
        """The record's score: the median over its beats."""
        return float(np.median(self.beat_distance))

    @property
    def example(self) -> int:
        """The beat whose distance is the median's (drawn in the figure)."""
        d = self.beat_distance
        return int(np.argmin(np.abs(d - np.median(d))))

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "record_id": self.record_id,
            "beats": int(len(self.r_index)),
            "observed": list(self.settings.observed),
            "scored": list(self.settings.scored),
            "distance_median_over_beats": self.record_distance,
            "distance_per_beat": [float(v) for v in self.beat_distance],
            "st_deviation_mV_median_over_beats": {
                n: float(np.nanmedian(self.st_mv[:, k])) if np.isfinite(self.st_mv[:, k]).any() else None
                for k, n in enumerate(self.settings.scored)
            },
            "st_ms_after_J": self.settings.st_ms,
            "sampling": self.sampling,
        }
        if self.reference is not None:
            ref = self.reference
            out["reference"] = {
                "source": ref.source,
                "n_patients": int(len(ref.distances)),
                "median": float(np.median(ref.distances)) if len(ref.distances) else None,
                "percentile_of_record": ref.percentile(self.record_distance),
                "percentile_of_each_beat": [ref.percentile(v) for v in self.beat_distance],
            }
        return out


def _anomaly_scores(
    prior: Any,
    x: np.ndarray,
    cond: np.ndarray | None,
    s: AnomalySettings,
    sampling: Sampling,
    desc: str,
    show_progress: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distances ``[P, K]``, posterior means and sds ``[P, L, T]`` and noise levels ``[P, O]`` of normalised beats."""
    P, L_, T = x.shape
    obs = LinearObservation.of_leads(prior.leads, s.observed, T)
    scored = L.indices(s.scored, prior.leads)
    provider, gen = sampling.provider(prior), sampling.generator(prior)
    dist = np.zeros((P, len(scored)))
    mean, sd = np.zeros((P, L_, T)), np.zeros((P, L_, T))
    sigma = np.zeros((P, obs.n_groups))
    parts = batches(P, sampling.batch_beats)
    with progress.bar(total=len(parts), desc=desc, unit="batch", disable=not show_progress) as bar:
        for b in parts:
            sig = None if sampling.sigma is None else np.full((len(x[b]), obs.n_groups), float(sampling.sigma))
            smp, sigma[b] = sample_with_estimated_noise(
                provider,
                None if cond is None else cond[b],
                obs.apply(x[b]),
                obs,
                sampling.n_samples,
                gen,
                sigma_groups=sig,
            )
            for i, p in enumerate(range(P)[b]):
                dist[p] = metrics.rescaled_mahalanobis(x[p, scored], smp[i][:, scored], s.covariance)
            mean[b], sd[b] = smp.mean(axis=1), smp.std(axis=1)
            bar.update(1)
    return dist, mean, sd, sigma


def anomaly_record(
    record: Record,
    prior: Any,
    sampling: Sampling = PAPER_SAMPLING,
    settings: AnomalySettings = AnomalySettings(),
    reference: Reference | None = None,
    params: beatlib.BeatParams | None = None,
    show_progress: bool = True,
) -> Anomaly:
    """The anomaly distance and ST deviations of every beat of ``record``; see the module docstring."""
    params = params or beat_params(prior)
    rb = prior_beats(record, prior, params)
    cond = condition(prior, record, rb.rr_ms)
    x = rb.beats.astype(np.float64)
    dist, mean, sd, sigma = _anomaly_scores(
        prior, x, cond, settings, sampling, f"{record.record_id}: anomaly", show_progress
    )
    geo = geometry(prior, params)
    scored = L.indices(settings.scored, prior.leads)
    _, st_idx, st_dev = anomaly_task.st_deviation(x, mean, geo, scored, settings.st_ms)
    sc = rb.scales[:, scored].astype(np.float64)
    return Anomaly(
        record_id=record.record_id,
        fs=params.fs,
        before=params.before,
        settings=settings,
        r_index=rb.r_index,
        distance=dist,
        st_index=st_idx,
        st_mv=st_dev * sc,
        true_mv=x[:, scored] * sc[..., None],
        mean_mv=mean[:, scored] * sc[..., None],
        sd_mv=sd[:, scored] * sc[..., None],
        sigma=sigma,
        reference=reference,
        sampling=sampling.describe(),
    )


def reference_from_shards(folder: str | Path) -> Reference:
    """The control group's distances in the workflow's anomaly shards (``results/<run>/tasks/anomaly/shard_*.npz``:
    healthy test patients, one beat each, mean over V1-V6)."""
    from .tasks.shards import concat, load_shards

    paths = sorted(Path(folder).glob("shard_*.npz"))
    if not paths:
        raise FileNotFoundError(f"no anomaly shard (shard_*.npz) in {folder}")
    shards = load_shards(paths)
    group = concat(shards, "group")
    dist = concat(shards, "distance").mean(axis=1)
    n_samples = sorted({int(s.meta.get("n_samples", 0)) for s in shards} - {0})
    return Reference(
        dist[group == "control"],
        f"anomaly task shards {folder} (control group: healthy test patients, one beat each"
        + (f", {n_samples} samples" if n_samples else "")
        + ")",
    )


def reference_from_database(
    db: Any,
    prior: Any,
    sampling: Sampling,
    settings: AnomalySettings = AnomalySettings(),
    n_patients: int | None = 50,
    split: str = "test",
    show_progress: bool = True,
) -> Reference:
    """Distances of ``n_patients`` healthy patients of ``split`` of the beat database (one seeded beat each), computed
    with the same sampler and settings as the record's."""
    x, meta = db.patients(split, sampling.seed, n_patients)
    cond = conditioning.encode_meta(meta) if getattr(prior, "conditional", True) else None
    dist, *_ = _anomaly_scores(prior, x.astype(np.float64), cond, settings, sampling, "reference", show_progress)
    return Reference(
        dist.mean(axis=1),
        f"beat database {db.path}: {len(meta)} healthy {split} patients, one beat each, same sampler settings",
    )


# ----------------------------------------------------------------------------- QT
@dataclass
class QTResult:
    """QT of each beat: measured on the real beat and on its posterior given the QRS, at the beat's RR."""

    record_id: str
    fs: float
    r_index: np.ndarray  # [B]
    rr_ms: np.ndarray  # [B]
    qt_real_ms: np.ndarray  # [B] (NaN: not measurable)
    qt_ms: np.ndarray  # [B, n] posterior samples (NaN: not measurable)
    excluded: list[str]  # [B] why a beat has no posterior QT ("" when it has)
    failures: dict[str, int]
    rr_grid_ms: np.ndarray | None = None
    qt_grid_ms: np.ndarray | None = None  # [G, n] the grid beat's posterior QT at each RR of the grid
    grid_beat: int | None = None
    fits: dict[str, dict[str, Any]] = field(default_factory=dict)
    sampling: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        per_beat = []
        for b in range(len(self.r_index)):
            v = self.qt_ms[b][np.isfinite(self.qt_ms[b])]
            per_beat.append(
                {
                    "beat": b,
                    "r_s": round(float(self.r_index[b]) / self.fs, 3),
                    "rr_ms": float(self.rr_ms[b]),
                    "qt_real_ms": None if not np.isfinite(self.qt_real_ms[b]) else float(self.qt_real_ms[b]),
                    "qt_posterior_mean_ms": float(v.mean()) if len(v) else None,
                    "qt_posterior_sd_ms": float(v.std()) if len(v) > 1 else None,
                    "measured_samples": int(len(v)),
                    "excluded": self.excluded[b] or None,
                }
            )
        means = [r["qt_posterior_mean_ms"] for r in per_beat if r["qt_posterior_mean_ms"] is not None]
        out = {
            "record_id": self.record_id,
            "beats": len(per_beat),
            "qt_posterior_median_ms": float(np.median(means)) if means else None,
            "qt_real_median_ms": float(np.nanmedian(self.qt_real_ms)) if np.isfinite(self.qt_real_ms).any() else None,
            "per_beat": per_beat,
            "failures": self.failures,
            "sampling": self.sampling,
        }
        if self.fits:
            out["qt_rr_laws"] = {"beat": self.grid_beat, "rr_ms": list(map(float, self.rr_grid_ms)), "fits": self.fits}
        return out


def qt_record(
    record: Record,
    prior: Any,
    sampling: Sampling = PAPER_SAMPLING,
    rr_grid_ms: Sequence[float] | None = RR_GRID_MS,
    params: beatlib.BeatParams | None = None,
    show_progress: bool = True,
) -> QTResult:
    """QT per beat from the posterior at the beat's own RR, and the QT-RR laws of the median-RR beat over
    ``rr_grid_ms`` (None: no grid); see the module docstring."""
    params = params or beat_params(prior)
    if getattr(prior, "conditional", True):
        require_age_sex(record)
    rb = prior_beats(record, prior, params)
    geo = geometry(prior, params)
    x = rb.beats.astype(np.float64)
    B, L_, T = x.shape
    n = sampling.n_samples
    q_on, q_off = np.full(B, np.nan), np.full(B, np.nan)
    t_lead = np.full(B, -1)
    qt_real = np.full(B, np.nan)
    excluded = [""] * B
    for b in range(B):
        try:
            q_on[b], q_off[b], t_lead[b], qt_real[b] = qt_task.reference_points(x[b], geo)
        except qtlib.QTError as err:
            excluded[b] = f"real beat: {err}"
    ok = np.array([not e for e in excluded])
    ends = np.where(ok, np.ceil(np.nan_to_num(q_off)), -1).astype(int)
    provider, gen = sampling.provider(prior), sampling.generator(prior)
    qt_ms = np.full((B, n), np.nan)
    failures: dict[str, int] = {}
    groups = [np.flatnonzero(ends == e) for e in np.unique(ends[ok])]
    chunks = [(g, b) for g in groups for b in batches(len(g), sampling.batch_beats)]
    grid = np.asarray(rr_grid_ms, dtype=float) if rr_grid_ms is not None and ok.any() else None
    grid_beat = int(np.flatnonzero(ok)[np.argsort(rb.rr_ms[ok])[ok.sum() // 2]]) if grid is not None else None
    total = len(chunks) + (1 if grid is not None else 0)

    def posterior(idx: np.ndarray, rr: np.ndarray) -> np.ndarray:
        """Samples ``[len(idx) * len(rr), n, L, T]`` (beat-major, then RR) given each beat's observed QRS."""
        obs = LinearObservation.of_leads(prior.leads, prior.leads, T, slice(0, int(ends[idx[0]]) + 1))
        y = obs.apply(x[idx])
        own = condition(prior, record, rb.rr_ms[idx])
        sig = (
            provider.estimate_sigma(own, y, obs, gen)
            if sampling.sigma is None
            else np.full((len(idx), obs.n_groups), float(sampling.sigma))
        )
        G = len(rr)
        cond = condition(prior, record, np.tile(rr, len(idx))) if own is not None else None
        smp, _ = sample_with_estimated_noise(
            provider, cond, np.repeat(y, G, axis=0), obs, n, gen, sigma_groups=np.repeat(sig, G, axis=0)
        )
        return smp

    with progress.bar(total=total, desc=f"{record.record_id}: QT", unit="batch", disable=not show_progress) as bar:
        for g, b in chunks:
            idx = g[b]
            # each beat at its own RR: the rows of one call share an observed length (its QRS end)
            obs = LinearObservation.of_leads(prior.leads, prior.leads, T, slice(0, int(ends[idx[0]]) + 1))
            y = obs.apply(x[idx])
            cond = condition(prior, record, rb.rr_ms[idx])
            sig = None if sampling.sigma is None else np.full((len(idx), obs.n_groups), float(sampling.sigma))
            smp, _ = sample_with_estimated_noise(provider, cond, y, obs, n, gen, sigma_groups=sig)
            for i, beat in enumerate(idx):
                qt_ms[beat] = qt_task.measure_samples(smp[i], geo, q_on[beat], q_off[beat], int(t_lead[beat]), failures)
            bar.update(1)
        qt_grid, fits = None, {}
        if grid is not None:
            smp = posterior(np.array([grid_beat]), grid)
            qt_grid = np.stack(
                [
                    qt_task.measure_samples(smp[k], geo, q_on[grid_beat], q_off[grid_beat], int(t_lead[grid_beat]))
                    for k in range(len(grid))
                ]
            )
            valid = np.isfinite(qt_grid).sum(axis=1) > 0
            if valid.sum() >= 3:
                mean_qt = np.array([np.nanmean(v) if np.isfinite(v).any() else np.nan for v in qt_grid]) / 1000.0
                for law in qt_task.LAW_ORDER:
                    f = qtlib.fit_qt_law(law, grid[valid] / 1000.0, mean_qt[valid])
                    fits[law] = {"r2": f.r2, **f.params, "formula": qtlib.QT_LAWS[law].formula}
            bar.update(1)
    for b in range(B):
        if not excluded[b] and not np.isfinite(qt_ms[b]).any():
            excluded[b] = "no posterior sample with a measurable T end"
    return QTResult(
        record_id=record.record_id,
        fs=params.fs,
        r_index=rb.r_index,
        rr_ms=rb.rr_ms,
        qt_real_ms=qt_real,
        qt_ms=qt_ms,
        excluded=excluded,
        failures=failures,
        rr_grid_ms=grid,
        qt_grid_ms=qt_grid,
        grid_beat=grid_beat,
        fits=fits,
        sampling=sampling.describe(),
    )


# ----------------------------------------------------------------------------- info
def record_info(
    record: Record, lead_set: Sequence[str] | None = None, params: beatlib.BeatParams | None = None
) -> dict:
    """What was read and what the beat pipeline made of it.

    ``lead_set``: the leads beats are extracted in (a prior's; default the paper's lead set when the record
    determines it, else the record's own leads).
    """
    params = params or beatlib.BeatParams()
    if lead_set is None:
        lead_set = L.PAPER_9 if all(L.derivable(record.leads, n) for n in L.PAPER_9) else record.leads
    lead_set = L.canonical_all(lead_set)
    meta = record.meta
    out: dict[str, Any] = {
        "record_id": record.record_id,
        "path": meta.get("path"),
        "format": meta.get("format", record.source),
        "leads": list(record.leads),
        "channels": meta.get("channels"),
        "ignored_channels": meta.get("ignored_channels", {}),
        "approximations": meta.get("approximations", {}),
        "fs": record.fs,
        "samples": int(record.signal.shape[1]),
        "duration_s": round(record.duration_s, 3),
        "units": meta.get("units", "mV"),
        "amplitude_range_mV": {n: [float(v.min()), float(v.max())] for n, v in zip(record.leads, record.signal)},
        "age": record.age,
        "age_source": meta.get("age_source"),
        "sex": record.sex,
        "sex_source": meta.get("sex_source"),
        "determined_leads": [n for n in L.STANDARD_12 if L.derivable(record.leads, n)],
        "beat_leads": list(lead_set),
    }
    for key in ("age_note", "sex_note"):
        if key in meta:
            out[key] = meta[key]
    try:
        rb = beatlib.extract_beats(record, lead_set, params)
    except RecordError as err:
        out["beats"] = {"kept": [], "rejected": [], "error": err.reason}
        return out
    out["beats"] = {
        "detected_r_peaks": int(len(rb.peaks)),
        "kept": [
            {"beat_index": int(i), "r_s": round(float(r) / params.fs, 3), "rr_ms": round(float(rr), 1)}
            for i, r, rr in zip(rb.beat_index, rb.r_index, rb.rr_ms)
        ],
        "rejected": [
            {
                "beat_index": int(r["beat_index"]),
                "r_s": round(float(rb.peaks[int(r["beat_index"])]) / params.fs, 3),
                "stage": r["stage"],
                "reason": r["reason"],
            }
            for r in rb.rejects
            if r.get("beat_index") is not None
        ],
    }
    return out
