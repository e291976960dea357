"""QT versus RR (paper 3.3.3, table 2, figures 7-8).

Protocol, per test patient (one random beat each):

1. QRS onset ``Q`` and offset ``J`` of the real beat (:func:`ecgdiff.qt.qrs_bounds`, all leads).
2. Observe every lead from the start of the window up to and including ``J`` (P wave, PR segment and
   QRS; noise free); estimate the noise levels (algorithm 2, N_MLE = ``noise_estimation.iterations``) under the
   patient's own conditioning.
3. For each RR of ``rr_ms`` (the grid), condition the prior on the patient's age and sex and that RR,
   and draw ``n_samples`` posterior samples given the same observation and noise levels (all patients
   and RR values in one batch per observed length).
4. Measure QT on every sample (:func:`ecgdiff.qt.measure_qt`): Q onset from the observed QRS, T end by
   the tangent method on the lead with the largest T wave of the patient's real beat. A sample whose T
   end cannot be measured counts as a failure (reported) and is left out.
5. Per patient, the mean QT at each RR (over the measured samples) is fitted with each QT-RR law of
   :data:`ecgdiff.qt.QT_LAWS` (least squares, RR and QT in seconds) and scored by R^2; table 2 gives
   the mean R^2 and its 95 % t-interval over patients.

Patients whose real beat has no measurable QRS or T wave are excluded (counted in the table's caption),
as are patients with fewer than three RR values with a measured QT.

Outputs: ``tables/table2_qt_rr.{csv,md}``, ``figures/fig7_qt_rr.{png,pdf}`` (QT against RR with 95 %
t-intervals over the posterior samples and the fitted Fridericia curves, with and without offset, for a
few patients),
``figures/fig8_qt_beats.{png,pdf}`` (posterior beats for three RR values against the observed QRS).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ... import metrics, progress
from ... import qt as qtlib
from ...diffusion import conditioning
from ...plots import save_figure
from ...tables import write_table_pair
from .. import figures
from ..context import ProviderFactory, TaskContext
from ..posterior import LinearObservation, batches, sample_with_estimated_noise
from ..shards import Shard, check_shards, concat, select

TASK = "qt_rr"
LAW_ORDER = ("framingham", "bazett", "bazett_offset", "fridericia", "fridericia_offset")


@dataclass(frozen=True)
class Settings:
    """``tasks.qt_rr`` (defaults and their sources: ``config/config.yaml``)."""

    n_patients: int | None  # test patients (None: all)
    n_samples: int  # posterior samples per patient and RR (paper: 100)
    rr_ms: tuple[float, ...]  # the conditioning RR grid
    n_examples: int  # patients drawn in figure 7
    batch_patients: int | None  # patients per sampler call (None: all with the same observed length)
    min_valid_fraction: float  # an RR counts when at least this fraction of its samples has a measured QT


def patients(db: Any, ctx: TaskContext) -> tuple[np.ndarray, pd.DataFrame]:
    return db.patients("test", ctx.run.seed, ctx.settings.n_patients)


def run_shard(db: Any, ctx: TaskContext, providers: ProviderFactory, shard: int) -> dict[str, np.ndarray]:
    s = ctx.settings
    geo = db.geometry
    x, meta = select(*patients(db, ctx), shard, ctx.run.shards)
    P, L, T = x.shape
    rr = np.asarray(s.rr_ms, dtype=np.float64)
    G = len(rr)
    n = int(s.n_samples)
    seed = ctx.shard_seed(shard)
    gen = ctx.generator(seed)
    provider = providers()

    q_on = np.full(P, np.nan)
    q_off = np.full(P, np.nan)
    t_lead = np.full(P, -1)
    excluded = np.array([""] * P, dtype=object)
    qt_real = np.full(P, np.nan)
    for p in range(P):
        try:
            q_on[p], q_off[p], t_lead[p], qt_real[p] = reference_points(x[p], geo)
        except qtlib.QTError as err:
            excluded[p] = f"real beat: {err}"
    qt_ms = np.full((P, G, n), np.nan)
    sigma_hat = np.full((P, L), np.nan)
    failures: dict[str, int] = {}
    k = int(s.n_examples)
    ex_samples, ex_patient, ex_true, ex_qoff = [], [], [], []
    ok = np.flatnonzero(excluded == "")
    ends = np.ceil(q_off[ok]).astype(int)
    n_calls = sum(len(batches(int((ends == e).sum()), s.batch_patients)) for e in np.unique(ends))
    bar = progress.bar(total=n_calls, desc=f"{TASK} shard {shard}", unit="batch")
    for end in np.unique(ends):
        grp = ok[ends == end]
        obs = LinearObservation.of_leads(geo.leads, geo.leads, T, slice(0, end + 1))
        for b in batches(len(grp), s.batch_patients):
            pts = grp[b]
            m = meta.iloc[pts]
            y = obs.apply(x[pts])
            cond_own = conditioning.encode_meta(m)
            sig = provider.estimate_sigma(cond_own, y, obs, gen)
            sigma_hat[pts] = sig
            # every (patient, RR) pair is one row of the batch, patient-major
            cond = conditioning.encode(
                np.repeat(m["age"].to_numpy(), G), np.repeat(m["sex"].to_numpy(), G), np.tile(rr, len(pts))
            )
            samples, _ = sample_with_estimated_noise(
                provider, cond, np.repeat(y, G, axis=0), obs, n, gen, sigma_groups=np.repeat(sig, G, axis=0)
            )
            samples = samples.reshape(len(pts), G, n, L, T)
            for i, p in enumerate(pts):
                for g in range(G):
                    qt_ms[p, g] = measure_samples(samples[i, g], geo, q_on[p], q_off[p], int(t_lead[p]), failures)
                if len(ex_patient) < k:
                    ex_samples.append(samples[i])
                    ex_patient.append(str(m["patient_id"].iloc[i]))
                    ex_true.append(x[p])
                    ex_qoff.append(q_off[p])
            bar.update(1)
    bar.close()
    fail_keys = sorted(failures)
    return {
        "patient_id": meta["patient_id"].astype(str).to_numpy(),
        "beat_id": meta["beat_id"].to_numpy(),
        "rr_ms_patient": meta["rr_ms"].to_numpy(dtype=np.float64),
        "q_onset": q_on,
        "qrs_offset": q_off,
        "t_lead": t_lead,
        "excluded": excluded.astype(str),
        "qt_ms": qt_ms,
        "qt_real_ms": qt_real,
        "sigma_hat": sigma_hat,
        "rr_grid_ms": rr,
        "failure_reason": np.array(fail_keys, dtype=str),
        "failure_count": np.array([failures[f] for f in fail_keys]),
        "ex_samples": np.asarray(ex_samples, dtype=np.float32).reshape(-1, G, n, L, T),
        "ex_patient": np.array(ex_patient, dtype=str),
        "ex_true": np.asarray(ex_true).reshape(-1, L, T),
        "ex_qrs_offset": np.asarray(ex_qoff, dtype=np.float64),
    }


def reference_points(beat: np.ndarray, geo: Any) -> tuple[float, float, int, float]:
    """QRS onset and offset, T-wave lead and QT (ms) of a real beat ``[L, T]`` (step 1); raises
    :class:`ecgdiff.qt.QTError` when its QRS or T wave cannot be measured."""
    q_on, q_off = qtlib.qrs_bounds(beat, geo.r_index, geo.fs)
    lead = qtlib.t_wave_lead(beat, q_on, q_off, geo.fs)
    qt = qtlib.measure_qt(beat, geo.r_index, geo.fs, q_onset=q_on, qrs_offset=q_off, lead=lead).qt_ms
    return q_on, q_off, lead, qt


def measure_samples(
    samples: np.ndarray, geo: Any, q_on: float, q_off: float, lead: int, failures: dict[str, int] | None = None
) -> np.ndarray:
    """QT (ms) of each sample ``[n, L, T]`` with the real beat's QRS onset and offset and T-wave lead (step 4): NaN
    where the T end cannot be measured, counted by reason in ``failures``."""
    out = np.full(len(samples), np.nan)
    for j, smp in enumerate(samples):
        try:
            out[j] = qtlib.measure_qt(smp, geo.r_index, geo.fs, q_onset=q_on, qrs_offset=q_off, lead=lead).qt_ms
        except qtlib.QTError as err:
            if failures is not None:
                reason = str(err).split(" (")[0]
                failures[reason] = failures.get(reason, 0) + 1
    return out


# --------------------------------------------------------------------------- gather
def fits(shards: list[Shard], ctx: TaskContext) -> tuple[pd.DataFrame, dict[str, int]]:
    """Per-patient fits: one row per (patient, law) with R^2 and parameters; plus exclusion counts."""
    s = ctx.settings
    rr_s = shards[0].arrays["rr_grid_ms"] / 1000.0
    pid = concat(shards, "patient_id")
    qt_ms = concat(shards, "qt_ms")
    excluded = concat(shards, "excluded")
    counts = {"patients": len(pid), "excluded_real_beat": int((excluded != "").sum()), "excluded_few_rr": 0}
    rows = []
    n = qt_ms.shape[2]
    for p in range(len(pid)):
        if excluded[p]:
            continue
        valid = np.isfinite(qt_ms[p]).sum(axis=1)
        use = valid >= max(1, int(np.ceil(s.min_valid_fraction * n)))
        if use.sum() < 3:
            counts["excluded_few_rr"] += 1
            continue
        mean_qt = np.nanmean(qt_ms[p][use], axis=1) / 1000.0
        for law in LAW_ORDER:
            f = qtlib.fit_qt_law(law, rr_s[use], mean_qt)
            rows.append({"patient_id": pid[p], "law": law, "r2": f.r2, **f.params, "n_rr": int(use.sum())})
    counts["fitted"] = len({r["patient_id"] for r in rows})
    return pd.DataFrame(rows), counts


def summarise(per_patient: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2: mean R^2 and 95 % t-interval over patients per law."""
    if per_patient.empty:
        raise ValueError("qt_rr: no patient could be fitted (see the exclusion counts)")
    num, disp = [], []
    for law in LAW_ORDER:
        r2 = per_patient.loc[per_patient["law"] == law, "r2"].to_numpy()
        iv = metrics.t_interval(r2)
        spec = qtlib.QT_LAWS[law]
        num.append(
            {
                "law": law,
                "method": spec.name,
                "r2": iv.estimate,
                "ci_low": iv.low,
                "ci_high": iv.high,
                "n_patients": iv.n,
                "expression": spec.formula,
            }
        )
        disp.append({"Method": spec.name, "R^2 score": iv.format(3), "Expression": spec.formula})
    return pd.DataFrame(num), pd.DataFrame(disp)


