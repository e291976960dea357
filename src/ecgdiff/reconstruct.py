"""Missing leads of a whole record, beat by beat, in millivolts: the beat prior applied to every beat and stitched.

:func:`reconstruct_beatwise` is the beat-level answer to "what would the other leads of this recording have
looked like": the baseline of the rhythm tables ("the beat prior applied beat by beat and stitched") and the
``ecgdiff reconstruct`` command. For one :class:`~ecgdiff.data.records.Record` and a set of observed leads:

1. **Beats** (:func:`observed_beats`): the project's beat pipeline (:func:`ecgdiff.data.beats.extract_beats`:
   filters, resampling to the prior's rate, R peaks, windows, quality checks, per-lead normalisation) run on the
   *observed leads only* (R peaks from them alone, as a device that records only those leads would have them),
   for the observed leads and the prior's leads they determine (``known``: e.g. aVL, aVR, aVF from I and II).
2. **Observation** (:func:`lead_observation`), per beat, of the normalised beat ``x [L, T]`` in the prior's
   leads. When every observed lead is one of the ``known`` leads' combinations, the known leads are observed
   directly (a mask). Otherwise (lead I alone, for the prior's aVL/aVR/aVF/V1-V6), each observed lead ``o``,
   normalised by its own QRS maximum ``s_o`` as the pipeline does, is the linear combination
   ``y_o = sum_l T_ol s_l x_l / s_o`` (``T``: :func:`ecgdiff.leads.derivation_matrix`), which needs the scales
   ``s_l`` of unobserved leads: their point estimates from :class:`ecgdiff.data.scales.ScaleModel`.
3. **Posterior**: the paper's two steps (3.3): per-lead noise levels estimated (algorithm 2,
   :class:`ecgdiff.inverse.NoiseEstimation`), then ``n_samples`` posterior samples by the chosen sampler of
   :mod:`ecgdiff.inverse`, beats batched (:class:`ecgdiff.tasks.posterior.PosteriorSampler`), conditioned on the
   patient's age and sex and each beat's preceding RR interval.
4. **Millivolts** (:func:`to_millivolts`): each sample's leads times their scales: measured for the known leads;
   for the others drawn from the scale model's log-normal predictive law, independently per sample (so the band
   carries the amplitude's uncertainty too); then expanded to the requested output leads
   (:func:`ecgdiff.leads.derive`). Posterior mean and the central ``band`` (default 95 %) per sample time.
5. **Stitching** (:func:`stitch`): beat windows (R - 192 ms to R + 512 ms) overlap when the heart rate exceeds
   85 bpm. Each beat's mean and band limits are blended into the record's timeline with weights that are 1 inside
   the window and fall as ``sin^2`` over its first and last ``blend_ms`` (100 ms), normalised to sum to 1 wherever
   windows overlap (a partition of unity: a sample covered by one window takes that window's value unchanged).
   The blended mean is the mean of the blended samples; the blended band limits are the blend of the beats'
   limits, which is at least as wide as the band of the blend (independent draws partly cancel): a conservative
   band. Between windows that do not meet (the T-P segment at slow rates) the value is interpolated linearly
   between the two window edges (``covered`` marks the samples that a window reached); before the first kept beat
   and after the last one it is NaN.

Everything is at the prior's sampling rate (250 Hz) on the filtered signal (:func:`ecgdiff.data.beats.preprocess`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import leads as L
from . import progress
from .data import beats as beatlib
from .data.records import Record, RecordError
from .data.scales import LeadScales, ScaleModel
from .diffusion import conditioning
from .inverse import NoiseEstimation, SamplerSpec
from .inverse.mcgdiff import MCGdiff
from .tasks.posterior import LinearObservation, PosteriorSampler, batches, sample_with_estimated_noise

log = logging.getLogger(__name__)

#: Ramp of the stitching weights at each end of a beat window (ms).
BLEND_MS: float = 100.0


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Sampling:
    """How posterior samples are drawn (defaults: the paper's, section 3.3 and appendix 6.3).

    Attributes:
        sampler: a sampler of :func:`ecgdiff.inverse.available` (paper: ``mcgdiff``).
        options: its options (``inverse.<sampler>``; e.g. ``steps``, ``particles``), validated by
            :class:`ecgdiff.inverse.SamplerSpec`.
        n_samples: posterior samples per beat (paper: 100).
        noise: options of :class:`ecgdiff.inverse.NoiseEstimation` (paper: 10 iterations); its SMC is MCGdiff's
            with ``options`` when the sampler is MCGdiff (its defaults otherwise). Ignored when ``sigma`` is set.
        sigma: a known noise std of every observed lead (normalised units) instead of estimating it.
        batch_beats: beats per sampler call (None: every beat at once).
        max_rows: at most this many states per denoiser call (:class:`~ecgdiff.tasks.posterior.PosteriorSampler`).
        seed: seed of the sampler's noise and of the scale draws.
        band: the central band's lower and upper quantiles (95 %).
        scale_uncertainty: draw the inferred scales per sample (True) or use their point estimates.
    """

    sampler: str = "mcgdiff"
    options: Mapping[str, Any] = field(default_factory=dict)
    n_samples: int = 100
    noise: Mapping[str, Any] = field(default_factory=dict)
    sigma: float | None = None
    batch_beats: int | None = 16
    max_rows: int | None = None
    seed: int = 0
    band: tuple[float, float] = (0.025, 0.975)
    scale_uncertainty: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", dict(self.options or {}))
        object.__setattr__(self, "noise", dict(self.noise or {}))
        SamplerSpec(self.sampler, self.options)  # validates name and options
        if self.n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {self.n_samples}")
        if self.sigma is not None and not self.sigma >= 0:
            raise ValueError(f"sigma must be >= 0, got {self.sigma}")
        if self.batch_beats is not None and self.batch_beats < 1:
            raise ValueError(f"batch_beats must be >= 1 or None, got {self.batch_beats}")
        lo, hi = self.band
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"band must be quantiles 0 <= low < high <= 1, got {self.band}")
        self.noise_estimation()  # validates the noise options

    def noise_estimation(self) -> NoiseEstimation:
        """Algorithm 2 with MCGdiff's SMC (the sampler's options when it is MCGdiff)."""
        smc_fields = {f.name for f in dataclasses.fields(MCGdiff)}
        opts = {k: v for k, v in self.options.items() if k in smc_fields} if self.sampler == "mcgdiff" else {}
        return NoiseEstimation(**self.noise, smc=SamplerSpec("mcgdiff", opts).build().smc)

    def provider(self, prior: Any) -> PosteriorSampler:
        """The sampler bound to ``prior``, with the noise estimation."""
        return PosteriorSampler(
            prior, SamplerSpec(self.sampler, self.options).build(), self.noise_estimation(), self.max_rows
        )

    def generator(self, prior: Any) -> torch.Generator:
        return torch.Generator(device=getattr(prior, "device", torch.device("cpu"))).manual_seed(int(self.seed))

    def describe(self) -> dict[str, Any]:
        return {
            "sampler": self.sampler,
            "options": dict(self.options),
            "n_samples": self.n_samples,
            "noise_estimation": None if self.sigma is not None else dataclasses.asdict(self.noise_estimation()),
            "sigma": self.sigma,
            "band": list(self.band),
            "seed": self.seed,
        }


#: The paper's sampling settings.
PAPER_SAMPLING = Sampling()


def beat_params(prior: Any, db: Any | None = None) -> beatlib.BeatParams:
    """The beat pipeline's settings for ``prior``: the beat database's (its manifest's ``beat_params``) when given,
    else the defaults at the prior's rate; checked against the prior's beat length."""
    if db is not None and db.manifest.get("beat_params"):
        params = beatlib.BeatParams.from_config(db.manifest["beat_params"])
    else:
        params = dataclasses.replace(beatlib.BeatParams(), fs=float(prior.fs))
    if abs(params.fs - float(prior.fs)) > 1e-9 or params.length != int(prior.shape[1]):
        raise ValueError(
            f"the prior's beats ({prior.shape[1]} samples at {prior.fs} Hz) are not the beat pipeline's "
            f"({params.length} samples at {params.fs} Hz)"
        )
    return params


def require_age_sex(record: Record) -> None:
    """A conditional prior needs the patient's age and sex: a :class:`RecordError` naming what is missing."""
    missing = [name for name, v in (("age", record.age), ("sex", record.sex)) if v is None]
    if missing:
        hint = " and ".join(f"--{m}" for m in missing)
        raise RecordError(
            record.record_id,
            f"the prior is conditioned on age and sex, and the record gives no {' or '.join(missing)} "
            f"(header: age {record.meta.get('age_text', record.meta.get('age_source'))!r}, "
            f"sex {record.meta.get('sex_text', record.meta.get('sex_source'))!r}): pass {hint}",
        )


def condition(prior: Any, record: Record, rr_ms: np.ndarray) -> np.ndarray | None:
    """Conditioning vectors ``[B, 4]`` of a record's beats (None for an unconditional prior)."""
    if not getattr(prior, "conditional", True):
        return None
    require_age_sex(record)
    n = len(rr_ms)
    return conditioning.encode(np.full(n, float(record.age)), [record.sex] * n, np.asarray(rr_ms, dtype=float))


# ----------------------------------------------------------------------------- beats and observations
def restrict(record: Record, names: Sequence[str]) -> Record:
    """The record with only the leads ``names`` (recorded ones, in that order)."""
    rows = L.indices(names, record.leads)
    return dataclasses.replace(record, signal=record.signal[rows], leads=tuple(L.canonical_all(names)))


@dataclass(frozen=True)
class Plan:
    """Which of the prior's leads an observation determines, and how they are observed."""

    prior_leads: tuple[str, ...]
    observed: tuple[str, ...]
    known: tuple[str, ...]  # prior leads derivable from the observed leads (scales measured)
    unknown: tuple[str, ...]  # the other prior leads (scales inferred)
    mode: str  # "mask": the known leads are observed; "linear": the observed leads through the scales

    @property
    def beat_leads(self) -> tuple[str, ...]:
        """Leads extracted from the record: the observed ones, then the known prior leads."""
        return tuple(dict.fromkeys([*self.observed, *self.known]))

    @property
    def groups(self) -> tuple[str, ...]:
        """Lead of each noise group of the observation."""
        return tuple(n for n in self.prior_leads if n in self.known) if self.mode == "mask" else self.observed


def plan(prior_leads: Sequence[str], observed: Sequence[str]) -> Plan:
    """The :class:`Plan` of observing ``observed`` (recorded leads) for a prior over ``prior_leads``."""
    prior_leads, observed = L.canonical_all(prior_leads), L.canonical_all(observed)
    if not observed:
        raise ValueError("no observed lead")
    known = tuple(n for n in prior_leads if L.derivable(observed, n))
    unknown = tuple(n for n in prior_leads if n not in known)
    for o in observed:
        if not L.derivable(prior_leads, o):
            raise L.LeadError(f"observed lead {o} is not a combination of the prior's leads {list(prior_leads)}")
    mode = "mask" if known and all(L.derivable(known, o) for o in observed) else "linear"
    return Plan(prior_leads, observed, known, unknown, mode)


def observed_beats(record: Record, p: Plan, params: beatlib.BeatParams) -> beatlib.RecordBeats:
    """The beat pipeline on the observed leads only, for :attr:`Plan.beat_leads`."""
    missing = [o for o in p.observed if o not in record.leads]
    if missing:
        raise RecordError(record.record_id, f"observed lead(s) {missing} not recorded (leads {list(record.leads)})")
    return beatlib.extract_beats(restrict(record, p.observed), p.beat_leads, params)


def record_signal(record: Record, names: Sequence[str], params: beatlib.BeatParams) -> np.ndarray | None:
    """The record's leads ``names`` (derived from its recorded leads), filtered and resampled as the beats are
    (:func:`ecgdiff.data.beats.preprocess`): ``[len(names), N]`` mV at ``params.fs``; None when not derivable."""
    try:
        t = L.derivation_matrix(record.leads, names)
    except L.LeadError:
        return None
    return np.einsum("oi,it->ot", t, beatlib.preprocess(record.signal, record.fs, params))


def windows(signal: np.ndarray, r_index: np.ndarray, params: beatlib.BeatParams) -> np.ndarray:
    """Beat windows ``[B, K, T]`` of ``signal [K, N]`` at the R peaks ``r_index`` (:func:`ecgdiff.data.beats.window_beats`)."""
    return beatlib.window_beats(signal, r_index, params.before, params.after)


def lead_observation(
    p: Plan, beats: np.ndarray, scales: np.ndarray, observed_scales: np.ndarray, length: int
) -> tuple[LinearObservation, np.ndarray]:
    """The observation of the beats' prior leads and the data ``y [B, m]``.

    ``beats [B, len(beat_leads), T]``: normalised beats of :attr:`Plan.beat_leads`; ``scales [B, len(prior_leads)]``
    (mV): measured for the known leads, point estimates for the others; ``observed_scales [B, O]``: the observed
    leads' measured scales. See the module docstring (step 2).
    """
    B, L_ = len(beats), len(p.prior_leads)
    if p.mode == "mask":
        obs = LinearObservation.of_leads(p.prior_leads, p.known, length)
        x = np.zeros((B, L_, length))
        for j, name in enumerate(p.prior_leads):
            if name in p.known:
                x[:, j] = beats[:, p.beat_leads.index(name)]
        return obs, obs.apply(x)
    t = L.derivation_matrix(p.prior_leads, p.observed)  # [O, L]
    w = t[None] * scales[:, None, :] / np.asarray(observed_scales, dtype=np.float64)[:, :, None]  # [B, O, L]
    y = beats[:, [p.beat_leads.index(o) for o in p.observed]].reshape(B, -1).astype(np.float64)
    return LinearObservation.of_combinations(w.astype(np.float32), length), y


# ----------------------------------------------------------------------------- millivolts
def to_millivolts(
    samples: np.ndarray,
    scales: np.ndarray,
    p: Plan,
    model: ScaleModel | None,
    features: np.ndarray | None,
    out_leads: Sequence[str],
    rng: np.random.Generator,
    uncertainty: bool = True,
) -> np.ndarray:
    """Samples ``[B, n, L, T]`` (normalised, prior leads) to millivolts in ``out_leads``: ``[B, n, K, T]``.

    ``scales [B, L]``: the point scales (measured for known leads); with ``uncertainty``, the unknown leads'
    scales are drawn per sample from ``model`` given ``features [B, F]`` (its features' scales, mV).
    """
    B, n = samples.shape[:2]
    s = np.broadcast_to(scales[:, None, :], (B, n, scales.shape[1])).copy()
    if p.unknown and uncertainty and model is not None and np.any(model.residual_cov > 0):
        draws = model.sample(features, n, rng)  # [B, n, U]
        for k, name in enumerate(model.targets):
            s[:, :, p.prior_leads.index(name)] = draws[:, :, k]
    mv = samples * s[..., None]
    return L.derive(mv, p.prior_leads, out_leads)


def summarise_samples(mv: np.ndarray, band: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior mean and band limits over the samples axis (1) of ``mv [B, n, K, T]``."""
    lo, hi = np.quantile(mv, list(band), axis=1)
    return mv.mean(axis=1), lo, hi


# ----------------------------------------------------------------------------- stitching
def blend_weights(length: int, ramp: int) -> np.ndarray:
    """Weights ``[length]`` of one beat window: 1 inside, ``sin^2`` ramps (never 0) over ``ramp`` samples at each end."""
    w = np.ones(length)
    ramp = max(0, min(int(ramp), length // 2))
    if ramp:
        up = np.sin(0.5 * np.pi * (np.arange(ramp) + 0.5) / ramp) ** 2
        w[:ramp] = up
        w[length - ramp :] = up[::-1]
    return w


def stitch(
    values: np.ndarray, r_index: np.ndarray, before: int, n: int, ramp: int, fill: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Blend per-beat ``values [B, K, T]`` (windows starting at ``r_index - before``) into ``[K, n]``.

    Returns ``(signal, covered)``; see the module docstring (step 5). ``fill``: interpolate between windows that
    do not meet (False: NaN there).
    """
    B, K, T = values.shape
    w = blend_weights(T, ramp)
    num = np.zeros((K, n))
    den = np.zeros(n)
    for b in range(B):
        a = int(r_index[b]) - before
        lo, hi = max(0, a), min(n, a + T)
        if hi <= lo:
            continue
        num[:, lo:hi] += w[lo - a : hi - a] * values[b][:, lo - a : hi - a]
        den[lo:hi] += w[lo - a : hi - a]
    covered = den > 0
    out = np.full((K, n), np.nan)
    out[:, covered] = num[:, covered] / den[covered]
    if fill and covered.any():
        idx = np.flatnonzero(covered)
        inner = np.arange(idx[0], idx[-1] + 1)
        gaps = inner[~covered[inner]]
        for k in range(K):
            out[k, gaps] = np.interp(gaps, idx, out[k, idx])
    return out, covered


# ----------------------------------------------------------------------------- the result
@dataclass
class Reconstruction:
    """The reconstructed leads of one record (every amplitude in millivolts, at ``fs``)."""

    record_id: str
    fs: float
    observed: tuple[str, ...]
    leads: tuple[str, ...]  # the reconstructed (output) leads
    plan: Plan
    r_index: np.ndarray  # [B] R peak (samples at fs)
    rr_ms: np.ndarray  # [B]
    beat_index: np.ndarray  # [B] index among the detected R peaks
    before: int  # R position in a beat window
    mean: np.ndarray  # [B, K, T]
    low: np.ndarray  # [B, K, T]
    high: np.ndarray  # [B, K, T]
    observed_beats: np.ndarray  # [B, O, T] mV
    scales: np.ndarray  # [B, L] point scales of the prior's leads (mV)
    scale_inferred: tuple[str, ...]  # prior leads whose scale was inferred
    scale_model: dict[str, Any] | None
    sigma: np.ndarray  # [B, G] noise levels (normalised units), groups: plan.groups
    stitched_mean: np.ndarray  # [K, N]
    stitched_low: np.ndarray
    stitched_high: np.ndarray
    covered: np.ndarray  # [N] bool: a beat window reached the sample
    stitched_observed: np.ndarray  # [O, N] the observed leads, filtered (mV)
    truth: np.ndarray | None = None  # [B, K, T] the record's own output leads, when it has them
    stitched_truth: np.ndarray | None = None  # [K, N]
    rejects: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    band: tuple[float, float] = (0.025, 0.975)

    @property
    def t_ms(self) -> np.ndarray:
        """Sample times of a beat window relative to its R peak (ms)."""
        return (np.arange(self.mean.shape[-1]) - self.before) * 1000.0 / self.fs

    @property
    def time_s(self) -> np.ndarray:
        return np.arange(self.stitched_mean.shape[-1]) / self.fs

    def stitched_at(self, fs: float, edge: str = "nan") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The stitched mean, low and high ``[K, N']`` resampled to ``fs`` Hz (:func:`ecgdiff.data.beats.resample`),
        e.g. 100 Hz for the rhythm tables. Before the first and after the last kept beat (NaN at :attr:`fs`):
        ``edge="nan"`` keeps NaN, ``"zero"`` puts the filtered signal's baseline (0 mV), ``"hold"`` repeats the
        nearest reconstructed value."""
        if edge not in ("nan", "zero", "hold"):
            raise ValueError(f"edge must be nan, zero or hold, got {edge!r}")
        idx = np.flatnonzero(np.isfinite(self.stitched_mean[0]))
        out = []
        for sig in (self.stitched_mean, self.stitched_low, self.stitched_high):
            x = sig.copy()
            if len(idx):
                x[:, : idx[0]] = x[:, [idx[0]]] if edge == "hold" else 0.0
                x[:, idx[-1] + 1 :] = x[:, [idx[-1]]] if edge == "hold" else 0.0
            else:
                x[:] = 0.0
            y = beatlib.resample(x, self.fs, fs)
            if edge == "nan":
                t = np.arange(y.shape[-1]) * self.fs / fs
                y[:, (t < idx[0]) | (t > idx[-1]) if len(idx) else slice(None)] = np.nan
            out.append(y)
        return out[0], out[1], out[2]

    def summary(self) -> dict[str, Any]:
        """The numbers of the reconstruction (and its errors against the record's own leads, when it has them)."""
        out: dict[str, Any] = {
            "record_id": self.record_id,
            "observed": list(self.observed),
            "reconstructed": list(self.leads),
            "beats": int(len(self.r_index)),
            "beats_rejected": int(sum(1 for r in self.rejects if r.get("beat_index") is not None)),
            "fs": self.fs,
            "observation": self.plan.mode,
            "scales_inferred": list(self.scale_inferred),
            "median_scale_mV": {n: float(np.median(self.scales[:, j])) for j, n in enumerate(self.plan.prior_leads)},
            "median_noise_sd": {g: float(np.median(self.sigma[:, k])) for k, g in enumerate(self.plan.groups)},
            "settings": self.settings,
        }
        if self.scale_model is not None:
            out["scale_model"] = self.scale_model
        if self.truth is not None:
            err = self.mean - self.truth
            inside = (self.truth >= self.low) & (self.truth <= self.high)
            out["against_record"] = {
                name: {
                    "rmse_mV": float(np.sqrt(np.mean(err[:, k] ** 2))),
                    "r2": float(np.mean(_r2(self.truth[:, k], self.mean[:, k]))),
                    "band_coverage": float(inside[:, k].mean()),
                }
                for k, name in enumerate(self.leads)
            }
        return out


def _r2(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    ss_tot = np.sum((true - true.mean(axis=-1, keepdims=True)) ** 2, axis=-1)
    ss_res = np.sum((true - pred) ** 2, axis=-1)
    return np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), np.nan)


# ----------------------------------------------------------------------------- the whole record
def missing_leads(observed: Sequence[str], missing: Sequence[str] | None = None) -> tuple[str, ...]:
    """Output leads: ``missing`` (canonical), or every standard lead not observed (in standard order)."""
    observed = L.canonical_all(observed)
    if missing is not None:
        out = L.canonical_all(missing)
        both = [m for m in out if m in observed]
        if both:
            raise L.LeadError(f"lead(s) {both} are both observed and to reconstruct")
        return out
    return tuple(n for n in L.STANDARD_12 if n not in observed)


def reconstruct_beatwise(
    record: Record,
    prior: Any,
    observed: Sequence[str],
    *,
    missing: Sequence[str] | None = None,
    scales: LeadScales | None = None,
    sampling: Sampling = PAPER_SAMPLING,
    params: beatlib.BeatParams | None = None,
    blend_ms: float = BLEND_MS,
    show_progress: bool = True,
) -> Reconstruction:
    """Reconstruct the leads ``missing`` (default: every standard lead not in ``observed``) of every beat of
    ``record`` from its leads ``observed``, in millivolts, and stitch them into the record's timeline.

    Args:
        record: the recording (millivolts; age and sex needed by a conditional prior).
        prior: a beat prior (:func:`ecgdiff.diffusion.prior.load_prior`).
        observed: the recorded leads to condition on.
        missing: the leads to reconstruct (any standard leads, combinations of the prior's).
        scales: training log-scales (:meth:`ecgdiff.data.scales.LeadScales.from_database`), needed when a prior
            lead is not determined by the observed leads (its millivolt scale is inferred from them).
        sampling: the sampler and its settings (:class:`Sampling`).
        params: the beat pipeline's settings (default :func:`beat_params` of the prior).
        blend_ms: the ramp of the stitching weights.
        show_progress: a progress bar over the sampler's batches (:func:`ecgdiff.progress.bar`).

    Raises:
        RecordError: the record gives no beat, lacks an observed lead, or lacks the age or sex the prior needs.
        ValueError: a prior lead's scale must be inferred and no ``scales`` were given.
    """
    params = params or beat_params(prior)
    p = plan(prior.leads, observed)
    out_leads = missing_leads(p.observed, missing)
    if p.unknown and scales is None:
        raise ValueError(
            f"the millivolt scale of {', '.join(p.unknown)} is not measured by {', '.join(p.observed)}: it is inferred "
            "from the training beats; pass scales (LeadScales.from_database of the prior's beat database, --beats)"
        )
    rb = observed_beats(record, p, params)
    cond = condition(prior, record, rb.rr_ms)
    B, T = len(rb.r_index), params.length
    # scales of the prior's leads: measured (known) or inferred (point estimates)
    point = np.zeros((B, len(p.prior_leads)))
    for j, name in enumerate(p.prior_leads):
        if name in p.known:
            point[:, j] = rb.scales[:, p.beat_leads.index(name)]
    model, features = None, None
    if p.unknown:
        feats = p.beat_leads
        model = scales.fit(feats, p.unknown)
        features = rb.scales[:, [p.beat_leads.index(f) for f in feats]].astype(np.float64)
        pred = model.predict(features)
        for k, name in enumerate(p.unknown):
            point[:, p.prior_leads.index(name)] = pred[:, k]
    s_obs = rb.scales[:, [p.beat_leads.index(o) for o in p.observed]].astype(np.float64)
    provider = sampling.provider(prior)
    gen = sampling.generator(prior)
    rng = np.random.default_rng([int(sampling.seed), 7])
    K = len(out_leads)
    mean, low, high = (np.zeros((B, K, T)) for _ in range(3))
    sigma = np.zeros((B, len(p.groups)))
    parts = batches(B, sampling.batch_beats)
    desc = f"{record.record_id}: {sampling.sampler} x{sampling.n_samples}"
    with progress.bar(total=len(parts), desc=desc, unit="batch", disable=not show_progress, logger=log) as pbar:
        for b in parts:
            obs, y = lead_observation(p, rb.beats[b], point[b], s_obs[b], T)
            sig = None if sampling.sigma is None else np.full((len(y), obs.n_groups), float(sampling.sigma))
            smp, sigma[b] = sample_with_estimated_noise(
                provider, None if cond is None else cond[b], y, obs, sampling.n_samples, gen, sigma_groups=sig
            )
            mv = to_millivolts(
                smp.astype(np.float64),
                point[b],
                p,
                model,
                None if features is None else features[b],
                out_leads,
                rng,
                sampling.scale_uncertainty,
            )
            mean[b], low[b], high[b] = summarise_samples(mv, sampling.band)
            pbar.update(1)
    obs_sig = record_signal(restrict(record, p.observed), p.observed, params)
    n = obs_sig.shape[1]
    ramp = int(round(blend_ms * params.fs / 1000.0))
    st_mean, covered = stitch(mean, rb.r_index, params.before, n, ramp)
    st_low, _ = stitch(low, rb.r_index, params.before, n, ramp)
    st_high, _ = stitch(high, rb.r_index, params.before, n, ramp)
    truth_sig = record_signal(record, out_leads, params)
    obs_mv = rb.beats[:, : len(p.observed)] * rb.scales[:, : len(p.observed), None]
    return Reconstruction(
        record_id=record.record_id,
        fs=params.fs,
        observed=p.observed,
        leads=out_leads,
        plan=p,
        r_index=rb.r_index,
        rr_ms=rb.rr_ms,
        beat_index=rb.beat_index,
        before=params.before,
        mean=mean,
        low=low,
        high=high,
        observed_beats=obs_mv.astype(np.float64),
        scales=point,
        scale_inferred=p.unknown,
        scale_model=None if model is None else {**model.to_dict(), "training": scales.source},
        sigma=sigma,
        stitched_mean=st_mean,
        stitched_low=st_low,
        stitched_high=st_high,
        covered=covered,
        stitched_observed=obs_sig,
        truth=None if truth_sig is None else windows(truth_sig, rb.r_index, params),
        stitched_truth=truth_sig,
        rejects=list(rb.rejects),
        settings=sampling.describe(),
        band=tuple(sampling.band),
    )
