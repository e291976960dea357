"""Rhythm windows, rhythm labels and the rhythm database (the talk's 10-s 8-lead data)."""

import dataclasses
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import signal as sps

from ecgdiff import leads as L
from ecgdiff.data import rhythmdb
from ecgdiff.data import synthetic as S
from ecgdiff.data.beats import BeatParams, preprocess
from ecgdiff.data.labels import (
    RhythmLabelRules,
    label,
    rhythm_labels,
    rhythm_labels_cinc,
    rhythm_labels_ludb,
)
from ecgdiff.data.records import Record, RecordError
from ecgdiff.data.rhythms import RhythmParams, rhythm_window

FS = 500.0
FREQS = np.arange(1, 9) * 1.5  # Hz, one per lead of BASIS
AMPS = np.linspace(0.5, 2.0, 8)  # mV


def sine_record(seconds: float = 12.0, record_id: str = "t/sine", fs: float = FS) -> Record:
    t = np.arange(int(round(seconds * fs))) / fs
    x = AMPS[:, None] * np.sin(2 * np.pi * FREQS[:, None] * t)
    return Record(record_id, record_id, "test", fs, x, L.BASIS)


NO_FILTERS = RhythmParams(notch_hz=(), highpass_hz=0.0)


# ------------------------------------------------------------------------------------------ parameters
def test_params_defaults_are_the_talks_and_are_validated():
    p = RhythmParams()
    assert (p.fs, p.duration_s, p.length, p.padded_length, p.pad_right, p.start) == (100.0, 10.0, 1000, 1024, 24, 0)
    assert (p.notch_hz, p.notch_q, p.highpass_hz, p.highpass_order) == ((50.0, 60.0), 50.0, 0.6, 5)
    assert p.leads == L.BASIS == ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    q = RhythmParams.from_config({"fs": 250, "duration_s": 4, "padded_length": 1024, "notch_hz": [50], "min_fs": 250})
    assert (q.fs, q.length, q.notch_hz) == (250.0, 1000, (50.0,))
    assert RhythmParams.from_config({"leads": ["i", "ii", "v1"]}).leads == ("I", "II", "V1")
    for bad, match in [
        ({"padded_length": 999}, "shorter than the window"),
        ({"duration_s": 10.005}, "whole number"),
        ({"min_fs": 50}, "up-sampled"),
        ({"leads": ["I", "X"]}, "unknown lead"),
        ({"start_s": -1}, "start_s"),
        ({"window": 3}, "unknown rhythm keys"),
    ]:
        with pytest.raises(ValueError, match=match):
            RhythmParams.from_config(bad)


# ------------------------------------------------------------------------------------------ windows
def test_window_is_resample_poly_of_the_record_then_zero_padding():
    rec = sine_record()
    w = rhythm_window(rec, NO_FILTERS)
    ref = sps.resample_poly(rec.signal, 1, 5, axis=-1)  # 500 -> 100 Hz
    assert w.x.shape == (8, 1024) and w.x.dtype == np.float32
    assert np.array_equal(w.x[:, :1000], ref[:, :1000].astype(np.float32))
    assert np.all(w.x[:, 1000:] == 0)
    # the resampled sines themselves, away from the record's edges
    t = np.arange(1000) / 100.0
    exact = AMPS[:, None] * np.sin(2 * np.pi * FREQS[:, None] * t)
    assert np.abs(w.x[:, 50:950] - exact[:, 50:950]).max() < 2e-3
    # a later start takes the window starting there
    later = rhythm_window(rec, dataclasses.replace(NO_FILTERS, start_s=1.5))
    assert np.array_equal(later.x[:, :1000], ref[:, 150:1150].astype(np.float32))
    assert (w.fs_original, w.n_samples_original, w.derived) == (500.0, 6000, ())


def test_filters_pass_the_sines_in_the_middle_of_the_window():
    w = rhythm_window(sine_record())
    t = np.arange(1000) / 100.0
    exact = AMPS[:, None] * np.sin(2 * np.pi * FREQS[:, None] * t)
    # 0.6-Hz high-pass and 50/60-Hz notches leave 1.5-12 Hz sines alone; the record's start rings for ~2 s
    assert np.abs(w.x[:, 300:700] - exact[:, 300:700]).max() < 6e-3


