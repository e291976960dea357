"""Missing-lead reconstruction (MLR) of 10-s 12-lead rhythms: the talk's first table and its BBB and AF figures.

Protocol, per test rhythm (a seeded selection of at most ``n_patients`` of the rhythm database's ``test``
split, dealt to the shards round-robin):

- Problems (:func:`problems`). ``lead_I``: lead I alone observed over the whole 10 s, every other lead
  missing, no added noise (the talk's table; the authors' ``missingness_type: lead``, ``missingness: 1``);
  ``limb``: the limb leads only (I, II, III, aVR, aVL, aVF: I and II in the modelled basis); ``precordial``:
  each precordial lead of ``precordial_leads`` withheld alone from all the other leads (``without_V1``, ...).
  The problem keys are the setting names of :data:`ecgdiff.baselines.ecgrecover.MISSING_LEAD_SETTINGS`.
- Observation: a mask on the observed modelled leads over the ``length`` (1000) valid samples; the zero
  padding (samples 1000-1023) is neither observed nor scored. The likelihood std is ``sigma_y`` (the talk:
  0.05 mV) on every observed entry.
- Samplers: every sampler of ``samplers`` (``rhythm_tasks.sampler``, MGPS, first) with its options
  ``inverse.<name>`` (the talk: 50 steps) draws ``n_samples`` posterior samples (the talk: 10), one sampler
  call per problem and batch of ``batch_patients`` rhythms (the samples of a call in chunks of
  ``rhythm_tasks.max_batch_rows`` states). In every sample the observed leads are set to the observation
  (it is noise free: those leads are known); the reconstruction is the posterior mean, its spread the
  posterior standard deviation per coordinate (kept for the figures' examples).
- Baselines (:data:`BASELINES`), in the same table: ECGrecover (the talk's protocol: 12 leads x 1024 in mV,
  the withheld leads zeroed; its input is built from the observed leads only, so no withheld lead ever
  reaches it) and Dower's least-squares reconstruction from the observed leads in mV (a rank-1 fit from lead
  I alone: a baseline). Deterministic: one "sample".
- Metrics per rhythm, problem and method (:func:`score_reconstructions`; the authors'
  ``plot_lead_inpatining.py``, :mod:`ecgdiff.rhythm_metrics`): on the 12 leads (the modelled ones expanded by
  :func:`ecgdiff.leads.derive`, the ground truth too; ECGrecover outputs 12 leads itself and is scored on
  them) over the valid samples; RMSE and MAD (mean absolute error) per sample over the coordinates the
  observation does not determine (:func:`ecgdiff.rhythm_metrics.scored_mask`), averaged over the samples;
  the authors' "DTW": soft-DTW (gamma 0.1) of the posterior mean over those leads, / 1024, in their layout
  (``sequence="lead"``: the leads as the sequence axis); a true DTW per lead beside it
  (:func:`ecgdiff.rhythm_metrics.dtw_score`); the RMSE of the posterior mean and the RMSE per lead.
- Classifier (:mod:`ecgdiff.classify`): probabilities of NSR, BBB, AF of every sample (12 leads, sliding
  windows, max), median over the samples (the authors' missing-lead script); the ground truth's too. Gather
  computes AUC-PR per class with a patient-bootstrap interval (:func:`ecgdiff.classify.evaluate.auc_pr_table`).

Outputs: ``tables/rhythm_mlr.{csv,md}`` (one row per method and problem, the ground-truth row first; metrics
as mean and 95 % Student-t interval over rhythms, AUC-PR with its bootstrap interval, and the talk's numbers
beside ours for ``lead_I``), ``figures/fig_rhythm_mlr_bbb``, ``fig_rhythm_mlr_af`` (a BBB and an AF test
rhythm reconstructed from ``example_setting``) and ``fig_rhythm_mlr_rmse_per_lead``
(:mod:`.mlr_figures`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ... import leads as leadlib
from ... import progress
from ... import rhythm_metrics as rm
from ...baselines import dower, ecgrecover
from ...classify.evaluate import auc_pr_table
from ...classify.predict import CLASSES, SAMPLE_AGGREGATES, aggregate, window_probabilities
from ...metrics import t_interval
from ...tables import write_table_pair
from ..context import ProviderFactory, TaskContext
from ..posterior import LinearObservation, batches, lead_time_mask
from ..shards import Shard, check_shards, concat, select

log = logging.getLogger(__name__)

TASK = "rhythm_mlr"
SETTINGS = ("lead_I", "limb", "precordial")
METRICS = ("rmse", "mae", "soft_dtw", "dtw", "rmse_of_mean")
#: Classes of the figures' examples (figure key -> rhythm label).
EXAMPLE_CLASSES = ("BBB", "AF")

#: The talk's table (slides "Reconstruction of Missing Leads": PTB-XL test fold, the authors' rhythm prior,
#: lead I observed, 10 samples, 50 steps): method -> RMSE, MAD, DTW as (estimate, ±) and AUC-PR NSR, BBB, AF
#: of the xresnet1d50. Their "DTW" is the soft-DTW of :func:`ecgdiff.rhythm_metrics.soft_dtw_score` with
#: ``sequence="lead"``.
TALK_SETTING = "lead_I"
TALK_TABLE: dict[str, dict[str, Any]] = {
    "ground_truth": {"auc": (1.00, 1.00, 0.98)},
    "mgps": {"rmse": (0.19, 0.01), "mae": (0.09, 0.00), "soft_dtw": (0.29, 0.02), "auc": (0.99, 0.91, 0.96)},
    "dps": {"rmse": (1.61, 0.17), "mae": (0.16, 0.01), "soft_dtw": (77.35, 15.34), "auc": (0.97, 0.65, 0.68)},
    "pgdm": {"rmse": (0.19, 0.01), "mae": (0.10, 0.003), "soft_dtw": (0.32, 0.03), "auc": (0.99, 0.90, 0.89)},
    "ddnm": {"rmse": (0.19, 0.01), "mae": (0.10, 0.003), "soft_dtw": (0.36, 0.03), "auc": (0.99, 0.92, 0.81)},
    "diffpir": {"rmse": (0.21, 0.01), "mae": (0.11, 0.003), "soft_dtw": (0.39, 0.03), "auc": (0.94, 0.71, 0.57)},
    "reddiff": {"rmse": (0.20, 0.01), "mae": (0.11, 0.003), "soft_dtw": (0.36, 0.02), "auc": (0.97, 0.87, 0.75)},
    "ecgrecover": {"rmse": (0.34, 0.005), "mae": (0.20, 0.003), "soft_dtw": (1.10, 0.04), "auc": (0.98, 0.73, 0.61)},
}

TITLES = {
    "ground_truth": "Ground truth",
    "mgps": "MGPS",
    "dps": "DPS",
    "pgdm": "PGDM",
    "ddnm": "DDNM",
    "diffpir": "DiffPIR",
    "reddiff": "RED-diff",
    "mcgdiff": "MCGdiff",
    "ecgrecover": "ECGrecover",
    "dower": "Dower",
    "beat_prior": "Beat prior (stitched)",
}


def title(method: str) -> str:
    return TITLES.get(method, method)


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Settings:
    """``rhythm_tasks.rhythm_mlr`` (every key required; defaults and their sources: the configuration)."""

    n_patients: int | None  # test rhythms, a seeded subset (None: all)
    n_samples: int  # posterior samples per rhythm and problem (the talk: 10)
    sigma_y: float  # likelihood std of the observed entries, mV (the talk: 0.05)
    settings: tuple[str, ...]  # lead_I | limb | precordial (the talk's table: lead_I)
    precordial_leads: tuple[str, ...]  # withheld one at a time in the "precordial" setting
    samplers: tuple[str, ...]  # samplers besides rhythm_tasks.sampler (the talk: dps, pgdm, ddnm, diffpir, reddiff)
    baselines: tuple[str, ...]  # names of BASELINES (the talk: ecgrecover; dower and beat_prior added)
    beat_prior: dict  # the beat_prior baseline's sampling: sampler, options, n_samples, sigma (BEAT_PRIOR_KEYS)
    batch_patients: int | None  # rhythms per sampler call (None: the whole shard)
    example_setting: str  # problem of the BBB / AF figures (the talk's figures: lead_I)
    sample_aggregate: str  # classifier probabilities over samples: median (the authors' MLR script) | mean
    n_boot: int  # bootstrap replicates of the AUC-PR intervals (0: none)
    level: float  # level of every interval (0.95)

    def __post_init__(self) -> None:
        where = f"rhythm_tasks.{TASK}"
        if self.n_patients is not None and self.n_patients < 1:
            raise ValueError(f"{where}.n_patients must be >= 1 or null, got {self.n_patients}")
        if self.n_samples < 1:
            raise ValueError(f"{where}.n_samples must be >= 1, got {self.n_samples}")
        if not self.sigma_y > 0:
            raise ValueError(f"{where}.sigma_y must be > 0 (a Gaussian likelihood std in mV), got {self.sigma_y}")
        if not self.settings or len(set(self.settings)) != len(self.settings):
            raise ValueError(f"{where}.settings must list distinct settings of {SETTINGS}, got {list(self.settings)}")
        unknown = [s for s in self.settings if s not in SETTINGS]
        if unknown:
            raise ValueError(f"{where}.settings: unknown {unknown} (known: {list(SETTINGS)})")
        try:
            pre = leadlib.canonical_all(self.precordial_leads)
        except leadlib.LeadError as err:
            raise ValueError(f"{where}.precordial_leads: {err}") from err
        if "precordial" in self.settings and not pre:
            raise ValueError(f"{where}.precordial_leads is empty but the 'precordial' setting is on")
        if any(p not in leadlib.PRECORDIAL for p in pre):
            raise ValueError(f"{where}.precordial_leads must be among {list(leadlib.PRECORDIAL)}, got {list(pre)}")
        object.__setattr__(self, "precordial_leads", pre)
        from ...inverse import available

        bad = [m for m in self.samplers if m not in available()]
        if bad:
            raise ValueError(f"{where}.samplers: unknown {bad} (available: {available()})")
        bad = [b for b in self.baselines if b not in BASELINES]
        if bad or len(set(self.baselines)) != len(self.baselines):
            raise ValueError(f"{where}.baselines must be distinct names of {sorted(BASELINES)}, got {self.baselines}")
        beat = dict(self.beat_prior or {})
        if set(beat) != set(BEAT_PRIOR_KEYS):
            raise ValueError(
                f"{where}.beat_prior: unknown keys {sorted(set(beat) - set(BEAT_PRIOR_KEYS))}, missing keys "
                f"{sorted(set(BEAT_PRIOR_KEYS) - set(beat))} (keys: {list(BEAT_PRIOR_KEYS)})"
            )
        try:
            beat_sampling(beat, seed=0)
        except (ValueError, TypeError, KeyError) as err:
            raise ValueError(f"{where}.beat_prior: {err}") from err
        object.__setattr__(self, "beat_prior", beat)
        if self.batch_patients is not None and self.batch_patients < 1:
            raise ValueError(f"{where}.batch_patients must be >= 1 or null, got {self.batch_patients}")
        keys = [p.key for p in problems(leadlib.BASIS, self)]
        if self.example_setting not in keys:
            raise ValueError(f"{where}.example_setting {self.example_setting!r} is not a configured problem {keys}")
        if self.sample_aggregate not in SAMPLE_AGGREGATES:
            raise ValueError(
                f"{where}.sample_aggregate must be one of {SAMPLE_AGGREGATES}, got {self.sample_aggregate!r}"
            )
        if self.n_boot < 0:
            raise ValueError(f"{where}.n_boot must be >= 0, got {self.n_boot}")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"{where}.level must be in (0, 1), got {self.level}")


def samplers(ctx: TaskContext) -> list[str]:
    """Samplers of the table: the main one (``rhythm_tasks.sampler``) first, then the others (each once)."""
    return list(dict.fromkeys([ctx.sampler, *ctx.settings.samplers]))


def methods(ctx: TaskContext) -> list[str]:
    """Every row of the table after the ground truth: the samplers, then the baselines."""
    return samplers(ctx) + [b for b in ctx.settings.baselines if b not in ctx.settings.samplers]


# --------------------------------------------------------------------------- problems
@dataclass(frozen=True)
class Problem:
    """One reconstruction problem: the modelled leads observed and those withheld."""

    key: str  # lead_I | limb | without_<V> (ecgrecover.MISSING_LEAD_SETTINGS)
    setting: str  # lead_I | limb | precordial
    observed: tuple[str, ...]
    withheld: tuple[str, ...]

    @property
    def title(self) -> str:
        if self.setting == "lead_I":
            return "lead I"
        if self.setting == "limb":
            return "limb leads"
        return f"all leads but {self.withheld[0]}"


def problems(leads: Sequence[str], s: Settings) -> list[Problem]:
    """The problems of the configured settings, on signals with the modelled leads ``leads``."""
    leads = leadlib.canonical_all(leads)
    out = []
    for setting in s.settings:
        if setting == "lead_I":
            observed: list[tuple[str, tuple[str, ...]]] = [("lead_I", ("I",))]
        elif setting == "limb":
            observed = [("limb", tuple(n for n in leads if n in leadlib.LIMB))]
        else:
            observed = [(f"without_{v}", tuple(n for n in leads if n != v)) for v in s.precordial_leads]
        for key, obs in observed:
            missing = [n for n in obs if n not in leads] or ([] if obs else ["(none)"])
            withheld = tuple(n for n in leads if n not in obs)
            if missing or not withheld:
                raise ValueError(
                    f"{TASK}: problem {key} needs observed leads {list(obs)} and a withheld lead in {leads}"
                )
            out.append(Problem(key, setting, obs, withheld))
    return out


def observation(leads: Sequence[str], prob: Problem, padded_length: int, length: int) -> LinearObservation:
    """The mask observation of ``prob``: its observed leads over the valid samples ``[0, length)``."""
    return LinearObservation.of_leads(leads, prob.observed, padded_length, slice(0, length))


def observed_12(leads: Sequence[str], prob: Problem, length: int) -> np.ndarray:
    """Which of the 12 standard leads the observation determines (bool ``[12]``, STANDARD_12 order).

    Checked against ECGrecover's own setting mask (:func:`ecgdiff.baselines.ecgrecover.setting_mask`) where
    the problem is one of its settings: both must name the same leads.
    """
    mask = lead_time_mask(leads, prob.observed, length)
    obs12 = ~rm.scored_mask(mask, leads, length).any(axis=1)
    if prob.key in ecgrecover.MISSING_LEAD_SETTINGS:
        ref = ecgrecover.setting_mask(prob.key)
        if not np.array_equal(ref, obs12):
            raise ValueError(f"{TASK}: problem {prob.key} determines {obs12} but ECGrecover's setting is {ref}")
    return obs12


def rhythms(db: Any, ctx: TaskContext) -> tuple[np.ndarray, pd.DataFrame]:
    """The task's test rhythms: all of the ``test`` split, or a seeded subset of ``n_patients`` (in database order)."""
    x, meta = db.subset("test")
    if len(meta) == 0:
        raise ValueError(f"{TASK}: the rhythm database {db.path} has no test rhythm")
    n = ctx.settings.n_patients
    if n is not None and len(meta) > n:
        keep = np.sort(np.random.default_rng([ctx.run.seed, 1]).choice(len(meta), int(n), replace=False))
        x, meta = x[keep], meta.iloc[keep].reset_index(drop=True)
    return x, meta


