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

The rhythm subgroups (``af``, ``rbbb``, ``lbbb``; ``data.synthetic.af_fraction``, ``bbb_fraction``)
    For the rhythm classifier (NSR / BBB / AF) and its priors; the constants below cite their sources.

    - ``af``, atrial fibrillation: no P wave; fibrillatory waves from the extended sawtooth model (Stridh and
      Sornmo 2001) on three VCG components at 4-9 Hz with slowly varying amplitude and frequency, projected
      like the other waves, largest in V1 and II, III, aVF (0.05-0.20 mV in V1); the ventricular rhythm from
      the atrioventricular-node model of Corino et al. (2011) driven by the fibrillatory rate (irregular,
      no respiratory or Mayer-wave modulation); the conducted QRS-T that of the patient's healthy heart.
    - ``rbbb``, ``lbbb``, complete bundle branch block (QRS 128-158 ms): built from heart vectors like the
      normal waves, so every lead law holds. RBBB keeps the conducted Q, R, S and adds a late rightward,
      anterior force (rsR' in V1-V2, wide S in I and V6, T inverted in V1-V3); LBBB replaces them by a
      leftward septal start and two slow leftward-posterior fronts (broad notched or slurred R in I, aVL,
      V5-V6, QS or rS in V1, no lateral q) with ST and T opposite the QRS. The QT grows by the widening.

    Each patient draws the same sequence of numbers for its heart (so a subgroup patient is a healthy heart
    with the disorder on top); the subgroups' own parameters are drawn after them. With the new fractions at 0
    the cohort is exactly the one of model version 2 (same files, same hash: :mod:`.synthetic_config`).

On disk (:func:`write_cohort`), under ``<resources_dir>/synthetic/<cohort_hash>/``:
    ``records/S0001.{hea,dat,atr}``: WFDB records, 12 leads in :data:`ecgdiff.leads.STANDARD_12`
    order, millivolts, with ``# Age``, ``# Sex``, ``# Label`` header comments and the true R peaks as
    a WFDB annotation (``atr``, symbol ``N``); ``metadata.csv``: one row per patient (see
    :data:`METADATA_COLUMNS`), ``r_peaks`` holding the true R-peak sample indices (``pr_ms`` is empty
    for ``af``: no P wave; ``qrs_ms`` of ``rbbb`` / ``lbbb`` is the widened QRS); ``cohort.json``: the
    resolved configuration (fractions at 0 left out), its hash, counts (``n_af``, ``n_rbbb``, ``n_lbbb``
    where those subgroups exist) and the simulation time. Read it back with :func:`read_cohort`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from .. import leads as L
from ..io import atomic_path, read_json, write_json
from .records import Record, RecordError
from .synthetic_config import MODEL_VERSION, SyntheticConfig, cohort_hash, hashed_config, subgroup_counts

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

#: The labels of the cohort. Their counts come from :func:`ecgdiff.data.synthetic_config.subgroup_counts`.
LABELS: tuple[str, ...] = ("healthy", "mi", "af", "rbbb", "lbbb")
#: Age (mean, sd, lower clip; upper clip 92 years) and fraction of men per label. healthy and mi: the beat
#: paper's groups; af, rbbb, lbbb: LUDB's records with that finding (Kalyakulina et al. 2020; ``ludb.csv`` of
#: the PhysioNet copy: AF 66.5 +- 12.0 years, 7 of 15 men; complete RBBB 56.0 +- 17.0, 22 of 33; complete
#: LBBB 63.5 +- 15.7, 6 of 10).
DEMOGRAPHICS: dict[str, tuple[float, float, float, float]] = {
    "healthy": (52.0, 17.0, 18.0, 0.5),
    "mi": (64.0, 11.0, 30.0, 0.73),
    "af": (66.5, 12.0, 30.0, 0.47),
    "rbbb": (56.0, 17.0, 18.0, 0.67),
    "lbbb": (63.5, 15.7, 30.0, 0.60),
}
#: Diagnosis statement of each abnormal label (``Record.diagnoses`` of :func:`read_cohort`).
DIAGNOSES: dict[str, str] = {
    "mi": "simulated anterior ST elevation",
    "af": "simulated atrial fibrillation",
    "rbbb": "simulated complete right bundle branch block",
    "lbbb": "simulated complete left bundle branch block",
}

# ----- atrial fibrillation
#: Ventricular response: the atrioventricular-node model of Corino et al. (2011, IEEE TBME 58:3386), in the
#: form of the ECG simulator of Petrenas et al. (2017, Physiol Meas 38:2058; ``simECG_generate_AF_intervals``):
#: atrial impulses arrive as a Poisson process whose rate is the fibrillatory frequency; after a conducted
#: beat the node is refractory for ``slope * RR + intercept`` s (RR the interval that beat ended), plus
#: ``slow_extra_s`` when the impulse took the slow pathway (probability ``1 - p_fast``); an impulse arriving
#: ``dt`` s after the refractory period is blocked with probability ``max(1 - block_slope * dt, 0)``.
#: The intercept is the simulator's 0.25 s at its low end: drawn per patient from ``AF_REFRACTORY_S`` so that
#: the ventricular rate and RR irregularity of the cohort cover those of LUDB's AF records (median [10-90 %]
#: over the 11 without BBB, the project's R peaks: RR coefficient of variation 0.18 [0.04, 0.26], heart rate
#: 84 [60, 111] bpm; the 24 AF patients of the proposed default cohort: 0.22 [0.15, 0.29], 82 [67, 95] bpm;
#: ``benchmarks/synthetic_classes.py``).
AV_NODE: dict[str, float] = {"slope": 0.15, "slow_extra_s": 0.20, "p_fast": 0.6, "block_slope": 10.0}
AF_REFRACTORY_S: tuple[float, float] = (0.25, 0.50)
#: Fibrillatory (f-) waves: the extended sawtooth model of Stridh and Sornmo (2001, IEEE TBME 48:105) as in
#: Petrenas et al. (2012, IEEE TBME 59:2950): per VCG component ``-sum_i 2/(i pi) a(t) sin(i theta(t))``,
#: ``i = 1..3``, ``theta = 2 pi f t + (df/ff) sin(2 pi ff t)``, ``a(t) = a (1 + am sin(2 pi fa t))``, with
#: ``df = 0.25`` Hz, ``ff = 0.2`` Hz, ``am = 1/3``, ``fa = 0.2`` Hz and the X, Y, Z components at 0.95, 1 and
#: 1.05 times the fibrillatory frequency (that simulator's values; phases random here).
FWAVE: dict[str, float] = {"harmonics": 3, "df_hz": 0.25, "ff_hz": 0.2, "am": 1.0 / 3.0, "fa_hz": 0.2}
FWAVE_FREQ_FACTORS: tuple[float, float, float] = (0.95, 1.0, 1.05)
#: Fibrillatory frequency (Hz, uniform): the 4-9 Hz of surface-ECG f-waves (Bollmann et al. 2006, Europace
#: 8:911; Petrenas et al.'s simulator draws 3-7 Hz).
FWAVE_HZ: tuple[float, float] = (4.0, 9.0)
#: f-wave amplitude in V1 (mV, uniform): peak-to-peak, the median over 1-s windows; fine (< 0.1 mV) to coarse
#: AF. With it the 4-9 Hz power of V1 after average beat subtraction is near that of LUDB's AF records
#: (median [10-90 %] 324 [93, 1570] uV^2; cohort 473 [137, 1250]; healthy: LUDB 34, cohort 15;
#: ``benchmarks/synthetic_classes.py``).
FWAVE_V1_MV: tuple[float, float] = (0.05, 0.20)
#: Peak-to-peak (median over 1-s windows) per RMS of the model's V1 f-waves: 4.0 (a sinusoid's is 2.83; the
#: sawtooth and the three components' beats raise it; measured over 40 patients: 3.8-4.3).
FWAVE_PTP_PER_RMS = 4.0
#: Relative size (uniform ranges) of the X (left), Y (inferior) and Z (posterior) f-wave components, and the
#: per-lead atrial gains on top of Dower's matrix (V1 nearest the atria): they make the f-waves largest in V1
#: and in II, III, aVF, smallest in I and V5-V6, as on real ECGs (Petrenas et al.'s simulator weighs its
#: leads 1.5, 1.2, 0.8, 0.5, 0.4, 0.3 from V1 to V6 for the same reason).
FWAVE_COMPONENTS: tuple[tuple[float, float], ...] = ((0.15, 0.4), (0.35, 0.8), (0.7, 1.3))
FWAVE_LEAD_GAIN: dict[str, float] = {
    "I": 1.0,
    "II": 1.0,
    "V1": 1.5,
    "V2": 0.8,
    "V3": 0.6,
    "V4": 0.45,
    "V5": 0.35,
    "V6": 0.3,
}

# ----- bundle branch block (AHA/ACCF/HRS recommendations, Surawicz et al. 2009, Circulation 119:e235)
#: Total QRS duration (ms; normal mean, sd, clipped to the range): complete block is QRS >= 120 ms; LBBB is
#: the wider (Strauss et al. 2011, Am J Cardiol 107:927: >= 140 ms in men, >= 130 ms in women).
BBB_QRS_MS: dict[str, tuple[float, float, float, float]] = {
    "rbbb": (138.0, 7.0, 128.0, 156.0),
    "lbbb": (146.0, 6.0, 132.0, 158.0),
}
#: RBBB: the left ventricle is activated normally (the healthy Q, R, S of the patient's conducted QRS), the
#: right ventricle late, through the septum: a terminal force, rightward and anterior, gives R' in V1-V2 and
#: the wide, slurred S of I, aVL and V5-V6. Secondary ST-T: ST and T opposite the terminal force (T inverted
#: in V1-V3). Heart vectors (mV) before the patient's rotation and QRS gain, as :data:`BASE_DIPOLES`.
RBBB_TERMINAL: tuple[float, float, float] = (-0.55, 0.05, -0.75)
#: RBBB secondary ST and T (mV along the unit terminal force, reversed; uniform ranges).
RBBB_ST_T_MV: tuple[tuple[float, float], tuple[float, float]] = ((0.02, 0.06), (0.10, 0.20))
#: LBBB: the septum is activated from the right (the initial force points left: no q in I, aVL, V5-V6, no r
#: or a small one in V1), then the left ventricle slowly, in two overlapping leftward-posterior fronts ``R``
#: and ``R2``: the broad notched or slurred R of I, aVL, V5-V6 and the deep QS/rS of V1-V3; no S in the
#: lateral leads. Discordant ST-T: ST and T opposite the mean QRS vector.
LBBB_DIPOLES: dict[str, tuple[float, float, float]] = {
    "Q": (0.12, 0.02, 0.04),
    "R": (0.85, 0.25, 0.40),
    "S": (0.0, 0.0, 0.0),
    "R2": (0.80, 0.05, 0.85),
}
#: Where a bundle branch block's QRS begins and ends: this many widths (sd) outside the centres of its first
#: and last waves (RBBB: the terminal R'; LBBB: both fronts). Those waves are the largest of a wide QRS (unlike
#: the small Q and S of a normal one, whose slopes fade within 2 sd), and a Gaussian's slope falls to 10 % of
#: its maximum at 2.8 sd: so that the QRS duration measured on the signal (from the spatial velocity of the
#: median beat, :func:`ecgdiff.validation.rhythm_features.qrs_bounds`) is close to ``qrs_ms``, as it is for
#: the healthy QRS. The
#: slurred R' is the smaller of the two, so its slope fades sooner.
QRS_EDGE_SD: dict[str, float] = {"rbbb": 2.5, "lbbb": 3.0}
#: LBBB discordant ST and T (mV along the unit mean QRS vector, reversed; uniform ranges).
LBBB_ST_T_MV: tuple[tuple[float, float], tuple[float, float]] = ((0.06, 0.14), (0.30, 0.50))

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


def _frontal_axis(dipoles: Mapping[str, np.ndarray], extra: tuple[str, ...] = ()) -> float:
    """Frontal QRS axis (degrees, hexaxial convention) from the net QRS amplitude in leads I and aVF (of the
    Q, R, S waves and the ``extra`` QRS waves of a bundle branch block)."""
    net = sum(L.dower_matrix(("I", "aVF")) @ dipoles[w] for w in ("Q", "R", "S", *extra))
    return float(np.rad2deg(np.arctan2(2.0 / np.sqrt(3.0) * net[1], net[0])))


def draw_patient(index: int, label: str, rng: np.random.Generator) -> tuple[Patient, dict[str, Any]]:
    """Draw one patient's characteristics and waveform parameters (see the module docstring).

    Every label takes the same sequence of draws from ``rng`` for the heart (age and sex by its
    :data:`DEMOGRAPHICS`); the subgroups' own parameters (:func:`_draw_af`, :func:`_draw_bbb`) come after it.
    """
    if label not in LABELS:
        raise ValueError(f"unknown synthetic label {label!r}; known: {LABELS}")
    mi = label == "mi"
    age_mean, age_sd, age_min, p_male = DEMOGRAPHICS[label]
    sex = "M" if rng.uniform() < p_male else "F"
    age = float(np.clip(rng.normal(age_mean, age_sd), age_min, 92.0))
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
    if label == "af":
        _draw_af(patient, params, rng)
    elif label in ("rbbb", "lbbb"):
        _draw_bbb(patient, params, rng, rot=rot, qrs_gain=qrs_gain, t_gain=t_gain)
    return patient, params


def _unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, float) / np.linalg.norm(v)


