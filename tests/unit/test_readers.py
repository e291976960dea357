"""Single-record readers: WFDB, CSV and EDF give the same millivolts; lead names, channel choice, units, age/sex, and
errors that name the file and the problem."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb
from record_fixtures import ludb_root, write_csv, write_edf

from ecgdiff import leads
from ecgdiff.data.readers import ReadError, detect_format, read_record, select_channels

pyedflib = pytest.importorskip("pyedflib", reason="EDF files are read with pyedflib (requirements.txt)")

RECORD = "7"


@pytest.fixture(scope="module")
def ludb_record(physionet_mirror):
    return ludb_root(physionet_mirror) / "data" / RECORD


def test_wfdb_record_in_millivolts_with_canonical_names(ludb_record):
    rec = read_record(ludb_record.with_suffix(".hea"))
    raw = wfdb.rdrecord(str(ludb_record))
    assert rec.leads == leads.STANDARD_12 and rec.fs == 500.0
    np.testing.assert_array_equal(rec.signal, raw.p_signal.T)
    assert rec.age is not None and rec.sex in ("M", "F") and rec.meta["age_source"] == "header"
    assert rec.record_id == RECORD and rec.meta["format"] == "wfdb" and rec.meta["channels"][0] == "i"
    assert read_record(ludb_record).leads == rec.leads  # the record name without extension
    assert read_record(ludb_record.with_suffix(".dat")).leads == rec.leads


def test_csv_and_edf_read_back_the_wfdb_millivolts(ludb_record, tmp_path):
    ref = read_record(ludb_record)
    csv = read_record(write_csv(ludb_record, tmp_path / "r.csv"), fs=500)
    np.testing.assert_array_equal(csv.signal, ref.signal)  # 17 digits, round-trip parser: exact
    assert csv.leads == ref.leads and csv.age is None and csv.meta["age_source"] is None
    micro = read_record(write_csv(ludb_record, tmp_path / "u.csv", units="uV"), fs=500)
    np.testing.assert_allclose(micro.signal, ref.signal, rtol=1e-12, atol=1e-12)
    edf = read_record(write_edf(ludb_record, tmp_path / "r.edf", sex=ref.sex, age=int(ref.age)))
    np.testing.assert_allclose(edf.signal, ref.signal, rtol=0, atol=1e-9)
    assert edf.leads == ref.leads and edf.fs == 500.0
    assert (edf.age, edf.sex) == (ref.age, ref.sex) and edf.meta["sex_source"] == "header"


def test_lead_labels_decorations_modified_leads_and_extra_channels(tmp_path):
    path = tmp_path / "x.csv"
    t = np.arange(400) / 200.0
    cols = {"time": t, "MLII": np.sin(t), "v2": np.cos(t), "ECG V3-": t, "Resp": t * 0, "II": t + 1}
    path.write_text(
        ",".join(cols) + "\n" + "\n".join(",".join(repr(float(v[i])) for v in cols.values()) for i in range(400))
    )
    rec = read_record(path, fs=200)
    assert rec.leads == ("II", "V2", "V3")
    np.testing.assert_array_equal(rec.signal[0], np.sin(t))  # MLII, the first channel of lead II
    assert rec.meta["approximations"] == {"MLII": "modified lead read as II"}
    assert rec.meta["ignored_channels"] == {"Resp": "not a lead name", "II": "a second channel of lead II"}
    picked = read_record(path, fs=200, channels=["II", "Resp=V4", "v2"])
    assert picked.leads == ("II", "V4", "V2")
    np.testing.assert_array_equal(picked.signal[0], t + 1)  # a label matches before a lead name
    np.testing.assert_array_equal(read_record(path, fs=200, channels=["MLII"]).signal[0], np.sin(t))
    np.testing.assert_array_equal(read_record(path, fs=200, channels=["V3"]).signal[0], t)  # lead name of "ECG V3-"
    np.testing.assert_array_equal(picked.signal[1], t * 0)
    with pytest.raises(ReadError, match="no channel 'V9x'"):
        read_record(path, fs=200, channels=["V9x"])
    with pytest.raises(ReadError, match="name it with LABEL=LEAD"):
        read_record(path, fs=200, channels=["Resp"])


def test_canonical_accepts_decorated_labels_and_refuses_inverted_ones():
    for label, lead in [("v1", "V1"), ("V1-", "V1"), ("ECG II", "II"), ("EKG aVR-REF", "aVR"), ("Lead I", "I")]:
        assert leads.canonical(label) == lead
    assert leads.canonical("DIII") == "III"
    for bad in ("-aVR", "MLII", "V7", "ECG"):
        with pytest.raises(leads.LeadError):
            leads.canonical(bad)
    assert leads.canonical("MLII", modified=True) == "II" and leads.is_modified("mlii")
    names, rows, notes = select_channels(["avf", "ECG I", "pleth"], None, "f")
    assert names == ("aVF", "I") and rows == [0, 1] and notes["ignored_channels"] == {"pleth": "not a lead name"}


def test_age_and_sex_arguments_override_the_file(ludb_record, tmp_path):
    rec = read_record(ludb_record, age=33, sex="female")
    assert (rec.age, rec.sex) == (33.0, "F") and rec.meta["age_source"] == "argument"
    assert "the file says" in rec.meta["age_note"]
    with pytest.raises(ReadError, match="not one of M, F"):
        read_record(ludb_record, sex="x")
    with pytest.raises(ReadError, match="not an age"):
        read_record(ludb_record, age=-4)


def test_errors_name_the_file_and_the_problem(ludb_record, tmp_path):
    csv = write_csv(ludb_record, tmp_path / "r.csv")
    with pytest.raises(ReadError, match=r"r\.csv: a CSV file carries no sampling rate: pass fs / --fs"):
        read_record(csv)
    with pytest.raises(ReadError, match="sampling rate 250 Hz was given but the file says 500 Hz"):
        read_record(ludb_record, fs=250)
    bad = tmp_path / "bad.csv"
    bad.write_text("I,II\n0.1,0.2\n0.3,oops\n")
    with pytest.raises(ReadError, match=r"bad\.csv: column 'II': missing or non-numeric value on line 3"):
        read_record(bad, fs=100)
    unit = tmp_path / "unit.csv"
    unit.write_text("I [furlong]\n0.1\n0.2\n")
    with pytest.raises(ReadError, match="unknown unit 'furlong'"):
        read_record(unit, fs=100)
    none = tmp_path / "none.csv"
    none.write_text("resp,spo2\n1,2\n3,4\n")
    with pytest.raises(ReadError, match=r"none\.csv: no channel is an ECG lead"):
        read_record(none, fs=100)
    with pytest.raises(ReadError, match="file not found"):
        read_record(tmp_path / "absent.edf")
    with pytest.raises(ReadError, match="cannot tell the format"):
        detect_format(tmp_path / "x.xyz")
    with pytest.raises(ReadError, match="header missing.hea not found"):
        read_record(tmp_path / "missing.hea")
    junk = tmp_path / "junk.edf"
    junk.write_bytes(b"not an edf file" * 20)
    with pytest.raises(ReadError, match=r"junk\.edf: cannot read as EDF"):
        read_record(junk)


def test_edf_channels_of_other_rates_and_units(tmp_path):
    path = tmp_path / "mixed.edf"
    w = pyedflib.EdfWriter(str(path), 4, file_type=pyedflib.FILETYPE_EDFPLUS)
    common = {"physical_max": 5000.0, "physical_min": -5000.0, "digital_max": 32767, "digital_min": -32768}
    w.setSignalHeaders(
        [
            {"label": "ECG I", "dimension": "uV", "sample_frequency": 250, **common},
            {"label": "V1", "dimension": "uV", "sample_frequency": 250, **common},
            {"label": "Pleth", "dimension": "%", "sample_frequency": 50, **common},
            {"label": "Resp", "dimension": "%", "sample_frequency": 250, **common},
        ]
    )
    x = 1000 * np.sin(np.arange(2500) / 25)
    w.writeSamples([x, -x, np.ascontiguousarray(x[::5]), x])
    w.close()
    rec = read_record(path)
    assert rec.leads == ("I", "V1") and rec.fs == 250.0
    assert rec.meta["ignored_channels"] == {"Pleth": "not a lead name", "Resp": "not a lead name"}
    np.testing.assert_allclose(rec.signal[0], x / 1000, atol=2e-4)  # uV -> mV (16-bit quantisation: 0.15 uV)
    with pytest.raises(ReadError, match=r"different sampling rates \{'ECG I': 250.0, 'Pleth': 50.0\}"):
        read_record(path, channels=["I", "Pleth=V2"])
    with pytest.raises(ReadError, match="channel 'Resp': unknown physical dimension '%'"):
        read_record(path, channels=["I", "Resp=V2"])
