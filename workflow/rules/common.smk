# Shared definitions: the run's output folder, environment files and the target registry.
# Each rule file registers the final outputs it contributes with `register(group, paths)`;
# `rule all` asks for every registered output.

import os

RUN = config["run"]
OUT = f"results/{RUN}"
LOGS = f"logs/{RUN}"
RES = config["resources_dir"]

ENV_DATA = "../../envs/data.yaml"
ENV_TRAIN = "../../envs/train.yaml"
ENV_SAMPLE = "../../envs/sample.yaml"
ENV_PLOT = "../../envs/plot.yaml"

_TARGETS: dict[str, list[str]] = {}


def out(path):
    """Path of a run output: results/<run>/<path>."""
    return f"{OUT}/{path}"


def log(path):
    """Path of a run log: logs/<run>/<path>."""
    return f"{LOGS}/{path}"


def register(group, paths):
    """Add final outputs to `rule all` (group names the rule file, for the report)."""
    _TARGETS.setdefault(group, []).extend(paths)


def all_targets():
    return [p for paths in _TARGETS.values() for p in paths]
