"""Anomaly (MI) detection (paper 3.3.4, figures 9-11; appendix 6.4).

Protocol:

1. Cases: every patient of the ``mi`` split (one seeded random beat each; at most ``n_mi``).
   Controls: healthy test patients (one beat each) sampled to match the cases' age-by-sex
   distribution (:func:`ecgdiff.matching.match_controls`: Gaussian kernel of ``bandwidth_years``,
   distinct patients); at most ``n_controls``. With ``controls: all`` every test patient is a control
   (for small cohorts, where exact matching keeps too few; the table says which was used). Controls
   come from the ``control_splits`` (default: the test split; the tiny test run adds ``cv``); a listed split
   the beat database lacks is skipped with a log line.
2. Observe the augmented limb leads aVL, aVR, aVF of each beat; estimate their noise levels
   (algorithm 2, N_MLE = ``noise_estimation.iterations``), draw ``n_samples`` posterior samples of the whole beat
   (MCGdiff with ``particles`` particles in the paper: 50 particles, 100 samples).
3. Score: rescaled Mahalanobis distance (:func:`ecgdiff.metrics.rescaled_mahalanobis`, as in
   denoising) of the real precordial leads V1-V6 from the posterior, averaged over the six leads. A
   healthy prior should explain a control's precordial leads from its limb leads better than an MI
   patient's.
4. Distance distributions (figure 9), ROC curve of the distance as a classifier of MI against control
   with its AUC and DeLong 95 % interval (figure 10), and ST deviations (figure 11): at ``J + st_ms``
   (J = QRS offset of the real beat), the real beat minus the posterior mean on each precordial lead;
   positive = the patient's ST segment lies above what a healthy heart with these limb leads would
   show (elevation), negative = depression. In millivolts (the table's ``st_mv_*`` columns, figure 11), both
   the real beat and the posterior are multiplied by the patient's true scale of each precordial lead (its QRS
   maximum, stored with the beat): the deviation is the normalised one at the patient's amplitude. The columns
   ``st_mv_inferred_*`` scale the posterior instead by the precordial scale inferred from the observed limb
   leads' scales (:class:`ecgdiff.data.scales.ScaleModel` fitted on the training beats), what a healthy heart
   with these limb leads would show in millivolts; the real beat keeps its true scale. Figure 11 shows the
   control of median distance and the MI patients of largest and smallest mean ST deviation (mV).

Outputs: ``tables/anomaly_detection.{csv,md}``, ``figures/fig9_mahalanobis.{png,pdf}``,
``figures/fig10_roc.{png,pdf}``, ``figures/fig11_st_segments.{png,pdf}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ... import leads as leadlib
from ... import matching, metrics, progress
from ... import qt as qtlib
from ...data.scales import LeadScales
from ...diffusion import conditioning
from ...plots import save_figure
from ...tables import write_table_pair
from .. import figures
from ..context import ProviderFactory, TaskContext
from ..posterior import LinearObservation, batches, sample_with_estimated_noise
from ..shards import Shard, check_shards, concat, select

TASK = "anomaly"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """``tasks.anomaly`` (defaults and their sources: ``config/config.yaml``)."""

    n_samples: int  # posterior samples per patient (paper: 100)
    n_mi: int | None  # MI patients (None: all)
    n_controls: int | None  # matched controls kept at most (None: all matched)
    bandwidth_years: float  # age kernel bandwidth of the matching
    observed: tuple[str, ...]  # the observed leads (paper: the augmented limb leads)
    scored: tuple[str, ...]  # the leads scored by the Mahalanobis distance (paper: V1-V6)
    st_ms: float  # ST deviation measured at J + st_ms
    batch_patients: int | None  # patients per sampler call (None: all of the shard)
    covariance: str  # posterior covariance estimator of the Mahalanobis distance
    controls: str  # matched (appendix 6.4) | all
    control_splits: tuple[str, ...]  # splits the controls come from

    def __post_init__(self) -> None:
        if self.controls not in ("matched", "all"):
            raise ValueError(f"tasks.anomaly.controls must be 'matched' or 'all', got {self.controls!r}")
        both = sorted(set(self.observed) & set(self.scored))
        if both:
            raise ValueError(
                f"tasks.anomaly: leads {both} are both observed and scored; the distance scores leads the posterior "
                "reconstructs from the observed ones (paper: observed aVL, aVR, aVF; scored V1-V6)"
            )


GROUPS = ("control", "mi")


def cohort(db: Any, ctx: TaskContext) -> tuple[np.ndarray, pd.DataFrame]:
    """Cases then matched controls: beats ``[N, L, T]`` and metadata with a ``group`` column."""
    s = ctx.settings
    seed = ctx.run.seed
    mi_beats, mi_meta = db.patients("mi", seed, s.n_mi)
    parts = []
    for split in s.control_splits:  # a control split the database lacks (a cohort without cv) is skipped
        beats, meta = db.patients(split, seed, missing_ok=True)
        if len(meta):
            parts.append((beats, meta))
        else:
            log.warning("anomaly: tasks.anomaly.control_splits names %r, which has no patient: skipped", split)
    if not parts:
        raise ValueError(f"anomaly: no control patient: the beat database has no beat in {list(s.control_splits)}")
    test_beats = np.concatenate([b for b, _ in parts])
    test_meta = pd.concat([m for _, m in parts], ignore_index=True)
    test_meta = test_meta.assign(_row=np.arange(len(test_meta)))
    if s.controls == "matched":
        ctrl_meta = matching.match_controls(mi_meta, test_meta, seed=seed, bandwidth=float(s.bandwidth_years)).controls
    else:
        ctrl_meta = test_meta
    if s.n_controls is not None and len(ctrl_meta) > s.n_controls:
        ctrl_meta = ctrl_meta.sample(int(s.n_controls), random_state=seed).sort_index()
    if len(ctrl_meta) < 2 or len(mi_meta) < 2:
        raise ValueError(
            f"anomaly: need >= 2 patients per group, got {len(ctrl_meta)} controls ({s.controls} "
            f"from {s.control_splits}) and {len(mi_meta)} MI patients"
        )
    ctrl_beats = test_beats[ctrl_meta["_row"].to_numpy()]
    meta = pd.concat(
        [mi_meta.assign(group="mi"), ctrl_meta.drop(columns="_row").assign(group="control")], ignore_index=True
    )
    return np.concatenate([mi_beats, ctrl_beats]).astype(np.float32), meta


def run_shard(db: Any, ctx: TaskContext, providers: ProviderFactory, shard: int) -> dict[str, np.ndarray]:
    s = ctx.settings
    geo = db.geometry
    x, meta = select(*cohort(db, ctx), shard, ctx.run.shards)
    P, L, T = x.shape
    gen = ctx.generator(ctx.shard_seed(shard))
    provider = providers()
    obs = LinearObservation.of_leads(geo.leads, s.observed, T)
    scored = leadlib.indices(s.scored, geo.leads)
    cond = conditioning.encode_meta(meta)
    n = int(s.n_samples)
    dist = np.full((P, len(scored)), np.nan)
    post_mean = np.zeros((P, L, T), dtype=np.float32)
    post_sd = np.zeros((P, L, T), dtype=np.float32)
    sigma = np.zeros((P, obs.n_groups))
    parts = batches(P, s.batch_patients)
    with progress.bar(total=len(parts), desc=f"{TASK} shard {shard}", unit="batch") as bar:
        for b in parts:
            samples, sigma[b] = sample_with_estimated_noise(provider, cond[b], obs.apply(x[b]), obs, n, gen)
            for i, p in enumerate(range(P)[b]):
                dist[p] = metrics.rescaled_mahalanobis(x[p, scored], samples[i][:, scored], s.covariance)
            post_mean[b] = samples.mean(axis=1)
            post_sd[b] = samples.std(axis=1)
            bar.update(1)
    j_point, st_idx, st_dev = st_deviation(x, post_mean, geo, scored, float(s.st_ms))
    sc = db.scales(meta)
    s_hat = inferred_scales(db, s.observed, s.scored, sc[:, leadlib.indices(s.observed, geo.leads)])
    ok = st_idx >= 0
    st_mv = st_dev * sc[:, scored]
    st_mv_inferred = np.full_like(st_dev, np.nan)
    for p in np.flatnonzero(ok):
        t = int(st_idx[p])
        st_mv_inferred[p] = x[p, scored, t] * sc[p, scored] - post_mean[p, scored, t] * s_hat[p]
    return {
        "patient_id": meta["patient_id"].astype(str).to_numpy(),
        "beat_id": meta["beat_id"].to_numpy(),
        "group": meta["group"].to_numpy(dtype=str),
        "age": meta["age"].to_numpy(dtype=np.float64),
        "sex": meta["sex"].to_numpy(dtype=str),
        "distance": dist,
        "sigma_hat": sigma,
        "true": x.astype(np.float32),
        "posterior_mean": post_mean,
        "posterior_sd": post_sd,
        "scales": sc,
        "scales_inferred": s_hat,
        "j_point": j_point,
        "st_index": st_idx,
        "st_deviation": st_dev,
        "st_mv": st_mv,
        "st_mv_inferred": st_mv_inferred,
    }


def st_deviation(
    x: np.ndarray, mean: np.ndarray, geo: Any, scored: list[int], st_ms: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """J point (QRS offset of the real beat, :func:`ecgdiff.qt.qrs_bounds` on all its leads), the ST sample
    ``J + st_ms`` (-1 where the QRS offset is not found or the sample leaves the window) and the deviation
    ``x - mean`` there on the ``scored`` leads, for beats ``x [P, L, T]`` and posterior means ``mean [P, L, T]``
    (units of ``x``; NaN where there is no ST sample)."""
    P, _, T = x.shape
    j_point = np.full(P, np.nan)
    for p in range(P):
        try:
            j_point[p] = qtlib.qrs_bounds(x[p], geo.r_index, geo.fs)[1]
        except qtlib.QTError:
            pass
    st_idx = np.round(j_point + st_ms * geo.fs / 1000.0)
    ok = np.isfinite(st_idx) & (st_idx < T)
    st_dev = np.full((P, len(scored)), np.nan)
    for p in np.flatnonzero(ok):
        t = int(st_idx[p])
        st_dev[p] = x[p, scored, t] - mean[p, scored, t]
    return j_point, np.where(ok, st_idx, -1).astype(int), st_dev


def inferred_scales(
    db: Any, observed: tuple[str, ...], scored: tuple[str, ...], observed_scales: np.ndarray
) -> np.ndarray:
    """Scales ``[P, len(scored)]`` (mV) of the scored leads inferred from the observed leads' scales ``[P, O]`` by the
    log-scale regression fitted on the database's training beats (:class:`ecgdiff.data.scales.ScaleModel`)."""
    if not len(observed_scales):
        return np.zeros((0, len(scored)))
    model = LeadScales.from_database(db, "train").fit(observed, scored)
    return model.predict(observed_scales)


