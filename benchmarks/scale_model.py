"""Error of the inferred millivolt scales (``ecgdiff.data.scales``) on held-out LUDB patients.

Usage (from the repository root, PYTHONPATH=src):

    python benchmarks/scale_model.py                       # the local PhysioNet copy: ../shared/physionet
    python benchmarks/scale_model.py --mirror /path/to/physionet --folds 5

Data: every LUDB record (200 patients, 10 s, 12 leads), beats by the project's pipeline in the paper's lead set
(:func:`ecgdiff.data.beats.extract_beats`). Protocol: 5-fold cross-validation over patients (seeded): the log-scale
regression is fitted on the beats of four folds and scored on the fifth's, for the observed lead sets of the
``ecgdiff reconstruct`` examples and the anomaly task (lead I; I and II; the augmented limb leads; V1-V6), against
the intercept-only model (every scale its training median in log space). Reported per observed set and target lead:
the median of ``|s_hat / s - 1|``, the RMS log error and the coverage of the 95 % predictive interval, pooled over
folds. Writes ``results/benchmarks/scale_model.{csv,md,json}`` (git-ignored).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ecgdiff import io, leads, provenance, tables  # noqa: E402
from ecgdiff.data.beats import BeatParams, extract_beats  # noqa: E402
from ecgdiff.data.records import Record, read_source  # noqa: E402
from ecgdiff.data.scales import LeadScales  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SETS = {
    "I": (("I",), ("aVL", "aVR", "aVF", *leads.PRECORDIAL)),
    "I, II": (("I", "II"), leads.PRECORDIAL),
    "aVL, aVR, aVF": (("aVL", "aVR", "aVF"), leads.PRECORDIAL),
    "V1-V6": (leads.PRECORDIAL, ("aVL", "aVR", "aVF")),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "physionet")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    params = BeatParams()
    lo, hi = params.qrs_window
    qrs = slice(params.before + lo, params.before + hi + 1)
    parts, pids = [], []
    for rec in read_source("ludb", args.mirror / "ludb" / "1.0.1"):
        if not isinstance(rec, Record):
            continue
        try:
            rb = extract_beats(rec, leads.PAPER_9, params)
        except ValueError:
            continue
        parts.append(LeadScales.from_beats(rb.beats, rb.scales, leads.PAPER_9, qrs).log_scales)
        pids += [rec.patient_id] * len(parts[-1])
    data = LeadScales(np.concatenate(parts), leads.STANDARD_12, np.asarray(pids))
    patients = np.unique(data.patient_id)
    fold_of = dict(zip(patients, np.random.default_rng(args.seed).permutation(len(patients)) % args.folds))
    fold = np.array([fold_of[p] for p in data.patient_id])
    rows = []
    for name, (observed, targets) in SETS.items():
        for model_name, feats in (("regression", observed), ("intercept only", ())):
            errs: dict[str, list[np.ndarray]] = {t: [] for t in targets}
            cover: dict[str, list[np.ndarray]] = {t: [] for t in targets}
            for k in range(args.folds):
                train, test = data.subset(fold != k), data.subset(fold == k)
                model = train.fit(feats, targets)
                true = np.exp(test.columns(targets))
                f = np.exp(test.columns(feats)) if feats else np.ones((len(test), 0))
                pred = model.predict(f)
                low, high = model.interval(f)
                for j, t in enumerate(targets):
                    errs[t].append(np.log(pred[:, j]) - np.log(true[:, j]))
                    cover[t].append((true[:, j] >= low[:, j]) & (true[:, j] <= high[:, j]))
            for t in targets:
                e, c = np.concatenate(errs[t]), np.concatenate(cover[t])
                rows.append(
                    {
                        "observed": name,
                        "model": model_name,
                        "lead": t,
                        "median_abs_rel_error": float(np.median(np.abs(np.exp(e) - 1))),
                        "rms_log_error": float(np.sqrt(np.mean(e**2))),
                        "coverage_95": float(c.mean()),
                        "n_beats": len(e),
                    }
                )
    table = pd.DataFrame(rows)
    summary = (
        table.groupby(["observed", "model"], sort=False)[["median_abs_rel_error", "rms_log_error", "coverage_95"]]
        .median()
        .reset_index()
    )
    out = REPO / "results" / "benchmarks"
    prov = provenance.make({"run": "benchmark", "label": "BENCHMARK - inferred lead scales on LUDB"}, seed=args.seed)
    tables.write_table(
        table,
        out / "scale_model.csv",
        out / "scale_model.md",
        caption=f"Inferred millivolt scales, {args.folds}-fold CV over {len(patients)} LUDB patients ({len(data)} beats)",
        provenance=prov,
    )
    io.write_json(
        out / "scale_model.json",
        {
            "patients": len(patients),
            "beats": len(data),
            "seconds": time.perf_counter() - t0,
            "summary": summary.to_dict("records"),
        },
    )
    print(f"{len(patients)} patients, {len(data)} beats, {time.perf_counter() - t0:.0f} s")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
