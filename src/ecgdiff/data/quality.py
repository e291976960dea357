"""Signal-quality checks of the beat database: records whose signal cannot be trusted are rejected, with the
reason, before their beats reach a split.

Each check answers one way a real recording (or its conversion) goes wrong; :class:`QualityParams` holds
the thresholds (config section ``data.quality``), each with its source. The margins quoted below were
measured by ``benchmarks/quality_margins.py`` on the 332 LUDB and CinC-2021 records of the local PhysioNet
copy that give beats and on corrupted copies of its 50 healthy records (``docs/data.md``, "Signal-quality
checks: measured margins"), with the lead set of ``config/real.yaml``. Record-level checks on the raw
signal (:func:`check_signal`, statistics :func:`rail_run`, :func:`plateau_counts`,
:func:`lead_law_correlations`):

- **stuck at the rail**: a lead that sits on the lowest or highest valid sample value of its WFDB format
  (``Record.meta['rails_mv']``, e.g. 32767 in format 16) for at least ``rail_min_s`` (100 ms, a QRS
  complex: no ECG wave stays at a fixed value that long, a saturated amplifier does; no real record
  touches a rail at all);
- **clipping**: a lead whose maximum (or minimum) value is held for at least ``clip_min_run_s`` (8 ms) in
  at least ``clip_min_runs`` (5) separate places: the peaks of several beats cut at one level. A natural
  signal reaches its exact extreme in few places: healthy records in at most 1, MI records in at most 2,
  all records in at most 4 (LUDB record 120; the challenge records at most 3), so the margin is one
  place; every lead clipped at 70 % of its maximum gives at least 7 (all caught);
- **lead laws**: when redundant limb leads are recorded, each of them must agree with what Einthoven's and
  Goldberger's laws (:mod:`ecgdiff.leads`) give from the other recorded limb leads: their correlation must
  not fall below ``limb_min_corr`` (0). An inverted limb lead correlates -1 to -0.72 with its own
  derivation (all caught); LUDB's limb leads, whose per-lead gains differ from the laws, still correlate
  at least 0.28 (record 41; healthy records at least 0.68), the challenge's at least 0.999. A limb lead
  replaced by noise correlates -0.14 to +0.02, so the threshold 0 catches only half of those.

Beat-level checks on the beats of the lead set, in millivolts before normalisation (:func:`check_beats`,
statistics :func:`beat_statistics`):

- **QRS detectability**: the detected beats must repeat: the median, over every detected beat, of its
  correlation with the template (the mean of the *other* beats, all leads together) must reach
  ``template_min_corr`` = 0.66, the threshold of Orphanidou et al. (2015, IEEE J Biomed Health Inform
  19:832, "average correlation coefficient" of beats with the template) for an acceptable ECG. Leaving
  the beat out of its own template makes the correlation of pure noise 0 whatever the number of beats (a
  template that includes the beat correlates with it by construction). Noise records, uniform random
  samples and white noise give about 0. Real healthy records: at least 0.93; one MI record (0.56) and
  one AF record (0.54) fall below. One noise lead among nine leaves it at 0.86 to 0.99 (the next check's
  case).
- **noise-like leads**: each lead of the kept beats, by itself: the median of the same leave-one-out
  correlation must reach ``lead_min_corr`` = 0.5. Orphanidou's 0.66 holds for a whole record; applied to
  each of 9 leads separately it would also reject physiological low-amplitude leads (LUDB's MI record 64:
  V6 of 0.18 mV, 0.53; the lowest kept, 0.52, are leads of 0.17 to 0.20 mV), while a precordial lead
  replaced by noise gives -0.10 to 0.19 (97 % caught). A recorded limb lead replaced by noise is diluted
  in the lead set's limb leads (derived by least squares from all recorded limb leads: 0.44 to 0.96) and
  is left to the lead laws. Needs at least 2 kept beats; with 2 or 3 the median is fragile: one healthy
  record with 3 kept beats is rejected (V1 -0.37).
- **amplitude**: the median QRS amplitude (maximum ``|x|`` in the normalisation window) of each lead must
  not exceed ``max_qrs_mv`` = 10 mV, twice the +-5 mV input range that IEC 60601-2-25 requires of
  diagnostic electrocardiographs: a larger value is a wrong gain or unit, not a heart (the largest in the
  challenge records: 5.14 mV; LUDB's copy has every lead scaled to 1 mV peak to peak).
- **lead II polarity**: lead II (recorded or derived) inverted: its QRS complex, P wave and T wave all
  negative. In sinus rhythm the P wave in II is upright by definition and the T wave follows the QRS; a
  left axis deviation makes the QRS negative but not all three. Applied only when fewer than three limb
  leads are recorded (with more, the lead laws catch a single inverted lead; an inversion consistent
  with the laws passes). No healthy record shows all three negative, but 6 of 282 others do (LUDB 83
  and 116, four challenge records: all 12-lead records, hence not rejected); an inverted II in the 8
  independent leads is caught in 86 % of the healthy records.
- **R-wave progression V1 -> V6**: V1 and V6 swapped: exchanging them makes the precordial sequence
  smoother (adjacent-lead template correlations V1-V2 and V5-V6 rise by more than ``swap_margin`` = 0.5 in
  total) *and* the labelled V1 has a larger net QRS than the labelled V6 (R waves regress instead of
  progressing). Real records: gain at most 0.23 (LUDB at most 0.004); swapped healthy records 0.36 to
  3.7, 96 % caught.

Duplicates (the same samples under two record names) are found by :func:`signal_sha256` in
:func:`ecgdiff.data.beatdb.extract_all`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .. import leads as L
from .records import Record, RecordError


class QualityError(RecordError):
    """A record rejected by a quality check (stage ``quality`` of ``rejects.csv``)."""


@dataclass(frozen=True)
class QualityParams:
    """Thresholds of the quality checks (config section ``data.quality``); see the module docstring for the
    source of each default. ``enabled: false`` turns every check off (the database of earlier versions)."""

    enabled: bool = True
    template_min_corr: float = 0.66
    lead_min_corr: float = 0.5
    max_qrs_mv: float = 10.0
    rail_min_s: float = 0.1
    clip_min_runs: int = 5
    clip_min_run_s: float = 0.008
    limb_min_corr: float = 0.0
    swap_margin: float = 0.5
    polarity: bool = True
    duplicates: bool = True

    def __post_init__(self) -> None:
        for name in ("template_min_corr", "lead_min_corr", "limb_min_corr"):
            if not -1.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"data.quality.{name} must lie in [-1, 1], got {getattr(self, name)}")
        for name in ("max_qrs_mv", "rail_min_s", "clip_min_run_s", "swap_margin"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"data.quality.{name} must be positive, got {getattr(self, name)}")
        if int(self.clip_min_runs) < 2:
            raise ValueError(f"data.quality.clip_min_runs must be at least 2, got {self.clip_min_runs}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> QualityParams:
        cfg = dict(cfg or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(cfg) - set(known))
        if unknown:
            raise ValueError(f"unknown data.quality keys {unknown}; known: {sorted(known)}")
        return cls(**{k: type(getattr(cls, k))(v) for k, v in cfg.items()})


# ------------------------------------------------------------------------------------------ helpers
def signal_sha256(record: Record) -> str:
    """SHA-256 of a record's samples (rounded to 1 nV, so that the same file read through headers in mV or
    uV hashes alike), its shape and sampling rate: the identity of "the same ECG"."""
    x = np.round(np.asarray(record.signal, dtype=np.float64), 6) + 0.0  # + 0.0: -0.0 -> 0.0
    h = hashlib.sha256(f"{x.shape}|{float(record.fs):.6f}|".encode())
    h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis (0 where either side is constant)."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    num = (a * b).sum(axis=-1)
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def loo_template_corr(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out template correlations of beats ``windows [n, leads, T]`` (n >= 2).

    Returns ``(per_lead [n, leads], joint [n])``: the correlation of each beat with the mean of the other
    ``n - 1`` beats, lead by lead, and over all leads together (the leads concatenated)."""
    w = np.asarray(windows, dtype=float)
    n = w.shape[0]
    if n < 2:
        raise ValueError("leave-one-out template correlation needs at least 2 beats")
    templates = (w.sum(axis=0, keepdims=True) - w) / (n - 1)
    return _corr(w, templates), _corr(w.reshape(n, -1), templates.reshape(n, -1))