def test_filters_are_the_beat_pipelines(ludb_records):
    rec = ludb_records[0]
    w = rhythm_window(rec)
    beat_params = BeatParams(fs=100.0)  # the beat pipeline's filters, resampled to the rhythm rate
    z = L.derive(rec.signal, rec.leads, L.BASIS)
    assert np.array_equal(w.x[:, :1000], preprocess(z, rec.fs, beat_params)[:, :1000].astype(np.float32))
    # filtering every recorded lead and then deriving gives the same window (the filters are linear)
    y12 = L.derive(preprocess(rec.signal, rec.fs, beat_params), rec.leads, L.BASIS)
    np.testing.assert_allclose(w.x[:, :1000], y12[:, :1000], atol=1e-5)


def test_missing_limb_leads_are_derived():
    full = sine_record()
    names = ("II", "III", "V1", "V2", "V3", "V4", "V5", "V6")  # I = II - III
    x = L.derive(full.signal, L.BASIS, names)
    w = rhythm_window(dataclasses.replace(full, signal=x, leads=names))
    np.testing.assert_allclose(w.x, rhythm_window(full).x, atol=1e-5)
    assert w.derived == ("I",)
    names = ("aVR", "aVL", "V1", "V2", "V3", "V4", "V5", "V6")  # both limb leads from the augmented ones
    x = L.derive(full.signal, L.BASIS, names)
    w = rhythm_window(dataclasses.replace(full, signal=x, leads=names))
    np.testing.assert_allclose(w.x, rhythm_window(full).x, atol=1e-5)
    assert w.derived == ("I", "II")


def _bad_records() -> dict[str, tuple[Record, str]]:
    g = sine_record()
    nan = g.signal.copy()
    nan[3, 100:110] = np.nan
    inf = g.signal.copy()
    inf[0, 5] = np.inf
    flat = g.signal.copy()
    flat[3] = 0.2  # V2 disconnected: a constant offset
    no_v3 = [i for i, n in enumerate(L.BASIS) if n != "V3"]
    return {
        "x/short": (dataclasses.replace(g, record_id="x/short", signal=g.signal[:, :4999]), "shorter than the window"),
        "x/noV3": (
            dataclasses.replace(g, record_id="x/noV3", signal=g.signal[no_v3], leads=tuple(L.BASIS[i] for i in no_v3)),
            "missing lead",
        ),
        "x/nan": (dataclasses.replace(g, record_id="x/nan", signal=nan), "NaN or infinite samples in lead(s) V2"),
        "x/inf": (dataclasses.replace(g, record_id="x/inf", signal=inf), "NaN or infinite samples in lead(s) I"),
        "x/flat": (dataclasses.replace(g, record_id="x/flat", signal=flat), "flat lead(s)"),
        "x/slow": (sine_record(20.0, "x/slow", fs=50.0), "below the minimum 100 Hz"),
    }


def test_each_quality_reject_names_the_record_and_the_reason():
    for rid, (rec, reason) in _bad_records().items():
        with pytest.raises(RecordError) as err:
            rhythm_window(rec)
        assert err.value.record_id == rid and str(err.value).startswith(f"{rid}: ")
        assert reason in err.value.reason, (rid, err.value.reason)
    # the flat lead is named, the missing one too
    with pytest.raises(RecordError, match=r"V2 \("):
        rhythm_window(_bad_records()["x/flat"][0])
    with pytest.raises(RecordError, match=r"absent: \['V3'\]"):
        rhythm_window(_bad_records()["x/noV3"][0])
    # exactly 10 s is enough
    rhythm_window(sine_record(10.0))