def _draw_af(patient: Patient, params: dict[str, Any], rng: np.random.Generator) -> None:
    """Atrial fibrillation: no P wave, f-waves (:data:`FWAVE`), RR from the AV-node model (:data:`AV_NODE`).

    ``params["af"]`` gets the f-wave and AV-node parameters; the patient's ``pr_ms`` becomes NaN (no P wave)
    and ``hr_bpm``, ``hr_std_bpm`` the mean and sd of the instantaneous rate ``60 / RR`` of the AV-node
    process, estimated on 1000 beats of it (an independent stream drawn from ``rng``).
    """
    f_hz = float(rng.uniform(*FWAVE_HZ))
    rel = np.array([rng.uniform(lo, hi) for lo, hi in FWAVE_COMPONENTS])
    af = {
        "f_hz": f_hz,
        "rate_hz": f_hz,  # atrial impulses reaching the AV node, one per fibrillatory cycle (Petrenas et al.)
        "refractory_s": float(rng.uniform(*AF_REFRACTORY_S)),
        "v1_mv": float(rng.uniform(*FWAVE_V1_MV)),
        "relative": rel,
        "phase": rng.uniform(0.0, 2 * np.pi, size=3),
        "fm_phase": rng.uniform(0.0, 2 * np.pi, size=3),
        "am_phase": rng.uniform(0.0, 2 * np.pi, size=3),
        "nondipolar": 1.0 + rng.normal(0.0, 0.08, size=len(L.BASIS)),
    }
    af["components_mv"] = rel * _fwave_v1_scale(af)
    params["af"] = af
    rr = av_node_rr(np.random.default_rng(rng.integers(2**63)), af, 1000)
    patient.pr_ms = float("nan")
    patient.hr_bpm = float(np.mean(60.0 / rr))
    patient.hr_std_bpm = float(np.std(60.0 / rr))
    patient.lf_hf = float("nan")
    patient.extra.update(f_wave_hz=f_hz, f_wave_v1_mv=af["v1_mv"], av_refractory_s=af["refractory_s"])


