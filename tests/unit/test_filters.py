"""Classical artefact-removal baselines: zero-phase high-pass, two-stage median baseline, padding."""

import numpy as np
import pytest
from scipy import signal as sps

from ecgdiff.baselines import filters
from ecgdiff.data import beats

FS, LENGTH, PADDED = 100.0, 1000, 1024
t = np.arange(LENGTH) / FS


def test_highpass_removes_slow_wander_and_keeps_10hz_without_delay():
    slow = 0.8 * np.sin(2 * np.pi * 0.15 * t + 0.4)  # below the 0.67-Hz cut-off
    fast = 0.3 * np.sin(2 * np.pi * 10.0 * t)
    out = filters.highpass(slow + fast, FS)
    inner = slice(100, -100)  # away from the window's ends (filtfilt's edge transients)
    assert np.abs(out - fast)[inner].max() < 0.02  # 0.8-mV wander down to < 0.02 mV, 10 Hz kept at full gain
    # zero phase: the kept 10-Hz component is not delayed (a one-sample delay would be a 0.63-rad shift)
    w = 2 * np.pi * 10.0 * t[inner]
    phase = np.arctan2(np.dot(out[inner], np.cos(w)), np.dot(out[inner], np.sin(w)))
    assert abs(phase) < 1e-3
    causal = sps.sosfilt(sps.butter(5, 0.67, btype="highpass", fs=FS, output="sos"), slow + fast)
    assert (
        abs(np.arctan2(np.dot(causal[inner], np.cos(w)), np.dot(causal[inner], np.sin(w)))) > 1e-2
    )  # the test can fail


def test_highpass_is_the_beat_pipelines_filter_and_scipys():
    x = np.random.default_rng(0).normal(size=(3, 8, LENGTH))
    out = filters.highpass(x, FS, filters.HighpassConfig(cutoff_hz=0.5, order=4))
    ref = beats.filter_signal(x, FS, beats.BeatParams(notch_hz=(), highpass_hz=0.5, highpass_order=4))
    np.testing.assert_array_equal(out, ref)
    sos = sps.butter(4, 0.5, btype="highpass", fs=FS, output="sos")
    np.testing.assert_allclose(out, sps.sosfiltfilt(sos, x, axis=-1), atol=1e-12)


def test_highpass_filters_the_valid_samples_only_and_returns_zero_padding():
    x = np.zeros((2, 8, PADDED))
    x[..., :LENGTH] = np.sin(2 * np.pi * 0.2 * t) + np.sin(2 * np.pi * 5 * t)
    out = filters.highpass(x, FS, length=LENGTH)
    assert out.shape == x.shape and np.all(out[..., LENGTH:] == 0)
    np.testing.assert_array_equal(out[..., :LENGTH], filters.highpass(x[..., :LENGTH], FS))


def test_highpass_bad_settings():
    with pytest.raises(ValueError, match="Nyquist"):
        filters.highpass(np.zeros(100), FS, filters.HighpassConfig(cutoff_hz=60.0))
    with pytest.raises(ValueError):
        filters.HighpassConfig(cutoff_hz=0.0)
    with pytest.raises(ValueError):
        filters.HighpassConfig(order=0)
    with pytest.raises(ValueError, match="non-finite"):
        filters.highpass(np.array([0.0, np.nan] * 50), FS)


def test_median_window_lengths():
    assert filters.window_samples(200, 100) == 21
    assert filters.window_samples(600, 100) == 61
    assert filters.window_samples(200, 250) == 51
    assert filters.window_samples(600, 360) == 217
    assert filters.window_samples(1, 100) == 1


def spike_train(baseline):
    """QRS-like spikes (triangles 60 ms wide, 1.5 mV) once a second on a given baseline."""
    x = baseline.copy()
    for c in range(50, LENGTH, 100):
        x[c - 3 : c + 4] += 1.5 * (1 - np.abs(np.arange(-3, 4)) / 3.5)
    return x


def test_median_baseline_recovers_a_slow_baseline_under_a_spike_train():
    base = 0.5 * np.sin(2 * np.pi * 0.1 * t) + 0.2
    x = spike_train(base)
    est = filters.estimate_baseline(x, FS)
    inner = slice(61, -61)  # a sloped baseline's median is biased within half a window of the ends
    assert np.abs(est - base)[inner].max() < 0.03  # the spikes barely move the median (0.5-mV baseline)
    assert np.abs(est - base).max() < 0.06
    out = filters.median_baseline(x, FS)
    np.testing.assert_allclose(out, x - est)
    np.testing.assert_allclose(out[inner], spike_train(np.zeros(LENGTH))[inner], atol=0.03)


def test_median_baseline_matches_scipy_medfilt_away_from_the_ends():
    x = np.random.default_rng(1).normal(size=(2, 8, LENGTH))
    est = filters.estimate_baseline(x, FS)
    ref = sps.medfilt(sps.medfilt(x, (1, 1, 21)), (1, 1, 61))  # zero-padded ends: compare the interior
    np.testing.assert_allclose(est[..., 60:-60], ref[..., 60:-60], atol=1e-12)
    # a constant offset is removed exactly, ends included (reflected, not zero-padded)
    np.testing.assert_allclose(filters.median_baseline(np.full(LENGTH, 0.7), FS), 0.0, atol=1e-12)


def test_median_baseline_padding_and_bad_settings():
    x = np.zeros((1, 8, PADDED))
    x[..., :LENGTH] = spike_train(np.full(LENGTH, 0.3))
    out = filters.median_baseline(x, FS, length=LENGTH)
    assert np.all(out[..., LENGTH:] == 0)
    np.testing.assert_allclose(out[..., :LENGTH], filters.median_baseline(x[..., :LENGTH], FS))
    with pytest.raises(ValueError, match="longer than the signal"):
        filters.median_baseline(np.zeros(40), FS)
    with pytest.raises(ValueError):
        filters.MedianConfig(windows_ms=(200.0, -1.0))
    with pytest.raises(ValueError, match="length"):
        filters.median_baseline(x, FS, length=PADDED + 1)