# --------------------------------------------------------------------------- baselines
@dataclass(frozen=True)
class BaselineInput:
    """What a baseline receives: the observation alone, never the withheld leads.

    ``observed`` is ``[P, len(leads), padded_length]`` in mV: the observed leads over the valid samples, zero
    on the withheld leads and on the padding.
    """

    observed: np.ndarray
    problem: Problem
    leads: tuple[str, ...]
    length: int
    fs: float
    inputs: Any  # ecgdiff.tasks.inputs.TaskInputs: the models the baseline loads
    seed: int
    meta: pd.DataFrame | None = None  # the rhythms' metadata (rhythm_id, age, sex): what a conditional prior needs
    settings: Settings | None = None  # the task's settings


@dataclass(frozen=True)
class Baseline:
    """A reconstruction method of the table besides the posterior samplers.

    ``reconstruct(BaselineInput) -> (samples [P, n, K, >= length] in mV, lead names of the K rows)``: one
    sample for a deterministic method; rows in the modelled leads are expanded to 12 leads like the samplers'
    reconstructions, rows in :data:`ecgdiff.leads.STANDARD_12` are scored as they are. ``inputs``: the task
    inputs it loads (:data:`ecgdiff.tasks.inputs.LOADERS`; they must be among the task's inputs in the registry).
    """

    title: str
    inputs: tuple[str, ...]
    reconstruct: Callable[[BaselineInput], tuple[np.ndarray, tuple[str, ...]]]


