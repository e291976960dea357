"""The workflow's two steps of a task: :func:`run_shard` (posterior sampling of one shard) and :func:`gather`.

Both take the task's params (:func:`ecgdiff.tasks.registry.task_params`, passed by the rules) and resolve them
once into a :class:`~.context.TaskContext`. A beat task reads the beat database and the conditional beat prior,
a rhythm task the rhythm database and the rhythm prior; either may read further models
(:class:`~.inputs.TaskInputs`), which its module receives as ``inputs``.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .. import io, provenance, runtime
from ..data import dataset, rhythmdb
from ..diffusion.prior import load_prior
from . import registry
from .context import TaskContext
from .inputs import TaskInputs
from .shards import load_shards, save_shard

log = logging.getLogger(__name__)


def _module(task: str) -> Any:
    return importlib.import_module(registry.get(task).module)


def load_database(kind: str, folder: str | os.PathLike[str]) -> Any:
    """The beat or rhythm database a task of ``kind`` reads."""
    return dataset.load(folder) if kind == "beat" else rhythmdb.load(folder)


def validate_prior(prior: Any, db: Any) -> None:
    """The prior was trained on signals of the database's lead set, length and rate."""
    leads, fs = tuple(db.leads), float(db.manifest["fs"])
    length = db.geometry.length if isinstance(db, dataset.BeatDatabase) else int(db.padded_length)
    if tuple(prior.leads) != leads:
        raise ValueError(f"prior leads {tuple(prior.leads)} differ from the database's {leads}")
    if tuple(prior.shape) != (len(leads), length):
        raise ValueError(f"prior signals {tuple(prior.shape)} differ from the database's {(len(leads), length)}")
    if abs(float(prior.fs) - fs) > 1e-9:
        raise ValueError(f"prior sampling rate {prior.fs} Hz differs from the database's {fs} Hz")


def _call(fn: Any, spec: registry.TaskSpec, names: tuple[str, ...], inputs: TaskInputs, *args: Any) -> Any:
    return fn(*args, inputs=inputs) if names else fn(*args)


def run_shard(
    task: str,
    data_dir: str | os.PathLike[str],
    prior_path: str | os.PathLike[str],
    params: Mapping[str, Any],
    shard: int,
    out_path: str | os.PathLike[str],
    threads: int | None = None,
    inputs: Mapping[str, str | os.PathLike[str]] | None = None,
) -> None:
    """Sample one shard of ``task`` and write it to ``out_path`` (:func:`.shards.save_shard`).

    ``data_dir``: the task's database; ``inputs``: paths of the further models it reads (its ``inputs``).
    """
    spec = registry.get(task)
    ctx = TaskContext.from_params(task, params)
    names = spec.shard_inputs(params["task"])
    _check_inputs(spec, names, inputs)
    runtime.set_threads(threads)
    db = load_database(spec.kind, data_dir)
    prior = load_prior(prior_path, device=ctx.run.device)
    validate_prior(prior, db)
    extra = TaskInputs(inputs, ctx.run.device)
    log.info("%s shard %d/%d on %s", task, shard, ctx.run.shards, prior.device)
    t0, c0 = time.perf_counter(), time.process_time()
    arrays = _call(_module(task).run_shard, spec, names, extra, db, ctx, ctx.providers(prior), int(shard))
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
    data_dir: str | os.PathLike[str],
    shard_paths: Sequence[str | os.PathLike[str]],
    params: Mapping[str, Any],
    outputs: Mapping[str, str],
    inputs: Mapping[str, str | os.PathLike[str]] | None = None,
) -> Any:
    """Compute ``task``'s table and figures from its shard files (``outputs``: :attr:`.registry.TaskSpec.output_keys`;
    ``inputs``: paths of the further models its gather step reads)."""
    spec = registry.get(task)
    ctx = TaskContext.from_params(task, params)
    missing = [k for k in spec.output_keys if k not in outputs]
    if missing:
        raise KeyError(f"{task}: outputs lack {missing}")
    _check_inputs(spec, spec.gather_inputs, inputs)
    db = load_database(spec.kind, data_dir)
    extra = TaskInputs(inputs, ctx.run.device)
    return _call(_module(task).gather, spec, spec.gather_inputs, extra, db, load_shards(shard_paths), ctx, outputs)


def _check_inputs(spec: registry.TaskSpec, names: tuple[str, ...], inputs: Mapping[str, Any] | None) -> None:
    missing = sorted(set(names) - set(inputs or {}))
    if missing:
        raise KeyError(f"{spec.name}: the job lacks its inputs {missing}")
