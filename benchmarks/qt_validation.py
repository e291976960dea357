"""Agreement of the QT measurement (ecgdiff.qt) with the simulator's QT on a synthetic beat database.

    python benchmarks/qt_validation.py [--beats results/synthetic/data/beats]
        [--metadata resources/synthetic/<hash>/metadata.csv] [--out results/benchmarks/qt_validation.json]

Prints bias, spread and correlation of measured against simulated QT (and QRS duration) over one beat per
training patient, and the R^2 of the QT-RR laws fitted across patients to measured and to simulated QT.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402

from ecgdiff import qt
from ecgdiff.data import dataset  # noqa: E402
from ecgdiff.validation import qt as qt_validation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--beats", default=str(REPO / "results" / "synthetic" / "data" / "beats"))
    ap.add_argument("--metadata", default=None)
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "qt_validation.json"))
    args = ap.parse_args()
    meta = args.metadata or sorted(glob.glob(str(REPO / "resources" / "synthetic" / "*" / "metadata.csv")))[0]
    df = qt_validation.compare(dataset.load(args.beats), meta)
    res = qt_validation.summary(df)
    ok = df[np.isfinite(df["qt_ms"])]
    res["laws_r2_measured"] = {k: qt.fit_qt_law(k, ok["rr_s"], ok["qt_ms"] / 1000).r2 for k in qt.QT_LAWS}
    res["laws_r2_simulated"] = {k: qt.fit_qt_law(k, ok["rr_s"], ok["qt_sim_ms"] / 1000).r2 for k in qt.QT_LAWS}
    res["beats"], res["metadata"] = args.beats, meta
    print(json.dumps(res, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
