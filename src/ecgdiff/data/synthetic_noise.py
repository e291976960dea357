"""Simulated stand-ins of the MIT-BIH Noise Stress Test Database's noise records ``bw`` and ``em`` (NOT real
noise): the artefacts of the embedded default's artefact-removal task, where the real records are not at hand.

The real records (Moody, Muldrow and Mark 1984; PhysioNet ``nstdb`` 1.0.0) are two-channel, 360-Hz, 30-min
recordings of baseline wander (``bw``) and electrode motion (``em``) from an active subject, taken where
the ECG is barely visible. :func:`simulate_nstdb_like` draws a new Gaussian process whose spectrum is that of
one real record's channel, two independent channels per call (channel 0 like the real channel 0, channel 1
like channel 1), in millivolts, at any rate and duration.

The model of one channel (fitted per record and channel by :func:`fit_channel`, constants below)
    ``x(t) = g_low(t) + e(t) g_high(t)``: ``g_low`` and ``g_high`` are independent stationary Gaussian
    processes with the real channel's power spectral density below and above :data:`CROSSOVER_HZ`; ``e`` is a
    slowly varying amplitude envelope, ``e = exp(sigma u - sigma^2)`` with ``u`` a unit Ornstein-Uhlenbeck
    process of time constant ``tau`` (so ``E[e^2] = 1``: the envelope changes where the power is, not how much
    there is). Electrode motion comes in bursts lasting tens to hundreds of seconds, in the part of the
    spectrum above about 1 Hz (in ``em`` channel 0 that part carries 54 % of the variance, its 1-s log-RMS has
    an sd of 0.52 and stays correlated over tens of seconds, and it is uncorrelated with the power below
    0.7 Hz): the envelope models them. Baseline wander is almost all below 0.5 Hz and its envelope fit is
    minor.

The spectrum: a piecewise-constant PSD on :data:`BIN_EDGES`
    (one bin below 0.05 Hz, then 12 log-spaced bins per decade up to 180 Hz, the edges including the
    comparison bands' limits 0.5, 1, 5, 20, 50 Hz and the crossover 0.7 Hz), each bin's level the mean of the
    real channel's Welch PSD (Hann windows of 2^16 samples = 182 s, half overlap) over it. So the simulated
    band powers equal the real ones in expectation, with bins 0.01-0.1 Hz wide where baseline wander lives
    (0.05-0.4 Hz). Why not an autoregressive model: at 360 Hz 98 % of ``bw``'s power lies below 0.5 Hz,
    three decades under Nyquist, where an AR(p) of moderate order needs poles within 1e-3 of the unit circle
    and its Yule-Walker equations are ill-conditioned; the binned PSD is exact at every rate without
    resampling. A process is drawn by spectral shaping of white noise (:func:`shaped_noise`), over at least
    :data:`MIN_SPAN_S` so that a short request still holds the slow components, then cut to length.

Above 180 Hz (the real records' Nyquist frequency) the simulated PSD is 0; at a rate below 360 Hz the bins
above the new Nyquist frequency are simply absent, as after anti-aliased resampling.

Refit the constants and compare simulated with real records: ``python benchmarks/fit_noise_models.py``
(band powers 0-0.5, 0.5-1, 1-5, 5-20, 20-50 Hz, amplitude quantiles, envelope statistics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import signal as sps

__all__ = [
    "KINDS",
    "BANDS",
    "BIN_EDGES",
    "CROSSOVER_HZ",
    "MODELS",
    "TARGETS",
    "simulate_nstdb_like",
    "simulate_channel",
    "band_fractions",
    "fit_channel",
]

KINDS: tuple[str, ...] = ("bw", "em")
#: The frequency bands (Hz) in which simulated and real spectra are compared.
BANDS: tuple[tuple[float, float], ...] = ((0.0, 0.5), (0.5, 1.0), (1.0, 5.0), (5.0, 20.0), (20.0, 50.0))
#: Below: stationary; above: modulated by the envelope (see the module docstring).
CROSSOVER_HZ = 0.7
#: The shortest stretch simulated before cutting (s): ten periods of the lowest bin's upper edge (0.05 Hz).
MIN_SPAN_S = 200.0
#: Window of the log-RMS envelope statistics (s) and the number of lags (windows) fitted.
ENVELOPE_WINDOW_S = 1.0
ENVELOPE_LAGS = 60
#: Sampling rate of the real records (Hz): the highest simulated frequency is half of it.
NSTDB_FS = 360.0


def _bin_edges(per_decade: int = 12) -> np.ndarray:
    """``[0, 0.05, ..., 180]`` Hz: one bin below 0.05 Hz (9 Welch frequencies of the fit), then log-spaced,
    about ``per_decade`` bins per decade between fixed limits (the narrowest, 0.011 Hz, holds 2)."""
    limits = [0.05, 0.5, CROSSOVER_HZ, 1.0, 5.0, 20.0, 50.0, NSTDB_FS / 2]
    edges = [0.0]
    for lo, hi in zip(limits[:-1], limits[1:]):
        k = max(1, int(round(per_decade * np.log10(hi / lo))))
        edges.extend(np.geomspace(lo, hi, k + 1)[:-1])
    edges.append(limits[-1])
    return np.asarray(edges)


#: Edges (Hz) of the bins of the piecewise-constant PSD.
BIN_EDGES: np.ndarray = _bin_edges()


# ----------------------------------------------------------------------------- fitted constants
# BEGIN FITTED (written by `python benchmarks/fit_noise_models.py --write` from nstdb 1.0.0 bw and em)
# fmt: off
#: Per kind, per channel: ``psd`` (mV^2/Hz per bin of :data:`BIN_EDGES`), ``sigma`` and ``tau_s`` of the
#: envelope of the part above :data:`CROSSOVER_HZ`.
MODELS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "bw": (
        {"sigma": 0.3582, "tau_s": 42.03,
         "psd": (0.010355, 0.12897, 0.31793, 0.78349, 3.1744, 2.3426, 1.4296, 0.67552, 0.17436, 0.10942, 0.077131,
                 0.052301, 0.02145, 0.0078336, 0.0044041, 0.0028947, 0.0027197, 0.00091292, 0.00030473, 0.00028193,
                 0.00015333, 5.8194e-05, 3.8385e-05, 1.9893e-05, 1.6085e-05, 1.53e-05, 8.5178e-06, 6.52e-06,
                 5.8582e-06, 6.2136e-06, 8.7789e-06, 6.5225e-06, 5.3333e-06, 5.2053e-06, 5.0177e-06, 4.6869e-06,
                 4.1161e-06, 3.0754e-06, 1.8339e-06, 9.4261e-07, 4.2871e-07, 2.2322e-07, 1.3669e-07, 1.0756e-07)},
        {"sigma": 0.0524, "tau_s": 110.34,
         "psd": (0.0033765, 0.016465, 0.040955, 0.18832, 0.25479, 0.35564, 0.25138, 0.12995, 0.034324, 0.021556,
                 0.01124, 0.0058294, 0.0022297, 0.00073332, 0.0002484, 0.00019063, 0.0010788, 0.00010251, 4.222e-05,
                 2.3133e-05, 1.7414e-05, 1.0471e-05, 1.6672e-05, 5.0354e-06, 5.4593e-06, 3.2737e-06, 2.6559e-06,
                 2.008e-06, 1.9933e-06, 1.7583e-06, 1.6937e-06, 1.6432e-06, 1.4839e-06, 1.3775e-06, 1.4357e-06,
                 1.2052e-06, 1.1338e-06, 8.8329e-07, 7.5713e-07, 5.128e-07, 3.447e-07, 1.974e-07, 1.1029e-07,
                 6.2294e-08)},
    ),
    "em": (
        {"sigma": 0.444, "tau_s": 53.75,
         "psd": (0.015599, 0.13015, 0.12025, 0.27529, 0.61492, 0.96441, 1.7401, 2.8579, 0.3212, 0.20811, 0.099441,
                 0.092902, 0.076362, 0.041982, 0.023633, 0.032543, 0.57637, 0.082333, 0.013005, 0.025072, 0.1642,
                 0.0095143, 0.069184, 0.010446, 0.009632, 0.014981, 0.0080385, 0.0036883, 0.0021803, 0.0017153,
                 0.00070688, 0.00035255, 0.00014284, 8.7951e-05, 5.4451e-05, 3.4352e-05, 2.2576e-05, 1.347e-05,
                 7.4573e-06, 3.3826e-06, 1.481e-06, 8.986e-07, 7.8997e-07, 7.9468e-07)},
        {"sigma": 0.1346, "tau_s": 8.44,
         "psd": (0.0037464, 0.010348, 0.016615, 0.048662, 0.10617, 0.11023, 0.23267, 0.50717, 0.06201, 0.022568,
                 0.01002, 0.0064669, 0.0049306, 0.0020974, 0.0009794, 0.00080601, 0.014656, 0.0013952, 0.00021216,
                 0.0010071, 0.0037042, 0.0001465, 0.00045958, 0.00017945, 0.00015215, 0.00022134, 0.00030158,
                 0.00016712, 8.4002e-05, 8.0309e-05, 3.9349e-05, 2.9268e-05, 1.7337e-05, 1.1873e-05, 8.2712e-06,
                 5.2876e-06, 3.709e-06, 2.5137e-06, 1.6094e-06, 9.0936e-07, 4.6716e-07, 2.5996e-07, 1.6722e-07,
                 1.242e-07)},
    ),
}
#: Per kind, per channel, the real record's numbers the simulation must reproduce: ``fractions`` (share of
#: the power in each of :data:`BANDS`, Welch PSD as in the fit) and ``sd_mv``.
TARGETS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "bw": (
        {"sd_mv": 0.46589, "fractions": (0.98626, 0.00962, 0.00249, 0.00055, 0.00068)},
        {"sd_mv": 0.17819, "fractions": (0.98482, 0.0094, 0.00232, 0.00094, 0.00124)},
    ),
    "em": (
        {"sd_mv": 0.73015, "fractions": (0.41771, 0.19619, 0.29882, 0.08337, 0.00324)},
        {"sd_mv": 0.20476, "fractions": (0.81911, 0.06808, 0.06882, 0.0362, 0.00587)},
    ),
}
# fmt: on
# END FITTED


# ----------------------------------------------------------------------------- simulation
def _check(kind: str, duration_s: float, fs: float) -> int:
    if kind not in KINDS:
        raise ValueError(f"unknown NSTDB noise kind {kind!r}; known: {KINDS}")
    if not (np.isfinite(fs) and fs > 0):
        raise ValueError(f"sampling rate must be a positive number of Hz (got {fs!r})")
    n = int(round(float(duration_s) * float(fs)))
    if not (np.isfinite(duration_s) and n >= 1):
        raise ValueError(f"duration must give at least one sample at {fs} Hz (got {duration_s!r} s)")
    return n


def psd_on_grid(psd_bins: Sequence[float], freqs: np.ndarray, low: bool | None = None) -> np.ndarray:
    """The piecewise-constant PSD at ``freqs`` (0 at DC and above the last edge); ``low`` True / False keeps
    only the part below / above :data:`CROSSOVER_HZ`."""
    psd_bins = np.asarray(psd_bins, float)
    idx = np.searchsorted(BIN_EDGES, freqs, side="right") - 1
    inside = (freqs > 0) & (idx >= 0) & (idx < psd_bins.size)
    out = np.where(inside, psd_bins[np.clip(idx, 0, psd_bins.size - 1)], 0.0)
    if low is True:
        out = np.where(freqs < CROSSOVER_HZ, out, 0.0)
    elif low is False:
        out = np.where(freqs >= CROSSOVER_HZ, out, 0.0)
    return out


def shaped_noise(rng: np.random.Generator, n: int, fs: float, psd: np.ndarray) -> np.ndarray:
    """A stationary Gaussian sequence of ``n`` samples with one-sided PSD ``psd`` (mV^2/Hz) on
    ``rfftfreq(n, 1/fs)``: white noise (one-sided PSD ``2 / fs``) filtered by ``sqrt(psd fs / 2)`` in the
    frequency domain."""
    w = np.fft.rfft(rng.standard_normal(n))
    return np.fft.irfft(w * np.sqrt(np.asarray(psd) * fs / 2.0), n)


def envelope(rng: np.random.Generator, n: int, fs: float, sigma: float, tau_s: float) -> np.ndarray:
    """``exp(sigma u - sigma^2)`` at ``n`` samples: ``u`` a unit Ornstein-Uhlenbeck process of time constant
    ``tau_s``, drawn exactly on a 1-s grid (AR(1) with ``rho = exp(-1 / tau)``) and linearly interpolated."""
    if sigma <= 0:
        return np.ones(n)
    k = int(np.ceil(n / fs)) + 2
    rho = float(np.exp(-1.0 / max(tau_s, 1e-9)))
    u = np.empty(k)
    u[0] = rng.standard_normal()
    eps = rng.standard_normal(k - 1) * np.sqrt(1.0 - rho * rho)
    for i in range(1, k):
        u[i] = rho * u[i - 1] + eps[i - 1]
    t = np.arange(n) / fs
    return np.exp(sigma * np.interp(t, np.arange(k), u) - sigma * sigma)


def simulate_channel(model: Mapping[str, Any], n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples (mV) of one channel's model (``psd``, ``sigma``, ``tau_s``; see the module docstring),
    simulated over at least :data:`MIN_SPAN_S` and cut to its first ``n`` samples."""
    n_sim = max(n, int(np.ceil(MIN_SPAN_S * fs)))
    f = np.fft.rfftfreq(n_sim, 1.0 / fs)
    low = shaped_noise(rng, n_sim, fs, psd_on_grid(model["psd"], f, low=True))
    high = shaped_noise(rng, n_sim, fs, psd_on_grid(model["psd"], f, low=False))
    env = envelope(rng, n_sim, fs, float(model["sigma"]), float(model["tau_s"]))
    return (low + env * high)[:n]


