"""Sources of the beat database: the PTB Diagnostic ECG Database, labelled WFDB folders, challenge records in
flat folders, PTB-XL, several sources in one database, the configuration form and the download patterns.

The PTB Diagnostic ECG Database is not in the local PhysioNet copy: the fixture writes a few records in its
exact layout (``RECORDS``, ``patientNNN/sNNNNlre.hea`` listing 12 ``.dat`` and 3 ``.xyz`` signals at 1000 Hz,
2000 units/mV, no unit field; the clinical summary in the header comments) from real LUDB signals
resampled to 1000 Hz.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import wfdb
import yaml
from scipy import signal as sps
from test_ptbxl import write_ptbxl

from ecgdiff import leads as L
from ecgdiff.data import beatdb, dataset, physionet, quality
from ecgdiff.data.records import (
    Record,
    RecordError,
    SourceProblem,
    SourceSpec,
    check_record,
    read_source,
    read_wfdb_record,
)

REPO = Path(__file__).resolve().parents[2]
CONFIG = {
    "run": "test",
    "label": "TEST",
    "seed": 0,
    "leads": list(L.PAPER_9),
    "data": {"beats": {}, "split": {"seed": 0, "fractions": {"train": 0.5, "cv": 0.25, "test": 0.25}}},
}
PTB_LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")


def _by_id(items):
    return {x.record_id: x for x in items}


@pytest.fixture(scope="module")
def ludb_mv(physionet_mirror: Path) -> dict[str, np.ndarray]:
    root = physionet_mirror / "ludb" / "1.0.1" / "data"
    return {n: read_wfdb_record(root / n, n).signal for n in ("56", "62", "142", "149", "154", "190")}


# ------------------------------------------------------------------------------------------ PTB-DB
def _ptb_file(path: Path, digital: np.ndarray) -> list[tuple[int, int]]:
    """Write ``digital [n_sig, n]`` as format 16; return (initial value, checksum) per signal."""
    path.write_bytes(np.ascontiguousarray(digital.T).astype("<i2").tobytes())
    return [(int(d[0]), int((int(d.sum()) + 32768) % 65536 - 32768)) for d in digital]


def write_ptb_record(root: Path, name: str, mv500: np.ndarray, comments: list[str], xyz: bool = True) -> None:
    """``patientNNN/<record>`` in the PTB Diagnostic ECG Database's layout (from a 500-Hz, 12-lead signal)."""
    folder = root / name.split("/")[0]
    folder.mkdir(parents=True, exist_ok=True)
    stem = name.split("/")[1]
    mv = sps.resample_poly(mv500, 2, 1, axis=1)
    digital = np.round(mv * 2000).astype(np.int64)
    frank = np.round(L.dower_matrix(L.STANDARD_12).T @ mv * 2000 / 3).astype(np.int64)  # any 3 signals
    sig = _ptb_file(folder / f"{stem}.dat", digital)
    fr = _ptb_file(folder / f"{stem}.xyz", frank) if xyz else [(0, 0)] * 3
    lines = [f"{stem} 15 1000 {digital.shape[1]}"]
    lines += [f"{stem}.dat 16 2000 16 0 {i} {c} 0 {n}" for (i, c), n in zip(sig, PTB_LEADS)]
    lines += [f"{stem}.xyz 16 2000 16 0 {i} {c} 0 {n}" for (i, c), n in zip(fr, ("vx", "vy", "vz"))]
    lines += [f"# {c}" for c in comments]
    (folder / f"{stem}.hea").write_text("\n".join(lines) + "\n")
    with open(root / "RECORDS", "a") as f:
        f.write(f"{name}\n")


def ptb_comments(age: str, sex: str, reason: str, acute: str = "no", former: str = "no", more: str = "no"):
    return [
        f"age: {age}",
        f"sex: {sex}",
        "ECG date: 30/10/1990",
        "Diagnose:",
        f"Reason for admission: {reason}",
        f"Acute infarction (localization): {acute}",
        f"Former infarction (localization): {former}",
        f"Additional diagnoses: {more}",
        "Smoker: yes",
        "Number of coronary vessels involved: 2",
        "Peripheral blood Pressure (syst/diast): 110/60 mmHg",
    ]