def _fwave_lead_matrix(af: Mapping[str, Any]) -> np.ndarray:
    """``[len(BASIS), 3]``: X, Y, Z f-wave components to the independent leads (Dower, lead and atrial gains,
    per-lead non-dipolar factors)."""
    gain = np.array([(LIMB_GAIN if b in L.LIMB else PRECORDIAL_GAIN) * FWAVE_LEAD_GAIN[b] for b in L.BASIS])
    return L.dower_matrix(L.BASIS) * (gain * np.asarray(af["nondipolar"]))[:, None]


def _fwave_v1_scale(af: Mapping[str, Any]) -> float:
    """mV per unit of ``af["relative"]`` that gives V1 the f-wave amplitude ``af["v1_mv"]`` (peak-to-peak,
    through :data:`FWAVE_PTP_PER_RMS`).

    The components have different frequencies, so their powers add; one component's mean square is
    ``a^2 (1 + am^2 / 2) sum_i (2 / (i pi))^2 / 2``.
    """
    k = np.arange(1, int(FWAVE["harmonics"]) + 1)
    ms_unit = (1.0 + FWAVE["am"] ** 2 / 2.0) * np.sum((2.0 / (k * np.pi)) ** 2) / 2.0
    v1 = _fwave_lead_matrix(af)[L.BASIS.index("V1")] * np.asarray(af["relative"])
    rms = np.sqrt(ms_unit * np.sum(v1**2))
    return float(af["v1_mv"] / FWAVE_PTP_PER_RMS / rms)


