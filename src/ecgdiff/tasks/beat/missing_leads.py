"""Missing leads (paper 3.3.2, table 1, figure 6), with harder "smartwatch" settings.

Protocol, per test patient (one random beat each):

- ``single`` (the paper's table 1): withhold one precordial lead ``V`` (each of ``leads`` in turn) and
  observe the eight others, noise free. The noise levels of the observed leads are estimated
  (algorithm 2, N_MLE = ``noise_estimation.iterations``; 10 in the paper) with the paper's sampler, then every
  sampler of ``samplers`` draws ``n_samples`` posterior samples given those levels. The reconstruction
  is the posterior mean.
- ``limb``: observe only aVL, aVR, aVF (two independent limb leads) and reconstruct V1-V6.
- ``lead_I``: observe only lead I, which is not in the beat's lead set: it is observed through a
  ``Linear`` operator, ``I = sum_l c_l x_l^mV`` with the coefficients ``c`` of
  :func:`ecgdiff.leads.derivation_matrix` (``I = 2/3 (aVL - aVR)`` up to Goldberger's identity), on
  normalised beats ``x_l^mV = s_l x_l``. The observation is normalised like every lead of the database:
  divided by its maximum absolute value over the QRS window (``qrs_window_samples`` of the manifest).
  This needs the patient's per-lead scale factors ``s_l``, which a single-lead recording does not give:
  with ``lead_i_scales: patient`` (default) the operator uses the patient's true factors (an oracle
  assumption, stated in the table); with ``lead_i_scales: train_median`` it uses the training patients'
  median ratios ``s_l / max|I|`` (one operator for every patient: no oracle). All nine leads are
  reconstructed and scored.

Dower's method (:mod:`ecgdiff.baselines.dower`) reconstructs the same leads from the same observed
leads: the observed normalised leads are multiplied by their stored scale factors (millivolts), the
vectorcardiogram is fitted by least squares (minimum-norm when the observed leads span fewer than three
dimensions: ``limb`` spans two, ``lead_I`` one), the target lead computed from its Dower row, and divided
by the target lead's stored scale factor. Both methods are therefore scored against the same normalised
target beat, and since R^2 is invariant to scaling target and reconstruction by the same factor, every
number equals the R^2 of the reconstruction in millivolts (the sampler's reconstruction multiplied by the
target's true scale).

Metric: R^2 over the beat's 176 samples per patient and reconstructed lead; mean and 95 % t-interval
over patients (:func:`ecgdiff.metrics.t_interval`: a Student-t quantile, the test sets are small).

Outputs: ``tables/table1_missing_leads.{csv,md}``, ``figures/fig6_missing_leads.{png,pdf}``
(reconstruction of ``example_lead`` by the paper's sampler and by Dower for a few patients).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ... import leads as leadlib
from ... import metrics, progress
from ...baselines import dower
from ...diffusion import conditioning
from ...plots import save_figure
from ...tables import write_table_pair
from .. import figures
from ..context import ProviderFactory, TaskContext
from ..posterior import LinearObservation, batches, sample_with_estimated_noise
from ..shards import Shard, check_shards, concat, select

TASK = "missing_leads"
SETTING_TITLES = {"single": "all other leads", "limb": "aVL, aVR, aVF", "lead_I": "lead I"}
LIMB_OBSERVED = ("aVL", "aVR", "aVF")


@dataclass(frozen=True)
class Settings:
    """``tasks.missing_leads`` (defaults and their sources: ``config/config.yaml``)."""

    n_patients: int | None  # test patients (None: all)
    n_samples: int  # posterior samples per patient and problem (paper: 100)
    leads: tuple[str, ...]  # withheld one at a time in the "single" setting
    settings: tuple[str, ...]  # single | limb | lead_I
    samplers: tuple[str, ...]  # samplers besides the paper's (table columns)
    lead_i_scales: str  # patient (oracle scale factors) | train_median
    example_lead: str  # lead drawn in figure 6
    n_examples: int  # patients drawn in figure 6
    batch_patients: int | None  # patients per sampler call (None: all of the shard)

    def __post_init__(self) -> None:
        if self.lead_i_scales not in ("patient", "train_median"):
            raise ValueError(
                f"tasks.missing_leads.lead_i_scales must be patient or train_median, got {self.lead_i_scales!r}"
            )


def methods(ctx: TaskContext) -> list[str]:
    """Samplers of the table, the paper's first, then the extra ones (each once)."""
    return list(dict.fromkeys([ctx.sampler, *ctx.settings.samplers]))


