"""QT interval measurement on single beats, and the QT-RR laws of paper 3.3.3 (table 2).

Measurement (all positions in samples of the beat window, fractional where interpolated):

- **QRS onset and offset** (:func:`qrs_bounds`): from the spatial velocity
  ``v[t] = sqrt(sum_l (dx_l/dt)^2)`` over all leads (after light Gaussian smoothing). Starting
  at the R peak and walking outwards, the onset (offset) is the sample nearest the R peak that begins
  a run of ``run`` consecutive samples with ``v < threshold * max(v)`` (max over R +- 100 ms).
  Where the QRS is observed and the T wave generated (the QT task), onset and offset come from the
  observed beat.
- **Isoelectric level** of a lead: median of the 20 ms before the QRS onset (the PR segment).
- **T end** (:func:`t_end_tangent`): the tangent method. In the T window (from ``offset + 40 ms`` to the
  end of the beat) the T peak is the sample of largest ``|x - baseline|``; on its descending limb
  (up to 200 ms after the peak) the tangent at the steepest point is intersected with the isoelectric
  level. For a T wave whose descending limb is a straight line the intersection is exactly where the
  line meets the baseline; for a Gaussian T wave ``A exp(-(t-m)^2 / (2 s^2))`` it is ``m + 2 s``.
- **Lead**: the lead with the largest T-wave amplitude (:func:`t_wave_lead`); choose it once per
  patient so that every beat of a sweep is measured on the same lead.
- ``QT = (t_end - qrs_onset) / fs``.

A beat whose T end cannot be measured (no T wave above ``min_t_amplitude`` relative to the lead's
range, a flat descending limb, or a tangent that leaves the window) raises :class:`QTError`.

QT-RR laws (RR and QT in seconds), fitted by least squares per patient:

=====================  ==============================  ===========
Framingham             QT = QTc + 0.154 (1 - RR)       1 parameter
Bazett                 QT = QTc RR^(1/2)               1 parameter
Bazett with offset     QT = a RR^(1/2) + b             2 parameters
Fridericia             QT = QTc RR^(1/3)               1 parameter
Fridericia with offset QT = a RR^(1/3) + b             2 parameters
=====================  ==============================  ===========
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d


class QTError(ValueError):
    """The QT interval of a beat cannot be measured; the message says why."""


@dataclass(frozen=True)
class QTMeasurement:
    """One QT measurement (positions in fractional samples of the beat window)."""

    q_onset: float
    qrs_offset: float
    t_peak: int
    t_end: float
    lead: int
    baseline: float
    fs: float

    @property
    def qt_ms(self) -> float:
        return 1000.0 * (self.t_end - self.q_onset) / self.fs


def smooth(x: np.ndarray, sd: float) -> np.ndarray:
    """Gaussian smoothing (standard deviation ``sd`` samples) along the last axis; ``sd <= 0``: unchanged.

    A positive kernel never steepens a slope (the smoothed derivative stays within the range of the
    original one) and leaves straight segments unchanged away from their ends, so the steepest point
    of a T wave's descending limb is not displaced by overshoot, as it would be with Savitzky-Golay.
    """
    x = np.asarray(x, dtype=np.float64)
    if sd <= 0:
        return x
    return gaussian_filter1d(x, sd, axis=-1, mode="nearest")


def spatial_velocity(beat: np.ndarray, smoothing: float = 1.0) -> np.ndarray:
    """``sqrt(sum_l (dx_l/dt)^2)`` of a beat ``[L, T]`` (per sample)."""
    beat = smooth(np.atleast_2d(beat), smoothing)
    return np.sqrt(np.sum(np.gradient(beat, axis=-1) ** 2, axis=0))


def qrs_bounds(
    beat: np.ndarray,
    r_index: int,
    fs: float,
    threshold: float = 0.05,
    run_ms: float = 12.0,
    search_ms: float = 160.0,
    smoothing: float = 1.0,
) -> tuple[float, float]:
    """QRS onset and offset (sample indices) of ``beat [L, T]`` with its R peak at ``r_index``."""
    v = spatial_velocity(beat, smoothing)
    n = v.size
    half = int(round(0.1 * fs))
    vmax = v[max(0, r_index - half) : min(n, r_index + half + 1)].max()
    if not vmax > 0:
        raise QTError("flat beat: no QRS")
    low = v < threshold * vmax
    run = max(1, int(round(run_ms * fs / 1000.0)))
    reach = int(round(search_ms * fs / 1000.0))
    onset = offset = None
    for i in range(r_index, max(run - 1, r_index - reach) - 1, -1):
        if low[i - run + 1 : i + 1].all():
            onset = i
            break
    for i in range(r_index, min(n - run, r_index + reach) + 1):
        if low[i : i + run].all():
            offset = i
            break
    if onset is None or offset is None:
        raise QTError(f"QRS {'onset' if onset is None else 'offset'} not found within {search_ms:.0f} ms of R")
    return float(onset), float(offset)


def isoelectric_level(signal: np.ndarray, q_onset: float, fs: float, window_ms: float = 20.0) -> float:
    """Median of ``signal`` over the ``window_ms`` before the QRS onset (the PR segment)."""
    end = int(np.floor(q_onset)) + 1
    start = max(0, end - max(2, int(round(window_ms * fs / 1000.0))))
    if end - start < 1:
        raise QTError("no PR segment before the QRS onset")
    return float(np.median(np.asarray(signal)[start:end]))


def t_end_tangent(
    signal: np.ndarray,
    start: int,
    fs: float,
    baseline: float = 0.0,
    stop: int | None = None,
    limb_ms: float = 200.0,
    smoothing: float = 1.5,
    min_t_amplitude: float = 0.02,
) -> tuple[float, int]:
    """T end by the tangent method on one lead; returns ``(t_end, t_peak)`` in samples.

    Args:
        signal: ``[T]`` one lead of one beat.
        start: first sample of the T-wave search window (after the QRS).
        fs: sampling rate (Hz).
        baseline: isoelectric level the tangent is intersected with.
        stop: end of the search window (exclusive; default the end of the beat).
        limb_ms: how far after the T peak the steepest point is searched.
        smoothing: standard deviation (samples) of the Gaussian smoothing applied before differentiating.
        min_t_amplitude: the T wave must reach this fraction of the lead's peak-to-peak range.
    """
    x = smooth(np.asarray(signal, dtype=np.float64), smoothing)
    stop = x.size if stop is None else min(stop, x.size)
    if stop - start < 5:
        raise QTError("T-wave window is empty")
    dev = x[start:stop] - baseline
    peak = start + int(np.argmax(np.abs(dev)))
    amp = x[peak] - baseline
    span = np.ptp(x)
    if span <= 0 or abs(amp) < min_t_amplitude * span:
        raise QTError(f"no T wave (amplitude {abs(amp):.3g} < {min_t_amplitude} x lead range {span:.3g})")
    sign = np.sign(amp)
    grad = np.gradient(x)
    limb_end = min(stop, peak + int(round(limb_ms * fs / 1000.0)) + 1)
    if limb_end - peak < 3:
        raise QTError("T peak at the end of the window: no descending limb")
    limb = sign * grad[peak:limb_end]  # descending limb has negative signed slope
    steep = peak + int(np.argmin(limb))
    slope = grad[steep]
    if not sign * slope < 0:
        raise QTError("T wave has no descending limb within the window")
    t_end = steep + (baseline - x[steep]) / slope
    if not (peak <= t_end <= x.size - 1):
        raise QTError(f"tangent meets the baseline outside the beat (t_end = {t_end:.1f})")
    return float(t_end), peak


def t_wave_lead(beat: np.ndarray, q_onset: float, qrs_offset: float, fs: float, st_ms: float = 40.0) -> int:
    """Index of the lead with the largest T-wave amplitude (``|x - isoelectric|`` after the ST segment)."""
    beat = np.atleast_2d(np.asarray(beat, dtype=np.float64))
    start = int(np.ceil(qrs_offset + st_ms * fs / 1000.0))
    if start >= beat.shape[1] - 5:
        raise QTError("no T-wave window after the QRS")
    amps = [np.max(np.abs(lead[start:] - isoelectric_level(lead, q_onset, fs))) for lead in beat]
    return int(np.argmax(amps))


def measure_qt(
    beat: np.ndarray,
    r_index: int,
    fs: float,
    q_onset: float | None = None,
    qrs_offset: float | None = None,
    lead: int | None = None,
    st_ms: float = 40.0,
    **tangent_options: float,
) -> QTMeasurement:
    """Measure the QT interval of ``beat [L, T]`` (R peak at ``r_index``).

    ``q_onset``/``qrs_offset`` default to :func:`qrs_bounds` of this beat; pass the observed beat's values
    when the QRS is observed. ``lead`` defaults to :func:`t_wave_lead`.
    """
    beat = np.atleast_2d(np.asarray(beat, dtype=np.float64))
    if q_onset is None or qrs_offset is None:
        on, off = qrs_bounds(beat, r_index, fs)
        q_onset = on if q_onset is None else q_onset
        qrs_offset = off if qrs_offset is None else qrs_offset
    if lead is None:
        lead = t_wave_lead(beat, q_onset, qrs_offset, fs, st_ms)
    base = isoelectric_level(beat[lead], q_onset, fs)
    start = int(np.ceil(qrs_offset + st_ms * fs / 1000.0))
    t_end, t_peak = t_end_tangent(beat[lead], start, fs, baseline=base, **tangent_options)
    return QTMeasurement(float(q_onset), float(qrs_offset), t_peak, t_end, int(lead), base, float(fs))


# --------------------------------------------------------------------------- QT-RR laws
@dataclass(frozen=True)
class QTLaw:
    """A QT-RR law: its formula and how to fit it (RR, QT in seconds)."""

    name: str
    formula: str
    fit: Callable[[np.ndarray, np.ndarray], dict[str, float]]
    predict: Callable[[dict[str, float], np.ndarray], np.ndarray]


@dataclass(frozen=True)
class QTFit:
    law: str
    params: dict[str, float] = field(default_factory=dict)
    r2: float = float("nan")


def _fit_through_origin(f: np.ndarray, qt: np.ndarray) -> dict[str, float]:
    return {"qtc": float(np.sum(f * qt) / np.sum(f * f))}


def _fit_affine(f: np.ndarray, qt: np.ndarray) -> dict[str, float]:
    a, b = np.polyfit(f, qt, 1)
    return {"qtc0": float(a), "qtc1": float(b)}


def _power_law(p: float, offset: bool) -> tuple[Callable, Callable]:
    if offset:
        return (lambda rr, qt: _fit_affine(rr**p, qt), lambda c, rr: c["qtc0"] * np.asarray(rr) ** p + c["qtc1"])
    return (lambda rr, qt: _fit_through_origin(rr**p, qt), lambda c, rr: c["qtc"] * np.asarray(rr) ** p)


FRAMINGHAM_SLOPE: float = 0.154

QT_LAWS: dict[str, QTLaw] = {
    "framingham": QTLaw(
        "Framingham",
        "QT = QTc + 0.154(1 - RR)",
        lambda rr, qt: {"qtc": float(np.mean(qt - FRAMINGHAM_SLOPE * (1 - rr)))},
        lambda c, rr: c["qtc"] + FRAMINGHAM_SLOPE * (1 - np.asarray(rr)),
    ),
    "bazett": QTLaw("Bazett", "QT = QTc RR^(1/2)", *_power_law(0.5, False)),
    "bazett_offset": QTLaw("Bazett with offset", "QT = QTc0 RR^(1/2) + QTc1", *_power_law(0.5, True)),
    "fridericia": QTLaw("Fridericia", "QT = QTc RR^(1/3)", *_power_law(1 / 3, False)),
    "fridericia_offset": QTLaw("Fridericia with offset", "QT = QTc0 RR^(1/3) + QTc1", *_power_law(1 / 3, True)),
}


def fit_qt_law(law: str, rr_s: np.ndarray, qt_s: np.ndarray) -> QTFit:
    """Least-squares fit of one QT-RR law; R^2 = 1 - SS_res / SS_tot (SS_tot about the mean QT)."""
    if law not in QT_LAWS:
        raise ValueError(f"unknown QT law {law!r}; known: {', '.join(QT_LAWS)}")
    rr = np.asarray(rr_s, dtype=np.float64)
    qt = np.asarray(qt_s, dtype=np.float64)
    ok = np.isfinite(rr) & np.isfinite(qt)
    if ok.sum() < 3:
        raise QTError(f"fit {law}: {int(ok.sum())} finite (RR, QT) pairs, need >= 3")
    rr, qt = rr[ok], qt[ok]
    spec = QT_LAWS[law]
    params = spec.fit(rr, qt)
    ss_tot = np.sum((qt - qt.mean()) ** 2)
    ss_res = np.sum((qt - spec.predict(params, rr)) ** 2)
    r2 = float(1 - ss_res / ss_tot) if ss_tot > 0 else float("nan")
    return QTFit(law, params, r2)
