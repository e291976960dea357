"""The embedded default data source: a seeded cohort of simulated 12-lead ECGs (NOT patient data).

Why a simulator
    The default workflow must run offline in minutes, yet every later task (conditional prior, QT vs RR,
    missing leads, MI detection) needs data with something to find. This module simulates such a cohort.

The waveform model
    The heart's electrical activity is the ECGSYN dynamical model of McSharry et al. (2003) in the
    multi-lead form of ``neurokit2.ecg_simulate(method="multileads")``: a point circles the unit limit
    cycle with angular velocity ``2*pi/RR`` and the lead voltage ``z`` obeys

        dz/dt = -sum_i a_i * dtheta_i * exp(-dtheta_i**2 / (2 b_i**2)) - (z - z_base(t))

    with one Gaussian-derivative "wave" ``i`` (P, Q, R, S, T) at angle ``theta_i`` of width ``b_i``.
    The equation is linear in ``z``: each wave contributes ``A * (G(t) - L(t))`` where ``G`` is a Gaussian
    in time (peak 1) and ``L`` its convolution with ``exp(-t)`` (closed form with ``erfc``). We therefore
    solve it exactly and vectorised (:func:`ecgsyn_leads`), instead of neurokit2's Runge-Kutta
    integration of one ODE per lead (0.8 s per 10-s 12-lead record; ours takes milliseconds).
    ``tests/unit/test_synthetic.py`` checks that with neurokit2's own parameters the two agree.

What differs from neurokit2's multi-lead output, and why
    - Leads are physically consistent: the eight independent leads (I, II, V1-V6) are the Dower
      projection of per-wave heart vectors (X, Y, Z) plus small per-lead non-dipolar factors, and
      III, aVR, aVL, aVF follow from Einthoven's and Goldberger's laws (:func:`ecgdiff.leads.derive`).
      neurokit2 scales every lead to [-0.4, 1.2] mV separately, which breaks those laws.
    - Wave times and widths are set per beat in seconds (not in phase), so the QRS duration does not
      change with RR, and the QT interval follows the preceding RR interval by Fridericia's law
      ``QT = QTc * RR**(1/3)`` (RR in s), beat by beat.
    - Realistic nuisance: baseline wander, power-line interference (50 or 60 Hz) and white noise.

What depends on the conditioning variables (age in years, sex, RR)
    - QTc: 410 ms (men) or 422 ms (women), +0.3 ms per year of age, +12 ms in the MI group, sd 12 ms.
    - QRS duration: 96 ms (men) or 88 ms (women), sd 7 ms; PR: 150 ms + 0.35 ms per year, sd 15 ms.
    - QRS voltage: x1.12 (men) or x0.90 (women), x exp(-0.006 (age - 50)), lognormal spread;
      T amplitude x exp(-0.004 (age - 50)).
    - Frontal QRS axis (about +45 degrees) shifts leftwards by 0.35 degrees per year of age (sd 18 degrees).
    - Heart rate: 70 bpm (men) or 73 bpm (women), sd 10; beat-to-beat variability (McSharry's
      LF/HF RR process) decreases with age.
    - Every beat's T wave is placed by its own preceding RR (Fridericia, above).

The abnormal subgroup (``label == "mi"``)
    An anterior ST-elevation pattern: ST elevation of 0.12-0.35 mV in V1-V4 (largest in V2-V3, some
    in V5), loss of the septal r wave in V1-V3, taller T waves in V2-V4 and a longer QTc. It is added
    to the precordial leads only, so the limb leads (and aVL, aVR, aVF) do not reveal it. The MI group
    is older (64 +- 11 years) and mostly male (73 %), like the paper's.

On disk (:func:`write_cohort`), under ``<resources_dir>/synthetic/<cohort_hash>/``:
    ``records/S0001.{hea,dat,atr}``: WFDB records, 12 leads in :data:`ecgdiff.leads.STANDARD_12`
    order, millivolts, with ``# Age``, ``# Sex``, ``# Label`` header comments and the true R peaks as
    a WFDB annotation (``atr``, symbol ``N``); ``metadata.csv``: one row per patient (see
    :data:`METADATA_COLUMNS`), ``r_peaks`` holding the true R-peak sample indices; ``cohort.json``:
    the resolved configuration, its hash, counts and the simulation time. Read it back with
    :func:`read_cohort`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from .. import leads as L
from ..io import atomic_path, read_json, write_json
from .records import Record, RecordError
from .synthetic_config import MODEL_VERSION, SyntheticConfig, cohort_hash

__all__ = [
    "MODEL_VERSION",
    "SyntheticConfig",
    "cohort_hash",
    "write_cohort",
    "read_cohort",
    "simulate_cohort",
    "simulate_one",
    "ecgsyn_leads",
    "neurokit_multileads",
]

log = logging.getLogger(__name__)

SOURCE = "synthetic"

#: Wave order of the waveform model. ``ST`` is zero except in the MI group.
WAVES: tuple[str, ...] = ("P", "Q", "R", "S", "ST", "T")

#: Heart vectors (X left, Y inferior, Z posterior; millivolts) of a typical adult, per wave.
#: Through Dower's matrix they give rS in V1-V2, RS in V3, qR in V5-V6 and a frontal QRS axis near +45 deg.
BASE_DIPOLES: dict[str, tuple[float, float, float]] = {
    "P": (0.07, 0.11, 0.00),
    "Q": (-0.15, 0.04, -0.20),
    "R": (1.00, 0.50, 0.40),
    "S": (-0.30, -0.10, 0.55),
    "ST": (0.0, 0.0, 0.0),
    "T": (0.33, 0.24, -0.18),
}
#: Gains of the limb leads (I, II and those derived from them) and of V1-V6 over the plain Dower
#: projection: they bring the median QRS amplitudes near those of LUDB (limb 0.4-0.7 mV, chest 0.5-0.7 mV).
LIMB_GAIN = 1.3
PRECORDIAL_GAIN = 0.65
#: Relative ST elevation of the MI pattern per precordial lead.
MI_ST_WEIGHTS: dict[str, float] = {"V1": 0.6, "V2": 1.0, "V3": 1.0, "V4": 0.7, "V5": 0.25, "V6": 0.0}

METADATA_COLUMNS: tuple[str, ...] = (
    "record",
    "record_id",
    "patient_id",
    "age",
    "sex",
    "label",
    "fs",
    "n_samples",
    "hr_bpm",
    "hr_std_bpm",
    "qtc_ms",
    "qrs_ms",
    "pr_ms",
    "axis_deg",
    "st_mv",
    "powerline_hz",
    "noise_uv",
    "n_beats",
    "r_peaks",
)


# ----------------------------------------------------------------------------- the ECGSYN solution
def _gauss_and_leak(t: np.ndarray, centre: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``G = exp(-(t-c)^2 / 2s^2)`` and ``L(t) = int_{-inf}^t exp(-(t-u)) G(u) du`` for each (c, s) row.

    ``centre`` and ``width`` have shape ``[M]``; the results ``[M, len(t)]``. ``L`` is evaluated with
    ``erfcx`` before the centre and ``erfc`` after it, so that neither overflows.
    """
    d = t[None, :] - centre[:, None]
    s = width[:, None]
    g = np.exp(-0.5 * (d / s) ** 2)
    x = (s * s - d) / (s * np.sqrt(2.0))
    pre = s * np.sqrt(np.pi / 2.0)
    leak = np.empty_like(d)
    early = x > 0
    leak[early] = (pre * g * special.erfcx(np.where(early, x, 0.0)))[early]
    late = ~early
    leak[late] = (pre * np.exp(np.minimum(-d + 0.5 * s * s, 0.0)) * special.erfc(np.where(late, x, 0.0)))[late]
    return g, leak