@pytest.fixture(scope="module")
def ptbdb_root(tmp_path_factory, ludb_mv) -> Path:
    root = tmp_path_factory.mktemp("ptbdb") / "1.0.0"
    root.mkdir()
    mi = ptb_comments("60", "male", "Myocardial infarction", acute="inferior", more="Hypercholesterinemia")
    write_ptb_record(root, "patient001/s0010_re", ludb_mv["190"], mi)
    write_ptb_record(root, "patient001/s0014lre", ludb_mv["62"], mi)
    write_ptb_record(root, "patient104/s0306lre", ludb_mv["154"], ptb_comments("37", "male", "Healthy control"))
    write_ptb_record(root, "patient105/s0303lre", ludb_mv["142"], ptb_comments("n/a", "female", "Healthy control"))
    write_ptb_record(
        root, "patient106/s0030_re", ludb_mv["149"], ptb_comments("45", "female", "Bundle branch block"), xyz=False
    )
    write_ptb_record(root, "patient107/s0031_re", ludb_mv["56"], ptb_comments("52", "male", "Healthy control"))
    return root


def test_ptbdb_reads_the_12_standard_leads_and_ignores_the_frank_leads(ptbdb_root):
    items = list(read_source("ptbdb", ptbdb_root))
    assert [x.record_id for x in items] == [
        "ptbdb/patient001/s0010_re",
        "ptbdb/patient001/s0014lre",
        "ptbdb/patient104/s0306lre",
        "ptbdb/patient105/s0303lre",
        "ptbdb/patient106/s0030_re",
        "ptbdb/patient107/s0031_re",
    ]
    by = _by_id(items)
    rec = by["ptbdb/patient001/s0010_re"]
    assert isinstance(rec, Record) and rec.leads == L.STANDARD_12 and rec.fs == 1000.0
    assert rec.signal.shape == (12, 10000) and rec.meta["skipped_leads"] == ["vx", "vy", "vz"]
    hea = wfdb.rdrecord(str(ptbdb_root / "patient001" / "s0010_re"), channels=[0])
    np.testing.assert_allclose(rec.signal[0], hea.p_signal[:, 0])  # 2000 units per mV, no unit field: mV
    assert (rec.age, rec.sex, rec.patient_id) == (60.0, "M", "ptbdb/patient001")
    assert by["ptbdb/patient001/s0014lre"].patient_id == "ptbdb/patient001"  # one patient, two records
    assert rec.diagnoses == (
        "Reason for admission: Myocardial infarction",
        "Acute infarction (localization): inferior",
        "Former infarction (localization): no",
        "Additional diagnoses: Hypercholesterinemia",
    )
    assert rec.meta["header_fields"]["smoker"] == "yes"
    assert isinstance(by["ptbdb/patient106/s0030_re"], Record)  # no .xyz file: the same 12 leads
    missing = by["ptbdb/patient105/s0303lre"]
    assert isinstance(missing, RecordError) and "missing age (header: 'n/a')" in missing.reason


def test_ptbdb_beat_database_and_labels(ptbdb_root, tmp_path):
    beatdb.build("ptbdb", ptbdb_root, tmp_path / "db", CONFIG)
    db = dataset.load(tmp_path / "db")
    labels = db.meta.groupby("record_id")["label"].first().to_dict()
    assert labels == {
        "ptbdb/patient001/s0010_re": "mi",
        "ptbdb/patient001/s0014lre": "mi",
        "ptbdb/patient104/s0306lre": "healthy",
        "ptbdb/patient106/s0030_re": "bbb",
        "ptbdb/patient107/s0031_re": "healthy",
    }
    split = db.meta.groupby("patient_id")["split"].first()
    assert split["ptbdb/patient001"] == "mi" and split["ptbdb/patient106"] == "none"
    assert db.manifest["fs"] == 250 and db.beats.shape[1:] == (9, 176)


