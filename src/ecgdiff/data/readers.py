"""One ECG record from a file, whatever its format: WFDB, CSV or EDF/EDF+, into a :class:`~.records.Record`.

:func:`read_record` is what a researcher's own recording goes through (the ``ecgdiff`` command line): the
signal comes out in millivolts, one row per lead, named by :func:`ecgdiff.leads.canonical`, with the patient's
age and sex when the file gives them (or the caller does). Folder-level sources (LUDB, CinC 2021, PTB-XL) have
their readers in :mod:`.records`; this module reads single files only.

Formats (``fmt``; guessed from the file name when None):

- ``wfdb``: a header ``NAME.hea`` and its signal files (the path may name the header, a signal file, or the
  record without extension). Read by :func:`.records.read_wfdb_record` (units converted, header quirks
  handled, file sizes checked); age and sex from its comment lines.
- ``csv``: one column per lead (separated by commas, semicolons, tabs or spaces: the first of them found in the
  header line), the first line the lead names; a unit may follow a name in brackets
  (``V1 [uV]``, ``I (mV)``; default millivolts); columns named ``time``, ``t``, ``time_s``, ``seconds``,
  ``sample`` or ``index`` are ignored. CSV files carry no sampling rate: ``fs`` is required. Numbers are parsed
  with pandas' round-trip float parser, so that a file written with 17 significant digits reads back exactly.
- ``edf``: EDF or EDF+ (and BDF) through pyedflib, physical values converted to millivolts from each channel's
  physical dimension (``uV``, ``mV``, ``V``; :data:`.records.UNIT_TO_MV`); sex and birth date from the EDF+
  patient field, the age at the recording's start date. All selected channels must share one sampling rate.

Channels: every channel whose label is a lead name (any case and the usual decorations, ``v1``, ``V1-``,
``ECG II``, ``Lead I``; modified leads such as MIT-BIH's ``MLII`` read as the standard lead they approximate and
are listed in ``meta['approximations']``) is kept, in the file's order; other channels (respiration, ``EDF
Annotations``, a second lead of the same name) are ignored and listed in ``meta['ignored_channels']`` with the
reason. ``channels`` picks channels instead, in the order given: each item a file label (``"MLII"``), a lead
name (``"II"``) or ``"LABEL=LEAD"`` to name a channel whose label is not a lead (``"CH3=V1"``).

Age and sex: ``age``/``sex`` arguments override the file's (``meta['age_source']``, ``meta['sex_source']``
say where each came from: ``argument``, ``header`` or None when unknown).

Errors: :class:`ReadError` (a :class:`.records.RecordError` whose identifier is the file's path) names the file
and the problem: missing or unreadable file, unknown format, no lead channel, unknown units, a missing or
conflicting sampling rate, non-numeric or non-finite samples.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import leads as L
from .records import UNIT_TO_MV, Record, RecordError, parse_age, parse_sex, read_wfdb_record

#: The formats :func:`read_record` reads.
FORMATS: tuple[str, ...] = ("wfdb", "csv", "edf")
_EXTENSIONS = {
    ".hea": "wfdb",
    ".dat": "wfdb",
    ".mat": "wfdb",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".edf": "edf",
    ".rec": "edf",
    ".bdf": "edf",
}
_TIME_COLUMNS = {"time", "t", "time_s", "times", "seconds", "second", "sec", "s", "sample", "samples", "index"}
_UNIT_IN_NAME = re.compile(r"^\s*(.*?)\s*[\[(]\s*([^\])]+?)\s*[\])]\s*$")


class ReadError(RecordError):
    """A file that cannot be read as an ECG record; the message starts with the file's path and says why."""

    def __init__(self, path: str | os.PathLike[str], reason: str):
        super().__init__(str(path), reason)
        self.path = Path(path)


def detect_format(path: str | os.PathLike[str]) -> str:
    """``wfdb``, ``csv`` or ``edf`` from the file name (a path without extension is WFDB when ``PATH.hea`` exists)."""
    p = Path(path)
    fmt = _EXTENSIONS.get(p.suffix.lower())
    if fmt is not None:
        return fmt
    if p.with_name(p.name + ".hea").is_file():
        return "wfdb"
    raise ReadError(
        p, f"cannot tell the format from the name (extension {p.suffix or 'none'}): pass fmt / --format {FORMATS}"
    )


