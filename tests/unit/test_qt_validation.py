"""The QT measurement on simulated beats agrees with the simulator's QT (Fridericia from each patient's QTc)."""

from pathlib import Path

import numpy as np
import yaml

from ecgdiff.data import beatdb, dataset, synthetic
from ecgdiff.validation import qt as qt_validation

REPO = Path(__file__).resolve().parents[2]


def test_measured_qt_tracks_the_simulated_qt(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["data"]["synthetic"].update(n_patients=40, abnormal_fraction=0.0, af_fraction=0.0, bbb_fraction=0.0)
    config["data"]["split"]["fractions"] = {"train": 0.9, "cv": 0.05, "test": 0.05}
    synthetic.write_cohort(tmp_path / "cohort", config["data"]["synthetic"])
    beatdb.build("synthetic", tmp_path / "cohort", tmp_path / "beats", config)
    df = qt_validation.compare(dataset.load(tmp_path / "beats"), tmp_path / "cohort" / "metadata.csv")
    res = qt_validation.summary(df)
    assert res["measured"] >= 0.9 * res["patients"] >= 25
    assert res["qt_corr"] > 0.85
    assert res["qt_sd_ms"] < 15  # spread of the error: under 4 samples at 250 Hz
    assert abs(res["qt_bias_ms"]) < 30  # the simulator's QT is its T-wave placement, not a tangent end
    assert np.isfinite(df["qrs_ms"]).sum() == res["measured"]
