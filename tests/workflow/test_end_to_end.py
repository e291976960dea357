"""The whole workflow end to end on the tiny configuration, through Snakemake in a temporary working folder:
every output of `rule all` (cohort, beat database, table 3 and figure 12, detector validation, both priors and
their figures, every task's shards, tables and figures, run information); then one output regenerated alone."""

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
TABLES = [
    "denoising",
    "table1_missing_leads",
    "table2_qt_rr",
    "anomaly_detection",
    "particles_emd",
    "rhythm_mlr",
    "artefact_removal",
]
OTHER_TABLES = ["table3_dataset", "detector_validation", "fig2_emd_vs_steps", "fig3_uncertainty"]
FIGURES = [
    "fig5_denoising",
    "fig6_missing_leads",
    "fig7_qt_rr",
    "fig8_qt_beats",
    "fig9_mahalanobis",
    "fig10_roc",
    "fig11_st_segments",
    "fig13_particles",
    "fig_rhythm_generated",
    "fig_rhythm_mlr_bbb",
    "fig_rhythm_mlr_af",
    "fig_rhythm_mlr_rmse_per_lead",
    "fig_artefacts_bbb",
    "fig_artefacts_af",
    "fig_artefacts_vs_amplitude",
]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--configfile", TINY, "--cores", "2", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


def test_tiny_run_writes_every_output_and_regenerates_one_alone(tmp_path):
    from ecgdiff import tables

    work = copy_workflow(tmp_path)
    run = snakemake(work)  # the default target: rule all
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    targets = [f"results/{RUN}/tables/{t}.{e}" for t in TABLES for e in ("csv", "md", "html")]
    targets += [f"results/{RUN}/figures/{f}.{e}" for f in FIGURES for e in ("png", "pdf")]
    for t in targets:
        assert (work / t).stat().st_size > 0, t
    for done in (
        "figures/fig2_emd_vs_steps.png",
        "figures/fig3_uncertainty.png",
        "figures/fig14_generated_beats.png",
        "figures/fig12_age_histograms.png",
        "tables/table3_dataset.csv",
        "tables/detector_validation.csv",
        "tables/run_info.csv",
        "models/prior_conditional.pt",
        "models/prior_unconditional.pt",
        "models/rhythm_prior.pt",
        "models/classifier.pt",
        "models/ecgrecover.pt",
        "models/descod_bw.pt",
        "models/descod_em.pt",
    ):
        assert (work / f"results/{RUN}" / done).stat().st_size > 0, done
    # nothing half-written is left behind: no temporary files of ecgdiff.io.atomic_path
    assert not [p for p in (work / "results").rglob(".*") if p.is_file()]
    for t in TABLES + OTHER_TABLES:
        prov = tables.read_table_provenance(work / f"results/{RUN}/tables/{t}.csv")
        assert prov["run"] == RUN and prov["label"] and prov["config_hash"] and prov["seed"] is not None, t
        assert prov["data_hash"] or t == "detector_validation", t
        assert prov.get("prior_sha256") or t not in TABLES, t
        assert len(tables.read_table(work / f"results/{RUN}/tables/{t}.csv")) > 0
    shards = sorted((work / f"results/{RUN}/tasks").glob("*/shard_*.npz"))
    assert len(shards) == 7 * 2  # five beat tasks and two rhythm tasks, two shards each
    # one output alone: remove a table, ask for it, only its gather job runs again
    table1 = work / f"results/{RUN}/tables/table1_missing_leads.csv"
    table1.unlink()
    again = snakemake(work, str(table1.relative_to(work)))
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert table1.exists()
    assert "task_shard" not in again.stdout + again.stderr
    # a changed beat-extraction setting makes the beat database (and what depends on it) out of date
    (work / "changed.yaml").write_text("data: {beats: {min_slope_ratio: 0.25}}\n")
    changed = snakemake(work, "-n", "--configfile", TINY, "changed.yaml")
    assert changed.returncode == 0, (changed.stdout + changed.stderr)[-4000:]
    assert "rule beat_database" in changed.stdout and "rule detector_validation" in changed.stdout
    unchanged = snakemake(work, "-n")
    assert "Nothing to be done" in unchanged.stdout + unchanged.stderr
    # a changed task section reruns that task's jobs and no other; a changed sampler, the tasks that run it
    for edit, expected in (
        ("tasks: {qt_rr: {n_samples: 3}}", {"qt_rr"}),
        ("inverse: {mgps: {lr: 0.02}}", {"missing_leads"}),
        ("noise_estimation: {iterations: 2}", {"denoising", "missing_leads", "qt_rr", "anomaly"}),
        ("rhythm_tasks: {rhythm_mlr: {n_samples: 2}}", {"rhythm_mlr"}),
        ("rhythm_inverse: {mgps: {lr: 0.02}}", {"rhythm_mlr", "rhythm_artefacts"}),
    ):
        (work / "edit.yaml").write_text(edit + "\n")
        dry = snakemake(work, "-n", "--configfile", TINY, "edit.yaml")
        assert dry.returncode == 0, (dry.stdout + dry.stderr)[-4000:]
        assert rerun_tasks(dry.stdout) == expected, (edit, dry.stdout[-3000:])


def rerun_tasks(dry_run_output: str) -> set[str]:
    """The tasks whose jobs a dry run lists (shards by their wildcard, gathers by their rule); fails on any other job
    but the run's configuration record."""
    tasks, rules = set(), set()
    for line in dry_run_output.splitlines():
        line = line.strip()
        if line.startswith("rule "):
            rules.add(line[len("rule ") :].rstrip(":"))
        elif line.startswith("wildcards:") and "task=" in line:
            tasks.add(line.split("task=")[1].split(",")[0].strip())
    for rule in rules - {
        "task_shard",
        "rhythm_task_shard",
        "run_info",
    }:  # run_info records the whole resolved configuration
        assert rule.endswith("_gather"), f"a dry run after a task edit lists rule {rule}"
        tasks.add(rule[: -len("_gather")])
    return tasks
