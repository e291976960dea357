"""Validation of the project's R-peak detector against reference beat annotations.

The detector is exactly the code path of beat extraction (:func:`ecgdiff.data.beats.find_r_peaks`: filters,
resampling to 250 Hz, first principal component, Savitzky-Golay, neurokit2), applied to a whole record;
its peaks are mapped back to the record's sampling rate and matched one-to-one with the reference beats
(:func:`match_beats`): a reference beat is detected when a detection lies within the tolerance (50 ms)
and has not been matched to an earlier beat.

    sensitivity = TP / (TP + FN)          positive predictivity (PPV) = TP / (TP + FP)

Two scores per record. The *raw* score matches the detections with the reference marks as they are.
The *aligned* score first removes the record's median offset between each reference beat and its
nearest detection within 150 ms (the AAMI EC57 match window): the reference marks of some databases
sit on the QRS onset rather than on the R peak (the European ST-T records of ``qtdb``, paced beats of
``ludb``), a convention that shifts every mark of a record by 50-80 ms; a detector that finds every QRS
complex at a consistent point then scores 100 % after alignment and near 0 % before. The median
offset of every record is reported.

Edges: neurokit2's detector reports no peak within its 0.3-s refractory period of a record's start,
and a QRS complex cut by a record's end cannot be located; reference beats and detections within
``edge_s`` (0.3 s) of either end of a whole-record reference are not scored. Beat extraction cannot
use those beats either (the first beat is dropped, a window needs 512 ms after R).

References, per database, read by :func:`ecgdiff.data.records.read_reference_beats` (:func:`reference_record`):

- ``mitdb``, ``qtdb``: the reference beat annotations (``.atr``), every beat symbol (normal,
  bundle-branch-block, ectopic, paced, fusion beats); non-beat annotations (rhythm changes, noise,
  signal quality) are not beats. Whole record. Nine ``qtdb`` records (``sel30`` ... ``sel51``, from the
  Sudden Death Holter database) have no ``.atr``; for them the QRS peak marks of the manual
  delineation ``.q1c`` (about 30 consecutive beats) are the reference, scored within their span.
- ``ludb``: the QRS peak marks of the lead-II delineation file (``.ii``). LUDB's cardiologists annotated
  only part of each 10-s record (the first and last beats are usually unmarked), so the record is
  scored only inside the annotated span: from the first to the last mark of that file, widened by the
  tolerance; detections outside it are neither true nor false.
- ``synthetic``: the true R-peak sample indices stored with the simulated cohort. Whole record.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.beats import BeatParams, find_r_peaks

log = logging.getLogger(__name__)

DATABASES: tuple[str, ...] = ("synthetic", "mitdb", "qtdb", "ludb")


@dataclass(frozen=True)
class Score:
    """Beat-by-beat counts of one record (or a sum of records)."""

    tp: int
    fn: int
    fp: int

    @property
    def sensitivity(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def ppv(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    def __add__(self, other: Score) -> Score:
        return Score(self.tp + other.tp, self.fn + other.fn, self.fp + other.fp)


def match_beats(
    reference: np.ndarray, detected: np.ndarray, tolerance: int, span: tuple[int, int] | None = None
) -> Score:
    """One-to-one matching of sorted sample indices within ``tolerance`` samples.

    Each reference beat, in time order, takes the earliest unmatched detection within ``tolerance``
    of it (for sorted points and a common tolerance this maximises the number of matches). On beat annotations
    (beats further apart than twice the tolerance) this is exactly ``wfdb.processing.compare_annotations`` with a
    window of ``tolerance + 1`` (a test shows it); it is kept because on dense point sets wfdb's greedy closest
    match can miss matches that exist, and because it takes the ``span`` restriction in one place.
    With ``span = (lo, hi)`` only reference beats and detections inside ``[lo, hi]`` are scored.
    """
    ref = np.sort(np.asarray(reference, dtype=np.int64))
    det = np.sort(np.asarray(detected, dtype=np.int64))
    if span is not None:
        ref = ref[(ref >= span[0]) & (ref <= span[1])]
        det = det[(det >= span[0]) & (det <= span[1])]
    tp = 0
    j = 0
    for r in ref:
        while j < len(det) and det[j] < r - tolerance:
            j += 1
        if j < len(det) and det[j] <= r + tolerance:
            tp += 1
            j += 1
    return Score(tp=tp, fn=len(ref) - tp, fp=len(det) - tp)


def median_offset(reference: np.ndarray, detected: np.ndarray, window: int) -> float:
    """Median of (nearest detection - reference beat) over reference beats with a detection within
    ``window`` samples; NaN when there is none."""
    ref = np.asarray(reference, dtype=np.int64)
    det = np.sort(np.asarray(detected, dtype=np.int64))
    if len(ref) == 0 or len(det) == 0:
        return float("nan")
    i = np.clip(np.searchsorted(det, ref), 1, max(len(det) - 1, 1))
    left, right = det[np.maximum(i - 1, 0)], det[np.minimum(i, len(det) - 1)]
    nearest = np.where(np.abs(right - ref) < np.abs(left - ref), right, left)
    d = nearest - ref
    d = d[np.abs(d) <= window]
    return float(np.median(d)) if len(d) else float("nan")


def detect_peaks(signal: np.ndarray, fs: float, params: BeatParams | None = None) -> np.ndarray:
    """R peaks of a raw record ``signal [leads, n]`` at ``fs``, as sample indices at ``fs``."""
    params = params or BeatParams()
    _, peaks = find_r_peaks(signal, fs, params)
    return np.round(peaks * (fs / params.fs)).astype(np.int64)


# ----------------------------------------------------------------------------- references
@dataclass
class Reference:
    """A record's signal and its reference beats."""

    database: str
    record: str
    signal: np.ndarray
    fs: float
    beats: np.ndarray
    span: tuple[int, int]
    reference: str = ""