def reconstruct_ecgrecover(b: BaselineInput) -> tuple[np.ndarray, tuple[str, ...]]:
    """ECGrecover (the talk's protocol): 12 leads in mV, the withheld ones zeroed, the observed ones kept.

    The 12-lead input holds the standard leads the observation determines (:func:`observed_12`: lead I alone
    for ``lead_I``, the six limb leads from I and II), derived from the observed leads only.
    """
    model = b.inputs.load("ecgrecover")
    cfg = model.config
    if cfg.protocol != "talk":
        raise ValueError(f"{TASK}: ECGrecover model of the {cfg.protocol!r} protocol; the table uses the talk's")
    if (cfg.length, cfg.padded_length) != (b.length, b.observed.shape[-1]):
        raise ValueError(
            f"{TASK}: ECGrecover was trained on {cfg.length}/{cfg.padded_length} samples, the rhythms have "
            f"{b.length}/{b.observed.shape[-1]}"
        )
    obs12 = observed_12(b.leads, b.problem, b.length)
    x12 = np.zeros((len(b.observed), len(leadlib.STANDARD_12), b.observed.shape[-1]), dtype=np.float32)
    rows = leadlib.indices(b.problem.observed, b.leads)
    names12 = [n for n, o in zip(leadlib.STANDARD_12, obs12) if o]
    x12[:, obs12, : b.length] = leadlib.derive(b.observed[:, rows, : b.length], b.problem.observed, names12)
    rec = ecgrecover.reconstruct(model, x12, obs12, seed=b.seed)
    return rec[:, None], leadlib.STANDARD_12