# --------------------------------------------------------------------------- gather
def collect(shards: list[Shard], scored: tuple[str, ...]) -> pd.DataFrame:
    """One row per patient: group, age, sex, mean distance over the scored leads, per-lead ST deviations
    (``st_norm_<lead>`` normalised, ``st_mv_<lead>`` and ``st_mv_inferred_<lead>`` in mV; see the module docstring)."""
    d = concat(shards, "distance")
    df = pd.DataFrame(
        {
            "patient_id": concat(shards, "patient_id"),
            "group": concat(shards, "group"),
            "age": concat(shards, "age"),
            "sex": concat(shards, "sex"),
            "distance": d.mean(axis=1),
        }
    )
    for key, prefix in (("st_deviation", "st_norm"), ("st_mv", "st_mv"), ("st_mv_inferred", "st_mv_inferred")):
        st = concat(shards, key)
        for j, lead in enumerate(scored):
            df[f"{prefix}_{lead}"] = st[:, j]
    return df


def summarise(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, metrics.RocResult]:
    """Per group: patients, age, distance (mean, 95 % t-interval), AUC, and the mean ST deviation (mV) of each
    scored lead, with the posterior at the true and at the inferred scale."""
    res = metrics.roc(df["distance"].to_numpy(), (df["group"] == "mi").to_numpy())
    st_mv = [c for c in df.columns if c.startswith("st_mv_") and not c.startswith("st_mv_inferred_")]
    st_inf = [c for c in df.columns if c.startswith("st_mv_inferred_")]
    num, disp = [], []
    for g in GROUPS:
        sub = df[df["group"] == g]
        iv = metrics.t_interval(sub["distance"])
        num.append(
            {
                "group": g,
                "n_patients": len(sub),
                "n_male": int((sub["sex"] == "M").sum()),
                "n_female": int((sub["sex"] == "F").sum()),
                "age_mean": float(sub["age"].mean()),
                "distance_mean": iv.estimate,
                "distance_ci_low": iv.low,
                "distance_ci_high": iv.high,
                "auc": res.auc.estimate,
                "auc_ci_low": res.auc.low,
                "auc_ci_high": res.auc.high,
                **{f"{c}_mean": float(np.nanmean(sub[c])) if sub[c].notna().any() else np.nan for c in st_mv + st_inf},
            }
        )
        mean_st = sub[st_mv].mean(axis=1)
        disp.append(
            {
                "group": "MI" if g == "mi" else "control",
                "patients (M/F)": f"{len(sub)} ({num[-1]['n_male']}/{num[-1]['n_female']})",
                "age (mean)": f"{num[-1]['age_mean']:.1f}",
                "rescaled Mahalanobis (V1-V6)": iv.format(3),
                "AUC (DeLong 95% CI)": res.auc.format(3),
                "ST deviation, mean over leads (mV)": f"{np.nanmean(mean_st):+.3f}" if mean_st.notna().any() else "-",
            }
        )
    return pd.DataFrame(num), pd.DataFrame(disp), res


