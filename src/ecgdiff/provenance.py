"""Provenance carried by every output: which run, configuration, data, code and seed produced it.

A provenance record is a plain dictionary (JSON-serialisable) made by :func:`make`. Tables store
it in their header (:func:`ecgdiff.tables.write_table`), figures in their metadata and as a visible
footer (:func:`ecgdiff.plots.save_figure`), models and data manifests in their own JSON.
"""

from __future__ import annotations

import datetime as _dt
import functools
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import __version__
from .io import sha256_json


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``git describe --always --dirty`` of the source tree when it is a git checkout, else the package version."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if out.returncode == 0 and out.stdout.strip():
            return f"{__version__}+git.{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return __version__


def config_hash(config: Mapping[str, Any]) -> str:
    """Short hash identifying a resolved configuration."""
    return sha256_json(dict(config))[:16]


def make(
    config: Mapping[str, Any], data_hash: str | None = None, seed: int | None = None, **extra: Any
) -> dict[str, Any]:
    """Provenance of an output produced under ``config`` from data with manifest hash ``data_hash``."""
    import numpy
    import torch

    prov: dict[str, Any] = {
        "run": config.get("run"),
        "label": config.get("label"),
        "config_hash": config_hash(config),
        "data_hash": data_hash,
        "seed": seed if seed is not None else config.get("seed"),
        "code_version": code_version(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": torch.__version__,
    }
    prov.update(extra)
    return prov


def footer(prov: Mapping[str, Any]) -> str:
    """One human-readable line: the run's label, then hashes and seed (used under tables and figures)."""
    parts = [str(prov.get("label") or f"run {prov.get('run')}")]
    parts.append(f"run={prov.get('run')}")
    if prov.get("data_hash"):
        parts.append(f"data={str(prov['data_hash'])[:12]}")
    parts.append(f"config={str(prov.get('config_hash'))[:12]}")
    parts.append(f"seed={prov.get('seed')}")
    parts.append(f"code={prov.get('code_version')}")
    return " | ".join(parts)
