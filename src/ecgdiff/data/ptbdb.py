"""The PTB Diagnostic ECG Database (Bousseljot et al. 1995; PhysioNet ``ptbdb/1.0.0``).

PhysioNet's layout: 549 records of 290 patients, one folder per patient::

    RECORDS                       patient001/s0010_re, patient001/s0014lre, ...
    patient001/s0010_re.hea       15 signals, 1000 Hz, 16 bit, 2000 units/mV (no unit field: mV)
    patient001/s0010_re.dat       the 12 standard leads i, ii, iii, avr, avl, avf, v1 ... v6
    patient001/s0010_re.xyz       the 3 Frank leads vx, vy, vz

The header lists all 15 signals; the Frank leads (in the ``.xyz`` file) are not 12-lead ECG leads and are
not read (:data:`FRANK_LEADS`, ``skip_leads`` of :func:`ecgdiff.data.records.read_wfdb_record`), so a copy
without the ``.xyz`` files reads the same. The clinical summary is in the header comments::

    # age: 60                     (n/a when unknown)
    # sex: male
    # Reason for admission: Myocardial infarction
    # Acute infarction (localization): inferior
    # Former infarction (localization): no
    # Additional diagnoses: Hypercholesterinemia
    ... (smoker, catheterisation, haemodynamics, medication)

Records are ``ptbdb/<patient>/<record>`` of patient ``ptbdb/<patient>`` (the folder); ``diagnoses`` are
the four fields of :data:`ecgdiff.data.labels.PTBDB_FIELDS` as ``"<field>: <value>"`` (labelled by
:func:`ecgdiff.data.labels.label_ptbdb`); every comment field stays in ``meta['header_fields']``. Reach
the records through ``ecgdiff.data.records.read_source("ptbdb", root)``, which adds the usability checks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from .labels import PTBDB_FIELDS
from .records import Record, RecordError, read_record_list, read_wfdb_record

SOURCE = "ptbdb"
#: The Frank (vectorcardiographic) leads the database stores next to the 12 standard leads.
FRANK_LEADS: tuple[str, ...] = ("vx", "vy", "vz")
_PATIENT = re.compile(r"^patient\d+$")


def record_names(root: str | os.PathLike[str]) -> tuple[list[str], list[RecordError]]:
    """The records to read (``patientNNN/<record>``) and the problems of ``RECORDS``; without a ``RECORDS``
    file, every ``patient*/*.hea`` in name order."""
    root = Path(root)
    listing = root / "RECORDS"
    if listing.is_file():
        names, problems = read_record_list(listing, SOURCE)
        return names, list(problems)
    found = sorted(str(p.relative_to(root).with_suffix("").as_posix()) for p in root.glob("patient*/*.hea"))
    if not found:
        raise FileNotFoundError(f"ptbdb: {root} has neither RECORDS nor patient*/<record>.hea (download ptbdb first)")
    return found, []


def read_ptbdb(root: str | os.PathLike[str]) -> Iterator[Record | RecordError]:
    """Every record of the PTB Diagnostic ECG Database under ``root``, in ``RECORDS`` order: a
    :class:`Record` (12 leads in mV, age and sex from the header, ``diagnoses`` from its clinical fields), a
    :class:`RecordError` naming ``ptbdb/<patient>/<record>``, or a ``SourceProblem`` for a bad ``RECORDS``
    line. No usability check is made here: ``read_source('ptbdb', ...)`` adds them."""
    root = Path(root)
    names, problems = record_names(root)
    yield from problems
    for name in names:
        rid = f"{SOURCE}/{name}"
        parts = name.split("/")
        patient = parts[0] if len(parts) == 2 and _PATIENT.match(parts[0]) else None
        if patient is None:
            yield RecordError(rid, f"not in the ptbdb layout patientNNN/<record> ({name!r} in RECORDS)")
            continue
        try:
            rec = read_wfdb_record(
                root / name, rid, patient_id=f"{SOURCE}/{patient}", source=SOURCE, skip_leads=FRANK_LEADS
            )
        except RecordError as err:
            yield err
            continue
        fields = rec.meta["header_fields"]
        rec.diagnoses = tuple(f"{key}: {fields[key.lower()]}" for key in PTBDB_FIELDS if key.lower() in fields)
        rec.meta["ptbdb_patient"] = patient
        yield rec
