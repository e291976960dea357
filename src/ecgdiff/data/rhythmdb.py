"""The rhythm database: records of several sources -> 10-s rhythm windows (:mod:`ecgdiff.data.rhythms`),
rhythm labels (:func:`ecgdiff.data.labels.rhythm_labels`) and patient-level splits -> one folder.

:func:`build` reads every source in turn (``synthetic``, ``ludb``, ``cinc2021``, ``ptbxl``: any mix, e.g.
LUDB + CinC 2021), processes records in parallel (:func:`ecgdiff.data.parallel.bounded_map`, results in
input order) and writes the folder atomically (:func:`ecgdiff.io.atomic_dir`: a failure leaves the
previous folder, or none, never a mix). Nothing one record does stops the build: it becomes a row of
``rejects.csv`` with its stage and reason:

- ``read``: the reader's reason (unreadable file, sampling rate below ``min_fs``, NaN, flat or missing
  leads: the readers' checks, run with the rhythm settings; age and sex are not required, the prior is
  unconditional);
- ``label``: unknown or unparseable label (only when ``require_labels``; otherwise the rhythm is kept as
  ``other`` with ``label_known`` False);
- ``window``: :func:`ecgdiff.data.rhythms.rhythm_window`'s reason (too short, missing lead, NaN, flat);
- ``duplicate``: the same window (SHA-256 of its samples) as an earlier record, which is kept;
- ``split``: a patient whose records would fall into two splits, or a ``strat_fold`` no split takes.

Splits (column ``split``, file ``splits.csv``): records that carry a ``strat_fold`` (PTB-XL) go by fold
(:attr:`SplitSettings.folds`: 1-8 train, 9 cv, 10 test); every other patient gets a seeded keyed-hash split
(:func:`ecgdiff.data.splits.split_patients`, fractions 0.8/0.1/0.1 as PTB-XL's 8/1/1 folds), stratified by
the patient's label (the first of AF, BBB, NSR among its records, else other) when ``stratify``.

Files (``results/<run>/data/rhythms/``): ``rhythms.npy`` ``[N, 8, 1024]`` float32 mV; ``rhythms.parquet``
(:data:`META_COLUMNS` and ``n_samples_original``, ``derived_leads``, ``strat_fold``, ``label_known``,
``sample_sha256``); ``rejects.csv`` (:data:`REJECT_COLUMNS`); ``splits.csv`` (``patient_id, split``);
``manifest.json`` (fs, leads, length, padded_length, pad_left, pad_right, duration_s, filters, sources,
counts, files, data_hash, provenance). :func:`load` reads it back as a :class:`RhythmDatabase`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import provenance
from ..io import atomic_dir, atomic_path, read_json, save_npy, sha256_file, write_json
from .dataset import data_hash as _data_hash
from .labels import RHYTHM_LABELS, RHYTHM_PRECEDENCE, RHYTHM_TARGETS, RhythmLabelRules, rhythm_labels
from .parallel import bounded_map
from .records import SOURCES, Record, RecordError, iter_records
from .records import SourceSpec as _SourceSpec
from .rhythms import RhythmParams, RhythmWindow, rhythm_window
from .splits import split_patients

log = logging.getLogger(__name__)

META_COLUMNS: tuple[str, ...] = (
    "rhythm_id",  # int, row index into rhythms.npy
    "record_id",
    "patient_id",
    "source",
    "age",  # float years, NaN when unknown
    "sex",  # "M" | "F" | None
    "label",  # NSR | BBB | AF | other
    "NSR",  # 0/1 multi-hot targets
    "BBB",
    "AF",
    "split",  # train | cv | test
    "fs_original",  # Hz of the record before resampling
)
REJECT_COLUMNS: tuple[str, ...] = ("record_id", "source", "stage", "reason")
SPLITS: tuple[str, ...] = ("train", "cv", "test")
FILES: tuple[str, ...] = ("rhythms.npy", "rhythms.parquet", "rejects.csv", "splits.csv")


# ------------------------------------------------------------------------------------------ settings
class SourceSpec(_SourceSpec):
    """One source to read (:class:`ecgdiff.data.records.SourceSpec`: name, folder, reader options) and the
    reader options the rhythm settings give it."""

    def reader_options(self, params: RhythmParams) -> dict[str, Any]:
        """The reader's options: the rhythm settings' lead set, ``min_fs`` and flatness tolerance, no age/sex
        requirement, then this source's own options (which win). The synthetic cohort takes none."""
        if self.source == "synthetic":
            return {}
        opts: dict[str, Any] = {
            "leads": list(params.leads),
            "min_fs": params.min_fs,
            "flat_tol_mv": params.flat_tol_mv,
            "require_age_sex": False,
        }
        opts.update(self.options)
        return opts