def reconstruct_dower(b: BaselineInput) -> tuple[np.ndarray, tuple[str, ...]]:
    """Dower's least-squares reconstruction of the withheld modelled leads from the observed ones, in mV."""
    rows = leadlib.indices(b.problem.observed, b.leads)
    out = np.array(b.observed, dtype=np.float64)
    out[:, leadlib.indices(b.problem.withheld, b.leads), : b.length] = dower.reconstruct(
        b.observed[:, rows, : b.length], b.problem.observed, b.problem.withheld
    )
    return out[:, None], tuple(b.leads)


#: Keys of ``rhythm_tasks.rhythm_mlr.beat_prior``: the beat-prior baseline's sampling (:func:`beat_sampling`).
BEAT_PRIOR_KEYS = ("sampler", "options", "n_samples", "sigma")


def beat_sampling(section: Mapping[str, Any], seed: int) -> Any:
    """The :class:`ecgdiff.reconstruct.Sampling` of the beat-prior baseline from ``rhythm_mlr.beat_prior``:
    ``sampler`` and its ``options`` (validated against the sampler's fields), ``n_samples`` per beat, and
    ``sigma``, the noise std of the observed leads in the beats' normalised units (None: estimated per
    rhythm, paper algorithm 2)."""
    from ...reconstruct import Sampling

    return Sampling(
        sampler=str(section["sampler"]),
        options=dict(section["options"] or {}),
        n_samples=int(section["n_samples"]),
        sigma=None if section["sigma"] is None else float(section["sigma"]),
        seed=int(seed),
    )