def _runs(mask: np.ndarray) -> np.ndarray:
    """Lengths of the runs of True in a boolean vector."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)


# ------------------------------------------------------------------------------------------ record level
def plateau_counts(lead: np.ndarray, fs: float, min_run_s: float) -> dict[str, int]:
    """Number of separate places where ``lead`` holds its maximum (``"maximum"``) or its minimum
    (``"minimum"``) value for at least ``min_run_s`` (at least 2 samples): the statistic of the clipping
    check."""
    min_len = max(2, int(round(min_run_s * fs)))
    return {
        side: int((_runs(lead == value) >= min_len).sum())
        for side, value in (("maximum", np.nanmax(lead)), ("minimum", np.nanmin(lead)))
    }


def rail_run(lead: np.ndarray, rail: float) -> int:
    """Longest run of samples of ``lead`` on the rail value ``rail`` (mV): the statistic of the rail check."""
    runs = _runs(np.abs(lead - rail) <= 1e-9 * max(1.0, abs(rail)))
    return int(runs.max()) if len(runs) else 0


def check_signal(record: Record, params: QualityParams = QualityParams()) -> list[str]:
    """Reasons (possibly none) why the raw signal of ``record`` cannot be trusted: leads stuck at the rail,
    clipped leads, limb leads that break Einthoven's and Goldberger's laws (see the module docstring)."""
    if not params.enabled:
        return []
    x = np.asarray(record.signal, dtype=float)
    fs = float(record.fs)
    reasons = []
    rails = record.meta.get("rails_mv") or [None] * len(record.leads)
    stuck, clipped = [], []
    min_len = max(2, int(round(params.clip_min_run_s * fs)))
    for k, name in enumerate(record.leads):
        lead = x[k]
        finite = np.isfinite(lead)
        if not finite.any() or np.ptp(lead[finite]) == 0:
            continue  # NaN and flat leads are check_record's
        if k < len(rails) and rails[k] is not None:
            for rail in rails[k]:
                held = rail_run(lead, rail)
                if held >= params.rail_min_s * fs:
                    stuck.append(f"{name} ({rail:+.4g} mV for {held / fs:.2f} s)")
        counts = plateau_counts(lead, fs, params.clip_min_run_s)
        for side, value in (("maximum", np.nanmax(lead)), ("minimum", np.nanmin(lead))):
            n = counts[side]
            if n >= params.clip_min_runs:
                clipped.append(f"{name} ({n} plateaus of >= {min_len} samples at its {side} {value:.4g} mV)")
    if stuck:
        reasons.append(
            f"lead(s) stuck at the rail (the extreme sample value of the format for >= {params.rail_min_s:g} s): "
            + ", ".join(stuck)
        )
    if clipped:
        reasons.append("clipped lead(s): " + ", ".join(clipped))
    bad = lead_law_violations(record, params.limb_min_corr)
    if bad:
        reasons.append(
            "limb leads break Einthoven's/Goldberger's laws (correlation with the value derived from the other "
            "recorded limb leads; an inverted or mislabelled lead gives about -1): "
            + ", ".join(f"{n} {c:.2f}" for n, c in bad)
        )
    return reasons


def lead_law_correlations(record: Record) -> list[tuple[str, float]]:
    """Each recorded limb lead with the correlation between it and its derivation from the other recorded
    limb leads (:func:`ecgdiff.leads.derivation_matrix`, least squares over all of them), worst first: the
    statistic of the lead-law check. Empty with fewer than three recorded limb leads (two of them determine
    the rest) or non-finite samples."""
    limb = [n for n in record.leads if n in L.LIMB]
    if len(limb) < 3:
        return []
    x = np.asarray(record.signal, dtype=float)
    rows = {n: x[record.leads.index(n)] for n in limb}
    if not all(np.isfinite(r).all() for r in rows.values()):
        return []
    out = []
    for name in limb:
        others = [n for n in limb if n != name]
        try:
            t = L.derivation_matrix(others, (name,))
        except L.LeadError:
            continue
        derived = t[0] @ np.stack([rows[n] for n in others])
        out.append((name, float(_corr(rows[name], derived))))
    return sorted(out, key=lambda item: item[1])


def lead_law_violations(record: Record, min_corr: float = 0.0) -> list[tuple[str, float]]:
    """The :func:`lead_law_correlations` below ``min_corr``, worst first."""
    return [(n, c) for n, c in lead_law_correlations(record) if c < min_corr]


# ------------------------------------------------------------------------------------------ beat level
def _templates(y: np.ndarray, names: Sequence[str], peaks: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """Median beat ``[-300 ms, +500 ms]`` around ``peaks`` of every standard lead derivable from the rows of
    ``y`` (the preprocessed record, leads ``names``)."""
    lo, hi = int(round(0.3 * fs)), int(round(0.5 * fs))
    peaks = peaks[(peaks - lo >= 0) & (peaks + hi <= y.shape[1])]
    if len(peaks) == 0:
        return {}
    idx = peaks[:, None] + np.arange(-lo, hi)[None, :]
    beats = np.transpose(y[:, idx], (1, 0, 2))
    template = np.median(beats, axis=0)
    out = {}
    for lead in L.STANDARD_12:
        try:
            t = L.derivation_matrix(names, (lead,))
        except L.LeadError:
            continue
        out[lead] = t[0] @ template
    return out


def _wave(template: np.ndarray, fs: float, start_ms: float, stop_ms: float) -> np.ndarray:
    r = int(round(0.3 * fs))
    return template[r + int(round(start_ms * fs / 1000)) : r + int(round(stop_ms * fs / 1000)) + 1]


def _dominant(segment: np.ndarray) -> float:
    """The largest deflection of a wave, with its sign."""
    return float(segment[np.argmax(np.abs(segment))])


def lead_ii_inverted(templates: Mapping[str, np.ndarray], fs: float) -> bool:
    """Lead II's QRS complex (dominant deflection within R +- 60 ms), P wave (R - 260 .. R - 80 ms) and T
    wave (R + 150 .. R + 450 ms) all negative, each measured from the PR segment (mean over R - 70 .. R - 50
    ms, the isoelectric level before the QRS)."""
    if "II" not in templates:
        return False
    t = templates["II"]
    level = float(_wave(t, fs, -70, -50).mean())
    waves = [_dominant(_wave(t, fs, a, b) - level) for a, b in ((-60, 60), (-260, -80), (150, 450))]
    return all(w < 0 for w in waves)


def precordial_swap_gain(templates: Mapping[str, np.ndarray]) -> float | None:
    """How much smoother the precordial sequence gets when V1 and V6 are exchanged: ``c(V6,V2) + c(V5,V1) -
    c(V1,V2) - c(V5,V6)`` of the template correlations (None without V1, V2, V5, V6)."""
    if not all(n in templates for n in ("V1", "V2", "V5", "V6")):
        return None
    c = {
        (a, b): float(_corr(templates[a], templates[b]))
        for a, b in (("V6", "V2"), ("V5", "V1"), ("V1", "V2"), ("V5", "V6"))
    }
    return c[("V6", "V2")] + c[("V5", "V1")] - c[("V1", "V2")] - c[("V5", "V6")]


def beat_statistics(
    record: Record,
    detected: np.ndarray,
    kept: np.ndarray,
    y: np.ndarray,
    peaks: np.ndarray,
    fs: float,
    qrs: tuple[int, int],
    before: int,
) -> dict[str, Any]:
    """The statistics the beat-level checks threshold (arguments as :func:`check_beats`'s).

    ``joint_corr``: median leave-one-out template correlation of ``detected``, all leads together (None
    with fewer than 2); ``lead_corr [leads]``: the same of each lead of ``kept`` (None with fewer than 2);
    ``qrs_mv [leads]``: median QRS amplitude of each lead of ``kept`` (None without beats); from the median
    templates of the recorded leads: ``limb_recorded`` (recorded limb leads), ``ii_inverted``
    (:func:`lead_ii_inverted`), ``swap_gain`` (:func:`precordial_swap_gain`, None without V1, V2, V5,
    V6) and ``net_qrs_mv`` (dominant QRS deflection of V1 and V6)."""
    out: dict[str, Any] = {"joint_corr": None, "lead_corr": None, "qrs_mv": None}
    out.update(limb_recorded=0, ii_inverted=False, swap_gain=None, net_qrs_mv=None)
    if len(detected) >= 2:
        out["joint_corr"] = float(np.median(loo_template_corr(detected)[1]))
    if len(kept) >= 2:
        out["lead_corr"] = np.median(loo_template_corr(kept)[0], axis=0)
    if len(kept):
        out["qrs_mv"] = np.median(np.abs(kept[..., before + qrs[0] : before + qrs[1] + 1]).max(axis=-1), axis=0)
        names = [n for n in record.leads if n in L.STANDARD_12]
        rows = [record.leads.index(n) for n in names]
        templates = _templates(y[rows], names, np.asarray(peaks), fs)
        out["limb_recorded"] = sum(n in L.LIMB for n in names)
        out["ii_inverted"] = lead_ii_inverted(templates, fs)
        out["swap_gain"] = precordial_swap_gain(templates)
        if out["swap_gain"] is not None:
            out["net_qrs_mv"] = {n: float(_dominant(_wave(templates[n], fs, -60, 60))) for n in ("V1", "V6")}
    return out


def check_beats(
    record: Record,
    lead_set: Sequence[str],
    detected: np.ndarray,
    kept: np.ndarray,
    y: np.ndarray,
    peaks: np.ndarray,
    fs: float,
    qrs: tuple[int, int],
    before: int,
    params: QualityParams = QualityParams(),
) -> list[str]:
    """Reasons (possibly none) why the beats of ``record`` cannot be trusted (see the module docstring),
    from the :func:`beat_statistics`.

    ``detected``: windows ``[n, leads, T]`` (lead set, mV) of every detected beat that fits the record;
    ``kept``: those that passed the flat-lead check; ``y``: the preprocessed record ``[recorded leads, n]`` at
    ``fs`` and ``peaks`` the R peaks of ``kept``; ``qrs``: the normalisation window relative to R (samples,
    both ends included); ``before``: the R index in a window."""
    if not params.enabled:
        return []
    stats = beat_statistics(record, detected, kept, y, peaks, fs, qrs, before)
    reasons = []
    if stats["joint_corr"] is None:
        reasons.append(
            f"QRS complexes cannot be checked: {len(detected)} beat window(s) detected in "
            f"{y.shape[1] / fs:.1f} s, at least 2 are needed to compare them"
        )
    elif stats["joint_corr"] < params.template_min_corr:
        reasons.append(
            f"QRS complexes do not repeat (noise?): median template correlation {stats['joint_corr']:.2f} of "
            f"{len(detected)} detected beats < {params.template_min_corr:g}"
        )
    if stats["lead_corr"] is not None:
        noisy = [f"{n} {m:.2f}" for n, m in zip(lead_set, stats["lead_corr"]) if m < params.lead_min_corr]
        if noisy:
            reasons.append(
                f"noise-like lead(s) (median template correlation < {params.lead_min_corr:g} over {len(kept)} beats): "
                + ", ".join(noisy)
            )
    if stats["qrs_mv"] is not None:
        big = [f"{n} {a:.3g} mV" for n, a in zip(lead_set, stats["qrs_mv"]) if a > params.max_qrs_mv]
        if big:
            reasons.append(
                f"absurd amplitude (wrong gain or units?): QRS above {params.max_qrs_mv:g} mV in " + ", ".join(big)
            )
    if params.polarity and len(kept):
        if stats["limb_recorded"] < 3 and stats["ii_inverted"]:
            reasons.append("lead II inverted: its QRS complex, P wave and T wave are all negative")
        gain, net = stats["swap_gain"], stats["net_qrs_mv"]
        if gain is not None and gain > params.swap_margin and net["V1"] > net["V6"]:
            reasons.append(
                f"V1 and V6 look swapped: exchanging them raises the adjacent-lead template correlations by "
                f"{gain:.2f} (> {params.swap_margin:g}) and R waves regress from V1 ({net['V1']:+.2f} mV) to "
                f"V6 ({net['V6']:+.2f} mV)"
            )
    return reasons