# ------------------------------------------------------------------------------------------ labels
@pytest.mark.parametrize(
    "codes, expected",
    [
        (["426783006"], ("NSR", 1, 0, 0)),
        (["426783006", "164909002"], ("BBB", 1, 1, 0)),  # sinus rhythm with LBBB
        (["164889003", "59118001"], ("AF", 0, 1, 1)),  # AF with RBBB: AF first
        (["713427006"], ("BBB", 0, 1, 0)),  # complete RBBB
        (["733534002"], ("BBB", 0, 1, 0)),  # complete LBBB
        (["6374002"], ("BBB", 0, 1, 0)),  # bundle branch block
        (["713426002", "426783006"], ("NSR", 1, 0, 0)),  # incomplete RBBB is not BBB by default
        (["164890007"], ("other", 0, 0, 0)),  # atrial flutter is not AF
        (["426177001"], ("other", 0, 0, 0)),  # sinus bradycardia is not NSR
    ],
)
def test_rhythm_labels_from_snomed_codes(codes, expected):
    out = rhythm_labels_cinc(codes)
    assert (out["label"], out["NSR"], out["BBB"], out["AF"]) == expected


def test_rhythm_label_options_and_unknown_labels():
    rules = RhythmLabelRules(incomplete_bbb=True)
    assert rhythm_labels_cinc(["713426002"], rules)["BBB"] == 1
    assert rhythm_labels_ludb(["Incomplete right bundle branch block"], rules)["BBB"] == 1
    assert rhythm_labels_ludb(["Incomplete right bundle branch block"])["BBB"] == 0
    assert rhythm_labels_ludb(["Rhythm: Atrial flutter, typical."])["label"] == "other"
    assert rhythm_labels_ludb(["Rhythm: Sinus rhythm.", "Complete left bundle branch block."])["label"] == "BBB"
    sig = np.zeros((1, 10))
    for rec, match in [
        (Record("c/1", "c/1", "cinc2021", 500.0, sig, ("I",)), "no SNOMED-CT code"),
        (Record("c/2", "c/2", "cinc2021", 500.0, sig, ("I",), diagnoses=("42678x",)), "not integers"),
        (Record("l/1", "l/1", "ludb", 500.0, sig, ("I",)), "no diagnosis statement"),
        (Record("s/1", "s/1", "synthetic", 500.0, sig, ("I",), meta={"label": "sick"}), "unknown label 'sick'"),
        (Record("m/1", "m/1", "mitdb", 360.0, sig, ("I",)), "no rhythm labelling rule"),
    ]:
        with pytest.raises(RecordError, match=match) as err:
            rhythm_labels(rec)
        assert err.value.record_id == rec.record_id
    synthetic = {
        lab: rhythm_labels(Record("s", "s", "synthetic", 500.0, sig, ("I",), meta={"label": lab}))
        for lab in ("healthy", "af", "rbbb", "lbbb", "mi")
    }
    assert {k: v["label"] for k, v in synthetic.items()} == {
        "healthy": "NSR",
        "af": "AF",
        "rbbb": "BBB",
        "lbbb": "BBB",
        "mi": "other",
    }
    assert [synthetic["af"][t] for t in ("NSR", "BBB", "AF")] == [0, 0, 1]
    with pytest.raises(ValueError, match="scp_min_likelihood"):
        RhythmLabelRules(scp_min_likelihood=101)


def _hand_count_ludb(root: Path) -> Counter:
    """Per-record rhythm labels straight from the header lines (no project code)."""
    out = Counter()
    for hea in sorted((root / "data").glob("*.hea")):
        lines = {ln.strip().lstrip("#").strip().rstrip(".").lower() for ln in hea.read_text().splitlines()}
        af = "rhythm: atrial fibrillation" in lines
        bbb = bool(lines & {"complete left bundle branch block", "complete right bundle branch block"})
        nsr = "rhythm: sinus rhythm" in lines
        out["label_" + ("AF" if af else "BBB" if bbb else "NSR" if nsr else "other")] += 1
        out["AF"] += af
        out["BBB"] += bbb
        out["NSR"] += nsr
    return out


def _hand_count_cinc(root: Path) -> Counter:
    out = Counter()
    for hea in sorted((root / "training").glob("*/g*/*.hea")):
        dx = next(ln for ln in hea.read_text().splitlines() if ln.startswith("#Dx"))
        codes = set(dx.split(":", 1)[1].strip().split(","))
        af = "164889003" in codes
        bbb = bool(codes & {"164909002", "733534002", "59118001", "713427006", "6374002"})
        nsr = "426783006" in codes
        out["label_" + ("AF" if af else "BBB" if bbb else "NSR" if nsr else "other")] += 1
        out["AF"] += af
        out["BBB"] += bbb
        out["NSR"] += nsr
    return out