def _default_folds() -> dict[str, tuple[int, ...]]:
    return {"train": (1, 2, 3, 4, 5, 6, 7, 8), "cv": (9,), "test": (10,)}


@dataclass(frozen=True)
class SplitSettings:
    """Patient-level split of the rhythm database (config section ``rhythm.split``).

    Attributes:
        seed: seed of the keyed-hash split (:func:`ecgdiff.data.splits.split_patients`).
        fractions: ``train``/``cv``/``test`` fractions for sources without folds; 0.8/0.1/0.1 (PTB-XL's 8/1/1).
        stratify: split each label's patients separately (labels spread over the sets).
        folds: ``strat_fold`` values of each split (PTB-XL's recommendation: 1-8 train, 9 cv, 10 test).
    """

    seed: int = 0
    fractions: Mapping[str, float] = field(default_factory=lambda: {"train": 0.8, "cv": 0.1, "test": 0.1})
    stratify: bool = True
    folds: Mapping[str, tuple[int, ...]] = field(default_factory=_default_folds)

    def __post_init__(self) -> None:
        fractions = {str(k): float(v) for k, v in dict(self.fractions).items()}
        if set(fractions) != set(SPLITS) or any(v < 0 for v in fractions.values()) or sum(fractions.values()) <= 0:
            raise ValueError(f"rhythm.split.fractions must give non-negative train, cv, test; got {fractions}")
        folds = {str(k): tuple(int(f) for f in v) for k, v in dict(self.folds).items()}
        if not set(folds) <= set(SPLITS):
            raise ValueError(f"rhythm.split.folds keys must be among {SPLITS}; got {sorted(folds)}")
        seen: dict[int, str] = {}
        for name, fs in folds.items():
            for f in fs:
                if f in seen:
                    raise ValueError(f"rhythm.split.folds: fold {f} is in both {seen[f]} and {name}")
                seen[f] = name
        object.__setattr__(self, "fractions", fractions)
        object.__setattr__(self, "folds", folds)
        object.__setattr__(self, "seed", int(self.seed))

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> SplitSettings:
        cfg = dict(cfg or {})
        known = {f.name for f in fields(cls)}
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f"unknown rhythm.split keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**cfg)

    def split_of_fold(self, fold: int) -> str | None:
        return next((name for name, fs in self.folds.items() if int(fold) in fs), None)


@dataclass(frozen=True)
class RhythmSettings:
    """The whole config section ``rhythm``: window parameters (:class:`RhythmParams`, its keys at the top
    level), ``split`` (:class:`SplitSettings`), ``labels`` (:class:`RhythmLabelRules`), ``require_labels``
    and ``sources`` (a list of ``{source, options}``; the workflow adds each source's folder as ``root``)."""

    params: RhythmParams = RhythmParams()
    split: SplitSettings = SplitSettings()
    labels: RhythmLabelRules = RhythmLabelRules()
    require_labels: bool = True
    sources: tuple[Mapping[str, Any], ...] = ({"source": "synthetic"},)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> RhythmSettings:
        cfg = dict(cfg or {})
        sources = tuple(dict(s) for s in cfg.pop("sources", cls.sources))
        for s in sources:
            unknown = set(s) - {"source", "root", "options"}
            if unknown or s.get("source") not in SOURCES:
                raise ValueError(f"rhythm.sources entry {s} must be {{source: one of {SOURCES}, options: {{...}}}}")
        return cls(
            split=SplitSettings.from_config(cfg.pop("split", None)),
            labels=RhythmLabelRules.from_config(cfg.pop("labels", None)),
            require_labels=bool(cfg.pop("require_labels", True)),
            sources=sources,
            params=RhythmParams.from_config(cfg),
        )

    def source_specs(self, roots: Mapping[str, str | os.PathLike[str]]) -> list[SourceSpec]:
        """The sources with their folders: ``roots[source]`` unless the entry gives its own ``root``."""
        out = []
        for s in self.sources:
            root = s.get("root") or roots.get(s["source"])
            if root is None:
                raise ValueError(f"no folder given for rhythm source {s['source']!r} (roots: {sorted(roots)})")
            out.append(SourceSpec(s["source"], str(root), s.get("options") or {}))
        return out


