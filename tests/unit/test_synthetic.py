"""The simulated cohort: its ECGSYN solution, determinism, labels, metadata, disk format and physiology."""

import functools

import numpy as np
import pandas as pd
import pytest

from ecgdiff import leads as L
from ecgdiff.data import synthetic as S
from ecgdiff.data.records import Record, RecordError
from ecgdiff.validation import rhythm_features as F


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


# ----------------------------------------------------------------------------- subgroups af, rbbb, lbbb
#: A cohort written by model version 2 (before the af and bbb subgroups existed), and the digest of its files
#: (:func:`_cohort_digest`) as that code wrote them: with the new fractions at 0 nothing may change.
V2_CONFIG = S.SyntheticConfig(n_patients=6, abnormal_fraction=0.34, duration_s=4, fs=250, seed=5)
V2_HASH = "c5acfc1291da4629"
V2_DEFAULT_HASH = "7c315211ba7ead2e"  # the default configuration's (names the embedded run's cohort folder)
V2_DIGEST = "930661d6e3a6f5926c3c2b423a09e51c65b3abe5a40664c1d92cb1f8ecbb3b96"


def _cohort_digest(root):
    """SHA-256 over every file of a written cohort: ``cohort.json`` without its two timings, and the WFDB
    headers with their decimal numbers (the 16-bit gains, printed with 17 digits) at 9 significant digits, so
    that a last-bit difference of a platform's floating point cannot change it; all other bytes as they are."""
    import hashlib
    import json
    import re

    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = f.relative_to(root).as_posix()
        data = f.read_bytes()
        if rel == "cohort.json":
            info = json.loads(data)
            for k in ("simulation_cpu_s", "total_s"):
                info.pop(k)
            data = json.dumps(info, sort_keys=True).encode()
        elif rel.endswith(".hea"):
            data = re.sub(rb"\d+\.\d+", lambda m: f"{float(m.group()):.9g}".encode(), data)
        h.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


@pytest.mark.parametrize("extra", [{}, {"af_fraction": 0.0, "bbb_fraction": 0.0}])
def test_new_fractions_at_zero_reproduce_model_version_2(tmp_path, extra):
    import dataclasses

    cfg = dataclasses.replace(V2_CONFIG, **extra)
    assert S.cohort_hash(cfg) == V2_HASH
    assert S.cohort_hash({}) == S.cohort_hash({"af_fraction": 0, "bbb_fraction": 0}) == V2_DEFAULT_HASH
    info = S.write_cohort(tmp_path, cfg)
    assert set(info["config"]) == {"n_patients", "abnormal_fraction", "duration_s", "fs", "seed"}
    assert "n_af" not in info
    assert _cohort_digest(tmp_path) == V2_DIGEST


def test_new_fractions_change_the_hash_and_keep_the_mi_patients():
    base = S.SyntheticConfig(n_patients=24, abnormal_fraction=0.25, seed=2)
    with_af = S.SyntheticConfig(n_patients=24, abnormal_fraction=0.25, af_fraction=0.125, seed=2)
    with_bbb = S.SyntheticConfig(n_patients=24, abnormal_fraction=0.25, bbb_fraction=0.25, seed=2)
    assert len({S.cohort_hash(c) for c in (base, with_af, with_bbb)}) == 3
    both = S.SyntheticConfig(n_patients=24, abnormal_fraction=0.25, af_fraction=0.125, bbb_fraction=0.25, seed=2)
    labels = S.cohort_labels(both)
    counts = {lab: labels.count(lab) for lab in S.LABELS}
    assert counts == {"healthy": 9, "mi": 6, "af": 3, "rbbb": 3, "lbbb": 3}
    assert [i for i, x in enumerate(labels) if x == "mi"] == [
        i for i, x in enumerate(S.cohort_labels(base)) if x == "mi"
    ]
    odd = S.cohort_labels(S.SyntheticConfig(n_patients=10, abnormal_fraction=0.0, bbb_fraction=0.3))
    assert (odd.count("rbbb"), odd.count("lbbb")) == (2, 1)
    with pytest.raises(ValueError, match="hold more than n_patients"):
        S.SyntheticConfig.from_config(
            {"n_patients": 10, "abnormal_fraction": 0.5, "af_fraction": 0.3, "bbb_fraction": 0.3}
        )
    with pytest.raises(ValueError, match="af_fraction"):
        S.SyntheticConfig.from_config({"af_fraction": 1.5})
    with pytest.raises(ValueError, match="unknown synthetic label"):
        S.draw_patient(0, "vt", np.random.default_rng(0))


# measured on the simulated signals (``ecgdiff.validation.rhythm_features``: the project's filters, median beats
# aligned on the true R peaks, spatial velocity); five patients per label, 10 s at 250 Hz
FS = 250.0
CLASS_CFG = S.SyntheticConfig(n_patients=10, duration_s=10, fs=FS, seed=7)