def _counts(records) -> Counter:
    out = Counter()
    for rec in records:
        lab = rhythm_labels(rec)
        out["label_" + lab["label"]] += 1
        for t in ("NSR", "BBB", "AF"):
            out[t] += lab[t]
    return out


def test_rhythm_labels_of_all_ludb_records(ludb_records, physionet_mirror):
    counts = _counts(ludb_records)
    assert counts == _hand_count_ludb(physionet_mirror / "ludb" / "1.0.1")
    assert {k: counts[k] for k in ("label_NSR", "label_BBB", "label_AF", "label_other")} == {
        "label_NSR": 140,
        "label_BBB": 5,
        "label_AF": 15,
        "label_other": 40,
    }
    assert (counts["NSR"], counts["BBB"], counts["AF"]) == (143, 8, 15)
    by = {r.record_id: r for r in ludb_records}
    assert rhythm_labels(by["ludb/88"])["label"] == "AF" and rhythm_labels(by["ludb/23"])["label"] == "BBB"
    assert rhythm_labels(by["ludb/1"])["label"] == "other"  # sinus bradycardia
    assert label(by["ludb/88"]) == "af" and label(by["ludb/1"]) == "other"  # the beat labels are unchanged


def test_rhythm_labels_of_the_147_cinc_records(cinc_records_all, physionet_mirror):
    counts = _counts(cinc_records_all)
    assert counts == _hand_count_cinc(physionet_mirror / "challenge-2021" / "1.0.3")
    assert {k: counts[k] for k in ("label_NSR", "label_BBB", "label_AF", "label_other")} == {
        "label_NSR": 46,
        "label_BBB": 7,
        "label_AF": 12,
        "label_other": 82,
    }
    assert (counts["NSR"], counts["BBB"], counts["AF"]) == (47, 10, 12)
    by = {r.record_id: r for r in cinc_records_all}
    assert rhythm_labels(by["cinc2021/chapman_shaoxing/JS00001"])["label"] == "AF"  # AF + RBBB
    assert label(by["cinc2021/chapman_shaoxing/JS00001"]) == "bbb"  # the beat label keeps its own precedence


# ------------------------------------------------------------------------------------------ database
LUDB_IDS = [str(i) for i in range(1, 19)] + ["23", "88"]
COHORT = S.SyntheticConfig(n_patients=6, abnormal_fraction=0.34, duration_s=10, fs=500, seed=1)
SPLIT = rhythmdb.SplitSettings(seed=3, fractions={"train": 0.6, "cv": 0.2, "test": 0.2})


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    S.write_cohort(root, COHORT)
    return root


@pytest.fixture(scope="module")
def ludb20(tmp_path_factory, physionet_mirror):
    """20 LUDB records (two of them AF and BBB) in LUDB's layout."""
    src = physionet_mirror / "ludb" / "1.0.1"
    root = tmp_path_factory.mktemp("ludb") / "1.0.1"
    (root / "data").mkdir(parents=True)
    for rid in LUDB_IDS:
        for ext in ("hea", "dat"):
            shutil.copyfile(src / "data" / f"{rid}.{ext}", root / "data" / f"{rid}.{ext}")
    (root / "RECORDS").write_text("".join(f"data/{rid}\n" for rid in LUDB_IDS))
    shutil.copyfile(src / "ludb.csv", root / "ludb.csv")
    return root


@pytest.fixture(scope="module")
def built(cohort, ludb20, tmp_path_factory):
    out = tmp_path_factory.mktemp("db") / "rhythms"
    manifest = rhythmdb.build([("synthetic", cohort), ("ludb", ludb20)], RhythmParams(), SPLIT, out)
    return out, manifest