def test_non_standard_signals_do_not_hide_the_lead_set(ptbdb_root, tmp_path):
    path = ptbdb_root / "patient001" / "s0010_re"
    with_frank = read_wfdb_record(path, "x", strict_leads=False)
    assert with_frank.leads[-3:] == ("vx", "vy", "vz")
    check_record(with_frank, leads=L.PAPER_9)  # formerly: "missing leads ... (absent: [])"
    no_v3 = dataclasses.replace(
        with_frank,
        signal=np.delete(with_frank.signal, 8, axis=0),
        leads=tuple(n for n in with_frank.leads if n != "V3"),
    )
    with pytest.raises(RecordError) as err:
        check_record(no_v3, leads=L.PAPER_9)
    assert "cannot derive ['V3']" in err.value.reason and "non-standard signals ['vx', 'vy', 'vz']" in err.value.reason
    assert "absent: []" not in err.value.reason
    # the strict default drops them, with a note, when the 12 standard leads are all there ...
    strict = read_wfdb_record(path, "x")
    assert strict.leads == L.STANDARD_12 and strict.meta["dropped_leads"] == ["vx", "vy", "vz"]
    assert "non-standard signals ['vx', 'vy', 'vz'] dropped" in strict.meta["lead_note"]
    np.testing.assert_array_equal(strict.signal, with_frank.signal[:12])
    # ... and refuses an unknown name when a standard lead is absent: it may be that lead under another name
    renamed = tmp_path / "s0010_re"
    for f in path.parent.glob("s0010_re.*"):
        shutil.copy(f, tmp_path / f.name)
    hea = renamed.with_suffix(".hea")
    hea.write_text(hea.read_text().replace(" 0 v3\n", " 0 chest3\n"))
    with pytest.raises(RecordError, match="unknown lead name 'chest3'.*not every standard lead is present"):
        read_wfdb_record(renamed, "x")


def test_ptbdb_catalogue_and_include_patterns():
    inc = physionet.include_patterns("ptbdb")
    assert physionet.matches("patient001/s0010_re.hea", inc) and physionet.matches("patient001/s0010_re.dat", inc)
    assert not physionet.matches("patient001/s0010_re.xyz", inc) and physionet.matches("RECORDS", inc)


# ------------------------------------------------------------------------------------------ folders
def _write_plain(folder: Path, name: str, mv: np.ndarray, age: str = "50", sex: str = "M") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(
        name,
        fs=500,
        units=["mV"] * 12,
        sig_name=["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"],
        p_signal=mv.T,
        fmt=["16"] * 12,
        comments=[f"Age: {age}", f"Sex: {sex}"],
        write_dir=str(folder),
    )


@pytest.fixture
def labelled_folder(tmp_path, ludb_mv) -> tuple[Path, Path]:
    root = tmp_path / "mine"
    _write_plain(root, "ecg_a", ludb_mv["56"])
    _write_plain(root / "ward2" / "day1", "ecg_b", ludb_mv["62"], age="NaN")
    _write_plain(root / "ward2", "ecg_c", ludb_mv["142"])
    _write_plain(root / "ward3", "ecg_d", ludb_mv["149"])  # no row in the table
    table = tmp_path / "labels.csv"
    table.write_text(
        "record,label,age,sex,patient\n"
        "ecg_a,healthy,,,p1\n"
        "ward2/day1/ecg_b,mi,71,female,p2\n"
        "ecg_c,HEALTHY,44,M,\n"
        "ecg_z,healthy,40,M,\n"  # no such record
    )
    return root, table


