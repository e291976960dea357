"""Fixtures of the beat-prior tests: a small parametric beat cohort written as a beat database."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgdiff.data import dataset
from ecgdiff.leads import PAPER_9


def synthetic_beats(
    n_patients: int,
    beats_per_patient: int = 4,
    seed: int = 0,
    length: int = 176,
    before: int = 48,
    fs: float = 250.0,
    mi_fraction: float = 0.0,
):
    """Sum-of-Gaussians beats (P, Q, R, S, T per lead) whose T wave depends on sex, age and RR.

    Returns ``beats [N, 9, T]`` normalised by their QRS maximum and a metadata table in the beat-database format.
    """
    rng = np.random.default_rng(seed)
    t_ms = (np.arange(length) - before) / fs * 1000.0
    base = rng.normal(size=(len(PAPER_9), 5)) * np.array([0.15, 0.2, 1.0, 0.4, 0.35]) + np.array(
        [0.1, -0.1, 0.8, -0.2, 0.3]
    )
    rows, beats = [], []
    for p in range(n_patients):
        age, sex = rng.uniform(20, 85), rng.choice(["M", "F"])
        rr0 = rng.normal(850, 120)
        mi = p < int(round(mi_fraction * n_patients))
        amp = base * (1 + 0.15 * rng.normal(size=base.shape))
        amp[:, 4] *= 1.0 - 0.006 * (age - 50) + (0.2 if sex == "M" else 0.0)
        if mi:
            amp[:, 4] *= -1.0
        for b in range(beats_per_patient):
            rr = rr0 + rng.normal(0, 20)
            t_peak = 280 + 0.12 * (rr - 850)
            centres = np.array([-160.0, -28.0, 0.0, 28.0, t_peak])
            widths = np.array([22.0, 8.0, 11.0, 9.0, 45.0])
            wave = np.exp(-0.5 * ((t_ms[None, None, :] - centres[None, :, None]) / widths[None, :, None]) ** 2)
            x = np.einsum("lw,lwt->lt", amp, wave) + 0.01 * rng.normal(size=(len(PAPER_9), length))
            qrs = np.abs(t_ms) <= 60
            x = x / np.abs(x[:, qrs]).max(axis=1, keepdims=True)
            beats.append(x)
            rows.append(
                {
                    "patient_id": f"p{p:04d}",
                    "record_id": f"r{p:04d}",
                    "source": "synthetic",
                    "age": age,
                    "sex": sex,
                    "rr_ms": rr,
                    "label": "mi" if mi else "healthy",
                    "r_index": 100 + b * 200,
                }
            )
    meta = pd.DataFrame(rows)
    meta.insert(0, "beat_id", np.arange(len(meta)))
    return np.stack(beats).astype(np.float32), meta


def make_database(folder, n_patients: int = 40, beats_per_patient: int = 4, seed: int = 0, mi_fraction: float = 0.1):
    """Write a beat database with a seeded patient split (train/cv/test 70/15/15 of healthy; MI apart)."""
    beats, meta = synthetic_beats(n_patients, beats_per_patient, seed, mi_fraction=mi_fraction)
    rng = np.random.default_rng(seed + 1)
    patients = meta.loc[meta["label"] == "healthy", "patient_id"].unique()
    patients = patients[rng.permutation(len(patients))]
    n_tr, n_cv = int(0.7 * len(patients)), int(0.15 * len(patients))
    split = {p: "train" for p in patients[:n_tr]}
    split.update({p: "cv" for p in patients[n_tr : n_tr + n_cv]})
    split.update({p: "test" for p in patients[n_tr + n_cv :]})
    meta["split"] = [split.get(p, "mi") for p in meta["patient_id"]]
    splits = meta[["patient_id", "split"]].drop_duplicates().reset_index(drop=True)
    rejects = pd.DataFrame(columns=list(dataset.REJECT_COLUMNS))
    manifest = {"leads": list(PAPER_9), "fs": 250, "before": 48, "after": 128, "source": "synthetic-test"}
    dataset.save(folder, beats, meta, rejects, splits, manifest)
    return dataset.load(folder)


@pytest.fixture(scope="session")
def beat_db(tmp_path_factory):
    return make_database(tmp_path_factory.mktemp("beats"))


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight other jobs for the cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
