"""How the simulated cohort's rhythm classes look on the signal, next to LUDB's records with those findings.

    OMP_NUM_THREADS=1 python benchmarks/synthetic_classes.py [--mirror ../shared/physionet]
        [--n-patients 240] [--af 0.1] [--bbb 0.1] [--out results/benchmarks/synthetic_classes.json]

For every record of a simulated cohort (default: the proposed embedded default, 240 patients, 10 s at 500
Hz, 15 % MI, 10 % AF, 10 % BBB) and of LUDB 1.0.1 (200 records, grouped LBBB / RBBB / AF by those findings,
whatever else they have, else healthy / MI / other by ``labels.label_ludb``): the R peaks of the project's detector, then
``ecgdiff.validation.rhythm_features`` on the median beat and the record: QRS duration (spatial velocity),
RR coefficient of variation, heart rate, P-wave coherence in II, 4-9 Hz power of V1 after average beat
subtraction and its peak frequency; for LUDB also the cardiologists' QRS duration (``ludb_qrs_ms``). For the cohort also the detector's sensitivity
and positive predictivity per label against the true R peaks (50 ms, 0.3 s edges as in the detector
validation). Prints medians and 10-90 % ranges per group and writes JSON.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ecgdiff import leads as L  # noqa: E402
from ecgdiff.data import beats as B  # noqa: E402
from ecgdiff.data import synthetic as S  # noqa: E402
from ecgdiff.data.labels import label_ludb  # noqa: E402
from ecgdiff.data.records import Record, read_source  # noqa: E402
from ecgdiff.io import write_json  # noqa: E402
from ecgdiff.validation import rhythm_features as F  # noqa: E402
from ecgdiff.validation.detector import match_beats  # noqa: E402

MEASURES = ("qrs_ms", "rr_cv", "hr_bpm", "p_coherence", "f_band_uv2", "f_peak_hz")


def features(signal: np.ndarray, fs: float, leads: tuple[str, ...]) -> tuple[dict, np.ndarray]:
    """The measures of one 12-lead record and its detected R peaks (sample indices at ``fs``)."""
    params = B.BeatParams()
    _, det = B.find_r_peaks(signal, fs, params)
    peaks = np.round(det * fs / params.fs).astype(np.int64)
    x = dict(zip(leads, B.filter_signal(signal, fs)))
    beat, r = F.median_beat(signal, peaks, fs)
    f, psd = F.qrst_cancelled_spectrum(x["V1"], peaks, fs)
    search = (f >= 2) & (f <= 15)
    out = {
        "qrs_ms": F.qrs_ms(beat, r, fs, leads),
        "rr_cv": F.rr_cv(peaks),
        "hr_bpm": 60.0 * fs / float(np.mean(np.diff(peaks))),
        "p_coherence": F.p_coherence(x["II"], peaks, fs),
        "f_band_uv2": 1e6 * F.band_power(f, psd, 4, 9),
        "f_peak_hz": float(f[search][np.argmax(psd[search])]),
    }
    return out, peaks


def ludb_qrs_ms(path: str, fs: float) -> tuple[float, float]:
    """Cardiologists' QRS duration, two ways: per lead the median over beats of offset - onset, then the median
    over the 12 leads; and per beat the earliest onset to the latest offset over the leads (beats matched to
    lead II's QRS peaks within 60 ms), median over beats (longer: the leads' marks scatter)."""
    import wfdb

    per_lead = []
    for lead in ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6"):
        ann = wfdb.rdann(path, lead)
        sym, smp = list(ann.symbol), np.asarray(ann.sample)
        qrs = [
            (smp[i - 1], smp[i], smp[i + 1])
            for i in range(1, len(sym) - 1)
            if sym[i] == "N" and sym[i - 1] == "(" and sym[i + 1] == ")"
        ]
        per_lead.append(np.array(qrs).reshape(-1, 3))
    lead_median = np.nanmedian([np.median(q[:, 2] - q[:, 0]) if len(q) else np.nan for q in per_lead]) * 1000 / fs
    spans = []
    for _, peak, _ in per_lead[1]:
        ons, offs = [], []
        for q in per_lead:
            if len(q):
                j = int(np.argmin(np.abs(q[:, 1] - peak)))
                if abs(q[j, 1] - peak) <= 0.06 * fs:
                    ons.append(q[j, 0])
                    offs.append(q[j, 2])
        if ons:
            spans.append((max(offs) - min(ons)) * 1000.0 / fs)
    return float(lead_median), float(np.median(spans)) if spans else float("nan")


def ludb_group(rec: Record) -> str:
    """lbbb, rbbb or af when the record has that finding (complete BBB first), else ``labels.label_ludb``."""
    text = " | ".join(rec.diagnoses).lower()
    if "complete left bundle branch block" in text:
        return "lbbb"
    if "complete right bundle branch block" in text:
        return "rbbb"
    if re.search(r"rhythm:\s*atrial fibrillation", text):
        return "af"
    return label_ludb(rec.diagnoses)


def summarise(df: pd.DataFrame, group: str) -> pd.DataFrame:
    rows = []
    for g, sub in df.groupby(group):
        row = {group: g, "records": len(sub)}
        for m in [c for c in (*MEASURES, "qrs_annotated_ms", "qrs_span_ms") if c in sub]:
            v = sub[m].dropna()
            if len(v):
                q = np.quantile(v, [0.1, 0.5, 0.9])
                row[m] = f"{q[1]:.3g} [{q[0]:.3g}, {q[2]:.3g}]"
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "physionet")
    ap.add_argument("--n-patients", type=int, default=240)
    ap.add_argument("--af", type=float, default=0.1)
    ap.add_argument("--bbb", type=float, default=0.1)
    ap.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks" / "synthetic_classes.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    cfg = S.SyntheticConfig(n_patients=args.n_patients, af_fraction=args.af, bbb_fraction=args.bbb)
    rows = []
    for p, sig, true_peaks in S.simulate_cohort(cfg):
        feat, det = features(sig, cfg.fs, L.STANDARD_12)
        tol, edge = int(round(0.05 * cfg.fs)), int(round(0.3 * cfg.fs))
        score = match_beats(true_peaks, det, tol, (edge, sig.shape[1] - 1 - edge))
        rows.append(
            {"label": p.label, "qrs_ms_model": p.qrs_ms, "tp": score.tp, "fn": score.fn, "fp": score.fp, **feat}
        )
    synth = pd.DataFrame(rows)
    t_synth = time.perf_counter() - t0
    ludb_rows = []
    for rec in read_source("ludb", args.mirror / "ludb" / "1.0.1", {}):
        if not isinstance(rec, Record):
            continue
        feat, _ = features(rec.signal, rec.fs, rec.leads)
        ludb_rows.append(
            {
                "record": rec.record_id,
                "group": ludb_group(rec),
                **feat,
                **dict(zip(("qrs_annotated_ms", "qrs_span_ms"), ludb_qrs_ms(rec.meta["path"], rec.fs))),
            }
        )
    ludb = pd.DataFrame(ludb_rows)
    detector = (
        synth.groupby("label")[["tp", "fn", "fp"]]
        .sum()
        .assign(sensitivity=lambda d: d.tp / (d.tp + d.fn), ppv=lambda d: d.tp / (d.tp + d.fp))
    )
    s_sum, l_sum = summarise(synth, "label"), summarise(ludb, "group")
    pd.set_option("display.width", 200)
    print(f"synthetic cohort {S.cohort_hash(cfg)} ({args.n_patients} patients), median [10 %, 90 %]:")
    print(s_sum.to_string(index=False))
    print("\nLUDB 1.0.1, median [10 %, 90 %]:")
    print(l_sum.to_string(index=False))
    print("\ndetector on the cohort (true R peaks, 50 ms):")
    print(detector.round(4).to_string())
    out = {
        "config": S.hashed_config(cfg),
        "cohort_hash": S.cohort_hash(cfg),
        "synthetic": s_sum.to_dict("records"),
        "ludb": l_sum.to_dict("records"),
        "detector": detector.reset_index().to_dict("records"),
        "synthetic_records": synth.to_dict("records"),
        "ludb_records": ludb.to_dict("records"),
        "seconds": {"synthetic": round(t_synth, 1), "total": round(time.perf_counter() - t0, 1)},
    }
    write_json(args.out, out)
    print(f"\n{out['seconds']} s; wrote {args.out}")


if __name__ == "__main__":
    main()
