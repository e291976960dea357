"""The beat database on disk: the one format every downstream rule reads.

A beat database is a folder holding

- ``beats.npy``: float32 ``[N, L, T]`` normalised beats (``L`` leads in the order ``manifest['leads']``,
  ``T = before + after`` samples at ``manifest['fs']`` Hz, R peak at index ``before``);
- ``beats.parquet``: one row per beat, columns :data:`META_COLUMNS` and, as written by
  :func:`ecgdiff.data.beatdb.build`, ``beat_index`` (the beat's index among the record's detected R peaks)
  and ``scale_<lead>`` for each lead (the millivolt value the lead was divided by: its maximum absolute
  value during the QRS, so ``beats * scale`` restores millivolts);
- ``rejects.csv``: one row per rejected record or beat: ``record_id, beat_index, stage, reason``
  (``beat_index`` empty for a whole record; ``stage`` one of ``read``, ``metadata``, ``label``, ``beats``
  for records, ``window``, ``quality`` for beats);
- ``splits.csv``: the patient-level split manifest: ``patient_id, split``;
- ``manifest.json``: leads, fs, window (``before``, ``after``), ``qrs_window_samples`` (the normalisation
  window, half-open ``[start, stop)`` relative to R: ``beats[..., before + start : before + stop]`` has a
  maximum absolute value of 1 in every lead), counts, the SHA-256 of each file above, ``data_hash``
  (hash of the beat and metadata files: what every downstream output records as its data
  provenance) and the provenance of the build.

Splits: ``train``, ``cv``, ``test`` hold healthy patients; ``mi`` holds every patient labelled MI;
``none`` holds beats of patients with other labels (kept for completeness, never used for training).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import atomic_path, read_json, save_npy, sha256_file, write_json

META_COLUMNS: tuple[str, ...] = (
    "beat_id",  # int, row index into beats.npy
    "patient_id",  # str
    "record_id",  # str
    "source",  # str
    "age",  # float (years)
    "sex",  # "M" | "F"
    "rr_ms",  # float: the R-R interval preceding the beat, in ms
    "label",  # "healthy" | "mi" | other label names
    "split",  # "train" | "cv" | "test" | "mi" | "none"
    "r_index",  # int: sample index of the R peak in the record (at the beat sampling rate)
)
REJECT_COLUMNS: tuple[str, ...] = ("record_id", "beat_index", "stage", "reason")
SPLITS: tuple[str, ...] = ("train", "cv", "test", "mi", "none")


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


@dataclass
class BeatDatabase:
    """Beats, their metadata and the manifest, as loaded by :func:`load`."""

    beats: np.ndarray
    meta: pd.DataFrame
    manifest: dict[str, Any]
    path: Path | None = None

    @property
    def leads(self) -> tuple[str, ...]:
        return tuple(self.manifest["leads"])

    @property
    def data_hash(self) -> str:
        return str(self.manifest["data_hash"])

    def subset(self, split: str) -> tuple[np.ndarray, pd.DataFrame]:
        """Beats and metadata of one split (metadata index reset, ``beat_id`` kept)."""
        mask = (self.meta["split"] == split).to_numpy()
        return self.beats[mask], self.meta.loc[mask].reset_index(drop=True)

    def one_beat_per_patient(self, split: str, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
        """One randomly chosen beat per patient of ``split`` (paper 2.4: inter-patient variability dominates)."""
        _, meta = self.subset(split)
        rng = np.random.default_rng(seed)
        picks = (
            meta.groupby("patient_id", sort=True)["beat_id"]
            .apply(lambda ids: ids.to_numpy()[rng.integers(len(ids))])
            .to_numpy()
        )
        rows = self.meta.set_index("beat_id").loc[picks].reset_index()
        return self.beats[picks], rows

    def patients(
        self, split: str, seed: int, n_max: int | None = None, missing_ok: bool = False
    ) -> tuple[np.ndarray, pd.DataFrame]:
        """A task's patients: one seeded random beat per patient of ``split`` (:meth:`one_beat_per_patient`), at
        most ``n_max`` of them (a seeded random subset). Returns ``(beats [P, L, T] float32, meta)``; raises when
        the split has no beat, unless ``missing_ok`` (an optional split: then no patient, ``P = 0``)."""
        if not (self.meta["split"] == split).any():
            if missing_ok:
                return np.zeros((0, *self.beats.shape[1:]), dtype=np.float32), self.meta.iloc[:0].reset_index(drop=True)
            where = f" {self.path}" if self.path is not None else ""
            raise ValueError(f"the beat database{where} has no beat in split {split!r}")
        beats, meta = self.one_beat_per_patient(split, seed)
        if n_max is not None and len(meta) > n_max:
            keep = np.sort(np.random.default_rng([seed, 1]).choice(len(meta), int(n_max), replace=False))
            beats, meta = beats[keep], meta.iloc[keep].reset_index(drop=True)
        return np.asarray(beats, dtype=np.float32), meta.reset_index(drop=True)

    @property
    def geometry(self) -> BeatGeometry:
        """The beat window (from the manifest)."""
        man = self.manifest
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
            int(self.beats.shape[-1]),
            tuple(man["leads"]),
            tuple(int(v) for v in qrs) if qrs is not None else None,
        )

    def scales(self, meta: pd.DataFrame) -> np.ndarray:
        """Per-lead scale factors ``[N, L]`` of metadata rows (``x_mV = x_normalised * scale``)."""
        cols = [f"scale_{lead}" for lead in self.leads]
        missing = [c for c in cols if c not in meta.columns]
        if missing:
            raise ValueError(f"beat metadata lacks the scale-factor columns {missing}")
        return meta[cols].to_numpy(dtype=np.float64)


def data_hash(array_sha256: str, meta_sha256: str) -> str:
    """The identity of a database's content: SHA-256 of the array file's and the metadata file's SHA-256
    (hex, concatenated). Downstream outputs record it as their data provenance."""
    return hashlib.sha256((array_sha256 + meta_sha256).encode()).hexdigest()


def save(
    folder: str | os.PathLike[str],
    beats: np.ndarray,
    meta: pd.DataFrame,
    rejects: pd.DataFrame,
    splits: pd.DataFrame,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """Write a beat database atomically (each file), then its manifest last; return the manifest."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    missing = [c for c in META_COLUMNS if c not in meta.columns]
    if missing:
        raise ValueError(f"beat metadata lacks columns {missing}")
    if len(meta) != len(beats):
        raise ValueError(f"{len(beats)} beats but {len(meta)} metadata rows")
    if not np.array_equal(meta["beat_id"].to_numpy(), np.arange(len(meta))):
        raise ValueError("beat_id must be 0..N-1 in order")
    save_npy(folder / "beats.npy", beats.astype(np.float32))
    with atomic_path(folder / "beats.parquet") as tmp:
        meta.to_parquet(tmp, index=False)
    with atomic_path(folder / "rejects.csv") as tmp:
        rejects.reindex(columns=list(REJECT_COLUMNS)).to_csv(tmp, index=False)
    with atomic_path(folder / "splits.csv") as tmp:
        splits.to_csv(tmp, index=False)
    files = {name: sha256_file(folder / name) for name in ("beats.npy", "beats.parquet", "rejects.csv", "splits.csv")}
    manifest = dict(
        manifest,
        files=files,
        data_hash=data_hash(files["beats.npy"], files["beats.parquet"]),
        n_beats=int(len(beats)),
        n_patients=int(meta["patient_id"].nunique()),
        shape=list(beats.shape),
    )
    write_json(folder / "manifest.json", manifest)
    return manifest


def load(folder: str | os.PathLike[str], mmap: bool = True) -> BeatDatabase:
    """Load a beat database written by :func:`save` (beats memory-mapped by default)."""
    folder = Path(folder)
    manifest = read_json(folder / "manifest.json")
    beats = np.load(folder / "beats.npy", mmap_mode="r" if mmap else None)
    meta = pd.read_parquet(folder / "beats.parquet")
    return BeatDatabase(beats=beats, meta=meta, manifest=manifest, path=folder)