def reference_record(
    database: str, root: str | os.PathLike[str], record: str, tolerance: int = 0, edge_s: float = 0.3
) -> Reference:
    """One record of a PhysioNet validation database with its reference beats and scoring span.

    Reads with :func:`ecgdiff.data.records.read_reference_beats`: LUDB's lead-II delineation (``ii``), else the
    first of ``atr``, ``q1c``, ``man``. Beat annotations of the whole record (``atr``) are scored over the
    record without its ``edge_s`` ends; partial annotations (delineation, ``q1c``, ``man``) within their
    annotated range widened by ``tolerance`` samples.
    """
    from ..data.records import read_reference_beats

    rec, beats = read_reference_beats(root, record, annotator="ii" if database == "ludb" else "auto")
    signal = np.asarray(rec.signal, dtype=float)
    if not np.all(np.isfinite(signal)):  # rare invalid samples: hold the last valid value
        signal = pd.DataFrame(signal.T).ffill().bfill().fillna(0.0).to_numpy().T
    n, fs = signal.shape[1], float(rec.fs)
    if rec.meta["annotator"] == "atr":
        e = int(round(edge_s * fs))
        span = (e, n - 1 - e)
    else:
        lo, hi = rec.meta["annotated_range"]
        span = (int(lo) - tolerance, int(hi) + tolerance)
    return Reference(database, str(record), signal, fs, beats, span, str(rec.meta["annotator"]))


def iter_references(
    database: str,
    root: str | os.PathLike[str],
    tolerance_ms: float = 50.0,
    records: Sequence[str] | None = None,
    edge_s: float = 0.3,
) -> Iterator[Reference]:
    """Every record of a database folder (its ``RECORDS`` file, or ``metadata.csv`` for synthetic)."""
    root = Path(root)
    if database == "synthetic":
        from ..data.synthetic import read_cohort

        for rec in read_cohort(root):
            if isinstance(rec, Exception):
                raise rec
            name = rec.record_id.split("/", 1)[1]
            if records is not None and name not in records:
                continue
            e = int(round(edge_s * rec.fs))
            yield Reference(
                database,
                name,
                rec.signal,
                rec.fs,
                np.asarray(rec.meta["r_peaks"], np.int64),
                (e, rec.signal.shape[1] - 1 - e),
                "true R peaks",
            )
        return
    if database not in DATABASES:
        raise ValueError(f"unknown database {database!r} for detector validation; known: {', '.join(DATABASES)}")
    names = [ln.strip() for ln in (root / "RECORDS").read_text().splitlines() if ln.strip()]
    for name in names:
        short = name.split("/")[-1]
        if records is not None and short not in records:
            continue
        fs = _header_fs(root, name)
        yield reference_record(database, root, short, int(round(tolerance_ms * fs / 1000.0)), edge_s)


def _header_fs(root: Path, name: str) -> float:
    import wfdb

    return float(wfdb.rdheader(str(root / name)).fs)


