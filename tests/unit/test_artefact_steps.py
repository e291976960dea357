"""Workflow steps of artefact removal: the noisy test set of a rhythm database and the DeScoD-ECG training, on a
tiny database built from simulated records with simulated NSTDB-like noise."""

import numpy as np
import pytest

from ecgdiff.baselines import descod as D
from ecgdiff.baselines import descod_train as T
from ecgdiff.data import noise as nz
from ecgdiff.data import rhythmdb
from ecgdiff.data import synthetic as S
from ecgdiff.data.rhythms import RhythmParams
from ecgdiff.tables import read_table, read_table_provenance

CONFIG = {"run": "steps-test", "label": "tiny simulated rhythms", "seed": 0}
COHORT = S.SyntheticConfig(n_patients=8, abnormal_fraction=0.0, duration_s=10, fs=250, seed=1)
SPLIT = rhythmdb.SplitSettings(seed=1, fractions={"train": 0.5, "cv": 0.25, "test": 0.25})
TINY = {"feats": 8, "steps": 4, "epochs": 2, "batch_size": 4, "cv_repeats": 1, "seed": 0}
DATA_FILES = ("noisy.npy", "noise.npy", "noise.parquet")


@pytest.fixture(scope="module")
def rhythms(tmp_path_factory):
    root = tmp_path_factory.mktemp("steps")
    S.write_cohort(root / "cohort", COHORT)
    rhythmdb.build([("synthetic", root / "cohort")], RhythmParams(), SPLIT, root / "rhythms")
    db = rhythmdb.load(root / "rhythms")
    assert all((db.meta["split"] == s).sum() >= 1 for s in ("train", "cv", "test"))
    return root / "rhythms"


def test_noisy_set_step_writes_the_test_split_with_provenance(rhythms, tmp_path):
    out = tmp_path / "bw"
    m = nz.write_noisy_set(rhythms, "bw", "simulated", {"ratios": {"bw": 2.0}}, 5, out, CONFIG)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", *sorted(DATA_FILES)]
    db = rhythmdb.load(rhythms)
    x, meta = db.subset("test")
    s = nz.load(out)
    assert s.rhythm_ids == [str(r) for r in meta["rhythm_id"]] and s.kind == "bw" and s.leads == db.leads
    np.testing.assert_allclose(s.noisy - s.noise, x, atol=1e-5)  # the test split's clean rhythms plus the noise
    np.testing.assert_allclose(np.ptp(s.noise[..., : db.length], -1), 2.0 * s.peak_to_peak, rtol=1e-4)
    assert np.all(s.channels == 1) and np.all(s.noise[..., db.length :] == 0)
    assert m["noise_source"].startswith("simulated:") and "seed=5" in m["noise_source"]
    assert m["rhythms"] == {"data_hash": db.data_hash, "split": "test"} and m["settings"]["fs"] == db.fs
    prov = m["provenance"]
    assert (prov["run"], prov["data_hash"], prov["seed"], prov["noise_kind"]) == ("steps-test", db.data_hash, 5, "bw")
    assert prov["config_hash"] and prov["code_version"]
    # a rerun with the same seed writes the same bytes (also over an existing folder); another seed does not
    first = {name: (out / name).read_bytes() for name in DATA_FILES}
    for folder in (tmp_path / "again", out):
        m2 = nz.write_noisy_set(rhythms, "bw", "simulated", {"ratios": {"bw": 2.0}}, 5, folder, CONFIG)
        assert m2["data_hash"] == m["data_hash"]
        assert {name: (folder / name).read_bytes() for name in DATA_FILES} == first
    other = nz.write_noisy_set(rhythms, "bw", "simulated", None, 6, tmp_path / "other", CONFIG)
    assert other["data_hash"] != m["data_hash"]
    with pytest.raises(ValueError, match="fs 250.0 Hz differs from the rhythms' 100.0 Hz"):
        nz.write_noisy_set(rhythms, "em", "simulated", {"fs": 250.0}, 5, tmp_path / "bad", CONFIG)
    assert not (tmp_path / "bad").exists()


def test_descod_step_trains_writes_model_and_loss_table(rhythms, tmp_path):
    csv, md = tmp_path / "loss.csv", tmp_path / "loss.md"
    blob = T.train_descod(
        rhythms,
        "em",
        "simulated",
        {},
        TINY,
        tmp_path / "em.pt",
        tmp_path / "work",
        (csv, md),
        CONFIG,
        device="cpu",
        noise_seed=5,
    )
    db = rhythmdb.load(rhythms)
    assert "state_dict" not in blob and blob["epochs_run"] == 2
    assert (blob["n_train"], blob["n_cv"]) == tuple(int((db.meta["split"] == s).sum()) for s in ("train", "cv"))
    assert blob["noise_kind"] == "em" and blob["noise_origin"] == nz.load_noise("simulated", "em", 5).source
    assert blob["noise_settings"]["channel"] == 0 and blob["noise_settings"]["ratio_range"] == [0.2, 2.0]
    assert blob["length"] == db.length and blob["fs"] == db.fs and blob["data_hash"] == db.data_hash
    prov = blob["provenance"]
    assert (prov["run"], prov["data_hash"], prov["seed"], prov["method"]) == ("steps-test", db.data_hash, 0, "descod")
    assert prov["test_noise_settings"]["channel"] == 1
    model = D.load_model(tmp_path / "em.pt", "em")
    assert model.noise_kind == "em" and model.config.feats == 8
    with pytest.raises(D.NoiseKindError):
        D.load_model(tmp_path / "em.pt", "bw")
    table = read_table(csv)
    assert list(table["epoch"]) == [1, 2] and np.isfinite(table[["train_loss", "cv_loss"]].to_numpy()).all()
    assert table["cv_loss"].min() == pytest.approx(blob["best_cv_loss"])
    assert md.is_file() and "steps-test" in md.read_text()
    assert read_table_provenance(csv)["data_hash"] == db.data_hash


def test_descod_step_refuses_training_noise_that_overlaps_the_test_protocol(rhythms, tmp_path):
    paths = (tmp_path / "m.pt", tmp_path / "work", (tmp_path / "l.csv", tmp_path / "l.md"), CONFIG)
    with pytest.raises(ValueError, match="overlaps the test protocol"):
        T.train_descod(rhythms, "bw", "simulated", {}, TINY, *paths, noise_seed=5, test_settings={"channel": 0})
    with pytest.raises(ValueError, match="overlaps the test protocol"):  # the same channel, overlapping spans
        T.train_descod(
            rhythms,
            "bw",
            "simulated",
            {"channel": 1, "span": [0.0, 0.6]},
            TINY,
            *paths,
            noise_seed=5,
            test_settings={"span": [0.5, 1.0]},
        )
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "work").exists()
    with pytest.raises(ValueError, match="per noise kind"):
        T.train_descod(rhythms, "ma", "simulated", {}, TINY, *paths, noise_seed=5)
    with pytest.raises(ValueError, match="descod.length 500 differs"):
        T.train_descod(rhythms, "bw", "simulated", {}, {**TINY, "length": 500}, *paths, noise_seed=5)
