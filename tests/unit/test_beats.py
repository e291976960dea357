"""Beat extraction: filters, resampling, R-peak detection, windows, quality check, normalisation, leads."""

import dataclasses

import numpy as np
import pytest

from ecgdiff import leads as L
from ecgdiff.data import beats as B
from ecgdiff.data.records import Record, RecordError

P = B.BeatParams()


def _middle(x, fs, margin_s=2.0):
    m = int(margin_s * fs)
    return x[..., m:-m]


# ----------------------------------------------------------------------------- filters and resampling
@pytest.mark.parametrize("f0", [50.0, 60.0])
def test_notch_removes_power_line(f0):
    fs = 500.0
    t = np.arange(int(10 * fs)) / fs
    x = np.sin(2 * np.pi * f0 * t)
    y = B.filter_signal(x, fs, P)
    assert np.sqrt(np.mean(_middle(y, fs) ** 2)) < 0.01 * np.sqrt(0.5)


def test_highpass_removes_baseline_drift_and_keeps_qrs_band():
    fs = 500.0
    t = np.arange(int(10 * fs)) / fs
    drift = 1.0 * np.sin(2 * np.pi * 0.1 * t) + 0.3 * np.sin(2 * np.pi * 0.25 * t)
    qrs_band = 0.5 * np.sin(2 * np.pi * 10.0 * t)
    y = B.filter_signal(drift + qrs_band, fs, P)
    np.testing.assert_allclose(_middle(y, fs), _middle(qrs_band, fs), atol=0.01)


def test_filter_keeps_a_qrs_shaped_pulse_in_place():
    fs = 500.0
    t = np.arange(int(10 * fs)) / fs
    pulse = np.exp(-0.5 * ((t - 5.0) / 0.01) ** 2)  # 10-ms Gaussian QRS
    y = B.filter_signal(pulse, fs, P)
    assert np.argmax(y) == np.argmax(pulse)  # zero phase: no shift
    assert abs(y.max() - 1.0) < 0.05  # the notches take ~3 % of a 10-ms pulse's 50/60-Hz content


def test_notch_at_or_above_nyquist_is_skipped():
    x = np.random.default_rng(0).normal(size=1000)
    p = dataclasses.replace(P, highpass_hz=0.0)
    np.testing.assert_allclose(B.filter_signal(x, 100.0, p), x)  # 50 and 60 Hz >= Nyquist of 100 Hz


@pytest.mark.parametrize("fs_in", [500.0, 360.0, 1000.0, 250.0])
def test_resample_to_250_hz(fs_in):
    n = int(8 * fs_in)
    t_in = np.arange(n) / fs_in
    x = np.stack([np.sin(2 * np.pi * 3.0 * t_in), np.cos(2 * np.pi * 7.0 * t_in)])
    y = B.resample(x, fs_in, 250.0)
    assert y.shape == (2, int(round(n * 250.0 / fs_in)))
    t_out = np.arange(y.shape[1]) / 250.0
    ref = np.stack([np.sin(2 * np.pi * 3.0 * t_out), np.cos(2 * np.pi * 7.0 * t_out)])
    np.testing.assert_allclose(_middle(y, 250.0, 1.0), _middle(ref, 250.0, 1.0), atol=2e-3)


def test_resample_rejects_irrational_ratio():
    with pytest.raises(ValueError):
        B.resample(np.zeros(100), 1000.0 * np.pi, 250.0)


# ----------------------------------------------------------------------------- a record with known beats
def _beat_template(t, amp):
    """Sum of Gaussians: q, R, s, T (seconds relative to R) with per-lead amplitudes ``amp [4]``."""
    waves = [(-0.03, 0.008), (0.0, 0.010), (0.03, 0.009), (0.26, 0.045)]
    return sum(a * np.exp(-0.5 * ((t - c) / w) ** 2) for a, (c, w) in zip(amp, waves))