def gather(db: Any, shards: list[Shard], ctx: TaskContext, outputs: Mapping[str, str]) -> pd.DataFrame:
    check_shards(shards, TASK, db.data_hash)
    s = ctx.settings
    prov = ctx.provenance(db.data_hash, shards)
    df = collect(shards, tuple(s.scored))
    numeric, display, res = summarise(df)
    caption = (
        f"MI detection (paper 3.3.4): rescaled Mahalanobis distance of the real V1-V6 from "
        f"{s.n_samples} posterior samples given {', '.join(s.observed)}, averaged over leads; "
        f"mean and 95% t-interval per group; AUC of the distance with its DeLong 95% interval. "
        f"ST deviation at J+{s.st_ms:.0f} ms, real beat minus posterior mean, in mV: st_mv_* with the posterior at "
        "the patient's true precordial scales, st_mv_inferred_* at the scales inferred from the limb leads. "
        + (
            f"Controls: healthy {'/'.join(s.control_splits)} patients matched to the MI set's age by sex "
            f"(Gaussian kernel, {s.bandwidth_years}-year bandwidth)."
            if s.controls == "matched"
            else f"Controls: every healthy patient of the {'/'.join(s.control_splits)} split(s) "
            "(no age-by-sex matching)."
        )
    )
    write_table_pair(numeric, display, outputs["table_csv"], outputs["table_md"], caption, prov)
    plot_distances(df, outputs["figure_distances"], prov)
    plot_roc(res, outputs["figure_roc"], prov)
    plot_st(db, shards, df, ctx, outputs["figure_st"], prov)
    return numeric


