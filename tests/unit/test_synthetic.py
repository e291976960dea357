"""The simulated cohort: its ECGSYN solution, determinism, labels, metadata, disk format and physiology."""

import numpy as np
import pandas as pd
import pytest

from ecgdiff import leads as L
from ecgdiff.data import synthetic as S
from ecgdiff.data.records import Record, RecordError


# ----------------------------------------------------------------------------- the model is neurokit2's
@pytest.mark.slow
def test_closed_form_solves_neurokit2_ecgsyn_equation():
    """With neurokit2's multi-lead parameters, our exact solution equals a tight numerical solution of
    neurokit2's own ECGSYN derivative function."""
    from neurokit2.ecg.ecg_simulate import _ecg_simulate_derivsecgsyn as derivs
    from scipy.integrate import solve_ivp

    fs, duration, hr = 250, 2, 60
    ours = S.neurokit_multileads(duration, fs, hr)
    ti = np.deg2rad([-70, -15, 0, 15, 100])
    ai = np.array([1.2, -5, 30, -7.5, 0.75])
    bi = np.array([0.25, 0.1, 0.1, 0.1, 0.4])
    t = np.arange(duration * fs) / fs
    rr = np.ones(20 * fs) * 60.0 / hr
    for lead in (0, 9):
        sol = solve_ivp(
            lambda tt, x, lead=lead: derivs(tt, x, rr, ti, fs, S.NEUROKIT_GAMMA[lead] * ai, bi),
            (0, t[-1]),
            [1.0, 0.0, 0.04],
            t_eval=t,
            rtol=1e-7,
            atol=1e-9,
        )
        z = sol.y[2]
        z = (z - z.min()) * 1.6 / (z.max() - z.min()) - 0.4
        np.testing.assert_allclose(ours[lead], z, atol=1e-4)


@pytest.mark.parametrize("hr", [60, 80])
def test_neurokit2_public_output_agrees_within_its_integration_error(hr):
    import neurokit2 as nk

    theirs = (
        nk.ecg_simulate(
            duration=4, sampling_rate=500, heart_rate=hr, heart_rate_std=0, method="multileads", noise=0, random_state=0
        )
        .to_numpy()
        .T
    )
    ours = S.neurokit_multileads(4, 500, hr)
    # neurokit2 integrates with RK45 at rtol 1e-3: up to ~0.12 of its 1.6-mV range on these leads
    assert np.abs(theirs - ours).max() < 0.15
    assert np.median(np.abs(theirs - ours)) < 0.02


def test_rr_process_mean_and_std():
    rr = S.rr_process(np.random.default_rng(0), hr_mean=75.0, hr_std=3.0, lf_hf=1.0, n=4096)
    assert abs(rr.mean() - 0.8) < 1e-9
    assert abs(rr.std() - 60 * 3.0 / 75.0**2) < 1e-9


# ----------------------------------------------------------------------------- cohort
SMALL = S.SyntheticConfig(n_patients=12, abnormal_fraction=0.25, duration_s=6, fs=250, seed=3)


def test_cohort_is_deterministic_and_seeded():
    a = list(S.simulate_cohort(SMALL))
    b = list(S.simulate_cohort(SMALL))
    for (pa, sa, ka), (pb, sb, kb) in zip(a, b):
        assert pa == pb
        np.testing.assert_array_equal(sa, sb)
        np.testing.assert_array_equal(ka, kb)
    c = list(S.simulate_cohort(S.SyntheticConfig(n_patients=12, abnormal_fraction=0.25, duration_s=6, fs=250, seed=4)))
    assert not np.allclose(a[0][1], c[0][1])


def test_labels_sizes_and_lead_laws():
    out = list(S.simulate_cohort(SMALL))
    labels = [p.label for p, _, _ in out]
    assert labels.count("mi") == round(12 * 0.25)
    for p, sig, peaks in out:
        assert sig.shape == (12, 6 * 250)
        x = dict(zip(L.STANDARD_12, sig))
        np.testing.assert_allclose(x["I"] + x["III"], x["II"], atol=1e-12)  # Einthoven
        np.testing.assert_allclose(x["aVR"] + x["aVL"] + x["aVF"], 0.0, atol=1e-12)  # Goldberger
        assert p.sex in ("M", "F") and 18 <= p.age <= 92
        assert np.all(np.diff(peaks) > 0.25 * 250) and peaks.min() >= 0 and peaks.max() < sig.shape[1]


def test_mi_pattern_is_precordial_only():
    rng = np.random.default_rng(7)
    patient, params = S.draw_patient(0, "mi", rng)
    mi = S.wave_amplitudes(patient, params)
    healthy = S.wave_amplitudes(S.Patient(**{**patient.__dict__, "label": "healthy", "st_mv": 0.0}), params)
    limb = [L.BASIS.index(n) for n in ("I", "II")]
    chest = [L.BASIS.index(n) for n in ("V1", "V2", "V3")]
    np.testing.assert_array_equal(mi[limb], healthy[limb])
    st = S.WAVES.index("ST")
    assert np.all(mi[chest, st] > 0.05) and np.all(healthy[:, st] == 0)