def test_database_of_a_cohort_and_ludb_records(built, ludb_records):
    out, manifest = built
    db = rhythmdb.load(out)
    assert sorted(p.name for p in out.iterdir()) == sorted([*rhythmdb.FILES, "manifest.json"])
    assert db.rhythms.shape == (26, 8, 1024) and db.rhythms.dtype == np.float32
    assert (db.leads, db.fs, db.length, db.padded_length) == (L.BASIS, 100.0, 1000, 1024)
    assert (manifest["pad_left"], manifest["pad_right"], manifest["duration_s"]) == (0, 24, 10.0)
    assert manifest["filters"]["notch_hz"] == [50.0, 60.0] and manifest["filters"]["highpass_order"] == 5
    assert np.all(db.rhythms[:, :, 1000:] == 0)
    assert list(db.meta.columns[: len(rhythmdb.META_COLUMNS)]) == list(rhythmdb.META_COLUMNS)
    assert list(db.meta["source"]) == ["synthetic"] * 6 + ["ludb"] * 20
    # each row is its record's window and labels
    by = {r.record_id: r for r in ludb_records}
    for row in db.meta[db.meta["source"] == "ludb"].itertuples():
        rec = by[row.record_id]
        assert np.array_equal(db.rhythms[row.rhythm_id], rhythm_window(rec).x)
        lab = rhythm_labels(rec)
        assert (row.label, row.NSR, row.BBB, row.AF) == (lab["label"], lab["NSR"], lab["BBB"], lab["AF"])
    synth = db.meta[db.meta["source"] == "synthetic"]
    assert set(synth["label"]) == {"NSR", "other"} and (synth["label"] == "other").sum() == 2  # 2 MI patients
    # splits: every patient in exactly one, the manifest agrees with the table
    splits = pd.read_csv(out / "splits.csv")
    assert splits["patient_id"].is_unique and set(splits["patient_id"]) == set(db.meta["patient_id"])
    assert db.meta.groupby("patient_id")["split"].nunique().max() == 1
    assert dict(zip(splits["patient_id"], splits["split"])) == dict(zip(db.meta["patient_id"], db.meta["split"]))
    for s in rhythmdb.SPLITS:
        x, meta = db.subset(s)
        assert x.shape == (manifest["counts"][s]["rhythms"], 8, 1024) and set(meta["split"]) == {s}
        assert manifest["counts"][s]["rhythms"] > 0
    expected = Counter(rhythm_labels(by[f"ludb/{i}"])["label"] for i in LUDB_IDS)
    assert manifest["counts_by_source"]["ludb"]["label"] == {k: expected[k] for k in ("NSR", "BBB", "AF", "other")}
    assert expected["AF"] >= 1 and expected["BBB"] >= 1
    assert manifest["n_rejected"] == 0 and pd.read_csv(out / "rejects.csv").empty
    assert manifest["data_hash"] == db.data_hash and len(db.data_hash) == 64


def test_same_seed_same_files_and_hash_other_seed_other_split(built, cohort, ludb20, tmp_path):
    out, manifest = built
    again = rhythmdb.build([("synthetic", cohort), ("ludb", ludb20)], RhythmParams(), SPLIT, tmp_path / "again")
    for name in rhythmdb.FILES:
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    assert again["data_hash"] == manifest["data_hash"]
    parallel = rhythmdb.build(
        [("synthetic", cohort), ("ludb", ludb20)], RhythmParams(), SPLIT, tmp_path / "parallel", workers=2
    )
    assert parallel["data_hash"] == manifest["data_hash"]
    rhythmdb.build(
        [("synthetic", cohort), ("ludb", ludb20)],
        RhythmParams(),
        dataclasses.replace(SPLIT, seed=4),
        tmp_path / "other",
    )
    assert (out / "splits.csv").read_bytes() != (tmp_path / "other" / "splits.csv").read_bytes()
    assert (out / "rhythms.npy").read_bytes() == (tmp_path / "other" / "rhythms.npy").read_bytes()