def ecgsyn_leads(
    n: int,
    fs: float,
    centres: np.ndarray,
    widths: np.ndarray,
    amplitudes: np.ndarray,
    t0: float | None = None,
    z0: float | np.ndarray = 0.0,
    zbase_mv: float = 0.0,
    fresp_hz: float = 0.25,
    support: float = 8.0,
) -> np.ndarray:
    """Exact solution of the ECGSYN equation for many leads at once, at times ``t = arange(n) / fs``.

    Args:
        centres, widths: time (s) and Gaussian width (s) of every wave of every beat, ``[M]``.
        amplitudes: ``[n_leads, M]`` peak amplitude ``A = a b^2 / omega`` of each wave in each lead
            (``a``, ``b`` and ``omega = 2 pi / RR`` in ECGSYN's phase units).
        t0: None for the stationary solution (the system started in the infinite past), else the
            start time at which ``z = z0`` (neurokit2 integrates from ``t0 = 0`` with ``z0 = 0.04``).
        zbase_mv: amplitude of ECGSYN's respiratory baseline ``z_base = zbase_mv sin(2 pi fresp t)``
            (neurokit2 uses 0.005).
        support: each wave is evaluated exactly within ``support`` widths of its centre; after that its
            leak is the exponential ``A s sqrt(2 pi) exp(s^2/2 - (t - c))`` (exact to ``exp(-support^2/2)``),
            accumulated for all waves by one first-order recursive filter.

    Returns:
        ``[n_leads, n]`` lead voltages.
    """
    from scipy.signal import lfilter

    centres = np.asarray(centres, float)
    widths = np.asarray(widths, float)
    amplitudes = np.atleast_2d(np.asarray(amplitudes, float))
    t = np.arange(n) / fs
    z = np.zeros((amplitudes.shape[0], n))
    lo = np.clip(np.ceil((centres - support * widths) * fs).astype(np.int64), 0, n)
    hi = np.clip(np.floor((centres + support * widths) * fs).astype(np.int64) + 1, 0, n)
    impulses = np.zeros((amplitudes.shape[0], n))
    for m in range(len(centres)):
        if hi[m] > lo[m]:
            g, leak = _gauss_and_leak(t[lo[m] : hi[m]], centres[m : m + 1], widths[m : m + 1])
            z[:, lo[m] : hi[m]] += amplitudes[:, m : m + 1] * (g - leak)
        if hi[m] < n:  # exponential tail from sample hi[m] on
            s = widths[m]
            tail0 = s * np.sqrt(2 * np.pi) * np.exp(0.5 * s * s - (t[hi[m]] - centres[m]))
            impulses[:, hi[m]] -= amplitudes[:, m] * tail0
    z += lfilter([1.0], [1.0, -np.exp(-1.0 / fs)], impulses, axis=-1)
    w = 2.0 * np.pi * fresp_hz

    def base(tt: np.ndarray | float) -> np.ndarray:  # stationary response to z_base
        return zbase_mv * (np.sin(w * np.asarray(tt)) - w * np.cos(w * np.asarray(tt))) / (1.0 + w * w)

    z += base(t)[None, :]
    if t0 is not None:
        g0, leak0 = _gauss_and_leak(np.array([t0], float), centres, widths)
        z_at_t0 = (amplitudes @ (g0 - leak0))[:, 0] + base(t0)
        z0 = np.broadcast_to(np.asarray(z0, float), z_at_t0.shape)
        z += (z0 - z_at_t0)[:, None] * np.exp(-(t - t0))[None, :]
    return z


