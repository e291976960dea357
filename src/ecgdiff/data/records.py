"""The common record type that every data source is read into, the error that names a bad record, and the
readers of the PhysioNet sources.

Readers for each source (LUDB, PhysioNet/CinC 2021, the synthetic cohort, QT/MIT-BIH databases)
return :class:`Record` objects with physical units (millivolts) and canonical lead names, so that
beat extraction never needs to know where a record came from.

- :func:`read_wfdb_record`: one WFDB record (header quirks handled, file sizes checked, units converted).
- :func:`check_record`: the usability checks (sampling rate, NaN/flat leads, lead set, age, sex).
- :func:`read_source`: every record of LUDB, the PhysioNet/CinC Challenge 2021 or PTB-XL
  (:mod:`ecgdiff.data.ptbxl`), yielding a :class:`RecordError` instead of raising for each record that
  cannot be used; :func:`iter_records` adds the synthetic cohort.
- :func:`read_reference_beats`: a record and its reference beat positions (MIT-BIH, QT database, LUDB),
  for validating R-peak detection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import wfdb

from .. import leads as ecg_leads

log = logging.getLogger(__name__)


class RecordError(ValueError):
    """A record that cannot be used; the message starts with the record's identifier and says why."""

    def __init__(self, record_id: str, reason: str):
        super().__init__(f"{record_id}: {reason}")
        self.record_id = record_id
        self.reason = reason


class SourceProblem(RecordError):
    """A problem of a source's folder (its record list or a table), not of one record.

    ``record_id`` is ``<source>/<file name>`` and the message names the file; the reader goes on with the
    good records. The beat database lists it in ``rejects.csv`` with stage ``folder``.
    """

    def __init__(self, source: str, path: str | os.PathLike[str], reason: str):
        super().__init__(f"{source}/{Path(path).name}", reason)
        self.path = str(path)


@dataclass
class Record:
    """One multi-lead ECG recording with the patient's metadata.

    Attributes:
        record_id: unique identifier, ``<source>/<name>`` (e.g. ``ludb/17``, ``cinc2021/georgia/E00001``).
        patient_id: identifier of the patient (splits are made on it); equals ``record_id`` when a
            source has one record per patient.
        source: data source name (``synthetic``, ``ludb``, ``cinc2021``, ...).
        fs: sampling frequency in Hz.
        signal: ``[n_leads, n_samples]`` float array in millivolts.
        leads: canonical lead names of the rows of ``signal`` (see :mod:`ecgdiff.leads`).
        age: age in years, or None when unknown.
        sex: ``"M"``, ``"F"`` or None when unknown.
        diagnoses: the source's diagnosis statements: SNOMED-CT codes (CinC 2021) or text (LUDB).
        meta: anything else worth keeping (file paths, original header fields, simulator parameters).
    """

    record_id: str
    patient_id: str
    source: str
    fs: float
    signal: np.ndarray
    leads: tuple[str, ...]
    age: float | None = None
    sex: str | None = None
    diagnoses: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.signal.shape[-1] / float(self.fs)


# ================================================================== reading WFDB records

#: Physical units accepted in headers, as the factor that converts them to millivolts.
UNIT_TO_MV: dict[str, float] = {
    "mv": 1.0,
    "millivolt": 1.0,
    "millivolts": 1.0,
    "uv": 1e-3,
    "µv": 1e-3,
    "μv": 1e-3,
    "microvolt": 1e-3,
    "microvolts": 1e-3,
    "v": 1e3,
    "volt": 1e3,
    "volts": 1e3,
    "nv": 1e-6,
}

#: Bytes per sample of the WFDB signal formats whose file size follows from the header.
_BYTES_PER_SAMPLE: dict[str, float] = {
    "8": 1,
    "16": 2,
    "61": 2,
    "80": 1,
    "160": 2,
    "212": 1.5,
    "24": 3,
    "32": 4,
    "310": 4 / 3,
    "311": 4 / 3,
}

_RECORD_NAME = re.compile(r"^[-\w]+$")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
#: The sampling-frequency field of a WFDB record line: ``fs[/counter_freq[(base_counter)]]``.
_FS_FIELD = re.compile(rf"^{_NUMBER}(?:/{_NUMBER}(?:\({_NUMBER}\))?)?$")

#: Digital sample range ``(lowest, highest)`` of the WFDB signal formats (WFDB's signal(5) manual). For
#: formats 16, 61, 160, 212, 310, 311, 24 and 32 the lowest value is the invalid-sample code (read as NaN),
#: so the lowest valid value, the negative rail, is one above it.
DIGITAL_RANGE: dict[str, tuple[int, int]] = {
    "80": (-128, 127),
    "212": (-2048, 2047),
    "310": (-512, 511),
    "311": (-512, 511),
    "16": (-32768, 32767),
    "61": (-32768, 32767),
    "160": (-32768, 32767),
    "24": (-(2**23), 2**23 - 1),
    "32": (-(2**31), 2**31 - 1),
}


