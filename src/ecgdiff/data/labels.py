"""Diagnosis labels of a record: ``healthy``, ``mi``, ``bbb``, ``af``, ``other`` or ``unknown``.

The beat paper (section 2.4) trains its prior on *healthy* beats: sinus rhythm and no other finding,
and tests anomaly detection on myocardial infarction (MI). The talk's classifier adds bundle branch
block (BBB) and atrial fibrillation (AF). One rule set per source:

PhysioNet/CinC Challenge 2021 (SNOMED-CT codes in ``#Dx``), codes and names from the challenge's
``dx_mapping_scored.csv`` / ``dx_mapping_unscored.csv`` (physionetchallenges/evaluation-2021):

- ``healthy``: exactly one code, sinus rhythm 426783006 (:data:`SINUS_RHYTHM`).
- ``mi``: any code of :data:`MI_CODES` (the four MI codes of those tables; they hold no separate
  inferior or lateral MI code).
- ``bbb``: any code of :data:`BBB_CODES`: complete or unspecified left/right bundle branch block.
  Incomplete BBB (713426002, 251120003) is ``other``: QRS below 120 ms, often a normal variant.
- ``af``: any code of :data:`AF_CODES` (atrial fibrillation in its forms; atrial flutter alone is
  ``other``).
- ``other``: any other code set; ``unknown``: no code at all.

LUDB (diagnosis statements in the header, one per line), matched case-insensitively:

- ``healthy``: rhythm ``Sinus rhythm`` and no statement other than a non-deviated electric axis
  (``normal``, ``vertical``, ``horizontal``: positions inside the normal range; left and right axis
  deviation are abnormal).
- ``mi``: ``STEMI: <wall>`` or ``Scar formation: <wall>`` (infarct scar). ``Undefined
  ischemia/scar/supp.NSTEMI`` is ``other``: the cardiologists could not tell ischemia from scar or
  NSTEMI, and ``Ischemia: <wall>`` alone is not infarction.
- ``bbb``: ``Complete left/right bundle branch block`` (incomplete ones are ``other``, as above).
- ``af``: ``Rhythm: Atrial fibrillation`` (atrial flutter is ``other``).

When a record has several, the first in the order ``mi``, ``bbb``, ``af`` wins (MI is the anomaly the
paper detects; BBB changes the QRS morphology more than AF does).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .records import Record

LABELS: tuple[str, ...] = ("healthy", "mi", "bbb", "af", "other", "unknown")

#: Finer labels a source may carry in ``record.meta['label']``, and the label of :data:`LABELS` each stands for
#: (the synthetic cohort tells right from left bundle branch block).
META_ALIASES: Mapping[str, str] = {"rbbb": "bbb", "lbbb": "bbb"}

#: SNOMED-CT code of sinus rhythm (dx_mapping_scored.csv: "sinus rhythm", NSR).
SINUS_RHYTHM = "426783006"

#: Every SNOMED-CT code this module looks at: code -> (name in the challenge's dx_mapping tables, label).
#: Codes not listed here make a record ``other`` (unless they co-occur with an MI/BBB/AF code).
CODE_TABLE: Mapping[str, tuple[str, str]] = {
    SINUS_RHYTHM: ("sinus rhythm", "healthy"),
    # myocardial infarction family (dx_mapping_unscored.csv)
    "164865005": ("myocardial infarction", "mi"),
    "57054005": ("acute myocardial infarction", "mi"),
    "54329005": ("anterior myocardial infarction", "mi"),
    "164867002": ("old myocardial infarction", "mi"),
    # bundle branch blocks (dx_mapping_scored.csv)
    "6374002": ("bundle branch block", "bbb"),
    "164909002": ("left bundle branch block", "bbb"),
    "733534002": ("complete left bundle branch block", "bbb"),
    "59118001": ("right bundle branch block", "bbb"),
    "713427006": ("complete right bundle branch block", "bbb"),
    # atrial fibrillation (scored: 164889003; unscored: the others)
    "164889003": ("atrial fibrillation", "af"),
    "195080001": ("atrial fibrillation and flutter", "af"),
    "426749004": ("chronic atrial fibrillation", "af"),
    "282825002": ("paroxysmal atrial fibrillation", "af"),
    "314208002": ("rapid atrial fibrillation", "af"),
    # listed to document that they are deliberately not BBB/AF/MI
    "713426002": ("incomplete right bundle branch block", "other"),
    "251120003": ("incomplete left bundle branch block", "other"),
    "164890007": ("atrial flutter", "other"),
    "164861001": ("myocardial ischemia", "other"),
    "413844008": ("chronic myocardial ischemia", "other"),
    "413444003": ("acute myocardial ischemia", "other"),
    "164931005": ("st elevation", "other"),
}

MI_CODES: frozenset[str] = frozenset(c for c, (_, lab) in CODE_TABLE.items() if lab == "mi")
BBB_CODES: frozenset[str] = frozenset(c for c, (_, lab) in CODE_TABLE.items() if lab == "bbb")
AF_CODES: frozenset[str] = frozenset(c for c, (_, lab) in CODE_TABLE.items() if lab == "af")

#: Precedence when a record carries several of the labelled conditions.
PRECEDENCE: tuple[str, ...] = ("mi", "bbb", "af")


def label_cinc(dx_codes: Iterable[str | int]) -> str:
    """Label of a CinC 2021 record from its SNOMED-CT codes (strings or integers)."""
    codes = {str(c).strip() for c in dx_codes if str(c).strip()}
    if not codes:
        return "unknown"
    found = {CODE_TABLE[c][1] for c in codes if c in CODE_TABLE}
    for lab in PRECEDENCE:
        if lab in found:
            return lab
    if codes == {SINUS_RHYTHM}:
        return "healthy"
    return "other"


_LUDB_NORMAL_AXIS = re.compile(r"^electric axis of the heart:\s*(normal|vertical|horizontal)$")
_LUDB_SINUS = re.compile(r"^(rhythm:\s*)?sinus rhythm$")
_LUDB_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("mi", re.compile(r"^(stemi|scar formation)\s*:")),
    ("bbb", re.compile(r"^complete (left|right) bundle branch block$")),
    ("af", re.compile(r"^(rhythm:\s*)?atrial fibrillation$")),
)


def _ludb_statement(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().rstrip(".").strip().lower()


def label_ludb(diagnoses: Iterable[str]) -> str:
    """Label of a LUDB record from its diagnosis statements (header comment lines after ``<diagnoses>``)."""
    statements = [s for s in (_ludb_statement(d) for d in diagnoses) if s]
    if not statements:
        return "unknown"
    for lab, pattern in _LUDB_RULES:
        if any(pattern.search(s) for s in statements):
            return lab
    rest = [s for s in statements if not _LUDB_NORMAL_AXIS.match(s)]
    if rest and all(_LUDB_SINUS.match(s) for s in rest):
        return "healthy"
    return "other"


def label(record: Record) -> str:
    """Label of a record, by its source: ``cinc2021`` (SNOMED codes) or ``ludb`` (statements).

    Other sources (the synthetic cohort) carry their label in ``record.meta['label']``: one of :data:`LABELS`
    or of :data:`META_ALIASES` (``rbbb``, ``lbbb`` -> ``bbb``).
    """
    if record.source == "cinc2021":
        return label_cinc(record.diagnoses)
    if record.source == "ludb":
        return label_ludb(record.diagnoses)
    if "label" in record.meta:
        value = str(record.meta["label"])
        value = META_ALIASES.get(value, value)
        if value not in LABELS:
            raise ValueError(f"{record.record_id}: label {value!r} is not one of {LABELS}")
        return value
    raise ValueError(f"{record.record_id}: no labelling rule for source {record.source!r} and no meta['label']")
