"""The beat paper's clinical tasks (section 3.3, appendices 6.3-6.4), each in its own module.

========================  =============================================  ===========================
module                    paper                                          outputs (results/<run>/)
========================  =============================================  ===========================
:mod:`.denoising`         3.3.1, figure 5                                tables/denoising, figures/fig5
:mod:`.missing_leads`     3.3.2, table 1, figure 6 (+ limb, lead I)      tables/table1, figures/fig6
:mod:`.qt_rr`             3.3.3, table 2, figures 7-8                    tables/table2, figures/fig7-8
:mod:`.anomaly`           3.3.4, figures 9-11, appendix 6.4              tables/anomaly, figures/fig9-11
:mod:`.particles`         appendix 6.3, figure 13                        tables/particles, figures/fig13
========================  =============================================  ===========================

Each module has ``run_shard(db, provider_factory, config, shard, n_shards) -> arrays`` (posterior
sampling for one shard of the task's patients) and ``gather(db, shards, config, outputs)`` (table and
figures). :func:`run_shard` and :func:`gather` below are what the workflow's scripts call.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import common
from .beat import anomaly, denoising, missing_leads, particles, qt_rr
from .posterior import SamplesProvider, make_sampler

log = logging.getLogger(__name__)

TASKS = {
    "denoising": denoising,
    "missing_leads": missing_leads,
    "qt_rr": qt_rr,
    "anomaly": anomaly,
    "particles": particles,
}

#: Output keys of each task's gather step (paths given by the workflow).
OUTPUT_KEYS: dict[str, tuple[str, ...]] = {
    "denoising": ("table_csv", "table_md", "figure"),
    "missing_leads": ("table_csv", "table_md", "figure"),
    "qt_rr": ("table_csv", "table_md", "figure_qt", "figure_beats"),
    "anomaly": ("table_csv", "table_md", "figure_distances", "figure_roc", "figure_st"),
    "particles": ("table_csv", "table_md", "figure"),
}


def noise_estimation_options(config: Mapping[str, Any], task: str) -> tuple[int, dict[str, Any]]:
    """Iterations (N_MLE) and options of the noise-level estimation, from MCGdiff's configuration for ``task``
    (the paper's sampler): ``noise_iters`` iterations, ``noise_runs`` parallel SMC runs of ``particles``
    particles, ``noise_init``, ``noise_method`` and MCGdiff's SMC options."""
    from ..inverse import get_sampler

    mcg = get_sampler("mcgdiff", **common.sampler_options(config, "mcgdiff", task))
    return int(mcg.noise_iters), {
        "runs": mcg.noise_runs,
        "particles": mcg.particles,
        "method": mcg.noise_method,
        "init": mcg.noise_init,
        **mcg.smc_options(),
    }


def provider_factory(prior: Any, config: Mapping[str, Any], task: str) -> Callable[..., SamplesProvider]:
    """``factory(name, **options) -> SamplesProvider`` for ``prior`` with the run's sampler options."""
    n_mle, mle = noise_estimation_options(config, task)
    max_rows = config["tasks"].get("max_batch_rows")

    def make(name: str, **extra: Any) -> SamplesProvider:
        return make_sampler(prior, name, common.sampler_options(config, name, task, extra), n_mle, mle, max_rows)

    return make


def _validate_prior(prior: Any, db: Any) -> None:
    geo = common.beat_geometry(db)
    if tuple(prior.leads) != geo.leads:
        raise ValueError(f"prior leads {tuple(prior.leads)} differ from the beat database's {geo.leads}")
    if tuple(prior.shape) != (len(geo.leads), geo.length):
        raise ValueError(f"prior beats {tuple(prior.shape)} differ from the database's {(len(geo.leads), geo.length)}")
    if abs(float(prior.fs) - geo.fs) > 1e-9:
        raise ValueError(f"prior sampling rate {prior.fs} Hz differs from the database's {geo.fs} Hz")


def run_shard(
    task: str,
    beats_dir: str | os.PathLike[str],
    prior_path: str | os.PathLike[str],
    config: Mapping[str, Any],
    shard: int,
    out_path: str | os.PathLike[str],
    threads: int | None = None,
) -> None:
    """Sample one shard of ``task`` and write it to ``out_path`` (:func:`.common.save_shard`)."""
    from .. import io, runtime
    from ..data import dataset
    from ..diffusion.prior import load_prior

    if task not in TASKS:
        raise KeyError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    runtime.set_threads(threads)
    n_shards = int(config["tasks"]["shards"])
    db = dataset.load(beats_dir)
    prior = load_prior(prior_path, device=config.get("device", "auto"))
    _validate_prior(prior, db)
    log.info("%s shard %d/%d on %s", task, shard, n_shards, prior.device)
    t0, c0 = time.perf_counter(), time.process_time()
    arrays = TASKS[task].run_shard(db, provider_factory(prior, config, task), config, int(shard), n_shards)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    log.info(
        "%s shard %d: %d patients in %.1f s (%.1f s CPU)",
        task,
        shard,
        len(arrays.get("patient_id", [])),
        seconds,
        cpu_seconds,
    )
    from .. import provenance

    common.save_shard(
        out_path,
        arrays,
        {
            "task": task,
            "shard": int(shard),
            "n_shards": n_shards,
            "data_hash": db.data_hash,
            "seed": config.get("seed"),
            "config_hash": provenance.config_hash(config),
            "prior": os.fspath(prior_path),
            "prior_sha256": io.sha256_file(prior_path),
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "device": str(prior.device),
        },
    )


def gather(
    task: str,
    beats_dir: str | os.PathLike[str],
    shard_paths: Sequence[str | os.PathLike[str]],
    config: Mapping[str, Any],
    outputs: Mapping[str, str],
) -> Any:
    """Compute ``task``'s table and figures from its shard files (``outputs``: see :data:`OUTPUT_KEYS`)."""
    from ..data import dataset

    if task not in TASKS:
        raise KeyError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    missing = [k for k in OUTPUT_KEYS[task] if k not in outputs]
    if missing:
        raise KeyError(f"{task}: outputs lack {missing}")
    db = dataset.load(beats_dir)
    shards = common.load_shards(shard_paths)
    return TASKS[task].gather(db, shards, config, outputs)