def reconstruct_beat_prior(b: BaselineInput) -> tuple[np.ndarray, tuple[str, ...]]:
    """The paper's beat prior on rhythms: each rhythm's beats reconstructed from its observed leads and stitched.

    Per rhythm, :func:`ecgdiff.reconstruct.reconstruct_beatwise` (the ``ecgdiff reconstruct`` command's method)
    runs the beat pipeline on the observed leads (resampled to the beat rate, R peaks, the beat windows), samples
    the withheld standard leads of every beat from the conditional beat prior given the beat's observed leads,
    age, sex and RR (their millivolt scales inferred from the observed leads' by the regression of the beat
    database's training beats), and blends the beats' posterior means into the rhythm's timeline
    (:func:`ecgdiff.reconstruct.stitch`), resampled to the rhythm rate. Before the first and after the last
    beat window the withheld leads are 0 mV (the filtered baseline). The leads the observation determines are
    derived from the observed ones. One "sample": the posterior mean.

    A rhythm without age (the conditional prior needs it) takes the median age of the beat database's training
    beats; a rhythm with no usable beat is reconstructed as 0 mV; both are logged by rhythm.
    """
    from ...data.records import Record, RecordError
    from ...data.scales import LeadScales
    from ...reconstruct import reconstruct_beatwise

    prior = b.inputs.load("beat_prior")
    db = b.inputs.load("beat_data")
    if b.meta is None or b.settings is None:
        raise ValueError(f"{TASK}: the beat_prior baseline needs the rhythms' metadata and the task's settings")
    scales = LeadScales.from_database(db)
    train_age = float(np.median(db.meta.loc[db.meta["split"] == "train", "age"]))
    sampling = beat_sampling(b.settings.beat_prior, b.seed)
    obs12 = observed_12(b.leads, b.problem, b.length)
    names_obs = tuple(n for n, o in zip(leadlib.STANDARD_12, obs12) if o)
    names_missing = tuple(n for n, o in zip(leadlib.STANDARD_12, obs12) if not o)
    rows = leadlib.indices(b.problem.observed, b.leads)
    P, T = len(b.observed), b.observed.shape[-1]
    out = np.zeros((P, 1, len(leadlib.STANDARD_12), T))
    out[:, 0][:, obs12, : b.length] = leadlib.derive(b.observed[:, rows, : b.length], b.problem.observed, names_obs)
    for i, m in enumerate(b.meta.itertuples(index=False)):
        age = None if pd.isna(m.age) else float(m.age)
        if age is None:
            log.warning(
                "%s beat_prior: rhythm %s has no age: the training median %.0f is used", TASK, m.rhythm_id, train_age
            )
            age = train_age
        record = Record(
            record_id=str(m.rhythm_id),
            patient_id=str(m.patient_id),
            source="rhythm",
            fs=b.fs,
            signal=np.asarray(b.observed[i, rows, : b.length], dtype=np.float64),
            leads=tuple(b.problem.observed),
            age=age,
            sex=str(m.sex),
        )
        try:
            rec = reconstruct_beatwise(
                record,
                prior,
                b.problem.observed,
                missing=names_missing,
                scales=scales,
                sampling=sampling,
                show_progress=False,
            )
        except RecordError as err:
            log.warning(
                "%s beat_prior: rhythm %s gives no beat (%s): its withheld leads are 0 mV", TASK, m.rhythm_id, err
            )
            continue
        mean = rec.stitched_at(b.fs, edge="zero")[0][:, : b.length]
        out[i, 0][~obs12, : mean.shape[-1]] = mean[[rec.leads.index(n) for n in names_missing]]
    return out, leadlib.STANDARD_12


#: The baselines a configuration may name in ``baselines`` (the inputs each loads: the registry's
#: ``baseline_inputs`` of the task).
BASELINES: dict[str, Baseline] = {
    "ecgrecover": Baseline("ECGrecover", ("ecgrecover",), reconstruct_ecgrecover),
    "dower": Baseline("Dower", (), reconstruct_dower),
    "beat_prior": Baseline("Beat prior (stitched)", ("beat_prior", "beat_data"), reconstruct_beat_prior),
}


# --------------------------------------------------------------------------- scores
def to_12(samples: np.ndarray, leads: Sequence[str], length: int) -> np.ndarray:
    """``[..., K, >= length]`` in the leads ``leads`` -> the 12 standard leads over the valid samples (float64).

    Signals given in the 12 standard leads are kept as they are (no projection onto Einthoven-consistent leads).
    """
    x = np.asarray(samples, dtype=np.float64)
    if tuple(leads) == leadlib.STANDARD_12:
        return x[..., :length]
    return rm.expand(x, leads, length)


def score_reconstructions(true12: np.ndarray, rec12: np.ndarray, scored: np.ndarray) -> dict[str, np.ndarray]:
    """Per-rhythm metrics of reconstructions ``rec12 [P, n, 12, T]`` of ``true12 [P, 12, T]`` (valid samples only).

    ``scored [12, T]``: the coordinates the observation does not determine. Returns ``rmse``, ``mae`` (per
    sample, averaged over the ``n`` samples), ``soft_dtw`` (the authors' layout, of the mean), ``dtw`` (per
    lead, of the mean), ``rmse_of_mean`` (``[P]`` each) and ``rmse_lead [P, 12]`` (per lead over its scored
    samples, averaged over the samples; NaN for a lead with none).
    """
    true12, rec12 = np.asarray(true12, dtype=np.float64), np.asarray(rec12, dtype=np.float64)
    P = len(true12)
    out = {k: np.zeros(P) for k in METRICS}
    out["rmse_lead"] = np.full((P, true12.shape[1]), np.nan)
    lead_idx = rm.scored_leads(scored)
    for i in range(P):
        x, xs = true12[i], rec12[i]
        mean = xs.mean(axis=0)
        out["rmse"][i] = rm.rmse_per_sample(x, xs, scored).mean()
        out["mae"][i] = rm.mae_per_sample(x, xs, scored).mean()
        out["rmse_of_mean"][i] = rm.rmse_per_sample(x, mean[None], scored)[0]
        out["soft_dtw"][i] = rm.soft_dtw_score(x, mean, lead_idx, sequence="lead")
        out["dtw"][i] = rm.dtw_score(x, mean, lead_idx)
        for j in lead_idx:
            m = np.zeros_like(scored)
            m[j] = scored[j]
            out["rmse_lead"][i, j] = rm.rmse_per_sample(x, xs, m).mean()
    return out


