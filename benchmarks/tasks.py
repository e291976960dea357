"""Speed of the clinical tasks: denoiser throughput and one sampling shard of each task.

    python benchmarks/tasks.py [--configfile config/config.yaml] [--beats DIR --prior FILE] [--threads 1]
                               [--out results/benchmarks/tasks.json]

Without ``--beats``/``--prior`` it builds the prior network of the configuration (random weights: speed does
not depend on training) and a beat database of draws from an analytic Gaussian prior with the default
cohort's test/MI sizes; with them it uses a trained run's files. It then times (1) the network's denoiser
throughput against the batch size and (2) ``run_shard`` of every task for shard 0 of ``tasks.shards``, with
the configuration's task sizes, and prints the estimated wall time of the task rules when the shards run in
parallel on ``tasks.shards`` cores. Numbers are written as JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests" / "unit"))

import torch  # noqa: E402
import yaml  # noqa: E402

from ecgdiff import leads, runtime  # noqa: E402
from ecgdiff.data import dataset  # noqa: E402
from ecgdiff.diffusion.prior import Prior, build_model, load_prior  # noqa: E402
from ecgdiff.tasks import registry  # noqa: E402
from ecgdiff.tasks.context import TaskContext  # noqa: E402


def merge(a: dict, b: dict) -> dict:
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            merge(a[k], v)
        else:
            a[k] = v
    return a


def random_prior(config: dict) -> Prior:
    model_cfg = dict(leads=len(config["leads"]), length=176, **(config.get("prior") or {}).get("model", {}))
    model = build_model(model_cfg, 0.5)
    meta = {
        "leads": list(leads.canonical_all(config["leads"])),
        "model_config": model_cfg,
        "conditional": True,
        "fs": 250.0,
    }
    return Prior(model, meta, runtime.pick_device(config.get("device", "auto")))


def synthetic_db(folder: Path, config: dict):
    from task_helpers import GaussianBeatPrior, make_db, qt_beat_mean

    n = config["data"]["synthetic"]["n_patients"]
    frac = config["data"]["split"]["fractions"]
    abnormal = config["data"]["synthetic"]["abnormal_fraction"]
    healthy = n - int(round(abnormal * n))
    counts = {
        "train": int(frac["train"] * healthy),
        "test": max(2, int(frac["test"] * healthy)),
        "mi": max(2, int(round(abnormal * n))),
    }
    return make_db(
        folder, GaussianBeatPrior(length=176, r_index=48, structured=False, floor=0.02, mean_fn=qt_beat_mean), counts
    )


def throughput(prior: Prior, sizes=(16, 64, 256, 512, 1024), repeats: int = 3) -> list[dict]:
    den = prior.denoiser(torch.zeros(1, 4))
    rows = []
    for b in sizes:
        x = torch.randn(b, *prior.shape)
        den(x, torch.full((b,), 1.0))
        t = time.perf_counter()
        for _ in range(repeats):
            den(x, torch.full((b,), 1.0))
        dt = (time.perf_counter() - t) / repeats
        rows.append({"batch": b, "seconds": dt, "rows_per_s": b / dt})
        print(f"denoiser batch {b:5d}: {dt * 1000:8.1f} ms  {b / dt:8.0f} rows/s", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", action="append", default=[])
    ap.add_argument("--beats")
    ap.add_argument("--prior")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tasks", nargs="*", default=None)
    ap.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "tasks.json"))
    args = ap.parse_args()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for f in args.configfile:
        merge(config, yaml.safe_load(Path(f).read_text()))
    config.setdefault("inverse", {})
    runtime.set_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.beats and args.prior:
            db, prior, source = dataset.load(args.beats), load_prior(args.prior, config.get("device", "auto")), "run"
        else:
            db, prior, source = synthetic_db(Path(tmp) / "db", config), random_prior(config), "synthetic"
        print(f"device {prior.device}, threads {args.threads}, data: {source}", flush=True)
        result = {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": args.threads,
            "device": str(prior.device),
            "data": source,
            "configfiles": args.configfile,
            "denoiser": throughput(prior),
            "tasks": [],
        }
        n_shards = int(config["tasks"]["shards"])
        for name in args.tasks or config["tasks"]["run"]:
            t, c = time.perf_counter(), time.process_time()
            ctx = TaskContext.from_params(name, registry.task_params(name, config))
            module = importlib.import_module(registry.get(name).module)
            arrays = module.run_shard(db, ctx, ctx.providers(prior), 0)
            dt, cpu = time.perf_counter() - t, time.process_time() - c
            n = len(arrays.get("patient_id", [])) if name != "particles" else len(arrays["unit"])
            result["tasks"].append({"task": name, "shard_seconds": dt, "shard_cpu_seconds": cpu, "items_in_shard": n})
            print(
                f"{name:14s} shard 0/{n_shards}: {dt:7.1f} s wall, {cpu:7.1f} s CPU "
                f"({n} {'units' if name == 'particles' else 'patients'})",
                flush=True,
            )
    total = sum(r["shard_seconds"] for r in result["tasks"])
    cpu = sum(r["shard_cpu_seconds"] for r in result["tasks"])
    result["tasks_total_shard_seconds"] = total
    result["tasks_total_shard_cpu_seconds"] = cpu
    print(f"sum over tasks of one shard: {total:.1f} s wall, {cpu:.1f} s CPU (the shards of a task run in parallel)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
