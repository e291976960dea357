"""Record readers: real LUDB / CinC 2021 / MIT-BIH / QT files, and bad records written by the tests."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgdiff import leads
from ecgdiff.data.records import (
    Record,
    RecordError,
    check_record,
    parse_age,
    parse_sex,
    read_reference_beats,
    read_source,
    read_wfdb_record,
)

LUDB_LEADS = ["i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6"]
CINC_LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


@pytest.fixture(scope="module")
def ludb(physionet_mirror: Path) -> Path:
    return physionet_mirror / "ludb" / "1.0.1"


@pytest.fixture(scope="module")
def cinc(physionet_mirror: Path) -> Path:
    return physionet_mirror / "challenge-2021" / "1.0.3"


def _by_id(items):
    return {x.record_id: x for x in items}


def _mirror_records(cinc: Path, source: str) -> list[str]:
    return [r for r in (cinc / "RECORDS").read_text().split() if r.split("/")[1] == source]


# ---------------------------------------------------------------- LUDB (real files)


def test_ludb_record_1(ludb):
    rec = next(read_source("ludb", ludb))
    assert isinstance(rec, Record)
    assert rec.record_id == rec.patient_id == "ludb/1" and rec.source == "ludb"
    assert rec.fs == 500 and rec.signal.shape == (12, 5000) and rec.leads == leads.STANDARD_12
    assert rec.age == 51 and rec.sex == "F"
    assert rec.diagnoses == (
        "Rhythm: Sinus bradycardia",
        "Electric axis of the heart: left axis deviation",
        "Left ventricular hypertrophy",
        "Left ventricular overload",
        "Non-specific repolarization abnormalities: posterior wall",
    )
    # physical units: (digital - baseline) / gain, read straight from the .dat (format 16, 12 interleaved)
    digital = np.fromfile(ludb / "data" / "1.dat", dtype="<i2").reshape(5000, 12).T
    gain, base = 1716.0, 6.0  # 1.hea: "1.dat 16 1716(6)/mV ... i"
    np.testing.assert_allclose(rec.signal[0], (digital[0] - base) / gain)
    gain, base = 1457.0, 1.0  # v6
    np.testing.assert_allclose(rec.signal[11], (digital[11] - base) / gain)


def test_ludb_all_records_read(ludb_records):
    items = ludb_records
    assert len(items) == 200
    assert all(isinstance(x, Record) for x in items), [str(x) for x in items if isinstance(x, RecordError)]
    for x in items:
        check_record(x, leads=leads.PAPER_9)
    assert len({x.patient_id for x in items}) == 200
    assert {x.fs for x in items} == {500.0}
    ages = [x.age for x in items]
    assert min(ages) == 11 and max(ages) == 90
    assert sum(x.sex == "M" for x in items) == 115 and sum(x.sex == "F" for x in items) == 85  # LUDB README


def test_ludb_csv_completes_header_diagnoses(ludb_records):
    rec = _by_id(ludb_records)["ludb/34"]
    assert rec.age == 90  # header "90"; ludb.csv says ">89"
    assert "Pacemaker presence, undefined" in rec.diagnoses
    assert rec.meta["diagnoses_from_csv"] == ["Pacemaker presence, undefined"]
    assert "UNIpolar ventricular pacing" in rec.diagnoses


def test_parse_age_and_sex():
    assert parse_age("51") == 51.0 and parse_age(" 51\n") == 51.0 and parse_age(4) == 4.0
    assert parse_age(">89") == 90.0 and parse_age("> 89") == 90.0 and parse_age("89+") == 89.0
    for missing in ("NaN", "nan", "", "Unknown", "?", None, "-1", "abc", "130", float("nan")):
        assert parse_age(missing) is None, missing
    assert parse_sex("Male") == "M" and parse_sex("female") == "F" and parse_sex("F") == "F"
    assert parse_sex("Unknown") is None and parse_sex(None) is None and parse_sex("") is None


# ---------------------------------------------------------------- CinC 2021 (real files)


@pytest.mark.parametrize(
    "source", ["cpsc_2018", "cpsc_2018_extra", "georgia", "chapman_shaoxing", "ningbo", "ptb", "ptb-xl"]
)
def test_cinc_every_source_reads(cinc, source):
    items = list(
        read_source("cinc2021", cinc, {"sources": [source], "require_age_sex": False, "flat_tol_mv": -1.0})
    )  # flat check off
    names = _mirror_records(cinc, source)
    assert [x.record_id for x in items] == [
        f"cinc2021/{source}/{n.rsplit('/', 1)[1]}" for n in sorted(names, key=lambda n: (int(n.split("/")[2][1:]), n))
    ]
    ok = [x for x in items if isinstance(x, Record)]
    assert len(ok) == len(items), [str(x) for x in items if isinstance(x, RecordError)]
    for rec in ok:
        assert rec.leads == leads.STANDARD_12 and rec.source == "cinc2021"
        assert rec.fs == (1000.0 if source == "ptb" else 500.0)
        assert rec.sex in ("M", "F") and rec.diagnoses and all(d.isdigit() for d in rec.diagnoses)


def test_cinc_signal_in_millivolts_from_matlab_file(cinc):
    rec = read_wfdb_record(cinc / "training/cpsc_2018/g1/A0001", "cinc2021/cpsc_2018/A0001")
    raw = (cinc / "training/cpsc_2018/g1/A0001.mat").read_bytes()
    mtype, mrows, ncols, imagf, namlen = struct.unpack("<5i", raw[:20])
    assert (mrows, ncols) == (12, 7500)
    digital = np.frombuffer(raw[20 + namlen :], dtype="<i2").reshape(ncols, mrows).T
    np.testing.assert_allclose(rec.signal, digital / 1000.0)  # "16+24 1000/mV", baseline 0
    assert rec.age == 74 and rec.sex == "M" and rec.diagnoses == ("59118001",)


def test_georgia_record_line_quirk_is_read_without_touching_the_file(cinc):
    hea = cinc / "training/georgia/g1/E00271.hea"
    assert hea.read_text().split()[0] == "E00271.mat"  # the quirk: wfdb refuses this header as it is
    with pytest.raises(Exception):  # noqa: B017  (whatever wfdb raises: it refuses the header)
        wfdb.rdheader(str(hea.with_suffix("")))
    before = hashlib.sha256(hea.read_bytes()).hexdigest()
    rec = read_wfdb_record(hea.with_suffix(""), "cinc2021/georgia/E00271")
    assert hashlib.sha256(hea.read_bytes()).hexdigest() == before
    assert "E00271.mat" in rec.meta["header_fix"]
    assert rec.fs == 500 and rec.signal.shape == (12, 5000) and rec.leads == leads.STANDARD_12
    # same samples as the .mat holds
    raw = (cinc / "training/georgia/g1/E00271.mat").read_bytes()
    digital = np.frombuffer(raw[24:], dtype="<i2").reshape(5000, 12).T
    np.testing.assert_allclose(rec.signal, digital / 1000.0)


def test_nan_age_is_missing_not_a_crash(cinc):
    items = _by_id(read_source("cinc2021", cinc, {"sources": ["georgia"]}))
    err = items["cinc2021/georgia/E00001"]
    assert isinstance(err, RecordError) and "missing age" in err.reason and "'NaN'" in err.reason
    kept = _by_id(read_source("cinc2021", cinc, {"sources": ["georgia"], "require_age_sex": False}))
    rec = kept["cinc2021/georgia/E00001"]
    assert isinstance(rec, Record) and rec.age is None and rec.sex == "F" and rec.diagnoses == ("426783006",)


def test_ptb_at_1000_hz_and_patient_groups(cinc):
    items = _by_id(read_source("cinc2021", cinc, {"sources": ["ptb"]}))
    s1 = items["cinc2021/ptb/S0001"]
    assert s1.fs == 1000 and s1.signal.shape == (12, 38400) and s1.meta["units"][0] == "mv"
    assert items["cinc2021/ptb/S0002"].signal.shape == (12, 115200)
    groups = {rid.rsplit("/", 1)[1]: rec.patient_id.rsplit("/", 1)[1] for rid, rec in items.items()}
    # consecutive records of equal age and sex: S0001-3 (81 F), S0004 (58 F), S0005 (63 M), S0006-7 (69 M),
    # S0008-10 (74 M)
    assert groups == {
        "S0001": "S0001",
        "S0002": "S0001",
        "S0003": "S0001",
        "S0004": "S0004",
        "S0005": "S0005",
        "S0006": "S0006",
        "S0007": "S0006",
        "S0008": "S0008",
        "S0009": "S0008",
        "S0010": "S0008",
    }


def test_flat_leads_of_a_real_record_are_rejected(cinc):
    err = _by_id(read_source("cinc2021", cinc, {"sources": ["ningbo"]}))["cinc2021/ningbo/JS11438"]
    assert isinstance(err, RecordError) and "flat" in err.reason and "V1" in err.reason and "V6" in err.reason


def test_cinc_default_options_reject_exactly_the_problem_records(cinc):
    items = list(read_source("cinc2021", cinc, {"leads": leads.PAPER_9}))
    assert len(items) == 147
    rejected = sorted(x.record_id for x in items if isinstance(x, RecordError))
    assert rejected == [
        "cinc2021/georgia/E00001",
        "cinc2021/georgia/E00002",
        "cinc2021/georgia/E00003",
        "cinc2021/ningbo/JS11438",
        "cinc2021/ningbo/JS45542",
        "cinc2021/ningbo/JS45544",
        "cinc2021/ningbo/JS45551",
    ]


def test_source_options_are_validated(cinc, ludb, tmp_path):
    with pytest.raises(ValueError, match="unknown option"):
        list(read_source("ludb", ludb, {"sources": ["x"]}))
    with pytest.raises(ValueError, match="unknown source"):
        list(read_source("mitdb", ludb))
    with pytest.raises(FileNotFoundError):
        list(read_source("ludb", tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="download challenge-2021"):
        list(read_source("cinc2021", tmp_path))
    with pytest.raises(FileNotFoundError, match="st_petersburg_incart"):
        list(read_source("cinc2021", cinc, {"sources": ["st_petersburg_incart"]}))


# ---------------------------------------------------------------- bad records written by the tests


def _ludb_like(
    folder: Path, name: str, x: np.ndarray, fs: float = 500, age: str = "50", sex: str = "M", units: str = "mV"
) -> Path:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    comments = [f"<age>: {age}", f"<sex>: {sex}", "<diagnoses>:", "Rhythm: Sinus rhythm."]
    wfdb.wrsamp(
        name,
        fs=fs,
        units=[units] * x.shape[1],
        sig_name=LUDB_LEADS[: x.shape[1]],
        p_signal=x,
        fmt=["16"] * x.shape[1],
        comments=comments,
        write_dir=str(folder / "data"),
    )
    with open(folder / "RECORDS", "a") as f:
        f.write(f"data/{name}\n")
    return folder / "data" / name


def _ecg(seed: int, n: int = 5000, leads_: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 500
    return np.sin(2 * np.pi * 1.2 * t)[:, None] * rng.uniform(0.5, 1.5, leads_) + 0.05 * rng.normal(size=(n, leads_))


@pytest.fixture
def bad_ludb(tmp_path: Path) -> Path:
    root = tmp_path / "ludb"
    _ludb_like(root, "1", _ecg(1))  # good
    p = _ludb_like(root, "2", _ecg(2))  # truncated .dat
    dat = p.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:50_000])
    p = _ludb_like(root, "3", _ecg(3))  # header says fewer samples than the data
    hea = p.with_suffix(".hea")
    hea.write_text(hea.read_text().replace("3 12 500 5000", "3 12 500 4000", 1))
    p = _ludb_like(root, "4", _ecg(4))  # header lists 11 of the 12 stored signals
    lines = p.with_suffix(".hea").read_text().splitlines()
    lines[0] = lines[0].replace("4 12 ", "4 11 ", 1)
    p.with_suffix(".hea").write_text("\n".join(lines[:12] + lines[13:]) + "\n")
    x = _ecg(5)
    x[100:300, 7] = np.nan
    _ludb_like(root, "5", x)  # NaN samples in V2
    x = _ecg(6)
    x[:, 9] = 0.25
    _ludb_like(root, "6", x)  # flat V4
    _ludb_like(root, "7", _ecg(7), fs=200)  # sampling rate below 250 Hz
    _ludb_like(root, "8", _ecg(8), age="NaN")  # missing age
    _ludb_like(root, "9", _ecg(9), sex="Unknown")  # missing sex
    p = _ludb_like(root, "10", _ecg(10))  # unreadable header
    p.with_suffix(".hea").write_text("this is not a header\n")
    p = _ludb_like(root, "11", _ecg(11))  # signal file missing
    p.with_suffix(".dat").unlink()
    _ludb_like(root, "12", _ecg(12, leads_=3))  # only i, ii, iii: no precordial leads
    _ludb_like(root, "13", _ecg(13) * 1000, units="uV")  # good, in microvolts
    return root


EXPECTED_REASONS = {
    "ludb/2": "truncated signal file",
    "ludb/3": "header/data mismatch",
    "ludb/4": "header/data mismatch",
    "ludb/5": "NaN samples in lead(s) V2 (200 of 5000 samples)",
    "ludb/6": "flat (constant) lead(s)",
    "ludb/7": "sampling rate 200 Hz below the minimum 250 Hz",
    "ludb/8": "missing age",
    "ludb/9": "missing sex",
    "ludb/10": "unreadable",
    "ludb/11": "unreadable: signal file",
    "ludb/12": "missing leads",
}


def test_bad_records_become_record_errors_and_iteration_goes_on(bad_ludb):
    items = list(read_source("ludb", bad_ludb, {"leads": leads.PAPER_9}))
    assert [x.record_id for x in items] == [f"ludb/{i}" for i in range(1, 14)]
    good = {x.record_id for x in items if isinstance(x, Record)}
    assert good == {"ludb/1", "ludb/13"}
    for x in items:
        if isinstance(x, RecordError):
            assert EXPECTED_REASONS[x.record_id] in x.reason, (x.record_id, x.reason)
            assert str(x).startswith(x.record_id + ": ")
    reasons = _by_id(items)
    assert "V4" in reasons["ludb/6"].reason
    assert "V1" in reasons["ludb/12"].reason
    assert "4000" in reasons["ludb/3"].reason


def test_microvolt_header_is_converted(bad_ludb):
    items = _by_id(read_source("ludb", bad_ludb))
    uv, mv = items["ludb/13"], _ecg(13)
    assert uv.meta["units"] == ["uV"] * 12
    np.testing.assert_allclose(uv.signal, mv.T, atol=2e-3)  # 16-bit quantisation of the written record


def test_check_record_lead_sets():
    sig = np.vstack([np.sin(np.linspace(0, 20, 1000)) * (k + 1) for k in range(8)])
    rec = Record("x/1", "x/1", "x", 500.0, sig, leads.BASIS, age=40.0, sex="F")
    check_record(rec, leads=leads.PAPER_9)  # aVL, aVR, aVF derive from I and II
    rec3 = Record("x/2", "x/2", "x", 500.0, sig[:3], ("I", "II", "V1"), age=40.0, sex="F")
    with pytest.raises(RecordError, match="missing leads"):
        check_record(rec3, leads=leads.PAPER_9)
    check_record(rec3, leads=("aVF", "V1"))


def _write_cinc(
    folder: Path,
    name: str,
    digital: np.ndarray,
    fs: int = 500,
    age: str = "60",
    sex: str = "Male",
    dx: str = "426783006",
    mat_dims: tuple[int, int] | None = None,
    quirk: bool = False,
) -> Path:
    """A record in the Challenge 2021 layout: MATLAB v4 int16 matrix 'val' (12 x N) + WFDB header '16+24'."""
    folder.mkdir(parents=True, exist_ok=True)
    n_sig, n = digital.shape
    rows, cols = mat_dims or (n_sig, n)
    head = struct.pack("<5i", 30, rows, cols, 0, 4) + b"val\x00"
    (folder / f"{name}.mat").write_bytes(head + digital.T.astype("<i2").tobytes())
    lines = [f"{name}{'.mat' if quirk else ''} {n_sig} {fs} {n}"]
    lines += [f"{name}.mat 16+24 1000/mV 16 0 {int(digital[k, 0])} 0 0 {CINC_LEADS[k]}" for k in range(n_sig)]
    lines += [f"#Age: {age}", f"#Sex: {sex}", f"#Dx: {dx}", "#Rx: Unknown", "#Hx: Unknown"]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return folder / name


def test_bad_cinc_records(tmp_path):
    root = tmp_path / "challenge"
    g = root / "training" / "georgia" / "g1"
    rng = np.random.default_rng(0)
    d = lambda: (rng.normal(size=(12, 5000)) * 300).astype(np.int16)  # noqa: E731
    _write_cinc(g, "E00001", d(), quirk=True)  # good (quirky record line)
    p = _write_cinc(g, "E00002", d())  # truncated .mat
    p.with_suffix(".mat").write_bytes(p.with_suffix(".mat").read_bytes()[:60_000])
    _write_cinc(g, "E00003", d(), mat_dims=(12, 4000))  # MATLAB matrix size disagrees with the header
    _write_cinc(g, "E00004", d(), age="NaN")  # missing age
    _write_cinc(g, "E00005", d(), fs=200)  # too slow
    _write_cinc(g, "E00006", d(), dx="164865005,59118001")  # good
    items = list(read_source("cinc2021", root, {"sources": ["georgia"]}))
    assert [x.record_id for x in items] == [f"cinc2021/georgia/E0000{i}" for i in range(1, 7)]
    by = _by_id(items)
    assert isinstance(by["cinc2021/georgia/E00001"], Record) and "header_fix" in by["cinc2021/georgia/E00001"].meta
    assert "truncated signal file E00002.mat" in by["cinc2021/georgia/E00002"].reason
    assert "MATLAB matrix in E00003.mat is 12 x 4000" in by["cinc2021/georgia/E00003"].reason
    assert "missing age" in by["cinc2021/georgia/E00004"].reason
    assert "sampling rate 200 Hz" in by["cinc2021/georgia/E00005"].reason
    assert by["cinc2021/georgia/E00006"].diagnoses == ("164865005", "59118001")


def test_ptbxl_patient_ids_from_the_ptbxl_table(tmp_path):
    root = tmp_path / "challenge"
    g = root / "training" / "ptb-xl" / "g1"
    rng = np.random.default_rng(1)
    for name, age, sex in [("HR00001", "56", "Female"), ("HR00002", "56", "Female"), ("HR00003", "37", "Male")]:
        _write_cinc(g, name, (rng.normal(size=(12, 5000)) * 300).astype(np.int16), age=age, sex=sex)
    table = tmp_path / "ptbxl_database.csv"
    # ecg_id, patient_id, age, sex (PTB-XL: 0 male, 1 female); record 3's row disagrees with its header
    table.write_text("ecg_id,patient_id,age,sex\n1,15709.0,56.0,1\n2,15709.0,56.0,1\n3,20372.0,37.0,1\n")
    items = _by_id(read_source("cinc2021", root, {"sources": ["ptb-xl"], "ptbxl_database": str(table)}))
    assert (
        items["cinc2021/ptb-xl/HR00001"].patient_id
        == items["cinc2021/ptb-xl/HR00002"].patient_id
        == "cinc2021/ptb-xl/15709"
    )
    assert items["cinc2021/ptb-xl/HR00003"].patient_id == "cinc2021/ptb-xl/HR00003"
    assert "disagrees" in items["cinc2021/ptb-xl/HR00003"].meta["patient_from"]
    plain = _by_id(read_source("cinc2021", root, {"sources": ["ptb-xl"]}))
    assert plain["cinc2021/ptb-xl/HR00002"].patient_id == "cinc2021/ptb-xl/HR00002"


# ---------------------------------------------------------------- reference beats


def test_mitdb_reference_beats(physionet_mirror):
    rec, beats = read_reference_beats(physionet_mirror / "mitdb" / "1.0.0", "100", "atr")
    # MIT-BIH record 100: 2273 beats (2239 normal, 33 atrial premature, 1 ventricular); its '+' rhythm mark
    # is not a beat
    assert len(beats) == 2273 and rec.meta["annotator"] == "atr"
    assert rec.fs == 360 and rec.leads == ("MLII", "V5") and rec.signal.shape == (2, 650000)
    assert rec.age == 69 and rec.sex == "M" and rec.record_id == "mitdb/100"
    ann = wfdb.rdann(str(physionet_mirror / "mitdb" / "1.0.0" / "100"), "atr")
    assert ann.symbol[0] == "+" and ann.sample[0] not in beats
    assert np.all(np.diff(beats) > 0)


def test_qtdb_reference_beats_auto(physionet_mirror):
    qt = physionet_mirror / "qtdb" / "1.0.0"
    rec, beats = read_reference_beats(qt, "sel100")
    assert rec.meta["annotator"] == "atr" and len(beats) == 1134 and rec.fs == 250
    rec, beats = read_reference_beats(qt, "sel30")  # no .atr: the manual marks of 30 selected beats
    assert rec.meta["annotator"] == "q1c" and len(beats) == 30
    lo, hi = rec.meta["annotated_range"]
    assert lo <= beats.min() and beats.max() <= hi
    _, man = read_reference_beats(qt, "sel30", "man")
    np.testing.assert_array_equal(man, beats)  # the same 30 beats
    _, man104 = read_reference_beats(qt, "sel104", "man")
    _, q104 = read_reference_beats(qt, "sel104", "q1c")
    assert len(man104) == len(q104) == 77 and np.abs(man104 - q104).max() == 14


def test_ludb_qrs_marks(physionet_mirror):
    ludb = physionet_mirror / "ludb" / "1.0.1"
    rec, beats = read_reference_beats(ludb, "1", "ii")
    ann = wfdb.rdann(str(ludb / "data" / "1"), "ii")
    onsets = [s for s, sym, nxt in zip(ann.sample, ann.symbol, ann.symbol[1:]) if sym == "(" and nxt == "N"]
    assert len(beats) == len(onsets) == 6
    for b, on in zip(beats, onsets):
        assert 0 < b - on < 60  # the peak lies shortly after its QRS onset (< 120 ms at 500 Hz)
    assert rec.meta["annotation_kind"] == "delineation" and rec.leads == leads.STANDARD_12
    # malformed triples (onset or offset missing) still count: record 7, lead v1
    _, beats7 = read_reference_beats(ludb, "data/7", "v1")
    ann7 = wfdb.rdann(str(ludb / "data" / "7"), "v1")
    assert len(beats7) == ann7.symbol.count("N") == 8


def test_reference_beats_missing_annotation(physionet_mirror):
    with pytest.raises(RecordError, match="no reference annotation"):
        read_reference_beats(physionet_mirror / "ludb" / "1.0.1", "1")
    with pytest.raises(RecordError, match="missing"):
        read_reference_beats(physionet_mirror / "qtdb" / "1.0.0", "sel30", "atr")
