# Shared definitions: the run's output folder, environment files and the target registry.
# Each rule file registers the final outputs it contributes with `register(group, paths)`;
# `rule all` asks for every registered output.

import os
import sys

# the package's standard-library-only modules (cohort hash, task registry) are imported by the rules
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

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


# ---- paths shared between rule files (one place for each) ----
def download_manifest(db):
    """Marker written once a PhysioNet database is downloaded and verified."""
    version = config["physionet"]["databases"][db]
    return f"{RES}/physionet/{db}/{version}/.ecgdiff-download.json"


def physionet_dir(db):
    version = config["physionet"]["databases"][db]
    return f"{RES}/physionet/{db}/{version}"


BEATS_DIR = out("data/beats")
BEATS_FILES = [f"{BEATS_DIR}/{name}" for name in ("beats.npy", "beats.parquet", "rejects.csv", "splits.csv", "manifest.json")]
BEATS_MANIFEST = f"{BEATS_DIR}/manifest.json"
PRIOR_CONDITIONAL = out("models/prior_conditional.pt")
PRIOR_UNCONDITIONAL = out("models/prior_unconditional.pt")


def rhythms_dir(wildcards, input):
    """The rhythm database's folder, from a job's inputs (its ``rhythms.npy``)."""
    for f in input:
        if os.path.basename(f) == "rhythms.npy":
            return os.path.dirname(f)
    raise ValueError("this job has no rhythms.npy among its inputs")


def rhythm_task_inputs(names):
    """The files of a rhythm task's extra inputs (``TaskSpec.inputs``: classifier, ECGrecover, DeScoD, ...)."""
    return {name: TASK_INPUT_FILES[name] for name in names}