def fwaves(af: Mapping[str, Any], t: np.ndarray) -> np.ndarray:
    """f-waves (mV) of the independent leads at times ``t`` (s): ``[len(BASIS), len(t)]`` (:data:`FWAVE`)."""
    t = np.asarray(t, float)
    vcg = np.zeros((3, t.size))
    harmonics = np.arange(1, int(FWAVE["harmonics"]) + 1)
    for c in range(3):
        f = af["f_hz"] * FWAVE_FREQ_FACTORS[c]
        theta = (
            2 * np.pi * f * t
            + FWAVE["df_hz"] / FWAVE["ff_hz"] * np.sin(2 * np.pi * FWAVE["ff_hz"] * t + af["fm_phase"][c])
            + af["phase"][c]
        )
        a = af["components_mv"][c] * (1.0 + FWAVE["am"] * np.sin(2 * np.pi * FWAVE["fa_hz"] * t + af["am_phase"][c]))
        vcg[c] = -a * np.sum((2.0 / (harmonics[:, None] * np.pi)) * np.sin(harmonics[:, None] * theta), axis=0)
    return _fwave_lead_matrix(af) @ vcg


def av_node_rr(rng: np.random.Generator, af: Mapping[str, Any], n_beats: int, rr_prev: float = 1.0) -> np.ndarray:
    """``n_beats`` RR intervals (s) of the ventricular response to AF (the AV-node model of :data:`AV_NODE`).

    Event by event: after each beat the node is refractory for ``slope * RR + refractory_s`` (+
    ``slow_extra_s`` on the slow pathway); atrial impulses after that are a Poisson process of rate
    ``af["rate_hz"]`` (memoryless, so the first arrives an exponential time after the refractory period
    ends); the impulse arriving ``dt`` after it is conducted with probability ``min(block_slope * dt, 1)``.
    ``rr_prev`` is the interval before the first (Petrenas et al. start from the refractory period of 1 s).
    """
    rate = float(af["rate_hz"])
    rr = np.empty(int(n_beats))
    for k in range(rr.size):
        slow = rng.uniform() >= AV_NODE["p_fast"]
        tau = AV_NODE["slope"] * rr_prev + af["refractory_s"] + (AV_NODE["slow_extra_s"] if slow else 0.0)
        dt = rng.exponential(1.0 / rate)
        while rng.uniform() >= min(AV_NODE["block_slope"] * dt, 1.0):
            dt += rng.exponential(1.0 / rate)
        rr[k] = rr_prev = tau + dt
    return rr