@dataclass(frozen=True)
class Problem:
    """One reconstruction problem: observed leads (or lead I), the leads scored."""

    key: str  # table row group, e.g. "single:V3", "limb", "lead_I"
    setting: str
    observed: tuple[str, ...]
    targets: tuple[str, ...]


def problems(beat_leads: Sequence[str], s: Settings) -> list[Problem]:
    """The reconstruction problems of the configured settings."""
    beat_leads = tuple(beat_leads)
    out = []
    for setting in s.settings:
        if setting == "single":
            for lead in leadlib.canonical_all(s.leads):
                if lead not in beat_leads:
                    raise ValueError(f"missing_leads: lead {lead} is not in the beat lead set {beat_leads}")
                out.append(Problem(f"single:{lead}", "single", tuple(n for n in beat_leads if n != lead), (lead,)))
        elif setting == "limb":
            missing = [n for n in LIMB_OBSERVED if n not in beat_leads]
            if missing:
                raise ValueError(f"missing_leads: setting 'limb' needs {missing} in the beat lead set")
            out.append(Problem("limb", "limb", LIMB_OBSERVED, tuple(n for n in beat_leads if n not in LIMB_OBSERVED)))
        elif setting == "lead_I":
            out.append(Problem("lead_I", "lead_I", ("I",), beat_leads))
        else:
            raise ValueError(f"missing_leads: unknown setting {setting!r} (single | limb | lead_I)")
    return out


def patients(db: Any, ctx: TaskContext) -> tuple[np.ndarray, pd.DataFrame]:
    return db.patients("test", ctx.run.seed, ctx.settings.n_patients)


# --------------------------------------------------------------------------- lead I
def lead_i_coefficients(beat_leads: Sequence[str]) -> np.ndarray:
    """Row ``c [L]`` with ``I = c @ x^mV`` (:func:`ecgdiff.leads.derivation_matrix`)."""
    return leadlib.derivation_matrix(beat_leads, ["I"])[0]


def lead_i_millivolts(x: np.ndarray, scales: np.ndarray, beat_leads: Sequence[str]) -> np.ndarray:
    """Lead I ``[P, T]`` in millivolts of normalised beats ``x [P, L, T]`` with scale factors ``[P, L]``."""
    return np.einsum("l,plt->pt", lead_i_coefficients(beat_leads), x * scales[:, :, None])


def lead_i_weights(scales: np.ndarray, i_max: np.ndarray, beat_leads: Sequence[str]) -> np.ndarray:
    """Per-lead weights ``[P, L]`` of the normalised lead-I observation ``y = sum_l w_l x_l``."""
    return lead_i_coefficients(beat_leads)[None, :] * scales / i_max[:, None]


def lead_i_observation(weights: np.ndarray, length: int) -> LinearObservation:
    """``Linear`` observation ``y[t] = sum_l w_l x[l, t]``: one matrix ``[T, L T]`` per row of ``weights [P, L]``
    (or a shared one for ``weights [L]``; :meth:`LinearObservation.of_combinations`)."""
    return LinearObservation.of_combinations(np.asarray(weights)[..., None, :], length)


def lead_i_scale(i_mv: np.ndarray, qrs: slice) -> np.ndarray:
    """Normalising factor of lead I ``[P]``: its maximum absolute value over the QRS window ``qrs``."""
    return np.abs(np.asarray(i_mv)[:, qrs]).max(axis=1)


def train_median_ratios(db: Any, seed: int) -> np.ndarray:
    """Median over training patients (one beat each) of ``s_l / s_I``: ``[L]`` (``s_I``: :func:`lead_i_scale`)."""
    beats, meta = db.patients("train", seed)
    sc = db.scales(meta)
    i_mv = lead_i_millivolts(beats.astype(np.float64), sc, db.leads)
    i_max = lead_i_scale(i_mv, db.geometry.qrs_slice())
    ok = i_max > 0
    if not ok.any():
        raise ValueError("missing_leads: lead I is flat in every training beat")
    return np.median(sc[ok] / i_max[ok, None], axis=0)


