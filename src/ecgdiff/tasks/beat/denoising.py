"""Denoising (paper 3.3.1, figure 5).

Protocol: for each test patient (one random beat each), draw a per-lead noise level
``sigma_l ~ Exponential(mean = tasks.denoising.noise_mean)`` (0.2 in the paper) and observe every
coordinate of the beat with white noise of that level on that lead: ``y = x + sigma_l * eps``. The
noise levels are unknown to the sampler: they are estimated by the noise-level estimation (paper
algorithm 2, N_MLE = ``inverse.mcgdiff.noise_iters`` iterations), then posterior samples are drawn (``tasks.sampler``, MCGdiff
in the paper).

Metrics, per patient, then mean and 95 % CLT interval over patients:

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

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ... import metrics
from .. import common, figures
from ..posterior import LinearObservation, SamplesProvider, batches, sample_with_estimated_noise

TASK = "denoising"
DEFAULTS: dict[str, Any] = {
    "n_patients": None,
    "n_samples": 100,
    "noise_mean": 0.2,
    "n_examples": 2,
    "batch_patients": None,
    "covariance": "ledoit_wolf",
}


def settings(config: Mapping[str, Any]) -> dict[str, Any]:
    return {**DEFAULTS, **common.task_config(config, TASK)}


def patients(db: Any, config: Mapping[str, Any]) -> tuple[np.ndarray, pd.DataFrame]:
    """The task's patients: one seeded beat per test patient (at most ``n_patients``)."""
    return common.one_beat_per_patient(db, "test", int(config["seed"]), settings(config)["n_patients"])


def simulate_observation(x: np.ndarray, noise_mean: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noisy beats ``y = x + sigma_l * eps`` with ``sigma [P, L] ~ Exponential(mean noise_mean)`` per lead."""
    sigma = rng.exponential(noise_mean, size=x.shape[:2])
    return x + sigma[:, :, None] * rng.standard_normal(x.shape), sigma


def run_shard(
    db: Any, provider_factory: Callable[..., SamplesProvider], config: Mapping[str, Any], shard: int, n_shards: int
) -> dict[str, np.ndarray]:
    """Noise, estimate, sample and score the shard's patients; returns the shard's arrays."""
    s = settings(config)
    beats, meta = patients(db, config)
    idx = common.shard_items(len(meta), shard, n_shards)
    x = beats[idx].astype(np.float64)
    meta = meta.iloc[idx].reset_index(drop=True)
    seed = common.shard_seed(int(config["seed"]), TASK, shard)
    P, L, T = x.shape
    y_full, sigma_true = simulate_observation(x, float(s["noise_mean"]), np.random.default_rng(seed))
    obs = LinearObservation.from_mask(np.ones((L, T), dtype=bool))
    provider = provider_factory(config["tasks"].get("sampler", "mcgdiff"))
    gen = common.generator(seed, config)
    cond = _cond(db, meta)
    n = int(s["n_samples"])
    samples = np.zeros((P, n, L, T), dtype=np.float32)
    sigma_hat = np.zeros((P, L))
    for b in batches(P, s["batch_patients"]):
        samples[b], sigma_hat[b] = sample_with_estimated_noise(
            provider, None if cond is None else cond[b], obs.apply(y_full[b]), obs, n, gen
        )
    maha = (
        np.stack([metrics.rescaled_mahalanobis(x[p], samples[p], s["covariance"]) for p in range(P)])
        if P
        else np.zeros((0, L))
    )
    maha_sq = (
        np.stack([metrics.rescaled_mahalanobis(x[p], samples[p], s["covariance"], squared=True) for p in range(P)])
        if P
        else np.zeros((0, L))
    )
    post_mean = samples.mean(axis=1) if P else np.zeros_like(x)
    k = min(int(s["n_examples"]), P)
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


def _n_mle(config: Mapping[str, Any]) -> int:
    from .. import noise_estimation_options

    return noise_estimation_options(config, TASK)[0]


def _cond(db: Any, meta: pd.DataFrame) -> np.ndarray:
    from ...diffusion import conditioning

    return conditioning.encode_meta(meta)


def summarise(shards: list[common.Shard]) -> pd.DataFrame:
    """The table: one row per metric, mean and 95 % CLT interval over patients."""
    maha = common.concat(shards, "maha").mean(axis=1)
    maha_sq = common.concat(shards, "maha_sq").mean(axis=1)
    err = np.abs(common.concat(shards, "sigma_hat") - common.concat(shards, "sigma_true"))
    rows = [
        ("rescaled Mahalanobis d / chi2_0.99(T) (paper)", maha),
        ("rescaled Mahalanobis d^2 / chi2_0.99(T)", maha_sq),
        ("noise level: mean absolute error over leads", err.mean(axis=1)),
        ("noise level: summed absolute error over leads", err.sum(axis=1)),
        ("RMSE posterior mean vs true beat", common.concat(shards, "rmse_posterior_mean")),
        ("RMSE noisy observation vs true beat", common.concat(shards, "rmse_observation")),
    ]
    out = []
    for name, values in rows:
        iv = metrics.clt_interval(values)
        out.append({"metric": name, "mean": iv.estimate, "ci_low": iv.low, "ci_high": iv.high, "n_patients": iv.n})
    return pd.DataFrame(out)


def gather(db: Any, shards: list[common.Shard], config: Mapping[str, Any], outputs: Mapping[str, str]) -> pd.DataFrame:
    """Write ``outputs['table_csv'], ['table_md']`` and ``outputs['figure']`` (stem); return the table."""
    common.check_shards(shards, TASK, db.data_hash)
    prov = common.output_provenance(config, db.data_hash, TASK, shards)
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
    s = settings(config)
    caption = (
        f"Denoising (paper 3.3.1): per-lead noise sigma_l ~ Exponential(mean {s['noise_mean']}), "
        f"noise levels estimated ({_n_mle(config)} iterations), "
        f"{s['n_samples']} posterior samples ({config['tasks'].get('sampler', 'mcgdiff')}); "
        "mean and 95% CLT interval over test patients. Covariance: "
        f"{s['covariance']}."
    )
    common.write_table_pair(table, display, outputs["table_csv"], outputs["table_md"], caption, prov)
    plot(db, shards, config, outputs["figure"], prov)
    return table


def plot(db: Any, shards: list[common.Shard], config: Mapping[str, Any], stem: str, prov: Mapping[str, Any]) -> None:
    """Figure 5: noisy observation, posterior samples and true beat of up to two patients."""
    geo = common.beat_geometry(db)
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
    ex = ex[: max(1, int(settings(config)["n_examples"]))]
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
    figures.label_leads(axes, geo.leads)
    axes[0, 0].legend(fontsize=6, loc="lower left")
    figures.finish(fig, "Denoising: posterior samples given a noisy beat (figure 5)")
    from ...plots import save_figure

    save_figure(fig, common.figure_paths(stem), prov)