def read_wfdb_record(
    path: str | os.PathLike[str],
    record_id: str,
    patient_id: str | None = None,
    source: str = "",
    *,
    strict_leads: bool = True,
    skip_leads: Sequence[str] = (),
) -> Record:
    """Read one WFDB record (``path`` without extension, or ending in ``.hea``) into a :class:`Record`.

    The signal is returned in millivolts (headers in uV or V are converted) with rows named by
    canonical lead names (:func:`ecgdiff.leads.canonical`). Age, sex and diagnoses are taken from the
    header comments when present, in either of the two styles PhysioNet databases use::

        #Age: 74          #<age>: 51            (CinC 2021 / LUDB)
        #Sex: Male        #<sex>: F
        #Dx: 164889003,59118001                 (SNOMED-CT codes, comma-separated)
        #<diagnoses>:     followed by one statement per comment line (LUDB)

    and the MIT-BIH style first comment ``69 M 1085 1629 x1``. Ages ``NaN``/``Unknown``/empty are
    missing (None); ``>89`` (de-identified ages, LUDB) reads as 90, the value the LUDB header of the
    same record gives; ages outside 0-120 are treated as missing.

    Quirks handled without touching the files: a record line that names the record with a file
    extension (``E00271.mat 12 500 5000``, some PhysioNet/CinC 2021 Georgia headers), which wfdb
    rejects, is read through a corrected copy of the header in a temporary folder.

    ``skip_leads``: signal names (any case) that are not read at all, nor their signal files required
    when no other signal shares them: the Frank leads ``vx, vy, vz`` that the PTB Diagnostic ECG Database
    stores in a separate ``.xyz`` file.

    Raises :class:`RecordError` (naming ``record_id``) for a missing header or signal file, a signal
    file shorter than its header says (truncated), a signal file that does not match its header
    (sample count, number of signals), a record line whose signal count, sampling frequency or length
    is not a number (wfdb would silently read ``abc`` as its default 250 Hz), a gain of 0 (WFDB's
    "uncalibrated", which wfdb silently reads as 200 units/mV) or a negative gain (every sample inverted),
    unknown units, unknown lead names (``strict_leads``) unless the 12 standard leads are all present (then the
    extra signals are not read: ``meta['dropped_leads']`` and ``meta['lead_note']`` name them), or anything
    else wfdb cannot read. With
    ``strict_leads=False`` lead names that are not standard 12-lead names (``MLII``, ``CM5``, ...) are
    kept as they are (used for validation databases).

    ``meta['rails_mv']`` holds, per lead, the physical values of the format's lowest valid and highest
    digital sample (the ADC rails; None for formats without a fixed range), for
    :func:`ecgdiff.data.quality.check_signal`.

    Usability checks (sampling rate, NaN/flat leads, missing leads, age, sex) are made separately by
    :func:`check_record`.
    """
    path = Path(path)
    if path.suffix == ".hea":
        path = path.with_suffix("")
    hea = path.parent / f"{path.name}.hea"
    if not hea.is_file():
        raise RecordError(record_id, f"unreadable: header file {hea} missing")
    try:
        text = hea.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise RecordError(record_id, f"unreadable: cannot read header {hea}: {exc}") from exc
    if _is_html(text.encode("ascii", errors="replace")[:512]):
        raise RecordError(
            record_id, f"unreadable: header {hea} is an HTML page, not a WFDB header (a login, error or proxy page?)"
        )
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")), None)
    if first is None:
        raise RecordError(record_id, f"unreadable: header {hea} has no record line")
    fields = lines[first].split()
    _check_record_line(fields, hea, record_id)
    fixed_name: str | None = None
    if fields and not _RECORD_NAME.match(fields[0].split("/")[0]):
        stem = fields[0].split("/")[0].rsplit(".", 1)[0]
        if not _RECORD_NAME.match(stem):
            raise RecordError(record_id, f"unreadable: invalid record name {fields[0]!r} in {hea}")
        fixed_name = stem
        lines[first] = lines[first].replace(fields[0].split("/")[0], path.name, 1)

    skip = {str(n).strip().lower() for n in skip_leads}
    with _header_view(path, lines if fixed_name is not None else None) as read_path:
        try:
            header = wfdb.rdheader(str(read_path))
        except Exception as exc:  # wfdb raises many exception types for malformed headers
            raise RecordError(record_id, f"unreadable: invalid header {hea}: {exc}") from exc
        if getattr(header, "n_seg", None) is not None:
            raise RecordError(record_id, "unreadable: multi-segment records are not supported")
        if not header.n_sig:
            raise RecordError(record_id, f"unreadable: header {hea} declares no signals")
        channels = [k for k, name in enumerate(header.sig_name) if str(name).strip().lower() not in skip]
        if not channels:
            raise RecordError(record_id, f"unreadable: every signal of {hea} is among the skipped {sorted(skip)}")
        dropped = _extra_signals([header.sig_name[k] for k in channels]) if strict_leads else []
        channels = [k for k in channels if header.sig_name[k] not in dropped]
        _check_gains(_raw_gains(lines, first, header.n_sig), header.sig_name, channels, hea, record_id)
        check_signal_files(header, path.parent, record_id, channels)
        try:
            rec = wfdb.rdrecord(str(read_path), physical=True, channels=channels)
        except Exception as exc:
            raise RecordError(record_id, f"unreadable: wfdb cannot read the signal: {exc}") from exc

    signal = np.asarray(rec.p_signal, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[1] != len(channels):
        raise RecordError(
            record_id, f"header/data mismatch: read signal of shape {signal.shape} for {len(channels)} signals"
        )
    if header.sig_len is not None and signal.shape[0] != header.sig_len:
        raise RecordError(
            record_id, f"header/data mismatch: read {signal.shape[0]} samples, header says {header.sig_len}"
        )
    scale = np.empty(len(channels))
    for k, unit in enumerate(rec.units or ["mV"] * len(channels)):
        key = str(unit or "mV").strip().lower()
        if key not in UNIT_TO_MV:
            raise RecordError(record_id, f"unsupported units {unit!r} of signal {rec.sig_name[k]!r}")
        scale[k] = UNIT_TO_MV[key]
    signal = np.ascontiguousarray((signal * scale).T)
    rails = [_rails_mv(header, c, scale[k]) for k, c in enumerate(channels)]

    names = []
    for name in rec.sig_name:
        try:
            names.append(ecg_leads.canonical(name))
        except ecg_leads.LeadError:
            if strict_leads:
                raise RecordError(
                    record_id,
                    f"unknown lead name {name!r} (leads {rec.sig_name}; not every standard lead is present, so it "
                    f"may stand for one: rename it to a lead name)",
                ) from None
            names.append(str(name))
    if len(set(names)) != len(names):
        raise RecordError(record_id, f"duplicate lead names {rec.sig_name}")

    info = parse_header_comments(list(rec.comments or []))
    meta: dict[str, Any] = {
        "path": str(path),
        "header_fields": info["fields"],
        "age_text": info["age_text"],
        "sex_text": info["sex_text"],
        "original_leads": list(rec.sig_name),
        "units": list(rec.units or []),
        "fmt": [header.fmt[c] for c in channels] if header.fmt else [],
        "rails_mv": rails,
    }
    if len(channels) < header.n_sig:
        meta["skipped_leads"] = [header.sig_name[k] for k in range(header.n_sig) if k not in channels]
    if dropped:
        meta["dropped_leads"] = list(dropped)
        meta["lead_note"] = (
            f"non-standard signals {list(dropped)} dropped: the 12 standard leads are all present (file left unchanged)"
        )
    if fixed_name is not None:
        meta["header_fix"] = f"record line names the record {fields[0]!r}; read as {path.name!r} (file left unchanged)"
    return Record(
        record_id=record_id,
        patient_id=patient_id if patient_id is not None else record_id,
        source=source,
        fs=float(rec.fs),
        signal=signal,
        leads=tuple(names),
        age=info["age"],
        sex=info["sex"],
        diagnoses=tuple(info["diagnoses"]),
        meta=meta,
    )


def _extra_signals(names: Sequence[str]) -> list[str]:
    """The signal names among ``names`` that are no lead name (:func:`ecgdiff.leads.canonical`) when the others
    hold every lead of :data:`ecgdiff.leads.STANDARD_12`: extra channels (Frank leads ``vx, vy, vz``, a
    respiration or marker channel) that cannot stand for a standard lead, so dropping them loses nothing. Empty
    when every name is a lead name or when a standard lead is absent (an unknown name might then be that lead
    under another name: the reader refuses it)."""
    known: set[str] = set()
    unknown: list[str] = []
    for name in names:
        try:
            known.add(ecg_leads.canonical(name))
        except ecg_leads.LeadError:
            unknown.append(str(name))
    if unknown and set(ecg_leads.STANDARD_12) <= known:
        return unknown
    return []


def _check_record_line(fields: Sequence[str], hea: Path, record_id: str) -> None:
    """Reject a record line whose signal count, sampling frequency or length is not a number: wfdb reads
    ``fs`` with a regular expression and silently falls back to 250 Hz when the field does not match."""
    if len(fields) < 2 or not fields[1].isdigit():
        got = fields[1] if len(fields) > 1 else None
        raise RecordError(record_id, f"unreadable: header {hea}: number of signals {got!r} is not an integer")
    if len(fields) > 2 and not _FS_FIELD.match(fields[2]):
        raise RecordError(record_id, f"unreadable: header {hea}: sampling frequency {fields[2]!r} is not a number")
    if len(fields) > 2 and float(re.split(r"[/(]", fields[2])[0]) <= 0:
        raise RecordError(record_id, f"unreadable: header {hea}: sampling frequency {fields[2]!r} is not positive")
    if len(fields) > 3 and not fields[3].isdigit():
        raise RecordError(record_id, f"unreadable: header {hea}: number of samples {fields[3]!r} is not an integer")


def _raw_gains(lines: Sequence[str], first: int, n_sig: int) -> list[str | None]:
    """The gain field of each signal line as written (``1000`` of ``1000(0)/mV``; None when absent): wfdb
    replaces a written 0 by its default 200 before anyone can see it."""
    signal_lines = [ln.split() for ln in lines[first + 1 :] if ln.strip() and not ln.lstrip().startswith("#")]
    out: list[str | None] = []
    for fields in signal_lines[:n_sig]:
        out.append(re.split(r"[(/]", fields[2], maxsplit=1)[0] if len(fields) > 2 else None)
    return out


def _check_gains(
    gains: Sequence[str | None], names: Sequence[str], channels: Sequence[int], hea: Path, record_id: str
) -> None:
    """Reject gains that would give wrong millivolts without an error: 0 means "uncalibrated" in WFDB and
    wfdb substitutes its default of 200 units/mV; a negative gain inverts every sample."""
    bad = []
    for k in channels:
        if k >= len(gains) or gains[k] is None:
            continue
        try:
            g = float(gains[k])  # type: ignore[arg-type]
        except ValueError:
            bad.append(f"gain {gains[k]!r} of signal {names[k]!r} is not a number")
            continue
        if not np.isfinite(g):
            bad.append(f"gain {gains[k]!r} of signal {names[k]!r} is not a finite number")
        elif g == 0:
            bad.append(f"gain 0 of signal {names[k]!r} (uncalibrated: the physical scale is unknown)")
        elif g < 0:
            bad.append(f"negative gain {g:g} of signal {names[k]!r} (every sample would be inverted)")
    if bad:
        raise RecordError(record_id, f"invalid gain in header {hea}: " + "; ".join(bad))


def _rails_mv(header: Any, channel: int, unit_scale: float) -> tuple[float, float] | None:
    """Physical values (mV) of the lowest valid and the highest digital sample of a signal's format."""
    fmt = str((header.fmt or [None] * header.n_sig)[channel])
    if fmt not in DIGITAL_RANGE or not header.adc_gain:
        return None
    lo, hi = DIGITAL_RANGE[fmt]
    gain = float(header.adc_gain[channel])
    baseline = float((header.baseline or [0] * header.n_sig)[channel] or 0)
    return ((lo + 1 - baseline) / gain * unit_scale, (hi - baseline) / gain * unit_scale)


@contextlib.contextmanager
def _header_view(path: Path, lines: list[str] | None) -> Iterator[Path]:
    """The record path to hand to wfdb: ``path`` itself, or a temporary folder holding a corrected header
    (``lines``) next to links to the original signal files (the files on disk are never modified)."""
    if lines is None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="ecgdiff-wfdb-") as tmp:
        tmpdir = Path(tmp)
        (tmpdir / f"{path.name}.hea").write_text("\n".join(lines) + "\n", encoding="ascii", errors="replace")
        names = {ln.split()[0] for ln in lines[1:] if ln.strip() and not ln.lstrip().startswith("#")}
        for name in names:
            src = path.parent / name
            dst = tmpdir / name
            if src.exists() and not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.symlink(src.resolve(), dst)
                except OSError:
                    shutil.copyfile(src, dst)
        yield tmpdir / path.name


