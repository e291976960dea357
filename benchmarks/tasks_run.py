"""Every clinical task on a beat database and a prior, outside Snakemake: shards in parallel, then gathers.

    python benchmarks/tasks_run.py --beats DIR --prior FILE --out DIR [--configfile config/ludb.yaml]
        [--workers 2] [--tasks denoising ...]
    python benchmarks/tasks_run.py --ludb ../shared/physionet/ludb/1.0.1 --out DIR [--configfile config/ludb.yaml]

With ``--ludb`` it first builds the LUDB beat database from a local PhysioNet copy (ecgdiff.data.beatdb) and trains
the embedded default's small conditional prior on it (``prior`` section of config/config.yaml, not the
larger one of config/ludb.yaml), a quick real-data check of the task code. It runs each task's shards in a
process pool (``--workers``, one thread each) and the gathers, writes tables and figures under ``--out``
and prints the wall and CPU time of each step; the timings are written to ``<out>/timings.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import yaml  # noqa: E402

from ecgdiff.tasks import registry, steps  # noqa: E402


def merge(a: dict, b: dict) -> dict:
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            merge(a[k], v)
        else:
            a[k] = v
    return a


def _shard(job):
    task, shard, beats, prior, config, out = job
    t, c = time.perf_counter(), time.process_time()
    params = registry.task_params(task, config)
    steps.run_shard(task, beats, prior, params, shard, f"{out}/tasks/{task}/shard_{shard}.npz", threads=1)
    return task, shard, time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--beats")
    ap.add_argument("--prior")
    ap.add_argument("--ludb", help="local LUDB 1.0.1 folder: build its beat database and a small prior first")
    ap.add_argument("--out", required=True)
    ap.add_argument("--configfile", action="append", default=[])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tasks", nargs="*")
    args = ap.parse_args()
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for f in args.configfile:
        merge(config, yaml.safe_load(Path(f).read_text()))
    out = Path(args.out)
    timings: dict = {}
    beats, prior = args.beats, args.prior
    if args.ludb:
        from ecgdiff.data import beatdb
        from ecgdiff.diffusion.train import train_prior

        beats, prior = str(out / "beats"), str(out / "models" / "prior_conditional.pt")
        t = time.perf_counter()
        beatdb.build("ludb", args.ludb, beats, config, threads=1)
        timings["beat_database_s"] = time.perf_counter() - t
        t = time.perf_counter()
        train = {**base["prior"]["train"], "seed": config["seed"]}
        train_prior(
            beats,
            "conditional",
            dict(base["prior"]["model"]),
            train,
            prior,
            str(out / "models" / "work"),
            (str(out / "tables" / "training_loss.csv"), str(out / "tables" / "training_loss.md")),
            (str(out / "figures" / "training_loss.png"), str(out / "figures" / "training_loss.pdf")),
            config=config,
            device=config.get("device", "auto"),
        )
        timings["train_prior_s"] = time.perf_counter() - t
    names = args.tasks or config["tasks"]["run"]
    n = int(config["tasks"]["shards"])
    jobs = [(t, i, beats, prior, config, str(out)) for t in names for i in range(n)]
    t0 = time.perf_counter()
    timings["shards"] = []
    with ProcessPoolExecutor(args.workers) as ex:
        for task, shard, wall, cpu in ex.map(_shard, jobs):
            print(f"{task:14s} shard {shard}: {wall:6.1f} s wall {cpu:6.1f} s CPU", flush=True)
            timings["shards"].append({"task": task, "shard": shard, "wall_s": wall, "cpu_s": cpu})
    timings["gathers"] = []
    for task in names:
        spec = registry.get(task)
        outs = {f"table_{ext}": str(out / "tables" / f"{spec.table}.{ext}") for ext in ("csv", "md")}
        outs.update({k: str(out / "figures" / v) for k, v in spec.figures.items()})
        t = time.perf_counter()
        shard_files = [str(out / "tasks" / task / f"shard_{i}.npz") for i in range(n)]
        steps.gather(task, beats, shard_files, registry.task_params(task, config), outs)
        timings["gathers"].append({"task": task, "wall_s": time.perf_counter() - t})
        print(f"{task:14s} gather: {timings['gathers'][-1]['wall_s']:.1f} s", flush=True)
    timings["tasks_wall_s"] = time.perf_counter() - t0
    print(f"tasks: {timings['tasks_wall_s']:.1f} s wall with {args.workers} workers")
    (out / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")


if __name__ == "__main__":
    main()
