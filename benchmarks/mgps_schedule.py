"""MGPS's options against exact posteriors: gradient steps, their window, the midpoint rule, the prior transition,
the warm start, from d = 20 to the rhythm shape 8 x 1024.

Usage (from the repository root, PYTHONPATH=src):

    python benchmarks/mgps_schedule.py                       # everything (about 15 min of CPU, 1 thread)
    python benchmarks/mgps_schedule.py --dims 20,256 --curve-dims 20

Problems: the missing-lead setting of the talk at every size: a beat-like Gaussian mixture over ``leads x T``
(``ecgdiff.inverse.gmm.random_beatlike_gmm``, 4 components, rank 4 below d = 100 and 16 above), the first lead
observed with noise std 0.05 (the authors' observation std), the others to infer; d = 20 (2 x 10), 64 (4 x 16),
256 (8 x 32), 1024 (8 x 128) and 8192 (8 x 1024, the rhythm shape). The exact posterior is the low-rank
:class:`ecgdiff.inverse.gmm.MaskPosterior` (no ``d x d`` matrix). Every sampler runs 50 steps (the talk's) on the
exact mixture denoiser. Scores (:func:`ecgdiff.inverse.verify.score`): ``sw_excess`` the normalised
sliced-Wasserstein excess (0 exact, 1 the prior), ``mean_rel`` and ``var_ratio``.

Three experiments:

- ``schedule``: every option combination (``CONFIGS``, all their deciding options explicit) at the talk's schedule
  (5 gradient steps per step, 10 in the window of 10 steps), at every size;
- ``window``: the window first or last (``WINDOW_CONFIGS``) on ``--window-seeds`` more problems per size (other
  mixtures and observations), for a paired difference over seeds;
- ``grad``: ``g`` gradient steps at every step (1, 2, 5, 10, 20; no window) for ``CURVE_CONFIGS``, at the sizes
  of ``--curve-dims``.

Rows are cached under ``results/benchmarks/mgps_schedule_cache/`` (keyed by the settings and the source of the
sampler and of the mixture code), so an interrupted run resumes. Writes ``results/benchmarks/mgps_schedule.{csv,
md,json,png,pdf}`` (git-ignored) and prints the tables.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ecgdiff import io, plots, provenance  # noqa: E402
from ecgdiff.inverse import Mask, get_sampler  # noqa: E402
from ecgdiff.inverse.gmm import random_beatlike_gmm  # noqa: E402
from ecgdiff.inverse.verify import make_problem, reference, score  # noqa: E402

#: d -> (leads, time samples), and posterior draws per sampler
SHAPES = {20: (2, 10), 64: (4, 16), 256: (8, 32), 1024: (8, 128), 8192: (8, 1024)}
N_DRAWS = {20: 300, 64: 300, 256: 200, 1024: 100, 8192: 50}
SIGMA_Y = 0.05
GRADS = [1, 2, 5, 10, 20]

#: every option that tells the combinations apart, given explicitly (rows do not depend on the library defaults)
BASE = {
    "steps": 50,
    "midpoint_rule": "edm",
    "window": "first",
    "prior_transition": "gaussian",
    "warm_start": True,
    "ddim_init_steps": 0,
}
#: option combinations: label -> options besides the gradient steps (the window is the first or last 10 steps)
CONFIGS = {
    "previous: edm, gaussian, last window": {"window": "last"},
    "edm, gaussian": {},
    "edm, gaussian, cold start": {"warm_start": False},
    "edm, gaussian_midpoint": {"prior_transition": "gaussian_midpoint"},
    "edm, score": {"prior_transition": "score"},
    "edm, score, last window": {"prior_transition": "score", "window": "last"},
    "ddpm_current, gaussian": {"midpoint_rule": "ddpm_current"},
    "ddpm_current, score": {"midpoint_rule": "ddpm_current", "prior_transition": "score"},
    "authors: ddpm_current, score, ddim 200": {
        "midpoint_rule": "ddpm_current",
        "prior_transition": "score",
        "ddim_init_steps": 200,
    },
    "authors, last window": {
        "midpoint_rule": "ddpm_current",
        "prior_transition": "score",
        "ddim_init_steps": 200,
        "window": "last",
    },
}
CONFIGS = {label: {**BASE, **delta} for label, delta in CONFIGS.items()}
CURVE_CONFIGS = ["edm, gaussian", "edm, score", "authors: ddpm_current, score, ddim 200"]
#: the window's position, paired over problem seeds (seed 0 is the schedule experiment's)
WINDOW_CONFIGS = ["edm, score", "edm, score, last window"]


def problem(d: int, seed: int):
    leads, T = SHAPES[d]
    g = torch.Generator().manual_seed(seed)
    prior = random_beatlike_gmm((leads, T), n_components=4, rank=4 if d < 100 else 16, generator=g)
    mask = torch.zeros(leads, T, dtype=torch.bool)
    mask[0] = True
    return make_problem(f"lead_I_d{d}", prior, Mask(mask), SIGMA_Y, g, lowrank=True)


def _code_hash() -> str:
    """Hash of the code that computes a row: the syntax trees of the sampler and the mixture modules without their
    docstrings (so that formatting and documentation do not invalidate the cache)."""
    h = hashlib.sha256()
    for rel in ("inverse/mgps.py", "inverse/base.py", "inverse/gmm.py", "inverse/verify.py", "diffusion/schedule.py"):
        tree = ast.parse((ROOT / "src/ecgdiff" / rel).read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
                if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
        h.update(ast.dump(tree).encode())
    return h.hexdigest()[:16]


def run_row(prob, ref, d: int, n: int, seed: int, opts: dict, cache: Path, code: str) -> dict:
    key = hashlib.sha256(json.dumps([d, n, seed, opts, code], sort_keys=True).encode()).hexdigest()[:20]
    path = cache / f"{key}.json"
    if path.exists():
        return io.read_json(path)
    sampler = get_sampler("mgps", **opts)
    gen = torch.Generator().manual_seed(seed + 1)
    t0 = time.process_time()
    x = sampler.sample(prob.prior, prob.y, prob.operator, prob.sigma_y, n, generator=gen)
    cpu = time.process_time() - t0
    s = score(x, ref, seed=seed)
    row = {
        "d": d,
        "n": n,
        "options": json.dumps(opts, sort_keys=True),
        "sw_excess": s["sw_excess"],
        "mean_rel": s["mean_rel"],
        "var_ratio": s["var_ratio"],
        "denoiser_calls": sampler.last_calls,
        "cpu_s": cpu,
    }
    io.write_json(path, row)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dims", default="20,64,256,1024,8192")
    ap.add_argument("--curve-dims", default="20,256,8192")
    ap.add_argument("--configs", default="", help="comma-separated labels of CONFIGS (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window-seeds", type=int, default=3, help="extra problem seeds of the window experiment")
    ap.add_argument("--out", default="results/benchmarks")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    cache = out / "mgps_schedule_cache"
    cache.mkdir(parents=True, exist_ok=True)
    code = _code_hash()
    configs = {k: CONFIGS[k] for k in args.configs.split(",")} if args.configs else CONFIGS
    dims = [int(v) for v in args.dims.split(",")]
    curve_dims = [int(v) for v in args.curve_dims.split(",") if v]
    cpu0 = time.process_time()
    rows = []
    jobs = []  # (d, problem seed, experiment, label, grad steps, options)
    for d in sorted(set(dims) | set(curve_dims)):
        if d in dims:
            jobs += [(d, args.seed, "schedule", label, "5/10", opts) for label, opts in configs.items()]
            for k in range(1, args.window_seeds + 1):
                jobs += [
                    (d, args.seed + k, "window", lab, "5/10", configs[lab]) for lab in WINDOW_CONFIGS if lab in configs
                ]
        if d in curve_dims:
            for label in CURVE_CONFIGS:
                if label in configs:
                    grad = [{**configs[label], "grad_steps": g, "window_size": 0} for g in GRADS]
                    jobs += [(d, args.seed, "grad", label, g, opts) for g, opts in zip(GRADS, grad)]
    jobs.sort(key=lambda job: (job[0], job[1]))  # one problem at a time
    problems = {}
    for d, seed, experiment, label, g, opts in jobs:
        if (d, seed) not in problems:
            prob = problem(d, seed)
            problems = {(d, seed): (prob, reference(prob, N_DRAWS[d], seed))}
        prob, ref = problems[(d, seed)]
        row = run_row(prob, ref, d, N_DRAWS[d], seed, opts, cache, code)
        row = {"experiment": experiment, "config": label, "grad_steps": g, "seed": seed, **row}
        rows.append(row)
        print(
            f"d={d:5d} seed={seed} {experiment:8s} {label:40s} g={g!s:5s} sw_excess={row['sw_excess']:.3f} "
            f"mean_rel={row['mean_rel']:.3f} var_ratio={row['var_ratio']:.2f} calls={row['denoiser_calls']} "
            f"cpu={row['cpu_s']:.1f}s",
            flush=True,
        )
    df = pd.DataFrame(rows)
    prov = provenance.make(
        {"benchmark": "mgps_schedule", **vars(args)}, seed=args.seed, threads=1, cpu_count=os.cpu_count()
    )
    io.write_table(
        df,
        out / "mgps_schedule.csv",
        out / "mgps_schedule.md",
        caption="MGPS options vs exact Gaussian-mixture posteriors (lead I observed, sigma_y 0.05, 50 steps)",
        provenance=prov,
        floatfmt=".3f",
    )
    io.write_json(out / "mgps_schedule.json", {"provenance": prov, "rows": rows})
    cell = df.assign(cell=df.apply(lambda r: f"{r.sw_excess:.3f} / {r.mean_rel:.3f} / {r.var_ratio:.2f}", axis=1))
    sched = cell[cell.experiment == "schedule"]
    if len(sched):
        print("\nsw_excess / mean_rel / var_ratio at the talk's schedule (5 steps, 10 in the window):")
        print(sched.pivot(index="config", columns="d", values="cell").reindex(list(configs)).to_string())
    grad = cell[cell.experiment == "grad"]
    if len(grad):
        print("\nsw_excess / mean_rel / var_ratio against g gradient steps at every step:")
        print(grad.pivot(index=["config", "grad_steps"], columns="d", values="cell").to_string())
    win = df[df.config.isin(WINDOW_CONFIGS) & (df.grad_steps == "5/10")]
    if win.seed.nunique() > 1:
        wide = win.pivot_table(index=["d", "seed"], columns="config", values="sw_excess")
        diff = (wide[WINDOW_CONFIGS[0]] - wide[WINDOW_CONFIGS[1]]).groupby("d")
        summary = pd.DataFrame({"mean": diff.mean(), "se": diff.std() / diff.count() ** 0.5, "seeds": diff.count()})
        print("\nsw_excess, first window - last window (edm, score; negative: the first is better), over seeds:")
        print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"\nCPU time: {time.process_time() - cpu0:.0f} s (rows from the cache cost nothing)")
    _figure(df, prov, out)


def _figure(df: pd.DataFrame, prov: dict, out: Path) -> None:
    import matplotlib.pyplot as plt

    grad = df[df.experiment == "grad"]
    sched = df[df.experiment == "schedule"]
    colour = {label: plt.cm.tab10(i % 10) for i, label in enumerate(CONFIGS)}
    curve_dims = sorted(grad.d.unique())
    fig, axes = plt.subplots(1, len(curve_dims) + 1, figsize=(3.6 * (len(curve_dims) + 1), 3.2), squeeze=False)
    for ax, d in zip(axes[0], curve_dims):
        for label, part in grad[grad.d == d].groupby("config", sort=False):
            ax.plot(part.grad_steps, part.sw_excess, marker="o", label=label, color=colour[label])
        ax.set_xscale("log")
        ax.set_xticks(GRADS, [str(g) for g in GRADS])
        ax.set_xlabel("gradient steps per diffusion step")
        ax.set_title(f"d = {d}")
        ax.set_ylabel("sw_excess (0 exact, 1 prior)")
    ax = axes[0][-1]
    for label, part in sched.groupby("config", sort=False):
        ax.plot(part.d, part.sw_excess, marker="o", label=label, color=colour[label])
    ax.set_xscale("log")
    ax.set_xlabel("dimension d")
    ax.set_title("talk's schedule (5, 10 in the window)")
    for a in axes[0]:
        a.grid(alpha=0.3)
    handles, labels = [], []
    for a in axes[0]:
        for h, lab in zip(*a.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="upper center", ncol=4, fontsize=7, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout()
    plots.save_figure(fig, [out / "mgps_schedule.png", out / "mgps_schedule.pdf"], prov)


if __name__ == "__main__":
    main()