# ------------------------------------------------------------------------------------------ building
def _window(record: Record, params: RhythmParams) -> RhythmWindow | tuple[str, str]:
    """Worker: the record's window, or ``(record_id, reason)`` (exceptions do not cross processes cleanly)."""
    try:
        return rhythm_window(record, params)
    except RecordError as exc:
        return exc.record_id, exc.reason
    except Exception as exc:  # noqa: BLE001 - an unexpected failure of one record must not stop the build
        return record.record_id, f"rhythm window failed: {type(exc).__name__}: {exc}"


@dataclass
class _Kept:
    record: Record
    labels: dict[str, Any]
    window: RhythmWindow
    sha256: str
    source: str  # the source it was read from (its SourceSpec's name)


def extract_all(
    sources: Sequence[SourceSpec],
    params: RhythmParams,
    label_rules: RhythmLabelRules,
    require_labels: bool,
    workers: int = 1,
    records: Iterable[tuple[SourceSpec, Record | RecordError]] | None = None,
) -> tuple[list[_Kept], list[dict[str, Any]], dict[str, dict[str, int]]]:
    """Windows and labels of every usable record of ``sources`` (or of ``records``: ``(spec, record)``
    pairs, for callers that already hold records). Returns (kept, reject rows, per-source counts)."""
    rejects: list[dict[str, Any]] = []
    stats: dict[str, dict[str, int]] = {}
    pending: dict[int, tuple[str, dict[str, Any]]] = {}  # id(record) -> (source, labels) while in flight

    def stream() -> Iterator[tuple[SourceSpec, Record | RecordError]]:
        if records is not None:
            yield from records
            return
        for spec in sources:
            for item in iter_records(spec.source, spec.root, spec.reader_options(params)):
                yield spec, item

    def accepted() -> Iterator[tuple[Record, RhythmParams]]:
        for spec, rec in stream():
            count = stats.setdefault(spec.source, {"records": 0, "rhythms": 0, "rejected": 0})
            count["records"] += 1
            if isinstance(rec, RecordError):
                rejects.append(
                    {"record_id": rec.record_id, "source": spec.source, "stage": "read", "reason": rec.reason}
                )
                continue
            try:
                labels = dict(rhythm_labels(rec, label_rules), label_known=True)
            except RecordError as exc:
                if require_labels:
                    rejects.append(
                        {"record_id": rec.record_id, "source": spec.source, "stage": "label", "reason": exc.reason}
                    )
                    continue
                labels = {"label": "other", "NSR": 0, "BBB": 0, "AF": 0, "label_known": False}
            pending[id(rec)] = (spec.source, labels)
            yield rec, params

    kept: list[_Kept] = []
    first_of: dict[str, str] = {}
    for (rec, _), result in bounded_map(_window, accepted(), workers):
        source, labels = pending.pop(id(rec))
        if isinstance(result, tuple):
            rejects.append({"record_id": result[0], "source": source, "stage": "window", "reason": result[1]})
            continue
        digest = hashlib.sha256(np.ascontiguousarray(result.x).tobytes()).hexdigest()
        if digest in first_of:
            rejects.append(
                {
                    "record_id": rec.record_id,
                    "source": source,
                    "stage": "duplicate",
                    "reason": f"duplicate of {first_of[digest]}: identical rhythm window (sha256 {digest[:16]})",
                }
            )
            continue
        first_of[digest] = rec.record_id
        kept.append(_Kept(rec, labels, result, digest, source))
    for row in rejects:
        stats[row["source"]]["rejected"] += 1
    for k in kept:
        stats[k.source]["rhythms"] += 1
    return kept, rejects, stats


