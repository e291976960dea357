"""PTB-XL 1.0.3 (Wagner et al. 2020, PhysioNet ``ptb-xl/1.0.3``): the talk's rhythm data.

The database folder holds (PhysioNet's layout, fetched by :mod:`ecgdiff.data.physionet` with the include
patterns of :func:`ecgdiff.data.physionet.include_patterns`)::

    ptbxl_database.csv      one row per ECG (21,799 in 1.0.3)
    scp_statements.csv      the 71 SCP-ECG statements (first column: the code)
    records500/00000/00001_hr.hea, .dat   WFDB, 12 leads, 500 Hz, 10 s, 16 bit, 1000 units per mV
    records100/00000/00001_lr.hea, .dat   the same records down-sampled to 100 Hz

Columns of ``ptbxl_database.csv`` used here (PTB-XL's names): ``ecg_id``, ``patient_id`` (written as a
float, ``15709.0``), ``age``, ``sex``, ``scp_codes``, ``strat_fold``, ``filename_lr``, ``filename_hr``; the
signal-quality columns ``baseline_drift``, ``static_noise``, ``burst_noise``, ``electrodes_problems``,
``extra_beats``, ``pacemaker``, and ``heart_axis``, ``validated_by_human`` are kept in ``Record.meta``.

How each field is read, following PTB-XL's documentation:

- ``sex``: 0 = male, 1 = female.
- ``age``: years; ages above 89 are written as 300 (HIPAA de-identification). We read 300 as 90, the
  youngest age the statement allows and the value :func:`ecgdiff.data.records.parse_age` gives LUDB's
  ``>89``; the original value stays in ``meta['age_text']``. Other values outside 0-120 are missing.
- ``patient_id``: ``ptbxl/<integer id>`` (``15709.0`` -> ``ptbxl/15709``).
- ``scp_codes``: a Python dict literal ``{statement: likelihood}``; PTB-XL's documentation says the
  likelihood "is set to 0 if unknown", which is the case of every rhythm and form statement (``SR``,
  ``AFIB``) and of some diagnostic ones: 0 means unknown, not absent. The dict is kept in
  ``meta['scp_codes']`` and labelled by :func:`ecgdiff.data.labels.rhythm_labels`. A string that is not
  such a dict, or a code that ``scp_statements.csv`` does not list, leaves ``meta['scp_codes']`` None and
  the reason in ``meta['label_error']``: the signal stays usable for an unlabelled prior.
- ``strat_fold``: PTB-XL's recommended split (stratified, patient-disjoint): folds 1-8 train, 9
  validation, 10 test (``meta['strat_fold']``). PTB-XL guarantees that all ECGs of a patient share one
  fold; :func:`read_ptbxl` checks it and rejects every ECG of a patient found in several folds.

Records are ``ptbxl/<ecg_id>``, read by :func:`ecgdiff.data.records.read_wfdb_record` (units and lead names
from the header: ``AVR`` -> ``aVR``), in ``ecg_id`` order. Reach them through
``ecgdiff.data.records.read_source("ptbxl", root, {"rate": 500})``, which adds the usual usability checks.
"""

from __future__ import annotations

import ast
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .records import Record, RecordError, read_wfdb_record

SOURCE = "ptbxl"
DATABASE_FILE = "ptbxl_database.csv"
STATEMENTS_FILE = "scp_statements.csv"
#: Sampling rate -> the column naming its record files.
RATE_COLUMNS: dict[int, str] = {500: "filename_hr", 100: "filename_lr"}
REQUIRED_COLUMNS: tuple[str, ...] = (
    "ecg_id",
    "patient_id",
    "age",
    "sex",
    "scp_codes",
    "strat_fold",
    "filename_lr",
    "filename_hr",
)
#: Columns copied into ``Record.meta['ptbxl']`` when present.
EXTRA_COLUMNS: tuple[str, ...] = (
    "heart_axis",
    "validated_by_human",
    "baseline_drift",
    "static_noise",
    "burst_noise",
    "electrodes_problems",
    "extra_beats",
    "pacemaker",
)
#: PTB-XL's code for an age above 89, and the age we read it as.
AGE_OVER_89 = 300
AGE_OVER_89_YEARS = 90.0
SEX_CODES: dict[int, str] = {0: "M", 1: "F"}


