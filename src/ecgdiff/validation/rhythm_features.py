"""Measurements that tell the simulated cohort's classes apart, on the signal (not on the simulator's parameters).

Used by ``tests/unit/test_synthetic.py`` and ``benchmarks/synthetic_classes.py`` to check that bundle branch
block and atrial fibrillation look like themselves, and to put the same numbers next to LUDB's records:

- :func:`median_beat`: the record filtered as beats are (``beats.filter_signal``), the median over beats
  aligned on given R peaks.
- :func:`qrs_bounds`: QRS onset and offset from the spatial velocity (``ecgdiff.qt.spatial_velocity``) of the
  eight independent leads of a median beat. ``ecgdiff.qt.qrs_bounds`` (5 % of the maximum held for 12 ms)
  suits normal QRS complexes; in a wide one the slopes of the last waves are low and a discordant ST-T follows
  at once, and its offset falls in the T wave. Here the QRS spans from the first to the last sample within
  100 ms of R whose velocity exceeds 20 % of the maximum there, extended outwards to where the velocity falls
  below 10 %: for one Gaussian wave of sd ``s`` that is ``2 * 2.765 s`` (tested), and on the healthy simulated
  beats the width is the simulator's ``qrs_ms`` + 1 +- 9 ms.
- :func:`p_coherence`: how much of the window before the QRS is time-locked to it (a P wave: near 1; f-waves
  and other activity unrelated to R: about 1 / beats).
- :func:`qrst_cancelled_spectrum`: Welch spectrum of a lead after average beat subtraction (the median QRST
  subtracted at every beat; Slocum et al. 1992), where f-waves show as a 4-9 Hz peak.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import signal as sps

from .. import leads as L
from .. import qt


def median_beat(
    signal: np.ndarray, peaks: np.ndarray, fs: float, before_s: float = 0.3, after_s: float = 0.5
) -> tuple[np.ndarray, int]:
    """Median beat ``[leads, before + after]`` of the filtered record and the index of R in it."""
    from ..data import beats

    y = beats.filter_signal(np.asarray(signal, float), fs)
    a, b = int(round(before_s * fs)), int(round(after_s * fs))
    keep = [int(r) for r in peaks if a <= r < y.shape[1] - b]
    if not keep:
        raise ValueError("no beat far enough from the record's ends for a median beat")
    return np.median(np.stack([y[:, r - a : r + b] for r in keep]), axis=0), a


def qrs_bounds(
    beat: np.ndarray,
    r_index: int,
    fs: float,
    leads: Sequence[str] = L.STANDARD_12,
    peak: float = 0.2,
    edge: float = 0.1,
    reach_s: float = 0.1,
) -> tuple[int, int]:
    """QRS onset and offset (samples) of a median beat (module docstring). ``leads`` names the rows of ``beat``;
    the velocity is that of the independent leads :data:`ecgdiff.leads.BASIS` among them."""
    rows = L.indices([n for n in L.BASIS if n in L.canonical_all(leads)], leads)
    v = qt.spatial_velocity(np.asarray(beat)[rows])
    w = int(round(reach_s * fs))
    lo, hi = max(0, r_index - w), min(v.size, r_index + w + 1)
    top = v[lo:hi].max()
    if not top > 0:
        raise ValueError("flat beat: no QRS")
    v = v / top
    high = np.flatnonzero(v[lo:hi] >= peak) + lo
    on, off = int(high[0]), int(high[-1])
    while on > 0 and v[on] >= edge:
        on -= 1
    while off < v.size - 1 and v[off] >= edge:
        off += 1
    return on, off


def qrs_ms(beat: np.ndarray, r_index: int, fs: float, leads: Sequence[str] = L.STANDARD_12) -> float:
    """QRS duration (ms) of a median beat by :func:`qrs_bounds`."""
    on, off = qrs_bounds(beat, r_index, fs, leads)
    return (off - on) * 1000.0 / fs


def p_coherence(lead: np.ndarray, peaks: np.ndarray, fs: float, start_s: float = 0.25, end_s: float = 0.06) -> float:
    """``|mean segment|^2 / mean |segment|^2`` over the windows ``[R - start_s, R - end_s]`` of every beat,
    each detrended (so a T wave's tail or baseline drift counts for little)."""
    a, b = int(round(start_s * fs)), int(round(end_s * fs))
    seg = np.stack([sps.detrend(lead[r - a : r - b]) for r in peaks if r >= a])
    return float(np.sum(seg.mean(axis=0) ** 2) / np.mean(np.sum(seg**2, axis=1)))


def qrst_cancelled_spectrum(
    lead: np.ndarray, peaks: np.ndarray, fs: float, before_s: float = 0.1, after_s: float = 0.45
) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and Welch PSD (mV^2/Hz, segments of about 2 s) of ``lead`` (filtered) after subtracting the
    median of ``[R - before_s, R + after_s]`` at every beat, from the first beat's window to the last's."""
    a, b = int(round(before_s * fs)), int(round(after_s * fs))
    keep = [int(r) for r in peaks if a <= r < lead.size - b]
    residual = np.array(lead, float)
    template = np.median(np.stack([residual[r - a : r + b] for r in keep]), axis=0)
    for r in keep:
        residual[r - a : r + b] -= template
    part = residual[keep[0] - a : keep[-1] + b]
    return sps.welch(part, fs=fs, nperseg=min(part.size, int(2 ** round(np.log2(2.0 * fs)))))


def band_power(freqs: np.ndarray, psd: np.ndarray, lo: float, hi: float) -> float:
    """Power (mV^2) of a PSD in ``[lo, hi]`` Hz (trapezoidal rule)."""
    sel = (freqs >= lo) & (freqs <= hi)
    return float(np.trapezoid(psd[sel], freqs[sel]))


def rr_cv(peaks: np.ndarray) -> float:
    """Coefficient of variation of the RR intervals of a peak sequence."""
    rr = np.diff(np.asarray(peaks, float))
    return float(rr.std() / rr.mean())