def read_record(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    channels: Sequence[str] | None = None,
    fs: float | None = None,
    age: float | None = None,
    sex: str | None = None,
) -> Record:
    """Read one ECG file into a :class:`~.records.Record` in millivolts; see the module docstring.

    Args:
        path: the file (WFDB: the header, a signal file or the record name without extension).
        fmt: ``wfdb``, ``csv`` or ``edf`` (None: :func:`detect_format`).
        channels: channels to keep, in this order (file labels, lead names or ``LABEL=LEAD``); None: every lead.
        fs: sampling rate in Hz: required for CSV; for the other formats it must agree with the file's.
        age, sex: the patient's age (years) and sex (``M``/``F``, ``male``/``female``), overriding the file's.

    Raises:
        ReadError: naming the file and what is wrong with it.
    """
    p = Path(path)
    fmt = detect_format(p) if fmt is None else str(fmt).lower()
    if fmt not in FORMATS:
        raise ReadError(p, f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if fmt == "wfdb":
        raw = _read_wfdb(p)
    elif fmt == "csv":
        raw = _read_csv(p, fs)
    else:
        raw = _read_edf(p, channels)
    names, signal, file_fs, info = raw
    if fs is not None and fmt != "csv" and abs(float(fs) - file_fs) > 1e-9 * file_fs:
        raise ReadError(p, f"sampling rate {fs:g} Hz was given but the file says {file_fs:g} Hz")
    if signal.ndim != 2 or signal.shape[0] != len(names):
        raise ReadError(p, f"signal of shape {signal.shape} for {len(names)} channels")
    if signal.shape[1] < 2:
        raise ReadError(p, f"{signal.shape[1]} sample(s): no signal")
    leads, rows, notes = select_channels(names, channels, p)
    x = np.ascontiguousarray(signal[rows], dtype=np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        k, t = np.argwhere(bad)[0]
        raise ReadError(p, f"non-finite sample in channel {names[rows[k]]!r} at sample {t} ({int(bad.sum())} in all)")
    rec_age, rec_sex = info.pop("age", None), info.pop("sex", None)
    meta: dict[str, Any] = {
        "path": str(p),
        "format": fmt,
        "channels": list(names),
        "selected_channels": [names[r] for r in rows],
        **notes,
        **info,
    }
    meta["age_source"] = "argument" if age is not None else ("header" if rec_age is not None else None)
    meta["sex_source"] = "argument" if sex is not None else ("header" if rec_sex is not None else None)
    if age is not None:
        a = parse_age(age)
        if a is None:
            raise ReadError(p, f"age {age!r} is not an age in years (0-120)")
        if rec_age is not None and abs(rec_age - a) > 1:
            meta["age_note"] = f"the file says {rec_age:g}; the given {a:g} is used"
        rec_age = a
    if sex is not None:
        s = parse_sex(str(sex))
        if s is None:
            raise ReadError(p, f"sex {sex!r} is not one of M, F (male, female)")
        if rec_sex is not None and rec_sex != s:
            meta["sex_note"] = f"the file says {rec_sex}; the given {s} is used"
        rec_sex = s
    rid = p.with_suffix("").name if fmt == "wfdb" and p.suffix.lower() in (".hea", ".dat", ".mat") else p.stem
    return Record(
        record_id=rid,
        patient_id=rid,
        source=fmt,
        fs=float(file_fs),
        signal=x,
        leads=leads,
        age=rec_age,
        sex=rec_sex,
        diagnoses=tuple(info.get("diagnoses", ())),
        meta=meta,
    )


def select_channels(
    names: Sequence[str], channels: Sequence[str] | None, path: str | os.PathLike[str] = ""
) -> tuple[tuple[str, ...], list[int], dict[str, Any]]:
    """Canonical lead names, row indices and notes (``ignored_channels``, ``approximations``) of the channels kept.

    See the module docstring for the rules; raises :class:`ReadError` naming ``path`` when no channel is a lead,
    or when a requested channel does not exist or names no lead.
    """
    names = [str(n) for n in names]
    ignored: dict[str, str] = {}
    approx: dict[str, str] = {}
    leads: list[str] = []
    rows: list[int] = []

    def lead_of(label: str) -> str:
        lead = L.canonical(label, modified=True)
        if L.is_modified(label):
            approx[label] = f"modified lead read as {lead}"
        return lead

    if channels is None:
        for k, name in enumerate(names):
            try:
                lead = lead_of(name)
            except L.LeadError:
                ignored[name] = "not a lead name"
                continue
            if lead in leads:
                ignored[name] = f"a second channel of lead {lead}"
                approx.pop(name, None)
                continue
            leads.append(lead)
            rows.append(k)
        if not leads:
            raise ReadError(
                path,
                f"no channel is an ECG lead (channels {names}); name them with channels / --channels LABEL=LEAD",
            )
    else:
        lower = {n.strip().lower(): k for k, n in reversed(list(enumerate(names)))}
        for item in channels:
            label, _, as_lead = str(item).partition("=")
            label = label.strip()
            k = lower.get(label.lower())
            if k is None:  # a lead name: the channel whose label is that lead
                try:
                    want = L.canonical(label, modified=True)
                except L.LeadError:
                    raise ReadError(path, f"no channel {label!r} (channels {names})") from None
                matches = [j for j, n in enumerate(names) if _is_lead(n, want)]
                if not matches:
                    raise ReadError(path, f"no channel of lead {want} (channels {names})")
                k = matches[0]
            try:
                lead = L.canonical(as_lead, modified=True) if as_lead else lead_of(names[k])
            except L.LeadError as exc:
                raise ReadError(path, f"channel {names[k]!r}: {exc}; name it with LABEL=LEAD") from None
            if lead in leads:
                raise ReadError(path, f"lead {lead} selected twice (channels {list(channels)})")
            leads.append(lead)
            rows.append(k)
        for k, name in enumerate(names):
            if k not in rows:
                ignored[name] = "not selected"
    notes: dict[str, Any] = {"ignored_channels": ignored}
    if approx:
        notes["approximations"] = approx
    return tuple(leads), rows, notes


def _is_lead(label: str, lead: str) -> bool:
    try:
        return L.canonical(label, modified=True) == lead
    except L.LeadError:
        return False


# ----------------------------------------------------------------------------- formats
def _read_wfdb(p: Path) -> tuple[list[str], np.ndarray, float, dict[str, Any]]:
    base = p.with_suffix("") if p.suffix.lower() in (".hea", ".dat", ".mat") else p
    if not base.with_name(base.name + ".hea").is_file():
        raise ReadError(p, f"WFDB header {base.name}.hea not found in {base.parent}")
    try:
        rec = read_wfdb_record(base, str(p), source="wfdb", strict_leads=False)
    except RecordError as exc:
        raise ReadError(p, exc.reason) from None
    names = [str(n) for n in rec.meta.get("original_leads", rec.leads)]
    info = {
        "units": dict(zip(names, [str(u) for u in rec.meta.get("units") or ["mV"] * len(names)])),
        "age": rec.age,
        "sex": rec.sex,
        "diagnoses": list(rec.diagnoses),
        "header_fields": rec.meta.get("header_fields", {}),
    }
    return names, rec.signal, rec.fs, info


def _read_csv(p: Path, fs: float | None) -> tuple[list[str], np.ndarray, float, dict[str, Any]]:
    import pandas as pd

    if not p.is_file():
        raise ReadError(p, "file not found")
    if fs is None:
        raise ReadError(p, "a CSV file carries no sampling rate: pass fs / --fs (Hz)")
    if not (np.isfinite(fs) and fs > 0):
        raise ReadError(p, f"sampling rate {fs!r} is not a positive number of Hz")
    try:
        with open(p, encoding="utf-8", errors="replace") as f:
            header = next((ln for ln in f if ln.strip() and not ln.lstrip().startswith("#")), "")
        sep = next((c for c in ("\t", ";", ",") if c in header), r"\s+")
        table = pd.read_csv(p, sep=sep, engine="c", float_precision="round_trip", comment="#")
    except Exception as exc:  # pandas raises several types for malformed text
        raise ReadError(p, f"cannot parse as CSV: {exc}") from None
    names, units, cols = [], {}, []
    for col in table.columns:
        label, unit = str(col).strip(), "mV"
        m = _UNIT_IN_NAME.match(label)
        if m:
            label, unit = m.group(1), m.group(2)
        if label.lower() in _TIME_COLUMNS:
            continue
        key = unit.strip().lower()
        if key not in UNIT_TO_MV:
            raise ReadError(p, f"column {col!r}: unknown unit {unit!r}; known: {', '.join(sorted(UNIT_TO_MV))}")
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            row = int(bad[0]) + 2  # 1-based, after the header line
            raise ReadError(p, f"column {col!r}: missing or non-numeric value on line {row} ({len(bad)} in all)")
        names.append(label)
        units[label] = unit
        cols.append(values * UNIT_TO_MV[key])
    if not cols:
        raise ReadError(p, f"no signal column (columns {list(table.columns)})")
    return names, np.stack(cols), float(fs), {"units": units}


def _read_edf(p: Path, channels: Sequence[str] | None) -> tuple[list[str], np.ndarray, float, dict[str, Any]]:
    """Every label of the file; the signal rows of the channels :func:`select_channels` keeps (others NaN, unread:
    a respiration or annotation channel may have any unit and rate)."""
    try:
        import pyedflib
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ReadError(p, "reading EDF needs pyedflib (pip install pyedflib)") from exc
    if not p.is_file():
        raise ReadError(p, "file not found")
    try:
        f = pyedflib.EdfReader(str(p))
    except Exception as exc:  # pyedflib raises OSError with its own messages
        raise ReadError(p, f"cannot read as EDF/EDF+/BDF: {exc}") from None
    try:
        labels = [str(s).strip() for s in f.getSignalLabels()]
        _, picked, _ = select_channels(labels, channels, p)
        rates = np.asarray(f.getSampleFrequencies(), dtype=np.float64)
        rate_of = {labels[k]: float(rates[k]) for k in picked}
        if len(set(rate_of.values())) > 1:
            raise ReadError(p, f"lead channels have different sampling rates {rate_of}: pick channels of one rate")
        lengths = np.asarray(f.getNSamples())
        signals = np.full((len(labels), int(lengths[picked].max())), np.nan)
        dims = {}
        for k in picked:
            dims[labels[k]] = str(f.getPhysicalDimension(k)).strip()
            unit = dims[labels[k]].lower()
            if unit not in UNIT_TO_MV:
                raise ReadError(
                    p, f"channel {labels[k]!r}: unknown physical dimension {dims[labels[k]]!r} (expected uV, mV or V)"
                )
            signals[k, : lengths[k]] = f.readSignal(k) * UNIT_TO_MV[unit]
        header = f.getHeader()
        start = f.getStartdatetime()
    finally:
        f.close()
    info: dict[str, Any] = {
        "units": dims,
        "sex": parse_sex(header.get("sex") or header.get("gender")),
        "age": _edf_age(header.get("birthdate"), start),
        "start": start.isoformat() if isinstance(start, _dt.datetime) else None,
    }
    return labels, signals, float(rates[picked[0]]), info


def _edf_age(birthdate: Any, start: Any) -> float | None:
    """Age in years at the recording's start from an EDF+ birth date (``'02 may 1951'``); None when unknown."""
    if not birthdate or not isinstance(start, _dt.datetime):
        return None
    if isinstance(birthdate, _dt.date):
        born = birthdate
    else:
        try:
            born = _dt.datetime.strptime(str(birthdate).strip(), "%d %b %Y").date()
        except ValueError:
            return None
    years = (start.date() - born).days / 365.2425
    return parse_age(float(np.floor(years)))
