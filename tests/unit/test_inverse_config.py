"""The `inverse:` configuration section: every sampler option is declared in the schema, and every configured
sampler can be built from its section (default, paper and tiny configurations)."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from ecgdiff.inverse import available, get_sampler
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
        assert get_sampler(name, **opts).name == name
