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


#: Subgroup fractions added after :data:`MODEL_VERSION` "2". At 0 they are left out of the hash and of
#: ``cohort.json``, so that a configuration without them names (and holds) exactly the cohort it did before.
OPTIONAL_FRACTIONS: tuple[str, ...] = ("af_fraction", "bbb_fraction")


@dataclass(frozen=True)
class SyntheticConfig:
    """Size, subgroups and seed of the cohort (config section ``data.synthetic``).

    Subgroups (exact counts, :func:`subgroup_counts`): ``mi`` (``abnormal_fraction``), ``af``
    (``af_fraction``) and bundle branch block (``bbb_fraction``, split evenly between ``rbbb`` and ``lbbb``;
    an odd count gives ``rbbb`` the extra patient); every other patient is ``healthy``.
    """

    n_patients: int = 240
    abnormal_fraction: float = 0.15
    af_fraction: float = 0.0
    bbb_fraction: float = 0.0
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
        for key in ("abnormal_fraction", *OPTIONAL_FRACTIONS):
            if not 0.0 <= getattr(out, key) <= 1.0:
                raise ValueError(f"data.synthetic.{key} must lie in [0, 1] (got {getattr(out, key)!r})")
        counts = subgroup_counts(out)
        if sum(counts.values()) > out.n_patients:
            raise ValueError(
                f"data.synthetic: the subgroups {counts} hold more than n_patients = {out.n_patients} patients; "
                "lower abnormal_fraction, af_fraction or bbb_fraction"
            )
        if out.fs < 130:
            raise ValueError("data.synthetic.fs must be >= 130 Hz (the 60 Hz interference must be representable)")
        if out.duration_s < 3:
            raise ValueError("data.synthetic.duration_s must be >= 3 s")
        return out


def subgroup_counts(cfg: SyntheticConfig) -> dict[str, int]:
    """Number of patients per non-healthy label, ``round(n_patients * fraction)`` each (``bbb`` split into
    ``rbbb`` = ceil(half) and ``lbbb`` = floor(half)), in the order :func:`ecgdiff.data.synthetic.cohort_labels`
    assigns them."""
    n_bbb = int(round(cfg.n_patients * cfg.bbb_fraction))
    return {
        "mi": int(round(cfg.n_patients * cfg.abnormal_fraction)),
        "af": int(round(cfg.n_patients * cfg.af_fraction)),
        "rbbb": n_bbb - n_bbb // 2,
        "lbbb": n_bbb // 2,
    }


def hashed_config(cfg: SyntheticConfig) -> dict[str, Any]:
    """The configuration as hashed and recorded: every field, less the :data:`OPTIONAL_FRACTIONS` that are 0."""
    return {k: v for k, v in asdict(cfg).items() if not (k in OPTIONAL_FRACTIONS and v == 0)}


def cohort_hash(cfg: Mapping[str, Any] | SyntheticConfig | None) -> str:
    """Short hash of the resolved configuration and :data:`MODEL_VERSION` (names the cohort folder).

    The SHA-256 of the canonical JSON (sorted keys, no spaces) of ``{"model_version", **hashed_config}``, as
    :func:`ecgdiff.io.sha256_json` computes it; the first 16 hex digits.
    """
    if not isinstance(cfg, SyntheticConfig):
        cfg = SyntheticConfig.from_config(cfg)
    blob = json.dumps({"model_version": MODEL_VERSION, **hashed_config(cfg)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