def test_a_failed_build_leaves_the_previous_database(built, cohort, tmp_path, monkeypatch):
    out = tmp_path / "rhythms"
    first = rhythmdb.build([("synthetic", cohort)], RhythmParams(), SPLIT, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(rhythmdb, "write_json", broken)  # fails after the data files are written
    with pytest.raises(OSError, match="disk full"):
        rhythmdb.build([("synthetic", cohort)], RhythmParams(), dataclasses.replace(SPLIT, seed=9), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rhythms"]  # no temporary folder left
    with pytest.raises(OSError, match="disk full"):
        rhythmdb.build([("synthetic", cohort)], RhythmParams(), SPLIT, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert rhythmdb.load(out).data_hash == first["data_hash"]


def test_rejects_have_one_reason_per_record(cohort):
    good = list(S.read_cohort(cohort))
    g = good[0]
    bad = {
        rid: dataclasses.replace(rec, patient_id=rid, meta={"label": "healthy"})
        for rid, (rec, _) in _bad_records().items()
    }
    unlabelled = dataclasses.replace(g, record_id="x/nolabel", patient_id="x/nolabel", meta={})
    twin = dataclasses.replace(g, record_id="x/twin", patient_id="x/twin")  # the same samples as good[0]
    spec = rhythmdb.SourceSpec("synthetic", str(cohort))
    items = [RecordError("x/unreadable", "unreadable: header missing"), *good, *bad.values(), unlabelled, twin]
    kept, rejects, stats = rhythmdb.extract_all(
        [spec], RhythmParams(), RhythmLabelRules(), True, records=[(spec, r) for r in items]
    )
    assert [k.record.record_id for k in kept] == [r.record_id for r in good]
    by = {r["record_id"]: r for r in rejects}
    assert len(by) == len(rejects) == len(bad) + 3
    assert by["x/unreadable"]["stage"] == "read"
    assert by["x/nolabel"]["stage"] == "label" and "unknown label" in by["x/nolabel"]["reason"]
    assert by["x/twin"]["stage"] == "duplicate" and f"duplicate of {g.record_id}" in by["x/twin"]["reason"]
    for rid, (_, reason) in _bad_records().items():
        assert by[rid]["stage"] == "window" and reason in by[rid]["reason"]
    assert stats["synthetic"] == {"records": len(items), "rhythms": len(good), "rejected": len(rejects)}
    # without required labels the unlabelled record stays, as an unknown "other"
    kept, rejects, _ = rhythmdb.extract_all(
        [spec], RhythmParams(), RhythmLabelRules(), False, records=[(spec, unlabelled)]
    )
    assert not rejects and kept[0].labels == {"label": "other", "NSR": 0, "BBB": 0, "AF": 0, "label_known": False}


def test_settings_from_config():
    s = rhythmdb.RhythmSettings.from_config(
        {
            "fs": 100,
            "duration_s": 10,
            "padded_length": 1024,
            "sources": [{"source": "ludb"}, {"source": "cinc2021", "options": {"sources": ["georgia"]}}],
            "split": {"seed": 2, "fractions": {"train": 0.7, "cv": 0.15, "test": 0.15}},
            "labels": {"incomplete_bbb": True},
            "require_labels": False,
        }
    )
    assert s.params == RhythmParams() and s.split.seed == 2 and s.labels.incomplete_bbb and not s.require_labels
    specs = s.source_specs({"ludb": "/data/ludb/1.0.1", "cinc2021": "/data/challenge-2021/1.0.3"})
    assert [(x.source, x.options) for x in specs] == [("ludb", {}), ("cinc2021", {"sources": ["georgia"]})]
    assert specs[1].reader_options(s.params)["sources"] == ["georgia"]
    assert specs[1].reader_options(s.params)["require_age_sex"] is False
    with pytest.raises(ValueError, match="no folder"):
        s.source_specs({"ludb": "/data/ludb"})
    for bad, match in [
        ({"sources": [{"source": "mitdb"}]}, "rhythm.sources"),
        ({"split": {"fractions": {"train": 1}}}, "fractions"),
        ({"split": {"folds": {"train": [1, 2], "cv": [2]}}}, "fold 2"),
        ({"labels": {"bbb": 1}}, "unknown rhythm.labels"),
        ({"split": {"sed": 1}}, "unknown rhythm.split"),
    ]:
        with pytest.raises(ValueError, match=re.escape(match)):
            rhythmdb.RhythmSettings.from_config(bad)


def test_build_fails_clearly_when_nothing_is_usable(tmp_path, cohort):
    with pytest.raises(RuntimeError, match="no record"):
        rhythmdb.build(
            [("synthetic", cohort)], RhythmParams(duration_s=20.0, padded_length=2048), SPLIT, tmp_path / "db"
        )
    assert not (tmp_path / "db").exists()
