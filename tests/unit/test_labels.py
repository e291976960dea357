"""Diagnosis labels: the SNOMED code table, LUDB statement rules, and real headers."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ecgdiff.data import labels
from ecgdiff.data.labels import CODE_TABLE, label, label_cinc, label_ludb
from ecgdiff.data.records import Record


def _by_id(items):
    return {x.record_id: x for x in items}


# ---------------------------------------------------------------- the code table


def test_code_table_invariants():
    assert labels.SINUS_RHYTHM == "426783006" and CODE_TABLE["426783006"] == ("sinus rhythm", "healthy")
    for code, (name, lab) in CODE_TABLE.items():
        assert code.isdigit() and 6 <= len(code) <= 18, code  # SNOMED-CT identifiers
        assert name == name.lower().strip() and name, code
        assert lab in labels.LABELS and lab != "unknown", code
    # the MI family of the Challenge 2021 dx_mapping tables, by code
    assert labels.MI_CODES == {"164865005", "57054005", "54329005", "164867002"}
    assert all("myocardial infarction" in CODE_TABLE[c][0] for c in labels.MI_CODES)
    assert all(
        "bundle branch block" in CODE_TABLE[c][0] and "incomplete" not in CODE_TABLE[c][0] for c in labels.BBB_CODES
    )
    assert labels.BBB_CODES == {"6374002", "164909002", "733534002", "59118001", "713427006"}
    assert all("atrial fibrillation" in CODE_TABLE[c][0] for c in labels.AF_CODES)
    assert "164889003" in labels.AF_CODES and "164890007" not in labels.AF_CODES  # flutter is not AF
    assert not (
        labels.MI_CODES & labels.BBB_CODES or labels.MI_CODES & labels.AF_CODES or labels.BBB_CODES & labels.AF_CODES
    )
    # names of the codes that are named like something else: ischaemia is not infarction
    for code in ("164861001", "413844008", "413444003", "164931005", "713426002", "251120003"):
        assert CODE_TABLE[code][1] == "other"


@pytest.mark.parametrize(
    "codes, expected",
    [
        (["426783006"], "healthy"),
        ([426783006], "healthy"),
        (["426783006", "164934002"], "other"),  # sinus rhythm + T wave abnormal
        (["426177001"], "other"),  # sinus bradycardia alone
        (["164865005"], "mi"),
        (["57054005"], "mi"),
        (["54329005"], "mi"),
        (["164867002", "427084000"], "mi"),
        (["59118001"], "bbb"),
        (["733534002"], "bbb"),
        (["713426002"], "other"),  # incomplete RBBB
        (["164889003"], "af"),
        (["164890007"], "other"),  # flutter
        (["164865005", "59118001", "164889003"], "mi"),  # precedence mi > bbb > af
        (["164889003", "59118001"], "bbb"),
        ([], "unknown"),
        ([""], "unknown"),
    ],
)
def test_label_cinc(codes, expected):
    assert label_cinc(codes) == expected


@pytest.mark.parametrize(
    "statements, expected",
    [
        (["Rhythm: Sinus rhythm.", "Electric axis of the heart: normal."], "healthy"),
        (["Rhythm: Sinus rhythm", "Electric axis of the heart: vertical"], "healthy"),
        (["Rhythm: Sinus rhythm"], "healthy"),
        (["Rhythm: Sinus rhythm", "Electric axis of the heart: left axis deviation"], "other"),
        (["Rhythm: Sinus bradycardia", "Electric axis of the heart: normal"], "other"),
        (["Rhythm: Sinus rhythm", "STEMI: anterior wall"], "mi"),
        (["Rhythm: Sinus rhythm", "Scar formation: inferior wall"], "mi"),
        (["Rhythm: Sinus rhythm", "Undefined ischemia/scar/supp.NSTEMI: lateral wall"], "other"),
        (["Rhythm: Sinus rhythm", "Ischemia: septal"], "other"),
        (["Rhythm: Sinus rhythm", "Complete left bundle branch block"], "bbb"),
        (["Rhythm: Sinus rhythm", "Incomplete right bundle branch block"], "other"),
        (["Rhythm: Atrial fibrillation"], "af"),
        (["Rhythm: Atrial flutter, typical"], "other"),
        (["Rhythm: Atrial fibrillation", "Complete left bundle branch block"], "bbb"),
        (["Rhythm: Sinus rhythm", "Pacemaker presence, undefined"], "other"),
        ([], "unknown"),
    ],
)
def test_label_ludb(statements, expected):
    assert label_ludb(statements) == expected


def test_label_dispatch_and_other_sources():
    sig = np.zeros((1, 10))
    cinc = Record("c", "c", "cinc2021", 500.0, sig, ("I",), diagnoses=("164865005",))
    ludb = Record("l", "l", "ludb", 500.0, sig, ("I",), diagnoses=("Rhythm: Sinus rhythm",))
    synth = Record("s", "s", "synthetic", 500.0, sig, ("I",), meta={"label": "healthy"})
    assert (label(cinc), label(ludb), label(synth)) == ("mi", "healthy", "healthy")
    for fine, coarse in (("rbbb", "bbb"), ("lbbb", "bbb"), ("af", "af")):
        assert label(Record("s", "s", "synthetic", 500.0, sig, ("I",), meta={"label": fine})) == coarse
    with pytest.raises(ValueError, match="no labelling rule"):
        label(Record("x", "x", "mitdb", 360.0, sig, ("I",)))
    with pytest.raises(ValueError, match="not one of"):
        label(Record("s", "s", "synthetic", 500.0, sig, ("I",), meta={"label": "sick"}))


# ---------------------------------------------------------------- real headers


def test_ludb_labels_of_real_records(ludb_records):
    by = _by_id(ludb_records)
    expected = {
        "ludb/1": "other",  # sinus bradycardia, left axis deviation, LVH
        "ludb/56": "healthy",  # sinus rhythm, vertical axis
        "ludb/7": "mi",  # STEMI (anterior, lateral, septal, apical)
        "ludb/4": "mi",  # scar formation: inferior wall
        "ludb/23": "bbb",  # complete RBBB
        "ludb/10": "mi",  # complete RBBB and scar: MI wins
        "ludb/88": "af",  # atrial fibrillation
        "ludb/34": "other",  # sinus rhythm, III degree AV block, pacing
    }
    assert {k: label(by[k]) for k in expected} == expected


def test_cinc_labels_of_real_records(cinc_records_all):
    by = _by_id(cinc_records_all)
    expected = {
        "cinc2021/chapman_shaoxing/JS00008": "healthy",  # 426783006
        "cinc2021/georgia/E00001": "healthy",  # 426783006 (age NaN)
        "cinc2021/ptb-xl/HR00001": "other",  # low QRS voltages + sinus rhythm
        "cinc2021/ptb/S0003": "mi",  # 164865005
        "cinc2021/cpsc_2018_extra/Q0001": "mi",  # old MI + sinus tachycardia
        "cinc2021/cpsc_2018/A0001": "bbb",  # RBBB
        "cinc2021/chapman_shaoxing/JS00001": "bbb",  # AF + RBBB + T wave abnormal: BBB wins
        "cinc2021/cpsc_2018/A0003": "af",  # AF
    }
    assert {k: label(by[k]) for k in expected} == expected


def test_label_counts_of_the_mirror(ludb_records, cinc_records_all):
    """The counts reported in docs/data-sources.md."""
    assert Counter(label(r) for r in ludb_records) == {"other": 140, "mi": 23, "healthy": 23, "af": 10, "bbb": 4}
    assert Counter(label(r) for r in cinc_records_all) == {"other": 83, "healthy": 30, "mi": 15, "bbb": 10, "af": 9}
    # every code seen in the mirror's headers is an integer SNOMED code
    assert all(c.isdigit() for r in cinc_records_all for c in r.diagnoses)
