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

PTB-XL (SCP-ECG statements of ``ptbxl_database.csv``, every listed statement whatever its likelihood, as
for the rhythm labels below; codes and classes from PTB-XL's ``scp_statements.csv``):

- ``healthy``: exactly the statements ``NORM`` (normal ECG) and ``SR`` (sinus rhythm), the meaning of
  LUDB's and the challenge's rule (sinus rhythm, nothing else).
- ``mi``: any statement of :data:`SCP_MI` (the 14 statements whose ``diagnostic_class`` is ``MI``:
  infarctions of every wall and the subendocardial injuries ``INJ*``, which PTB-XL puts in that class).
- ``bbb``: ``CLBBB`` or ``CRBBB`` (``IRBBB``, ``ILBBB`` are ``other``); ``af``: ``AFIB`` (``AFLT`` is ``other``).

PTB Diagnostic ECG Database (header comments ``Reason for admission``, ``Acute infarction
(localization)``, ``Former infarction (localization)``, ``Additional diagnoses``; :mod:`ecgdiff.data.ptbdb`):

- ``healthy``: reason ``Healthy control``, no infarction (``no``/``n/a``) and no additional diagnosis.
  The database states no rhythm; its healthy controls are volunteers recorded in sinus rhythm.
- ``mi``: reason ``Myocardial infarction``, or an acute or former infarction localisation.
- ``bbb``: reason ``Bundle branch block`` (the challenge maps it to SNOMED 6374002, ``bbb`` above).
- ``unknown``: no reason (``n/a``); ``other``: any other reason (cardiomyopathy, dysrhythmia, ...).

When a record has several, the first in the order ``mi``, ``bbb``, ``af`` wins (MI is the anomaly the
paper detects; BBB changes the QRS morphology more than AF does).

Rhythm labels (the talk's 10-s rhythms, :func:`rhythm_labels`): ``NSR``, ``BBB``, ``AF`` or ``other``,
with multi-hot targets ``NSR``, ``BBB``, ``AF`` for the classifier. NSR is the sinus-rhythm statement
(PTB-XL: NORM or SR), whatever else the record shows; BBB a complete bundle branch block (incomplete
ones only with :attr:`RhythmLabelRules.incomplete_bbb`); AF atrial fibrillation (never flutter). Rules
per source are in the docstrings of :func:`rhythm_labels_cinc`, :func:`rhythm_labels_ludb` and
:func:`rhythm_labels_scp`; the beat labels above are independent of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .records import Record, RecordError

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


#: PTB-XL statements whose ``diagnostic_class`` in ``scp_statements.csv`` is ``MI``.
SCP_MI: frozenset[str] = frozenset(
    {"IMI", "ASMI", "ILMI", "AMI", "ALMI", "LMI", "IPLMI", "IPMI", "PMI", "INJAS", "INJAL", "INJIN", "INJLA", "INJIL"}
)
#: The statements of a healthy PTB-XL ECG: normal ECG in sinus rhythm.
SCP_HEALTHY: frozenset[str] = frozenset({"NORM", "SR"})
SCP_BEAT_BBB: frozenset[str] = frozenset({"CLBBB", "CRBBB"})
SCP_BEAT_AF: frozenset[str] = frozenset({"AFIB"})


def label_scp(scp_codes: Mapping[str, float] | Iterable[str]) -> str:
    """Beat label of a PTB-XL ECG from its SCP statements (a ``{code: likelihood}`` dict or the codes)."""
    codes = {str(c).strip() for c in scp_codes if str(c).strip()}
    if not codes:
        return "unknown"
    for lab, family in (("mi", SCP_MI), ("bbb", SCP_BEAT_BBB), ("af", SCP_BEAT_AF)):
        if codes & family:
            return lab
    return "healthy" if codes == SCP_HEALTHY else "other"


#: Header fields of the PTB Diagnostic ECG Database that hold its diagnoses (as read by ecgdiff.data.ptbdb).
PTBDB_FIELDS: tuple[str, ...] = (
    "Reason for admission",
    "Acute infarction (localization)",
    "Former infarction (localization)",
    "Additional diagnoses",
)
_PTBDB_NONE = {"", "no", "n/a", "none", "unknown"}


def label_ptbdb(diagnoses: Iterable[str]) -> str:
    """Beat label of a PTB Diagnostic ECG Database record from its ``<field>: <value>`` statements."""
    fields: dict[str, str] = {}
    for item in diagnoses:
        key, _, value = str(item).partition(":")
        fields[key.strip().lower()] = re.sub(r"\s+", " ", value).strip().lower()
    reason = fields.get("reason for admission", "")
    infarctions = [fields.get(f"{k} infarction (localization)", "") for k in ("acute", "former")]
    if "myocardial infarction" in reason or any(v not in _PTBDB_NONE for v in infarctions):
        return "mi"
    if reason in _PTBDB_NONE:
        return "unknown"
    if reason == "bundle branch block":
        return "bbb"
    if reason == "healthy control" and fields.get("additional diagnoses", "") in _PTBDB_NONE:
        return "healthy"
    return "other"


def label(record: Record) -> str:
    """Label of a record, by its source: ``cinc2021`` (SNOMED codes), ``ludb`` (statements), ``ptbxl`` (SCP
    statements in ``meta['scp_codes']``; ``ValueError`` with the reader's reason when they were unreadable)
    or ``ptbdb`` (header fields).

    Other sources (the synthetic cohort, folders labelled by a table) carry their label in
    ``record.meta['label']``: one of :data:`LABELS` or of :data:`META_ALIASES` (``rbbb``, ``lbbb`` -> ``bbb``).
    """
    if record.source == "cinc2021":
        return label_cinc(record.diagnoses)
    if record.source == "ludb":
        return label_ludb(record.diagnoses)
    if record.source == "ptbxl":
        if record.meta.get("scp_codes") is None:
            raise ValueError(f"{record.record_id}: {record.meta.get('label_error') or 'unknown label: no scp_codes'}")
        return label_scp(record.meta["scp_codes"])
    if record.source == "ptbdb":
        return label_ptbdb(record.diagnoses)
    if "label" in record.meta:
        value = str(record.meta["label"])
        value = META_ALIASES.get(value, value)
        if value not in LABELS:
            raise ValueError(f"{record.record_id}: label {value!r} is not one of {LABELS}")
        return value
    raise ValueError(f"{record.record_id}: no labelling rule for source {record.source!r} and no meta['label']")


# ====================================================================== rhythm labels (the talk)
#
# The rhythm branch classifies 10-s rhythms into NSR, BBB and AF (the talk's classifier: three sigmoid
# outputs, NSR = NORM or SR, BBB = CLBBB or CRBBB, AF = AFIB on PTB-XL's SCP codes). One record can carry
# several (AF with BBB); ``label`` is then the first of AF, BBB, NSR that applies, ``other`` if none does.

RHYTHM_LABELS: tuple[str, ...] = ("NSR", "BBB", "AF", "other")
#: The multi-hot targets of the classifier, in this order.
RHYTHM_TARGETS: tuple[str, ...] = ("NSR", "BBB", "AF")
#: Which target names a rhythm's single ``label`` when it has several.
RHYTHM_PRECEDENCE: tuple[str, ...] = ("AF", "BBB", "NSR")

#: Incomplete bundle branch blocks (SNOMED-CT): BBB only with ``RhythmLabelRules.incomplete_bbb``.
INCOMPLETE_BBB_CODES: frozenset[str] = frozenset(
    c for c, (name, _) in CODE_TABLE.items() if name.startswith("incomplete")
)

#: PTB-XL SCP-ECG statements of each target (the talk's classifier), and the incomplete blocks.
SCP_TARGETS: Mapping[str, frozenset[str]] = {
    "NSR": frozenset({"NORM", "SR"}),
    "BBB": frozenset({"CLBBB", "CRBBB"}),
    "AF": frozenset({"AFIB"}),
}
SCP_INCOMPLETE_BBB: frozenset[str] = frozenset({"IRBBB", "ILBBB"})

#: Labels of the synthetic cohort (``record.meta['label']``) -> rhythm label.
SYNTHETIC_RHYTHM: Mapping[str, str] = {"healthy": "NSR", "af": "AF", "rbbb": "BBB", "lbbb": "BBB", "mi": "other"}

_LUDB_BBB = re.compile(r"^complete (left|right) bundle branch block$")
_LUDB_INCOMPLETE_BBB = re.compile(r"^incomplete (left|right) bundle branch block$")
_LUDB_AF = re.compile(r"^(rhythm:\s*)?atrial fibrillation$")


@dataclass(frozen=True)
class RhythmLabelRules:
    """Choices of the rhythm labels (config section ``rhythm.labels``).

    Attributes:
        incomplete_bbb: count incomplete right/left bundle branch block as BBB (LUDB statements, SNOMED
            713426002 / 251120003, PTB-XL IRBBB / ILBBB). Default False: the talk's BBB is CLBBB or CRBBB
            (complete blocks, QRS >= 120 ms); an incomplete RBBB is common in healthy hearts.
        scp_min_likelihood: PTB-XL only: an SCP statement with a known likelihood (> 0) counts when its
            likelihood is at least this (0-100). Default 0: every listed statement counts, as in the
            authors' code.
        scp_keep_unknown_likelihood: PTB-XL only: a statement whose likelihood is 0 ("unknown" in PTB-XL's
            documentation; every rhythm statement, SR and AFIB included) counts whatever
            ``scp_min_likelihood`` is. With False such statements never count when ``scp_min_likelihood``
            is above 0 (which leaves no SR and no AFIB).
    """

    incomplete_bbb: bool = False
    scp_min_likelihood: float = 0.0
    scp_keep_unknown_likelihood: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.scp_min_likelihood) <= 100.0:
            raise ValueError(f"rhythm.labels.scp_min_likelihood must lie in [0, 100], got {self.scp_min_likelihood}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> RhythmLabelRules:
        cfg = dict(cfg or {})
        unknown = set(cfg) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown rhythm.labels keys {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**{k: type(getattr(cls, k))(v) for k, v in cfg.items()})


def _targets(nsr: bool, bbb: bool, af: bool) -> dict[str, Any]:
    flags = {"NSR": int(bool(nsr)), "BBB": int(bool(bbb)), "AF": int(bool(af))}
    label = next((t for t in RHYTHM_PRECEDENCE if flags[t]), "other")
    return {"label": label, **flags}


def rhythm_labels_cinc(dx_codes: Iterable[str | int], rules: RhythmLabelRules = RhythmLabelRules()) -> dict[str, Any]:
    """Rhythm label and targets from SNOMED-CT codes: NSR = sinus rhythm 426783006; BBB = :data:`BBB_CODES`
    (complete or unspecified LBBB/RBBB: 6374002, 164909002, 733534002, 59118001, 713427006; with
    ``incomplete_bbb`` also :data:`INCOMPLETE_BBB_CODES`); AF = :data:`AF_CODES` (164889003 and its forms;
    atrial flutter 164890007 is not AF). Raises ``ValueError`` for no code or a code that is not an integer."""
    codes = {str(c).strip() for c in dx_codes if str(c).strip()}
    if not codes:
        raise ValueError("unknown label: no SNOMED-CT code in #Dx")
    bad = sorted(c for c in codes if not c.isdigit())
    if bad:
        raise ValueError(f"unparseable label: SNOMED-CT code(s) {bad} are not integers")
    bbb = BBB_CODES | (INCOMPLETE_BBB_CODES if rules.incomplete_bbb else frozenset())
    return _targets(SINUS_RHYTHM in codes, bool(codes & bbb), bool(codes & AF_CODES))


def rhythm_labels_ludb(diagnoses: Iterable[str], rules: RhythmLabelRules = RhythmLabelRules()) -> dict[str, Any]:
    """Rhythm label and targets from LUDB statements: NSR = ``Rhythm: Sinus rhythm`` (sinus bradycardia,
    tachycardia and arrhythmia are not NSR, as PTB-XL's SBRAD/STACH/SARRH are not SR); BBB = ``Complete
    left/right bundle branch block`` (``Incomplete ...`` with ``incomplete_bbb``); AF = ``Rhythm: Atrial
    fibrillation`` (atrial flutter is not AF). Raises ``ValueError`` when there is no statement."""
    statements = [s for s in (_ludb_statement(d) for d in diagnoses) if s]
    if not statements:
        raise ValueError("unknown label: no diagnosis statement")
    bbb = any(_LUDB_BBB.match(s) or (rules.incomplete_bbb and _LUDB_INCOMPLETE_BBB.match(s)) for s in statements)
    return _targets(any(_LUDB_SINUS.match(s) for s in statements), bbb, any(_LUDB_AF.match(s) for s in statements))


def scp_statements_kept(scp_codes: Mapping[str, float], rules: RhythmLabelRules = RhythmLabelRules()) -> set[str]:
    """The PTB-XL statements that count under ``rules`` (see :class:`RhythmLabelRules`)."""
    keep_unknown = rules.scp_keep_unknown_likelihood or rules.scp_min_likelihood == 0
    return {
        code
        for code, likelihood in scp_codes.items()
        if (likelihood >= rules.scp_min_likelihood if likelihood > 0 else keep_unknown)
    }


def rhythm_labels_scp(scp_codes: Mapping[str, float], rules: RhythmLabelRules = RhythmLabelRules()) -> dict[str, Any]:
    """Rhythm label and targets from PTB-XL's ``{statement: likelihood}``: NSR = NORM or SR, BBB = CLBBB or
    CRBBB (IRBBB, ILBBB with ``incomplete_bbb``), AF = AFIB, among :func:`scp_statements_kept`. Raises
    ``ValueError`` for an empty dict."""
    if not scp_codes:
        raise ValueError("unknown label: no SCP statement")
    kept = scp_statements_kept(scp_codes, rules)
    bbb = SCP_TARGETS["BBB"] | (SCP_INCOMPLETE_BBB if rules.incomplete_bbb else frozenset())
    return _targets(bool(kept & SCP_TARGETS["NSR"]), bool(kept & bbb), bool(kept & SCP_TARGETS["AF"]))


def rhythm_labels(record: Record, rules: RhythmLabelRules = RhythmLabelRules()) -> dict[str, Any]:
    """``{"label": NSR|BBB|AF|other, "NSR": 0|1, "BBB": 0|1, "AF": 0|1}`` of a record, by its source:
    ``cinc2021`` (:func:`rhythm_labels_cinc`), ``ludb`` (:func:`rhythm_labels_ludb`), ``ptbxl``
    (:func:`rhythm_labels_scp` of ``meta['scp_codes']``), anything else by ``meta['label']`` through
    :data:`SYNTHETIC_RHYTHM` (the synthetic cohort: one label per patient, the targets its one-hot).

    Raises :class:`RecordError` naming the record when its label is unknown (no statement, no code) or
    unparseable; the beat labels (:func:`label`) are not affected by any of this.
    """
    try:
        if record.source == "cinc2021":
            return rhythm_labels_cinc(record.diagnoses, rules)
        if record.source == "ludb":
            return rhythm_labels_ludb(record.diagnoses, rules)
        if record.source == "ptbxl":
            if record.meta.get("scp_codes") is None:
                raise ValueError(str(record.meta.get("label_error") or "unknown label: no scp_codes"))
            return rhythm_labels_scp(record.meta["scp_codes"], rules)
        if "label" in record.meta:
            value = str(record.meta["label"])
            if value not in SYNTHETIC_RHYTHM:
                raise ValueError(f"unknown label {value!r}: not one of {sorted(SYNTHETIC_RHYTHM)}")
            rhythm = SYNTHETIC_RHYTHM[value]
            return _targets(rhythm == "NSR", rhythm == "BBB", rhythm == "AF")
        raise ValueError(f"unknown label: no rhythm labelling rule for source {record.source!r} and no meta['label']")
    except ValueError as exc:
        raise RecordError(record.record_id, str(exc)) from None
