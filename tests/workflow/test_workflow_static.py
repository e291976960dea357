"""Workflow-wide checks that need no job to run: lint, DAGs of every configuration, each rule's
directives and resources, each registered target alone, and the profiles' routing of jobs to partitions.

The workflow is loaded in-process through `snakemake.api` (tests/workflow_inprocess.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workflow_inprocess import CONFIGS, REPO, TINY, _api, dry_run, parsed_workflow, resource, rule_source  # noqa: E402

ALL_CONFIGS = [*CONFIGS, TINY]
GPU_ENVS = {"train", "sample"}  # environments with the CUDA build of torch (envs/*.yaml)
TARGET_ONLY = {"all"}  # rules that only collect targets


def rules(configfiles=()):
    with parsed_workflow(configfiles) as workflow:
        return [(workflow, r) for r in workflow.rules if r.name not in TARGET_ONLY]


# ---------------------------------------------------------------- lint and DAGs
def test_lint_is_clean():
    with _api((), None, REPO) as wf_api, contextlib.redirect_stdout(io.StringIO()) as out:
        found = wf_api.lint(json=True)
    assert not found, "snakemake --lint:\n" + out.getvalue()[:6000]


@pytest.mark.parametrize("configfile", ALL_CONFIGS)
def test_dag_builds_for_every_config(configfile):
    dry_run([configfile] if configfile != "config/config.yaml" else [])


def test_beat_database_reads_the_download_of_every_source():
    """config/real.yaml's beat database (data.sources: LUDB and the CinC-2021 records) waits for both
    downloads, and its params carry every source's settings, so that editing one reruns it."""
    with parsed_workflow(["config/real.yaml"]) as workflow:
        rule = workflow.get_rule("beat_database")
        inputs = sorted(str(f) for f in rule.input)
        params = dict(rule.params.items())
    assert inputs == [
        "resources/physionet/challenge-2021/1.0.3/.ecgdiff-download.json",
        "resources/physionet/ludb/1.0.1/.ecgdiff-download.json",
    ]
    assert [e["source"] for e in params["sources"]] == ["ludb", "cinc2021"]
    assert set(params["source_settings"]) == {"ludb", "cinc2021"}


def registered_targets(configfiles=()):
    with parsed_workflow(configfiles) as workflow:
        return sorted(str(f) for f in workflow.get_rule("all").input)


@pytest.mark.slow
def test_every_registered_target_can_be_requested_alone(tmp_path):
    targets = registered_targets()
    assert targets, "rule all asks for nothing"
    failures = {}
    for target in targets:
        try:
            dry_run(targets=[target], workdir=REPO)
        except BaseException as e:  # noqa: BLE001 - report every target that fails, not only the first
            failures[target] = repr(e)[:300]
    assert not failures, json.dumps(failures, indent=1)


def test_registered_targets_follow_the_layout():
    """Tables are CSV + Markdown pairs in tables/, figures PNG + PDF pairs in figures/ (house layout)."""
    targets = set(registered_targets())
    for t in targets:
        path = Path(t)
        assert path.parts[0] == "results", t
        if path.parent.name == "tables" and path.suffix in (".csv", ".md"):
            assert {str(path.with_suffix(".csv")), str(path.with_suffix(".md"))} <= targets, f"{t} without its pair"
        if path.parent.name == "figures" and path.suffix in (".png", ".pdf"):
            assert {str(path.with_suffix(".png")), str(path.with_suffix(".pdf"))} <= targets, f"{t} without its pair"


# ---------------------------------------------------------------- each rule's directives
def rule_ids(pairs):
    return [r.name for _, r in pairs]


RULES = rules()


