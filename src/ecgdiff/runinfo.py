"""What a run was made with: the resolved configuration and the software of each environment.

The report's "Run information" section comes from here. Each rule group's environment (data, train,
sample, plot: ``envs/*.yaml``) records itself with :func:`environment_record` from inside a job of that
group, so a record says where the group's jobs actually ran: the interpreter, package versions, the
torch build, the GPUs the job could see and, under SLURM, the job id and partition. :func:`write_run_info`
turns the records and the configuration into two tables.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from . import __version__
from .io import read_json, write_json
from .provenance import code_version, config_hash, make
from .tables import write_table

# Distributions recorded for every environment (PyPI names; requirements.txt pins them).
PACKAGES: tuple[str, ...] = (
    "torch",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "wfdb",
    "neurokit2",
    "POT",
    "tslearn",
    "matplotlib",
    "scikit-learn",
    "PyYAML",
    "jsonschema",
    "requests",
    "tqdm",
    "pyedflib",
)

# Scheduler and device variables that say where a job ran (absent ones are left out).
JOB_VARIABLES: tuple[str, ...] = (
    "SLURM_JOB_ID",
    "SLURM_JOB_PARTITION",
    "SLURM_JOB_NODELIST",
    "SLURM_CPUS_PER_TASK",
    "SLURM_GPUS_ON_NODE",
    "SLURM_JOB_GPUS",
    "CUDA_VISIBLE_DEVICES",
)


def package_version(name: str) -> str | None:
    """Installed version of distribution ``name`` (None when it is not installed)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment_record(group: str, packages: Sequence[str] = PACKAGES) -> dict[str, Any]:
    """Describe the running interpreter's environment: versions, torch build, visible GPUs, job variables."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "group": group,
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "ecgdiff": code_version(),
        "packages": {name: package_version(name) for name in packages},
        "torch_cuda": torch.version.cuda,
        "cuda_available": cuda,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "job": {k: os.environ[k] for k in JOB_VARIABLES if k in os.environ},
    }


def write_environment_record(path: str | os.PathLike[str], group: str) -> dict[str, Any]:
    """Write :func:`environment_record` for ``group`` as JSON to ``path`` and return it."""
    record = environment_record(group)
    write_json(path, record)
    return record


def flatten(config: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted.key, JSON value)`` for every leaf of a nested mapping, in key order.

    Lists are leaves (written as JSON); an empty mapping is a leaf ``{}``.
    """
    rows: list[tuple[str, str]] = []
    for key in config:
        value = config[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows += flatten(value, prefix=f"{name}.")
        else:
            rows.append((name, json.dumps(value, sort_keys=True, default=str)))
    return rows


def config_table(config: Mapping[str, Any]) -> pd.DataFrame:
    """The resolved configuration as a two-column table (key, value)."""
    return pd.DataFrame(flatten(config), columns=["key", "value"])


def software_table(records: Sequence[Mapping[str, Any]], snakemake_version: str | None = None) -> pd.DataFrame:
    """One row per item (interpreter, packages, torch build, GPUs, job), one column per environment."""
    if not records:
        raise ValueError("no environment records given")
    groups = [str(r["group"]) for r in records]
    if len(set(groups)) != len(groups):
        raise ValueError(f"environment groups repeated: {groups}")
    items: list[str] = ["python", "ecgdiff"]
    items += [f"package {name}" for name in records[0]["packages"]]
    items += ["torch CUDA build", "CUDA available", "GPUs", "host", "platform", "executable"]
    job_keys = sorted({k for r in records for k in r.get("job", {})})
    items += [f"job {k}" for k in job_keys]

    def cell(r: Mapping[str, Any], item: str) -> str:
        if item.startswith("package "):
            v = r["packages"].get(item[len("package ") :])
            return "not installed" if v is None else str(v)
        if item.startswith("job "):
            return str(r.get("job", {}).get(item[len("job ") :], ""))
        value = {
            "python": r["python"],
            "ecgdiff": r["ecgdiff"],
            "torch CUDA build": r["torch_cuda"] or "none (CPU build)",
            "CUDA available": "yes" if r["cuda_available"] else "no",
            "GPUs": ", ".join(r["gpus"]) or "none",
            "host": r["host"],
            "platform": r["platform"],
            "executable": r["executable"],
        }[item]
        return str(value)

    table = pd.DataFrame({"item": items, **{g: [cell(r, i) for i in items] for g, r in zip(groups, records)}})
    if snakemake_version is not None:
        table = pd.concat(
            [
                pd.DataFrame([{"item": "snakemake (the workflow engine)", **{g: snakemake_version for g in groups}}]),
                table,
            ],
            ignore_index=True,
        )
    return table


def write_run_info(
    config: Mapping[str, Any],
    record_paths: Sequence[str | os.PathLike[str]],
    config_csv: str,
    config_md: str,
    software_csv: str,
    software_md: str,
    snakemake_version: str | None = None,
) -> None:
    """Write the configuration table and the software table of a run (CSV + Markdown, with provenance)."""
    prov = make(config)
    cfg = config_table(config)
    write_table(
        cfg,
        config_csv,
        config_md,
        provenance=prov,
        caption=f"Resolved configuration of run {config.get('run')} (config hash {config_hash(config)}, "
        f"ecgdiff {__version__}).",
    )
    records = [read_json(p) for p in record_paths]
    write_table(
        software_table(records, snakemake_version),
        software_csv,
        software_md,
        provenance=prov,
        caption="Software of each rule group's environment, recorded from inside one of its jobs.",
    )
