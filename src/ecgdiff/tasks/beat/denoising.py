"""Denoising (paper 3.3.1, figure 5).

Protocol: for each test patient (one random beat each), draw a per-lead noise level
``sigma_l ~ Exponential(mean = tasks.denoising.noise_mean)`` (0.2 in the paper) and observe every
coordinate of the beat with white noise of that level on that lead: ``y = x + sigma_l * eps``. The
noise levels are unknown to the sampler: they are estimated by the noise-level estimation (paper
algorithm 2, N_MLE = ``noise_estimation.iterations``), then posterior samples are drawn (``tasks.sampler``, MCGdiff
in the paper).

Metrics, per patient, then mean and 95 % t-interval over patients:

- **rescaled Mahalanobis distance** of the true beat from the posterior, per lead (176 samples) then
  averaged over leads: ``d / chi2.ppf(0.99, 176)`` as the paper states (0.130 +- 0.003 in the paper),
  and the calibrated alternative ``d^2 / chi2.ppf(0.99, 176)``. The posterior covariance of one lead
  (``n_samples`` samples in 176 dimensions) is estimated by Ledoit-Wolf shrinkage
  (:func:`ecgdiff.metrics.rescaled_mahalanobis`): the sample covariance is singular when
  ``n_samples <= 176``.
- **absolute error of the estimated noise levels**, ``|sigma_hat_l - sigma_l|`` averaged over the leads
  (the paper's "total absolute deviation", 0.03 +- 0.001; its text does not say whether it sums or
  averages over leads: we average, and also give the sum).
- RMSE of the posterior mean and of the noisy observation against the true beat (context).

Outputs: ``tables/denoising.{csv,md}``, ``figures/fig5_denoising.{png,pdf}`` (two test patients: noisy
observation, posterior samples, true beat).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ... import metrics, progress
from ...diffusion import conditioning
from ...plots import save_figure
from ...tables import write_table_pair
from .. import figures
from ..context import ProviderFactory, TaskContext
from ..posterior import LinearObservation, batches, sample_with_estimated_noise
from ..shards import Shard, check_shards, concat, select

TASK = "denoising"


@dataclass(frozen=True)
class Settings:
    """``tasks.denoising`` (defaults and their sources: ``config/config.yaml``)."""

    n_patients: int | None  # test patients (None: all)
    n_samples: int  # posterior samples per patient (paper: 100)
    noise_mean: float  # mean of the per-lead noise std's exponential law (paper: 0.2)
    n_examples: int  # patients drawn in figure 5
    batch_patients: int | None  # patients per sampler call (None: all of the shard)
    covariance: str  # posterior covariance estimator of the Mahalanobis distance


def patients(db: Any, ctx: TaskContext) -> tuple[np.ndarray, pd.DataFrame]:
    """The task's patients: one seeded beat per test patient (at most ``n_patients``)."""
    return db.patients("test", ctx.run.seed, ctx.settings.n_patients)


