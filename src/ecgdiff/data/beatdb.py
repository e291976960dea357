"""Build the beat database: records -> beats (:mod:`ecgdiff.data.beats`) -> splits (:mod:`ecgdiff.data.splits`)
-> files (:func:`ecgdiff.data.dataset.save`).

Sources: ``synthetic`` (:func:`ecgdiff.data.synthetic.read_cohort`) and the PhysioNet sources read by
``ecgdiff.data.records.read_source`` (``ludb``, ``cinc2021``), labelled by ``ecgdiff.data.labels.label``.
Nothing a single record does can stop the build: a record that cannot be read, has no usable age or
sex, lacks a lead of the lead set or yields no beat becomes a row of ``rejects.csv`` with its reason
(``beat_index`` empty), and so does every dropped beat (``beat_index`` set). Records are processed in
parallel (``threads`` worker processes, a bounded number in flight).

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
from .records import Record, RecordError, count_records, iter_records
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


def _process(record: Record, lead_set: tuple[str, ...], params: BeatParams) -> RecordBeats | tuple[str, str]:
    """Worker: beats of one record, or ``(record_id, reason)`` (exceptions do not cross processes cleanly)."""
    try:
        return extract_beats(record, lead_set, params)
    except RecordError as exc:
        return exc.record_id, exc.reason
    except Exception as exc:  # noqa: BLE001 - an unexpected failure of one record must not stop the build
        return record.record_id, f"beat extraction failed: {type(exc).__name__}: {exc}"


def extract_all(
    records: Iterable[Record | RecordError],
    lead_set: Sequence[str],
    params: BeatParams,
    threads: int = 1,
    total: int | None = None,
    desc: str = "beats",
) -> tuple[list[tuple[Record, str, RecordBeats]], list[dict[str, Any]], int]:
    """Beats of every usable record. Returns (kept ``(record, label, beats)``, reject rows, records seen).

    A progress bar (:func:`ecgdiff.progress.bar`) counts the records, out of ``total`` when given."""
    lead_set = L.canonical_all(lead_set)
    rejects: list[dict[str, Any]] = []
    kept: list[tuple[Record, str, RecordBeats]] = []
    labels: dict[str, str] = {}
    n_seen = 0

    def accepted() -> Iterator[tuple[Record, tuple[str, ...], BeatParams]]:
        nonlocal n_seen
        for rec in records:
            n_seen += 1
            if isinstance(rec, RecordError):
                rejects.append({"record_id": rec.record_id, "beat_index": None, "stage": "read", "reason": rec.reason})
                continue
            try:
                _check_metadata(rec)
                labels[rec.record_id] = record_label(rec)
            except RecordError as exc:
                rejects.append(
                    {"record_id": exc.record_id, "beat_index": None, "stage": "metadata", "reason": exc.reason}
                )
                continue
            except Exception as exc:  # noqa: BLE001
                rejects.append(
                    {
                        "record_id": rec.record_id,
                        "beat_index": None,
                        "stage": "label",
                        "reason": f"{type(exc).__name__}: {exc}",
                    }
                )
                continue
            yield rec, lead_set, params

    bar = progress.bar(total=total, desc=desc, unit="records")
    seen = 0
    for (rec, _, _), result in bounded_map(_process, accepted(), threads):
        bar.update(n_seen - seen)  # records seen so far, the rejected ones included
        seen = n_seen
        if isinstance(result, tuple):
            rejects.append({"record_id": result[0], "beat_index": None, "stage": "beats", "reason": result[1]})
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


def build(
    source: str,
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: Mapping[str, Any],
    threads: int = 1,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> dict[str, Any]:
    """Build the beat database of ``source`` (records under ``root``) into ``out_dir``; return its manifest.

    ``config`` is the workflow configuration (``leads``, ``data.beats``, ``data.split``, ``data.<source>``);
    ``inputs`` are files whose SHA-256 the manifest records as the input's identity (the cohort metadata
    or the download manifest).
    """
    t0 = time.perf_counter()
    data_cfg = config.get("data", {})
    lead_set = L.canonical_all(config.get("leads", L.PAPER_9))
    params = BeatParams.from_config(data_cfg.get("beats", {}))
    split_cfg = dict(data_cfg.get("split", {}))
    fractions = dict(split_cfg.get("fractions", {"train": 0.8, "cv": 0.1, "test": 0.1}))
    split_seed = int(split_cfg.get("seed", 0))
    records = iter_records(source, root, data_cfg.get(source, {}))
    total = count_records(source, root, data_cfg.get(source, {}))
    kept, rejects, n_seen = extract_all(records, lead_set, params, threads=threads, total=total, desc=f"beats {source}")
    if not kept:
        raise RuntimeError(
            f"no record of source {source!r} under {root} gave a beat "
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
    record_rejects = rej[rej["beat_index"].isna()]
    manifest = {
        "source": source,
        "leads": list(lead_set),
        "fs": params.fs,
        "before": params.before,
        "after": params.after,
        "window_ms": [-params.before * 1000.0 / params.fs, params.after * 1000.0 / params.fs],
        # half-open [start, stop) relative to R, in samples: beats[..., before + start : before + stop]
        "qrs_window_samples": [params.qrs_window[0], params.qrs_window[1] + 1],
        "beat_params": _jsonable(params.__dict__),
        "split": {"seed": split_seed, "fractions": fractions, "rule": "keyed SHA-256 of patient_id"},
        "counts": counts,
        "n_records_seen": n_seen,
        "n_records_used": len(kept),
        "n_records_rejected": int(len(record_rejects)),
        "rejected_records_by_stage": {str(k): int(v) for k, v in record_rejects["stage"].value_counts().items()},
        "n_beats_rejected": int(rej["beat_index"].notna().sum()),
        "inputs": {Path(p).name: sha256_file(p) for p in inputs},
        "build_s": None,
        "provenance": provenance.make(config, seed=split_seed),
    }
    manifest["build_s"] = round(time.perf_counter() - t0, 2)
    out = dataset.save(out_dir, beats, meta, rej, splits, manifest)
    log.info(
        "beat database %s: %d beats of %d patients from %d/%d records in %.1f s (%s)",
        out_dir,
        out["n_beats"],
        out["n_patients"],
        len(kept),
        n_seen,
        manifest["build_s"],
        ", ".join(f"{k} {v['patients']}p/{v['beats']}b" for k, v in counts.items()),
    )
    return out


def _jsonable(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
