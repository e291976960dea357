"""Build the beat database: records -> beats (:mod:`ecgdiff.data.beats`) -> splits (:mod:`ecgdiff.data.splits`)
-> files (:func:`ecgdiff.data.dataset.save`).

Sources: ``synthetic`` (:func:`ecgdiff.data.synthetic.read_cohort`) and those read by
``ecgdiff.data.records.read_source`` (``ludb``, ``cinc2021``, ``ptbxl``, ``ptbdb``, ``folder``), labelled by
``ecgdiff.data.labels.label``; one source (:func:`build`) or several at once (:func:`build_sources`, config
``data.sources``: :func:`source_specs`). Nothing a single record does can stop the build: a record that
cannot be read, has no usable age or sex, lacks a lead of the lead set, fails a quality check
(:mod:`ecgdiff.data.quality`, stage ``quality``), repeats the samples of an earlier record (stage
``duplicate``, naming the record kept) or yields no beat becomes a row of ``rejects.csv`` with its reason
(``beat_index`` empty), and so does every dropped beat (``beat_index`` set); a problem of a source's folder
(a record list or table that cannot be read: ``SourceProblem``) is a row of stage ``folder`` naming the
file. Records are processed in parallel (``threads`` worker processes, a bounded number in flight).

Per-patient label and split: a patient is ``mi`` if any of its records is labelled ``mi``, ``healthy``
if all its records are healthy, otherwise ``other``; its split (:func:`ecgdiff.data.splits.assign_splits`)
applies to all its beats. The beat metadata holds the record's own label.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import leads as L
from .. import progress, provenance
from ..io import sha256_file
from . import dataset
from .beats import BeatParams, RecordBeats, extract_beats
from .parallel import bounded_map
from .quality import QualityError, QualityParams, signal_sha256
from .records import Record, RecordError, SourceProblem, SourceSpec, count_records
from .source_names import SOURCE_DATABASES, source_databases  # noqa: F401 (source_databases: public here too)
from .splits import assign_splits

log = logging.getLogger(__name__)


def record_label(record: Record) -> str:
    """The record's label (:func:`ecgdiff.data.labels.label`: by source, or ``record.meta['label']`` for synthetic)."""
    from .labels import label

    return str(label(record))


def _check_metadata(record: Record) -> None:
    if record.sex not in ("M", "F"):
        raise RecordError(record.record_id, f"sex unknown ({record.sex!r}); the prior is conditioned on sex")
    if record.age is None or not np.isfinite(record.age):
        raise RecordError(record.record_id, f"age unknown ({record.age!r}); the prior is conditioned on age")


def _process(
    record: Record, lead_set: tuple[str, ...], params: BeatParams, quality: QualityParams | None
) -> RecordBeats | tuple[str, str, str]:
    """Worker: beats of one record, or ``(record_id, stage, reason)`` (exceptions do not cross processes
    cleanly)."""
    try:
        return extract_beats(record, lead_set, params, quality)
    except QualityError as exc:
        return exc.record_id, "quality", exc.reason
    except RecordError as exc:
        return exc.record_id, "beats", exc.reason
    except Exception as exc:  # noqa: BLE001 - an unexpected failure of one record must not stop the build
        return record.record_id, "beats", f"beat extraction failed: {type(exc).__name__}: {exc}"


def _reject(record_id: str, stage: str, reason: str) -> dict[str, Any]:
    return {"record_id": record_id, "beat_index": None, "stage": stage, "reason": reason}