def _is_html(head: bytes) -> bool:
    """Whether a file's first bytes are a web page's (:func:`ecgdiff.data.physionet.looks_like_html`): a page
    saved where a record's file should be."""
    from .physionet import looks_like_html

    return looks_like_html(head)


def check_signal_files(header: Any, folder: Path, record_id: str, channels: Sequence[int] | None = None) -> None:
    """Compare each signal file's size (and MATLAB v4 matrix header) with what the WFDB header implies.

    Only the files holding one of ``channels`` (all signals when None) must be present; each such file
    is checked with every signal it holds."""
    files: dict[str, list[int]] = {}
    for k, name in enumerate(header.file_name):
        files.setdefault(name, []).append(k)
    wanted = set(range(header.n_sig) if channels is None else channels)
    for name, chans in files.items():
        if not wanted & set(chans):
            continue
        fpath = folder / name
        if not fpath.is_file():
            raise RecordError(record_id, f"unreadable: signal file {fpath} missing")
        with open(fpath, "rb") as f:
            if _is_html(f.read(512)):
                raise RecordError(
                    record_id,
                    f"unreadable: signal file {fpath} is an HTML page, not signal data (a login, error or proxy page?)",
                )
        size = fpath.stat().st_size
        fmts = {str(header.fmt[k]) for k in chans}
        offset = int((header.byte_offset or [None] * header.n_sig)[chans[0]] or 0)
        spf = [int((header.samps_per_frame or [1] * header.n_sig)[k] or 1) for k in chans]
        if name.lower().endswith(".mat") and offset >= 20:
            _check_mat_v4(fpath, len(chans) if sum(spf) == len(chans) else sum(spf), header.sig_len, record_id)
        if header.sig_len is None or not fmts <= _BYTES_PER_SAMPLE.keys():
            continue
        frame_bytes = sum(s * _BYTES_PER_SAMPLE[str(header.fmt[k])] for s, k in zip(spf, chans))
        expected = offset + int(np.ceil(header.sig_len * frame_bytes))
        what = f"{len(chans)} signals x {header.sig_len} samples, format {'/'.join(sorted(fmts))}, offset {offset}"
        if size < expected:
            have = (size - offset) / frame_bytes if frame_bytes else 0
            raise RecordError(
                record_id,
                f"truncated signal file {name}: {size} bytes, header ({what}) needs "
                f"{expected} (about {max(have, 0):.0f} of {header.sig_len} samples present)",
            )
        if size - expected >= max(frame_bytes, 1):
            extra = (size - expected) / frame_bytes
            raise RecordError(
                record_id,
                f"header/data mismatch: signal file {name} has {size} bytes, header "
                f"({what}) implies {expected} ({extra:g} frames more than the header's "
                f"sample count, or a different number of signals)",
            )