@functools.cache
def _records(label):
    return tuple(S.simulate_one(CLASS_CFG, i, label) for i in range(5))


def _qrs_ms(label):
    return np.array([F.qrs_ms(*F.median_beat(sig, pk, FS), FS) for _, sig, pk in _records(label)])


def _beat_leads(sig, pk):
    """QRS bounds of the median beat and its leads (name -> signal) less their level just before the onset."""
    beat, r = F.median_beat(sig, pk, FS)
    on, off = F.qrs_bounds(beat, r, FS)
    return on, off, {n: x - np.median(x[on - 5 : on + 1]) for n, x in zip(L.STANDARD_12, beat)}


def test_qrs_bounds_of_one_gaussian_wave():
    """Velocity of a Gaussian of sd ``s`` ~ ``|x| exp(-x^2/2)``: its peaks at ``x = +-1``, 10 % of them at
    ``|x| = 2.765``; so the QRS is ``2 * 2.765 s`` wide (plus about a sample: the first samples below 10 %)."""
    fs, s = 1000.0, 0.02
    t = np.arange(-0.3, 0.5, 1 / fs)
    beat = np.outer(np.linspace(0.5, 1.5, 12), np.exp(-0.5 * (t / s) ** 2))
    assert F.qrs_ms(beat, int(0.3 * fs), fs) == pytest.approx(2 * 2.765 * s * 1000, abs=2.0)


def test_every_new_record_obeys_the_lead_laws_and_is_labelled(tmp_path):
    cfg = S.SyntheticConfig(
        n_patients=10, abnormal_fraction=0.1, af_fraction=0.2, bbb_fraction=0.4, duration_s=6, fs=FS
    )
    sims = list(S.simulate_cohort(cfg))
    for _, sig, _ in sims:
        x = dict(zip(L.STANDARD_12, sig))
        np.testing.assert_allclose(x["I"] + x["III"], x["II"], atol=1e-12)  # Einthoven
        np.testing.assert_allclose(x["aVR"] + x["aVL"] + x["aVF"], 0.0, atol=1e-12)  # Goldberger
        np.testing.assert_allclose(x["aVL"], x["I"] - x["II"] / 2, atol=1e-12)
    info = S.write_cohort(tmp_path, cfg)
    assert (info["n_mi"], info["n_af"], info["n_rbbb"], info["n_lbbb"]) == (1, 2, 2, 2)
    meta = S.read_metadata(tmp_path)
    recs = list(S.read_cohort(tmp_path))
    assert [r.meta["label"] for r in recs] == meta["label"].tolist() == [p.label for p, _, _ in sims]
    for rec, (p, _, peaks) in zip(recs, sims):
        assert rec.diagnoses == ((S.DIAGNOSES[p.label],) if p.label != "healthy" else ())
        np.testing.assert_array_equal(rec.meta["r_peaks"], peaks)
    af = meta["label"] == "af"
    assert meta.loc[af, "pr_ms"].isna().all() and meta.loc[~af, "pr_ms"].notna().all()
    assert (meta.loc[meta["label"].isin(["rbbb", "lbbb"]), "qrs_ms"] >= 120).all()
    assert (meta.loc[~meta["label"].isin(["rbbb", "lbbb"]), "qrs_ms"] <= 120).all()


def test_bbb_qrs_is_120_to_160_ms_on_the_signal():
    healthy, rbbb, lbbb = _qrs_ms("healthy"), _qrs_ms("rbbb"), _qrs_ms("lbbb")
    assert healthy.max() < 120
    for widths in (rbbb, lbbb):
        assert np.all((widths >= 120) & (widths <= 160)), widths
    nominal = np.array([p.qrs_ms for p, _, _ in _records("rbbb") + _records("lbbb")])
    assert np.abs(np.concatenate([rbbb, lbbb]) - nominal).max() < 20  # the measurement's own error, above


def test_rbbb_has_rsr_prime_in_v1_and_a_wide_s_in_i_and_v6():
    for label in ("rbbb", "healthy"):
        for _, sig, pk in _records(label):
            on, off, x = _beat_leads(sig, pk)
            v1 = x["V1"][on : off + 1]
            s = np.argmin(v1)
            r_prime = v1[s:].max()  # a positive wave after the S of V1
            # the S of I and V6: time below -0.05 mV after the R peak
            s_ms = {}
            for n in ("I", "V6"):
                q = x[n][on : off + 1]
                s_ms[n] = np.sum(q[np.argmax(q) :] < -0.05) * 1000 / FS
            if label == "rbbb":
                assert v1[:s].max() > 0.02  # the initial r
                assert r_prime > 0.3 and np.argmax(v1[s:]) >= 0.02 * FS  # R', at least 20 ms after the S
                assert min(s_ms.values()) >= 40, s_ms  # wide S (> 40 ms) in I and V6
            else:
                assert r_prime < 0.1 and max(s_ms.values()) < 40