def _patient_label(labels: Iterable[str]) -> str:
    found = set(labels)
    return next((t for t in RHYTHM_PRECEDENCE if t in found), "other")


def assign(kept: Sequence[_Kept], settings: SplitSettings) -> tuple[list[_Kept], pd.DataFrame, list[dict[str, Any]]]:
    """Split of every patient (folds where records carry ``strat_fold``, else the keyed hash). Returns the
    records that keep a split, the manifest ``patient_id, split`` and reject rows (stage ``split``)."""
    by_patient: dict[str, list[_Kept]] = {}
    for k in kept:
        by_patient.setdefault(k.record.patient_id, []).append(k)
    fixed: dict[str, str] = {}
    hashed: list[dict[str, str]] = []
    rejects: list[dict[str, Any]] = []
    for pid, items in by_patient.items():
        folds = [k.record.meta.get("strat_fold") for k in items]
        reason = None
        if all(f is None for f in folds):
            hashed.append({"patient_id": pid, "stratum": _patient_label(k.labels["label"] for k in items)})
            continue
        splits = {settings.split_of_fold(int(f)) if f is not None else "hash" for f in folds}
        if None in splits:
            reason = f"strat_fold {sorted({f for f in folds if f is not None})} is in none of {dict(settings.folds)}"
        elif len(splits) > 1:
            reason = f"patient {pid} spans splits: strat_folds {folds} of its records give {sorted(splits)}"
        if reason:
            rejects += [
                {"record_id": k.record.record_id, "source": k.source, "stage": "split", "reason": reason} for k in items
            ]
        else:
            fixed[pid] = splits.pop()
    table = [pd.DataFrame({"patient_id": list(fixed), "split": list(fixed.values())}, dtype=object)]
    if hashed:
        table.append(split_patients(pd.DataFrame(hashed), settings.fractions, settings.seed, settings.stratify))
    splits_df = pd.concat(table, ignore_index=True).sort_values("patient_id", kind="stable").reset_index(drop=True)
    rejected = {r["record_id"] for r in rejects}
    return [k for k in kept if k.record.record_id not in rejected], splits_df, rejects


def assemble(kept: Sequence[_Kept], splits: pd.DataFrame, params: RhythmParams) -> tuple[np.ndarray, pd.DataFrame]:
    """Stack the windows and build the metadata table (:data:`META_COLUMNS` + extras)."""
    split_of = dict(zip(splits["patient_id"], splits["split"]))
    rows = []
    for i, k in enumerate(kept):
        rec = k.record
        fold = rec.meta.get("strat_fold")
        rows.append(
            {
                "rhythm_id": i,
                "record_id": rec.record_id,
                "patient_id": rec.patient_id,
                "source": rec.source,
                "age": float(rec.age) if rec.age is not None else np.nan,
                "sex": rec.sex,
                "label": k.labels["label"],
                "NSR": int(k.labels["NSR"]),
                "BBB": int(k.labels["BBB"]),
                "AF": int(k.labels["AF"]),
                "split": split_of[rec.patient_id],
                "fs_original": float(k.window.fs_original),
                "n_samples_original": int(k.window.n_samples_original),
                "derived_leads": ",".join(k.window.derived),
                "strat_fold": int(fold) if fold is not None else None,
                "label_known": bool(k.labels["label_known"]),
                "sample_sha256": k.sha256,
            }
        )
    columns = list(META_COLUMNS) + [
        "n_samples_original",
        "derived_leads",
        "strat_fold",
        "label_known",
        "sample_sha256",
    ]
    meta = pd.DataFrame(rows, columns=columns)
    meta["strat_fold"] = meta["strat_fold"].astype("Int64")
    for col in ("rhythm_id", "NSR", "BBB", "AF", "n_samples_original"):
        meta[col] = meta[col].astype(np.int64)
    meta["age"] = meta["age"].astype(float)
    meta["label_known"] = meta["label_known"].astype(bool)
    x = (
        np.stack([k.window.x for k in kept]).astype(np.float32)
        if kept
        else np.zeros((0, len(params.leads), params.padded_length), np.float32)
    )
    return x, meta


