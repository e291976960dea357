"""Number of MCGdiff particles (paper appendix 6.3, figure 13).

Protocol: for ``n_patients`` test patients (one beat each), observe the augmented limb leads
(the anomaly-detection observation, ``observed``) with a known noise level ``sigma_y`` on each observed
entry (fixed rather than estimated, so that every run targets the same posterior). Draw ``n_samples``
samples from MCGdiff run with ``N`` particles, for every ``N`` of ``particles``, and ``n_samples``
reference samples with ``reference_particles`` particles (paper: 1000 samples; 10^4 particles in the
text, 10^5 in the caption of figure 13). The earth mover's distance (:func:`ecgdiff.metrics.emd`, exact,
Euclidean cost on the whole beat) between each set and the reference measures how far ``N`` particles
are from the posterior. A second, independent reference set gives the EMD floor of two finite samples
of the same law (the value the curve can at best reach).

Work is dealt to shards as units ``(patient, N, replicate)``, each seeded by
``(seed, patient, N, replicate)``: results do not depend on the number of shards.

Outputs: ``tables/particles_emd.{csv,md}`` and ``figures/fig13_particles.{png,pdf}``.
"""

from __future__ import annotations

import time
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
from ..posterior import LinearObservation
from ..shards import Shard, check_shards, shard_items, shard_seed

TASK = "particles"


@dataclass(frozen=True)
class Settings:
    """``tasks.particles`` (defaults and their sources: ``config/config.yaml``)."""

    n_patients: int | None  # test patients (None: all)
    n_samples: int  # samples per particle count (paper: 1000)
    particles: tuple[int, ...]  # the particle counts N studied
    reference_particles: int  # particles of the reference sets (paper: 10^4)
    sigma_y: float  # the known noise std of the observed leads
    observed: tuple[str, ...]  # the observed leads (the anomaly task's)
    reference_replicates: int  # independent reference sets (the second gives the EMD floor)


def patients(db: Any, ctx: TaskContext) -> tuple[np.ndarray, pd.DataFrame]:
    return db.patients("test", ctx.run.seed, ctx.settings.n_patients)


def units(n_patients: int, s: Settings) -> list[tuple[int, int, int]]:
    """Work units ``(patient, particles, replicate)``: the references first, then the grid."""
    ref = int(s.reference_particles)
    out = []
    for p in range(n_patients):
        out += [(p, ref, r) for r in range(int(s.reference_replicates))]
        out += [(p, int(n), 0) for n in s.particles if int(n) != ref]
    return out


def run_shard(db: Any, ctx: TaskContext, providers: ProviderFactory, shard: int) -> dict[str, np.ndarray]:
    s = ctx.settings
    geo = db.geometry
    beats, meta = patients(db, ctx)
    work = units(len(meta), s)
    mine = [work[i] for i in shard_items(len(work), shard, ctx.run.shards)]
    T = geo.length
    obs = LinearObservation.of_leads(geo.leads, s.observed, T)
    cond = conditioning.encode_meta(meta)
    n = int(s.n_samples)
    samples = np.zeros((len(mine), n, len(geo.leads), T), dtype=np.float32)
    seconds = np.zeros(len(mine))
    bar = progress.bar(total=len(mine), desc=f"{TASK} shard {shard}", unit="set")
    for u, (p, n_part, rep) in enumerate(mine):
        provider = providers("mcgdiff", particles=n_part)
        gen = ctx.generator(shard_seed(ctx.run.seed, f"{TASK}/{p}/{n_part}", rep))
        y = obs.apply(beats[p : p + 1].astype(np.float64))
        sigma = np.full((1, obs.m), float(s.sigma_y))
        t0 = time.perf_counter()
        samples[u] = provider.sample(cond[p : p + 1], y, obs, sigma, n, gen)[0]
        seconds[u] = time.perf_counter() - t0
        bar.update(1)
    bar.close()
    return {
        "unit": np.array(mine, dtype=np.int64).reshape(-1, 3),
        "samples": samples,
        "seconds": seconds,
        "patient_id": meta["patient_id"].astype(str).to_numpy(),
    }


def summarise(shards: list[Shard], ctx: TaskContext) -> pd.DataFrame:
    """EMD of each (patient, N) sample set to the patient's first reference set."""
    s = ctx.settings
    ref_n = int(s.reference_particles)
    sets: dict[tuple[int, int, int], np.ndarray] = {}
    secs: dict[tuple[int, int, int], float] = {}
    for sh in shards:
        for u, smp, sec in zip(sh.arrays["unit"], sh.arrays["samples"], sh.arrays["seconds"]):
            sets[tuple(int(v) for v in u)] = smp
            secs[tuple(int(v) for v in u)] = float(sec)
    pids = shards[0].arrays["patient_id"]
    expected = units(len(pids), s)
    missing = [u for u in expected if u not in sets]
    if missing:
        raise ValueError(f"particles: shards lack units {missing[:5]} (patient, particles, replicate)")
    rows = []
    for p, pid in enumerate(pids):
        ref = sets[(p, ref_n, 0)]
        for q, n_part, rep in expected:
            if q != p or (n_part == ref_n and rep == 0):
                continue
            rows.append(
                {
                    "patient_id": pid,
                    "particles": n_part,
                    "replicate": rep,
                    "reference_floor": n_part == ref_n,
                    "emd": metrics.emd(sets[(q, n_part, rep)], ref),
                    "seconds": secs[(q, n_part, rep)],
                }
            )
    return pd.DataFrame(rows).sort_values(["patient_id", "reference_floor", "particles"]).reset_index(drop=True)


def gather(db: Any, shards: list[Shard], ctx: TaskContext, outputs: Mapping[str, str]) -> pd.DataFrame:
    check_shards(shards, TASK, db.data_hash)
    s = ctx.settings
    prov = ctx.provenance(db.data_hash, shards)
    table = summarise(shards, ctx)
    display = table.assign(
        emd=table["emd"].map(lambda v: f"{v:.3f}"), seconds=table["seconds"].map(lambda v: f"{v:.1f}")
    )
    caption = (
        f"EMD between {s.n_samples} MCGdiff samples with N particles and {s.n_samples} reference samples "
        f"with {s.reference_particles} particles (observed: {', '.join(s.observed)}, sigma_y = "
        f"{s.sigma_y}); reference_floor: a second independent reference set. seconds: sampling time."
    )
    write_table_pair(table, display, outputs["table_csv"], outputs["table_md"], caption, prov)
    plot(table, s, outputs["figure"], prov)
    return table


def plot(table: pd.DataFrame, s: Settings, stem: str, prov: Mapping[str, Any]) -> None:
    """Figure 13: EMD to the reference against the number of particles (log x)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for c, (pid, sub) in enumerate(table.groupby("patient_id", sort=False)):
        grid = sub[~sub["reference_floor"]]
        ax.plot(grid["particles"], grid["emd"], "o-", color=f"C{c}", ms=3, label=f"patient {pid}")
        floor = sub[sub["reference_floor"]]
        if len(floor):
            ax.axhline(
                floor["emd"].mean(),
                color=f"C{c}",
                ls=":",
                lw=0.8,
                label=f"two reference sets ({s.reference_particles} particles)",
            )
    ax.set_xscale("log")
    ax.set_xlabel("particles N")
    ax.set_ylabel("EMD to reference samples (normalised units)")
    ax.legend(fontsize=6)
    ax.set_title("MCGdiff: distance to the reference posterior vs particles (figure 13)", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    save_figure(fig, figures.paths(stem), prov)
