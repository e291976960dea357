"""Each configuration section and the settings dataclass that reads it declare the same keys, so that the schema
(which rejects unknown keys) and the code can never drift apart; and every configuration's sections build."""

from __future__ import annotations

import copy
import dataclasses
import importlib
from pathlib import Path

import pytest
import yaml

from ecgdiff.baselines.descod import DeScoDConfig
from ecgdiff.baselines.ecgrecover import ECGrecoverConfig
from ecgdiff.classify.train import ClassifierConfig
from ecgdiff.classify.xresnet1d import XResNetConfig
from ecgdiff.data.labels import RhythmLabelRules
from ecgdiff.data.noise import NoisySetSettings, TrainingNoiseSettings, settings_at_rate
from ecgdiff.data.rhythmdb import RhythmSettings, SplitSettings
from ecgdiff.data.rhythms import RhythmParams
from ecgdiff.diffusion.networks.rhythm_unet import RhythmUNetConfig
from ecgdiff.diffusion.rhythm_figures import GeneratedRhythmsSettings
from ecgdiff.diffusion.train import TrainConfig
from ecgdiff.tasks.context import TaskContext
from ecgdiff.tasks.registry import TASKS, task_params

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())["properties"]
DEFAULT = yaml.safe_load((ROOT / "config/config.yaml").read_text())
CONFIGS = ["config/config.yaml", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "config").glob("*.yaml"))]


def fields(cls, drop=()):
    return {f.name for f in dataclasses.fields(cls)} - set(drop)


def props(*path):
    node = {"properties": SCHEMA}
    for key in path:
        node = node["properties"][key]
    return set(node["properties"])


@pytest.mark.parametrize(
    "path,cls,drop",
    [
        (("rhythm", "split"), SplitSettings, ()),
        (("rhythm", "labels"), RhythmLabelRules, ()),
        (("rhythm_prior", "model"), RhythmUNetConfig, ("leads", "length", "cond_dim")),
        (("rhythm_prior", "generated"), GeneratedRhythmsSettings, ()),
        (("classifier", "model"), XResNetConfig, ("in_channels", "n_classes")),
        (("classifier", "train"), ClassifierConfig, ()),
        (("ecgrecover", "settings"), ECGrecoverConfig, ()),
        (("prior", "train"), TrainConfig, ()),
        (("artefacts", "descod", "settings"), DeScoDConfig, ()),
        (("artefacts", "noise", "test"), NoisySetSettings, ("fs",)),
        (("artefacts", "noise", "train"), TrainingNoiseSettings, ("fs",)),
    ],
)
def test_schema_section_declares_the_dataclass_fields(path, cls, drop):
    assert props(*path) == fields(cls, drop), path


def test_rhythm_section_is_the_window_parameters_and_the_database_settings():
    assert props("rhythm") == fields(RhythmParams) | {"split", "labels", "require_labels", "sources"}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_task_sections_declare_exactly_the_task_settings(task):
    spec = TASKS[task]
    module = importlib.import_module(spec.module)
    section = SCHEMA[spec.section]["properties"][task]
    assert set(section["properties"]) == fields(module.Settings), task
    assert set(section["required"]) == fields(module.Settings), task


def merged(path):
    config = copy.deepcopy(DEFAULT)

    def merge(a, b):
        for k, v in b.items():
            if isinstance(v, dict) and isinstance(a.get(k), dict):
                merge(a[k], v)
            else:
                a[k] = v

    if path != "config/config.yaml":
        merge(config, yaml.safe_load((ROOT / path).read_text()))
    return config


@pytest.mark.parametrize("path", CONFIGS)
def test_every_configuration_builds_its_settings(path):
    config = merged(path)
    RhythmSettings.from_config(config["rhythm"])
    RhythmUNetConfig(**config["rhythm_prior"]["model"])
    TrainConfig(**{**config["rhythm_prior"]["train"], "seed": 0})
    GeneratedRhythmsSettings(**config["rhythm_prior"]["generated"])
    XResNetConfig(**config["classifier"]["model"])
    ClassifierConfig(**{**config["classifier"]["train"], "seed": 0})
    ECGrecoverConfig(**{**config["ecgrecover"]["settings"], "seed": 0})
    DeScoDConfig.from_dict({**config["artefacts"]["descod"]["settings"], "seed": 0})
    settings_at_rate(config["artefacts"]["noise"]["test"], config["rhythm"]["fs"])
    settings_at_rate(config["artefacts"]["noise"]["train"], config["rhythm"]["fs"], TrainingNoiseSettings)
    for task, spec in TASKS.items():
        if task in config[spec.section]["run"]:
            TaskContext.from_params(task, task_params(task, config))
