"""A folder of WFDB records that the user labels with a table: the ``folder`` source.

Any WFDB records (``<name>.hea`` with their signal files), directly in the folder or in sub-folders at any
depth, are read by :func:`ecgdiff.data.records.read_wfdb_record` (so every reader check applies). The
labels come from a CSV table the user gives (option ``labels``), one row per record::

    record,label,age,sex,patient
    ecg_0001,healthy,54,F,p01
    group_b/ecg_0002,mi,71,M,p02

- ``record``: the record's path relative to the folder without extension (``group_b/ecg_0002``), or its
  name alone when that is unique in the folder (``ecg_0002``);
- ``label``: one of :data:`ecgdiff.data.labels.LABELS` (or ``rbbb``/``lbbb``), kept in ``meta['label']``;
- ``age`` (years), ``sex`` (``M``/``F``/``male``/``female``), ``patient``: optional columns; when present and
  filled they replace the header's age and sex, and give the patient (several records of one patient then
  share a split). Without ``patient`` each record is its own patient.

Records are ``<name>/<record path>`` (``name`` option, default ``folder``: the ``source`` column of the beat
database; it must differ from the other source names, whose labelling rules it would take). Rows whose
record is not in the folder, records without a row and unreadable table cells become :class:`RecordError`
rows naming the table; a table that cannot be read at all raises ``ValueError`` naming it (there is
nothing to label the records with).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from .labels import LABELS, META_ALIASES
from .records import Record, RecordError, SourceProblem, parse_age, parse_sex, read_wfdb_record

#: Columns of the labels table (the first two are required).
COLUMNS: tuple[str, ...] = ("record", "label", "age", "sex", "patient")


def find_records(root: str | os.PathLike[str]) -> list[str]:
    """Relative paths (``/``-separated, no extension) of every ``.hea`` under ``root``, in name order."""
    root = Path(root)
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.hea") if p.is_file())


def read_labels(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The labels table (strings, stripped); ``ValueError`` naming the file when it is unreadable or lacks
    ``record``/``label``, has unknown columns or lists a record twice."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"folder: labels table {path} does not exist")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"folder: labels table {path} is not a CSV table ({type(exc).__name__}: {exc})") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in COLUMNS[:2] if c not in table.columns]
    unknown = [c for c in table.columns if c not in COLUMNS]
    if missing or unknown:
        raise ValueError(
            f"folder: labels table {path} must have the columns record, label[, age, sex, patient]; "
            f"missing {missing}, unknown {unknown}"
        )
    table = table.apply(lambda col: col.str.strip())
    twice = table["record"][table["record"].duplicated()].tolist()
    if twice:
        raise ValueError(f"folder: labels table {path} lists record(s) {twice[:5]} more than once")
    return table


def read_folder(
    root: str | os.PathLike[str], labels: str | os.PathLike[str] | None, name: str = "folder"
) -> Iterator[Record | RecordError]:
    """Every WFDB record under ``root`` (see the module docstring), labelled by the table ``labels``."""
    from .records import READERS

    if labels is None:
        raise ValueError("folder: the option 'labels' (path of the labels table) is required")
    if name in READERS and name != "folder" or name == "synthetic":
        raise ValueError(f"folder: name {name!r} is a source name with its own labelling rules; choose another")
    root = Path(root)
    table = read_labels(labels)
    paths = find_records(root)
    if not paths:
        raise FileNotFoundError(f"folder: {root} holds no WFDB header (<record>.hea)")
    by_stem: dict[str, list[str]] = {}
    for rel in paths:
        by_stem.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)
    rows: dict[str, dict[str, str]] = {}
    for row in table.to_dict("records"):
        key = row["record"].removesuffix(".hea")
        if key in paths:
            rel = key
        elif len(by_stem.get(key, [])) == 1:
            rel = by_stem[key][0]
        else:
            where = f"several records are named {key!r}: {by_stem[key]}" if key in by_stem else "no such record"
            yield SourceProblem(name, labels, f"{labels}: row for record {row['record']!r} not used ({where})")
            continue
        rows[rel] = row
    for rel in paths:
        rid = f"{name}/{rel}"
        row = rows.get(rel)
        if row is None:
            yield RecordError(rid, f"no row for this record in the labels table {labels}")
            continue
        label = META_ALIASES.get(row["label"].lower(), row["label"].lower())
        if label not in LABELS:
            yield RecordError(rid, f"label {row['label']!r} in {labels} is not one of {', '.join(LABELS)}")
            continue
        patient = row.get("patient") or ""
        try:
            rec = read_wfdb_record(root / rel, rid, patient_id=f"{name}/{patient}" if patient else rid, source=name)
        except RecordError as err:
            yield err
            continue
        rec.meta["label"] = row["label"].lower()
        if row.get("age"):
            rec.age = parse_age(row["age"])
            rec.meta["age_text"] = row["age"]
        if row.get("sex"):
            rec.sex = parse_sex(row["sex"])
            rec.meta["sex_text"] = row["sex"]
        rec.meta["labels_table"] = str(labels)
        yield rec
