"""Artefact removal from 10-s rhythms (the talk's table 2: electrode motion "EMR", baseline wander "BWR").

Protocol. The task's patients are the rhythm database's test patients, one seeded rhythm each, at most
``n_patients`` (:func:`selection`). For each noise kind of ``kinds`` (``em``, ``bw``) every method sees the same
input: the patient's rhythm in the saved noisy set of that kind (:mod:`ecgdiff.data.noise`: NSTDB channel 1, a
window per modelled lead scaled to 1 x (em) or 2 x (bw) the lead's peak-to-peak; the task checks that the set's
clean part, ``noisy - noise``, is the database's rhythm). Methods:

- **RhythmDiff-<sampler>**: the harmonic-artefact alternation of :mod:`ecgdiff.inverse.artefacts` (round 0 a
  Lasso of ``y`` on the harmonics, then posterior sampling of ``x`` given ``y - artefact`` and Ridge refits), once
  for each inner sampler: the rhythm section's ``sampler`` (the talk's table: MGPS) and those of ``samplers``
  (the authors' code ran DDNM+, eta 0.85). Its inner step draws through the task's posterior sampler
  (:class:`ProviderArtefactModel`: the run's ``max_batch_rows`` applies, the rhythm prior's denoiser);
- **DeScoD-ECG**: the model trained on that noise kind (inputs ``descod_em``, ``descod_bw``); a model of the
  other kind is refused (:class:`ecgdiff.baselines.descod.NoiseKindError`);
- **the classical filter** of that kind (:mod:`ecgdiff.baselines.filters`): zero-phase high-pass for ``bw``,
  the two-stage median baseline for ``em``;
- **the noisy input** itself (the floor).

Metrics (:func:`ecgdiff.rhythm_metrics.denoising_scores`), per patient over every coordinate of the 12 leads
(derived from the 8 modelled ones, the truth too), valid samples only: RMSE and MAD (mean absolute error),
averaged over posterior samples for the alternation; DTW = soft-DTW (gamma 0.1, / 1024) of the point estimate
in the authors' layout (``dtw_sequence: lead``); per-lead DTW (tslearn); DeScoD's SSD, maximum absolute
deviation, PRD and cosine similarity. Mean and Student-t interval over patients (``level``). Classifier AUC-PR
(NSR, BBB, AF; input ``classifier``) of every method's output (the median of the per-sample probabilities over
the posterior samples for the alternation, ``classifier_aggregate``) with a patient-bootstrap interval, and of
the clean rhythms (the ground-truth row).

Shard files hold, per patient, the scores of every (kind, method), the classifier's probabilities, the noise
amplitude of each input (rms over the 12 leads of the saved noise, ``scale_l * window_l``), the alternation's
rounds and convergence; plus, for the first BBB and the first AF patient of the shard, the figure leads of the
noisy input, the true signal, the true and estimated artefact, the posterior mean and band (the paper
sampler's) and DeScoD's output. No sample arrays.

Outputs: ``tables/artefact_removal.{csv,md}`` (laid out as the talk's table 2, the talk's numbers
:data:`TALK_TABLE2` beside ours), ``figures/fig_artefacts_bbb``, ``fig_artefacts_af`` (one patient of the class,
both noise kinds; a class without a scored patient is said so in the title and the log) and
``fig_artefacts_vs_amplitude`` (RMSE, MAD, DTW of each method against the input's noise amplitude, patients
grouped into ``amplitude_bins`` equal-count bins).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ... import leads as leadlib
from ... import progress, rhythm_metrics
from ...baselines import descod, filters
from ...classify.evaluate import auc_pr_table
from ...classify.predict import SAMPLE_AGGREGATES
from ...inverse import available
from ...inverse.artefacts import ArtefactModel, ArtefactSettings
from ...metrics import t_interval
from ...plots import save_figure
from ...tables import write_table_pair
from .. import figures
from ..context import ProviderFactory, TaskContext
from ..posterior import LinearObservation, SamplesProvider, batches, expand_groups
from ..shards import Shard, check_shards, concat, select

log = logging.getLogger(__name__)

TASK = "rhythm_artefacts"
#: Noise kinds and their rows' task names in the talk's table 2.
KINDS: dict[str, str] = {"em": "EMR", "bw": "BWR"}
#: Per-patient scores, in the column order of the shard arrays (:func:`ecgdiff.rhythm_metrics.denoising_scores`).
METRICS: tuple[str, ...] = ("rmse", "mae", "soft_dtw", "dtw", "ssd", "max_abs", "prd", "cosine")
#: The table's columns of the talk (RMSE, MAD, DTW) and their metric.
TALK_METRICS: dict[str, str] = {"RMSE": "rmse", "MAD": "mae", "DTW": "soft_dtw"}
#: Figure output key -> the class whose patient it shows.
FIGURE_CLASSES: dict[str, str] = {"figure_bbb": "BBB", "figure_af": "AF"}
#: Keys of the ``artefact`` section: the fields of :class:`ArtefactSettings` the task does not set itself (the
#: sampling rate is the database's, the sampler each row's).
ARTEFACT_KEYS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(ArtefactSettings) if f.name not in ("fs", "sampler", "sampler_options")
)

#: The talk's table 2 (its slide "Artefact Removal in ECGs", as printed there): ``(mean,
#: half-width)`` of RMSE, MAD and DTW, and the xresnet1d50 AUC-PR of NSR, BBB, AF, keyed by ``(kind, method)``
#: (``("truth", "truth")``: its ground-truth row). The talk's "RhythmDiff-MGPS" rows are our ``mgps`` rows.
TALK_TABLE2: dict[tuple[str, str], dict[str, Any]] = {
    ("truth", "truth"): {"auc_pr": {"NSR": 1.00, "BBB": 1.00, "AF": 0.98}},
    ("em", "mgps"): {
        "rmse": (0.097, 0.002),
        "mae": (0.059, 0.001),
        "soft_dtw": (0.13, 0.01),
        "auc_pr": {"NSR": 1.00, "BBB": 1.00, "AF": 0.86},
    },
    ("em", "descod"): {
        "rmse": (0.100, 0.002),
        "mae": (0.074, 0.001),
        "soft_dtw": (0.13, 0.01),
        "auc_pr": {"NSR": 1.00, "BBB": 0.98, "AF": 0.81},
    },
    ("bw", "mgps"): {
        "rmse": (0.134, 0.003),
        "mae": (0.078, 0.001),
        "soft_dtw": (0.24, 0.02),
        "auc_pr": {"NSR": 0.99, "BBB": 0.97, "AF": 0.86},
    },
    ("bw", "descod"): {
        "rmse": (0.088, 0.002),
        "mae": (0.062, 0.001),
        "soft_dtw": (0.11, 0.01),
        "auc_pr": {"NSR": 0.99, "BBB": 0.99, "AF": 0.88},
    },
}
TALK_SOURCE = "the talk's slide 'Artefact Removal in ECGs', table 2"


# ================================================================== settings
@dataclass(frozen=True)
class Settings:
    """``rhythm_tasks.rhythm_artefacts`` (every key given by the configuration; validated here)."""

    n_patients: int | None  # test patients, one rhythm each (None: all)
    kinds: tuple[str, ...]  # noise kinds: em (EMR), bw (BWR)
    samplers: tuple[str, ...]  # inner samplers of the alternation besides rhythm_tasks.sampler (table rows)
    artefact: dict  # the alternation: every key of ARTEFACT_KEYS (ecgdiff.inverse.artefacts.ArtefactSettings)
    batch_patients: int | None  # patients per alternation call (None: the whole shard)
    descod_shots: int | None  # DeScoD samples averaged per input (None: the model's own setting)
    descod_batch: int  # DeScoD network inputs per forward pass
    highpass: dict  # BW filter: ecgdiff.baselines.filters.HighpassConfig
    median: dict  # EM filter: ecgdiff.baselines.filters.MedianConfig
    dtw_sequence: str  # soft-DTW layout: lead (the authors') | time
    prd_denominator: str  # descod (DeScoD's formula) | truth
    classifier_aggregate: str  # over posterior samples: median (the talk) | mean
    n_boot: int  # bootstrap replicates of the AUC-PR intervals (0: none)
    level: float  # level of every interval
    band: tuple[float, float]  # quantiles of the posterior band drawn in the figures
    figure_leads: tuple[str, ...]  # leads drawn in the example figures (of the 12 standard leads)
    amplitude_bins: int  # equal-count bins of noise amplitude in fig_artefacts_vs_amplitude

    def __post_init__(self) -> None:
        where = f"rhythm_tasks.{TASK}"
        if self.n_patients is not None and int(self.n_patients) < 1:
            raise ValueError(f"{where}.n_patients must be >= 1 or null, got {self.n_patients}")
        if not self.kinds or len(set(self.kinds)) != len(self.kinds) or set(self.kinds) - set(KINDS):
            raise ValueError(f"{where}.kinds must be distinct kinds of {sorted(KINDS)}, got {list(self.kinds)}")
        for name in self.samplers:
            if name not in available():
                raise ValueError(f"{where}: unknown sampler {name!r}; available: {', '.join(available())}")
        section = dict(self.artefact)
        unknown, missing = sorted(set(section) - set(ARTEFACT_KEYS)), [k for k in ARTEFACT_KEYS if k not in section]
        if unknown or missing:
            raise ValueError(
                f"{where}.artefact: unknown keys {unknown}, missing keys {missing} (keys: {ARTEFACT_KEYS})"
            )
        try:  # the values, at a rate that admits f_max (the database's rate is checked when the task runs)
            fs = max(2.0 * float(section["f_max"]), 1.0)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}.artefact.f_max must be a number, got {section['f_max']!r}") from err
        self.artefact_settings(fs, "mgps", {})
        for name in ("batch_patients", "descod_shots"):
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise ValueError(f"{where}.{name} must be >= 1 or null, got {v}")
        if int(self.descod_batch) < 1:
            raise ValueError(f"{where}.descod_batch must be >= 1, got {self.descod_batch}")
        self.highpass_config()
        self.median_config()
        if self.dtw_sequence not in rhythm_metrics.SEQUENCES:
            raise ValueError(
                f"{where}.dtw_sequence must be one of {rhythm_metrics.SEQUENCES}, got {self.dtw_sequence!r}"
            )
        if self.prd_denominator not in rhythm_metrics.PRD_DENOMINATORS:
            raise ValueError(
                f"{where}.prd_denominator must be one of {rhythm_metrics.PRD_DENOMINATORS}, got {self.prd_denominator!r}"
            )
        if self.classifier_aggregate not in SAMPLE_AGGREGATES:
            raise ValueError(
                f"{where}.classifier_aggregate must be one of {SAMPLE_AGGREGATES}, got {self.classifier_aggregate!r}"
            )
        if int(self.n_boot) < 0:
            raise ValueError(f"{where}.n_boot must be >= 0, got {self.n_boot}")
        if not 0.0 < float(self.level) < 1.0:
            raise ValueError(f"{where}.level must be in (0, 1), got {self.level}")
        lo, hi = (float(q) for q in self.band)
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"{where}.band must be quantiles 0 <= low < high <= 1, got {list(self.band)}")
        if not self.figure_leads:
            raise ValueError(f"{where}.figure_leads must name at least one lead")
        try:
            leadlib.indices(self.figure_leads, leadlib.STANDARD_12)
        except leadlib.LeadError as err:
            raise ValueError(f"{where}.figure_leads: {err}") from err
        if int(self.amplitude_bins) < 1:
            raise ValueError(f"{where}.amplitude_bins must be >= 1, got {self.amplitude_bins}")

    def artefact_settings(self, fs: float, sampler: str, options: Mapping[str, Any]) -> ArtefactSettings:
        """The alternation's settings for signals at ``fs`` Hz with the inner ``sampler`` and its ``options``."""
        try:
            return ArtefactSettings(**self.artefact, fs=float(fs), sampler=sampler, sampler_options=dict(options))
        except (TypeError, ValueError) as err:
            raise ValueError(f"rhythm_tasks.{TASK}.artefact: {err}") from err

    def highpass_config(self) -> filters.HighpassConfig:
        try:
            return filters.HighpassConfig(**self.highpass)
        except (TypeError, ValueError) as err:
            raise ValueError(f"rhythm_tasks.{TASK}.highpass: {err}") from err

    def median_config(self) -> filters.MedianConfig:
        cfg = dict(self.median)
        if "windows_ms" in cfg:
            cfg["windows_ms"] = tuple(float(w) for w in cfg["windows_ms"])
        try:
            return filters.MedianConfig(**cfg)
        except (TypeError, ValueError) as err:
            raise ValueError(f"rhythm_tasks.{TASK}.median: {err}") from err


