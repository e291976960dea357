"""Seeded, patient-level splits: of the beat database into train / CV / test / MI / none, and of any
patients into train / CV / test (:func:`split_patients`, the rhythm database).

Rule (paper section 2.4, made reproducible):

- every patient labelled ``mi`` goes to ``mi``; every patient with a label other than ``healthy`` and
  ``mi`` goes to ``none`` (kept in the database, never used for training or evaluation);
- every healthy patient goes to ``train``, ``cv`` or ``test`` by a keyed hash of its identifier:
  ``u = SHA-256("<seed>:<patient_id>") / 2**256`` is uniform on [0, 1), and the patient goes to ``train``
  when ``u < f_train``, to ``cv`` when ``u < f_train + f_cv``, else to ``test`` (fractions normalised to
  sum to 1).

Why a hash and not a shuffled list: the set of a patient depends only on the seed and its own
identifier, so the split is deterministic, and adding or removing other patients (a new database
release, a record that now fails the quality check) never moves a patient between sets; no patient can
be in two sets. The price is that the set sizes follow the fractions in expectation (binomially), not
exactly. For small cohorts one exception keeps every set with a positive fraction non-empty: if such a
set received no patient, the healthy patient whose ``u`` lies nearest to that set's interval (taken from
a set holding more than one patient) is moved into it. This only happens when a set is empty, which
for the default sizes it is not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

HEALTHY_SETS: tuple[str, ...] = ("train", "cv", "test")


def patient_uniform(patient_ids: pd.Series | list[str], seed: int) -> np.ndarray:
    """The keyed hash ``u`` in [0, 1) of each patient identifier (see the module docstring)."""
    out = np.empty(len(patient_ids))
    for i, pid in enumerate(patient_ids):
        digest = hashlib.sha256(f"{int(seed)}:{pid}".encode()).digest()
        out[i] = int.from_bytes(digest[:8], "big") / 2.0**64
    return out


def _edges(fractions: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised fractions of :data:`HEALTHY_SETS` and the interval edges on [0, 1]."""
    missing = [s for s in HEALTHY_SETS if s not in fractions]
    if missing:
        raise ValueError(f"split fractions lack {missing}")
    f = np.array([float(fractions[s]) for s in HEALTHY_SETS])
    if np.any(f < 0) or f.sum() <= 0:
        raise ValueError(f"invalid split fractions {dict(fractions)}")
    f = f / f.sum()
    edges = np.concatenate([[0.0], np.cumsum(f)])
    edges[-1] = 1.0
    return f, edges


def _hash_sets(u: np.ndarray, f: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Set of each patient from its keyed hash ``u`` (the module docstring's rule, small-cohort fix included)."""
    k = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, len(HEALTHY_SETS) - 1)
    split = np.array(HEALTHY_SETS, dtype=object)[k]
    if len(u) >= int((f > 0).sum()):
        for j, name in enumerate(HEALTHY_SETS):
            if f[j] <= 0 or np.any(split == name):
                continue
            counts = {s: int(np.sum(split == s)) for s in HEALTHY_SETS}
            donors = np.flatnonzero(np.isin(split, [s for s, c in counts.items() if c > 1]))
            dist = np.maximum(edges[j] - u[donors], 0) + np.maximum(u[donors] - edges[j + 1], 0)
            split[donors[np.argmin(dist)]] = name
    return split


def assign_splits(patients: pd.DataFrame, fractions: Mapping[str, float], seed: int) -> pd.DataFrame:
    """Split manifest ``patient_id, split`` (sorted by patient) from a table ``patient_id, label``.

    Args:
        patients: one row per patient (duplicates are an error) with its ``label``.
        fractions: ``{"train": f, "cv": f, "test": f}`` (non-negative, normalised here).
        seed: the split seed.
    """
    if patients["patient_id"].duplicated().any():
        dup = patients.loc[patients["patient_id"].duplicated(), "patient_id"].iloc[0]
        raise ValueError(f"patient {dup!r} appears twice in the split input")
    f, edges = _edges(fractions)
    df = patients[["patient_id", "label"]].copy()
    df["patient_id"] = df["patient_id"].astype(str)
    df = df.sort_values("patient_id", kind="stable").reset_index(drop=True)
    u = patient_uniform(df["patient_id"].tolist(), seed)
    split = np.where(df["label"] == "mi", "mi", "none").astype(object)
    healthy = (df["label"] == "healthy").to_numpy()
    split[healthy] = _hash_sets(u[healthy], f, edges)
    df["split"] = split
    return df[["patient_id", "split"]]


def split_patients(
    patients: pd.DataFrame, fractions: Mapping[str, float], seed: int, stratify: bool = False
) -> pd.DataFrame:
    """Every patient of ``patients`` (columns ``patient_id`` and, with ``stratify``, ``stratum``) into
    ``train``, ``cv`` or ``test`` by the keyed-hash rule of the module docstring; returns ``patient_id,
    split`` sorted by patient.

    With ``stratify`` the rule is applied within each stratum (a label), so that every label is spread
    over the sets in the given fractions (in expectation) and, when a stratum has at least one patient per
    set, every set holds some of it. A patient's set depends only on the seed, its identifier and its
    stratum (and, in small strata, on the non-empty fix).
    """
    if patients["patient_id"].duplicated().any():
        dup = patients.loc[patients["patient_id"].duplicated(), "patient_id"].iloc[0]
        raise ValueError(f"patient {dup!r} appears twice in the split input")
    f, edges = _edges(fractions)
    df = pd.DataFrame({"patient_id": patients["patient_id"].astype(str)})
    df["stratum"] = patients["stratum"].astype(str).to_numpy() if stratify else ""
    df = df.sort_values("patient_id", kind="stable").reset_index(drop=True)
    u = patient_uniform(df["patient_id"].tolist(), seed)
    split = np.empty(len(df), dtype=object)
    for stratum in sorted(df["stratum"].unique()):
        mask = (df["stratum"] == stratum).to_numpy()
        split[mask] = _hash_sets(u[mask], f, edges)
    df["split"] = split
    return df[["patient_id", "split"]]
