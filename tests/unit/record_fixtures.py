"""A small real beat database (LUDB beats with their scales) and a tiny prior trained on it, for the tests of the
command line, the file readers and the scale model; and writers of a WFDB record as CSV and EDF.

The database holds the beats of LUDB records 1-36 (one patient each), extracted by the project's pipeline, in a
fixed split (every sixth record cv, the next one test, the others train), whatever their diagnoses: the tests
need real scales and a prior of the right shape, not a healthy cohort. The prior trains for a few steps (seconds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import wfdb

from ecgdiff import leads
from ecgdiff.data import beatdb, dataset
from ecgdiff.data.beats import BeatParams
from ecgdiff.data.records import read_source
from ecgdiff.diffusion.networks.beat_unet import UNetConfig
from ecgdiff.diffusion.train import TrainConfig, Trainer, load_training_data, save_prior

LUDB = ("ludb", "1.0.1")
N_RECORDS = 36


def ludb_root(mirror: Path) -> Path:
    return mirror / LUDB[0] / LUDB[1]


def split_of(i: int) -> str:
    return "cv" if i % 6 == 0 else ("test" if i % 6 == 1 else "train")


def build_beat_db(mirror: Path, folder: Path, n_records: int = N_RECORDS) -> dataset.BeatDatabase:
    """The beat database of LUDB records ``1..n_records`` (see the module docstring) in ``folder/data/beats``, where
    the workflow keeps a run's (``results/<run>/data/beats``, next to ``results/<run>/models``)."""
    root = ludb_root(mirror)
    sub = folder / "ludb"
    (sub / "data").mkdir(parents=True)
    for i in range(1, n_records + 1):
        for f in (root / "data").glob(f"{i}.*"):
            (sub / "data" / f.name).symlink_to(f)
    (sub / "RECORDS").write_text("".join(f"data/{i}\n" for i in range(1, n_records + 1)))
    params = BeatParams()
    kept, rejects, _ = beatdb.extract_all(read_source("ludb", sub), leads.PAPER_9, params)
    patients = sorted({rec.patient_id for rec, _, _ in kept}, key=lambda p: int(p.split("/")[1]))
    splits = pd.DataFrame({"patient_id": patients, "split": [split_of(int(p.split("/")[1])) for p in patients]})
    beats, meta = beatdb.assemble(kept, splits, leads.PAPER_9, params.length)
    manifest = {
        "source": "ludb-test",
        "leads": list(leads.PAPER_9),
        "fs": params.fs,
        "before": params.before,
        "after": params.after,
        "qrs_window_samples": [params.qrs_window[0], params.qrs_window[1] + 1],
        "beat_params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.__dict__.items()},
    }
    rej = pd.DataFrame(rejects, columns=list(dataset.REJECT_COLUMNS))
    dataset.save(folder / "data" / "beats", beats, meta, rej, splits, manifest)
    return dataset.load(folder / "data" / "beats")


TINY = UNetConfig(channels=8, num_blocks=1, attn_levels=[], dropout=0.0)


def train_tiny_prior(db: dataset.BeatDatabase, path: Path, steps: int = 20) -> Path:
    """A conditional prior of the database's shape, ``steps`` optimiser steps (seconds on a CPU)."""
    cfg = TrainConfig(
        steps=steps, batch_size=32, lr=3e-3, ema=0.9, checkpoint_every=1000, cv_every=10, cv_sigmas=2, log_every=1000
    )
    tr = Trainer(load_training_data(db), TINY, cfg, path.parent / "work", device="cpu")
    tr.run()
    save_prior(path, tr, {"run": "test", "label": "UNIT TEST - tiny prior on LUDB beats"})
    return path


# ----------------------------------------------------------------------------- conversions
def wfdb_digital(record_path: Path) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, float, list[str]]:
    """(names, digital signal [n, C], gains, baselines, fs, comments) of a WFDB record."""
    rec = wfdb.rdrecord(str(record_path), physical=False)
    return (
        list(rec.sig_name),
        rec.d_signal.astype(np.int64),
        np.asarray(rec.adc_gain),
        np.asarray(rec.baseline),
        float(rec.fs),
        list(rec.comments or []),
    )


def write_csv(record_path: Path, out: Path, units: str = "mV") -> Path:
    """The record as a CSV file of millivolts (17 significant digits: reads back exactly), names as in the header."""
    names, d, gain, base, _, _ = wfdb_digital(record_path)
    mv = (d - base) / gain
    factor = {"mV": 1.0, "uV": 1000.0}[units]
    header = ",".join(f"{n} [{units}]" if units != "mV" else n for n in names)
    np.savetxt(out, mv * factor, delimiter=",", header=header, comments="", fmt="%.17g")
    return out


def write_edf(record_path: Path, out: Path, sex: str | None = None, age: int | None = None) -> Path:
    """The record as EDF+ with the same digital samples: per channel the physical range is an integer number of
    millivolts ``k`` and the digital range ``gain * k``, so physical = (digital - baseline) / gain exactly."""
    import datetime

    import pyedflib

    names, d, gain, base, fs, _ = wfdb_digital(record_path)
    w = pyedflib.EdfWriter(str(out), len(names), file_type=pyedflib.FILETYPE_EDFPLUS)
    headers, digital = [], []
    for k, name in enumerate(names):
        g = float(gain[k])
        if g != int(g):
            raise ValueError(f"gain {g} of {name} is not an integer: no exact EDF conversion")
        half = int(32767 // g)  # mV
        headers.append(
            {
                "label": name,
                "dimension": "mV",
                "sample_frequency": fs,
                "physical_max": float(half),
                "physical_min": float(-half),
                "digital_max": int(g) * half,
                "digital_min": -int(g) * half,
            }
        )
        digital.append((d[:, k] - base[k]).astype(np.int32))
    w.setSignalHeaders(headers)
    start = datetime.datetime(2020, 1, 1, 12, 0, 0)
    w.setStartdatetime(start)
    if sex is not None:
        w.setSex(1 if sex == "M" else 0)
    if age is not None:
        w.setBirthdate(datetime.date(start.year - age - 1, 6, 1))
    w.writeSamples(digital, digital=True)
    w.close()
    return out