@pytest.mark.parametrize("workflow, rule", RULES, ids=rule_ids(RULES))
def test_rule_directives(workflow, rule):
    """conda:, log:, threads:, resources mem_mb and runtime (minutes), and script:/shell:."""
    missing = []
    if not rule.conda_env:
        missing.append("conda:")
    if not rule.log:
        missing.append("log:")
    if not rule_source(workflow, rule).count("threads:"):
        missing.append("threads:")
    for name in ("mem_mb", "runtime"):
        if resource(rule, name) is None:
            missing.append(f"resources: {name}")
    if not (rule.is_script or rule.is_shell):
        missing.append("script: or shell:")
    assert not missing, f"rule {rule.name} ({Path(rule.snakefile).name}) lacks {', '.join(missing)}"


@pytest.mark.parametrize("workflow, rule", RULES, ids=rule_ids(RULES))
def test_gpu_rules_use_a_cuda_environment(workflow, rule):
    gpu = resource(rule, "gpu")
    if not gpu:
        return
    assert gpu == 1 or callable(gpu), f"rule {rule.name}: gpu={gpu!r}; rules ask for one GPU"
    env = Path(rule.conda_env).stem if isinstance(rule.conda_env, str) else None
    assert env in GPU_ENVS, f"rule {rule.name} asks for a GPU but runs in envs/{env}.yaml (CPU build of torch)"


# ---------------------------------------------------------------- profiles: options and routing
PROFILES = ["profiles/slurm", "profiles/local"]


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_options_are_snakemake_options(profile, monkeypatch):
    from snakemake.cli import parse_args

    monkeypatch.chdir(REPO)
    with contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            _, args = parse_args(["--profile", profile, "--dry-run"])
        except SystemExit:
            pytest.fail(f"{profile}: snakemake rejects the profile:\n{err.getvalue()}")
    assert {m.name for m in args.software_deployment_method} == {"CONDA"}


def test_slurm_profile_holds_no_rule_resources():
    """Rules declare their resources; the profile only names the cluster's partitions (and an account)."""
    settings = yaml.safe_load((REPO / "profiles/slurm/config.v8+.yaml").read_text())
    assert settings["executor"] == "slurm"
    assert settings["slurm-status-command"] == "squeue"
    assert "slurm_account" not in str(settings.get("default-resources") or {})
    for name in ("mem_mb", "runtime", "threads", "gpu"):
        assert name not in (settings.get("default-resources") or {}), f"default-resources sets {name}"
    assert "set-threads" not in settings and "set-resources" not in settings


def dag_jobs(configfiles):
    """(rule name, threads, evaluated resources) of every job in the DAG of the default target."""
    from snakemake.settings.types import DAGSettings

    with _api(configfiles, None, REPO) as wf_api:
        wf_api.dag(DAGSettings()).execute_workflow(executor="dryrun")
        dag = wf_api._workflow.dag
        return [(j.rule.name, j.threads, dict(j.resources.items())) for j in dag.jobs if j.rule.name not in TARGET_ONLY]


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/paper.yaml"])
def test_partition_config_routes_gpu_jobs_to_gpu_partitions(configfile):
    """With profiles/slurm/partitions.yaml, the executor plugin sends every job to a partition that can
    take it: jobs declaring gpu=1 to a partition with GPUs, all other jobs to one without."""
    from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file

    partitions = read_partition_file(REPO / "profiles/slurm/partitions.yaml")
    has_gpus = {p.name: p.limits.max_gpu > 0 for p in partitions}
    assert any(has_gpus.values()) and not all(has_gpus.values())
    logger = SimpleNamespace(info=lambda *a: None, debug=lambda *a: None, warning=lambda *a: None)
    jobs = dag_jobs([configfile] if configfile != "config/config.yaml" else [])
    assert any(r.get("gpu") for _, _, r in jobs), "no job asks for a GPU"
    for name, threads, res in jobs:
        job = SimpleNamespace(name=name, threads=threads, resources=SimpleNamespace(**res, get=res.get))
        chosen = get_best_partition(partitions, job, logger)
        assert chosen is not None, f"{configfile}: no partition fits rule {name} ({threads} threads, {res})"
        assert has_gpus[chosen] == bool(res.get("gpu")), f"{configfile}: rule {name} routed to {chosen}"