#: neurokit2's multi-lead wave amplitudes per lead (rows: its 12 leads; columns P, Q, R, S, T),
#: copied from ``neurokit2.ecg.ecg_simulate`` for :func:`neurokit_multileads` only.
NEUROKIT_GAMMA = np.array(
    [
        [1, 0.1, 1, 1.2, 1],
        [2, 0.2, 0.2, 0.2, 3],
        [1, -0.1, -0.8, -1.1, 2.5],
        [-1, -0.05, -0.8, -0.5, -1.2],
        [0.05, 0.05, 1, 1, 1],
        [1, -0.05, -0.1, -0.1, 3],
        [-0.5, 0.05, 0.2, 0.5, 1],
        [0.05, 0.05, 1.3, 2.5, 2],
        [1, 0.05, 1, 2, 1],
        [1.2, 0.05, 1, 2, 2],
        [1.5, 0.1, 0.8, 1, 2],
        [1.8, 0.05, 0.5, 0.1, 2],
    ]
)


def neurokit_multileads(
    duration: float,
    fs: float,
    heart_rate: float,
    ti: tuple[float, ...] = (-70, -15, 0, 15, 100),
    ai: tuple[float, ...] = (1.2, -5, 30, -7.5, 0.75),
    bi: tuple[float, ...] = (0.25, 0.1, 0.1, 0.1, 0.4),
) -> np.ndarray:
    """``neurokit2.ecg_simulate(method="multileads", heart_rate_std=0, noise=0)`` solved exactly.

    Same parameters, heart-rate adjustment (``hrfact``), initial state and per-lead scaling to
    [-0.4, 1.2] as neurokit2, for a constant RR interval. Used to show that :func:`ecgsyn_leads` solves
    neurokit2's model; the cohort itself does not use neurokit2's lead amplitudes or scaling.
    Returns ``[12, n]``.
    """
    n = int(np.ceil(duration * fs))
    rr = 60.0 / heart_rate
    omega = 2 * np.pi / rr
    hrfact = np.sqrt(heart_rate / 60.0)
    b = hrfact * np.asarray(bi, float)
    theta = np.array([np.sqrt(hrfact), hrfact, 1, hrfact, np.sqrt(hrfact)]) * np.deg2rad(ti)
    n_beats = int(np.ceil(duration / rr)) + 2
    k = np.arange(-1, n_beats)
    centres = (k[:, None] * rr + theta[None, :] / omega).ravel()
    widths = np.broadcast_to(b / omega, (len(k), 5)).ravel()
    amps = (NEUROKIT_GAMMA * np.asarray(ai, float)[None, :]) * (b**2 / omega)[None, :]  # [12, 5]
    amplitudes = np.tile(amps, (1, len(k)))
    z = ecgsyn_leads(n, fs, centres, widths, amplitudes, t0=0.0, z0=0.04, zbase_mv=0.005)
    zmin, zmax = z.min(axis=1, keepdims=True), z.max(axis=1, keepdims=True)
    return (z - zmin) * 1.6 / (zmax - zmin) - 0.4