def alternation_samplers(ctx: TaskContext) -> list[str]:
    """Inner samplers of the alternation rows: the section's sampler first, then ``samplers`` (each once)."""
    return list(dict.fromkeys([ctx.sampler, *ctx.settings.samplers]))


def methods(ctx: TaskContext) -> list[str]:
    """Row keys of one noise kind, in table order: ``rhythmdiff_<sampler>``, ``descod``, ``filter``, ``noisy``."""
    return [f"rhythmdiff_{name}" for name in alternation_samplers(ctx)] + ["descod", "filter", "noisy"]


def method_label(method: str, kind: str, ctx: TaskContext) -> str:
    """The method's name in the table."""
    if method.startswith("rhythmdiff_"):
        return f"RhythmDiff-{method.removeprefix('rhythmdiff_').upper()}"
    if method == "descod":
        return "DeScoD-ECG"
    if method == "filter":
        if kind == "bw":
            hp = ctx.settings.highpass_config()
            return f"high-pass ({hp.cutoff_hz:g} Hz, order {hp.order})"
        md = ctx.settings.median_config()
        return f"median baseline ({'/'.join(f'{w:g}' for w in md.windows_ms)} ms)"
    if method == "noisy":
        return "noisy input"
    raise KeyError(method)


def alternation_seed(ctx: TaskContext, shard: int, kind: str, sampler: str) -> int:
    """Seed of the alternation of ``kind`` with ``sampler`` on ``shard`` (independent of the other rows)."""
    return ctx.shard_seed(shard, f"{TASK}/{kind}/{sampler}")