def test_folder_source_reads_nested_records_with_the_table_labels(labelled_folder):
    root, table = labelled_folder
    items = list(read_source("folder", root, {"labels": str(table)}))
    by = _by_id(items)
    problem = next(x for x in items if isinstance(x, SourceProblem))
    assert problem.record_id == "folder/labels.csv" and "'ecg_z' not used (no such record)" in problem.reason
    a, b, c = by["folder/ecg_a"], by["folder/ward2/day1/ecg_b"], by["folder/ward2/ecg_c"]
    assert (a.meta["label"], a.age, a.sex, a.patient_id) == ("healthy", 50.0, "M", "folder/p1")
    assert (b.meta["label"], b.age, b.sex, b.patient_id) == ("mi", 71.0, "F", "folder/p2")  # table over header
    assert c.meta["label"] == "healthy" and c.patient_id == "folder/ward2/ecg_c" and c.age == 44.0
    assert "no row for this record in the labels table" in by["folder/ward3/ecg_d"].reason


def test_folder_source_table_problems_are_named(labelled_folder, tmp_path):
    root, table = labelled_folder
    with pytest.raises(ValueError, match="option 'labels'"):
        list(read_source("folder", root))
    bad = tmp_path / "bad.csv"
    bad.write_text("name,diagnosis\nx,y\n")
    with pytest.raises(ValueError, match=f"labels table {bad} must have the columns record, label"):
        list(read_source("folder", root, {"labels": str(bad)}))
    bad.write_text("record,label\necg_a,sick\n")
    items = _by_id(read_source("folder", root, {"labels": str(bad)}))
    assert "label 'sick'" in items["folder/ecg_a"].reason
    with pytest.raises(ValueError, match="name 'ludb'"):
        list(read_source("folder", root, {"labels": str(table), "name": "ludb"}))


def test_folder_source_builds_a_beat_database(labelled_folder, tmp_path):
    root, table = labelled_folder
    cfg = dict(CONFIG, data=dict(CONFIG["data"], folder={"labels": str(table), "name": "clinic"}))
    man = beatdb.build("folder", root, tmp_path / "db", cfg)
    db = dataset.load(tmp_path / "db")
    assert set(db.meta["source"]) == {"clinic"} and man["source"] == "folder"
    assert db.meta.groupby("record_id")["label"].first().to_dict() == {
        "clinic/ecg_a": "healthy",
        "clinic/ward2/day1/ecg_b": "mi",
        "clinic/ward2/ecg_c": "healthy",
    }


# ------------------------------------------------------------------------------------------ CinC folders
def test_cinc_records_in_a_flat_folder(physionet_mirror, tmp_path):
    training = physionet_mirror / "challenge-2021" / "1.0.3" / "training"
    flat = tmp_path / "my_cinc"
    flat.mkdir()
    heas = sorted((training / "georgia").glob("*/*.hea"))
    quirk = next(h for h in heas if h.read_text().split()[0].endswith(".mat"))  # record line "E00271.mat ..."
    for hea in [*heas[:2], quirk]:
        for f in hea.parent.glob(f"{hea.stem}.*"):
            shutil.copy(f, flat / f.name)
    items = list(read_source("cinc2021", flat))
    assert len(items) == 3 and all(x.record_id.startswith("cinc2021/my_cinc/E") for x in items)
    assert any(isinstance(x, Record) and "header_fix" in x.meta for x in items)  # the Georgia quirk too
    # a source folder of the challenge given directly keeps its source name (PTB's patient groups)
    ptb = _by_id(read_source("cinc2021", training / "ptb", {"require_age_sex": False}))
    assert ptb["cinc2021/ptb/S0002"].patient_id == ptb["cinc2021/ptb/S0001"].patient_id == "cinc2021/ptb/S0001"
    group = list(read_source("cinc2021", training / "georgia" / "g1", {"require_age_sex": False}))
    assert group and all(x.record_id.startswith("cinc2021/georgia/") for x in group)
    with pytest.raises(FileNotFoundError, match="download challenge-2021 first"):
        list(read_source("cinc2021", tmp_path / "my_cinc" / ".." / "empty" if False else _empty(tmp_path)))


