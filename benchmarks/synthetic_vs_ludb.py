"""How the simulated cohort compares with real ECGs (LUDB) on what beat extraction sees.

    OMP_NUM_THREADS=1 python benchmarks/synthetic_vs_ludb.py [--mirror ../shared/physionet]
        [--out results/benchmarks/synthetic_vs_ludb.json]

For every record of LUDB 1.0.1 and of the default synthetic cohort (240 simulated patients): filters,
resampling and R peaks as in beat extraction, then per lead (the 12 standard leads) the median over the
record's beats of the QRS amplitude (maximum |value| within +-60 ms of R, mV) and the share of beats
failing the quality rule (std <= 0.05 mV within +-20 samples of R) in the paper's nine leads, and the
median RR and heart-rate range. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ecgdiff import leads as L  # noqa: E402
from ecgdiff.data import beats as B  # noqa: E402
from ecgdiff.data import synthetic  # noqa: E402
from ecgdiff.data.records import Record, read_source  # noqa: E402


def describe(records: list[Record]) -> dict:
    p = B.BeatParams()
    amps, fails, rr = [], [], []
    for rec in records:
        y, peaks = B.find_r_peaks(rec.signal, rec.fs, p)
        y12 = L.derive(y, rec.leads, L.STANDARD_12)
        pk = peaks[1:]
        pk = pk[(pk >= p.before) & (pk + p.after <= y.shape[1])]
        if len(pk) == 0:
            continue
        w = B.window_beats(y12, pk, p.before, p.after)
        amps.append(np.median(np.abs(w[..., p.before - 15 : p.before + 16]).max(axis=-1), axis=0))
        nine = w[:, L.indices(L.PAPER_9, L.STANDARD_12)]
        fails.append(~B.quality_mask(nine, p.before, p.quality_half_width, p.quality_min_std_mv))
        rr.append(np.diff(peaks) * 1000.0 / p.fs)
    a = np.array(amps)
    f = np.concatenate(fails)
    r = np.concatenate(rr)
    return {
        "records": len(records),
        "median_qrs_amplitude_mv": dict(zip(L.STANDARD_12, np.median(a, 0).round(3))),
        "beats_failing_quality_pct": round(100 * float(f.mean()), 2),
        "rr_ms_quantiles_5_50_95": np.quantile(r, [0.05, 0.5, 0.95]).round(0).tolist(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "physionet")
    ap.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks" / "synthetic_vs_ludb.json")
    args = ap.parse_args()
    ludb = [r for r in read_source("ludb", args.mirror / "ludb" / "1.0.1") if isinstance(r, Record)]
    cfg = synthetic.SyntheticConfig()
    syn = [
        Record(p.name, p.name, "synthetic", cfg.fs, sig, L.STANDARD_12) for p, sig, _ in synthetic.simulate_cohort(cfg)
    ]
    out = {
        "ludb": describe(ludb),
        "synthetic": describe(syn),
        "command": "OMP_NUM_THREADS=1 python benchmarks/synthetic_vs_ludb.py",
    }
    table = pd.DataFrame({k: out[k]["median_qrs_amplitude_mv"] for k in ("ludb", "synthetic")})
    print("median QRS amplitude (mV) per lead:\n" + table.to_string())
    for k in ("ludb", "synthetic"):
        print(
            f"{k}: {out[k]['records']} records, {out[k]['beats_failing_quality_pct']} % of beats fail the quality "
            f"rule, RR 5/50/95 % quantiles {out[k]['rr_ms_quantiles_5_50_95']} ms"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
