"""Time the whole workflow (default: the embedded default run) from an empty working folder, per rule.

    python benchmarks/default_run.py [--cores 2] [--configfile config/ludb.yaml] [--keep DIR]

Copies the workflow to a temporary folder, runs ``snakemake --cores N`` there (nothing cached: the cohort is
simulated again, both priors trained, every task sampled), and reads Snakemake's log for each job's start and
finish. Prints the total wall and CPU time and the wall time per rule (summed over a rule's jobs; jobs run in
parallel, so the sum exceeds the total), and saves them to ``results/benchmarks/default_run.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from workflow_inprocess import copy_workflow  # noqa: E402

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]")
START = re.compile(r"^(?:local)?rule (\w+):")
JOBID = re.compile(r"^\s+jobid: (\d+)")
FINISHED = re.compile(r"^Finished jobid: (\d+)")


def job_times(log_text: str) -> dict[str, float]:
    """Wall seconds per rule from a Snakemake log (job start stamp to its 'Finished jobid' stamp)."""
    now = None
    pending_rule = None
    started: dict[str, tuple[str, dt.datetime]] = {}
    per_rule: dict[str, float] = defaultdict(float)
    for line in log_text.splitlines():
        m = STAMP.match(line)
        if m:
            now = dt.datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
            continue
        m = START.match(line)
        if m:
            pending_rule = m.group(1)
            continue
        m = JOBID.match(line)
        if m and pending_rule and now is not None:
            started[m.group(1)] = (pending_rule, now)
            pending_rule = None
            continue
        m = FINISHED.match(line)
        if m and m.group(1) in started and now is not None:
            rule, t0 = started.pop(m.group(1))
            per_rule[rule] += (now - t0).total_seconds()
    return dict(per_rule)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--configfile", action="append", default=[])
    ap.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks" / "default_run.json")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        copy_workflow(work)
        cmd = [sys.executable, "-m", "snakemake", "--cores", str(args.cores)]
        for c in args.configfile:
            cmd += ["--configfile", str(REPO / c)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        run = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if run.returncode != 0:
            sys.exit(f"snakemake failed:\n{run.stderr[-4000:]}")
        logs = sorted((work / ".snakemake" / "log").glob("*.snakemake.log"))
        per_rule = job_times(logs[-1].read_text())

    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    load = os.getloadavg()
    result = {
        "configfiles": args.configfile or ["config/config.yaml"],
        "cores": args.cores,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "per_rule_wall_s": per_rule,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "load_average_after": [round(x, 2) for x in load],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"total: {wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU on {args.cores} cores "
        f"(load average after: {load[0]:.2f})"
    )
    for rule, seconds in sorted(per_rule.items(), key=lambda kv: -kv[1]):
        print(f"  {rule:28s} {seconds:7.0f} s")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
