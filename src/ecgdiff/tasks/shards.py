"""Shards: how a task's patients are dealt to parallel jobs, and the files those jobs write.

A task runs in two steps so that a cluster can parallelise it:

1. ``run_shard``: the task's patients (a deterministic, seeded selection) are dealt to ``n_shards`` shards
   round-robin (:func:`select`); one shard draws posterior samples for its patients (all of them batched
   through the sampler) and writes per-patient metrics and a few example samples to
   ``results/<run>/tasks/<task>/shard_<i>.npz`` (:func:`save_shard`).
2. ``gather``: reads every shard (:func:`load_shards`, :func:`check_shards`), computes the task's table and
   figures.

Randomness: the sampling of shard ``i`` uses a generator seeded with ``(seed, task, i)`` (:func:`shard_seed`), so
results are reproducible for a given number of shards.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import atomic_path, json_default

SHARD_FORMAT = "ecgdiff-task-shard/1"


def shard_seed(seed: int, task: str, shard: int) -> int:
    """Seed of shard ``shard`` of ``task``: a hash of ``(seed, task, shard)`` (63 bits)."""
    h = hashlib.sha256(f"{seed}/{task}/{shard}".encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


def shard_items(n_items: int, shard: int, n_shards: int) -> np.ndarray:
    """Indices ``shard, shard + n_shards, ...`` of ``n_items`` items (round-robin dealing)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} out of range for {n_shards} shards")
    return np.arange(shard, n_items, n_shards)


def select(x: np.ndarray, meta: pd.DataFrame, shard: int, n_shards: int) -> tuple[np.ndarray, pd.DataFrame]:
    """The shard's share of a task's patients: ``x[idx]`` as float64 and their metadata (index reset)."""
    idx = shard_items(len(meta), shard, n_shards)
    return np.asarray(x)[idx].astype(np.float64), meta.iloc[idx].reset_index(drop=True)


def save_shard(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write a shard: ``arrays`` (numpy, first axis = the shard's patients where per-patient) and JSON ``meta``."""
    payload = {}
    for k, v in arrays.items():
        a = np.asarray(v)
        if a.dtype == object:  # pandas strings: store as fixed-width unicode (no pickles in shard files)
            a = a.astype(str)
        payload[k] = a
    payload["__meta__"] = np.array(json.dumps(dict(meta, format=SHARD_FORMAT), sort_keys=True, default=json_default))
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **payload)


@dataclass
class Shard:
    """One shard file's arrays and metadata."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def load_shards(paths: Sequence[str | os.PathLike[str]]) -> list[Shard]:
    """Read shard files (in the order given). A truncated, damaged (the zip's CRC) or foreign file raises a
    ``ValueError`` naming it."""
    out = []
    for p in paths:
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files if k != "__meta__"}
                meta = json.loads(str(z["__meta__"])) if "__meta__" in z.files else {}
        except FileNotFoundError:
            raise
        except Exception as err:  # noqa: BLE001 - zipfile, numpy and json each raise their own types
            raise ValueError(
                f"{p}: not a readable task shard file ({type(err).__name__}: {err}); "
                "delete it to have its task_shard job run again"
            ) from err
        if meta.get("format") != SHARD_FORMAT:
            raise ValueError(f"{p}: not a task shard file")
        out.append(Shard(arrays, meta, Path(p)))
    return out


def concat(shards: Sequence[Shard], key: str) -> np.ndarray:
    """Concatenate one per-patient array over shards (shards with no patients contribute nothing)."""
    parts = [s.arrays[key] for s in shards if key in s.arrays and s.arrays[key].shape[:1] != (0,)]
    if not parts:
        raise ValueError(f"no shard holds any {key!r} values")
    return np.concatenate(parts, axis=0)


def check_shards(shards: Sequence[Shard], task: str, data_hash: str) -> None:
    """Every shard belongs to ``task``, was computed from the same data, and the shards form one set."""
    if not shards:
        raise ValueError(f"{task}: no shard files")
    n = {s.meta.get("n_shards") for s in shards}
    if len(n) != 1 or n.pop() != len(shards):
        raise ValueError(
            f"{task}: expected one file per shard, got {len(shards)} files for n_shards "
            f"{sorted({s.meta.get('n_shards') for s in shards})}"
        )
    for s in shards:
        if s.meta.get("task") != task:
            raise ValueError(f"{s.path}: shard of task {s.meta.get('task')!r}, expected {task!r}")
        if s.meta.get("data_hash") != data_hash:
            raise ValueError(f"{s.path}: computed from data {s.meta.get('data_hash')}, not {data_hash}")