def test_qt_follows_fridericia_on_the_preceding_rr():
    rng = np.random.default_rng(11)
    patient, params = S.draw_patient(0, "healthy", rng)
    sig, peaks, qt_ms = S.simulate_patient(patient, params, 20.0, 500.0, rng)
    rr_prev = np.diff(peaks) / 500.0
    expected = patient.qtc_ms * np.cbrt(rr_prev)
    np.testing.assert_allclose(qt_ms[1:], expected, atol=1.0)  # R peaks rounded to 2-ms samples


def test_t_wave_moves_with_the_preceding_rr():
    """Across patients of the model, the T-wave peak time (after R) follows QT = QTc * RR^(1/3)."""
    fs = 1000.0
    slow = S.Patient(0, 50, "M", "healthy", 55.0, 0.5, 1.0, 400.0, 90.0, 150.0, 45.0, 0.0, 50.0, 0.0)
    fast = S.Patient(0, 50, "M", "healthy", 100.0, 0.5, 1.0, 400.0, 90.0, 150.0, 45.0, 0.0, 50.0, 0.0)
    t_peaks = []
    for p in (slow, fast):
        rng = np.random.default_rng(0)
        _, params = S.draw_patient(0, "healthy", np.random.default_rng(1))
        params["resp_depth"] = 0.0
        sig, peaks, qt = S.simulate_patient(p, params, 8.0, fs, rng)
        v4 = sig[L.STANDARD_12.index("V4")]
        r = peaks[3]
        seg = v4[r + int(0.15 * fs) : r + int(0.5 * fs)]
        t_peaks.append((np.argmax(seg) + 0.15 * fs) / fs)
    # T-peak = onset + QT - 2.5 sd_T = QT (1 - 0.275) - 0.46 QRS; its difference scales with the QT difference
    qt_slow, qt_fast = 0.4 * np.cbrt(60 / 55.0), 0.4 * np.cbrt(60 / 100.0)
    assert t_peaks[0] - t_peaks[1] == pytest.approx(0.725 * (qt_slow - qt_fast), abs=0.008)


def test_config_and_hash():
    assert S.cohort_hash({"n_patients": 240}) == S.cohort_hash(S.SyntheticConfig(n_patients=240))
    assert S.cohort_hash({"n_patients": 240}) != S.cohort_hash({"n_patients": 241})
    with pytest.raises(ValueError, match="unknown"):
        S.SyntheticConfig.from_config({"patients": 3})


# ----------------------------------------------------------------------------- disk round trip
@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    S.write_cohort(root, SMALL)
    return root


def test_write_and_read_cohort(cohort_dir):
    import wfdb

    info = S.load_cohort_info(cohort_dir)
    assert info["n_patients"] == 12 and info["n_mi"] == 3 and info["cohort_hash"] == S.cohort_hash(SMALL)
    meta = S.read_metadata(cohort_dir)
    assert list(meta.columns) == list(S.METADATA_COLUMNS)
    recs = list(S.read_cohort(cohort_dir))
    assert all(isinstance(r, Record) for r in recs)
    sim = list(S.simulate_cohort(SMALL))
    for rec, (p, sig, peaks), row in zip(recs, sim, meta.itertuples()):
        assert rec.leads == L.STANDARD_12 and rec.fs == 250 and rec.source == "synthetic"
        assert rec.patient_id == rec.record_id == f"synthetic/{p.name}"
        assert rec.age == p.age and rec.sex == p.sex and rec.meta["label"] == p.label
        assert np.abs(rec.signal - sig).max() < 1e-3  # 16-bit storage
        np.testing.assert_array_equal(rec.meta["r_peaks"], peaks)
        ann = wfdb.rdann(str(cohort_dir / row.record), "atr")
        np.testing.assert_array_equal(ann.sample, peaks)
        assert (rec.diagnoses != ()) == (p.label == "mi")
    assert set(meta["label"]) == {"healthy", "mi"}


def test_read_cohort_reports_missing_record(cohort_dir, tmp_path):
    import shutil

    root = tmp_path / "c"
    shutil.copytree(cohort_dir, root)
    (root / "records" / "S0002.dat").unlink()
    out = list(S.read_cohort(root))
    errors = [r for r in out if isinstance(r, RecordError)]
    assert len(out) == 12 and len(errors) == 1 and errors[0].record_id == "synthetic/S0002"


def test_metadata_matches_patients(cohort_dir):
    meta = pd.read_csv(cohort_dir / "metadata.csv")
    mi = meta[meta["label"] == "mi"]
    assert (mi["st_mv"] > 0).all() and (meta.loc[meta["label"] == "healthy", "st_mv"] == 0).all()
    assert meta["n_beats"].tolist() == [len(s.split()) for s in meta["r_peaks"]]


@pytest.mark.slow
def test_parallel_writing_gives_identical_files(cohort_dir, tmp_path):
    S.write_cohort(tmp_path, SMALL, workers=2)
    for f in ("metadata.csv", "records/S0001.dat", "records/S0007.hea", "records/S0012.atr"):
        assert (tmp_path / f).read_bytes() == (cohort_dir / f).read_bytes()


def test_patients_do_not_depend_on_cohort_size():
    a = S.simulate_one(SMALL, 3, "healthy")
    b = S.simulate_one(
        S.SyntheticConfig(n_patients=50, abnormal_fraction=0.25, duration_s=6, fs=250, seed=3), 3, "healthy"
    )
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])
