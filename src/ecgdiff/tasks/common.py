"""What every clinical task shares: patient selection, sharding, observations, shard files, tables.

A task runs in two steps so that a cluster can parallelise it:

1. ``run_shard``: the task's patients (a deterministic, seeded selection) are dealt to ``n_shards``
   shards round-robin; one shard draws posterior samples for its patients (all of them batched through
   the sampler) and writes per-patient metrics and a few example samples to
   ``results/<run>/tasks/<task>/shard_<i>.npz`` (:func:`save_shard`).
2. ``gather``: reads every shard (:func:`load_shards`), computes the task's table and figures.

Randomness: patient selection uses the run's seed; the sampling of shard ``i`` uses a generator seeded
with ``(seed, task, i)`` (:func:`shard_seed`), so results are reproducible for a given number of shards.
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
import torch

from .. import io as eio
from .. import leads as leadlib
from .. import provenance

SHARD_FORMAT = "ecgdiff-task-shard/1"


# --------------------------------------------------------------------------- configuration
def task_config(config: Mapping[str, Any], task: str) -> dict[str, Any]:
    """The ``tasks.<task>`` section of the workflow configuration (empty dict when absent)."""
    return dict((config.get("tasks") or {}).get(task) or {})


def sampler_options(
    config: Mapping[str, Any], name: str, task: str | None = None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Options of sampler ``name``: ``inverse.<name>``, then ``tasks.sampler_options.<name>``, then
    ``tasks.<task>.sampler_options.<name>``, then ``extra`` (later ones override earlier ones)."""
    opts = dict((config.get("inverse") or {}).get(name) or {})
    tasks = config.get("tasks") or {}
    opts.update(((tasks.get("sampler_options") or {}).get(name)) or {})
    if task is not None:
        opts.update(((task_config(config, task).get("sampler_options") or {}).get(name)) or {})
    if extra:
        opts.update(extra)
    return opts