def extract_all(
    records: Iterable[Record | RecordError],
    lead_set: Sequence[str],
    params: BeatParams,
    threads: int = 1,
    quality: QualityParams | None = None,
    total: int | None = None,
    desc: str = "beats",
) -> tuple[list[tuple[Record, str, RecordBeats]], list[dict[str, Any]], int]:
    """Beats of every usable record. Returns (kept ``(record, label, beats)``, reject rows, records seen).

    ``quality`` (None: no quality check, no duplicate check) are the checks of :mod:`ecgdiff.data.quality`.
    A record whose identifier was seen before, or whose samples (:func:`ecgdiff.data.quality.signal_sha256`)
    equal those of an earlier record, is rejected (stage ``duplicate``) naming the record kept. Folder
    problems (:class:`ecgdiff.data.records.SourceProblem`) are rows of stage ``folder``, not records seen.
    A progress bar (:func:`ecgdiff.progress.bar`) counts the records, out of ``total`` when given.
    """
    lead_set = L.canonical_all(lead_set)
    rejects: list[dict[str, Any]] = []
    kept: list[tuple[Record, str, RecordBeats]] = []
    labels: dict[str, str] = {}
    first_id: set[str] = set()
    first_of: dict[str, str] = {}
    dedupe = quality is not None and quality.enabled and quality.duplicates
    n_seen = 0

    def accepted() -> Iterator[tuple[Record, tuple[str, ...], BeatParams, QualityParams | None]]:
        nonlocal n_seen
        for rec in records:
            if isinstance(rec, SourceProblem):
                rejects.append(_reject(rec.record_id, "folder", rec.reason))
                continue
            n_seen += 1
            if isinstance(rec, RecordError):
                rejects.append(_reject(rec.record_id, "read", rec.reason))
                continue
            if rec.record_id in first_id:
                rejects.append(_reject(rec.record_id, "duplicate", "record id already read (listed twice): kept once"))
                continue
            first_id.add(rec.record_id)
            if dedupe:
                digest = signal_sha256(rec)
                if digest in first_of:
                    rejects.append(
                        _reject(
                            rec.record_id,
                            "duplicate",
                            f"duplicate of {first_of[digest]}: the same samples (sha256 {digest[:16]}); "
                            f"{first_of[digest]} is kept",
                        )
                    )
                    continue
                first_of[digest] = rec.record_id
            try:
                _check_metadata(rec)
                labels[rec.record_id] = record_label(rec)
            except RecordError as exc:
                rejects.append(_reject(exc.record_id, "metadata", exc.reason))
                continue
            except Exception as exc:  # noqa: BLE001
                rejects.append(_reject(rec.record_id, "label", f"{type(exc).__name__}: {exc}"))
                continue
            yield rec, lead_set, params, quality

    bar = progress.bar(total=total, desc=desc, unit="records")
    seen = 0
    for (rec, *_), result in bounded_map(_process, accepted(), threads):
        bar.update(n_seen - seen)  # records seen so far, the rejected ones included
        seen = n_seen
        if isinstance(result, tuple):
            rejects.append(_reject(result[0], result[1], result[2]))
            continue
        rejects.extend(result.rejects)
        kept.append((rec, labels[rec.record_id], result))
    bar.update(n_seen - seen)
    bar.close()
    return kept, rejects, n_seen


def patient_labels(kept: Sequence[tuple[Record, str, RecordBeats]]) -> pd.DataFrame:
    """One row per patient: ``patient_id, label`` (``mi`` if any record is MI, ``healthy`` if all are)."""
    by_patient: dict[str, set[str]] = {}
    for rec, label, _ in kept:
        by_patient.setdefault(rec.patient_id, set()).add(label)
    rows = []
    for pid, labels in sorted(by_patient.items()):
        lab = "mi" if "mi" in labels else ("healthy" if labels == {"healthy"} else "other")
        rows.append({"patient_id": pid, "label": lab})
    return pd.DataFrame(rows, columns=["patient_id", "label"])