def _draw_bbb(
    patient: Patient, params: dict[str, Any], rng: np.random.Generator, rot: np.ndarray, qrs_gain: float, t_gain: float
) -> None:
    """Bundle branch block (:data:`RBBB_TERMINAL`, :data:`LBBB_DIPOLES`): the QRS made of the patient's heart
    vectors, rotated and scaled like them, and the timing of its waves (``params["qrs_shape"]``).

    ``qrs_ms`` becomes the total QRS duration (:data:`BBB_QRS_MS`) and ``qtc_ms`` grows by the widening
    (the JT interval is that of the conducted beat); ``axis_deg`` is that of the new QRS.
    """
    mean, sd, lo, hi = BBB_QRS_MS[patient.label]
    total = float(np.clip(rng.normal(mean, sd), lo, hi)) / 1000.0
    conducted = patient.qrs_ms / 1000.0
    dip = params["dipoles"]

    def vector(v: tuple[float, float, float], spread: float = 0.1) -> np.ndarray:
        return qrs_gain * (rot @ (np.asarray(v) * (1.0 + rng.normal(0.0, spread, size=3))))

    if patient.label == "rbbb":
        # the conducted Q, R, S of the left ventricle, then the late right-ventricular force
        onset = -0.46 * conducted
        width_x = float(rng.uniform(0.10, 0.12)) * total
        j = onset + total
        c = QRS_EDGE_SD[patient.label]
        extra = {"R'": vector(RBBB_TERMINAL)}
        shape = {
            "onset": onset,
            "j": j,
            "tau": (-0.3 * conducted, 0.0, 0.3 * conducted),
            "width": (0.08 * conducted, 0.10 * conducted, 0.09 * conducted),
            "extra_tau": (j - c * width_x,),
            "extra_width": (width_x,),
        }
        u = _unit(extra["R'"])
        st, tt = (float(rng.uniform(*r)) for r in RBBB_ST_T_MV)
        dip["ST"] = -st * u
        dip["T"] = dip["T"] - t_gain * tt * u
    else:
        # two slow left-ventricular fronts R (at -d/2) and R2 (at +d/2), the beat's fiducial between them
        c = QRS_EDGE_SD[patient.label]
        w = float(rng.uniform(0.11, 0.13)) * total
        d = total - 2.0 * c * w
        for name in ("Q", "R", "S"):
            dip[name] = vector(LBBB_DIPOLES[name]) * 1.2
        extra = {"R2": vector(LBBB_DIPOLES["R2"]) * 1.2 * float(rng.uniform(0.8, 1.15))}
        shape = {
            "onset": -0.5 * d - c * w,
            "j": 0.5 * d + c * w,
            "tau": (-0.5 * d - 1.2 * w, -0.5 * d, 0.5 * d),
            "width": (0.5 * w, w, w),
            "extra_tau": (0.5 * d,),
            "extra_width": (w,),
        }
        u = _unit(dip["R"] + extra["R2"])
        st, tt = (float(rng.uniform(*r)) for r in LBBB_ST_T_MV)
        dip["ST"] = -st * u
        dip["T"] = -t_gain * tt * u
    params["qrs_shape"] = shape
    params["extra_dipoles"] = extra
    params["extra_nondipolar"] = 1.0 + rng.normal(0.0, 0.08, size=(len(L.BASIS), len(extra)))
    patient.qtc_ms += 1000.0 * total - patient.qrs_ms
    patient.qrs_ms = 1000.0 * total
    patient.axis_deg = _frontal_axis({**dip, **extra}, extra=tuple(extra))