def known_record(fs=500.0, duration=10.0, r_times=None, leads=L.BASIS, amps=None, seed=0):
    """A noise-free record with beats at known R times (s); independent leads I, II, V1-V6 then derived."""
    rng = np.random.default_rng(seed)
    if r_times is None:
        rr = 0.8 + 0.1 * np.sin(np.arange(14))  # RR 0.7 - 0.9 s
        r_times = 0.45 + np.concatenate([[0.0], np.cumsum(rr)])
        r_times = r_times[r_times < duration - 0.2]
    n = int(duration * fs)
    t = np.arange(n) / fs
    if amps is None:
        amps = np.column_stack(
            [
                rng.uniform(-0.3, -0.05, 8),
                rng.uniform(0.6, 1.4, 8),
                rng.uniform(-0.5, -0.1, 8),
                rng.uniform(0.15, 0.4, 8),
            ]
        )
        amps[2, 1] = -0.4  # V1: mostly negative QRS
    basis = np.zeros((8, n))
    for r in r_times:
        basis += np.stack([_beat_template(t - r, a) for a in amps])
    sig = L.derive(basis, L.BASIS, leads)
    return Record("test/known", "test/known", "test", fs, sig, tuple(leads), age=50.0, sex="F"), np.asarray(r_times)


def test_detector_finds_known_beats():
    rec, r_times = known_record()
    y, peaks = B.find_r_peaks(rec.signal, rec.fs, P)
    expected = np.round(r_times * P.fs).astype(int)
    expected = expected[expected > 0.3 * P.fs]  # neurokit2's detector is blind in its first 0.3 s
    assert len(peaks) == len(expected)
    assert np.max(np.abs(peaks - expected)) <= 2  # 8 ms


def test_extract_beats_windows_rr_and_first_beat():
    rec, r_times = known_record(leads=L.STANDARD_12)
    out = B.extract_beats(rec, L.PAPER_9, P)
    expected = np.round(r_times * P.fs).astype(int)
    # first beat dropped: the kept beats start at the second detected peak
    assert out.beat_index[0] == 1
    assert abs(out.r_index[0] - expected[1]) <= 2
    assert out.rejects[0]["stage"] == "window" and out.rejects[0]["beat_index"] == 0
    assert out.beats.shape == (len(out.r_index), 9, 176) and out.beats.dtype == np.float32
    # RR = preceding R-R interval in ms
    true_rr = np.diff(r_times) * 1000.0
    np.testing.assert_allclose(out.rr_ms, true_rr[out.beat_index - 1], atol=8.0)
    # R at index 48: the lead with the largest R (V-lead with positive R) peaks at index 48
    k = L.PAPER_9.index("V5")
    assert np.all(np.abs(np.argmax(out.beats[:, k, :], axis=1) - 48) <= 1)


def test_window_beats_exact_and_out_of_range():
    x = np.arange(2 * 1000, dtype=float).reshape(2, 1000)
    w = B.window_beats(x, np.array([100, 500]), 48, 128)
    assert w.shape == (2, 2, 176)
    np.testing.assert_array_equal(w[1, 0], np.arange(500 - 48, 500 + 128))
    np.testing.assert_array_equal(w[0, 1], 1000 + np.arange(100 - 48, 100 + 128))
    with pytest.raises(ValueError):
        B.window_beats(x, np.array([20]), 48, 128)


def test_windows_leaving_the_record_are_rejected():
    rec, r_times = known_record(r_times=np.array([0.5, 1.3, 2.1, 2.9, 3.7, 9.85]), duration=10.0)
    out = B.extract_beats(rec, L.PAPER_9, P)
    reasons = [r["reason"] for r in out.rejects]
    assert any("leaves the record" in r for r in reasons)
    assert out.r_index.max() + P.after <= 10.0 * P.fs


# ----------------------------------------------------------------------------- quality and normalisation
def test_quality_mask_threshold_in_millivolts():
    rng = np.random.default_rng(1)
    w = rng.normal(0.0, 1.0, size=(3, 2, 176))
    w /= w[..., 28:69].std(axis=-1, keepdims=True)  # std exactly 1 in the +-20-sample window
    w[1, 1] *= 0.04  # lead 1 of beat 1: std 0.04 mV -> flat
    w[2, 0] *= 0.06  # lead 0 of beat 2: std 0.06 mV -> moves
    np.testing.assert_array_equal(B.quality_mask(w, 48, 20, 0.05), [True, False, True])


