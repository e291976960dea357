"""Classical artefact-removal baselines for the rhythm artefact-removal table (baseline wander, electrode motion).

Both act on rhythms ``[..., T]`` (time last, millivolts) whose first ``length`` samples are the signal and
the rest zero padding: they filter the valid samples only and return the padding as zeros.

- :func:`highpass` (baseline wander): a zero-phase Butterworth high-pass, the beat pipeline's own
  filter (:func:`ecgdiff.data.beats.filter_signal` without its notches; ``scipy.signal.sosfiltfilt``).
  Default cut-off 0.67 Hz: the highest low-frequency cut-off the AHA/ACCF/HRS recommendations allow for
  zero-phase (bidirectional) filtering of diagnostic ECGs (Kligfield et al. 2007, Circulation 115:1306,
  recommendation on low-frequency response); order 5, the order of the rhythm and beat pipelines'
  0.6-Hz high-pass (paper 2.4, the talk's preprocessing), so that the baseline removes what the data
  pipeline itself would and little else (the clean rhythms have no content below 0.6 Hz).
- :func:`median_baseline` (electrode motion): the two-stage median-filter baseline of de Chazal,
  O'Dwyer and Reilly (2004, IEEE Trans. Biomed. Eng. 51(7):1196, section II-B): a 200-ms median removes
  QRS complexes and P waves, a 600-ms median of its output removes T waves, and the result, the slow
  baseline, is subtracted. Windows are rounded to an odd number of samples (21 and 61 at 100 Hz); edges
  are reflected (``scipy.ndimage.median_filter``, ``mode="reflect"``) instead of zero-padded, which
  would pull the baseline towards 0 at both ends of the window.

Electrode-motion artefact overlaps the ECG's spectrum, so neither filter can remove it fully. On the 200
LUDB rhythms with NSTDB test noise (``benchmarks/descod_filters.py``) the median baseline has the lower
error for both kinds (RMSE over 8 leads, mV: bw at 2 x peak-to-peak 0.496 noisy, 0.078 high-pass,
0.062 median; em at 1 x 0.195, 0.089, 0.079). A wavelet-shrinkage baseline would need PyWavelets, which is
not a dependency; it is not provided.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..data.beats import BeatParams, filter_signal


def _valid(x: np.ndarray, length: int | None) -> tuple[np.ndarray, int]:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1:
        raise ValueError("filters: expected an array with time on the last axis")
    n = x.shape[-1] if length is None else int(length)
    if not 0 < n <= x.shape[-1]:
        raise ValueError(f"filters: length {length} outside 1..{x.shape[-1]}")
    if not np.isfinite(x[..., :n]).all():
        raise ValueError("filters: non-finite samples in the signal")
    return x, n


def _padded(y: np.ndarray, like: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros_like(like)
    out[..., :n] = y
    return out


@dataclass(frozen=True)
class HighpassConfig:
    """Baseline-wander filter: zero-phase Butterworth high-pass (see the module docstring for the defaults)."""

    cutoff_hz: float = 0.67
    order: int = 5

    def __post_init__(self) -> None:
        if not self.cutoff_hz > 0:
            raise ValueError(f"highpass cutoff_hz must be > 0, got {self.cutoff_hz}")
        if int(self.order) < 1:
            raise ValueError(f"highpass order must be >= 1, got {self.order}")


def highpass(
    x: np.ndarray, fs: float, config: HighpassConfig = HighpassConfig(), length: int | None = None
) -> np.ndarray:
    """Zero-phase Butterworth high-pass of ``x [..., T]`` over its first ``length`` samples (all by default)."""
    x, n = _valid(x, length)
    if not config.cutoff_hz < fs / 2:
        raise ValueError(f"highpass cut-off {config.cutoff_hz} Hz is not below the Nyquist frequency {fs / 2} Hz")
    params = BeatParams(notch_hz=(), highpass_hz=float(config.cutoff_hz), highpass_order=int(config.order))
    return _padded(filter_signal(x[..., :n], fs, params), x, n)


@dataclass(frozen=True)
class MedianConfig:
    """Electrode-motion filter: median windows in milliseconds (de Chazal et al. 2004: 200 and 600 ms)."""

    windows_ms: tuple[float, ...] = (200.0, 600.0)

    def __post_init__(self) -> None:
        if not self.windows_ms or any(w <= 0 for w in self.windows_ms):
            raise ValueError(f"median windows_ms must be positive, got {self.windows_ms}")


def window_samples(ms: float, fs: float) -> int:
    """A median window of ``ms`` milliseconds as an odd number of samples (at least 1)."""
    k = int(round(ms * fs / 1000.0))
    return max(1, k + 1 - k % 2)


def estimate_baseline(
    x: np.ndarray, fs: float, config: MedianConfig = MedianConfig(), length: int | None = None
) -> np.ndarray:
    """The cascade of median filters of ``x [..., T]`` (time last): the slow baseline, padding zero."""
    x, n = _valid(x, length)
    b = x[..., :n]
    for ms in config.windows_ms:
        k = window_samples(ms, fs)
        if k > n:
            raise ValueError(f"median window of {ms} ms ({k} samples) is longer than the signal ({n} samples)")
        b = ndimage.median_filter(b, size=(1,) * (b.ndim - 1) + (k,), mode="reflect")
    return _padded(b, x, n)


def median_baseline(
    x: np.ndarray, fs: float, config: MedianConfig = MedianConfig(), length: int | None = None
) -> np.ndarray:
    """``x`` minus its median-filter baseline (:func:`estimate_baseline`) over the valid samples."""
    x, n = _valid(x, length)
    out = x - estimate_baseline(x, fs, config, n)
    out[..., n:] = 0.0
    return out