def simulate_nstdb_like(kind: str, duration_s: float, fs: float, seed: int) -> np.ndarray:
    """Simulated noise like NSTDB record ``kind`` (``"bw"`` or ``"em"``): ``[2, round(duration_s * fs)]`` in
    mV, two independent channels (each from its own random stream of ``seed``) with the spectra and envelope
    statistics of the real record's channels 0 and 1. Deterministic for ``(kind, duration_s, fs, seed)``."""
    n = _check(kind, duration_s, fs)
    if kind not in MODELS:
        raise RuntimeError(f"no fitted model for {kind!r}: run benchmarks/fit_noise_models.py")
    streams = np.random.SeedSequence([int(seed), 0x4E57, KINDS.index(kind)]).spawn(2)
    return np.stack(
        [simulate_channel(MODELS[kind][c], n, float(fs), np.random.default_rng(streams[c])) for c in range(2)]
    )


# ----------------------------------------------------------------------------- fitting and comparison
def welch_psd(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD (mV^2/Hz) of a mean-removed channel: Hann windows of about 182 s (2^16 samples at 360 Hz,
    fewer when ``x`` is shorter), half overlap."""
    nper = int(min(len(x), 2 ** int(round(np.log2(182.0 * fs)))))
    return sps.welch(np.asarray(x, float) - np.mean(x), fs=fs, nperseg=nper)


def band_fractions(x: np.ndarray, fs: float, bands: Sequence[tuple[float, float]] = BANDS) -> np.ndarray:
    """Share of the total power (Welch PSD, :func:`welch_psd`) in each band ``[lo, hi)`` Hz."""
    f, p = welch_psd(x, fs)
    total = np.sum(p[1:])
    return np.array([np.sum(p[(f >= lo) & (f < hi) & (f > 0)]) / total for lo, hi in bands])


def fit_psd(x: np.ndarray, fs: float = NSTDB_FS) -> np.ndarray:
    """Level (mV^2/Hz) of each bin of :data:`BIN_EDGES`: the mean of the Welch PSD over the bin (DC left out)."""
    f, p = welch_psd(x, fs)
    out = np.empty(BIN_EDGES.size - 1)
    for i, (lo, hi) in enumerate(zip(BIN_EDGES[:-1], BIN_EDGES[1:])):
        sel = (f > 0) & (f >= lo) & (f < hi)
        if not sel.any():
            raise ValueError(f"bin {lo:.4g}-{hi:.4g} Hz holds no Welch frequency: the record is too short")
        out[i] = float(np.mean(p[sel]))
    return out


def high_part(x: np.ndarray, fs: float) -> np.ndarray:
    """The part of ``x`` above :data:`CROSSOVER_HZ` (zero-phase Butterworth high-pass of order 4)."""
    sos = sps.butter(4, CROSSOVER_HZ, "highpass", fs=fs, output="sos")
    return sps.sosfiltfilt(sos, np.asarray(x, float) - np.mean(x))


def log_rms_autocovariance(x: np.ndarray, fs: float) -> tuple[float, np.ndarray]:
    """Variance and autocovariance at lags 1..:data:`ENVELOPE_LAGS` of the log-RMS of ``x`` over consecutive
    :data:`ENVELOPE_WINDOW_S` windows."""
    w = int(round(ENVELOPE_WINDOW_S * fs))
    m = len(x) // w
    lr = np.log(np.sqrt(np.mean(np.asarray(x[: m * w]).reshape(m, w) ** 2, axis=1)))
    d = lr - lr.mean()
    acov = np.array([np.mean(d[k:] * d[:-k]) for k in range(1, ENVELOPE_LAGS + 1)])
    return float(d.var()), acov


def fit_envelope(x: np.ndarray, psd: np.ndarray, fs: float, rng: np.random.Generator) -> tuple[float, float]:
    """``(sigma, tau_s)`` of the envelope of the part of ``x`` above :data:`CROSSOVER_HZ`.

    The log-RMS of the real part over 1-s windows is ``log e + log r``, ``r`` the RMS of the stationary part
    (independent of ``e``). Its autocovariance at lags ``k >= 1`` is therefore ``sigma^2 rho^k +
    cov_r(k)``, ``rho = exp(-1 s / tau)``; ``cov_r`` is measured on a stationary simulation of the same
    spectrum and length, and ``(sigma^2, tau)`` fitted to the difference by least squares
    (``scipy.optimize.curve_fit``, ``sigma^2 >= 0``, 1 s <= tau <= 3600 s). (The lag-0 variance is left out:
    it holds the estimation noise of a 1-s RMS.) A difference with no positive lag gives ``sigma = 0``.
    """
    from scipy.optimize import curve_fit

    real = high_part(x, fs)
    f = np.fft.rfftfreq(len(x), 1.0 / fs)
    stationary = shaped_noise(rng, len(x), fs, psd_on_grid(psd, f, low=False))
    _, cov_real = log_rms_autocovariance(real, fs)
    _, cov_stat = log_rms_autocovariance(stationary, fs)
    diff = cov_real - cov_stat
    lags = np.arange(1, ENVELOPE_LAGS + 1, dtype=float)
    if not np.any(diff > 0):
        return 0.0, 1.0
    start = (max(float(diff[0]), 1e-6), 10.0)
    (s2, tau), _ = curve_fit(
        lambda k, s2, tau: s2 * np.exp(-k / tau), lags, diff, p0=start, bounds=([0.0, 1.0], [10.0, 3600.0])
    )
    return float(np.sqrt(s2)), float(tau)


def fit_channel(x: np.ndarray, fs: float, rng: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model (``psd``, ``sigma``, ``tau_s``) and the targets (``fractions``, ``sd_mv``) of one real channel."""
    psd = fit_psd(x, fs)
    sigma, tau = fit_envelope(x, psd, fs, rng)
    model = {"psd": [float(f"{v:.5g}") for v in psd], "sigma": round(sigma, 4), "tau_s": round(tau, 2)}
    target = {
        "fractions": [round(float(v), 5) for v in band_fractions(x, fs)],
        "sd_mv": round(float(np.std(x)), 5),
    }
    return model, target