def assemble(
    kept: Sequence[tuple[Record, str, RecordBeats]], splits: pd.DataFrame, lead_set: Sequence[str], length: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """Stack the beats and build the metadata table (:data:`ecgdiff.data.dataset.META_COLUMNS` + extras)."""
    split_of = dict(zip(splits["patient_id"], splits["split"]))
    lead_set = L.canonical_all(lead_set)
    parts, frames = [], []
    for rec, label, rb in kept:
        n = len(rb.r_index)
        frame = {
            "patient_id": [rec.patient_id] * n,
            "record_id": [rec.record_id] * n,
            "source": [rec.source] * n,
            "age": np.full(n, float(rec.age)),
            "sex": [rec.sex] * n,
            "rr_ms": rb.rr_ms.astype(float),
            "label": [label] * n,
            "split": [split_of[rec.patient_id]] * n,
            "r_index": rb.r_index.astype(np.int64),
            "beat_index": rb.beat_index.astype(np.int64),
        }
        for j, name in enumerate(lead_set):
            frame[f"scale_{name}"] = rb.scales[:, j].astype(float)
        frames.append(pd.DataFrame(frame))
        parts.append(rb.beats)
    if parts:
        beats = np.concatenate(parts, axis=0).astype(np.float32)
        meta = pd.concat(frames, ignore_index=True)
    else:
        beats = np.zeros((0, len(lead_set), length), np.float32)
        meta = pd.DataFrame(columns=[c for c in dataset.META_COLUMNS if c != "beat_id"])
    meta.insert(0, "beat_id", np.arange(len(meta), dtype=np.int64))
    return beats, meta


def source_specs(
    config: Mapping[str, Any], roots: Mapping[str, str | os.PathLike[str]] | None = None
) -> list[SourceSpec]:
    """The sources of the beat database from the workflow configuration.

    ``data.sources`` (a list of ``{source, root | database, options}``) when given, else the one source
    ``data.source``. Each entry's folder is its ``root``, or ``roots[database]`` where ``database`` (default:
    :data:`ecgdiff.data.source_names.SOURCE_DATABASES` of the source; ``synthetic`` for the cohort) names the
    PhysioNet download (``physionet.databases`` key) or the simulated cohort. Its reader options are
    ``data.<source>`` overridden by the entry's ``options``. Raises ``ValueError`` naming the entry when the
    folder is unknown or a key is misspelt."""
    data = dict(config.get("data", {}))
    roots = dict(roots or {})
    entries = data.get("sources")
    if entries is None:
        entries = [{"source": data.get("source", "synthetic")}]
    if not entries:
        raise ValueError("data.sources is empty: list at least one {source, root | database}")
    specs = []
    for i, entry in enumerate(entries):
        entry = dict(entry)
        unknown = sorted(set(entry) - {"source", "root", "database", "options"})
        if unknown or "source" not in entry:
            raise ValueError(f"data.sources[{i}] {entry}: keys are source, root or database, options (got {unknown})")
        source = str(entry["source"])
        database = entry.get("database") or SOURCE_DATABASES.get(source, source)
        root = entry.get("root") or roots.get(database)
        if root is None:
            raise ValueError(
                f"data.sources[{i}] ({source}): no folder: give root, or database (one of {sorted(roots)})"
            )
        options = {} if source == "synthetic" else {**dict(data.get(source) or {}), **dict(entry.get("options") or {})}
        specs.append(SourceSpec(source, str(root), options))
    return specs


def default_roots(config: Mapping[str, Any]) -> dict[str, str]:
    """Where the workflow keeps each download: ``<resources_dir>/physionet/<db>/<version>`` for every
    ``physionet.databases`` entry, and ``<resources_dir>/synthetic/<cohort hash>`` for ``synthetic``."""
    from .synthetic_config import cohort_hash

    res = str(config.get("resources_dir", "resources"))
    roots = {db: f"{res}/physionet/{db}/{v}" for db, v in (config.get("physionet", {}).get("databases") or {}).items()}
    synthetic = config.get("data", {}).get("synthetic")
    if synthetic is not None:
        roots["synthetic"] = f"{res}/synthetic/{cohort_hash(synthetic)}"
    return roots


def build(
    source: str,
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: Mapping[str, Any],
    threads: int = 1,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> dict[str, Any]:
    """Build the beat database of ``source`` (records under ``root``) into ``out_dir``; return its manifest.

    ``config`` is the workflow configuration (``leads``, ``data.beats``, ``data.quality``, ``data.split``,
    ``data.<source>``); ``inputs`` are files whose SHA-256 the manifest records as the input's identity
    (the cohort metadata or the download manifest). :func:`build_sources` with one source.
    """
    options = {} if source == "synthetic" else dict(config.get("data", {}).get(source, {}))
    return build_sources([SourceSpec(source, str(root), options)], out_dir, config, threads, inputs)


def build_sources(
    sources: Sequence[SourceSpec | Mapping[str, Any] | Sequence[Any]],
    out_dir: str | os.PathLike[str],
    config: Mapping[str, Any],
    threads: int = 1,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> dict[str, Any]:
    """Build one beat database from several sources read in turn (:class:`ecgdiff.data.records.SourceSpec`:
    source, folder, reader options; e.g. :func:`source_specs` of the configuration) into ``out_dir``; return
    its manifest. Patients of different sources are different patients (their identifiers carry the
    source); an ECG found in two sources is kept once (stage ``duplicate``)."""
    t0 = time.perf_counter()
    specs = [SourceSpec.of(s) for s in sources]
    if not specs:
        raise ValueError("build_sources: no source given")
    data_cfg = config.get("data", {})
    lead_set = L.canonical_all(config.get("leads", L.PAPER_9))
    params = BeatParams.from_config(data_cfg.get("beats", {}))
    quality = QualityParams.from_config(data_cfg.get("quality", {}))
    split_cfg = dict(data_cfg.get("split", {}))
    fractions = dict(split_cfg.get("fractions", {"train": 0.8, "cv": 0.1, "test": 0.1}))
    split_seed = int(split_cfg.get("seed", 0))
    per_source: dict[str, dict[str, int]] = {}

    def records() -> Iterator[Record | RecordError]:
        for spec in specs:
            for item in spec.read():
                count = per_source.setdefault(spec.source, {"records": 0})
                count["records"] += not isinstance(item, SourceProblem)
                yield item

    counts = [count_records(s.source, s.root, s.options) for s in specs]
    total = None if any(c is None for c in counts) else sum(counts)
    desc = "beats " + "+".join(s.source for s in specs)
    kept, rejects, n_seen = extract_all(
        records(), lead_set, params, threads=threads, quality=quality, total=total, desc=desc
    )
    where = ", ".join(f"{s.source} under {s.root}" for s in specs)
    if not n_seen:
        raise RuntimeError(
            f"no record found in {where}: an empty folder, or RECORDS empty? "
            f"(folder problems: {[r['reason'] for r in rejects[:3]]})"
        )
    if not kept:
        raise RuntimeError(
            f"no record of {where} gave a beat "
            f"({n_seen} records seen; first reasons: {[r['reason'] for r in rejects[:3]]})"
        )
    patients = patient_labels(kept)
    splits = assign_splits(patients, fractions, split_seed)
    beats, meta = assemble(kept, splits, lead_set, params.length)
    rej = pd.DataFrame(rejects, columns=list(dataset.REJECT_COLUMNS))
    rej["beat_index"] = rej["beat_index"].astype("Int64")
    counts = {
        s: {
            "patients": int(meta.loc[meta["split"] == s, "patient_id"].nunique()),
            "beats": int((meta["split"] == s).sum()),
        }
        for s in dataset.SPLITS
    }
    record_rejects = rej[rej["beat_index"].isna() & (rej["stage"] != "folder")]
    for src, group in meta.groupby("source"):
        per_source.setdefault(str(src), {"records": 0})["used"] = int(group["record_id"].nunique())
    manifest = {
        "source": specs[0].source if len(specs) == 1 else "+".join(s.source for s in specs),
        "sources": [{"source": s.source, "root": s.root, "options": _jsonable(s.options)} for s in specs],
        "records_by_source": per_source,
        "leads": list(lead_set),
        "fs": params.fs,
        "before": params.before,
        "after": params.after,
        "window_ms": [-params.before * 1000.0 / params.fs, params.after * 1000.0 / params.fs],
        # half-open [start, stop) relative to R, in samples: beats[..., before + start : before + stop]
        "qrs_window_samples": [params.qrs_window[0], params.qrs_window[1] + 1],
        "beat_params": _jsonable(params.__dict__),
        "quality": _jsonable(quality.__dict__),
        "split": {"seed": split_seed, "fractions": fractions, "rule": "keyed SHA-256 of patient_id"},
        "counts": counts,
        "n_records_seen": n_seen,
        "n_records_used": len(kept),
        "n_records_rejected": int(len(record_rejects)),
        "rejected_records_by_stage": {str(k): int(v) for k, v in record_rejects["stage"].value_counts().items()},
        "n_beats_rejected": int(rej["beat_index"].notna().sum()),
        "folder_problems": [f"{r['record_id']}: {r['reason']}" for r in rejects if r["stage"] == "folder"],
        "inputs": {Path(p).name: sha256_file(p) for p in inputs},
        "build_s": None,
        "provenance": provenance.make(config, seed=split_seed),
    }
    manifest["build_s"] = round(time.perf_counter() - t0, 2)
    out = dataset.save(out_dir, beats, meta, rej, splits, manifest)
    log.info(
        "beat database %s: %d beats of %d patients from %d/%d records of %s in %.1f s (%s)",
        out_dir,
        out["n_beats"],
        out["n_patients"],
        len(kept),
        n_seen,
        where,
        manifest["build_s"],
        ", ".join(f"{k} {v['patients']}p/{v['beats']}b" for k, v in counts.items()),
    )
    for problem in manifest["folder_problems"]:
        log.warning("folder problem: %s", problem)
    return out


def _jsonable(d: Mapping[str, Any]) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, Mapping):
            return {str(k): plain(x) for k, x in v.items()}
        return str(v) if isinstance(v, os.PathLike) else v

    return {k: plain(v) for k, v in d.items()}