def test_flat_lead_rejects_beats_with_reason():
    rec, _ = known_record(leads=L.STANDARD_12)
    sig = rec.signal.copy()
    # V3 disconnected for the first 5 s: the beats there fail the quality check
    sig[L.STANDARD_12.index("V3"), : int(5 * rec.fs)] = 0.001
    rec = dataclasses.replace(rec, signal=sig)
    out = B.extract_beats(rec, L.PAPER_9, P)
    q = [r for r in out.rejects if r["stage"] == "quality"]
    assert q and all("V3" in r["reason"] for r in q)
    assert np.all(out.r_index > 5 * P.fs - P.quality_half_width)


def test_normalisation_qrs_max_abs_is_one():
    rec, _ = known_record(leads=L.STANDARD_12)
    out = B.extract_beats(rec, L.PAPER_9, P)
    lo, hi = P.qrs_window
    qrs = out.beats[..., 48 + lo : 48 + hi + 1]
    np.testing.assert_allclose(np.abs(qrs).max(axis=-1), 1.0, rtol=1e-6)
    assert np.all(out.scales > 0)


def test_normalise_ignores_waves_outside_the_qrs_window():
    w = np.zeros((1, 1, 176))
    w[0, 0, 48] = -0.5  # QRS
    w[0, 0, 120] = 2.0  # a tall T wave
    beats, scales = B.normalise(w, 48, (-15, 15))
    assert scales[0, 0] == 0.5
    assert beats[0, 0, 48] == -1.0 and beats[0, 0, 120] == 4.0


# ----------------------------------------------------------------------------- leads
def test_lead_set_is_derived_from_recorded_leads():
    rec8, _ = known_record(leads=L.BASIS)  # only I, II, V1-V6 recorded
    rec12, _ = known_record(leads=L.STANDARD_12)  # the same heart, all twelve leads
    a = B.extract_beats(rec8, L.PAPER_9, P)
    b = B.extract_beats(rec12, L.PAPER_9, P)
    np.testing.assert_array_equal(a.r_index, b.r_index)
    np.testing.assert_allclose(a.beats * a.scales[..., None], b.beats * b.scales[..., None], atol=1e-6)
    # aVL of the beats equals I - II/2 of the same windows
    y = B.preprocess(rec8.signal, rec8.fs, P)
    win = B.window_beats(y, a.r_index, 48, 128)
    avl = win[:, 0] - win[:, 1] / 2
    np.testing.assert_allclose(a.beats[:, 0] * a.scales[:, 0, None], avl, atol=1e-6)  # float32 beats


def test_missing_lead_is_a_record_error():
    rec, _ = known_record(leads=("I", "II", "V1", "V2", "V4", "V5", "V6"))
    with pytest.raises(RecordError, match="V3"):
        B.extract_beats(rec, L.PAPER_9, P)


def test_bad_records_raise_record_errors():
    rec, _ = known_record()
    sig = rec.signal.copy()
    sig[0, 100] = np.nan
    with pytest.raises(RecordError, match="non-finite"):
        B.extract_beats(dataclasses.replace(rec, signal=sig), L.PAPER_9, P)
    with pytest.raises(RecordError, match="too short"):
        B.extract_beats(dataclasses.replace(rec, signal=rec.signal[:, :300]), L.PAPER_9, P)
    with pytest.raises(RecordError, match="R peak"):
        B.extract_beats(dataclasses.replace(rec, signal=np.zeros_like(rec.signal)), L.PAPER_9, P)


# ----------------------------------------------------------------------------- detector pieces
def test_orient_follows_the_typical_beat_not_the_largest():
    fs = 250.0
    t = np.arange(int(10 * fs)) / fs
    pc = np.zeros_like(t)
    for k, r in enumerate(np.arange(0.5, 9.5, 0.8)):
        amp = 3.0 if k in (3, 7) else -1.0  # two large positive ectopic beats, ten negative normal ones
        pc += amp * np.exp(-0.5 * ((t - r) / 0.012) ** 2)
    out = B.orient(pc, fs)
    np.testing.assert_array_equal(out, -pc)


