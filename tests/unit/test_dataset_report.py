"""Table 3 and figure 12 from a hand-made beat table."""

import numpy as np
import pandas as pd
import pytest

from ecgdiff.data import dataset_report as R


def meta():
    rows = []
    # train: 3 patients (2 M, 1 F) with 2, 4 and 6 beats; test: 1 F patient with 5 beats; mi: 2 M with 10, 12
    for pid, split, sex, age, n in [
        ("a", "train", "M", 40, 2),
        ("b", "train", "M", 55, 4),
        ("c", "train", "F", 61, 6),
        ("d", "test", "F", 33, 5),
        ("e", "mi", "M", 70, 10),
        ("f", "mi", "M", 66, 12),
    ]:
        rows += [{"patient_id": pid, "split": split, "sex": sex, "age": float(age)}] * n
    return pd.DataFrame(rows)


def test_table3_by_hand():
    t = R.table3(meta()).set_index("quantity")
    assert list(t.columns) == ["Train", "CV", "Test", "MI"]
    assert t.loc["All (patients)", "Train"] == 3 and t.loc["Male (patients)", "Train"] == 2
    assert t.loc["Female (patients)", "Train"] == 1 and t.loc["All (beats)", "Train"] == 12
    assert t.loc["Mean (beats per patient)", "Train"] == pytest.approx(4.0)
    assert t.loc["Mean 95% CI half-width", "Train"] == pytest.approx(1.96 * 2.0 / np.sqrt(3))
    assert t.loc["All (patients)", "CV"] == 0 and np.isnan(t.loc["Mean (beats per patient)", "CV"])
    assert t.loc["All (beats)", "MI"] == 22 and t.loc["Mean (beats per patient)", "MI"] == pytest.approx(11.0)
    assert np.isnan(t.loc["Mean 95% CI half-width", "Test"])  # one patient: no interval


def test_figure12_panels():
    fig = R.figure12(meta())
    assert len(fig.axes) == 4
    assert [ax.get_title().split(" (")[0] for ax in fig.axes] == ["Train", "CV", "Test", "MI"]


def test_write_table3_files(tmp_path):
    from ecgdiff.data.dataset import BeatDatabase
    from ecgdiff.tables import read_table, read_table_provenance

    db = BeatDatabase(
        beats=np.zeros((len(meta()), 1, 4), np.float32), meta=meta(), manifest={"source": "test", "data_hash": "abc"}
    )
    prov = {"run": "t", "label": "TEST", "data_hash": "abc", "config_hash": "c", "seed": 0}
    R.write_table3(db, tmp_path / "t.csv", tmp_path / "t.md", prov)
    t = read_table(tmp_path / "t.csv").set_index("quantity")
    assert t.loc["All (beats)", "MI"] == 22 and read_table_provenance(tmp_path / "t.csv")["data_hash"] == "abc"
    md = (tmp_path / "t.md").read_text()
    assert "| 4.0 +/- 2.3 |" in md and "| All (patients)    |" in md and "TEST" in md
    assert "|    5.0 |" in md  # one test patient: its mean, no interval