def descod_seed(ctx: TaskContext, shard: int, kind: str) -> int:
    """Seed of DeScoD's sampling for ``kind`` on ``shard``."""
    return ctx.shard_seed(shard, f"{TASK}/{kind}/descod")


# ================================================================== patients and inputs
def selection(db: Any, ctx: TaskContext) -> pd.DataFrame:
    """Metadata of the task's rhythms: one seeded rhythm per test patient, at most ``n_patients`` patients,
    in database order (index: the position in the test split)."""
    meta = db.meta.loc[(db.meta["split"] == "test").to_numpy()].reset_index(drop=True)
    order = np.random.default_rng(ctx.run.seed).permutation(len(meta))
    first = meta.iloc[order].drop_duplicates("patient_id")  # a random rhythm of every patient
    if ctx.settings.n_patients is not None:
        first = first.iloc[: int(ctx.settings.n_patients)]
    return meta.loc[np.sort(first.index.to_numpy())]


def patients(db: Any, ctx: TaskContext) -> tuple[np.ndarray, pd.DataFrame]:
    """The task's rhythms ``[N, 8, padded_length]`` and their metadata (index reset)."""
    meta = selection(db, ctx)
    x, _ = db.subset("test")
    return np.asarray(x)[meta.index.to_numpy()], meta.reset_index(drop=True)