def simulate_observation(x: np.ndarray, noise_mean: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noisy beats ``y = x + sigma_l * eps`` with ``sigma [P, L] ~ Exponential(mean noise_mean)`` per lead."""
    sigma = rng.exponential(noise_mean, size=x.shape[:2])
    return x + sigma[:, :, None] * rng.standard_normal(x.shape), sigma


def run_shard(db: Any, ctx: TaskContext, providers: ProviderFactory, shard: int) -> dict[str, np.ndarray]:
    """Noise, estimate, sample and score the shard's patients; returns the shard's arrays."""
    s = ctx.settings
    x, meta = select(*patients(db, ctx), shard, ctx.run.shards)
    seed = ctx.shard_seed(shard)
    P, L, T = x.shape
    y_full, sigma_true = simulate_observation(x, float(s.noise_mean), np.random.default_rng(seed))
    obs = LinearObservation.from_mask(np.ones((L, T), dtype=bool))
    provider = providers()
    gen = ctx.generator(seed)
    cond = conditioning.encode_meta(meta)
    n = int(s.n_samples)
    samples = np.zeros((P, n, L, T), dtype=np.float32)
    sigma_hat = np.zeros((P, L))
    parts = batches(P, s.batch_patients)
    with progress.bar(total=len(parts), desc=f"{TASK} shard {shard}", unit="batch") as bar:
        for b in parts:
            samples[b], sigma_hat[b] = sample_with_estimated_noise(
                provider, None if cond is None else cond[b], obs.apply(y_full[b]), obs, n, gen
            )
            bar.update(1)
    maha = (
        np.stack([metrics.rescaled_mahalanobis(x[p], samples[p], s.covariance) for p in range(P)])
        if P
        else np.zeros((0, L))
    )
    maha_sq = (
        np.stack([metrics.rescaled_mahalanobis(x[p], samples[p], s.covariance, squared=True) for p in range(P)])
        if P
        else np.zeros((0, L))
    )
    post_mean = samples.mean(axis=1) if P else np.zeros_like(x)
    k = min(int(s.n_examples), P)
    return {
        "patient_id": meta["patient_id"].astype(str).to_numpy(),
        "beat_id": meta["beat_id"].to_numpy(),
        "sigma_true": sigma_true,
        "sigma_hat": sigma_hat,
        "maha": maha,
        "maha_sq": maha_sq,
        "rmse_posterior_mean": np.sqrt(np.mean((post_mean - x) ** 2, axis=(1, 2))),
        "rmse_observation": np.sqrt(np.mean((y_full - x) ** 2, axis=(1, 2))),
        "ex_true": x[:k],
        "ex_y": y_full[:k],
        "ex_samples": samples[:k],
        "ex_patient": meta["patient_id"].astype(str).to_numpy()[:k],
        "ex_sigma_true": sigma_true[:k],
        "ex_sigma_hat": sigma_hat[:k],
    }


def summarise(shards: list[Shard]) -> pd.DataFrame:
    """The table: one row per metric, mean and 95 % t-interval over patients."""
    maha = concat(shards, "maha").mean(axis=1)
    maha_sq = concat(shards, "maha_sq").mean(axis=1)
    err = np.abs(concat(shards, "sigma_hat") - concat(shards, "sigma_true"))
    rows = [
        ("rescaled Mahalanobis d / chi2_0.99(T) (paper)", maha),
        ("rescaled Mahalanobis d^2 / chi2_0.99(T)", maha_sq),
        ("noise level: mean absolute error over leads", err.mean(axis=1)),
        ("noise level: summed absolute error over leads", err.sum(axis=1)),
        ("RMSE posterior mean vs true beat", concat(shards, "rmse_posterior_mean")),
        ("RMSE noisy observation vs true beat", concat(shards, "rmse_observation")),
    ]
    out = []
    for name, values in rows:
        iv = metrics.t_interval(values)
        out.append({"metric": name, "mean": iv.estimate, "ci_low": iv.low, "ci_high": iv.high, "n_patients": iv.n})
    return pd.DataFrame(out)


def gather(db: Any, shards: list[Shard], ctx: TaskContext, outputs: Mapping[str, str]) -> pd.DataFrame:
    """Write ``outputs['table_csv'], ['table_md']`` and ``outputs['figure']`` (stem); return the table."""
    check_shards(shards, TASK, db.data_hash)
    prov = ctx.provenance(db.data_hash, shards)
    table = summarise(shards)
    display = pd.DataFrame(
        {
            "metric": table["metric"],
            "mean ± 95% CI": [
                f"{m:.3f} ± {(hi - lo) / 2:.3f}" for m, lo, hi in zip(table["mean"], table["ci_low"], table["ci_high"])
            ],
            "patients": table["n_patients"],
        }
    )
    s = ctx.settings
    caption = (
        f"Denoising (paper 3.3.1): per-lead noise sigma_l ~ Exponential(mean {s.noise_mean}), "
        f"noise levels estimated ({ctx.noise.iterations} iterations), "
        f"{s.n_samples} posterior samples ({ctx.sampler}); "
        "mean and 95% t-interval over test patients. Covariance: "
        f"{s.covariance}."
    )
    write_table_pair(table, display, outputs["table_csv"], outputs["table_md"], caption, prov)
    plot(db, shards, s, outputs["figure"], prov)
    return table


def plot(db: Any, shards: list[Shard], s: Settings, stem: str, prov: Mapping[str, Any]) -> None:
    """Figure 5: noisy observation, posterior samples and true beat of up to two patients."""
    geo = db.geometry
    ex = [
        (
            sh.arrays["ex_true"][i],
            sh.arrays["ex_y"][i],
            sh.arrays["ex_samples"][i],
            sh.arrays["ex_patient"][i],
            sh.arrays["ex_sigma_true"][i],
            sh.arrays["ex_sigma_hat"][i],
        )
        for sh in shards
        for i in range(len(sh.arrays.get("ex_true", [])))
    ]
    ex = ex[: max(1, int(s.n_examples))]
    if not ex:
        raise ValueError("denoising: no example patient in any shard")
    t = figures.time_ms(geo.length, geo.r_index, geo.fs)
    fig, axes = figures.lead_grid(len(geo.leads), len(ex))
    for c, (x, y, smp, pid, st, sh) in enumerate(ex):
        for lead in range(len(geo.leads)):
            ax = axes[lead, c]
            ax.plot(t, y[lead], color="0.6", lw=0.6, label="noisy observation")
            figures.draw_samples(ax, t, smp[:, lead])
            ax.plot(t, x[lead], color=figures.TRUE_COLOR, lw=0.8, ls="--", label="true beat")
            ax.text(
                0.99,
                0.95,
                f"σ={st[lead]:.2f} est {sh[lead]:.2f}",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=6,
            )
            ax.tick_params(labelsize=6)
        axes[0, c].set_title(f"patient {pid}", fontsize=8)
    figures.label_leads(axes, geo.leads, figures.NORMALISED)
    axes[0, 0].legend(fontsize=6, loc="lower left")
    figures.finish(fig, "Denoising: posterior samples given a noisy beat (figure 5)")
    save_figure(fig, figures.paths(stem), prov)
