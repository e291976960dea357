"""Time of the synthetic cohort and beat-database stages of the embedded default run.

    OMP_NUM_THREADS=1 python benchmarks/data_pipeline.py [--out results/benchmarks/data_pipeline.json]

Measures, for the default configuration (config/config.yaml: 240 patients, 10 s, 500 Hz): the simulation
alone (no disk), writing the cohort (simulation + WFDB records + metadata) with 1 and 2 worker processes
(and that both give identical files), and building the beat database from it with 1 and 2 worker
processes. Prints the seconds and writes them, with the machine's load average, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import yaml  # noqa: E402

from ecgdiff.data import beatdb, synthetic  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks" / "data_pipeline.json")
    args = ap.parse_args()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg = synthetic.SyntheticConfig.from_config(config["data"]["synthetic"])
    res: dict[str, float] = {}
    t0 = time.perf_counter()
    n = sum(1 for _ in synthetic.simulate_cohort(cfg))
    res["simulate_s"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            t0 = time.perf_counter()
            synthetic.write_cohort(Path(tmp) / f"cohort{workers}", cfg, workers=workers)
            res[f"write_cohort_{workers}_workers_s"] = time.perf_counter() - t0
        same = all(
            (Path(tmp) / "cohort1" / f).read_bytes() == (Path(tmp) / "cohort2" / f).read_bytes()
            for f in ("metadata.csv", "records/S0001.dat", "records/S0240.hea")
        )
        for threads in (1, 2):
            t0 = time.perf_counter()
            man = beatdb.build(
                "synthetic", Path(tmp) / "cohort1", Path(tmp) / f"beats{threads}", config, threads=threads
            )
            res[f"beat_database_{threads}_threads_s"] = time.perf_counter() - t0
    res = {k: round(v, 2) for k, v in res.items()}
    for k, v in res.items():
        print(f"{k:28s} {v:7.2f}")
    print(f"{n} patients, {man['n_beats']} beats of {man['n_patients']} patients")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "command": "OMP_NUM_THREADS=1 python benchmarks/data_pipeline.py",
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine(),
                },
                "load_average_1min": os.getloadavg()[0],
                "patients": n,
                "beats": man["n_beats"],
                "cohort_identical_for_1_and_2_workers": same,
                **res,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
