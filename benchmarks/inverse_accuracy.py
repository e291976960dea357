"""Accuracy of every posterior sampler against exact Gaussian-mixture posteriors.

Usage (from the repository root, PYTHONPATH=src):

    python benchmarks/inverse_accuracy.py                         # 9 x 176 beat problems, every sampler, defaults
    python benchmarks/inverse_accuracy.py --problems small        # the unit-test problems (3 x 16)
    python benchmarks/inverse_accuracy.py --problems rhythm --n 300   # rhythm-shaped problems (8 x 32, padded)
    python benchmarks/inverse_accuracy.py --samplers dps --sweep zeta=0.05,0.1,0.2 --tag dps_zeta

Writes ``results/benchmarks/inverse_accuracy_{beat,small,rhythm}[_TAG].{csv,md,json}`` (git-ignored): one row per sampler and
problem with the sliced Wasserstein distance to exact posterior draws (``sw``), its Monte-Carlo floor
(``sw_ref``), the prior's distance (``sw_prior``), the normalised excess, the posterior-mean error and the
wall time (see :mod:`ecgdiff.inverse.verify`).
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ecgdiff import io, provenance, tables  # noqa: E402
from ecgdiff.inverse import available  # noqa: E402
from ecgdiff.inverse.verify import (  # noqa: E402
    beat_problems,
    reference,
    rhythm_problems,
    run_accuracy,
    small_problems,
)


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", choices=["beat", "small", "rhythm"], default="beat")
    ap.add_argument("--only", default="", help="comma-separated problem names (default: all)")
    ap.add_argument("--samplers", default=",".join(available()))
    ap.add_argument("--set", action="append", default=[], help="option override name.key=value (repeatable)")
    ap.add_argument("--sweep", default="", help="key=v1,v2,... : one run per value for each sampler")
    ap.add_argument("--n", type=int, default=200, help="posterior draws per sampler and problem")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", default="results/benchmarks")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    cache = Path(args.out) / f"inverse_problems_{args.problems}_n{args.n}_s{args.seed}_v2.pt"
    if cache.exists():
        problems, refs = torch.load(cache, weights_only=False)
    else:
        make = {"beat": beat_problems, "small": small_problems, "rhythm": rhythm_problems}[args.problems]
        problems = make(seed=args.seed)
        refs = {k: reference(p, args.n, args.seed) for k, p in problems.items()}
        cache.parent.mkdir(parents=True, exist_ok=True)
        with io.atomic_path(cache) as tmp:
            torch.save((problems, refs), tmp)
    if args.only:
        keep = args.only.split(",")
        problems = {k: problems[k] for k in keep}

    overrides: dict[str, dict] = {}
    for item in args.set:
        key, value = item.split("=", 1)
        name, opt = key.split(".", 1)
        overrides.setdefault(name, {})[opt] = _value(value)
    samplers = []
    for name in args.samplers.split(","):
        base = dict(overrides.get(name, {}))
        if args.sweep:
            key, values = args.sweep.split("=", 1)
            for v in values.split(","):
                samplers.append((f"{name}[{key}={v}]", name, {**base, key: _value(v)}))
        else:
            label = name + ("[" + ",".join(f"{k}={v}" for k, v in base.items()) + "]" if base else "")
            samplers.append((label, name, base))

    rows = run_accuracy(problems, samplers, args.n, args.seed, refs, args.device)
    df = pd.DataFrame(rows)
    cols = [
        "sampler",
        "problem",
        "sw",
        "sw_ref",
        "sw_prior",
        "sw_excess",
        "mean_err",
        "mean_err_ref",
        "mean_err_prior",
        "mean_rel",
        "var_ratio",
        "var_ratio_ref",
        "seconds",
        "denoiser_calls",
        "ess_mean_guided",
        "ess_min",
    ] + (["error"] if "error" in df else [])
    df = df[[c for c in cols if c in df]]
    stem = f"inverse_accuracy_{args.problems}" + (f"_{args.tag}" if args.tag else "")
    prov = provenance.make(
        {"benchmark": "inverse_accuracy", **vars(args)},
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        cpu_count=os.cpu_count(),
    )
    tables.write_table(
        df,
        Path(args.out) / f"{stem}.csv",
        Path(args.out) / f"{stem}.md",
        caption=f"Posterior samplers vs exact Gaussian-mixture posteriors ({args.problems} problems, "
        f"n = {args.n} draws)",
        provenance=prov,
        floatfmt=".4f",
    )
    io.write_json(Path(args.out) / f"{stem}.json", {"provenance": prov, "rows": rows})
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