# --------------------------------------------------------------------------- shard
def run_shard(db: Any, ctx: TaskContext, providers: ProviderFactory, shard: int) -> dict[str, np.ndarray]:
    s = ctx.settings
    geo = db.geometry
    x, meta = select(*patients(db, ctx), shard, ctx.run.shards)
    P, L, T = x.shape
    sc = db.scales(meta)
    gen = ctx.generator(ctx.shard_seed(shard))
    cond = conditioning.encode_meta(meta)
    names = methods(ctx)
    prov = {m: providers(m) for m in names}
    n = int(s.n_samples)
    out: dict[str, np.ndarray] = {
        "patient_id": meta["patient_id"].astype(str).to_numpy(),
        "beat_id": meta["beat_id"].to_numpy(),
    }
    median_ratio = train_median_ratios(db, ctx.run.seed) if s.lead_i_scales == "train_median" else None
    k = min(int(s.n_examples), P)
    example = f"single:{leadlib.canonical(s.example_lead)}"
    probs = problems(geo.leads, s)
    n_calls = len(probs) * (1 + len(names)) * len(batches(P, s.batch_patients))
    bar = progress.bar(total=n_calls, desc=f"{TASK} shard {shard}", unit="batch")
    for prob in probs:
        tgt = leadlib.indices(prob.targets, geo.leads)
        if prob.setting == "lead_I":
            i_mv = lead_i_millivolts(x, sc, geo.leads)
            i_max = lead_i_scale(i_mv, geo.qrs_slice())
            if np.any(i_max <= 0):
                raise ValueError(
                    f"missing_leads: lead I is flat for patients {meta['patient_id'][i_max <= 0].tolist()}"
                )
            if s.lead_i_scales == "patient":
                obs = lead_i_observation(lead_i_weights(sc, i_max, geo.leads), T)
            else:
                obs = lead_i_observation(lead_i_coefficients(geo.leads) * median_ratio, T)
            y = i_mv / i_max[:, None]
            rec_dower = dower.reconstruct(i_mv[:, None, :], ["I"], prob.targets) / sc[:, tgt, None]
        else:
            obs = LinearObservation.of_leads(geo.leads, prob.observed, T)
            y = obs.apply(x)
            rec_dower = dower.reconstruct_normalised(x, sc, geo.leads, prob.observed, prob.targets)
        out[f"r2__{prob.key}__dower"] = _r2(x[:, tgt], rec_dower)
        sigma = np.zeros((P, obs.n_groups))
        for b in batches(P, s.batch_patients):
            sigma[b] = prov[names[0]].estimate_sigma(cond[b], y[b], obs.subset(b), gen)
            bar.update(1)
        out[f"sigma__{prob.key}"] = sigma
        for m in names:
            samples = np.zeros((P, n, L, T), dtype=np.float32)
            for b in batches(P, s.batch_patients):
                samples[b], _ = sample_with_estimated_noise(
                    prov[m], cond[b], y[b], obs.subset(b), n, gen, sigma_groups=sigma[b]
                )
                bar.update(1)
            out[f"r2__{prob.key}__{m}"] = _r2(x[:, tgt], samples.mean(axis=1)[:, tgt])
            if prob.key == example and m == names[0]:
                j = tgt[0]
                out["ex_true"] = x[:k]
                out["ex_samples"] = samples[:k, :, j]
                out["ex_dower"] = rec_dower[:k, 0]
                out["ex_patient"] = out["patient_id"][:k]
    bar.close()
    return out