def classify_12(classifier: Any, rec12: np.ndarray, how: str, batch_size: int = 512) -> np.ndarray:
    """Class probabilities ``[P, C]`` of 12-lead reconstructions ``rec12 [P, n, 12, length]``.

    The classifier's protocol (:class:`ecgdiff.classify.predict.RhythmClassifier`): standardised, sliding
    windows aggregated by its rule (max), then the ``n`` samples by ``how`` (median). For signals derived from
    the modelled leads this is :meth:`~ecgdiff.classify.predict.RhythmClassifier.predict_posterior`; here the
    12 leads are taken as given, so that a method that outputs 12 leads (ECGrecover) is classified on them.
    """
    rec12 = np.asarray(rec12)
    P, n = rec12.shape[:2]
    if P == 0:
        return np.zeros((0, len(classifier.classes)))
    flat = classifier.standardise(rec12.reshape(P * n, *rec12.shape[2:]).astype(np.float32))
    win = window_probabilities(
        classifier.network, flat, classifier.starts, classifier.window, classifier.device, batch_size
    )
    per = np.asarray(aggregate(win, classifier.meta.get("window_aggregate", "max"), axis=1)).reshape(P, n, -1)
    return np.asarray(aggregate(per, how, axis=1), dtype=np.float64)


def _check_classifier(classifier: Any, db: Any) -> None:
    if tuple(classifier.classes) != CLASSES:
        raise ValueError(f"{TASK}: the classifier's classes {classifier.classes} are not {CLASSES}")
    if classifier.length != db.length or abs(classifier.fs - db.fs) > 1e-9:
        raise ValueError(
            f"{TASK}: the classifier takes {classifier.length} samples at {classifier.fs} Hz, the rhythms have "
            f"{db.length} at {db.fs} Hz"
        )


# --------------------------------------------------------------------------- shard
def run_shard(db: Any, ctx: TaskContext, providers: ProviderFactory, shard: int, inputs: Any) -> dict[str, np.ndarray]:
    """Reconstruct the shard's rhythms in every problem with every method; per-rhythm scores and probabilities."""
    s = ctx.settings
    leads, length, T = tuple(db.leads), int(db.length), int(db.padded_length)
    x, meta = select(*rhythms(db, ctx), shard, ctx.run.shards)
    P = len(meta)
    names = samplers(ctx)
    out: dict[str, np.ndarray] = {
        "rhythm_id": meta["rhythm_id"].to_numpy(),
        "patient_id": meta["patient_id"].astype(str).to_numpy(),
        "label": meta["label"].astype(str).to_numpy(),
        "targets": meta[list(CLASSES)].to_numpy().astype(np.int64).reshape(P, len(CLASSES)),
    }
    probs = problems(leads, s)
    n12, C = len(leadlib.STANDARD_12), len(CLASSES)
    for prob in probs:  # every per-rhythm array, filled below (empty for an empty shard)
        for m in methods(ctx):
            out |= {f"{k}__{prob.key}__{m}": np.full(P, np.nan) for k in METRICS}
            out[f"rmse_lead__{prob.key}__{m}"] = np.full((P, n12), np.nan)
            out[f"prob__{prob.key}__{m}"] = np.full((P, C), np.nan)
    out["prob__truth"] = np.zeros((P, C))
    if P == 0:
        return out
    classifier = inputs.load("classifier")
    _check_classifier(classifier, db)
    x[..., length:] = 0.0  # the padding is never read: not observed, not scored, not classified
    true12 = to_12(x, leads, length)
    out["prob__truth"] = classify_12(classifier, true12[:, None], s.sample_aggregate)
    prov = {m: providers(m) for m in names}
    examples = [(c, int(np.flatnonzero(out["label"] == c)[0])) for c in EXAMPLE_CLASSES if (out["label"] == c).any()]
    n_calls = len(probs) * len(names) * len(batches(P, s.batch_patients))
    bar = progress.bar(total=n_calls, desc=f"{TASK} shard {shard}", unit="batch")
    for prob in probs:
        obs = observation(leads, prob, T, length)
        y = obs.apply(x)
        x_obs = np.where(obs.mask, x, 0.0)
        scored = rm.scored_mask(obs.mask, leads, length)
        sigma = np.full((P, obs.m), float(s.sigma_y))
        for m in names:
            gen = ctx.generator(ctx.shard_seed(shard, f"{TASK}/{prob.key}/{m}"))
            keep_examples = prob.key == s.example_setting and m == ctx.sampler
            for b in batches(P, s.batch_patients):
                smp = prov[m].sample(None, y[b], obs, sigma[b], s.n_samples, gen)
                smp = np.where(obs.mask, x_obs[b][:, None], smp)  # the observed leads are the observation
                rec12 = to_12(smp, leads, length)
                _record(out, prob.key, m, b, true12[b], rec12, scored, classifier, s.sample_aggregate)
                if keep_examples:
                    _record_examples(out, examples, b, meta, true12, rec12, ~scored.any(axis=1))
                bar.update(1)
        base_in = BaselineInput(
            x_obs,
            prob,
            leads,
            length,
            float(db.fs),
            inputs,
            ctx.shard_seed(shard, TASK),
            meta.reset_index(drop=True),
            s,
        )
        for name in s.baselines:
            rec, rec_leads = BASELINES[name].reconstruct(base_in)
            rec12 = to_12(rec, rec_leads, length)
            _record(out, prob.key, name, slice(0, P), true12, rec12, scored, classifier, s.sample_aggregate)
        log.info("%s shard %d: problem %s done (%d rhythms)", TASK, shard, prob.key, P)
    bar.close()
    return out