def test_segmented_pca_resists_an_artefact_episode():
    fs = 250.0
    rng = np.random.default_rng(2)
    n = int(200 * fs)
    t = np.arange(n) / fs
    qrs = sum(np.exp(-0.5 * ((t - r) / 0.012) ** 2) for r in np.arange(0.5, 200, 0.8))
    x = np.stack([qrs, 0.3 * qrs]) + 0.01 * rng.normal(size=(2, n))
    x[1, int(20 * fs) : int(40 * fs)] += 20.0 * rng.normal(size=int(20 * fs))  # 20 s of artefact in lead 1
    whole = B.first_principal_component(x)
    seg = B.first_principal_component(x, int(10 * fs))
    clean = slice(int(100 * fs), int(110 * fs))
    corr = lambda a: abs(np.corrcoef(a[clean], qrs[clean])[0, 1])  # noqa: E731
    assert corr(seg) > 0.99 > corr(whole)
    # a record of at most two segments gets the plain principal component
    short = x[:, : int(15 * fs)]
    np.testing.assert_allclose(
        np.abs(B.first_principal_component(short, int(10 * fs))), np.abs(B.first_principal_component(short))
    )


def test_reject_shallow_drops_p_or_t_wave_detections():
    fs = 250.0
    t = np.arange(int(10 * fs)) / fs
    r = np.arange(0.5, 9.5, 0.8)
    sig = sum(np.exp(-0.5 * ((t - c) / 0.012) ** 2) for c in r)
    sig += 0.5 * np.exp(-0.5 * ((t - 4.9) / 0.05) ** 2)  # a broad T-like wave between two beats
    peaks = np.sort(np.concatenate([np.round(r * fs), [round(4.9 * fs)]]).astype(int))
    kept = B.reject_shallow(sig, peaks, fs, 0.3, 15)
    np.testing.assert_array_equal(kept, np.round(r * fs).astype(int))
    np.testing.assert_array_equal(B.reject_shallow(sig, peaks, fs, 0.0, 15), peaks)


def test_search_back_recovers_a_missed_ventricular_run_and_not_t_waves():
    fs = 250.0
    t = np.arange(int(16 * fs)) / fs
    sinus = np.concatenate([np.arange(0.5, 5.0, 0.8), np.arange(8.0, 10.5, 0.8), np.arange(12.8, 15.5, 0.8)])
    vt = 4.9 + 0.4 * np.arange(1, 7)  # six wide, downward beats every 0.4 s
    # sinus beats every 0.8 s, the ventricular run from 5.3 to 7.3 s, a 2.4-s pause from 10.4 s
    sig = sum(np.exp(-0.5 * ((t - c) / 0.012) ** 2) for c in sinus)
    sig -= sum(2.5 * np.exp(-0.5 * ((t - c) / 0.03) ** 2) for c in vt)
    sig += 0.5 * np.exp(-0.5 * ((t - 10.75) / 0.05) ** 2)  # a T wave inside the pause
    detected = np.round(sinus * fs).astype(int)  # what the detector saw: no ventricular beat
    found = B.search_back(sig, detected, fs, gap_ratio=1.5, min_ratio=0.6, refractory_s=0.25)
    added = np.setdiff1d(found, detected)
    assert len(added) == len(vt)
    assert np.max(np.abs(added - np.round(vt * fs))) <= 2  # placed on the (negative) peak
    np.testing.assert_array_equal(B.search_back(sig, detected, fs, gap_ratio=0.0), detected)


def test_params_from_config():
    p = B.BeatParams.from_config({"fs": 250, "before": 48, "after": 128, "notch_hz": [50, 60], "qrs_ms": [-60, 60]})
    assert p.qrs_window == (-15, 15) and p.length == 176 and p.notch_hz == (50.0, 60.0)
    with pytest.raises(ValueError, match="unknown"):
        B.BeatParams.from_config({"fss": 250})
    with pytest.raises(ValueError):
        B.BeatParams.from_config({"savgol_window": 14})