def read_age(value: Any) -> float | None:
    """Age in years from the ``age`` column: 300 (above 89) -> 90.0; NaN or outside 0-120 -> None."""
    try:
        age = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(age):
        return None
    if age == AGE_OVER_89:
        return AGE_OVER_89_YEARS
    return age if 0 <= age <= 120 else None


def read_sex(value: Any) -> str | None:
    """``'M'`` (0) or ``'F'`` (1) from the ``sex`` column; None for anything else."""
    code = _whole(value)
    return None if code is None else SEX_CODES.get(code)


def _whole(value: Any) -> int | None:
    """A whole number written as an integer or a float (``'15709.0'``); None for anything else."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) and number == int(number) else None


def patient_key(value: Any) -> str | None:
    """``ptbxl/<id>`` from the ``patient_id`` column (``'15709.0'`` -> ``'ptbxl/15709'``); None when missing."""
    pid = _whole(value)
    return None if pid is None else f"{SOURCE}/{pid}"


def parse_scp_codes(text: Any) -> dict[str, float]:
    """``{code: likelihood}`` from an ``scp_codes`` cell (a Python dict literal); ``ValueError`` if it is not one."""
    try:
        value = ast.literal_eval(str(text))
    except (ValueError, SyntaxError) as exc:
        raise ValueError(f"scp_codes {str(text)[:80]!r} is not a dict literal ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise ValueError(f"scp_codes {str(text)[:80]!r} is a {type(value).__name__}, not a dict")
    out: dict[str, float] = {}
    for code, likelihood in value.items():
        if not isinstance(code, str) or not code.strip():
            raise ValueError(f"scp_codes key {code!r} is not a statement code")
        if isinstance(likelihood, bool) or not isinstance(likelihood, (int, float)) or not 0 <= likelihood <= 100:
            raise ValueError(f"scp_codes likelihood {likelihood!r} of {code!r} is not a number in [0, 100]")
        out[code.strip()] = float(likelihood)
    return out


def read_statements(root: str | os.PathLike[str]) -> pd.DataFrame:
    """``scp_statements.csv`` indexed by statement code (``FileNotFoundError`` naming the file if absent)."""
    path = Path(root) / STATEMENTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"ptbxl: {path} does not exist (download ptb-xl with its CSV files)")
    table = pd.read_csv(path, index_col=0)
    table.index = table.index.astype(str).str.strip()
    return table


def read_database(root: str | os.PathLike[str]) -> pd.DataFrame:
    """``ptbxl_database.csv`` sorted by ``ecg_id``; ``FileNotFoundError`` or ``ValueError`` naming the file."""
    path = Path(root) / DATABASE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"ptbxl: {path} does not exist (download ptb-xl with its CSV files)")
    table = pd.read_csv(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"ptbxl: {path} lacks the column(s) {missing} (has {list(table.columns)})")
    if table["ecg_id"].isna().any() or table["ecg_id"].duplicated().any():
        raise ValueError(f"ptbxl: {path} has missing or duplicate ecg_id values")
    table["ecg_id"] = table["ecg_id"].astype(np.int64)
    return table.sort_values("ecg_id", kind="stable").reset_index(drop=True)


def patients_across_folds(table: pd.DataFrame) -> dict[str, list[int]]:
    """Patients (``ptbxl/<id>``) whose ECGs lie in more than one ``strat_fold``, with their folds."""
    keys = table["patient_id"].map(patient_key)
    folds = pd.to_numeric(table["strat_fold"], errors="coerce")
    frame = pd.DataFrame({"patient": keys, "fold": folds}).dropna()
    spread = frame.groupby("patient")["fold"].unique()
    return {str(p): sorted(int(f) for f in fs) for p, fs in spread.items() if len(fs) > 1}


def read_ptbxl(root: str | os.PathLike[str], rate: int = 500) -> Iterator[Record | RecordError]:
    """Every ECG of PTB-XL under ``root`` at ``rate`` Hz (500: ``records500/``; 100: ``records100/``), in
    ``ecg_id`` order: a :class:`Record` (age, sex, patient, ``meta['scp_codes']``, ``meta['strat_fold']``
    from the table), or a :class:`RecordError` naming ``ptbxl/<ecg_id>`` and the reason (record file missing
    or unreadable, patient id or fold missing, patient in several folds).

    No usability check is made here (sampling rate, NaN, flat leads): ``read_source('ptbxl', ...)`` adds them.
    A missing CSV or records folder raises ``FileNotFoundError`` (a set-up problem, not a bad record).
    """
    if int(rate) not in RATE_COLUMNS:
        raise ValueError(f"ptbxl: rate must be one of {sorted(RATE_COLUMNS)} Hz, got {rate!r}")
    column = RATE_COLUMNS[int(rate)]
    root = Path(root)
    table = read_database(root)
    known_codes = set(read_statements(root).index)
    folder = root / f"records{int(rate)}"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"ptbxl: {folder} does not exist; download it (physionet include pattern 'records{int(rate)}/*') "
            f"or read the other rate (option rate: {', '.join(str(r) for r in RATE_COLUMNS if r != int(rate))})"
        )
    spread = patients_across_folds(table)
    extra = [c for c in EXTRA_COLUMNS if c in table.columns]
    for row in table.to_dict("records"):
        rid = f"{SOURCE}/{int(row['ecg_id'])}"
        pid = patient_key(row["patient_id"])
        if pid is None:
            yield RecordError(rid, f"missing or invalid patient_id {row['patient_id']!r} in {DATABASE_FILE}")
            continue
        if pid in spread:
            yield RecordError(
                rid,
                f"patient {pid} has ECGs in strat_folds {spread[pid]}; PTB-XL's folds are patient-disjoint, "
                "so this table is not a valid PTB-XL release",
            )
            continue
        fold = _whole(row["strat_fold"])
        if fold is None:
            yield RecordError(rid, f"missing or invalid strat_fold {row['strat_fold']!r} in {DATABASE_FILE}")
            continue
        filename = str(row[column]) if isinstance(row[column], str) else ""
        if not filename:
            yield RecordError(rid, f"no {column} in {DATABASE_FILE}")
            continue
        try:
            rec = read_wfdb_record(root / filename, rid, patient_id=pid, source=SOURCE)
        except RecordError as err:
            yield err
            continue
        rec.age = read_age(row["age"])
        rec.sex = read_sex(row["sex"])
        rec.meta.update(
            {
                "path": filename,
                "ecg_id": int(row["ecg_id"]),
                "strat_fold": int(fold),
                "age_text": None if pd.isna(row["age"]) else str(row["age"]),
                "sex_text": None if pd.isna(row["sex"]) else str(row["sex"]),
                "ptbxl": {c: _plain(row[c]) for c in extra},
            }
        )
        _set_codes(rec, row["scp_codes"], known_codes)
        yield rec


def _set_codes(rec: Record, cell: Any, known: set[str]) -> None:
    """``meta['scp_codes']`` and ``diagnoses`` from the ``scp_codes`` cell, or ``meta['label_error']``."""
    try:
        codes = parse_scp_codes(cell)
    except ValueError as exc:
        rec.meta.update(scp_codes=None, label_error=f"unparseable label: {exc}")
        return
    unknown = sorted(set(codes) - known)
    if unknown:
        rec.meta.update(scp_codes=None, label_error=f"unknown SCP code(s) {unknown} (not in {STATEMENTS_FILE})")
        return
    rec.meta["scp_codes"] = codes
    rec.diagnoses = tuple(codes)


def _plain(value: Any) -> Any:
    """A table cell as a JSON-friendly value (NaN -> None, numpy scalars -> Python)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if isinstance(value, np.generic) else value
