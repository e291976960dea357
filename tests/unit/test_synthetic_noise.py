"""The simulated NSTDB noise: spectra and envelope against the real records' fit, seeds, independent channels."""

import functools

import numpy as np
import pytest
from scipy import signal as sps

from ecgdiff.data import synthetic_noise as N

FS = N.NSTDB_FS
DURATION = 1800.0  # the real records' 30 minutes


@functools.cache
def _simulated(kind, seed):
    return N.simulate_nstdb_like(kind, DURATION, FS, seed)


@pytest.mark.parametrize("kind", N.KINDS)
def test_band_powers_and_sd_match_the_real_records(kind):
    """Share of the power in 0-0.5, 0.5-1, 1-5, 5-20, 20-50 Hz, averaged over three 30-min simulations, within
    25 % (relative) of the real channel's, 40 % for the bands holding under 1 % of it; the sd within 10 %.
    (Averages of other seed triples were measured up to 21 % off, in em channel 0, whose bursts last minutes;
    single simulations spread by up to 30 % in the smallest bands: ``benchmarks/fit_noise_models.py``.)"""
    for c in range(2):
        target = N.TARGETS[kind][c]
        sims = [_simulated(kind, s)[c] for s in range(3)]
        got = np.mean([N.band_fractions(x, FS) for x in sims], axis=0)
        want = np.asarray(target["fractions"])
        tol = np.where(want < 0.01, 0.40, 0.25)
        assert np.all(np.abs(got / want - 1) < tol), (kind, c, got.round(5), want)
        sd = np.mean([np.std(x) for x in sims])
        assert abs(sd / target["sd_mv"] - 1) < 0.10, (kind, c, sd, target["sd_mv"])


def test_kinds_differ_as_the_real_records_do():
    """bw: nearly all power below 1 Hz; em: much of it at 1-20 Hz (both channels, simulated and real)."""
    for c in range(2):
        bw, em = (N.band_fractions(_simulated(k, 0)[c], FS) for k in ("bw", "em"))
        assert bw[:2].sum() > 0.95
        assert em[2:4].sum() > 10 * bw[2:4].sum()
        real_bw, real_em = (np.asarray(N.TARGETS[k][c]["fractions"]) for k in ("bw", "em"))
        assert real_bw[:2].sum() > 0.95 and real_em[2:4].sum() > 10 * real_bw[2:4].sum()
    assert N.band_fractions(_simulated("em", 0)[0], FS)[2:4].sum() > 0.3  # real: 0.38


def test_electrode_motion_comes_in_bursts():
    """The 1-s log-RMS above 0.7 Hz of em channel 0 varies (sd > 0.4) and stays correlated over 10 s (real
    record: sd 0.52, autocorrelation 0.60 at 10 s), unlike a stationary process of the same spectrum."""
    burst = N.high_part(_simulated("em", 0)[0], FS)
    model = dict(N.MODELS["em"][0])
    steady = N.high_part(
        N.simulate_channel({**model, "sigma": 0.0}, int(DURATION * FS), FS, np.random.default_rng(0)), FS
    )
    var_b, acov_b = N.log_rms_autocovariance(burst, FS)
    var_s, acov_s = N.log_rms_autocovariance(steady, FS)
    assert np.sqrt(var_b) > 0.4 and acov_b[9] / var_b > 0.4
    assert acov_s[9] / var_s < 0.15 and np.sqrt(var_s) < np.sqrt(var_b) - 0.1


def test_seeds_reproduce_and_channels_are_independent():
    a = N.simulate_nstdb_like("em", 10, 250, seed=3)
    assert a.shape == (2, 2500) and a.dtype == np.float64 and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, N.simulate_nstdb_like("em", 10, 250, seed=3))
    assert not np.allclose(a, N.simulate_nstdb_like("em", 10, 250, seed=4))
    assert not np.allclose(a, N.simulate_nstdb_like("bw", 10, 250, seed=3))
    for kind in N.KINDS:  # magnitude-squared coherence below 50 Hz: 1/segments for independent channels
        x = _simulated(kind, 0)
        f, coh = sps.coherence(x[0], x[1], fs=FS, nperseg=4096)
        assert np.mean(coh[(f > 0) & (f < 50)]) < 0.02


def test_any_rate_and_short_requests():
    lo = N.simulate_nstdb_like("bw", 10, 100, seed=0)
    assert lo.shape == (2, 1000)
    assert 0.05 < np.std(lo[0]) < 2.0  # a 10-s piece still holds the slow baseline wander
    hi = N.simulate_nstdb_like("em", 60, 1000, seed=0)
    f, p = sps.welch(hi[0], fs=1000, nperseg=4096)
    assert p[f > 185].sum() < 1e-9 * p.sum()  # nothing above the real records' 180 Hz
    with pytest.raises(ValueError, match="unknown NSTDB noise kind"):
        N.simulate_nstdb_like("ma", 10, 360, 0)
    with pytest.raises(ValueError, match="at least one sample"):
        N.simulate_nstdb_like("bw", 0, 360, 0)


def test_shaped_noise_and_envelope_are_calibrated():
    """White noise shaped to a flat PSD ``S`` on [0, fs/2] has variance ``S fs / 2``; the envelope has
    ``E[e^2] = 1``."""
    rng = np.random.default_rng(0)
    n, fs, level = 2**18, 200.0, 0.01
    x = N.shaped_noise(rng, n, fs, np.full(n // 2 + 1, level))
    assert np.var(x) == pytest.approx(level * fs / 2, rel=0.02)
    e = N.envelope(rng, 2_000_000, 10.0, sigma=0.5, tau_s=5.0)
    assert np.mean(e**2) == pytest.approx(1.0, rel=0.05)


def test_constants_are_the_fit_of_the_real_records(physionet_mirror):
    """Refitting the real records (as ``benchmarks/fit_noise_models.py`` does) gives the stored constants."""
    import wfdb

    for kind in N.KINDS:
        rec = wfdb.rdrecord(str(physionet_mirror / "nstdb" / "1.0.0" / kind))
        assert rec.fs == FS and rec.p_signal.shape == (650000, 2)
        for c in range(2):
            model, target = N.fit_channel(rec.p_signal[:, c], FS, np.random.default_rng(c))
            stored = N.MODELS[kind][c]
            np.testing.assert_allclose(model["psd"], stored["psd"], rtol=1e-4)
            assert model["sigma"] == pytest.approx(stored["sigma"], rel=0.02, abs=0.005)
            assert model["tau_s"] == pytest.approx(stored["tau_s"], rel=0.05)
            np.testing.assert_allclose(target["fractions"], N.TARGETS[kind][c]["fractions"], atol=2e-5)
            assert target["sd_mv"] == pytest.approx(N.TARGETS[kind][c]["sd_mv"], abs=2e-5)
