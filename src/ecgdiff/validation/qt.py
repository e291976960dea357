"""Check the QT measurement of :mod:`ecgdiff.qt` against the simulator's own QT on the synthetic cohort.

The synthetic cohort (:mod:`ecgdiff.data.synthetic`) places every beat's T wave by Fridericia's law from the
patient's QTc (``metadata.csv``) and the preceding RR, so each extracted beat has a known QT,
``QTc * RR^(1/3)``. :func:`compare` measures QT on one beat per patient (QRS bounds and tangent T end on
the beat alone, as the QT task does on real beats) and returns both, for the agreement numbers of
``docs/tasks.md``. The simulator's QT is a model parameter (its T-wave placement), not a tangent-method
end, so a constant offset between the two is expected; the spread and correlation are what matter.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from .. import qt


def compare(db: Any, cohort_metadata: str | os.PathLike[str], split: str = "train", seed: int = 0) -> pd.DataFrame:
    """One row per patient of ``split``: RR (s), measured and simulated QT (ms), QRS duration measured and
    simulated (ms); patients whose QT cannot be measured have NaN and a ``reason``."""
    geo = db.geometry
    meta = pd.read_csv(cohort_metadata).set_index("patient_id")
    beats, rows = db.patients(split, seed)
    out = []
    for beat, (_, row) in zip(beats, rows.iterrows()):
        rr_s = float(row["rr_ms"]) / 1000.0
        sim = meta.loc[row["patient_id"]]
        rec = {
            "patient_id": row["patient_id"],
            "rr_s": rr_s,
            "qt_sim_ms": float(sim["qtc_ms"]) * rr_s ** (1 / 3),
            "qrs_sim_ms": float(sim["qrs_ms"]),
            "qt_ms": np.nan,
            "qrs_ms": np.nan,
            "reason": "",
        }
        try:
            on, off = qt.qrs_bounds(beat, geo.r_index, geo.fs)
            m = qt.measure_qt(beat, geo.r_index, geo.fs, q_onset=on, qrs_offset=off)
            rec.update(qt_ms=m.qt_ms, qrs_ms=(off - on) * 1000.0 / geo.fs)
        except qt.QTError as err:
            rec["reason"] = str(err)
        out.append(rec)
    return pd.DataFrame(out)


def summary(df: pd.DataFrame) -> dict[str, float]:
    """Agreement of measured with simulated QT and QRS durations (ms) over the measured patients."""
    ok = df[np.isfinite(df["qt_ms"])]
    d_qt = ok["qt_ms"] - ok["qt_sim_ms"]
    d_qrs = ok["qrs_ms"] - ok["qrs_sim_ms"]
    return {
        "patients": int(len(df)),
        "measured": int(len(ok)),
        "qt_bias_ms": float(d_qt.mean()),
        "qt_sd_ms": float(d_qt.std(ddof=1)),
        "qt_corr": float(np.corrcoef(ok["qt_ms"], ok["qt_sim_ms"])[0, 1]),
        "qrs_bias_ms": float(d_qrs.mean()),
        "qrs_sd_ms": float(d_qrs.std(ddof=1)),
    }