# ----------------------------------------------------------------------------- RR process
def rr_process(
    rng: np.random.Generator,
    hr_mean: float,
    hr_std: float,
    lf_hf: float = 0.5,
    n: int = 256,
    flo: float = 0.1,
    fhi: float = 0.25,
    flostd: float = 0.01,
    fhistd: float = 0.01,
) -> np.ndarray:
    """RR intervals (s) sampled at 1 Hz from McSharry's bimodal (Mayer wave + respiratory) spectrum.

    The same construction as ECGSYN / neurokit2 (random phases, inverse FFT), with mean ``60/hr_mean``
    and standard deviation ``60 hr_std / hr_mean^2`` seconds.
    """
    w = np.arange(n) * 2 * np.pi / n
    c1, c2 = 2 * np.pi * flostd, 2 * np.pi * fhistd
    hw = lf_hf * np.exp(-0.5 * ((w - 2 * np.pi * flo) / c1) ** 2) / np.sqrt(2 * np.pi * c1**2) + np.exp(
        -0.5 * ((w - 2 * np.pi * fhi) / c2) ** 2
    ) / np.sqrt(2 * np.pi * c2**2)
    hw0 = np.concatenate([hw[: n // 2], hw[n // 2 - 1 :: -1]])
    sw = 0.5 * np.sqrt(hw0)
    ph0 = 2 * np.pi * rng.uniform(size=n // 2 - 1)
    ph = np.concatenate([[0.0], ph0, [0.0], -ph0[::-1]])
    x = np.fft.ifft(sw * np.exp(1j * ph)).real / n
    rr_mean = 60.0 / hr_mean
    rr_std = 60.0 * hr_std / hr_mean**2
    return rr_mean + x * (rr_std / x.std())


# ----------------------------------------------------------------------------- one patient
@dataclass
class Patient:
    """The drawn characteristics of one simulated patient (what :data:`METADATA_COLUMNS` records)."""

    index: int
    age: float
    sex: str
    label: str
    hr_bpm: float
    hr_std_bpm: float
    lf_hf: float
    qtc_ms: float
    qrs_ms: float
    pr_ms: float
    axis_deg: float
    st_mv: float
    powerline_hz: float
    noise_uv: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"S{self.index + 1:04d}"


def _rot_z(deg: float) -> np.ndarray:  # rotation in the frontal (X, Y) plane
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def _rot_y(deg: float) -> np.ndarray:  # rotation in the horizontal (X, Z) plane
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0.0, -np.sin(a)], [0.0, 1.0, 0.0], [np.sin(a), 0.0, np.cos(a)]])


def _frontal_axis(dipoles: Mapping[str, np.ndarray]) -> float:
    """Frontal QRS axis (degrees, hexaxial convention) from the net QRS amplitude in leads I and aVF."""
    net = sum(L.dower_matrix(("I", "aVF")) @ dipoles[w] for w in ("Q", "R", "S"))
    return float(np.rad2deg(np.arctan2(2.0 / np.sqrt(3.0) * net[1], net[0])))


def draw_patient(index: int, label: str, rng: np.random.Generator) -> tuple[Patient, dict[str, Any]]:
    """Draw one patient's characteristics and waveform parameters (see the module docstring)."""
    mi = label == "mi"
    if mi:
        sex = "M" if rng.uniform() < 0.73 else "F"
        age = float(np.clip(rng.normal(64.0, 11.0), 30.0, 92.0))
    else:
        sex = "M" if rng.uniform() < 0.5 else "F"
        age = float(np.clip(rng.normal(52.0, 17.0), 18.0, 92.0))
    male = sex == "M"
    hr = float(np.clip(rng.normal(70.0 if male else 73.0, 10.0), 48.0, 110.0))
    hr_std = float(np.clip(rng.lognormal(np.log(2.5), 0.35) * np.exp(-0.012 * (age - 50.0)), 0.5, 8.0))
    lf_hf = float(rng.uniform(0.5, 2.0))
    qtc = float(rng.normal((410.0 if male else 422.0) + 0.3 * (age - 50.0) + (12.0 if mi else 0.0), 12.0))
    qrs = float(np.clip(rng.normal(96.0 if male else 88.0, 7.0), 70.0, 120.0))
    pr = float(np.clip(rng.normal(150.0 + 0.35 * (age - 50.0), 15.0), 110.0, 210.0))
    frontal = float(-0.35 * (age - 50.0) + rng.normal(0.0, 18.0))
    horizontal = float(rng.normal(0.0, 10.0))
    qrs_gain = (1.12 if male else 0.90) * np.exp(-0.006 * (age - 50.0)) * rng.lognormal(0.0, 0.15)
    t_gain = (1.10 if male else 0.92) * np.exp(-0.004 * (age - 50.0)) * rng.lognormal(0.0, 0.2)
    p_gain = rng.lognormal(0.0, 0.15)
    rot = _rot_z(frontal) @ _rot_y(horizontal)
    t_rot = _rot_z(frontal + rng.normal(0.0, 8.0)) @ _rot_y(horizontal + rng.normal(0.0, 8.0))
    dip = {}
    for w, v in BASE_DIPOLES.items():
        v = np.asarray(v) * (1.0 + rng.normal(0.0, 0.08, size=3))
        if w in ("Q", "S"):  # the QRS loop's opening varies between people
            v = v + rng.normal(0.0, 1.0, size=3) * np.array([0.12, 0.12, 0.06])
        if w in ("Q", "R", "S"):
            dip[w] = qrs_gain * (rot @ v)
        elif w == "T":
            dip[w] = t_gain * (t_rot @ v)
        else:
            dip[w] = p_gain * v
    st = float(rng.uniform(0.12, 0.35)) if mi else 0.0
    # per-lead non-dipolar factors on the eight independent leads
    nondipolar = 1.0 + rng.normal(0.0, 0.08, size=(len(L.BASIS), len(WAVES)))
    patient = Patient(
        index=index,
        age=round(age, 1),
        sex=sex,
        label=label,
        hr_bpm=hr,
        hr_std_bpm=hr_std,
        lf_hf=lf_hf,
        qtc_ms=qtc,
        qrs_ms=qrs,
        pr_ms=pr,
        axis_deg=_frontal_axis(dip),
        st_mv=st,
        powerline_hz=float(rng.choice([50.0, 60.0])),
        noise_uv=float(rng.uniform(5.0, 20.0)),
    )
    params = {
        "dipoles": dip,
        "nondipolar": nondipolar,
        "septal_loss": rng.uniform(-0.8, 0.2, size=3) if mi else None,  # V1-V3 Q-vector factor
        "resp_hz": float(rng.uniform(0.15, 0.35)),
        "resp_phase": float(rng.uniform(0, 2 * np.pi)),
        "resp_depth": float(rng.uniform(0.02, 0.08)),
    }
    return patient, params


def wave_amplitudes(patient: Patient, params: Mapping[str, Any]) -> np.ndarray:
    """Peak amplitude (mV) of each wave in each independent lead: ``[len(BASIS), len(WAVES)]``."""
    d = L.dower_matrix(L.BASIS) * np.array([LIMB_GAIN if b in L.LIMB else PRECORDIAL_GAIN for b in L.BASIS])[:, None]
    amps = np.stack([d @ params["dipoles"][w] for w in WAVES], axis=1) * params["nondipolar"]
    if patient.label == "mi":
        iw = {w: i for i, w in enumerate(WAVES)}
        for lead, weight in MI_ST_WEIGHTS.items():
            amps[L.BASIS.index(lead), iw["ST"]] = patient.st_mv * weight
        for j, lead in enumerate(("V1", "V2", "V3")):
            amps[L.BASIS.index(lead), iw["Q"]] *= params["septal_loss"][j]
        for lead in ("V2", "V3", "V4"):
            amps[L.BASIS.index(lead), iw["T"]] *= 1.3
    return amps


def beat_times(rng: np.random.Generator, patient: Patient, t_start: float, t_end: float) -> np.ndarray:
    """R-peak times (s) from ``t_start`` until past ``t_end``, driven by the 1-Hz RR process."""
    n = int(2 ** np.ceil(np.log2(max(t_end - t_start + 4.0, 256.0))))
    rr = rr_process(rng, patient.hr_bpm, patient.hr_std_bpm, patient.lf_hf, n=n)
    grid = t_start + np.arange(n)
    times = [t_start + rng.uniform(0.0, 60.0 / patient.hr_bpm)]
    while times[-1] <= t_end:
        times.append(times[-1] + float(np.interp(times[-1], grid, rr)))
    return np.asarray(times)


def simulate_patient(
    patient: Patient, params: Mapping[str, Any], duration_s: float, fs: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate one record.

    Returns:
        ``signal [12, n]`` (mV, :data:`ecgdiff.leads.STANDARD_12` order), the true R-peak sample indices
        inside the record, and the per-beat QT (ms) of those beats.
    """
    n = int(round(duration_s * fs))
    t = np.arange(n) / fs
    r = beat_times(rng, patient, -2.5, duration_s + 1.5)
    rr_prev = np.diff(r, prepend=r[0] - 60.0 / patient.hr_bpm)
    qrs = patient.qrs_ms / 1000.0
    qt = patient.qtc_ms / 1000.0 * np.cbrt(rr_prev)  # Fridericia, per beat, on the preceding RR
    onset = -0.46 * qrs  # QRS onset relative to R
    s_t = 0.11 * qt
    s_p = 0.022
    tau_t = onset + qt - 2.5 * s_t  # T end (centre + 2.5 sd) = onset + QT
    j = 0.48 * qrs  # J point (QRS offset)
    tau_st = 0.5 * (j + tau_t)
    s_st = (tau_t - j) / 2.5
    nb = len(r)
    ones = np.ones(nb)
    tau = np.stack(
        [onset - patient.pr_ms / 1000.0 + 2 * s_p * ones, -0.3 * qrs * ones, 0 * ones, 0.3 * qrs * ones, tau_st, tau_t],
        axis=1,
    )  # [nb, 6]
    width = np.stack([s_p * ones, 0.08 * qrs * ones, 0.10 * qrs * ones, 0.09 * qrs * ones, s_st, s_t], axis=1)
    amps = wave_amplitudes(patient, params)  # [8, 6]
    # respiration modulates the QRS voltage beat to beat; small independent jitter on every wave
    resp = 1.0 + params["resp_depth"] * np.sin(2 * np.pi * params["resp_hz"] * r + params["resp_phase"])
    jitter = 1.0 + rng.normal(0.0, 0.015, size=(nb, len(WAVES)))
    scale = jitter.copy()
    scale[:, 1:4] *= resp[:, None]
    beat_amps = amps[:, None, :] * scale[None, :, :]  # [8, nb, 6]
    z8 = ecgsyn_leads(n, fs, (r[:, None] + tau).ravel(), width.ravel(), beat_amps.reshape(len(L.BASIS), -1))
    # nuisance, per electrode-independent lead: baseline wander, power line, white noise
    bw = np.zeros((len(L.BASIS), n))
    for _ in range(2):
        f = rng.uniform(0.05, 0.4)
        bw += rng.uniform(0.0, 0.12, size=(len(L.BASIS), 1)) * np.sin(
            2 * np.pi * f * t[None, :] + rng.uniform(0, 2 * np.pi, size=(len(L.BASIS), 1))
        )
    pl = rng.uniform(0.0, 0.03, size=(len(L.BASIS), 1)) * np.sin(
        2 * np.pi * patient.powerline_hz * t[None, :] + rng.uniform(0, 2 * np.pi, size=(len(L.BASIS), 1))
    )
    noise = rng.normal(0.0, patient.noise_uv / 1000.0, size=(len(L.BASIS), n))
    z8 = z8 + bw + pl + noise
    signal = L.derive(z8, L.BASIS, L.STANDARD_12)
    inside = (r >= 0) & (r < duration_s)
    peaks = np.round(r[inside] * fs).astype(int)
    peaks = peaks[peaks < n]
    return signal, peaks, (qt * 1000.0)[inside][: len(peaks)]


def cohort_labels(cfg: SyntheticConfig) -> list[str]:
    """Label of every patient: exactly ``round(n_patients * abnormal_fraction)`` are ``mi``, chosen by a
    permutation seeded by ``cfg.seed``."""
    n_mi = int(round(cfg.n_patients * cfg.abnormal_fraction))
    mi = np.zeros(cfg.n_patients, bool)
    mi[_streams(cfg, 0).permutation(cfg.n_patients)[:n_mi]] = True
    return ["mi" if m else "healthy" for m in mi]


def _streams(cfg: SyntheticConfig, k: int) -> np.random.Generator:
    """Random stream ``k`` of the cohort: 0 for the labels, ``i + 1`` for patient ``i`` (independent of the
    number of patients, so that each patient depends only on the seed, its index and its label)."""
    return np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x5EC6, k]))


def simulate_one(cfg: SyntheticConfig, index: int, label: str) -> tuple[Patient, np.ndarray, np.ndarray]:
    """Patient ``index`` of the cohort with the given label: ``(patient, signal [12, n], true R peaks)``."""
    rng = _streams(cfg, index + 1)
    patient, params = draw_patient(index, label, rng)
    signal, peaks, _ = simulate_patient(patient, params, cfg.duration_s, cfg.fs, rng)
    return patient, signal, peaks


def simulate_cohort(cfg: SyntheticConfig) -> Iterator[tuple[Patient, np.ndarray, np.ndarray]]:
    """Yield ``(patient, signal [12, n], true R peaks)`` for every patient, deterministically for ``cfg.seed``
    (labels by :func:`cohort_labels`, each patient from its own random stream)."""
    for i, label in enumerate(cohort_labels(cfg)):
        yield simulate_one(cfg, i, label)


# ----------------------------------------------------------------------------- disk
def cohort_dir(resources_dir: str | os.PathLike[str], cfg: Mapping[str, Any] | SyntheticConfig | None) -> Path:
    """``<resources_dir>/synthetic/<cohort_hash>``."""
    return Path(resources_dir) / SOURCE / cohort_hash(cfg)


def _write_one(cfg: SyntheticConfig, index: int, label: str, rec_dir: str) -> tuple[dict[str, Any], float]:
    """Simulate patient ``index`` and write its WFDB record and annotation; return its metadata row and
    the simulation time (s)."""
    import wfdb

    t0 = time.perf_counter()
    patient, signal, peaks = simulate_one(cfg, index, label)
    t_sim = time.perf_counter() - t0
    name = patient.name
    sex_word = "Male" if patient.sex == "M" else "Female"
    wfdb.wrsamp(
        name,
        fs=cfg.fs,
        units=["mV"] * len(L.STANDARD_12),
        sig_name=list(L.STANDARD_12),
        p_signal=signal.T,
        fmt=["16"] * len(L.STANDARD_12),
        comments=[
            f"Age: {patient.age:g}",
            f"Sex: {sex_word}",
            f"Label: {patient.label}",
            "Simulated ECG (ecgdiff synthetic cohort): not patient data",
        ],
        write_dir=rec_dir,
    )
    wfdb.wrann(name, "atr", sample=peaks.astype(np.int64), symbol=["N"] * len(peaks), fs=cfg.fs, write_dir=rec_dir)
    row = {
        "record": f"records/{name}",
        "record_id": f"{SOURCE}/{name}",
        "patient_id": f"{SOURCE}/{name}",
        "age": patient.age,
        "sex": patient.sex,
        "label": patient.label,
        "fs": cfg.fs,
        "n_samples": signal.shape[1],
        "hr_bpm": round(patient.hr_bpm, 2),
        "hr_std_bpm": round(patient.hr_std_bpm, 3),
        "qtc_ms": round(patient.qtc_ms, 2),
        "qrs_ms": round(patient.qrs_ms, 2),
        "pr_ms": round(patient.pr_ms, 2),
        "axis_deg": round(patient.axis_deg, 1),
        "st_mv": round(patient.st_mv, 4),
        "powerline_hz": patient.powerline_hz,
        "noise_uv": round(patient.noise_uv, 2),
        "n_beats": len(peaks),
        "r_peaks": " ".join(str(int(p)) for p in peaks),
    }
    return row, t_sim


def write_cohort(
    root: str | os.PathLike[str],
    cfg: Mapping[str, Any] | SyntheticConfig | None,
    provenance: Mapping[str, Any] | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Simulate the cohort and write it under ``root`` (WFDB records, ``metadata.csv``, ``cohort.json`` last),
    with ``workers`` processes (the files do not depend on it). Returns the content of ``cohort.json``."""
    import concurrent.futures as cf

    if not isinstance(cfg, SyntheticConfig):
        cfg = SyntheticConfig.from_config(cfg)
    root = Path(root)
    rec_dir = root / "records"
    rec_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    jobs = [(cfg, i, label, str(rec_dir)) for i, label in enumerate(cohort_labels(cfg))]
    if workers > 1:
        with cf.ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_write_one, *zip(*jobs), chunksize=8))
    else:
        results = [_write_one(*job) for job in jobs]
    meta = pd.DataFrame([r for r, _ in results], columns=list(METADATA_COLUMNS))
    t_sim = float(sum(t for _, t in results))
    with atomic_path(root / "metadata.csv") as tmp:
        meta.to_csv(tmp, index=False)
    info = {
        "source": SOURCE,
        "model_version": MODEL_VERSION,
        "config": asdict(cfg),
        "cohort_hash": cohort_hash(cfg),
        "n_patients": int(len(meta)),
        "n_mi": int((meta["label"] == "mi").sum()),
        "simulation_cpu_s": round(t_sim, 3),
        "total_s": round(time.perf_counter() - t_start, 3),
        "workers": workers,
        "leads": list(L.STANDARD_12),
        "note": "simulated ECGs, not patient data",
        "provenance": dict(provenance or {}),
    }
    write_json(root / "cohort.json", info)
    log.info(
        "synthetic cohort: %d patients (%d MI) in %.1f s with %d worker(s) (simulation %.1f s of it) to %s",
        info["n_patients"],
        info["n_mi"],
        info["total_s"],
        workers,
        t_sim,
        root,
    )
    return info