def targets(meta: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """Multi-hot classifier targets ``[P, C]`` from the metadata columns named by the classifier's classes."""
    missing = [c for c in classes if c not in meta.columns]
    if missing:
        raise KeyError(f"{TASK}: the rhythm metadata lacks the target columns {missing} of the classifier")
    return meta[list(classes)].to_numpy(dtype=np.int64).reshape(len(meta), len(classes))


def check_classifier(clf: Any, db: Any) -> None:
    if int(clf.length) != int(db.length) or abs(float(clf.fs) - float(db.fs)) > 1e-9:
        raise ValueError(
            f"{TASK}: the classifier scores {clf.length} samples at {clf.fs} Hz, the rhythms have "
            f"{db.length} at {db.fs} Hz"
        )


def noisy_inputs(noisy_set: Any, kind: str, db: Any, x: np.ndarray, rhythm_ids: Sequence[Any]) -> tuple:
    """The noisy inputs ``[P, L, T]`` and the noise ``[P, L, T]`` of the rhythms ``rhythm_ids`` in ``noisy_set``.

    The set must be of ``kind``, of the database's leads, rate and geometry, and its clean part (``noisy -
    noise``) must be the database's rhythm ``x`` (so every method sees the same, right input).
    """
    where = f"noisy set {noisy_set.path} ({noisy_set.kind})" if noisy_set.path else f"noisy set ({noisy_set.kind})"
    if noisy_set.kind != kind:
        raise ValueError(f"{TASK}: {where} is given as the {kind!r} set")
    if tuple(noisy_set.leads) != tuple(db.leads) or noisy_set.length != int(db.length):
        raise ValueError(
            f"{TASK}: {where} has leads {list(noisy_set.leads)} and {noisy_set.length} valid samples, the rhythm "
            f"database {list(db.leads)} and {db.length}"
        )
    if abs(noisy_set.fs - float(db.fs)) > 1e-9 or noisy_set.noisy.shape[-1] != int(db.padded_length):
        raise ValueError(
            f"{TASK}: {where} is at {noisy_set.fs} Hz with {noisy_set.noisy.shape[-1]} samples, the rhythm database "
            f"at {db.fs} Hz with {db.padded_length}"
        )
    index = {rid: i for i, rid in enumerate(noisy_set.rhythm_ids)}
    missing = [str(r) for r in rhythm_ids if str(r) not in index]
    if missing:
        raise KeyError(f"{TASK}: {where} has no rhythm {missing[:5]} ({len(missing)} missing)")
    rows = np.asarray([index[str(r)] for r in rhythm_ids], dtype=np.int64)
    y = np.asarray(noisy_set.noisy[rows], dtype=np.float64)
    noise = np.asarray(noisy_set.noise[rows], dtype=np.float64)
    n = int(db.length)
    bad = ~np.all(np.isclose(y[..., :n] - noise[..., :n], x[..., :n], atol=1e-4, rtol=0), axis=(1, 2))
    if bad.any():
        raise ValueError(
            f"{TASK}: {where}: rhythm {rhythm_ids[int(np.argmax(bad))]} is not noisy = clean + noise for this database's "
            f"rhythm ({int(bad.sum())} rhythms differ): the set was made from other rhythms"
        )
    return y, noise


def noisy_set_info(noisy_set: Any) -> dict[str, Any]:
    """What the table's caption says about a noisy set."""
    m = noisy_set.manifest
    st = m.get("settings", {})
    return {
        "kind": noisy_set.kind,
        "noise_source": m.get("noise_source"),
        "channel": st.get("channel"),
        "ratio": (st.get("ratios") or {}).get(noisy_set.kind),
        "seed": m.get("seed"),
        "data_hash": m.get("data_hash"),
    }


def descod_model(inputs: Any, kind: str, db: Any) -> Any:
    """The DeScoD-ECG model of ``kind`` (its loader refuses a model of the other kind), checked for the rhythms."""
    model = inputs.load(f"descod_{kind}")
    if model.noise_kind != kind:
        raise descod.NoiseKindError(
            f"{TASK}: the DeScoD model given for {kind!r} was trained on {model.noise_kind!r} noise (one model per kind)"
        )
    if tuple(model.leads) != tuple(db.leads) or int(model.config.length) != int(db.length):
        raise ValueError(
            f"{TASK}: the DeScoD {kind} model takes leads {list(model.leads)} and {model.config.length} valid samples, "
            f"the rhythms have {list(db.leads)} and {db.length}"
        )
    return model


def classical_filter(kind: str, y: np.ndarray, fs: float, length: int, s: Settings) -> np.ndarray:
    """The filter of the noise kind: zero-phase high-pass (``bw``) or the median baseline (``em``)."""
    if kind == "bw":
        return filters.highpass(y, fs, s.highpass_config(), length)
    return filters.median_baseline(y, fs, s.median_config(), length)


# ================================================================== the alternation through the task's sampler
class ProviderArtefactModel(ArtefactModel):
    """:class:`ArtefactModel` whose inner step draws through a :class:`~ecgdiff.tasks.posterior.SamplesProvider`.

    The step is :meth:`ArtefactModel.posterior_step`'s (identity observation of the valid samples of every lead,
    per-lead noise std, target ``y - artefact`` formed in ``y``'s dtype) handed to ``provider.sample`` instead of
    a sampler built from the settings: the task's :class:`~ecgdiff.tasks.posterior.PosteriorSampler` binds the
    rhythm prior and chunks the draws by ``max_batch_rows``, and the tests can hand it an exact posterior. With a
    :class:`PosteriorSampler` of the same sampler the draws are the base step's (tested).
    """

    def __init__(self, settings: ArtefactSettings, provider: SamplesProvider, length: int | None = None) -> None:
        super().__init__(settings, length)
        self.provider = provider

    def posterior_step(self, denoiser, y, artefact, length, sigma_y, generator=None) -> torch.Tensor:
        P, L, T = y.shape
        art = torch.as_tensor(artefact, dtype=y.dtype, device=y.device)
        if art.shape[:2] != (P, L) or art.shape[2] < length:
            raise ValueError(f"artefact must be [P, L, >= {length}] = [{P}, {L}, ...], got {tuple(art.shape)}")
        sig = np.asarray(torch.as_tensor(sigma_y).detach().cpu(), dtype=np.float64)
        if sig.shape != (P, L):
            raise ValueError(f"sigma_y must be [P, L] = [{P}, {L}], got {sig.shape}")
        valid = np.zeros((L, T), dtype=bool)
        valid[:, :length] = True
        obs = LinearObservation.from_mask(valid)  # one noise group per lead, entries lead-major
        target = (y[..., :length] - art[..., :length]).detach().cpu().numpy().reshape(P, L * length)
        draws = self.provider.sample(
            None, target, obs, expand_groups(sig, obs.groups), self.settings.n_samples, generator
        )
        self.last_denoiser_calls = int(getattr(getattr(self.provider, "sampler", None), "last_calls", 0) or 0)
        return torch.as_tensor(np.asarray(draws), dtype=y.dtype, device=y.device)


# ================================================================== one shard
def _scores(x: np.ndarray, samples: np.ndarray, db: Any, s: Settings) -> np.ndarray:
    """Per-patient scores ``[P, len(METRICS)]`` of ``samples [P, n, L, T]`` against ``x [P, L, T]``."""
    df = rhythm_metrics.denoising_scores(
        x, samples, db.leads, int(db.length), sequence=s.dtw_sequence, prd_denominator=s.prd_denominator
    )
    return df[list(METRICS)].to_numpy(dtype=np.float64)


def _twelve(a: np.ndarray, db: Any, rows: Sequence[int]) -> np.ndarray:
    """``a [..., 8, T]`` in the 12 standard leads over the valid samples, restricted to the leads ``rows``."""
    return rhythm_metrics.expand(a, db.leads, int(db.length))[..., list(rows), :].astype(np.float32)


def alternate(
    model: ProviderArtefactModel,
    x: np.ndarray,
    y: np.ndarray,
    db: Any,
    s: Settings,
    clf: Any,
    generator: torch.Generator,
    examples: Mapping[str, Sequence[int]],
    fig_rows: Sequence[int],
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """Run the alternation on the noisy inputs ``y [P, L, T]`` in batches of ``batch_patients``, and score it.

    Returns the per-patient arrays (``scores``, ``prob``: the classifier's ``classifier_aggregate`` over the
    posterior samples, ``rounds``, ``converged``, ``sigma``: the last round's noise stds) and, for each class of
    ``examples`` (class -> at most one patient index), the figure leads of the estimated artefact and of the
    posterior mean and ``band`` (empty arrays when the class has no patient here).
    """
    P, E, n = len(y), len(fig_rows), int(db.length)
    arrays = {
        "scores": np.zeros((P, len(METRICS))),
        "prob": np.zeros((P, len(clf.classes))),
        "rounds": np.zeros(P, dtype=np.int64),
        "converged": np.zeros(P, dtype=bool),
        "sigma": np.zeros((P, len(db.leads))),
    }
    ex = {cls: {p: np.zeros((0, E, n), np.float32) for p in ("artefact", "mean", "low", "high")} for cls in examples}
    for b in batches(P, s.batch_patients):
        res = model.run(None, torch.as_tensor(y[b], dtype=torch.float32), n, generator)
        smp = res.samples.detach().cpu().numpy().astype(np.float64)
        arrays["scores"][b] = _scores(x[b], smp, db, s)
        arrays["prob"][b] = clf.predict_posterior(smp, db.leads, how=s.classifier_aggregate)
        arrays["rounds"][b], arrays["converged"][b], arrays["sigma"][b] = res.rounds_run, res.converged, res.sigma_y
        for cls, idx in examples.items():
            for i in (i for i in idx if b.start <= i < b.stop):
                s12 = _twelve(smp[i - b.start], db, fig_rows)  # [n_samples, E, length]
                lo, hi = np.quantile(s12, [float(q) for q in s.band], axis=0)
                art = _twelve(res.artefact[i - b.start].detach().cpu().numpy(), db, fig_rows)
                ex[cls] = {"artefact": art[None], "mean": s12.mean(axis=0)[None], "low": lo[None], "high": hi[None]}
                ex[cls] = {k: v.astype(np.float32) for k, v in ex[cls].items()}
    return arrays, ex


def run_shard(db: Any, ctx: TaskContext, providers: ProviderFactory, shard: int, inputs: Any) -> dict[str, np.ndarray]:
    """Denoise and score the shard's patients with every method and noise kind; returns the shard's arrays."""
    s = ctx.settings
    samplers = alternation_samplers(ctx)
    specs = {name: ctx.samplers[name] for name in samplers}  # validated (rhythm_inverse.<name>)
    x, meta = select(*patients(db, ctx), shard, ctx.run.shards)
    P, n, fs = len(meta), int(db.length), float(db.fs)
    rids = meta["rhythm_id"].tolist()
    clf = inputs.load("classifier")
    check_classifier(clf, db)
    classes = tuple(clf.classes)
    C = len(classes)
    fig_rows = leadlib.indices(s.figure_leads, leadlib.STANDARD_12)
    examples = {cls: [i for i in range(P) if meta["label"].iloc[i] == cls][:1] for cls in FIGURE_CLASSES.values()}

    out: dict[str, np.ndarray] = {
        "patient_id": meta["patient_id"].astype(str).to_numpy(),
        "rhythm_id": meta["rhythm_id"].to_numpy(),
        "label": meta["label"].astype(str).to_numpy(),
        "targets": targets(meta, classes),
        "metrics": np.asarray(METRICS),
        "classes": np.asarray(classes),
        "prob__truth": clf.predict_proba(x, db.leads) if P else np.zeros((0, C)),
    }
    for cls, idx in examples.items():
        out[f"ex_{cls}__patient"] = meta["patient_id"].astype(str).to_numpy()[idx]
        out[f"ex_{cls}__true"] = _twelve(x[idx], db, fig_rows)

    bar = progress.bar(total=len(s.kinds) * (1 + len(samplers)), desc=f"{TASK} shard {shard}", unit="method")
    for kind in s.kinds:
        noisy_set = inputs.load(f"noisy_{kind}")
        y, noise = noisy_inputs(noisy_set, kind, db, x, rids)
        out[f"info__{kind}"] = np.asarray(json.dumps(noisy_set_info(noisy_set), default=str))
        noise12 = rhythm_metrics.expand(noise, db.leads, n)
        out[f"amplitude__{kind}"] = np.sqrt((noise12**2).mean(axis=(1, 2))) if P else np.zeros(0)
        model = descod_model(inputs, kind, db)
        for cls, idx in examples.items():
            out[f"ex_{cls}__{kind}__noisy"] = _twelve(y[idx], db, fig_rows)
            out[f"ex_{cls}__{kind}__noise"] = _twelve(noise[idx], db, fig_rows)

        # point estimates: the floor, the classical filter, DeScoD-ECG
        t0 = time.perf_counter()
        estimates = {"noisy": y, "filter": classical_filter(kind, y, fs, n, s) if P else np.zeros_like(y)}
        t1 = time.perf_counter()
        estimates["descod"] = (
            descod.denoise(
                model,
                y.astype(np.float32),
                noise_kind=kind,
                shots=s.descod_shots,
                batch_size=int(s.descod_batch),
                seed=descod_seed(ctx, shard, kind),
                device=ctx.run.device,
            ).astype(np.float64)
            if P
            else np.zeros_like(y)
        )
        seconds = {"noisy": 0.0, "filter": t1 - t0, "descod": time.perf_counter() - t1}
        for method, est in estimates.items():
            out[f"scores__{kind}__{method}"] = _scores(x, est[:, None], db, s) if P else np.zeros((0, len(METRICS)))
            out[f"prob__{kind}__{method}"] = clf.predict_proba(est, db.leads) if P else np.zeros((0, C))
        for cls, idx in examples.items():
            out[f"ex_{cls}__{kind}__descod"] = _twelve(estimates["descod"][idx], db, fig_rows)
        bar.update(1)

        # the harmonic-artefact alternation with each inner sampler
        for name in samplers:
            key = f"rhythmdiff_{name}"
            model_alt = ProviderArtefactModel(
                s.artefact_settings(fs, name, specs[name].options), providers(name), length=n
            )
            t0 = time.perf_counter()
            arrays, ex = alternate(
                model_alt, x, y, db, s, clf, ctx.generator(alternation_seed(ctx, shard, kind, name)),
                examples if name == ctx.sampler else {}, fig_rows,
            )  # fmt: skip
            seconds[key] = time.perf_counter() - t0
            out.update({f"{part}__{kind}__{key}": v for part, v in arrays.items()})
            out.update({f"ex_{cls}__{kind}__{part}": v for cls, parts in ex.items() for part, v in parts.items()})
            bar.update(1)
        for method, sec in seconds.items():
            out[f"seconds__{kind}__{method}"] = np.asarray([sec])
        log.info(
            "%s shard %d, %s: %d patients; seconds %s",
            TASK,
            shard,
            kind,
            P,
            ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()),
        )
    bar.close()
    return out


# ================================================================== gather: the table
def _interval(values: np.ndarray, level: float, what: str) -> tuple[float, float, float, int]:
    """Mean and t-interval of the finite values (non-finite ones are logged and left out)."""
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    if not finite.all():
        log.warning("%s: %s: %d non-finite per-patient values left out", TASK, what, int((~finite).sum()))
    if not finite.any():
        return float("nan"), float("nan"), float("nan"), 0
    iv = t_interval(v[finite], level)
    return iv.estimate, iv.low, iv.high, iv.n


def summarise(shards: Sequence[Shard], ctx: TaskContext) -> pd.DataFrame:
    """The table's numbers: one row for the ground truth, then one per noise kind and method.

    Columns: ``method`` (key), ``label``, ``task`` (EMR / BWR / -), ``kind``; per metric its mean, ``_low``,
    ``_high``, ``_half_width`` over patients; per class ``auc_pr_<c>`` with ``_low``, ``_high`` (bootstrap over
    patients); ``n_patients``; the alternation's ``rounds_mean`` and ``converged_fraction``; the talk's numbers
    (``talk_<metric>``, ``talk_<metric>_half_width``, ``talk_auc_pr_<c>``) where the talk has the row.
    """
    s = ctx.settings
    classes = [str(c) for c in next(sh.arrays["classes"] for sh in shards)]
    pid = concat(shards, "patient_id")
    labels = concat(shards, "targets")

    def auc(key: str) -> dict[str, float]:
        tab = auc_pr_table(labels, concat(shards, key), pid, classes, int(s.n_boot), float(s.level), ctx.run.seed)
        row: dict[str, float] = {}
        for r in tab.to_dict("records"):
            c = r["class"]
            row[f"auc_pr_{c}"], row[f"auc_pr_{c}_low"], row[f"auc_pr_{c}_high"] = r["auc_pr"], r["low"], r["high"]
        return row

    def talk(kind: str, method: str) -> dict[str, float]:
        ref = TALK_TABLE2.get((kind, method.removeprefix("rhythmdiff_")))
        row: dict[str, float] = {}
        for m in TALK_METRICS.values():
            mean, half = (ref or {}).get(m, (np.nan, np.nan))
            row[f"talk_{m}"], row[f"talk_{m}_half_width"] = mean, half
        for c in classes:
            row[f"talk_auc_pr_{c}"] = (ref or {}).get("auc_pr", {}).get(c, np.nan)
        return row

    rows = [{"method": "truth", "label": "Ground-truth", "task": "-", "kind": "-", "n_patients": len(pid)}]
    rows[0].update({k: np.nan for m in METRICS for k in (m, f"{m}_low", f"{m}_high", f"{m}_half_width")})
    rows[0].update(auc("prob__truth") | {"rounds_mean": np.nan, "converged_fraction": np.nan} | talk("truth", "truth"))
    for kind in s.kinds:
        for method in methods(ctx):
            scores = concat(shards, f"scores__{kind}__{method}")
            row: dict[str, Any] = {
                "method": method,
                "label": method_label(method, kind, ctx),
                "task": KINDS[kind],
                "kind": kind,
                "n_patients": len(scores),
            }
            for j, m in enumerate(METRICS):
                est, lo, hi, _ = _interval(scores[:, j], float(s.level), f"{kind}/{method}/{m}")
                row.update({m: est, f"{m}_low": lo, f"{m}_high": hi, f"{m}_half_width": (hi - lo) / 2})
            row.update(auc(f"prob__{kind}__{method}"))
            if method.startswith("rhythmdiff_"):
                row["rounds_mean"] = float(concat(shards, f"rounds__{kind}__{method}").mean())
                row["converged_fraction"] = float(concat(shards, f"converged__{kind}__{method}").mean())
            else:
                row["rounds_mean"] = row["converged_fraction"] = np.nan
            row.update(talk(kind, method))
            rows.append(row)
    return pd.DataFrame(rows)


def _pm(mean: float, half: float, fmt: str) -> str:
    """``mean ± half`` (``-`` when there is no number)."""
    if not np.isfinite(mean):
        return "-"
    return f"{mean:{fmt}} ± {half:{fmt}}" if np.isfinite(half) else f"{mean:{fmt}}"


def _metric_cell(r: Mapping[str, Any], m: str) -> str:
    ours = _pm(r[m], r[f"{m}_half_width"], ".3f")
    if not np.isfinite(r[f"talk_{m}"]):
        return ours
    return f"{ours} (talk {_pm(r[f'talk_{m}'], r[f'talk_{m}_half_width'], '.3f')})"


def _auc_cell(r: Mapping[str, Any], c: str) -> str:
    est, lo, hi, ref = r[f"auc_pr_{c}"], r[f"auc_pr_{c}_low"], r[f"auc_pr_{c}_high"], r[f"talk_auc_pr_{c}"]
    ours = "-" if not np.isfinite(est) else f"{est:.2f}" + (f" [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else "")
    return ours + (f" (talk {ref:.2f})" if np.isfinite(ref) else "")


def display(table: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """The Markdown view: the talk's columns (ours, the talk's in brackets), then the further metrics."""
    records = table.to_dict("records")
    out = pd.DataFrame({"Method": table["label"], "Task": table["task"]})
    for col, m in TALK_METRICS.items():
        out[col] = [_metric_cell(r, m) for r in records]
    for c in classes:
        out[f"AUC-PR {c}"] = [_auc_cell(r, c) for r in records]
    for col, m, fmt in (
        ("per-lead DTW", "dtw", ".3f"),
        ("SSD (mV²)", "ssd", ".2f"),
        ("max abs (mV)", "max_abs", ".3f"),
        ("PRD (%)", "prd", ".1f"),
        ("cosine", "cosine", ".3f"),
    ):
        out[col] = [_pm(r[m], r[f"{m}_half_width"], fmt) for r in records]
    out["patients"] = table["n_patients"].to_numpy()
    return out


def caption(db: Any, shards: Sequence[Shard], ctx: TaskContext) -> str:
    """What the table shows and how it differs from the talk's (data, prior, noise protocol, models)."""
    s = ctx.settings
    a = s.artefact
    infos = {k: json.loads(str(next(sh.arrays[f"info__{k}"] for sh in shards))) for k in s.kinds}
    noise = "; ".join(
        f"{KINDS[k]}: {i['noise_source']} channel {i['channel']}, noise peak-to-peak {i['ratio']:g} x the lead's"
        for k, i in infos.items()
    )
    names = {str(x.get("source", x)) if isinstance(x, Mapping) else str(x) for x in db.manifest.get("sources") or []}
    sources = ", ".join(sorted(names)) or "the rhythm database"
    opts = "; ".join(f"{name}: {ctx.samplers[name].options}" for name in alternation_samplers(ctx))
    n = len(concat(shards, "patient_id"))
    layout = "lead axis (the authors' layout)" if s.dtw_sequence == "lead" else "time axis (the authors': lead axis)"
    return (
        f"Artefact removal (the talk's table 2; EMR = electrode motion, BWR = baseline wander). Ours: {n} test "
        f"patients ({sources}; rhythm database {db.data_hash[:12]}), one rhythm each, {db.length} valid samples at "
        f"{db.fs:g} Hz; every method sees the same saved noisy input ({noise}; each of the 8 modelled leads its own "
        "window, III, aVR, aVL, aVF derived from the noisy I and II). Scores over every coordinate of the 12 leads: "
        "RMSE, MAD (mean absolute error; both averaged over posterior samples), DTW = soft-DTW (gamma 0.1, / 1024) "
        f"of the point estimate aligned along the {layout}, per-lead DTW (tslearn), "
        f"DeScoD-ECG's SSD, max abs deviation, PRD ('{s.prd_denominator}' denominator) and cosine (per lead, mean "
        f"over leads); mean ± half-width of the {s.level:.0%} t-interval over patients. AUC-PR: the classifier on "
        f"each method's output ({s.classifier_aggregate} of the per-sample probabilities over posterior samples), "
        f"[{s.level:.0%} patient-bootstrap interval, {s.n_boot} replicates]. RhythmDiff-X: the harmonic-artefact "
        f"alternation ({a['n_freqs']} frequencies on [{a['f_min']:g}, {a['f_max']:g}] Hz, {a['rounds']} rounds, "
        f"Lasso {a['lasso_alpha']:g}, Ridge {a['ridge_alpha']:g}, {a['n_samples']} posterior samples, noise std "
        f"'{a['noise_std']}') with the rhythm prior and inner sampler X ({opts}); DDNM is DDNM+. DeScoD-ECG: the "
        "model trained on the row's noise kind. In brackets: the talk's numbers (" + TALK_SOURCE + "). What differs "
        "from the talk: its data were PTB-XL's test fold (the authors' code), its prior theirs; its noise was added "
        "to 9 stored channels independently (III no longer II - I) and scaled on the padded window; its table says "
        "MGPS while the authors' script ran DDNM+ (eta 0.85), so both rows are given; the authors' evaluation "
        "script denoised the EM inputs with the BW DeScoD model; the talk gives no interval for its AUC-PRs and "
        "does not say what its ± is." + diverged(shards, s.kinds)
    )


def diverged(shards: Sequence[Shard], kinds: Sequence[str], factor: float = 10.0) -> str:
    """A sentence naming the noise kinds whose DeScoD-ECG output is ``factor`` times further from the truth than
    the noisy input (median RMSE over patients): its reverse chain amplified its initial noise, the mark of an
    undertrained model (docs/artefact-baselines.md); empty when none."""
    rmse = METRICS.index("rmse")
    out = []
    for kind in kinds:
        ours = np.nanmedian(concat(shards, f"scores__{kind}__descod")[:, rmse])
        floor = np.nanmedian(concat(shards, f"scores__{kind}__noisy")[:, rmse])
        if not ours <= factor * floor:
            out.append(f"{KINDS[kind]} (median RMSE {ours:.3g} against the noisy input's {floor:.3g})")
    if not out:
        return ""
    log.warning("%s: DeScoD-ECG diverged on %s", TASK, "; ".join(out))
    return (
        " DeScoD-ECG DIVERGED on " + "; ".join(out) + ": an undertrained model's reverse chain amplifies its "
        "initial noise (see its training table, tables/descod_training_<kind>, and docs/artefact-baselines.md)."
    )


# ================================================================== gather: figures
def _example(shards: Sequence[Shard], cls: str, kinds: Sequence[str]) -> dict[str, Any] | None:
    for sh in shards:
        if len(sh.arrays.get(f"ex_{cls}__patient", [])):
            a = sh.arrays
            return {
                "patient": str(a[f"ex_{cls}__patient"][0]),
                "true": a[f"ex_{cls}__true"][0],
                **{
                    f"{k}/{part}": a[f"ex_{cls}__{k}__{part}"][0]
                    for k in kinds
                    for part in ("noisy", "noise", "artefact", "mean", "low", "high", "descod")
                },
            }
    return None


def plot_example(
    db: Any, shards: Sequence[Shard], ctx: TaskContext, cls: str, stem: str, prov: Mapping[str, Any]
) -> None:
    """One patient of class ``cls``: for each noise kind (columns) and figure lead (rows), the noisy input, the
    true signal, the true and estimated artefact, the posterior mean and band, DeScoD's output (mV)."""
    s = ctx.settings
    ex = _example(shards, cls, s.kinds)
    n_scored = len(concat(shards, "patient_id"))
    fig, axes = figures.lead_grid(len(s.figure_leads), len(s.kinds), height=1.6, width=6.0)
    if ex is None:
        msg = f"no {cls} patient among the {n_scored} scored test patients: nothing to draw"
        log.warning("%s: figure of class %s: %s", TASK, cls, msg)
        for ax in axes.ravel():
            ax.set_axis_off()
        axes[0, 0].text(0.0, 0.5, msg, transform=axes[0, 0].transAxes, fontsize=9)
        figures.finish(fig, f"Artefact removal: {msg}", xlabel="")
        save_figure(fig, figures.paths(stem), prov)
        return
    t = np.arange(int(db.length)) / float(db.fs)
    lo_q, hi_q = (float(q) for q in s.band)
    for c, kind in enumerate(s.kinds):
        for r, lead in enumerate(s.figure_leads):
            ax = axes[r, c]
            ax.plot(t, ex[f"{kind}/noisy"][r], color="0.65", lw=0.6, label="noisy input")
            ax.plot(t, ex["true"][r], color=figures.TRUE_COLOR, lw=0.8, label="true signal")
            ax.plot(t, ex[f"{kind}/noise"][r], color=figures.BASELINE_COLOR, lw=0.6, ls=":", label="true artefact")
            ax.plot(t, ex[f"{kind}/artefact"][r], color=figures.BASELINE_COLOR, lw=0.8, label="estimated artefact")
            ax.fill_between(
                t,
                ex[f"{kind}/low"][r],
                ex[f"{kind}/high"][r],
                color=figures.POSTERIOR_COLOR,
                alpha=0.3,
                lw=0,
                label=f"posterior {lo_q:.0%}-{hi_q:.0%} band",
            )
            ax.plot(t, ex[f"{kind}/mean"][r], color=figures.POSTERIOR_COLOR, lw=0.8, label="posterior mean")
            ax.plot(t, ex[f"{kind}/descod"][r], color="tab:green", lw=0.7, ls="--", label="DeScoD-ECG")
            # the axis spans the input, the truth and the posterior; an estimate beyond it is said, not hidden
            shown = np.concatenate(
                [ex[f"{kind}/{p}"][r] for p in ("noisy", "low", "high", "artefact")] + [ex["true"][r]]
            )
            lo, hi = float(shown.min()), float(shown.max())
            pad = 0.05 * max(hi - lo, 1e-6)
            ax.set_ylim(lo - pad, hi + pad)
            beyond = np.abs(np.clip(ex[f"{kind}/descod"][r], lo - pad, hi + pad) - ex[f"{kind}/descod"][r]).max()
            if beyond > 0:
                ax.text(
                    0.01, 0.03, "DeScoD-ECG partly off the axis", transform=ax.transAxes, fontsize=6, color="tab:green"
                )
            ax.set_ylabel(f"{lead} (mV)", fontsize=7)
            ax.tick_params(labelsize=6)
        axes[0, c].set_title(f"{KINDS[kind]} ({kind} noise)", fontsize=8)
    axes[0, 0].legend(fontsize=5, loc="upper right", ncol=2)
    figures.finish(
        fig,
        f"Artefact removal, {cls} test patient {ex['patient']}: posterior of RhythmDiff-{ctx.sampler.upper()} "
        "and DeScoD-ECG",
        xlabel="time (s)",
    )
    save_figure(fig, figures.paths(stem), prov)


def amplitude_bins(amplitude: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """Patient indices in ``min(n_bins, P)`` equal-count bins of increasing amplitude."""
    order = np.argsort(amplitude, kind="stable")
    return [b for b in np.array_split(order, min(int(n_bins), len(order))) if len(b)]


def plot_vs_amplitude(shards: Sequence[Shard], ctx: TaskContext, stem: str, prov: Mapping[str, Any]) -> None:
    """RMSE, MAD and DTW of every method against the input's noise amplitude, one column per noise kind."""
    s = ctx.settings
    shown = list(TALK_METRICS.items())
    fig, axes = plt.subplots(len(shown), len(s.kinds), figsize=(5.0 * len(s.kinds), 2.4 * len(shown)), squeeze=False)
    for c, kind in enumerate(s.kinds):
        amp = concat(shards, f"amplitude__{kind}")
        bins = amplitude_bins(amp, s.amplitude_bins)
        centre = np.array([np.median(amp[b]) for b in bins])
        for method in methods(ctx):
            scores = concat(shards, f"scores__{kind}__{method}")
            for r, (name, m) in enumerate(shown):
                j = METRICS.index(m)
                stats = [_interval(scores[b, j], float(s.level), f"{kind}/{method}/{m}/bin") for b in bins]
                mean = np.array([st[0] for st in stats])
                half = np.array([(st[2] - st[1]) / 2 for st in stats])
                axes[r, c].errorbar(
                    centre, mean, yerr=half, marker="o", ms=3, lw=0.9, capsize=2, label=method_label(method, kind, ctx)
                )
                axes[r, c].set_ylabel(f"{name} ({'mV' if m != 'soft_dtw' else 'soft-DTW'})", fontsize=7)
                if m != "soft_dtw":  # errors in mV are positive and methods differ by orders of magnitude
                    axes[r, c].set_yscale("log")
        axes[0, c].set_title(f"{KINDS[kind]} ({kind}): {len(bins)} bins of {len(amp)} patients", fontsize=8)
        axes[-1, c].set_xlabel("noise amplitude of the input: rms over the 12 leads (mV)", fontsize=7)
        for ax in axes[:, c]:
            ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(
        f"Artefact removal against the noise amplitude: test patients in equal-count bins of the rms of their saved "
        f"noise (median amplitude of the bin; ± {s.level:.0%} t-interval)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.03, 1, 0.95))
    save_figure(fig, figures.paths(stem), prov)


def gather(db: Any, shards: list[Shard], ctx: TaskContext, outputs: Mapping[str, str]) -> pd.DataFrame:
    """Write the table (``outputs['table_csv']``, ``['table_md']``) and the figures (stems ``outputs['figure_bbb']``,
    ``['figure_af']``, ``['figure_amplitude']``); return the table's numbers."""
    check_shards(shards, TASK, db.data_hash)
    alternation_samplers(ctx)
    prov = ctx.provenance(db.data_hash, shards)
    table = summarise(shards, ctx)
    classes = [str(c) for c in next(sh.arrays["classes"] for sh in shards)]
    write_table_pair(
        table, display(table, classes), outputs["table_csv"], outputs["table_md"], caption(db, shards, ctx), prov
    )
    for key, cls in FIGURE_CLASSES.items():
        plot_example(db, shards, ctx, cls, outputs[key], prov)
    plot_vs_amplitude(shards, ctx, outputs["figure_amplitude"], prov)
    return table
