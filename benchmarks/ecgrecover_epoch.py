"""Time of one ECGrecover training epoch (train pass and CV pass) on the CPU, per network size.

    python benchmarks/ecgrecover_epoch.py [--sizes tiny,authors] [--n-train 250] [--n-cv 50] [--threads 1]
        [--out results/benchmarks/ecgrecover_epoch.json]

Rhythms are random smooth 8-lead signals (the time does not depend on the content) expanded to 12 leads,
1000 valid samples padded to 1024 (talk protocol). Sizes: ``tiny`` (4 channels: the embedded default run),
``authors`` (16 channels, the authors' network). The CV pass evaluates every CV rhythm under each of the 8
missing-lead settings; its time is reported per rhythm-setting pair so that a smaller ``--n-cv`` still
gives the full-size estimate. Prints a table and writes the numbers as JSON.
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

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ecgdiff import leads  # noqa: E402
from ecgdiff.baselines import ecgrecover as er  # noqa: E402
from ecgdiff.baselines import ecgrecover_train as ert  # noqa: E402
from ecgdiff.io import write_json  # noqa: E402

SIZES = {
    "tiny": dict(channels=4, batch_size=32),
    "authors": dict(channels=16, batch_size=32),
}


def rhythms(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(1000) / 100.0
    f = rng.uniform(0.8, 8.0, size=(n, 8, 4))
    ph = rng.uniform(0, 2 * np.pi, size=(n, 8, 4))
    x8 = np.zeros((n, 8, 1024))
    x8[..., :1000] = np.sin(2 * np.pi * f[..., None] * t + ph[..., None]).sum(2) * 0.3
    return ert.from_basis(x8, leads.BASIS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="tiny,authors")
    ap.add_argument("--n-train", type=int, default=250)
    ap.add_argument("--n-cv", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "ecgrecover_epoch.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = ert.RecoverData(rhythms(args.n_train, 0), rhythms(args.n_cv, 1), length=1000, data_hash="benchmark")
    rows = []
    for name in args.sizes.split(","):
        cfg = er.ECGrecoverConfig(epochs=1, **SIZES[name])
        with tempfile.TemporaryDirectory() as tmp:
            tr = ert.ECGrecoverTrainer(data, cfg, tmp, device="cpu")
            t0 = time.perf_counter()
            tr.train_epoch()
            t_train = time.perf_counter() - t0
            t0 = time.perf_counter()
            tr.cv_loss()
            t_cv = time.perf_counter() - t0
        pairs = len(tr.cv_index)
        rows.append(
            {
                "size": name,
                "channels": cfg.channels,
                "depth": cfg.depth,
                "batch_size": cfg.batch_size,
                "parameters": er.count_parameters(tr.model),
                "n_train": args.n_train,
                "train_epoch_s": round(t_train, 2),
                "train_s_per_rhythm": round(t_train / args.n_train, 4),
                "cv_pairs": pairs,
                "cv_s": round(t_cv, 2),
                "cv_s_per_pair": round(t_cv / pairs, 4),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    out = {
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "rows": rows,
    }
    write_json(args.out, out)
    print(f"\n{'size':8} {'params':>9} {'train epoch (s)':>16} {'CV s / pair':>12}")
    for r in rows:
        print(f"{r['size']:8} {r['parameters']:>9} {r['train_epoch_s']:>16} {r['cv_s_per_pair']:>12}")


if __name__ == "__main__":
    main()
