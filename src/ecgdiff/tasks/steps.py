"""The workflow's two steps of a task: :func:`run_shard` (posterior sampling of one shard) and :func:`gather`.

Both take the task's params (:func:`ecgdiff.tasks.registry.task_params`, passed by the rules) and resolve them
once into a :class:`~.context.TaskContext`.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .. import io, provenance, runtime
from ..data import dataset
from ..diffusion.prior import load_prior
from . import registry
from .context import TaskContext
from .shards import load_shards, save_shard

log = logging.getLogger(__name__)


def _module(task: str) -> Any:
    return importlib.import_module(registry.get(task).module)


def validate_prior(prior: Any, db: dataset.BeatDatabase) -> None:
    """The prior was trained on beats of the database's lead set, length and rate."""
    geo = db.geometry
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
    params: Mapping[str, Any],
    shard: int,
    out_path: str | os.PathLike[str],
    threads: int | None = None,
) -> None:
    """Sample one shard of ``task`` and write it to ``out_path`` (:func:`.shards.save_shard`)."""
    ctx = TaskContext.from_params(task, params)
    runtime.set_threads(threads)
    db = dataset.load(beats_dir)
    prior = load_prior(prior_path, device=ctx.run.device)
    validate_prior(prior, db)
    log.info("%s shard %d/%d on %s", task, shard, ctx.run.shards, prior.device)
    t0, c0 = time.perf_counter(), time.process_time()
    arrays = _module(task).run_shard(db, ctx, ctx.providers(prior), int(shard))
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    log.info(
        "%s shard %d: %d patients in %.1f s (%.1f s CPU)",
        task,
        shard,
        len(arrays.get("patient_id", [])),
        seconds,
        cpu_seconds,
    )
    save_shard(
        out_path,
        arrays,
        {
            "task": task,
            "shard": int(shard),
            "n_shards": ctx.run.shards,
            "data_hash": db.data_hash,
            "seed": ctx.run.seed,
            "config_hash": provenance.config_hash(ctx.params),
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
    params: Mapping[str, Any],
    outputs: Mapping[str, str],
) -> Any:
    """Compute ``task``'s table and figures from its shard files (``outputs``: :attr:`.registry.TaskSpec.output_keys`)."""
    ctx = TaskContext.from_params(task, params)
    missing = [k for k in registry.get(task).output_keys if k not in outputs]
    if missing:
        raise KeyError(f"{task}: outputs lack {missing}")
    db = dataset.load(beats_dir)
    return _module(task).gather(db, load_shards(shard_paths), ctx, outputs)