def validate(
    database: str,
    root: str | os.PathLike[str],
    params: BeatParams | None = None,
    tolerance_ms: float = 50.0,
    records: Sequence[str] | None = None,
    edge_s: float = 0.3,
    align_window_ms: float = 150.0,
) -> pd.DataFrame:
    """Per-record scores of one database (raw and aligned, see the module docstring)."""
    rows = []
    for ref in iter_references(database, root, tolerance_ms, records, edge_s):
        t0 = time.perf_counter()
        det = detect_peaks(ref.signal, ref.fs, params)
        tol = int(round(tolerance_ms * ref.fs / 1000.0))
        lo, hi = ref.span
        in_ref = ref.beats[(ref.beats >= lo) & (ref.beats <= hi)]
        raw = match_beats(ref.beats, det, tol, ref.span)
        off = median_offset(
            in_ref, det[(det >= lo - tol) & (det <= hi + tol)], int(round(align_window_ms * ref.fs / 1000.0))
        )
        shift = int(round(off)) if np.isfinite(off) else 0
        aligned = match_beats(ref.beats, det - shift, tol, ref.span)
        rows.append(
            {
                "database": database,
                "record": ref.record,
                "reference": ref.reference,
                "fs": ref.fs,
                "duration_s": round(ref.signal.shape[1] / ref.fs, 2),
                "n_reference": raw.tp + raw.fn,
                "n_detected": raw.tp + raw.fp,
                "tp": raw.tp,
                "fn": raw.fn,
                "fp": raw.fp,
                "sensitivity": raw.sensitivity,
                "ppv": raw.ppv,
                "offset_ms": off * 1000.0 / ref.fs if np.isfinite(off) else float("nan"),
                "tp_aligned": aligned.tp,
                "fn_aligned": aligned.fn,
                "fp_aligned": aligned.fp,
                "sensitivity_aligned": aligned.sensitivity,
                "ppv_aligned": aligned.ppv,
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
    if not rows:
        raise RuntimeError(f"no record of {database} found under {root}")
    return pd.DataFrame(rows)


def summarise(per_record: pd.DataFrame) -> pd.DataFrame:
    """Overall (beat-pooled) scores per database, raw and aligned, with the number of records below 99 %."""
    rows = []
    for db, g in per_record.groupby("database", sort=False):
        raw = Score(int(g["tp"].sum()), int(g["fn"].sum()), int(g["fp"].sum()))
        al = Score(int(g["tp_aligned"].sum()), int(g["fn_aligned"].sum()), int(g["fp_aligned"].sum()))
        rows.append(
            {
                "database": db,
                "records": len(g),
                "reference_beats": raw.tp + raw.fn,
                "detected": raw.tp + raw.fp,
                "tp": raw.tp,
                "fn": raw.fn,
                "fp": raw.fp,
                "sensitivity_pct": 100 * raw.sensitivity,
                "ppv_pct": 100 * raw.ppv,
                "records_below_99pct": int(((g["sensitivity"] < 0.99) | (g["ppv"] < 0.99)).sum()),
                "sensitivity_aligned_pct": 100 * al.sensitivity,
                "ppv_aligned_pct": 100 * al.ppv,
                "records_below_99pct_aligned": int(
                    ((g["sensitivity_aligned"] < 0.99) | (g["ppv_aligned"] < 0.99)).sum()
                ),
                "median_abs_offset_ms": float(np.nanmedian(np.abs(g["offset_ms"]))),
            }
        )
    return pd.DataFrame(rows)


def write_tables(
    summary: pd.DataFrame,
    per_record: pd.DataFrame,
    paths: Mapping[str, str | os.PathLike[str]],
    prov: Mapping[str, Any],
    tolerance_ms: float,
) -> None:
    """Write the summary and per-record tables (CSV + Markdown) with provenance."""
    from ..tables import write_table

    cap = (
        f"R-peak detector (first principal component, Savitzky-Golay 15/3, neurokit2, slope check) against "
        f"reference beats: sensitivity and positive predictivity (%) within {tolerance_ms:g} ms, raw and after "
        "removing each record's median detection-reference offset (aligned)."
    )
    write_table(summary, paths["summary_csv"], paths["summary_md"], caption=cap, provenance=prov, floatfmt=".2f")
    write_table(
        per_record,
        paths["records_csv"],
        paths["records_md"],
        caption=cap + " Per record.",
        provenance=prov,
        floatfmt=".4f",
    )


def run_from_config(
    databases: Mapping[str, str | os.PathLike[str]],
    config: Mapping[str, Any],
    paths: Mapping[str, str | os.PathLike[str]],
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> pd.DataFrame:
    """The workflow's validation: databases ``name -> folder``, settings from ``config`` (``data.beats``
    for the detector, ``detector_validation`` for the scoring); writes the tables in ``paths``
    (``summary_csv``, ``summary_md``, ``records_csv``, ``records_md``) and returns the summary."""
    from .. import provenance
    from ..io import sha256_file

    dv = dict(config.get("detector_validation", {}))
    params = BeatParams.from_config(config.get("data", {}).get("beats", {}))
    tol = float(dv.get("tolerance_ms", 50.0))
    frames = []
    for db, root in databases.items():
        if db not in DATABASES:
            raise ValueError(f"unknown database {db!r} for detector validation; known: {', '.join(DATABASES)}")
        t0 = time.perf_counter()
        frames.append(
            validate(
                db,
                root,
                params,
                tol,
                edge_s=float(dv.get("edge_s", 0.3)),
                align_window_ms=float(dv.get("align_window_ms", 150.0)),
            )
        )
        log.info("detector validation %s: %d records in %.1f s", db, len(frames[-1]), time.perf_counter() - t0)
    per_record = pd.concat(frames, ignore_index=True)
    summary = summarise(per_record)
    prov = provenance.make(
        config,
        inputs={Path(p).name if Path(p).name != ".ecgdiff-download.json" else str(p): sha256_file(p) for p in inputs},
    )
    write_tables(summary, per_record, paths, prov, tol)
    for row in summary.itertuples(index=False):
        log.info(
            "%s: sensitivity %.2f%% PPV %.2f%% (aligned %.2f%% / %.2f%%) over %d beats of %d records",
            row.database,
            row.sensitivity_pct,
            row.ppv_pct,
            row.sensitivity_aligned_pct,
            row.ppv_aligned_pct,
            row.reference_beats,
            row.records,
        )
    return summary
