"""The `inverse:` configuration section: every sampler option is declared in the schema, and every configured
sampler can be built from its section (default, paper and tiny configurations)."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from ecgdiff.inverse import NoiseEstimation, SamplerSpec, available
from ecgdiff.inverse.base import _REGISTRY

ROOT = Path(__file__).resolve().parents[2]


def _schema_inverse():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    return schema["properties"]["inverse"]["properties"]


def test_schema_declares_exactly_the_sampler_options():
    props = _schema_inverse()
    assert set(props) == set(available())
    for name, cls in _REGISTRY.items():
        fields = {f.name for f in dataclasses.fields(cls)}
        assert set(props[name]["properties"]) == fields, name
        assert props[name]["additionalProperties"] is False


@pytest.mark.parametrize("path", ["config/config.yaml", "config/paper.yaml", "tests/workflow/tiny.yaml"])
def test_configured_samplers_build(path):
    section = yaml.safe_load((ROOT / path).read_text()).get("inverse") or {}
    assert section, f"{path} has no inverse section"
    for name, opts in section.items():
        assert SamplerSpec(name, opts).build().name == name


def test_schema_declares_exactly_the_noise_estimation_settings():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    props = schema["properties"]["noise_estimation"]["properties"]
    assert set(props) == {f.name for f in dataclasses.fields(NoiseEstimation)} - {"smc"}


@pytest.mark.parametrize(
    "options,match",
    [
        ({"partcles": 8}, "no option 'partcles'"),
        ({"steps": "four"}, "'steps' must be an integer"),
        ({"particles": -1}, "particles must be > 0"),
        ({"steps": 2.5}, "'steps' must be an integer"),
        ({"eta": 0.0}, "eta in"),
    ],
)
def test_sampler_spec_refuses_bad_options_naming_them(options, match):
    with pytest.raises((TypeError, ValueError), match=match):
        SamplerSpec("mcgdiff", options)


def test_sampler_spec_refuses_an_unknown_sampler():
    with pytest.raises(KeyError, match="unknown sampler 'mgsp'"):
        SamplerSpec("mgsp", {})