def _empty(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir(exist_ok=True)
    return tmp_path / "empty"


# ------------------------------------------------------------------------------------------ PTB-XL
def test_ptbxl_beat_database(tmp_path, physionet_mirror):
    root = write_ptbxl(tmp_path / "ptb-xl" / "1.0.3", physionet_mirror)
    beatdb.build("ptbxl", root, tmp_path / "db", CONFIG)
    db = dataset.load(tmp_path / "db")
    labels = db.meta.groupby("record_id")["label"].first().to_dict()
    assert labels["ptbxl/3"] == "healthy" and labels["ptbxl/1"] == "other"  # NORM+SR vs NORM+LVOLT+SR
    assert labels["ptbxl/4"] == "bbb" and labels["ptbxl/9"] == "other"
    rej = pd.read_csv(tmp_path / "db" / "rejects.csv").set_index("record_id")
    assert rej.loc["ptbxl/8", "stage"] == "label" and "unparseable label" in rej.loc["ptbxl/8", "reason"]
    assert rej.loc["ptbxl/7", "stage"] == "read" and "missing age" in rej.loc["ptbxl/7", "reason"]
    assert db.meta.loc[db.meta["record_id"] == "ptbxl/6", "patient_id"].iloc[0] == "ptbxl/15709"


# ------------------------------------------------------------------------------------------ several sources
def test_beat_database_of_several_sources(physionet_mirror, ptbdb_root, labelled_folder, tmp_path, ludb_mv):
    ludb = tmp_path / "ludb"
    (ludb / "data").mkdir(parents=True)
    for n in ("56", "62", "142"):
        for f in (physionet_mirror / "ludb" / "1.0.1" / "data").glob(f"{n}.*"):
            shutil.copy(f, ludb / "data" / f.name)
        with open(ludb / "RECORDS", "a") as out:
            out.write(f"data/{n}\n")
    folder, table = labelled_folder  # ecg_a holds the samples of LUDB 56 (written at 16 bits again)
    _write_plain(folder, "copy_of_ptb", read_wfdb_record(ptbdb_root / "patient104" / "s0306lre", "x").signal[:, ::2])
    specs = [
        SourceSpec("ludb", str(ludb)),
        SourceSpec("ptbdb", str(ptbdb_root)),
        SourceSpec("folder", str(folder), {"labels": str(table)}),
    ]
    man = beatdb.build_sources(specs, tmp_path / "db", CONFIG)
    db = dataset.load(tmp_path / "db")
    assert set(db.meta["source"]) == {"ludb", "ptbdb", "folder"}
    assert man["source"] == "ludb+ptbdb+folder" and [s["source"] for s in man["sources"]] == ["ludb", "ptbdb", "folder"]
    assert man["records_by_source"]["ludb"] == {"records": 3, "used": 3}
    assert {"ludb/56", "ptbdb/patient104/s0306lre", "folder/ecg_a"} <= set(db.meta["record_id"])
    assert db.meta.groupby("patient_id")["source"].nunique().max() == 1  # no patient spans two sources
    # the same ECG twice, across sources: one kept, the other a reject naming it
    ids = {"ludb/x": ludb_mv["56"]}
    recs = [
        Record(rid, rid, "synthetic", 500.0, x, L.STANDARD_12, 50.0, "M", meta={"label": "healthy"})
        for rid, x in [("a/1", ids["ludb/x"]), ("b/1", ids["ludb/x"].copy())]
    ]
    kept, rejects, seen = beatdb.extract_all(recs, L.PAPER_9, beatdb.BeatParams(), quality=quality.QualityParams())
    assert [k[0].record_id for k in kept] == ["a/1"] and seen == 2
    assert rejects[-1]["stage"] == "duplicate" and rejects[-1]["reason"].startswith("duplicate of a/1")


def test_source_specs_from_the_configuration(tmp_path):
    cfg = {
        "resources_dir": "res",
        "physionet": {"databases": {"ludb": "1.0.1", "challenge-2021": "1.0.3", "ptb-xl": "1.0.3"}},
        "data": {
            "source": "synthetic",
            "synthetic": {"n_patients": 10},
            "ludb": {"min_fs": 250},
            "cinc2021": {"sources": ["georgia"], "min_fs": 250},
            "sources": [
                {"source": "ludb"},
                {"source": "cinc2021", "options": {"min_fs": 400}},
                {"source": "folder", "root": str(tmp_path), "options": {"labels": "t.csv"}},
            ],
        },
    }
    specs = beatdb.source_specs(cfg, beatdb.default_roots(cfg))
    assert [(s.source, s.root) for s in specs] == [
        ("ludb", "res/physionet/ludb/1.0.1"),
        ("cinc2021", "res/physionet/challenge-2021/1.0.3"),
        ("folder", str(tmp_path)),
    ]
    assert specs[1].options == {"sources": ["georgia"], "min_fs": 400}  # data.cinc2021, overridden
    assert beatdb.source_databases(cfg) == ["ludb", "challenge-2021"]
    legacy = beatdb.source_specs({**cfg, "data": {**cfg["data"], "sources": None}}, beatdb.default_roots(cfg))
    assert [(s.source, s.root) for s in legacy] == [("synthetic", beatdb.default_roots(cfg)["synthetic"])]
    with pytest.raises(ValueError, match="keys are source, root or database"):
        beatdb.source_specs({"data": {"sources": [{"source": "ludb", "folder": "x"}]}}, {})
    with pytest.raises(ValueError, match="no folder"):
        beatdb.source_specs({"data": {"sources": [{"source": "ptbdb"}]}}, {"ludb": "x"})


def test_download_patterns_follow_the_configured_sources():
    base = {"physionet": {"include": {}}, "data": {"cinc2021": {"sources": ["georgia"]}, "ptbxl": {"rate": 100}}}
    one = {**base, "data": {**base["data"], "source": "ptbxl"}}
    assert physionet.workflow_include("ptb-xl", one) == physionet.include_patterns("ptb-xl", ptbxl_rate=100)
    many = {
        **base,
        "data": {
            **base["data"],
            "sources": [
                {"source": "ptbxl", "options": {"rate": 500}},
                {"source": "cinc2021"},
                {"source": "cinc2021", "root": "x", "options": {"sources": ["ptb"]}},
            ],
        },
    }
    inc = physionet.workflow_include("ptb-xl", many)
    assert physionet.matches("records500/00000/00001_hr.dat", inc) and not physionet.matches("records100/x.dat", inc)
    assert physionet.workflow_include("challenge-2021", many) == [
        "RECORDS",
        "LICENSE.txt",
        "training/georgia/",
        "training/ptb/",
    ]
    override = {**many, "physionet": {"include": {"ptb-xl": ["*.csv"]}}}
    assert physionet.workflow_include("ptb-xl", override) == ["*.csv"]


def test_real_config_is_valid_and_reads_ludb_and_the_challenge():
    def merge(a, b):  # as Snakemake merges a --configfile into config/config.yaml: nested mappings key by key
        for k, v in b.items():
            if isinstance(v, dict) and isinstance(a.get(k), dict):
                merge(a[k], v)
            else:
                a[k] = v

    def merged(*files):
        cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
        for f in files:
            merge(cfg, yaml.safe_load((REPO / f).read_text()))
        return cfg

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    for cfg in (merged(), merged("config/ludb.yaml"), merged("config/real.yaml")):
        jsonschema.validate(cfg, schema)
    real = merged("config/real.yaml")
    assert real["run"] == "real" and beatdb.source_databases(real) == ["ludb", "challenge-2021"]
    assert [s["source"] for s in real["rhythm"]["sources"]] == ["ludb", "cinc2021"]  # the rhythm database too
    props = schema["properties"]["data"]["properties"]["quality"]["properties"]
    assert set(props) == {f.name for f in dataclasses.fields(quality.QualityParams)}
