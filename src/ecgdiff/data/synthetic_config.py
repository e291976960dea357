"""Configuration of the synthetic cohort and the hash that names its folder.

Kept free of third-party imports (standard library only) so that the workflow can name the cohort's
folder (``<resources_dir>/synthetic/<cohort_hash>``) while parsing the Snakefile, whatever environment
Snakemake itself runs in. The simulator is :mod:`ecgdiff.data.synthetic`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: Bump when the simulator's output changes for the same configuration (it is part of the cohort hash).
MODEL_VERSION = "2"


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and seed of the cohort (config section ``data.synthetic``)."""

    n_patients: int = 240
    abnormal_fraction: float = 0.15
    duration_s: float = 10.0
    fs: float = 500.0
    seed: int = 0

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> SyntheticConfig:
        cfg = dict(cfg or {})
        known = set(cls.__dataclass_fields__)
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f"unknown data.synthetic keys {sorted(unknown)}; known: {sorted(known)}")
        out = cls(**{k: type(getattr(cls, k))(v) for k, v in cfg.items()})
        if out.n_patients < 1:
            raise ValueError("data.synthetic.n_patients must be >= 1")
        if not 0.0 <= out.abnormal_fraction <= 1.0:
            raise ValueError("data.synthetic.abnormal_fraction must lie in [0, 1]")
        if out.fs < 130:
            raise ValueError("data.synthetic.fs must be >= 130 Hz (the 60 Hz interference must be representable)")
        if out.duration_s < 3:
            raise ValueError("data.synthetic.duration_s must be >= 3 s")
        return out


def cohort_hash(cfg: Mapping[str, Any] | SyntheticConfig | None) -> str:
    """Short hash of the resolved configuration and :data:`MODEL_VERSION` (names the cohort folder).

    The SHA-256 of the canonical JSON (sorted keys, no spaces) of ``{"model_version", **config}``, as
    :func:`ecgdiff.io.sha256_json` computes it; the first 16 hex digits.
    """
    if not isinstance(cfg, SyntheticConfig):
        cfg = SyntheticConfig.from_config(cfg)
    blob = json.dumps({"model_version": MODEL_VERSION, **asdict(cfg)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