def gather(db: Any, shards: list[Shard], ctx: TaskContext, outputs: Mapping[str, str]) -> pd.DataFrame:
    check_shards(shards, TASK, db.data_hash)
    s = ctx.settings
    prov = ctx.provenance(db.data_hash, shards)
    per_patient, counts = fits(shards, ctx)
    numeric, display = summarise(per_patient)
    fails = {}
    for sh in shards:
        for r, c in zip(sh.arrays["failure_reason"], sh.arrays["failure_count"]):
            fails[str(r)] = fails.get(str(r), 0) + int(c)
    n_meas = int(sum(np.isfinite(sh.arrays["qt_ms"]).sum() for sh in shards))
    caption = (
        f"Table 2: R^2 of QT-RR laws fitted per patient to the mean QT of {s.n_samples} posterior samples "
        f"at each RR of {list(s.rr_ms)} ms, given all leads up to the end of the QRS; mean and 95% t-"
        f"interval over {counts['fitted']} of {counts['patients']} test patients "
        f"({counts['excluded_real_beat']} excluded: QRS or T wave of the real beat not measurable; "
        f"{counts['excluded_few_rr']} with < 3 RR values measured). "
        f"{n_meas} QT measurements; failures: {fails or 'none'}."
    )
    write_table_pair(numeric, display, outputs["table_csv"], outputs["table_md"], caption, prov)
    plot_qt(shards, per_patient, ctx, outputs["figure_qt"], prov)
    plot_beats(db, shards, ctx, outputs["figure_beats"], prov)
    return numeric