def _check_mat_v4(fpath: Path, n_sig: int, sig_len: int | None, record_id: str) -> None:
    """Check the matrix dimensions in a MATLAB v4 signal file against the WFDB header."""
    with open(fpath, "rb") as f:
        head = f.read(20)
    if len(head) < 20:
        raise RecordError(
            record_id, f"truncated signal file {fpath.name}: {len(head)} bytes, shorter than a MATLAB header"
        )
    for order in ("<", ">"):
        mtype, mrows, ncols, imagf, namlen = struct.unpack(f"{order}5i", head)
        if 0 <= mtype < 5000 and imagf in (0, 1) and 0 < namlen < 64:
            break
    else:
        return  # not a MATLAB v4 matrix header: nothing to compare
    if mrows != n_sig or (sig_len is not None and ncols != sig_len):
        raise RecordError(
            record_id,
            f"header/data mismatch: MATLAB matrix in {fpath.name} is {mrows} x {ncols}, "
            f"header says {n_sig} signals x {sig_len} samples",
        )


_KEY_VALUE = re.compile(r"^\s*<?\s*([A-Za-z][A-Za-z0-9 _()/.-]*?)\s*>?\s*:\s*(.*?)\s*$")
_MITBIH_AGE_SEX = re.compile(r"^\s*(\d{1,3}|\?+)\s+([MF]|\?)\b")
_MISSING_TEXT = {"", "nan", "none", "unknown", "?", "??", "n/a", "na", "-1"}


def parse_header_comments(comments: Sequence[str]) -> dict[str, Any]:
    """Age, sex, diagnoses and ``key: value`` fields from WFDB header comment lines (``#`` removed).

    Returns ``{"age", "sex", "diagnoses", "fields", "age_text", "sex_text"}``; see :func:`read_wfdb_record`.
    Keys are lower-cased and may hold parentheses and slashes (the PTB Diagnostic ECG Database's
    ``Acute infarction (localization): inferior``).
    """
    fields: dict[str, str] = {}
    statements: list[str] = []
    in_diagnoses = False
    for raw in comments:
        line = raw.strip().strip("#").strip()
        if not line:
            continue
        if in_diagnoses:
            statements.append(line.rstrip(". ").strip())
            continue
        m = _KEY_VALUE.match(line)
        if m:
            key = m.group(1).strip().lower()
            if key == "diagnoses":
                in_diagnoses = True
                if m.group(2):
                    statements.append(m.group(2).rstrip(". ").strip())
                continue
            fields.setdefault(key, m.group(2))
    age_text = fields.get("age")
    sex_text = fields.get("sex")
    if age_text is None and sex_text is None and comments:
        m = _MITBIH_AGE_SEX.match(comments[0].strip("# "))
        if m:
            age_text, sex_text = m.group(1), m.group(2)
    if "dx" in fields:
        diagnoses = [c.strip() for c in fields["dx"].split(",") if c.strip() and c.strip().lower() not in _MISSING_TEXT]
    else:
        diagnoses = [s for s in statements if s]
    return {
        "age": parse_age(age_text),
        "sex": parse_sex(sex_text),
        "diagnoses": diagnoses,
        "fields": fields,
        "age_text": age_text,
        "sex_text": sex_text,
    }


def parse_age(text: str | float | None) -> float | None:
    """Age in years from header text; None when missing.

    ``'51'`` -> 51.0; ``'NaN'``, ``'Unknown'``, ``''``, ``'?'`` -> None; ``'>89'`` -> 90.0 (ages above 89
    are de-identified as ``>89``: we read the youngest age the statement allows, which is also what the
    LUDB header says for the one such patient); ``'89+'`` -> 89.0; values outside [0, 120] -> None.
    """
    if text is None:
        return None
    if isinstance(text, (int, float, np.number)):
        value = float(text)
    else:
        s = str(text).strip().lower()
        if s in _MISSING_TEXT:
            return None
        m = re.fullmatch(r">\s*=?\s*(\d+(?:\.\d+)?)", s)
        if m:
            value = float(m.group(1)) + (0.0 if "=" in s else 1.0)
        else:
            m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*\+", s)
            s = m.group(1) if m else s
            try:
                value = float(s)
            except ValueError:
                return None
    if not np.isfinite(value) or value < 0 or value > 120:
        return None
    return value


def parse_sex(text: str | None) -> str | None:
    """``'M'``/``'F'`` from ``Male``, ``female``, ``M``, ``F`` (any case); None for anything else."""
    if text is None:
        return None
    s = str(text).strip().lower()
    if s in ("m", "male", "man"):
        return "M"
    if s in ("f", "female", "woman"):
        return "F"
    return None


# ================================================================== usability checks

#: Defaults of the options :func:`read_source` accepts (``leads`` None: no lead-set check).
DEFAULT_OPTIONS: dict[str, Any] = {
    "leads": None,  # lead set the records must provide (recorded or derivable, ecgdiff.leads)
    "min_fs": 250.0,  # Hz: records sampled more slowly are rejected (beats are made at 250 Hz)
    "flat_tol_mv": 0.01,  # a lead whose peak-to-peak amplitude is at most this (mV) is flat (< 0: off)
    "require_age_sex": True,  # reject records without age or sex (the prior is conditioned on both)
}
#: Extra options of the PTB-XL reader (:mod:`ecgdiff.data.ptbxl`).
PTBXL_OPTIONS: dict[str, Any] = {
    "rate": 500,  # Hz: records500/ (filename_hr, the talk's input) or records100/ (filename_lr)
}
#: Extra options of the CinC 2021 reader.
CINC_OPTIONS: dict[str, Any] = {
    "sources": None,  # None: every source folder under training/
    "ptbxl_database": None,  # path of PTB-XL's ptbxl_database.csv: patient ids for the ptb-xl source
}
#: Extra options of the PTB Diagnostic ECG Database reader (:mod:`ecgdiff.data.ptbdb`): none.
PTBDB_OPTIONS: dict[str, Any] = {}
#: Extra options of the generic folder reader (:mod:`ecgdiff.data.folder`).
FOLDER_OPTIONS: dict[str, Any] = {
    "labels": None,  # path of the labels table: record, label[, age, sex, patient] (required)
    "name": "folder",  # record ids are <name>/<record path>; the source column of the beat database
}
CINC_SOURCES: tuple[str, ...] = (
    "cpsc_2018",
    "cpsc_2018_extra",
    "st_petersburg_incart",
    "ptb",
    "ptb-xl",
    "georgia",
    "chapman_shaoxing",
    "ningbo",
)