def _record(out, key, method, rows, true12, rec12, scored, classifier, how) -> None:
    """Scores and probabilities of the reconstructions ``rec12`` of the shard's rhythms ``rows``."""
    for k, v in score_reconstructions(true12, rec12, scored).items():
        out[f"{k}__{key}__{method}"][rows] = v
    out[f"prob__{key}__{method}"][rows] = classify_12(classifier, rec12, how)


def _record_examples(out, examples, rows, meta, true12, rec12, obs12) -> None:
    """The figures' examples: the first rhythm of each class of :data:`EXAMPLE_CLASSES` in the shard (those of the
    batch ``rows`` of reconstructions ``rec12``)."""
    if "ex_class" not in out:
        k, shape = len(examples), true12.shape[1:]
        out["ex_class"] = np.array([c for c, _ in examples], dtype=str)
        out["ex_rhythm_id"] = meta["rhythm_id"].to_numpy()[[i for _, i in examples]]
        out["ex_patient"] = meta["patient_id"].astype(str).to_numpy()[[i for _, i in examples]]
        out["ex_observed"] = obs12
        out["ex_true"] = true12[[i for _, i in examples]].astype(np.float32)
        out["ex_mean"], out["ex_std"] = np.zeros((k, *shape), np.float32), np.zeros((k, *shape), np.float32)
    for e, (_, i) in enumerate(examples):
        if rows.start <= i < rows.stop:
            out["ex_mean"][e] = rec12[i - rows.start].mean(axis=0)
            out["ex_std"][e] = rec12[i - rows.start].std(axis=0)


# --------------------------------------------------------------------------- gather
def interval(values: np.ndarray, level: float) -> tuple[Any, int]:
    """Student-t interval over the rhythms whose value is finite, and how many were not (a diverged sampler)."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    return (t_interval(v[ok], level) if ok.any() else None), int((~ok).sum())


def auc_table(targets: np.ndarray, probs: np.ndarray, pids: np.ndarray, s: Settings, seed: int) -> pd.DataFrame:
    """AUC-PR per class with its patient-bootstrap interval over the rhythms with finite probabilities."""
    ok = np.isfinite(probs).all(axis=1)
    if not ok.any():
        return pd.DataFrame({"class": list(CLASSES), "auc_pr": np.nan, "low": np.nan, "high": np.nan})
    return auc_pr_table(targets[ok], probs[ok], pids[ok], CLASSES, s.n_boot, s.level, seed=seed)


def _cell(iv: Any, failed: int = 0, digits: int = 3) -> str:
    text = "-" if iv is None else iv.format(digits)
    return text + (f" ({failed} failed)" if failed else "")


def _auc_columns(auc: pd.DataFrame) -> tuple[dict[str, float], dict[str, str]]:
    num, disp = {}, {}
    for _, row in auc.iterrows():
        c = row["class"]
        num |= {f"auc_{c}": row["auc_pr"], f"auc_{c}_low": row["low"], f"auc_{c}_high": row["high"]}
        if not np.isfinite(row["auc_pr"]):
            disp[f"AUC-PR {c}"] = "n/a"
        elif not np.isfinite(row["low"]):
            disp[f"AUC-PR {c}"] = f"{row['auc_pr']:.2f}"
        else:
            disp[f"AUC-PR {c}"] = f"{row['auc_pr']:.2f} [{row['low']:.2f}, {row['high']:.2f}]"
    return num, disp


def _talk_columns(method: str, key: str | None) -> tuple[dict[str, float], dict[str, str]]:
    """The talk's numbers of ``method`` (numeric, display) where the problem is the talk's (``lead_I``; ``key``
    None: the ground-truth row); NaN and empty cells elsewhere."""
    talk = (TALK_TABLE.get(method) if key in (None, TALK_SETTING) else None) or {}
    num: dict[str, float] = {}
    disp: dict[str, str] = {}
    for metric, label in (("rmse", "RMSE"), ("mae", "MAD"), ("soft_dtw", "DTW")):
        v = talk.get(metric)
        num[f"talk_{metric}"], num[f"talk_{metric}_pm"] = v if v else (np.nan, np.nan)
        disp[f"talk {label}"] = f"{v[0]:.2f} ± {v[1]:.2f}" if v else ""
    for c, v in zip(CLASSES, talk.get("auc", (np.nan,) * len(CLASSES))):
        num[f"talk_auc_{c}"] = v
        disp[f"talk AUC {c}"] = f"{v:.2f}" if np.isfinite(v) else ""
    return num, disp


DISPLAY_METRICS = {
    "rmse": "RMSE",
    "mae": "MAD",
    "soft_dtw": "DTW (authors')",
    "dtw": "DTW (per lead)",
    "rmse_of_mean": "RMSE of mean",
}


def summarise(db: Any, shards: Sequence[Shard], ctx: TaskContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The table: numeric (CSV) and display (Markdown) frames, the ground-truth row first, then one row per
    problem and method (samplers, then baselines)."""
    s = ctx.settings
    targets = concat(shards, "targets")
    pids = concat(shards, "patient_id")
    counts = {"n_rhythms": len(pids), "n_patients": len(np.unique(pids))}
    num_rows, disp_rows = [], []
    a_num, a_disp = _auc_columns(auc_table(targets, concat(shards, "prob__truth"), pids, s, ctx.run.seed))
    t_num, t_disp = _talk_columns("ground_truth", None)
    num = {"method": "ground_truth", "problem": "-", "setting": "-", "observed": " ".join(db.leads)}
    num_rows.append(num | {k: np.nan for k in METRICS} | a_num | t_num | counts | {"n_failed": 0})
    disp = {"Method": title("ground_truth"), "Observed": "-"} | {v: "-" for v in DISPLAY_METRICS.values()}
    disp_rows.append(disp | a_disp | t_disp)
    for prob in problems(db.leads, s):
        for m in methods(ctx):
            ivs = {k: interval(concat(shards, f"{k}__{prob.key}__{m}"), s.level) for k in METRICS}
            probs = concat(shards, f"prob__{prob.key}__{m}")
            a_num, a_disp = _auc_columns(auc_table(targets, probs, pids, s, ctx.run.seed))
            t_num, t_disp = _talk_columns(m, prob.key)
            num = {"method": m, "problem": prob.key, "setting": prob.setting, "observed": " ".join(prob.observed)}
            for k, (iv, _) in ivs.items():
                est, low, high = (np.nan,) * 3 if iv is None else (iv.estimate, iv.low, iv.high)
                num |= {k: est, f"{k}_low": low, f"{k}_high": high}
            failed = max(f for _, f in ivs.values())
            num_rows.append(num | a_num | t_num | counts | {"n_failed": failed})
            disp = {"Method": title(m), "Observed": prob.title}
            disp |= {v: _cell(*ivs[k]) for k, v in DISPLAY_METRICS.items()}
            disp_rows.append(disp | a_disp | t_disp)
    return pd.DataFrame(num_rows), pd.DataFrame(disp_rows)


