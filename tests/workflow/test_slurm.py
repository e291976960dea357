"""The workflow on a real SLURM cluster, through profiles/slurm, as researchers run it.

A single-node cluster (munged, slurmctld, slurmd from Debian's packages; tests/slurm_cluster.py) is
started on 127.0.0.1 with partitions `cpu` and `gpu` (one counted GPU) named as in
profiles/slurm/partitions.yaml. In a temporary copy of the workflow, the tiny configuration's data
chain (synthetic cohort -> beat database -> dataset table) and the software records of the data (CPU)
and train (GPU) environments are run through the SLURM profile, and then:

- every job went through sbatch: Snakemake printed a SLURM job id for each, `scontrol` knows each
  id as COMPLETED, each has its SLURM log file;
- GPU routing: the jobs that declare gpu=1 ran on partition `gpu` with a GPU allocated (the job's
  own record of SLURM_JOB_PARTITION / SLURM_GPUS_ON_NODE), all others on `cpu`;
- the outputs equal those of a local run (profiles/local) of the same targets: the same arrays and
  tables, provenance creation times and durations aside;
- a job whose input is corrupted (a truncated beat table) fails, is resubmitted once (--retries 1: two sbatch submissions)
  and the run ends with an error naming the rule.

The profiles are used as committed, less conda (which cannot run here): their
software-deployment-method and conda-frontend keys are left out, nothing else changes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from slurm_cluster import SlurmCluster, install_reason, system_conf_reason  # noqa: E402
from workflow_inprocess import REPO, TINY, copy_workflow, parsed_workflow, resource  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

RUN = yaml.safe_load((REPO / TINY).read_text())["run"]
# What the test runs: the tiny run's data chain and its run information.
TARGETS = [
    f"results/{RUN}/tables/table3_dataset.csv",  # synthetic_cohort -> beat_database -> dataset_table
    f"results/{RUN}/run_info/software_train.json",  # software_versions_train: a GPU job
    f"results/{RUN}/run_info/software_data.json",  # software_versions_data: a CPU job
]
CORRUPTED_INPUT = f"results/{RUN}/data/beats/beats.parquet"  # an input of rule dataset_table
FAILING_RULE = "dataset_table"
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)/rule_([A-Za-z0-9_]+)/\S+\)")


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = install_reason() or system_conf_reason()
    if reason:
        pytest.skip(reason)
    c = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    c.start()
    try:
        yield c
    finally:
        c.stop()
    assert not any(c.alive().values()), f"daemons still running after stop: {c.alive()}"
    assert not os.path.lexists("/etc/slurm/slurm.conf") or not c.linked_system_conf


def snakemake(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the snakemake CLI in `workdir` (output to files there); jobs import ecgdiff from this checkout."""
    env = dict(env or os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [sys.executable, "-m", "snakemake", "--configfile", TINY, *args]
    n = len(list(workdir.glob("snakemake-*.out")))
    out = open(workdir / f"snakemake-{n}.out", "w+")
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    proc.output_file, proc.started, proc.args_text = out, time.monotonic(), " ".join(args)
    return proc


def finish(proc: subprocess.Popen, timeout: float = 400) -> tuple[int, str]:
    """Wait for a snakemake started by `snakemake()`; its exit status and output."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.output_file.seek(0)
    text = proc.output_file.read()
    proc.output_file.close()
    print(f"{time.monotonic() - proc.started:6.1f} s  snakemake {proc.args_text}  (exit {proc.returncode})")
    return proc.returncode, text


def on_slurm(workdir: Path, cluster: SlurmCluster, *args: str) -> tuple[int, str]:
    """snakemake through the SLURM profile, polling the test cluster often (its jobs take seconds)."""
    return finish(
        snakemake(
            workdir,
            "--profile",
            "test-profiles/slurm",
            "--seconds-between-status-checks",
            "1",
            "--slurm-init-seconds-before-status-checks",
            "1",
            "--max-threads",
            str(cluster.cpus),
            *args,
            env=cluster.env,
        )
    )


def gpu_rules() -> set[str]:
    with parsed_workflow([TINY]) as workflow:
        return {r.name for r in workflow.rules if resource(r, "gpu")}


# ---------------------------------------------------------------- comparing outputs
def comparable_outputs(root: Path) -> dict[str, Path]:
    """Outputs of the run that must be equal between the SLURM and the local run.

    The run-information records are left out: they describe where each job ran, which differs by design.
    """
    files = sorted(p for base in (root / "results" / RUN, root / "resources") for p in base.rglob("*") if p.is_file())
    return {
        p.relative_to(root).as_posix(): p
        for p in files
        if "run_info" not in p.parts and not p.name.startswith("software_versions")
    }


# JSON keys whose values differ between two runs of the same job: when and where it ran, how long it took,
# and the hashes of input files that themselves record such times (the beat manifest's "inputs").
VARYING_KEYS = re.compile(r"^(created|path|host|inputs)$|^\w*_(s|seconds)$")


def without_times(obj):
    """A JSON document less its creation times, durations and absolute paths (they differ between runs)."""
    if isinstance(obj, dict):
        return {k: without_times(v) for k, v in obj.items() if not VARYING_KEYS.match(k)}
    if isinstance(obj, list):
        return [without_times(v) for v in obj]
    return obj


def assert_same(a: Path, b: Path) -> None:
    suffix = a.suffix
    if suffix == ".npy":
        x, y = np.load(a), np.load(b)
        assert x.shape == y.shape and x.dtype == y.dtype, f"{a.name}: {x.shape} {x.dtype} vs {y.shape} {y.dtype}"
        np.testing.assert_array_equal(x, y, err_msg=str(a))
    elif suffix == ".parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))
    elif suffix == ".csv":
        pd.testing.assert_frame_equal(pd.read_csv(a, comment="#"), pd.read_csv(b, comment="#"))
    elif suffix == ".json":
        assert without_times(json.loads(a.read_text())) == without_times(json.loads(b.read_text())), a.name
    elif suffix == ".md":
        strip = lambda t: [ln for ln in t.splitlines() if "created" not in ln]  # noqa: E731
        assert strip(a.read_text()) == strip(b.read_text()), a.name
    else:
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs"


# ---------------------------------------------------------------- the test
def test_workflow_runs_on_slurm_like_locally(cluster, tmp_path):
    slurm_dir = copy_workflow(tmp_path / "slurm")
    local_dir = copy_workflow(tmp_path / "local")
    want_gpu = gpu_rules()
    assert want_gpu, "no rule declares gpu=1: nothing to route to the GPU partition"

    # 1. the targets through the SLURM profile (and meanwhile, for step 2, locally through the local profile)
    local = snakemake(local_dir, "--profile", "test-profiles/local", "--cores", str(cluster.cpus), *TARGETS)
    status, log = on_slurm(slurm_dir, cluster, *TARGETS)
    assert status == 0, f"snakemake on SLURM failed:\n{log[-6000:]}\n{cluster.logs('slurmctld')}"
    submitted = {int(j): rule for j, _, rule in SUBMITTED.findall(log)}
    assert submitted, f"no job went through sbatch:\n{log[-4000:]}"
    rules_run = {}
    for j, rule in submitted.items():
        info = cluster.job(j)
        assert info.get("JobState") == "COMPLETED", f"SLURM job {j} ({rule}): {info}"
        assert rule in info.get("Comment", ""), f"SLURM job {j} is not the job of rule {rule}: {info}"
        rules_run[rule] = info
    # GPU routing: gpu=1 rules on partition gpu, everything else on cpu
    for rule, info in rules_run.items():
        expected = "gpu" if rule in want_gpu else "cpu"
        assert info["Partition"] == expected, f"rule {rule} ran on partition {info['Partition']}, not {expected}"
    assert want_gpu & set(rules_run), f"no GPU rule among the jobs run: {sorted(rules_run)}"
    for group in ("train", "data"):
        record = json.loads((slurm_dir / f"results/{RUN}/run_info/software_{group}.json").read_text())
        assert int(record["job"]["SLURM_JOB_ID"]) in submitted
        if f"software_versions_{group}" in want_gpu:
            assert record["job"]["SLURM_JOB_PARTITION"] == "gpu" and record["job"].get("SLURM_GPUS_ON_NODE") == "1"
        else:
            assert record["job"]["SLURM_JOB_PARTITION"] == "cpu" and "SLURM_GPUS_ON_NODE" not in record["job"]
    slurm_logs = list((slurm_dir / "logs" / "slurm").rglob("*.log"))
    assert len(slurm_logs) >= len(submitted), f"{len(slurm_logs)} SLURM logs for {len(submitted)} jobs"

    # 2. the same targets run locally, through the local profile: the same outputs
    status, local_log = finish(local)
    assert status == 0, f"local run failed:\n{local_log[-6000:]}"
    assert "SLURM jobid" not in local_log
    via_slurm, here = comparable_outputs(slurm_dir), comparable_outputs(local_dir)
    assert via_slurm.keys() == here.keys()
    for name in via_slurm:
        assert_same(via_slurm[name], here[name])

    # 3. a corrupted input: the job fails on SLURM, is resubmitted once, and the run reports the failure
    corrupted = slurm_dir / CORRUPTED_INPUT
    corrupted.write_bytes(corrupted.read_bytes()[: corrupted.stat().st_size // 2])  # a truncated file
    status, flog = on_slurm(slurm_dir, cluster, "--retries", "1", *TARGETS)
    assert status != 0, f"the corrupted input went unnoticed:\n{flog[-4000:]}"
    attempts = [int(j) for j, _, rule in SUBMITTED.findall(flog) if rule == FAILING_RULE]
    assert len(attempts) == 2, f"expected a submission and one retry of {FAILING_RULE}, got {attempts}:\n{flog[-4000:]}"
    for j in attempts:
        info = cluster.job(j)
        assert FAILING_RULE in info.get("Comment", ""), info
        assert info["JobState"] == "FAILED", f"SLURM job {j}: {info.get('JobState')}"
    assert len(SUBMITTED.findall(flog)) == 2, "only the job with the corrupted input should have run again"
    assert re.search(rf"Error in rule {FAILING_RULE}", flog), flog[-4000:]
    for j in attempts:  # each attempt's SLURM log shows why it failed
        slurm_log = (slurm_dir / "logs" / "slurm" / f"rule_{FAILING_RULE}" / f"{j}.log").read_text()
        assert "Error" in slurm_log and "parquet" in slurm_log.lower(), slurm_log[-3000:]
