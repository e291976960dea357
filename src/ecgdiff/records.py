"""The common record type that every data source is read into, and the error that names a bad record.

Readers for each source (LUDB, PhysioNet/CinC 2021, the synthetic cohort, QT/MIT-BIH databases)
return :class:`Record` objects with physical units (millivolts) and canonical lead names, so that
beat extraction never needs to know where a record came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class RecordError(ValueError):
    """A record that cannot be used; the message starts with the record's identifier and says why."""

    def __init__(self, record_id: str, reason: str):
        super().__init__(f"{record_id}: {reason}")
        self.record_id = record_id
        self.reason = reason


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