def wave_amplitudes(patient: Patient, params: Mapping[str, Any]) -> np.ndarray:
    """Peak amplitude (mV) of each wave in each independent lead: ``[len(BASIS), len(WAVES) + k]``, the ``k``
    extra QRS waves of a bundle branch block (``params["extra_dipoles"]``) last."""
    d = L.dower_matrix(L.BASIS) * np.array([LIMB_GAIN if b in L.LIMB else PRECORDIAL_GAIN for b in L.BASIS])[:, None]
    amps = np.stack([d @ params["dipoles"][w] for w in WAVES], axis=1) * params["nondipolar"]
    if patient.label == "af":
        amps[:, WAVES.index("P")] = 0.0
    extra = params.get("extra_dipoles") or {}
    if extra:
        amps_x = np.stack([d @ v for v in extra.values()], axis=1) * params["extra_nondipolar"]
        amps = np.concatenate([amps, amps_x], axis=1)
    if patient.label == "mi":
        iw = {w: i for i, w in enumerate(WAVES)}
        for lead, weight in MI_ST_WEIGHTS.items():
            amps[L.BASIS.index(lead), iw["ST"]] = patient.st_mv * weight
        for j, lead in enumerate(("V1", "V2", "V3")):
            amps[L.BASIS.index(lead), iw["Q"]] *= params["septal_loss"][j]
        for lead in ("V2", "V3", "V4"):
            amps[L.BASIS.index(lead), iw["T"]] *= 1.3
    return amps