def test_lbbb_has_deep_s_in_v1_broad_r_in_i_v6_and_discordant_st_t():
    for label in ("lbbb", "healthy"):
        for _, sig, pk in _records(label):
            on, off, x = _beat_leads(sig, pk)
            qrs = slice(on, off + 1)
            broad = {n: np.sum(x[n][qrs] > 0.5 * x[n][qrs].max()) * 1000 / FS for n in ("I", "V6")}
            st_t = slice(off + int(0.04 * FS), off + int(0.25 * FS))
            if label == "lbbb":
                assert x["V1"][qrs].min() < -0.4 and x["V1"][qrs].max() < 0.25 * -x["V1"][qrs].min()  # QS / rS
                assert min(broad.values()) >= 50, broad  # broad R (healthy: <= 28 ms above half its peak)
                assert x["V6"][qrs][: np.argmax(x["V6"][qrs])].min() > -0.03  # no septal q in V6
                assert x["V6"][st_t].mean() < -0.05 and x["V1"][st_t].mean() > 0.05  # discordant ST-T
            else:
                assert max(broad.values()) < 40


def test_af_has_irregular_rr_no_p_wave_and_f_waves():
    from ecgdiff.data import beats

    band = {}
    for label in ("af", "healthy"):
        for p, sig, pk in _records(label):
            _, detected = beats.find_r_peaks(sig, FS)  # the project's detector (at its 250 Hz)
            cv = F.rr_cv(detected)
            y = dict(zip(L.STANDARD_12, beats.filter_signal(sig, FS)))
            coherence = F.p_coherence(y["II"], pk, FS)
            f, psd = F.qrst_cancelled_spectrum(y["V1"], pk, FS)
            band.setdefault(label, []).append(F.band_power(f, psd, 4, 9))
            if label == "af":
                assert cv > 0.08 and coherence < 0.4  # irregular; nothing time-locked before the QRS
                search = (f >= 2) & (f <= 15)
                peak = f[search][np.argmax(psd[search])]
                assert 4 <= peak <= 9 and abs(peak - p.extra["f_wave_hz"]) < 1.0
                # f-wave amplitude in V1: peak-to-peak over 1-s windows, 0.05-0.20 mV
                _, params = S.draw_patient(p.index, "af", S._streams(CLASS_CFG, p.index + 1))
                v1 = S.fwaves(params["af"], np.arange(sig.shape[1]) / FS)[L.BASIS.index("V1")]
                ptp = np.median([np.ptp(w) for w in v1.reshape(-1, int(FS))])
                assert 0.04 < ptp < 0.23 and abs(ptp / p.extra["f_wave_v1_mv"] - 1) < 0.15
                # strongest in V1 and the inferior leads, weakest in I and V6
                power = {
                    n: F.band_power(*F.qrst_cancelled_spectrum(y[n], pk, FS), 3, 12) for n in ("I", "aVF", "V1", "V6")
                }
                assert min(power["V1"], power["aVF"]) > max(power["I"], power["V6"]), power
            else:
                assert cv < 0.06 and coherence > 0.8  # a P wave before every QRS
    assert min(band["af"]) > 3 * max(band["healthy"])


def test_av_node_model_matches_an_impulse_by_impulse_simulation():
    """:func:`S.av_node_rr` (one exponential wait per impulse after the refractory period) against a direct
    simulation of the model: a Poisson train of atrial impulses walked one by one (impulses inside the
    refractory period ignored); same RR distribution (two-sample KS), no periodic (sinus-like) correlation."""
    from scipy import stats

    af = {"rate_hz": 6.0, "refractory_s": 0.35}
    ours = S.av_node_rr(np.random.default_rng(0), af, 4000)
    rng = np.random.default_rng(1)
    arrivals = np.cumsum(rng.exponential(1 / af["rate_hz"], size=40000))
    direct, last, prev, tau = [], 0.0, 1.0, None
    for t in arrivals:
        if tau is None:
            slow = rng.uniform() >= S.AV_NODE["p_fast"]
            tau = S.AV_NODE["slope"] * prev + af["refractory_s"] + (S.AV_NODE["slow_extra_s"] if slow else 0.0)
        dt = t - last - tau
        if dt < 0:
            continue
        if rng.uniform() < min(S.AV_NODE["block_slope"] * dt, 1.0):
            prev, last, tau = t - last, t, None
            direct.append(prev)
    assert stats.ks_2samp(ours, direct[1:]).pvalue > 0.01
    d = ours - ours.mean()
    acf = [np.mean(d[k:] * d[:-k]) / d.var() for k in range(1, 11)]
    assert abs(acf[0]) < 0.3 and max(abs(a) for a in acf[1:]) < 0.1
    assert 0.15 < ours.std() / ours.mean() < 0.4