def plot_distances(df: pd.DataFrame, stem: str, prov: Mapping[str, Any]) -> None:
    """Figure 9: distribution of the distances, control (red) and MI (blue)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    bins = np.histogram_bin_edges(df["distance"], bins=min(30, max(8, len(df) // 4)))
    for g, color in (("control", "tab:red"), ("mi", "tab:blue")):
        v = df.loc[df["group"] == g, "distance"]
        ax.hist(
            v, bins=bins, density=True, alpha=0.5, color=color, label=f"{'MI' if g == 'mi' else 'control'} (n={len(v)})"
        )
    ax.set_xlabel("rescaled Mahalanobis distance, mean over V1-V6")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    ax.set_title("Posterior-to-beat distance: controls vs MI (figure 9)", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    save_figure(fig, figures.paths(stem), prov)


def plot_roc(res: metrics.RocResult, stem: str, prov: Mapping[str, Any]) -> None:
    """Figure 10: ROC curve of the distance (MI = positive)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.plot(res.fpr, res.tpr, color="tab:blue", lw=1.5, label=f"AUC = {res.auc.format(3)}")
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
    ax.set_xlabel("false positive rate (controls)")
    ax.set_ylabel("true positive rate (MI)")
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title("ROC: MI vs control by distance (figure 10)", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    save_figure(fig, figures.paths(stem), prov)


def examples(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(patient_id, caption) of figure 11: the median-distance control, then the MI patients with the largest
    and the smallest mean ST deviation over the scored leads (captioned by the sign of that mean)."""
    st_cols = [c for c in df.columns if c.startswith("st_mv_") and not c.startswith("st_mv_inferred_")]
    out = []
    ctrl = df[df["group"] == "control"]
    if len(ctrl):
        i = (ctrl["distance"] - ctrl["distance"].median()).abs().idxmin()
        out.append((ctrl.loc[i, "patient_id"], "control"))
    mi = df[df["group"] == "mi"].copy()
    mi["st_mean"] = mi[st_cols].mean(axis=1)
    mi = mi[np.isfinite(mi["st_mean"])]

    def caption(v: float) -> str:
        return f"MI, mean ST {'elevation' if v > 0 else 'depression'} {v:+.2f} mV"

    if len(mi):
        hi = mi["st_mean"].idxmax()
        out.append((mi.loc[hi, "patient_id"], caption(mi.loc[hi, "st_mean"])))
        rest = mi.drop(index=hi)
        if len(rest):
            lo = rest["st_mean"].idxmin()
            out.append((rest.loc[lo, "patient_id"], caption(rest.loc[lo, "st_mean"])))
    return out


def plot_st(
    db: Any, shards: list[Shard], df: pd.DataFrame, ctx: TaskContext, stem: str, prov: Mapping[str, Any]
) -> None:
    """Figure 11 in millivolts: posterior (blue, mean +- 2 sd) and real (red) precordial leads, ST deviation marked
    (both at the patient's true precordial scales)."""
    s = ctx.settings
    geo = db.geometry
    scored = leadlib.indices(s.scored, geo.leads)
    pid = concat(shards, "patient_id")
    sc = concat(shards, "scales")[:, scored, None]
    true = concat(shards, "true")[:, scored] * sc
    mean = concat(shards, "posterior_mean")[:, scored] * sc
    sd = concat(shards, "posterior_sd")[:, scored] * sc
    st_index = concat(shards, "st_index")
    chosen = examples(df)
    rows = [int(np.flatnonzero(pid == p)[0]) for p, _ in chosen]
    fig = draw_st(
        true[rows],
        mean[rows],
        sd[rows],
        st_index[rows],
        [geo.leads[j] for j in scored],
        [f"{title}\npatient {p}" for p, title in chosen],
        figures.time_ms(geo.length, geo.r_index, geo.fs),
        f"ST deviation at J+{s.st_ms:.0f} ms: patient minus posterior (arrow up = elevation; figure 11)",
    )
    save_figure(fig, figures.paths(stem), prov)


def draw_st(
    true: np.ndarray,
    mean: np.ndarray,
    sd: np.ndarray,
    st_index: np.ndarray,
    lead_names: list[str],
    titles: list[str],
    t: np.ndarray,
    title: str,
    unit: str = "mV",
) -> Any:
    """Figure 11's panels: one column per beat ``true/mean/sd [C, K, T]`` (the same unit ``unit``), one row per
    lead, the posterior mean +- 2 sd, the real beat and an arrow from the posterior to the beat at its ST sample
    ``st_index [C]`` (-1: none) labelled with the deviation."""
    fig, axes = figures.lead_grid(len(lead_names), len(titles), height=0.9, width=2.8)
    for c in range(len(titles)):
        for r in range(len(lead_names)):
            ax = axes[r, c]
            m, d, x = mean[c, r], sd[c, r], true[c, r]
            ax.fill_between(t, m - 2 * d, m + 2 * d, color=figures.POSTERIOR_COLOR, alpha=0.25, lw=0)
            ax.plot(t, m, color=figures.POSTERIOR_COLOR, lw=0.9, label="posterior mean ± 2 sd")
            ax.plot(t, x, color=figures.OBSERVED_COLOR, lw=0.9, label="patient's beat")
            k = int(st_index[c])
            if k >= 0:
                dev = x[k] - m[k]
                ax.annotate(
                    "",
                    xy=(t[k], x[k]),
                    xytext=(t[k], m[k]),
                    arrowprops={"arrowstyle": "->", "color": "green" if dev > 0 else "purple", "lw": 1.0},
                )
                ax.text(t[k], max(x[k], m[k]), f" {dev:+.2f}", fontsize=5, va="bottom")
            ax.tick_params(labelsize=6)
        axes[0, c].set_title(titles[c], fontsize=7)
    figures.label_leads(axes, lead_names, unit)
    axes[0, 0].legend(fontsize=5, loc="lower right")
    figures.finish(fig, title)
    return fig