def check_record(
    record: Record,
    *,
    leads: Sequence[str] | None = None,
    min_fs: float = 250.0,
    flat_tol_mv: float = 0.01,
    require_age_sex: bool = True,
) -> None:
    """Raise :class:`RecordError` listing every reason ``record`` cannot be used (``'; '``-separated).

    Reasons: sampling rate below ``min_fs``; leads of ``leads`` neither recorded nor derivable from
    the recorded ones; any NaN sample; a flat lead (peak-to-peak at most ``flat_tol_mv``); missing age
    or sex when ``require_age_sex``. Every recorded lead is checked for NaN and flatness, not only
    those of the lead set: derived leads combine several recorded ones, and a dead electrode is a
    sign that the others from the same recording are unreliable too.
    """
    reasons = []
    if not np.isfinite(record.fs) or record.fs <= 0:
        reasons.append(f"sampling rate: invalid fs {record.fs!r}")
    elif record.fs < min_fs:
        reasons.append(f"sampling rate {record.fs:g} Hz below the minimum {min_fs:g} Hz")
    if leads is not None:
        wanted = ecg_leads.canonical_all(leads)
        standard = standard_leads(record.leads)
        try:
            ecg_leads.derivation_matrix(standard, wanted)
        except ecg_leads.LeadError as exc:
            other = [n for n in record.leads if n not in standard]
            reasons.append(
                f"missing leads: cannot form the lead set {list(wanted)} from the recorded standard leads "
                f"{list(standard)} ({exc})" + (f"; non-standard signals {other} are not ECG leads" if other else "")
            )
    sig = np.asarray(record.signal)
    if sig.ndim != 2 or sig.shape[0] != len(record.leads) or sig.shape[1] == 0:
        reasons.append(f"header/data mismatch: signal shape {sig.shape} for {len(record.leads)} leads")
    else:
        nan = np.isnan(sig).sum(axis=1)
        bad = [f"{name} ({n} of {sig.shape[1]} samples)" for name, n in zip(record.leads, nan) if n]
        if bad:
            reasons.append("NaN samples in lead(s) " + ", ".join(bad))
        valid = ~np.isnan(sig)
        ptp = np.where(valid, sig, -np.inf).max(axis=1) - np.where(valid, sig, np.inf).min(axis=1)
        flat = [
            f"{name} ({p:.3g} mV)"
            for name, p, ok in zip(record.leads, ptp, valid.any(axis=1))
            if ok and p <= flat_tol_mv
        ]
        if flat:
            reasons.append(f"flat (constant) lead(s): peak-to-peak at most {flat_tol_mv:g} mV in " + ", ".join(flat))
    if require_age_sex:
        if record.age is None:
            reasons.append(_metadata_reason("age", record.meta.get("age_text")))
        if record.sex is None:
            reasons.append(_metadata_reason("sex", record.meta.get("sex_text")))
    if reasons:
        raise RecordError(record.record_id, "; ".join(reasons))


def standard_leads(names: Sequence[str]) -> tuple[str, ...]:
    """The names of ``names`` that are standard 12-lead names (signals such as the Frank leads vx, vy, vz,
    kept by ``strict_leads=False`` readers, are not)."""
    return tuple(n for n in names if n in ecg_leads.STANDARD_12)


def _metadata_reason(what: str, text: Any) -> str:
    """``missing age (header: None)``, or ``unparseable age 'abc' ...`` when the header gives text that is
    neither a number (age) nor a sex nor one of the usual spellings of "unknown"."""
    if text is None or str(text).strip().lower() in _MISSING_TEXT:
        return f"missing {what} (header: {text!r})"
    if what == "age":
        try:
            return f"age {float(str(text)):g} outside 0-120 years (header: {text!r})"
        except ValueError:
            pass
    expected = "a number of years in 0-120" if what == "age" else "M/F/male/female"
    return f"unparseable {what} {str(text)[:40]!r} in the header (expected {expected})"