def _counts(meta: pd.DataFrame) -> dict[str, Any]:
    out = {"rhythms": int(len(meta)), "patients": int(meta["patient_id"].nunique())}
    out["label"] = {lab: int((meta["label"] == lab).sum()) for lab in RHYTHM_LABELS}
    out["targets"] = {t: int(meta[t].sum()) for t in RHYTHM_TARGETS}
    return out


def build(
    sources: Sequence[SourceSpec | Sequence[Any] | Mapping[str, Any]],
    params: RhythmParams | None,
    split: SplitSettings | None,
    out_dir: str | os.PathLike[str],
    workers: int = 1,
    *,
    labels: RhythmLabelRules | None = None,
    require_labels: bool = True,
    config: Mapping[str, Any] | None = None,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> dict[str, Any]:
    """Build the rhythm database of ``sources`` (each ``(source, root[, options])``) into ``out_dir`` and return
    its manifest (see the module docstring). ``config`` is the workflow configuration (for the provenance);
    ``inputs`` are files whose SHA-256 the manifest records (cohort metadata, download markers).

    ``params``, ``split``, ``labels`` None mean the defaults of :class:`RhythmParams`, :class:`SplitSettings`
    and :class:`RhythmLabelRules`. Raises ``RuntimeError`` when no record gives a rhythm (the first
    reasons are in the message).
    """
    t0 = time.perf_counter()
    params = params or RhythmParams()
    split = split or SplitSettings()
    labels = labels or RhythmLabelRules()
    specs = [SourceSpec.of(s) for s in sources]
    if not specs:
        raise ValueError("rhythm database: no source given")
    kept, rejects, stats = extract_all(specs, params, labels, require_labels, workers)
    kept, splits, split_rejects = assign(kept, split)
    for row in split_rejects:
        stats[row["source"]]["rhythms"] -= 1
        stats[row["source"]]["rejected"] += 1
    rejects += split_rejects
    if not kept:
        raise RuntimeError(
            f"no record of {[s.source for s in specs]} gave a rhythm ({sum(s['records'] for s in stats.values())} "
            f"records seen; first reasons: {[r['record_id'] + ': ' + r['reason'] for r in rejects[:3]]})"
        )
    x, meta = assemble(kept, splits, params)
    rej = pd.DataFrame(rejects, columns=list(REJECT_COLUMNS))
    manifest: dict[str, Any] = {
        "fs": params.fs,
        "leads": list(params.leads),
        "length": params.length,
        "padded_length": params.padded_length,
        "pad_left": 0,
        "pad_right": params.pad_right,
        "duration_s": params.duration_s,
        "start_s": params.start_s,
        "units": "mV",
        "filters": {
            "notch_hz": list(params.notch_hz),
            "notch_q": params.notch_q,
            "highpass_hz": params.highpass_hz,
            "highpass_order": params.highpass_order,
            "zero_phase": True,
            "applied": "at the record's own rate, before resampling",
            "resampling": "scipy.signal.resample_poly",
        },
        "rhythm_params": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(params).items()},
        "label_rules": asdict(labels),
        "require_labels": require_labels,
        "labels": list(RHYTHM_LABELS),
        "targets": list(RHYTHM_TARGETS),
        "sources": [
            {"source": s.source, "root": s.root, "options": s.reader_options(params), **stats.get(s.source, {})}
            for s in specs
        ],
        "split": {
            "seed": split.seed,
            "fractions": dict(split.fractions),
            "stratify": split.stratify,
            "folds": {k: list(v) for k, v in split.folds.items()},
            "rule": "strat_fold where records carry one (PTB-XL), else keyed SHA-256 of patient_id per stratum",
        },
        "counts": {s: _counts(meta[meta["split"] == s]) for s in SPLITS},
        "counts_by_source": {src: _counts(meta[meta["source"] == src]) for src in dict.fromkeys(meta["source"])},
        "n_records_seen": int(sum(s["records"] for s in stats.values())),
        "n_rhythms": int(len(meta)),
        "n_patients": int(meta["patient_id"].nunique()),
        "n_rejected": int(len(rej)),
        "rejected_by_stage": {str(k): int(v) for k, v in rej["stage"].value_counts().sort_index().items()},
        "shape": list(x.shape),
        "inputs": {Path(p).name: sha256_file(p) for p in inputs},
        "provenance": provenance.make(dict(config or {}), seed=split.seed),
    }
    with atomic_dir(out_dir) as tmp:
        save_npy(tmp / "rhythms.npy", x)
        with atomic_path(tmp / "rhythms.parquet") as path:
            meta.to_parquet(path, index=False)
        with atomic_path(tmp / "rejects.csv") as path:
            rej.to_csv(path, index=False)
        with atomic_path(tmp / "splits.csv") as path:
            splits.to_csv(path, index=False)
        files = {name: sha256_file(tmp / name) for name in FILES}
        manifest["files"] = files
        manifest["data_hash"] = _data_hash(files["rhythms.npy"], files["rhythms.parquet"])
        manifest["build_s"] = round(time.perf_counter() - t0, 2)
        write_json(tmp / "manifest.json", manifest)
    log.info(
        "rhythm database %s: %d rhythms of %d patients, %d rejected, in %.1f s (%s)",
        out_dir,
        len(meta),
        manifest["n_patients"],
        len(rej),
        manifest["build_s"],
        ", ".join(f"{s} {manifest['counts'][s]['rhythms']}" for s in SPLITS),
    )
    return manifest