def read_metadata(root: str | os.PathLike[str]) -> pd.DataFrame:
    """The cohort's ``metadata.csv``, ``r_peaks`` parsed into integer arrays."""
    meta = pd.read_csv(Path(root) / "metadata.csv", dtype={"r_peaks": str})
    meta["r_peaks"] = [
        np.array(str(s).split(), dtype=np.int64) if isinstance(s, str) else np.zeros(0, np.int64)
        for s in meta["r_peaks"]
    ]
    return meta


def read_cohort(root: str | os.PathLike[str]) -> Iterator[Record | RecordError]:
    """Read a cohort written by :func:`write_cohort`: one :class:`Record` per patient, or a
    :class:`RecordError` naming the record and the problem (missing or unreadable file, bad leads).

    ``Record.meta`` holds ``label``, ``r_peaks`` (true R-peak sample indices) and the simulated
    characteristics of :data:`METADATA_COLUMNS`.
    """
    import wfdb

    root = Path(root)
    meta = read_metadata(root)
    for row in meta.to_dict("records"):
        rid = str(row["record_id"])
        try:
            rec = wfdb.rdrecord(str(root / row["record"]))
        except Exception as exc:  # noqa: BLE001 - any unreadable record becomes an error row
            yield RecordError(rid, f"cannot read WFDB record {row['record']}: {exc}")
            continue
        try:
            names = L.canonical_all(rec.sig_name)
        except L.LeadError as exc:
            yield RecordError(rid, str(exc))
            continue
        signal = np.asarray(rec.p_signal, dtype=float).T
        if not np.all(np.isfinite(signal)):
            yield RecordError(rid, "signal contains non-finite samples")
            continue
        order = L.indices(L.STANDARD_12, names) if set(L.STANDARD_12) <= set(names) else None
        if order is not None:
            signal, names = signal[order], L.STANDARD_12
        extra = {k: row[k] for k in METADATA_COLUMNS if k not in ("record_id", "patient_id", "age", "sex")}
        extra["path"] = str(root / row["record"])
        yield Record(
            record_id=rid,
            patient_id=str(row["patient_id"]),
            source=SOURCE,
            fs=float(rec.fs),
            signal=signal,
            leads=tuple(names),
            age=float(row["age"]),
            sex=str(row["sex"]),
            diagnoses=("simulated anterior ST elevation",) if row["label"] == "mi" else (),
            meta=extra,
        )


def load_cohort_info(root: str | os.PathLike[str]) -> dict[str, Any]:
    """The cohort's ``cohort.json``."""
    return read_json(Path(root) / "cohort.json")