def shard_seed(seed: int, task: str, shard: int) -> int:
    """Seed of shard ``shard`` of ``task``: a hash of ``(seed, task, shard)`` (63 bits)."""
    h = hashlib.sha256(f"{seed}/{task}/{shard}".encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


def generator(seed: int, config: Mapping[str, Any] | None = None) -> torch.Generator:
    """A torch generator seeded with ``seed`` on the run's device (``config["device"]``; CPU without a config),
    where the samplers draw their noise."""
    from ..runtime import pick_device

    device = pick_device(config.get("device", "auto")) if config is not None else torch.device("cpu")
    return torch.Generator(device=device).manual_seed(int(seed))


def shard_items(n_items: int, shard: int, n_shards: int) -> np.ndarray:
    """Indices ``shard, shard + n_shards, ...`` of ``n_items`` items (round-robin dealing)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} out of range for {n_shards} shards")
    return np.arange(shard, n_items, n_shards)


# --------------------------------------------------------------------------- beat database access
@dataclass(frozen=True)
class BeatGeometry:
    """Where things are in a beat window: sampling rate, R-peak index, number of samples, lead names, and the
    window ``[R + qrs[0], R + qrs[1]]`` over which each lead's normalising maximum was taken (None: unknown)."""

    fs: float
    r_index: int
    length: int
    leads: tuple[str, ...]
    qrs_window: tuple[int, int] | None = None

    def qrs_slice(self) -> slice:
        """Samples of the normalisation window (the whole beat when unknown)."""
        if self.qrs_window is None:
            return slice(0, self.length)
        return slice(
            max(0, self.r_index + int(self.qrs_window[0])), min(self.length, self.r_index + int(self.qrs_window[1]))
        )


def beat_geometry(db: Any) -> BeatGeometry:
    """The beat window of a :class:`ecgdiff.data.dataset.BeatDatabase` (from its manifest)."""
    man = db.manifest
    window = man.get("window") or {}
    before = man.get("before", window.get("before") if isinstance(window, Mapping) else None)
    if before is None and isinstance(window, Sequence) and len(window) == 2:
        before = window[0]
    if before is None:
        raise ValueError("beat database manifest does not give the R-peak position ('before' / 'window')")
    qrs = man.get("qrs_window_samples")
    return BeatGeometry(
        float(man["fs"]),
        int(before),
        int(db.beats.shape[-1]),
        tuple(man["leads"]),
        tuple(int(v) for v in qrs) if qrs is not None else None,
    )


def scale_columns(beat_leads: Sequence[str]) -> list[str]:
    """Metadata columns holding the per-lead normalisation factors (millivolts per normalised unit)."""
    return [f"scale_{lead}" for lead in beat_leads]


def scales(meta: pd.DataFrame, beat_leads: Sequence[str]) -> np.ndarray:
    """Per-lead scale factors ``[N, L]`` of metadata rows (``x_mV = x_normalised * scale``)."""
    cols = scale_columns(beat_leads)
    missing = [c for c in cols if c not in meta.columns]
    if missing:
        raise ValueError(f"beat metadata lacks the scale-factor columns {missing}")
    return meta[cols].to_numpy(dtype=np.float64)


def one_beat_per_patient(db: Any, split: str, seed: int, n_max: int | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """One seeded random beat per patient of ``split``, at most ``n_max`` patients (a seeded random subset).

    Returns ``(beats [P, L, T] float32, meta)``; raises when the split has no beat.
    """
    if not (db.meta["split"] == split).any():
        raise ValueError(f"the beat database has no beat in split {split!r}")
    beats, meta = db.one_beat_per_patient(split, seed)
    if n_max is not None and len(meta) > n_max:
        keep = np.sort(np.random.default_rng([seed, 1]).choice(len(meta), int(n_max), replace=False))
        beats, meta = beats[keep], meta.iloc[keep].reset_index(drop=True)
    return np.asarray(beats, dtype=np.float32), meta.reset_index(drop=True)


# --------------------------------------------------------------------------- observations
def lead_time_mask(
    beat_leads: Sequence[str], observed: Sequence[str], length: int, times: np.ndarray | slice | None = None
) -> np.ndarray:
    """Boolean mask ``[L, T]`` observing leads ``observed`` at ``times`` (all times by default)."""
    mask = np.zeros((len(beat_leads), length), dtype=bool)
    rows = leadlib.indices(observed, beat_leads)
    t = np.arange(length) if times is None else np.arange(length)[times]
    mask[np.ix_(rows, t)] = True
    return mask


def observe_mask(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``[P, L, T] -> [P, m]``: the masked entries of each beat in row-major order (what ``Mask`` returns)."""
    return np.asarray(x)[:, mask]


def per_lead_sigma(mask: np.ndarray, sigma_leads: np.ndarray) -> np.ndarray:
    """Expand per-observed-lead noise levels ``[P, S]`` to per-entry levels ``[P, m]`` of a lead-time mask."""
    rows = np.nonzero(mask.any(axis=1))[0]
    counts = mask[rows].sum(axis=1)
    sigma_leads = np.asarray(sigma_leads, dtype=np.float64)
    if sigma_leads.shape[-1] != len(rows):
        raise ValueError(f"{sigma_leads.shape[-1]} noise levels for {len(rows)} observed leads")
    return np.repeat(sigma_leads, counts, axis=-1)


# --------------------------------------------------------------------------- shard files
def save_shard(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write a shard: ``arrays`` (numpy, first axis = the shard's patients where per-patient) and JSON ``meta``."""
    payload = {}
    for k, v in arrays.items():
        a = np.asarray(v)
        if a.dtype == object:  # pandas strings: store as fixed-width unicode (no pickles in shard files)
            a = a.astype(str)
        payload[k] = a
    payload["__meta__"] = np.array(
        json.dumps(dict(meta, format=SHARD_FORMAT), sort_keys=True, default=eio._json_default)
    )
    with eio.atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **payload)


@dataclass
class Shard:
    """One shard file's arrays and metadata."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def load_shards(paths: Sequence[str | os.PathLike[str]]) -> list[Shard]:
    """Read shard files (in the order given)."""
    out = []
    for p in paths:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k != "__meta__"}
            meta = json.loads(str(z["__meta__"])) if "__meta__" in z.files else {}
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


# --------------------------------------------------------------------------- outputs
def output_provenance(
    config: Mapping[str, Any], data_hash: str, task: str, shards: Sequence[Shard], **extra: Any
) -> dict[str, Any]:
    """Provenance of a task output: run config hash, data hash, seed, task config, prior checkpoint hash."""
    priors = sorted({s.meta.get("prior_sha256") for s in shards if s.meta.get("prior_sha256")})
    return provenance.make(
        config,
        data_hash=data_hash,
        seed=config.get("seed"),
        task=task,
        task_config=(config.get("tasks") or {}).get(task),
        shards_config=(config.get("tasks") or {}).get("shards"),
        prior_sha256=priors[0] if len(priors) == 1 else priors,
        **extra,
    )


def write_table_pair(
    numeric: pd.DataFrame,
    display: pd.DataFrame,
    csv_path: str | os.PathLike[str],
    md_path: str | os.PathLike[str],
    caption: str,
    prov: Mapping[str, Any],
) -> None:
    """Numbers in the CSV (:func:`ecgdiff.io.write_table`), formatted ``estimate ± half-width`` cells in
    the Markdown; both carry the caption and the provenance."""
    eio.write_table(numeric, csv_path, None, caption=caption, provenance=prov)
    try:
        body = display.to_markdown(index=False)
    except ImportError:  # tabulate missing
        body = eio._markdown(display, ".3f")
    eio.write_text(md_path, "\n".join([caption.strip() + "\n", body, "\n" + provenance.footer(prov)]) + "\n")


def figure_paths(stem: str | os.PathLike[str]) -> list[str]:
    """``[<stem>.png, <stem>.pdf]``."""
    stem = os.fspath(stem)
    return [stem + ".png", stem + ".pdf"]