# ------------------------------------------------------------------------------------------ reading
@dataclass
class RhythmDatabase:
    """Rhythm windows, their metadata and the manifest, as loaded by :func:`load`."""

    path: Path | None
    rhythms: np.ndarray  # [N, leads, padded_length] float32 mV
    meta: pd.DataFrame
    manifest: dict[str, Any]

    @property
    def leads(self) -> tuple[str, ...]:
        return tuple(self.manifest["leads"])

    @property
    def fs(self) -> float:
        return float(self.manifest["fs"])

    @property
    def length(self) -> int:
        """Valid samples per window; every metric uses ``x[..., :length]``."""
        return int(self.manifest["length"])

    @property
    def padded_length(self) -> int:
        return int(self.manifest["padded_length"])

    @property
    def data_hash(self) -> str:
        return str(self.manifest["data_hash"])

    def subset(self, split: str) -> tuple[np.ndarray, pd.DataFrame]:
        """Windows ``[n, leads, padded_length]`` and metadata of one split (index reset, ``rhythm_id`` kept)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; the rhythm database has {SPLITS}")
        mask = (self.meta["split"] == split).to_numpy()
        return np.asarray(self.rhythms[mask]), self.meta.loc[mask].reset_index(drop=True)


def load(folder: str | os.PathLike[str], mmap: bool = True) -> RhythmDatabase:
    """Load a rhythm database written by :func:`build` (windows memory-mapped by default)."""
    folder = Path(folder)
    if not (folder / "manifest.json").is_file():
        raise FileNotFoundError(f"{folder} is not a rhythm database (no manifest.json)")
    manifest = read_json(folder / "manifest.json")
    rhythms = np.load(folder / "rhythms.npy", mmap_mode="r" if mmap else None)
    meta = pd.read_parquet(folder / "rhythms.parquet")
    if list(rhythms.shape) != list(manifest["shape"]) or len(meta) != rhythms.shape[0]:
        raise ValueError(
            f"{folder}: rhythms.npy has shape {list(rhythms.shape)}, the manifest says {manifest['shape']} "
            f"and rhythms.parquet has {len(meta)} rows"
        )
    return RhythmDatabase(path=folder, rhythms=rhythms, meta=meta, manifest=manifest)


def build_from_config(
    section: Mapping[str, Any],
    roots: Mapping[str, str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    workers: int = 1,
    config: Mapping[str, Any] | None = None,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> dict[str, Any]:
    """The workflow step: the rhythm database of the configuration section ``rhythm`` (:class:`RhythmSettings`),
    each source read from ``roots[source]``; see :func:`build`."""
    s = RhythmSettings.from_config(section)
    return build(
        s.source_specs(roots),
        s.params,
        s.split,
        out_dir,
        workers,
        labels=s.labels,
        require_labels=s.require_labels,
        config=config,
        inputs=inputs,
    )