def _r2(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    if len(true) == 0:
        return np.zeros(true.shape[:2])
    return metrics.r2_score(true, pred, axis=-1)


# --------------------------------------------------------------------------- gather
def summarise(db: Any, shards: list[Shard], ctx: TaskContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 1: numeric (CSV) and display (Markdown) frames, one row per (problem, reconstructed lead)."""
    s = ctx.settings
    geo = db.geometry
    cols = methods(ctx) + ["dower"]
    num_rows, disp_rows = [], []
    for prob in problems(geo.leads, s):
        per_method = {m: concat(shards, f"r2__{prob.key}__{m}") for m in cols}
        for j, lead in enumerate(prob.targets):
            num = {"setting": prob.setting, "observed": " ".join(prob.observed), "lead": lead}
            disp = {"observed": SETTING_TITLES[prob.setting], "lead": lead}
            for m in cols:
                iv = metrics.t_interval(per_method[m][:, j])
                num.update({f"{m}_r2": iv.estimate, f"{m}_ci_low": iv.low, f"{m}_ci_high": iv.high})
                disp[_title(m)] = iv.format(2)
            num["n_patients"] = iv.n
            num_rows.append(num)
            disp_rows.append(disp)
    return pd.DataFrame(num_rows), pd.DataFrame(disp_rows)


def _title(method: str) -> str:
    return {
        "mcgdiff": "MCGdiff",
        "dower": "Dower",
        "dps": "DPS",
        "pgdm": "PGDM",
        "ddnm": "DDNM",
        "diffpir": "DiffPIR",
        "reddiff": "RED-diff",
        "mgps": "MGPS",
    }.get(method, method)


def gather(db: Any, shards: list[Shard], ctx: TaskContext, outputs: Mapping[str, str]) -> pd.DataFrame:
    check_shards(shards, TASK, db.data_hash)
    s = ctx.settings
    prov = ctx.provenance(db.data_hash, shards)
    numeric, display = summarise(db, shards, ctx)
    caption = (
        f"Table 1: R^2 of missing-lead reconstructions (posterior mean of {s.n_samples} samples; "
        f"noise levels estimated with {ctx.noise.iterations} iterations) and of Dower's method; "
        "mean and 95% t-interval over test patients. Rows 'all other leads': the paper's table 1. "
        f"Lead I: observed through the patient's lead-scale factors ({s.lead_i_scales})."
    )
    write_table_pair(numeric, display, outputs["table_csv"], outputs["table_md"], caption, prov)
    if "single" in s.settings:
        plot(db, shards, ctx, outputs["figure"], prov)
    return numeric


def plot(db: Any, shards: list[Shard], ctx: TaskContext, stem: str, prov: Mapping[str, Any]) -> None:
    """Figure 6: one lead reconstructed by the sampler (left) and by Dower (right), for a few patients."""
    geo = db.geometry
    s = ctx.settings
    lead = leadlib.canonical(s.example_lead)
    j = geo.leads.index(lead)
    ex = [
        (sh.arrays["ex_true"][i][j], sh.arrays["ex_samples"][i], sh.arrays["ex_dower"][i], sh.arrays["ex_patient"][i])
        for sh in shards
        if "ex_true" in sh.arrays
        for i in range(len(sh.arrays["ex_true"]))
    ]
    ex = ex[: max(1, int(s.n_examples))]
    if not ex:
        raise ValueError("missing_leads: no example patient in any shard")
    t = figures.time_ms(geo.length, geo.r_index, geo.fs)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(ex), 2, figsize=(7, 1.8 * len(ex) + 0.8), sharex=True, squeeze=False)
    main = _title(methods(ctx)[0])
    for r, (true, smp, rec, pid) in enumerate(ex):
        figures.draw_samples(axes[r, 0], t, smp)
        axes[r, 0].plot(t, smp.mean(axis=0), color="navy", lw=1.0, label="posterior mean")
        axes[r, 1].plot(t, rec, color=figures.BASELINE_COLOR, lw=1.0, label="Dower")
        for ax in axes[r]:
            ax.plot(t, true, color=figures.TRUE_COLOR, lw=0.8, ls="--", label="true beat")
            ax.tick_params(labelsize=6)
        axes[r, 0].set_ylabel(f"{lead} [{figures.NORMALISED}]\n{pid}", fontsize=7)
        r2s = metrics.r2_score(true, smp.mean(axis=0)), metrics.r2_score(true, rec)
        axes[r, 0].set_title(f"{main}: R²={r2s[0]:.2f}", fontsize=8)
        axes[r, 1].set_title(f"Dower: R²={r2s[1]:.2f}", fontsize=8)
    axes[0, 0].legend(fontsize=6)
    axes[0, 1].legend(fontsize=6)
    fig.supylabel(f"amplitude: {figures.amplitude_label(figures.NORMALISED)}", fontsize=7, x=0.0)
    figures.finish(fig, f"Reconstruction of a withheld lead {lead} from the other leads (figure 6)")
    save_figure(fig, figures.paths(stem), prov)
