"""The rhythm table's ``beat_prior`` baseline (the beat prior applied beat by beat and stitched) on real LUDB
rhythms at the rhythm rate, with the tiny prior of the session (``ludb_run``): the leads the observation
determines come back exactly, a withheld lead never reaches it, a missing age or a rhythm without beats is
logged, and the registry adds its inputs only when it is configured."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from record_fixtures import ludb_root

from ecgdiff import leads
from ecgdiff.data.beats import resample
from ecgdiff.data.readers import read_record
from ecgdiff.diffusion.prior import load_prior
from ecgdiff.tasks import registry
from ecgdiff.tasks.rhythm import mlr

FS, LENGTH, PADDED = 100.0, 1000, 1024
RECORDS = ("40", "154")  # LUDB sinus-rhythm records


class Inputs:
    def __init__(self, **objects):
        self.objects = objects

    def load(self, name):
        return self.objects[name]


def settings(**beat_prior) -> mlr.Settings:
    return mlr.Settings(
        n_patients=None,
        n_samples=2,
        sigma_y=0.05,
        settings=("lead_I", "limb"),
        precordial_leads=("V3",),
        samplers=(),
        baselines=("beat_prior",),
        beat_prior={"sampler": "mcgdiff", "options": {"steps": 3, "particles": 3}, "n_samples": 2, "sigma": 0.05}
        | beat_prior,
        batch_patients=None,
        example_setting="lead_I",
        sample_aggregate="median",
        n_boot=0,
        level=0.95,
    )


@pytest.fixture(scope="module")
def rhythms(physionet_mirror):
    """Two LUDB records as the rhythm database holds them: I, II, V1-V6 at 100 Hz in mV, 1000 samples padded to
    1024; the second without age."""
    x = np.zeros((len(RECORDS), len(leads.BASIS), PADDED))
    for i, name in enumerate(RECORDS):
        rec = read_record(ludb_root(physionet_mirror) / "data" / f"{name}.hea")
        basis = leads.derive(rec.signal, rec.leads, leads.BASIS)
        x[i, :, :LENGTH] = resample(basis, rec.fs, FS)[:, :LENGTH]
    meta = pd.DataFrame(
        {"rhythm_id": [f"ludb/{n}" for n in RECORDS], "patient_id": [f"ludb/{n}" for n in RECORDS]}
        | {"age": [61.0, np.nan], "sex": ["F", "M"]}
    )
    return x, meta


def baseline_input(x, meta, problem, inputs, s=None):
    obs = mlr.observation(leads.BASIS, problem, PADDED, LENGTH)
    x_obs = np.where(obs.mask, x, 0.0)
    return mlr.BaselineInput(x_obs, problem, leads.BASIS, LENGTH, FS, inputs, 5, meta, s or settings()), obs


@pytest.fixture(scope="module")
def inputs(ludb_run, ludb_db):
    return Inputs(beat_prior=load_prior(ludb_run / "models" / "prior_conditional.pt", device="cpu"), beat_data=ludb_db)


def test_observed_leads_exact_withheld_leads_reconstructed(rhythms, inputs, caplog):
    x, meta = rhythms
    s = settings()
    for problem in mlr.problems(leads.BASIS, s):
        b, obs = baseline_input(x, meta, problem, inputs, s)
        with caplog.at_level(logging.WARNING, logger="ecgdiff.tasks.rhythm.mlr"):
            rec, rec_leads = mlr.reconstruct_beat_prior(b)
        assert rec_leads == leads.STANDARD_12 and rec.shape == (2, 1, 12, PADDED)
        obs12 = mlr.observed_12(leads.BASIS, problem, LENGTH)
        true12 = leads.derive(x[..., :LENGTH], leads.BASIS, leads.STANDARD_12)
        np.testing.assert_allclose(rec[:, 0][:, obs12, :LENGTH], true12[:, obs12], atol=1e-9)
        withheld = rec[:, 0][:, ~obs12, :LENGTH]
        assert np.isfinite(withheld).all() and (rec[..., LENGTH:] == 0).all()
        # a beat reconstruction: millivolt amplitudes, and 0 mV only before the first and after the last beat
        assert 0.05 < np.abs(withheld).max() < 10.0
        covered = (withheld != 0).any(axis=(0, 1))
        assert covered[200:800].all()
    assert "rhythm ludb/154 has no age" in caplog.text and "ludb/40 has no age" not in caplog.text


def test_a_withheld_lead_never_reaches_it(rhythms, inputs):
    x, meta = rhythms
    problem = mlr.problems(leads.BASIS, settings())[1]  # limb leads observed: V1-V6 withheld
    b, obs = baseline_input(x, meta, problem, inputs)
    rec, _ = mlr.reconstruct_beat_prior(b)
    poisoned = b.observed.copy()
    poisoned[:, ~obs.mask] = np.nan  # the withheld leads and the padding
    rec2, _ = mlr.reconstruct_beat_prior(mlr.BaselineInput(**{**b.__dict__, "observed": poisoned}))
    np.testing.assert_array_equal(np.nan_to_num(rec2, nan=123.0)[..., :LENGTH], rec[..., :LENGTH])


def test_a_rhythm_without_beats_is_logged_and_zero(rhythms, inputs, caplog):
    x, meta = rhythms
    flat = x.copy()
    flat[1] = 0.0  # no R peak in the second rhythm
    problem = mlr.problems(leads.BASIS, settings())[0]
    b, _ = baseline_input(flat, meta, problem, inputs)
    with caplog.at_level(logging.WARNING, logger="ecgdiff.tasks.rhythm.mlr"):
        rec, _ = mlr.reconstruct_beat_prior(b)
    assert "rhythm ludb/154 gives no beat" in caplog.text
    assert (rec[1] == 0).all() and np.abs(rec[0, 0, 1:]).max() > 0.05


def test_settings_and_registry_inputs():
    with pytest.raises(ValueError, match="beat_prior: unknown keys \\['steps'\\]"):
        settings(steps=3)
    with pytest.raises(ValueError, match="beat_prior"):
        settings(sampler="mcgdif")
    with pytest.raises(ValueError, match="beat_prior"):
        settings(options={"particles": -1})
    spec = registry.get(mlr.TASK)
    assert spec.shard_inputs({"baselines": ["dower"]}) == ("classifier",)
    assert spec.shard_inputs({"baselines": ["ecgrecover", "beat_prior"]}) == (
        "classifier",
        "ecgrecover",
        "beat_prior",
        "beat_data",
    )
    assert {n: b.inputs for n, b in mlr.BASELINES.items()} == dict(spec.baseline_inputs)
