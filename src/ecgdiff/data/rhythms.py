"""One 10-s, 8-lead rhythm window per record: the input of the talk's rhythm prior.

The pipeline, per record (parameters in :class:`RhythmParams`, config section ``rhythm``; defaults are
the talk's, as the authors' rhythm code prepares PTB-XL):

1. Leads: the modelled leads ``leads`` (default :data:`ecgdiff.leads.BASIS` = I, II, V1-V6). A lead that
   was not recorded is derived exactly from recorded ones (:func:`ecgdiff.leads.derivation_matrix`: I =
   II - III from II and III, both limb leads from aVR and aVL, ...); a record that cannot give all of
   them is rejected. Deriving first and filtering second equals filtering every recorded lead and then
   deriving (the filters are linear and act on each lead alike), with fewer leads to filter.
2. Filters at the record's own rate, through the beat pipeline's own function
   (:func:`ecgdiff.data.beats.filter_signal`): zero-phase notches at 50 and 60 Hz (quality 50; a notch
   at or above Nyquist is skipped), then a zero-phase Butterworth high-pass at 0.6 Hz of order 5. The
   whole record is filtered before the window is cut, so the window's edges carry no filter transient
   beyond the record's own.
3. Resampling to ``fs`` (100 Hz) by ``scipy.signal.resample_poly`` (:func:`ecgdiff.data.beats.resample`,
   rational ratio: 500 -> 100 Hz is 1/5).
4. Window: the ``duration_s`` (10 s = 1000 samples) starting at ``start_s`` (default 0: the record's
   beginning, as the talk's code takes PTB-XL's 10-s records whole). A record shorter than
   ``start_s + duration_s`` is rejected; a longer one contributes this one window.
5. Zero padding at the end to ``padded_length`` (1024, the networks' length): samples
   ``[length, padded_length)`` are 0 and are never scored. Millivolts, no amplitude normalisation.

Quality rejects (:class:`ecgdiff.data.records.RecordError` naming the record): sampling rate below
``min_fs``, a modelled lead neither recorded nor derivable, NaN or infinite samples in any recorded lead,
a record shorter than the window, and a flat lead: a modelled lead whose peak-to-peak amplitude inside
the filtered window is at most ``flat_tol_mv`` (a disconnected electrode; a derived lead that is flat
means its recorded sources are).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .. import leads as L
from .beats import filter_signal, resample
from .records import Record, RecordError


@dataclass(frozen=True)
class RhythmParams:
    """Rhythm-window parameters (config section ``rhythm``; defaults are the talk's).

    Attributes:
        fs: sampling rate of the windows (Hz); 100 in the talk.
        duration_s: window length (s); 10 in the talk (``length = duration_s * fs`` = 1000 samples).
        padded_length: samples per window after zero padding at the end; 1024 (the networks' length).
        start_s: where the window starts in the record (s); 0.
        notch_hz, notch_q: notch filters (Hz) and their quality factor; 50 and 60 Hz, Q 50.
        highpass_hz, highpass_order: zero-phase Butterworth high-pass; 0.6 Hz, order 5.
        leads: modelled leads, in order; :data:`ecgdiff.leads.BASIS`.
        min_fs: records sampled more slowly are rejected (Hz); 100, ``fs`` (no record is up-sampled; must be
            at least ``fs``).
        flat_tol_mv: a window lead whose peak-to-peak is at most this (mV) is flat; 0.01 as the readers'
            check (:data:`ecgdiff.data.records.DEFAULT_OPTIONS`); negative: no flatness check.
    """

    fs: float = 100.0
    duration_s: float = 10.0
    padded_length: int = 1024
    start_s: float = 0.0
    notch_hz: tuple[float, ...] = (50.0, 60.0)
    notch_q: float = 50.0
    highpass_hz: float = 0.6
    highpass_order: int = 5
    leads: tuple[str, ...] = L.BASIS
    min_fs: float = 100.0
    flat_tol_mv: float = 0.01

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "leads", L.canonical_all(self.leads))
        except L.LeadError as exc:
            raise ValueError(f"rhythm.leads: {exc}") from None
        object.__setattr__(self, "notch_hz", tuple(float(f) for f in self.notch_hz))
        if not self.leads:
            raise ValueError("rhythm.leads must name at least one lead")
        if not (np.isfinite(self.fs) and self.fs > 0):
            raise ValueError(f"rhythm.fs must be a positive rate in Hz, got {self.fs}")
        if not self.duration_s > 0:
            raise ValueError(f"rhythm.duration_s must be positive, got {self.duration_s}")
        if abs(self.duration_s * self.fs - round(self.duration_s * self.fs)) > 1e-9:
            raise ValueError(f"rhythm.duration_s * fs = {self.duration_s * self.fs} must be a whole number of samples")
        if abs(self.start_s * self.fs - round(self.start_s * self.fs)) > 1e-9 or self.start_s < 0:
            raise ValueError(f"rhythm.start_s must be >= 0 and a whole number of samples, got {self.start_s}")
        if self.padded_length < self.length:
            raise ValueError(f"rhythm.padded_length {self.padded_length} is shorter than the window ({self.length})")
        if self.min_fs < self.fs:
            raise ValueError(f"rhythm.min_fs {self.min_fs} is below fs {self.fs}: records would be up-sampled")
        if any(not f > 0 for f in self.notch_hz) or self.notch_q <= 0:
            raise ValueError("rhythm.notch_hz must be positive frequencies and notch_q positive")
        if self.highpass_hz < 0 or self.highpass_order < 1:
            raise ValueError("rhythm.highpass_hz must be >= 0 and highpass_order >= 1")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> RhythmParams:
        """Parameters from a config mapping; unknown keys raise ``ValueError`` (values are converted to the
        defaults' types, lists to tuples)."""
        cfg = dict(cfg or {})
        known = {f.name for f in fields(cls)}
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f"unknown rhythm keys {sorted(unknown)}; known: {sorted(known)}")
        kw: dict[str, Any] = {}
        for key, value in cfg.items():
            default = getattr(cls, key)
            if key == "leads":
                kw[key] = tuple(str(v) for v in value)
            elif isinstance(default, tuple):
                kw[key] = tuple(float(v) for v in value)
            else:
                kw[key] = type(default)(value)
        return cls(**kw)

    @property
    def length(self) -> int:
        """Valid samples per window (``duration_s * fs``)."""
        return int(round(self.duration_s * self.fs))

    @property
    def start(self) -> int:
        """First sample of the window at ``fs``."""
        return int(round(self.start_s * self.fs))

    @property
    def pad_right(self) -> int:
        """Zero samples appended to each window."""
        return self.padded_length - self.length


@dataclass
class RhythmWindow:
    """One record's rhythm window and what it came from."""

    record_id: str
    x: np.ndarray  # [len(leads), padded_length] float32, millivolts, zeros from index `length` on
    leads: tuple[str, ...]
    derived: tuple[str, ...]  # modelled leads that were derived, not recorded
    fs_original: float
    n_samples_original: int


def rhythm_window(record: Record, params: RhythmParams = RhythmParams()) -> RhythmWindow:
    """The rhythm window of ``record`` (see the module docstring); :class:`RecordError` when it cannot give one."""
    rid = record.record_id
    x = np.asarray(record.signal, dtype=float)
    if x.ndim != 2 or x.shape[0] != len(record.leads):
        raise RecordError(rid, f"signal shape {x.shape} does not match {len(record.leads)} lead names")
    fs = float(record.fs)
    if not (np.isfinite(fs) and fs > 0):
        raise RecordError(rid, f"invalid sampling rate {record.fs!r}")
    if fs < params.min_fs:
        raise RecordError(rid, f"sampling rate {fs:g} Hz below the minimum {params.min_fs:g} Hz")
    try:
        transform = L.derivation_matrix(record.leads, params.leads)
    except L.LeadError:
        absent = [n for n in params.leads if n not in record.leads]
        raise RecordError(
            rid,
            f"missing lead(s): cannot form {list(params.leads)} from the recorded leads {list(record.leads)} "
            f"(absent: {absent}, not derivable from the others)",
        ) from None
    bad = ~np.isfinite(x)
    if bad.any():
        which = [f"{n} ({k} of {x.shape[1]} samples)" for n, k in zip(record.leads, bad.sum(axis=1)) if k]
        raise RecordError(rid, "NaN or infinite samples in lead(s) " + ", ".join(which))
    needed_s = params.start_s + params.duration_s
    if x.shape[1] < int(np.ceil(needed_s * fs - 1e-9)):
        raise RecordError(
            rid,
            f"shorter than the window: {x.shape[1] / fs:.3f} s recorded, {needed_s:g} s needed "
            f"(start {params.start_s:g} s + duration {params.duration_s:g} s)",
        )
    z = transform @ x
    try:
        y = resample(filter_signal(z, fs, params), fs, params.fs)
    except ValueError as exc:
        raise RecordError(rid, f"resampling: {exc}") from None
    window = y[:, params.start : params.start + params.length]
    if window.shape[1] != params.length:  # cannot happen for a record that passed the length check
        raise RecordError(rid, f"window has {window.shape[1]} samples after resampling, {params.length} expected")
    if params.flat_tol_mv >= 0:
        ptp = np.ptp(window, axis=1)
        flat = [f"{n} ({p:.3g} mV)" for n, p in zip(params.leads, ptp) if p <= params.flat_tol_mv]
        if flat:
            raise RecordError(
                rid,
                f"flat lead(s): peak-to-peak at most {params.flat_tol_mv:g} mV in the filtered window: "
                + ", ".join(flat),
            )
    out = np.zeros((len(params.leads), params.padded_length), dtype=np.float32)
    out[:, : params.length] = window
    return RhythmWindow(
        record_id=rid,
        x=out,
        leads=params.leads,
        derived=tuple(n for n in params.leads if n not in record.leads),
        fs_original=fs,
        n_samples_original=int(x.shape[1]),
    )
