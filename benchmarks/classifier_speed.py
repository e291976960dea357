"""Training and inference time of the rhythm classifier (xresnet1d) on the CPU, per epoch.

    python benchmarks/classifier_speed.py                       # ~250 train rhythms, tiny / depth 50 / depth 101
    python benchmarks/classifier_speed.py --n-train 250 --threads 2 --sizes tiny d50

One epoch = one 2.5-s random crop of every training rhythm (batches of ``--batch``, incomplete last batch
dropped) at 100 Hz, 12 leads expanded from 8; validation = sliding windows (7 per 10-s rhythm) over
``--n-cv`` rhythms. Random rhythms (the speed does not depend on the values). Each time is the best of
``--repeat`` epochs (robust to other load on a shared machine). Printed and written to
results/benchmarks/classifier_speed.{csv,json}.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ecgdiff.classify.train import ClassifierConfig, ClassifierTrainer, make_data  # noqa: E402
from ecgdiff.classify.xresnet1d import XResNetConfig  # noqa: E402
from ecgdiff.diffusion.networks.beat_unet import count_parameters  # noqa: E402

SIZES = {
    "tiny": dict(blocks=[1, 1, 1, 1], width=0.25),
    "d50": dict(depth=50),
    "d101": dict(depth=101),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=250)
    ap.add_argument("--n-cv", type=int, default=50)
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "classifier_speed"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = (0.2 * rng.normal(size=(args.n_train + args.n_cv, 8, 1024))).astype(np.float32)
    y = rng.integers(0, 2, size=(len(x), 3))
    y[: args.n_train + 1] = 1  # every class present in the cv split
    data = make_data(
        x[: args.n_train], y[: args.n_train], x[args.n_train :], y[args.n_train :], 100, "random", length=1000
    )
    rows = []
    for size in args.sizes:
        for batch in args.batch:
            cfg = ClassifierConfig(epochs=args.repeat, batch_size=batch, checkpoint_every=10**6)
            with tempfile.TemporaryDirectory() as tmp:
                tr = ClassifierTrainer(data, XResNetConfig(**SIZES[size]), cfg, tmp, device="cpu")
                train_s, cv_s = [], []
                for e in range(args.repeat):
                    t0 = time.perf_counter()
                    tr._train_epoch(e)
                    train_s.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    tr.cv_probabilities()
                    cv_s.append(time.perf_counter() - t0)
            crops = tr.steps_per_epoch * tr.batch_size
            row = {
                "size": size,
                "parameters": count_parameters(tr.model),
                "batch": tr.batch_size,
                "n_train": args.n_train,
                "crops_per_epoch": crops,
                "train_s_per_epoch": min(train_s),
                "train_s_per_1000_crops": 1000 * min(train_s) / crops,
                "cv_s": min(cv_s),
                "cv_s_per_1000_rhythms": 1000 * min(cv_s) / args.n_cv,
                "threads": args.threads,
            }
            rows.append(row)
            print(json.dumps(row))
    df = pd.DataFrame(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out.with_suffix(".csv"), index=False)
    meta = {"rows": rows, "torch": torch.__version__, "machine": platform.processor() or platform.machine()}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
