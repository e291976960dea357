"""The clinical tasks end to end on the tiny configuration: cohort, beats, a tiny prior, every task's shards
and gather step, through Snakemake; then one output regenerated alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workflow_inprocess import REPO, TINY, copy_workflow  # noqa: E402

pytestmark = pytest.mark.slow

RUN = yaml.safe_load((REPO / TINY).read_text())["run"]
TABLES = ["denoising", "table1_missing_leads", "table2_qt_rr", "anomaly_detection", "particles_emd"]
FIGURES = ["fig5_denoising", "fig6_missing_leads", "fig7_qt_rr", "fig8_qt_beats", "fig9_mahalanobis", "fig10_roc",
           "fig11_st_segments", "fig13_particles"]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "snakemake", "--configfile", TINY, "--cores", "2", *args],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=1200)


def test_tiny_run_writes_every_task_output_and_regenerates_one_alone(tmp_path):
    from ecgdiff import io as eio

    work = copy_workflow(tmp_path)
    targets = [f"results/{RUN}/tables/{t}.{e}" for t in TABLES for e in ("csv", "md")]
    targets += [f"results/{RUN}/figures/{f}.{e}" for f in FIGURES for e in ("png", "pdf")]
    run = snakemake(work, *targets)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    for t in targets:
        assert (work / t).stat().st_size > 0, t
    for t in TABLES:
        prov = eio.read_table_provenance(work / f"results/{RUN}/tables/{t}.csv")
        assert prov["run"] == RUN and prov["data_hash"] and prov["seed"] is not None and prov["prior_sha256"]
        assert len(eio.read_table(work / f"results/{RUN}/tables/{t}.csv")) > 0
    shards = sorted((work / f"results/{RUN}/tasks").glob("*/shard_*.npz"))
    assert len(shards) == 5 * 2
    # one output alone: remove a table, ask for it, only its gather job runs again
    table1 = work / f"results/{RUN}/tables/table1_missing_leads.csv"
    table1.unlink()
    again = snakemake(work, str(table1.relative_to(work)))
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert table1.exists()
    assert "task_shard" not in again.stdout + again.stderr
