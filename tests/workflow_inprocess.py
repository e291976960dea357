"""The workflow seen from tests: loaded in-process through `snakemake.api` (well under a second, no
subprocess), or copied to a temporary working folder to be run there.

`parsed_workflow(configfiles)` yields Snakemake's parsed `Workflow` (its rules, resources, directives);
`dry_run(configfiles, targets)` builds the DAG for `targets` (the default target when None) and
raises when it cannot be built; `copy_workflow(dest)` copies the workflow's files to `dest`.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
CONFIGS = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "config").glob("*.yaml"))
TINY = "tests/workflow/tiny.yaml"
COPIED = ["Snakefile", "workflow", "scripts", "src", "config", "envs", "profiles", "pyproject.toml", TINY]
CONDA_KEYS = ("software-deployment-method", "conda-frontend")  # conda cannot run on the test machines


def copy_workflow(dest: Path) -> Path:
    """The workflow's files in `dest`, with conda-free copies of the two profiles in `dest/test-profiles`."""
    for name in COPIED:
        src = REPO / name
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target)
    for profile in ("slurm", "local"):
        src = REPO / "profiles" / profile
        target = dest / "test-profiles" / profile
        shutil.copytree(src, target)
        settings = yaml.safe_load((src / "config.v8+.yaml").read_text())
        assert settings.get("software-deployment-method") == "conda", f"profiles/{profile} should deploy with conda"
        for key in CONDA_KEYS:
            settings.pop(key, None)
        (target / "config.v8+.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return dest


@contextlib.contextmanager
def _api(configfiles: Sequence[str], config: dict[str, Any] | None, workdir: Path) -> Iterator[Any]:
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, Quietness, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        yield api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[REPO / c for c in configfiles], config=config or {}),
            snakefile=SNAKEFILE,
            workdir=workdir,
        )


@contextlib.contextmanager
def parsed_workflow(
    configfiles: Sequence[str] = (), config: dict[str, Any] | None = None, workdir: Path = REPO
) -> Iterator[Any]:
    """The parsed `snakemake.workflow.Workflow` under the given config files (relative to the repository)."""
    with _api(configfiles, config, workdir) as wf_api:
        yield wf_api._workflow


def dry_run(
    configfiles: Sequence[str] = (),
    targets: Iterable[str] | None = None,
    config: dict[str, Any] | None = None,
    workdir: Path = REPO,
) -> None:
    """Build the DAG for `targets` as `snakemake -n` would; raises when it cannot be built."""
    from snakemake.settings.types import DAGSettings

    with _api(configfiles, config, workdir) as wf_api:
        dag = wf_api.dag(DAGSettings(targets=set(targets or ())))
        dag.execute_workflow(executor="dryrun")


def resource(rule: Any, name: str) -> Any:
    """The value a rule declares for resource `name` (None when it declares none; a callable stays callable)."""
    res = rule.resources.get(name)
    return getattr(res, "value", res)


def rule_source(workflow: Any, rule: Any) -> str:
    """The text of a rule's block in its .smk file (from its `rule` line to the next block at its indent)."""
    lines = Path(rule.snakefile).read_text().splitlines()
    start = workflow.linemaps[rule.snakefile][rule.lineno] - 1  # rule.lineno counts lines of the compiled code
    indent = len(lines[start]) - len(lines[start].lstrip())
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent and not line.lstrip().startswith("#"):
            break
        block.append(line)
    return "\n".join(block)


def resources_table(configfiles: Sequence[str] = ()) -> str:
    """Markdown table of every rule's environment, threads, mem_mb, runtime and gpu under `configfiles`."""
    lines = ["| rule | env | threads | mem_mb | runtime (min) | gpu |", "| --- | --- | --- | --- | --- | --- |"]
    with parsed_workflow(configfiles) as workflow:
        for rule in sorted(workflow.rules, key=lambda r: (str(rule_env(r)), r.name)):
            if rule.name == "all":
                continue
            cells = [
                resource(rule, "_cores"),
                resource(rule, "mem_mb"),
                resource(rule, "runtime"),
                resource(rule, "gpu"),
            ]
            cells = ["(function)" if callable(c) else ("" if c is None else str(c)) for c in cells]
            lines.append(f"| {rule.name} | {rule_env(rule)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rule_env(rule: Any) -> str | None:
    """The environment group (envs/<group>.yaml) a rule runs in."""
    return Path(rule.conda_env).stem if isinstance(rule.conda_env, str) else None


if __name__ == "__main__":
    import sys

    print(resources_table(sys.argv[1:]))
