"""The beat-database builder: good and bad records, rejects, splits, the dataset format."""

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest

from ecgdiff import leads as L
from ecgdiff.data import beatdb, dataset
from ecgdiff.data import synthetic as S
from ecgdiff.data.beats import BeatParams
from ecgdiff.data.records import Record, RecordError

CFG = S.SyntheticConfig(n_patients=8, abnormal_fraction=0.25, duration_s=8, fs=250, seed=1)
CONFIG = {
    "run": "test",
    "label": "TEST",
    "seed": 0,
    "leads": list(L.PAPER_9),
    "data": {
        "source": "synthetic",
        "synthetic": dataclasses.asdict(CFG),
        "beats": {},
        "split": {"seed": 0, "fractions": {"train": 0.5, "cv": 0.25, "test": 0.25}},
    },
}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    S.write_cohort(root, CFG)
    return root


def test_extract_all_turns_bad_records_into_rejects(cohort):
    good = [r for r in S.read_cohort(cohort)][:3]
    g = good[0]
    bad = [
        RecordError("synthetic/unreadable", "cannot read WFDB record"),
        dataclasses.replace(g, record_id="x/nosex", patient_id="x/nosex", sex=None),
        dataclasses.replace(g, record_id="x/noage", patient_id="x/noage", age=float("nan")),
        dataclasses.replace(g, record_id="x/flat", patient_id="x/flat", signal=np.zeros_like(g.signal)),
        dataclasses.replace(g, record_id="x/short", patient_id="x/short", signal=g.signal[:, :200]),
        dataclasses.replace(
            g,
            record_id="x/noV3",
            patient_id="x/noV3",
            signal=g.signal[[0, 1, 6, 7, 9, 10, 11]],
            leads=("I", "II", "V1", "V2", "V4", "V5", "V6"),
        ),
        dataclasses.replace(g, record_id="x/nan", patient_id="x/nan", signal=np.full_like(g.signal, np.nan)),
    ]
    kept, rejects, n_seen = beatdb.extract_all(bad + good, L.PAPER_9, BeatParams(), threads=1)
    assert n_seen == 10 and [k[0].record_id for k in kept] == [r.record_id for r in good]
    rec_rej = {r["record_id"]: r for r in rejects if r["beat_index"] is None}
    assert set(rec_rej) == {"synthetic/unreadable", "x/nosex", "x/noage", "x/flat", "x/short", "x/noV3", "x/nan"}
    assert rec_rej["synthetic/unreadable"]["stage"] == "read"
    assert rec_rej["x/nosex"]["stage"] == "metadata" and "sex" in rec_rej["x/nosex"]["reason"]
    assert "age" in rec_rej["x/noage"]["reason"]
    assert "R peak" in rec_rej["x/flat"]["reason"] and "too short" in rec_rej["x/short"]["reason"]
    assert "V3" in rec_rej["x/noV3"]["reason"] and "non-finite" in rec_rej["x/nan"]["reason"]
    beat_rej = [r for r in rejects if r["beat_index"] is not None]
    assert {r["record_id"] for r in beat_rej if r["beat_index"] == 0} == {r.record_id for r in good}


def test_patient_labels():
    rec = lambda pid: Record(pid, pid, "t", 250.0, np.zeros((1, 10)), ("I",))  # noqa: E731
    kept = [
        (rec("a"), "healthy", None),
        (rec("a"), "mi", None),
        (rec("b"), "healthy", None),
        (rec("c"), "healthy", None),
        (rec("c"), "af", None),
    ]
    pl = beatdb.patient_labels(kept).set_index("patient_id")["label"].to_dict()
    assert pl == {"a": "mi", "b": "healthy", "c": "other"}


def test_build_writes_a_loadable_database(cohort, tmp_path):
    root = tmp_path / "cohort"
    shutil.copytree(cohort, root)
    (root / "records" / "S0003.dat").unlink()  # an unreadable record ends in the rejects table
    out = tmp_path / "beats"
    man = beatdb.build("synthetic", root, out, CONFIG, threads=1, inputs=[root / "metadata.csv"])
    db = dataset.load(out)
    assert db.beats.dtype == np.float32 and db.beats.shape[1:] == (9, 176) and len(db.beats) == man["n_beats"]
    assert db.leads == L.PAPER_9 and db.manifest["fs"] == 250 and db.data_hash == man["data_hash"]
    assert set(dataset.META_COLUMNS) <= set(db.meta.columns)
    assert {f"scale_{n}" for n in L.PAPER_9} <= set(db.meta.columns)
    rej = pd.read_csv(out / "rejects.csv")
    assert ((rej["record_id"] == "synthetic/S0003") & (rej["stage"] == "read")).any()
    # splits: one per patient, MI patients in mi, healthy in train/cv/test, metadata agrees with the manifest
    splits = pd.read_csv(out / "splits.csv")
    assert splits["patient_id"].is_unique
    lab = db.meta.groupby("patient_id")["label"].first()
    sp = splits.set_index("patient_id")["split"]
    assert (sp[lab[lab == "mi"].index] == "mi").all()
    assert sp[lab[lab == "healthy"].index].isin(["train", "cv", "test"]).all()
    assert (db.meta.set_index("patient_id")["split"] == sp.reindex(db.meta["patient_id"]).to_numpy()).all()
    # beats: normalised during the QRS, RR positive, R at index 48
    start, stop = db.manifest["qrs_window_samples"]
    assert (start, stop) == (-15, 16)
    qrs = np.abs(np.asarray(db.beats)[..., 48 + start : 48 + stop]).max(axis=-1)
    np.testing.assert_allclose(qrs, 1.0, rtol=1e-6)
    assert (db.meta["rr_ms"] > 250).all() and (db.meta["rr_ms"] < 2000).all()
    assert man["n_records_seen"] == 8 and man["rejected_records_by_stage"].get("read") == 1
    assert "metadata.csv" in man["inputs"]


def test_build_is_deterministic(cohort, tmp_path):
    a = beatdb.build("synthetic", cohort, tmp_path / "a", CONFIG, threads=1)
    b = beatdb.build("synthetic", cohort, tmp_path / "b", CONFIG, threads=1)
    assert a["data_hash"] == b["data_hash"] and a["files"] == b["files"]


@pytest.mark.slow
def test_build_in_parallel_gives_the_same_database(cohort, tmp_path):
    a = beatdb.build("synthetic", cohort, tmp_path / "a", CONFIG, threads=1)
    b = beatdb.build("synthetic", cohort, tmp_path / "b", CONFIG, threads=2)
    assert a["data_hash"] == b["data_hash"]


def test_build_fails_clearly_when_nothing_is_usable(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    pd.DataFrame(columns=list(S.METADATA_COLUMNS)).to_csv(root / "metadata.csv", index=False)
    with pytest.raises(RuntimeError, match="no record"):
        beatdb.build("synthetic", root, tmp_path / "out", CONFIG)
