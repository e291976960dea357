"""Checks of the workflow's YAML configuration files that Snakemake does not make (standard library and PyYAML).

- A YAML syntax error: Snakemake reports "Config file is not valid JSON or YAML" without the file or the
  line (only ``--verbose`` shows PyYAML's message). :func:`check_yaml_files` names both.
- A key given twice in one mapping (two ``tasks:`` sections, a key repeated in a flow mapping): YAML loaders,
  Snakemake's included, keep the last value silently. :func:`check_yaml_files` refuses it, naming the file, the
  key and both lines.
- A file whose top level is not a mapping of keys.

The Snakefile runs these checks on the workflow's own config file before Snakemake reads it, and on the files
given with ``--configfile`` (which Snakemake has read already: a syntax error in those stops Snakemake before
the Snakefile runs, so for them only the duplicate-key and top-level checks apply).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import yaml


class ConfigFileError(ValueError):
    """A configuration file that cannot be used as it is: the message names the file, line and problem."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key repeated in one mapping."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            continue  # the base constructor reports an unhashable key
        if key in seen:
            raise yaml.constructor.ConstructorError(
                f"while reading the mapping starting at line {node.start_mark.line + 1}",
                node.start_mark,
                f"the key {key!r} is given twice (first at line {seen[key] + 1}); YAML would keep only the last value",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    loader.flatten_mapping(node)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _describe(path: str | os.PathLike[str], err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    return f"{path}{where}: {problem}" + (f" ({context})" if context else "")


def check_yaml_file(path: str | os.PathLike[str]) -> dict:
    """Parse one YAML config file; return its mapping or raise :class:`ConfigFileError` naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigFileError(f"{path}: not a UTF-8 text file ({err})") from err
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise ConfigFileError(f"invalid YAML in config file {_describe(path, err)}") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(
            f"{path}: a config file must hold a mapping of keys at its top level, got a {type(data).__name__}"
        )
    return data


def check_yaml_files(paths: Iterable[str | os.PathLike[str]]) -> None:
    """:func:`check_yaml_file` on every path that exists (JSON files are YAML too)."""
    for p in paths:
        if Path(p).is_file():
            check_yaml_file(p)


__all__ = ["ConfigFileError", "check_yaml_file", "check_yaml_files"]