def af_beat_times(rng: np.random.Generator, af: Mapping[str, Any], t_start: float, t_end: float) -> np.ndarray:
    """R-peak times (s) from ``t_start`` until past ``t_end`` in atrial fibrillation (:func:`av_node_rr`); the
    first beat falls uniformly within the first interval, as in :func:`beat_times`."""
    rr_prev = float(av_node_rr(rng, af, 1)[0])
    times = [t_start + rng.uniform(0.0, rr_prev)]
    while times[-1] <= t_end:
        rr_prev = float(av_node_rr(rng, af, 1, rr_prev=rr_prev)[0])
        times.append(times[-1] + rr_prev)
    return np.asarray(times)


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
    af = params.get("af")
    if af is None:
        r = beat_times(rng, patient, -2.5, duration_s + 1.5)
    else:
        r = af_beat_times(rng, af, -2.5, duration_s + 1.5)
    rr_prev = np.diff(r, prepend=r[0] - 60.0 / patient.hr_bpm)
    qrs = patient.qrs_ms / 1000.0
    qt = patient.qtc_ms / 1000.0 * np.cbrt(rr_prev)  # Fridericia, per beat, on the preceding RR
    shape = params.get("qrs_shape")  # None: the QRS of normal conduction
    onset = -0.46 * qrs if shape is None else shape["onset"]  # QRS onset relative to R
    s_t = 0.11 * qt
    s_p = 0.022
    tau_t = onset + qt - 2.5 * s_t  # T end (centre + 2.5 sd) = onset + QT
    j = 0.48 * qrs if shape is None else shape["j"]  # J point (QRS offset)
    tau_st = 0.5 * (j + tau_t)
    s_st = (tau_t - j) / 2.5
    nb = len(r)
    ones = np.ones(nb)
    pr = patient.pr_ms / 1000.0 if np.isfinite(patient.pr_ms) else 0.0  # AF: no P wave (amplitude 0)
    if shape is None:
        tau_qrs = [-0.3 * qrs * ones, 0 * ones, 0.3 * qrs * ones]
        width_qrs = [0.08 * qrs * ones, 0.10 * qrs * ones, 0.09 * qrs * ones]
    else:
        tau_qrs = [c * ones for c in shape["tau"]]
        width_qrs = [c * ones for c in shape["width"]]
    tau = np.stack([onset - pr + 2 * s_p * ones, *tau_qrs, tau_st, tau_t], axis=1)  # [nb, 6]
    width = np.stack([s_p * ones, *width_qrs, s_st, s_t], axis=1)
    amps = wave_amplitudes(patient, params)  # [8, 6 + k]
    # respiration modulates the QRS voltage beat to beat; small independent jitter on every wave
    resp = 1.0 + params["resp_depth"] * np.sin(2 * np.pi * params["resp_hz"] * r + params["resp_phase"])
    jitter = 1.0 + rng.normal(0.0, 0.015, size=(nb, len(WAVES)))
    scale = jitter.copy()
    scale[:, 1:4] *= resp[:, None]
    if shape is not None:  # the extra QRS waves of a bundle branch block
        k = len(shape["extra_tau"])
        tau = np.concatenate([tau, np.broadcast_to(np.asarray(shape["extra_tau"]), (nb, k))], axis=1)
        width = np.concatenate([width, np.broadcast_to(np.asarray(shape["extra_width"]), (nb, k))], axis=1)
        scale = np.concatenate([scale, (1.0 + rng.normal(0.0, 0.015, size=(nb, k))) * resp[:, None]], axis=1)
    beat_amps = amps[:, None, :] * scale[None, :, :]  # [8, nb, 6 + k]
    z8 = ecgsyn_leads(n, fs, (r[:, None] + tau).ravel(), width.ravel(), beat_amps.reshape(len(L.BASIS), -1))
    if af is not None:
        z8 = z8 + fwaves(af, t)
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
    """Label of every patient, from one permutation seeded by ``cfg.seed``: its first
    ``round(n_patients * abnormal_fraction)`` patients are ``mi``, the next ones ``af``, ``rbbb``, ``lbbb``
    (:func:`ecgdiff.data.synthetic_config.subgroup_counts`), the rest ``healthy``. The ``mi`` patients do not
    depend on the other fractions, and with those at 0 the labels are the ones of model version 2."""
    labels = np.full(cfg.n_patients, "healthy", dtype=object)
    order = _streams(cfg, 0).permutation(cfg.n_patients)
    start = 0
    for label, count in subgroup_counts(cfg).items():
        labels[order[start : start + count]] = label
        start += count
    return [str(x) for x in labels]


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
    new_groups = cfg.af_fraction > 0 or cfg.bbb_fraction > 0
    with atomic_path(root / "metadata.csv") as tmp:
        meta.to_csv(tmp, index=False)
    info = {
        "source": SOURCE,
        "model_version": MODEL_VERSION,
        "config": hashed_config(cfg),
        "cohort_hash": cohort_hash(cfg),
        "n_patients": int(len(meta)),
        "n_mi": int((meta["label"] == "mi").sum()),
        # counts of the subgroups added after model version 2, only where they exist (older cohorts unchanged)
        **({f"n_{lab}": int((meta["label"] == lab).sum()) for lab in ("af", "rbbb", "lbbb")} if new_groups else {}),
        "simulation_cpu_s": round(t_sim, 3),
        "total_s": round(time.perf_counter() - t_start, 3),
        "workers": workers,
        "leads": list(L.STANDARD_12),
        "note": "simulated ECGs, not patient data",
        "provenance": dict(provenance or {}),
    }
    write_json(root / "cohort.json", info)
    log.info(
        "synthetic cohort: %d patients (%s) in %.1f s with %d worker(s) (simulation %.1f s of it) to %s",
        info["n_patients"],
        ", ".join(f"{int(c)} {lab}" for lab, c in meta["label"].value_counts().sort_index().items()),
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
            diagnoses=(DIAGNOSES[row["label"]],) if row["label"] in DIAGNOSES else (),
            meta=extra,
        )


def load_cohort_info(root: str | os.PathLike[str]) -> dict[str, Any]:
    """The cohort's ``cohort.json``."""
    return read_json(Path(root) / "cohort.json")