#: The caption's words for each setting.
PROBLEM_TEXT = {
    "lead_I": "lead I alone observed (the talk's table)",
    "limb": "the limb leads alone observed",
    "precordial": "each precordial lead of {leads} withheld alone",
}


def caption(db: Any, ctx: TaskContext, numeric: pd.DataFrame) -> str:
    s = ctx.settings
    n, npat = int(numeric["n_rhythms"].iloc[0]), int(numeric["n_patients"].iloc[0])
    opts = "; ".join(f"{title(m)} {dict(ctx.samplers[m].options)}" for m in samplers(ctx))
    sources = ", ".join(sorted({str(src.get("source")) for src in db.manifest.get("sources", [])})) or "unknown"
    return (
        f"Missing-lead reconstruction of 10-s 12-lead rhythms ({db.fs:g} Hz, {db.length} valid samples; rhythm "
        f"database of {sources}, data hash {db.data_hash[:12]}): {n} test rhythms of {npat} patients. Problems: "
        f"{'; '.join(PROBLEM_TEXT[k].format(leads=', '.join(s.precordial_leads)) for k in s.settings)}; "
        f"observation = the observed leads over the valid samples, no added noise, likelihood std sigma_y = "
        f"{s.sigma_y:g} mV. Samplers: posterior mean of {s.n_samples} samples (observed leads set to the "
        f"observation); options: {opts}. ECGrecover: the talk's protocol (12 leads, withheld ones zeroed), "
        "scored on its 12 output leads; Dower: least squares from the observed leads in mV. Metrics on the 12 "
        "leads (derived from the modelled ones, ground truth too) over the coordinates the observation does not "
        "determine: RMSE and MAD (mean absolute error) per sample, averaged over samples; DTW (authors'): "
        "soft-DTW (gamma 0.1) of the posterior mean over the unobserved leads / 1024, in the authors' layout "
        "(the leads as the sequence axis, rhythm_metrics sequence='lead'); DTW (per lead): DTW along time per "
        "unobserved lead, averaged; RMSE of mean: of the posterior mean. Mean and "
        f"{100 * s.level:g}% Student-t interval over rhythms. AUC-PR: xresnet1d probabilities ({s.sample_aggregate} "
        f"over samples) of NSR, BBB, AF with a {100 * s.level:g}% patient-bootstrap interval ({s.n_boot} "
        "replicates). Columns 'talk': the talk's table (PTB-XL test fold, the authors' rhythm prior, lead I "
        "observed), given only for the lead-I rows and the ground truth."
    )


def gather(db: Any, shards: list[Shard], ctx: TaskContext, outputs: Mapping[str, str]) -> pd.DataFrame:
    from . import mlr_figures

    check_shards(shards, TASK, db.data_hash)
    if not any(len(sh.arrays.get("rhythm_id", ())) for sh in shards):
        raise ValueError(f"{TASK}: no shard holds any rhythm (n_patients = {ctx.settings.n_patients})")
    prov = ctx.provenance(db.data_hash, shards)
    numeric, display = summarise(db, shards, ctx)
    write_table_pair(numeric, display, outputs["table_csv"], outputs["table_md"], caption(db, ctx, numeric), prov)
    for cls, key in zip(EXAMPLE_CLASSES, ("figure_bbb", "figure_af")):
        mlr_figures.plot_example(db, shards, ctx, cls, outputs[key], prov)
    mlr_figures.plot_rmse_per_lead(db, shards, ctx, outputs["figure_rmse"], prov)
    return numeric