def _options(source: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    allowed = dict(DEFAULT_OPTIONS)
    if source == "cinc2021":
        allowed.update(CINC_OPTIONS)
    elif source == "ptbxl":
        allowed.update(PTBXL_OPTIONS)
    elif source == "ptbdb":
        allowed.update(PTBDB_OPTIONS)
    elif source == "folder":
        allowed.update(FOLDER_OPTIONS)
    given = dict(options or {})
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for source {source!r}; known: {sorted(allowed)}")
    allowed.update({k: v for k, v in given.items()})
    return allowed


def _checked(record: Record, opts: Mapping[str, Any]) -> Record:
    check_record(
        record,
        leads=opts["leads"],
        min_fs=float(opts["min_fs"]),
        flat_tol_mv=float(opts["flat_tol_mv"]),
        require_age_sex=bool(opts["require_age_sex"]),
    )
    return record


# ================================================================== sources


def read_source(
    source: str, root: str | os.PathLike[str], options: Mapping[str, Any] | None = None
) -> Iterator[Record | RecordError]:
    """Every record of a source, in a fixed order: a :class:`Record`, or a :class:`RecordError` for a record
    that cannot be used (so that callers can list it as rejected and go on), or a :class:`SourceProblem`
    for a problem of the folder itself (a record list with a line that is not text, a garbage table).

    ``source`` and its ``root``:

    - ``"ludb"``: the LUDB version folder (``.../ludb/1.0.1``);
    - ``"cinc2021"``: the challenge's version folder (``.../challenge-2021/1.0.3``, records under
      ``training/<source>/g<N>/``), or any folder of challenge records, flat or in group folders (a
      ``training/<source>`` folder itself, a copy of some records): see :func:`_read_cinc`;
    - ``"ptbxl"``: ``.../ptb-xl/1.0.3``, read by :func:`ecgdiff.data.ptbxl.read_ptbxl`;
    - ``"ptbdb"``: the PTB Diagnostic ECG Database (``.../ptbdb/1.0.0``), :func:`ecgdiff.data.ptbdb.read_ptbdb`;
    - ``"folder"``: any folder of WFDB records, labelled by a table: :func:`ecgdiff.data.folder.read_folder`.

    ``options``: see :data:`DEFAULT_OPTIONS` and, for ``cinc2021``, :data:`CINC_OPTIONS`, for ``ptbxl``,
    :data:`PTBXL_OPTIONS`, for ``folder``, :data:`FOLDER_OPTIONS`; unknown keys raise ``ValueError``. A
    missing ``root`` or source folder raises ``FileNotFoundError`` (a set-up problem, not a bad record).
    """
    if source not in READERS:
        raise ValueError(f"unknown source {source!r}; read_source knows {', '.join(READERS)}")
    opts = _options(source, options)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{source}: data folder {root} does not exist (download it first)")
    if source == "ludb":
        yield from _read_ludb(root, opts)
        return
    if source == "cinc2021":
        yield from _read_cinc(root, opts)
        return
    if source == "ptbxl":
        from .ptbxl import read_ptbxl

        items: Iterator[Record | RecordError] = read_ptbxl(root, rate=int(opts["rate"]))
    elif source == "ptbdb":
        from .ptbdb import read_ptbdb

        items = read_ptbdb(root)
    else:
        from .folder import read_folder

        items = read_folder(root, opts["labels"], name=str(opts["name"]))
    for item in items:
        if isinstance(item, RecordError):
            yield item
            continue
        try:
            yield _checked(item, opts)
        except RecordError as err:
            yield err


#: The sources :func:`read_source` reads.
READERS: tuple[str, ...] = ("ludb", "cinc2021", "ptbxl", "ptbdb", "folder")
#: Every data source :func:`iter_records` reads.
SOURCES: tuple[str, ...] = ("synthetic", *READERS)


@dataclass(frozen=True)
class SourceSpec:
    """One source to read: its name (:data:`SOURCES`), folder and reader options (those of
    :func:`read_source`; the synthetic cohort takes none)."""

    source: str
    root: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; known: {', '.join(SOURCES)}")
        object.__setattr__(self, "root", str(self.root))
        object.__setattr__(self, "options", dict(self.options or {}))

    @classmethod
    def of(cls, item: SourceSpec | Sequence[Any] | Mapping[str, Any]) -> SourceSpec:
        """From a ``SourceSpec``, a tuple ``(source, root[, options])`` or a mapping with those keys."""
        if isinstance(item, SourceSpec):
            return item
        if isinstance(item, Mapping):
            unknown = set(item) - {"source", "root", "options"}
            if unknown:
                raise ValueError(f"unknown source keys {sorted(unknown)} in {dict(item)}")
            return cls(item["source"], item["root"], item.get("options") or {})
        if isinstance(item, str) or len(item) not in (2, 3):
            raise ValueError(f"a source is (source, root[, options]), got {item!r}")
        return cls(*item)

    def read(self) -> Iterator[Record | RecordError]:
        """The source's records (:func:`iter_records`)."""
        return iter_records(self.source, self.root, self.options)


def iter_records(
    source: str, root: str | os.PathLike[str], options: Mapping[str, Any] | None = None
) -> Iterator[Record | RecordError]:
    """Records (or errors) of any source of :data:`SOURCES`, from its folder ``root``: the synthetic cohort
    (:func:`ecgdiff.data.synthetic.read_cohort`; ``options`` are not used: the cohort's settings are those it
    was simulated with) or :func:`read_source`."""
    if source == "synthetic":
        from .synthetic import read_cohort

        yield from read_cohort(root)
        return
    if source not in SOURCES:
        raise ValueError(f"unknown data source {source!r}; known: {', '.join(SOURCES)}")
    yield from read_source(source, root, dict(options or {}))


def count_records(source: str, root: str | os.PathLike[str], options: Mapping[str, Any] | None = None) -> int | None:
    """How many items :func:`iter_records` will yield for ``source`` under ``root`` (records and errors), counted
    from the listings without reading a signal (the total of a progress bar); None when it cannot be told."""
    root = Path(root)
    try:
        if source == "synthetic":
            from .synthetic import read_metadata

            return int(len(read_metadata(root)))
        if source == "ludb":
            listing = root / "RECORDS"
            if listing.is_file():
                return sum(1 for ln in listing.read_text().splitlines() if ln.strip())
            return sum(1 for _ in (root / "data").glob("*.hea"))
        if source == "cinc2021":
            opts = _options(source, options)
            training = root / "training"
            sources = opts["sources"] or sorted(p.name for p in training.iterdir() if p.is_dir())
            return sum(
                sum(1 for _ in (training / s).glob("*/*.hea")) + sum(1 for _ in (training / s).glob("*.hea"))
                for s in sources
            )
        if source == "ptbxl":
            from .ptbxl import read_database

            return int(len(read_database(root)))
    except (OSError, ValueError, KeyError):
        return None
    return None


def _natural_key(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


#: A line of a ``RECORDS`` file: a relative record path (``data/17``, ``patient001/s0010_re``).
_RECORD_PATH = re.compile(r"^[A-Za-z0-9_][-\w.]*(/[-\w.]+)*/?$")


def read_record_list(path: str | os.PathLike[str], source: str) -> tuple[list[str], list[SourceProblem]]:
    """The record names of a ``RECORDS`` file, each once and in file order, and the file's problems.

    The file is read as bytes and each line decoded on its own, so that one line that is not UTF-8 text
    costs that line only; a line that is not a relative record path (``..``, an absolute path, stray
    characters) is skipped; a record listed twice is read once. Each such line is a :class:`SourceProblem`
    naming the file and the line number.
    """
    path = Path(path)
    names: list[str] = []
    problems: list[SourceProblem] = []
    first: dict[str, int] = {}
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            bad = raw[exc.start : exc.start + 1].hex()
            problems.append(
                SourceProblem(
                    source,
                    path,
                    f"{path} line {number} is not UTF-8 text (byte 0x{bad} at position {exc.start}): "
                    f"line {raw[:60]!r} skipped",
                )
            )
            continue
        if not line or line.startswith("#"):
            continue
        if not _RECORD_PATH.match(line) or ".." in line.split("/"):
            problems.append(SourceProblem(source, path, f"{path} line {number}: {line[:60]!r} is not a record path"))
            continue
        if line in first:
            problems.append(
                SourceProblem(
                    source, path, f"{path} lists {line!r} twice (lines {first[line]} and {number}): read once"
                )
            )
            continue
        first[line] = number
        names.append(line)
    return names, problems


def _read_ludb(root: Path, opts: Mapping[str, Any]) -> Iterator[Record | RecordError]:
    """LUDB 1.0.1: ``data/<n>`` records; one patient per record; diagnoses from the header, completed by
    ``ludb.csv`` (which adds 'Pacemaker presence, undefined' to 9 records whose headers omit it: none of
    them changes label). A ``RECORDS`` line or a ``ludb.csv`` that cannot be read is a
    :class:`SourceProblem`; the records are still read (a garbage ``ludb.csv``: from their headers only)."""
    records_file = root / "RECORDS"
    if records_file.is_file():
        names, problems = read_record_list(records_file, "ludb")
        yield from problems
    else:
        names = sorted(
            (str(p.relative_to(root).with_suffix("")) for p in (root / "data").glob("*.hea")), key=_natural_key
        )
    try:
        extra = _ludb_csv_statements(root / "ludb.csv")
    except SourceProblem as problem:
        log.warning("%s", problem)
        yield problem
        extra = {}
    for name in names:
        rid = f"ludb/{Path(name).name}"
        try:
            rec = read_wfdb_record(root / name, rid, patient_id=rid, source="ludb")
            more = [
                s
                for s in extra.get(Path(name).name, [])
                if s.lower() not in {d.lower().removeprefix("rhythm: ") for d in rec.diagnoses}
            ]
            if more:
                rec.diagnoses = rec.diagnoses + tuple(more)
                rec.meta["diagnoses_from_csv"] = more
            yield _checked(rec, opts)
        except RecordError as err:
            yield err


#: The first columns of LUDB's ``ludb.csv``; the diagnosis columns follow.
LUDB_CSV_COLUMNS: tuple[str, ...] = ("ID", "Sex", "Age", "Rhythms")


def _ludb_csv_statements(path: Path) -> dict[str, list[str]]:
    """Diagnosis statements per LUDB record id from ``ludb.csv`` (empty when the file is absent).

    Raises :class:`SourceProblem` naming the file when it is not LUDB's table: not UTF-8 text, not CSV,
    other columns than :data:`LUDB_CSV_COLUMNS` first, or record ids that are not whole numbers."""
    if not path.is_file():
        return {}
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype=str, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise SourceProblem("ludb", path, f"{path} is not LUDB's table ({type(exc).__name__}: {exc})") from None
    head = [str(c).strip() for c in table.columns[: len(LUDB_CSV_COLUMNS)]]
    if head != list(LUDB_CSV_COLUMNS):
        raise SourceProblem(
            "ludb",
            path,
            f"{path} is not LUDB's table: its first columns are {head}, expected {list(LUDB_CSV_COLUMNS)} "
            "(diagnoses are taken from the record headers only)",
        )
    ids = table.iloc[:, 0].astype(str).str.strip()
    bad = ids[~ids.str.fullmatch(r"\d+")]
    if len(bad):
        raise SourceProblem(
            "ludb", path, f"{path}: record ids {bad.head(3).tolist()} are not whole numbers (table not used)"
        )
    out: dict[str, list[str]] = {}
    for rid, (_, row) in zip(ids, table.iterrows()):
        items = []
        for col in table.columns[3:]:
            cell = row[col]
            if isinstance(cell, str):
                items += [s.strip().rstrip(".") for s in cell.splitlines() if s.strip()]
        out[rid] = items
    return out


def _read_cinc(root: Path, opts: Mapping[str, Any]) -> Iterator[Record | RecordError]:
    """PhysioNet/CinC Challenge 2021 (1.0.3): ``training/<source>/g<N>/<record>.hea`` + ``.mat``.

    Without a ``training`` folder (and without the ``sources`` option), ``root`` itself is read as one
    source folder when it holds challenge headers, flat (``root/<record>.hea``) or in group folders
    (``root/g<N>/<record>.hea``): a ``training/<source>`` folder or one of its groups given directly, or a
    folder of some records copied out of the challenge. The source is named after the folder
    (``training/georgia`` -> ``georgia``; a group folder ``g1`` takes its parent's name when that is a
    challenge source), so that the PTB and PTB-XL patient rules still apply to ``ptb`` and ``ptb-xl``.
    """
    training = root / "training"
    sources = opts["sources"]
    ptbxl_patients = _ptbxl_patients(opts["ptbxl_database"])
    if sources is None:
        if not training.is_dir():
            if not _cinc_headers(root):
                raise FileNotFoundError(
                    f"cinc2021: {training} does not exist and {root} holds no challenge headers "
                    "(<record>.hea or g<N>/<record>.hea); download challenge-2021 first"
                )
            name = root.name
            if re.fullmatch(r"g\d+", name) and root.parent.name in CINC_SOURCES:
                name = root.parent.name
            yield from _read_cinc_folder(root, name, opts, ptbxl_patients)
            return
        sources = sorted(p.name for p in training.iterdir() if p.is_dir())
    for src in sources:
        folder = training / src
        if not folder.is_dir():
            raise FileNotFoundError(
                f"cinc2021: source folder {folder} does not exist; download it "
                f"(physionet include patterns for challenge-2021) or drop {src!r} from "
                "data.cinc2021.sources"
            )
        yield from _read_cinc_folder(folder, src, opts, ptbxl_patients)


def _cinc_headers(folder: Path) -> list[Path]:
    """Challenge headers of a source folder: ``g<N>/<record>.hea`` in natural order, then ``<record>.hea``."""
    headers = sorted(folder.glob("*/*.hea"), key=lambda p: _natural_key(f"{p.parent.name}/{p.stem}"))
    return headers + sorted(folder.glob("*.hea"), key=lambda p: _natural_key(p.stem))


def _read_cinc_folder(
    folder: Path, src: str, opts: Mapping[str, Any], ptbxl_patients: Mapping[int, tuple[str, float | None, str | None]]
) -> Iterator[Record | RecordError]:
    """The records of one challenge source folder, as ``cinc2021/<src>/<record>``."""
    headers = _cinc_headers(folder)
    groups = _ptb_patient_groups(headers) if src == "ptb" else {}
    for hea in headers:
        rid = f"cinc2021/{src}/{hea.stem}"
        pid = groups.get(hea.stem, rid)
        try:
            rec = read_wfdb_record(hea.with_suffix(""), rid, patient_id=pid, source="cinc2021")
            rec.meta["cinc_source"] = src
            if src == "ptb-xl" and ptbxl_patients:
                _ptbxl_patient(rec, hea.stem, ptbxl_patients)
            yield _checked(rec, opts)
        except RecordError as err:
            yield err


def _ptb_patient_groups(headers: Sequence[Path]) -> dict[str, str]:
    """Patient groups of the challenge's PTB records (``S0001`` ...), which carry no patient identifier.

    The PTB Diagnostic ECG Database holds several records per patient, in patient order; the challenge
    numbered them in that order. Consecutive record numbers with the same age and sex are put in one
    group named after its first record. This can merge two neighbouring patients of equal age and sex
    (harmless for patient-level splits: a group never straddles two splits) but never splits a patient.
    """
    info = []
    for hea in headers:
        m = re.fullmatch(r"([A-Za-z]+)(\d+)", hea.stem)
        if not m:
            continue
        try:
            text = hea.read_text(errors="replace")
            parsed = parse_header_comments([ln.lstrip("#").strip() for ln in text.splitlines() if ln.startswith("#")])
        except OSError:
            continue
        info.append((int(m.group(2)), hea.stem, parsed["age_text"], parsed["sex_text"]))
    info.sort()
    groups: dict[str, str] = {}
    prev = None
    for num, stem, age, sex in info:
        if prev is not None and num == prev[0] + 1 and (age, sex) == (prev[2], prev[3]) and age is not None:
            groups[stem] = groups[prev[1]]
        else:
            groups[stem] = f"cinc2021/ptb/{stem}"
        prev = (num, stem, age, sex)
    return groups


def _ptbxl_patients(path: Any) -> dict[int, tuple[str, float | None, str | None]]:
    """``ecg_id -> (patient_id, age, sex)`` from PTB-XL's ``ptbxl_database.csv`` (empty when not given)."""
    if not path:
        return {}
    import pandas as pd

    table = pd.read_csv(path, usecols=["ecg_id", "patient_id", "age", "sex"])
    out = {}
    for ecg_id, patient, age, sex in table.itertuples(index=False):
        out[int(ecg_id)] = (
            f"ptb-xl/{int(float(patient))}",
            parse_age(age),
            {0: "M", 1: "F"}.get(int(sex)) if pd.notna(sex) else None,
        )
    return out


def _ptbxl_patient(rec: Record, stem: str, table: Mapping[int, tuple[str, float | None, str | None]]) -> None:
    """Set the patient id of a challenge PTB-XL record (``HR<ecg_id>``) from PTB-XL's own table, when the
    table's age and sex agree with the header (otherwise the record stays its own patient)."""
    m = re.fullmatch(r"HR(\d+)", stem)
    if not m or int(m.group(1)) not in table:
        return
    patient, age, sex = table[int(m.group(1))]
    if (age is None or rec.age is None or abs(age - rec.age) <= 1) and (sex is None or sex == rec.sex):
        rec.patient_id = f"cinc2021/{patient}"
        rec.meta["patient_from"] = "ptbxl_database.csv"
    else:
        rec.meta["patient_from"] = f"record (ptbxl_database.csv row {m.group(1)} disagrees: age {age}, sex {sex})"


# ================================================================== reference beat annotations

#: Annotation symbols that mark a beat (MIT-BIH convention, as in wfdb's beat codes): normal, bundle branch
#: block, atrial/nodal/supraventricular premature, ventricular, fusion, escape, paced, unclassifiable.
BEAT_SYMBOLS: frozenset[str] = frozenset("NLRBAaJSVrFejnE/fQ")
#: Annotators tried, in order, when ``annotator='auto'``: beat annotations of the whole record first,
#: then the QT database's manual marks of selected beats (annotator 1, second pass; then ``man``).
AUTO_ANNOTATORS: tuple[str, ...] = ("atr", "q1c", "man")


def read_reference_beats(
    root: str | os.PathLike[str], record: str, annotator: str = "auto"
) -> tuple[Record, np.ndarray]:
    """A record of a validation database and the sample indices of its reference beats (R peaks / QRS marks).

    ``root``: the database's version folder (``.../mitdb/1.0.0``, ``.../qtdb/1.0.0``, ``.../ludb/1.0.1``);
    ``record``: the record name as in ``RECORDS`` (``'100'``, ``'sel100'``, ``'data/1'``; for LUDB ``'1'``
    works too); ``annotator``: the annotation file extension, or ``'auto'`` (:data:`AUTO_ANNOTATORS`).

    - Beat annotation files (MIT-BIH and QT ``atr``, QT ``man``): every annotation whose symbol is in
      :data:`BEAT_SYMBOLS` (rhythm changes ``+``, noise ``~``, comments and the like are skipped).
    - Waveform delineation files (LUDB ``i`` ... ``v6``, QT ``q1c``/``q2c``/``qt1``/``pu*``), made of
      ``(`` onset, peak, ``)`` offset marks: the QRS peak marks, i.e. the marks with a beat symbol (P and
      T peaks are ``p`` and ``t``). A few LUDB triples miss their onset or offset; their peak still counts.

    Delineation and ``man`` files annotate only part of a record (LUDB: the beats away from the edges;
    QT ``q1c``/``man``: about 30 selected beats): ``record.meta['annotated_range']`` holds the first and
    last annotation sample of the file, the span in which detections can be scored. Lead names that are
    not standard 12-lead names (``MLII``, ``CM5``) are kept as they are. Raises :class:`RecordError` when
    the record or the annotation file is missing or unreadable.
    """
    root = Path(root)
    db = root.parent.name if re.fullmatch(r"\d+(\.\d+)*", root.name) else root.name
    rec_path = root / record
    if not rec_path.with_name(rec_path.name + ".hea").is_file() and (root / "data" / f"{record}.hea").is_file():
        rec_path = root / "data" / record
    record_id = f"{db}/{Path(record).name}"
    if annotator == "auto":
        found = [a for a in AUTO_ANNOTATORS if rec_path.with_name(f"{rec_path.name}.{a}").is_file()]
        if not found:
            have = sorted(
                p.suffix[1:]
                for p in rec_path.parent.glob(f"{rec_path.name}.*")
                if p.suffix not in (".hea", ".dat", ".mat", ".xws")
            )
            raise RecordError(
                record_id,
                f"no reference annotation ({', '.join(AUTO_ANNOTATORS)}) found; "
                f"annotation files present: {have or 'none'}",
            )
        annotator = found[0]
    ann_file = rec_path.with_name(f"{rec_path.name}.{annotator}")
    if not ann_file.is_file():
        raise RecordError(record_id, f"annotation file {ann_file} missing")
    rec = read_wfdb_record(rec_path, record_id, source=db, strict_leads=False)
    try:
        ann = wfdb.rdann(str(rec_path), annotator)
    except Exception as exc:
        raise RecordError(record_id, f"unreadable annotation file {ann_file}: {exc}") from exc
    symbols = list(ann.symbol or [])
    samples = np.asarray(ann.sample, dtype=np.int64)
    delineation = any(s in ("(", ")") for s in symbols)
    beats = np.array(sorted({int(t) for t, s in zip(samples, symbols) if s in BEAT_SYMBOLS}), dtype=np.int64)
    n = rec.signal.shape[1]
    outside = int(((beats < 0) | (beats >= n)).sum())
    beats = beats[(beats >= 0) & (beats < n)]
    rec.meta.update(
        {
            "annotator": annotator,
            "annotation_kind": "delineation" if delineation else "beats",
            "annotated_range": (int(samples.min()), int(samples.max())) if len(samples) else (0, -1),
            "n_reference_beats": int(len(beats)),
            "beats_outside_signal": outside,
        }
    )
    return rec, beats