def plot_qt(
    shards: list[Shard], per_patient: pd.DataFrame, ctx: TaskContext, stem: str, prov: Mapping[str, Any]
) -> None:
    """Figure 7: QT against RR (95 % t-intervals over posterior samples) with the fitted Fridericia curves."""
    import matplotlib.pyplot as plt

    s = ctx.settings
    rr = shards[0].arrays["rr_grid_ms"]
    pid = concat(shards, "patient_id")
    qt_ms = concat(shards, "qt_ms")
    fitted = [p for p in pid if p in set(per_patient["patient_id"])][: max(1, int(s.n_examples))]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    grid = np.linspace(rr.min(), rr.max(), 100)
    for c, p in enumerate(fitted):
        i = int(np.flatnonzero(pid == p)[0])
        color = f"C{c}"
        means, halves = [], []
        for g in range(len(rr)):
            v = qt_ms[i, g][np.isfinite(qt_ms[i, g])]
            iv = metrics.t_interval(v) if len(v) else None
            means.append(iv.estimate if iv else np.nan)
            halves.append(iv.half_width if iv else np.nan)
        ax.errorbar(rr, means, yerr=halves, fmt="o", color=color, ms=3, capsize=2, label=f"patient {p}")
        rows = per_patient[per_patient["patient_id"] == p].set_index("law")
        off, plain = rows.loc["fridericia_offset"], rows.loc["fridericia"]
        ax.plot(
            grid,
            1000 * (off["qtc0"] * np.cbrt(grid / 1000) + off["qtc1"]),
            color=color,
            lw=1,
            label=f"Fridericia with offset (R²={off['r2']:.2f})",
        )
        ax.plot(
            grid,
            1000 * plain["qtc"] * np.cbrt(grid / 1000),
            color=color,
            lw=0.8,
            ls="--",
            label=f"Fridericia (R²={plain['r2']:.2f})",
        )
    ax.set_xlabel("RR (ms)")
    ax.set_ylabel("QT (ms)")
    ax.legend(fontsize=5, ncol=2)
    ax.set_title("QT of posterior beats against the conditioning RR (figure 7)", fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    save_figure(fig, figures.paths(stem), prov)


def plot_beats(db: Any, shards: list[Shard], ctx: TaskContext, stem: str, prov: Mapping[str, Any]) -> None:
    """Figure 8: posterior beats (blue) of one patient for three RR values, observed part (red)."""
    geo = db.geometry
    sh = next((sh for sh in shards if len(sh.arrays["ex_patient"])), None)
    if sh is None:
        raise ValueError("qt_rr: no example patient in any shard")
    rr = sh.arrays["rr_grid_ms"]
    samples, true, pid = sh.arrays["ex_samples"][0], sh.arrays["ex_true"][0], sh.arrays["ex_patient"][0]
    end = int(np.ceil(sh.arrays["ex_qrs_offset"][0]))
    cols = sorted({0, len(rr) // 2, len(rr) - 1})
    t = figures.time_ms(geo.length, geo.r_index, geo.fs)
    fig, axes = figures.lead_grid(len(geo.leads), len(cols), height=0.9, width=2.6)
    for c, g in enumerate(cols):
        for lead in range(len(geo.leads)):
            ax = axes[lead, c]
            figures.draw_samples(ax, t, samples[g][:, lead])
            ax.plot(t[: end + 1], true[lead, : end + 1], color=figures.OBSERVED_COLOR, lw=1.0, label="observed")
            ax.tick_params(labelsize=6)
        axes[0, c].set_title(f"RR = {rr[g]:.0f} ms", fontsize=8)
    figures.label_leads(axes, geo.leads, figures.NORMALISED)
    axes[0, 0].legend(fontsize=5, loc="lower right")
    figures.finish(fig, f"Posterior beats given the QRS for several RR (patient {pid}; figure 8)")
    save_figure(fig, figures.paths(stem), prov)
