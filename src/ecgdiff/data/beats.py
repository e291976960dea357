"""Beat extraction (paper section 2.4): from a multi-lead record to normalised single-beat windows.

The pipeline, per record (each step a function below, all parameters in :class:`BeatParams`, read from
the configuration section ``data.beats``):

1. :func:`filter_signal`, at the record's own sampling rate: notch filters at 50 and 60 Hz (quality
   factor 50), then a 0.6-Hz Butterworth high-pass of order 5; every filter is applied forwards and
   backwards (zero phase), so that no wave is shifted. Notches at or above Nyquist are skipped.
2. :func:`resample`: polyphase resampling to 250 Hz (``scipy.signal.resample_poly``, rational ratio).
3. :func:`detect_r_peaks` (the project's R-peak detector, also scored by
   :mod:`ecgdiff.validation.detector`): the first principal component across all recorded leads, its
   sign chosen so that the typical QRS complex points upwards (:func:`orient`; a principal component's
   sign is arbitrary and the detector below looks for maxima), smoothed by a Savitzky-Golay filter
   (window 15, order 3), then ``neurokit2.ecg_peaks`` with its default method (``"neurokit"``: the
   gradient-based detector of biopeaks). Three refinements are ours, not the paper's, and none changes
   anything on a clean 10-s 12-lead record: in records longer than 20 s the principal axis is that of
   the median covariance of 10-s pieces (:func:`first_principal_component`; ``pca_segment_s``), so that
   an artefact episode in one lead cannot capture it; detections whose steepest slope is below 30 %
   of the running median of their neighbours' are dropped (:func:`reject_shallow`; ``min_slope_ratio``):
   P and T waves that the detector's adaptive threshold lets through; and beats missed inside long R-R
   gaps are searched for again (:func:`search_back`; ``searchback_*``): ventricular beats during runs of
   ventricular tachycardia. ``docs/data.md`` reports the detector's scores with and without them.
4. :func:`window_beats`: windows ``[R - 48, R + 128)`` samples (R - 192 ms to R + 512 ms at 250 Hz, R at
   index 48) of the leads of the configured lead set, derived from the recorded leads by
   :func:`ecgdiff.leads.derive`. The first detected beat is dropped (it has no preceding RR interval);
   beats whose window leaves the record are dropped. RR is the preceding R-R interval in milliseconds.
5. :func:`quality_mask`: a beat is kept only if every lead moves: the standard deviation of each lead over
   the 41 samples ``[R - 20, R + 20]`` (+-80 ms) exceeds 0.05 **millivolt**. The threshold applies to the
   filtered, resampled signal in physical units, before normalisation: after normalisation every lead
   has a QRS maximum of 1 and the rule would no longer detect a flat (disconnected) lead.
6. :func:`normalise`: each lead of each beat is divided by its maximum absolute value during the QRS,
   taken as the window ``[R - 60 ms, R + 60 ms]`` (samples ``[R - 15, R + 15]`` at 250 Hz): wide enough
   for the R and S waves of a normal QRS (80-110 ms), narrow enough to exclude P and T waves (which
   could otherwise set the scale in a lead with a small QRS). The scale factors (mV) are kept.

:func:`extract_beats` chains the steps for one :class:`ecgdiff.data.records.Record`. A record that cannot be
processed raises :class:`ecgdiff.data.records.RecordError` naming it and the reason; dropped beats are
returned as reject rows (``stage``, ``reason``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

import numpy as np
from scipy import signal as sps

from .. import leads as L
from .quality import QualityError, QualityParams, check_beats, check_signal
from .records import Record, RecordError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BeatParams:
    """Beat-extraction parameters (config section ``data.beats``; defaults are the paper's)."""

    fs: float = 250.0
    before: int = 48
    after: int = 128
    notch_hz: tuple[float, ...] = (50.0, 60.0)
    notch_q: float = 50.0
    highpass_hz: float = 0.6
    highpass_order: int = 5
    savgol_window: int = 15
    savgol_order: int = 3
    pca_segment_s: float = 10.0
    min_slope_ratio: float = 0.3
    slope_neighbours: int = 15
    searchback_gap_ratio: float = 1.5
    searchback_min_slope_ratio: float = 0.6
    searchback_refractory_s: float = 0.25
    quality_half_width: int = 20
    quality_min_std_mv: float = 0.05
    qrs_ms: tuple[float, float] = (-60.0, 60.0)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> BeatParams:
        cfg = dict(cfg or {})
        unknown = set(cfg) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown data.beats keys {sorted(unknown)}")
        kw: dict[str, Any] = {}
        for k, v in cfg.items():
            default = getattr(cls, k)
            kw[k] = tuple(float(x) for x in v) if isinstance(default, tuple) else type(default)(v)
        p = cls(**kw)
        if p.savgol_window % 2 == 0 or p.savgol_window <= p.savgol_order:
            raise ValueError("data.beats.savgol_window must be odd and larger than savgol_order")
        if p.qrs_ms[0] >= p.qrs_ms[1]:
            raise ValueError("data.beats.qrs_ms must be an increasing pair")
        lo, hi = p.qrs_window
        if not (-p.before <= lo <= 0 <= hi < p.after):
            raise ValueError(f"QRS window {p.qrs_ms} ms falls outside the beat window")
        if p.quality_half_width > min(p.before, p.after - 1):
            raise ValueError("data.beats.quality_half_width exceeds the beat window")
        return p

    @property
    def length(self) -> int:
        return self.before + self.after

    @property
    def qrs_window(self) -> tuple[int, int]:
        """QRS window relative to R, in samples at :attr:`fs`, both ends included."""
        return int(round(self.qrs_ms[0] * self.fs / 1000.0)), int(round(self.qrs_ms[1] * self.fs / 1000.0))


# ----------------------------------------------------------------------------- 1-2: filters, resampling
class FilterParams(Protocol):
    """The settings :func:`filter_signal` and :func:`preprocess` read: :class:`BeatParams` and the rhythm
    pipeline's :class:`ecgdiff.data.rhythms.RhythmParams` both provide them, so both pipelines filter
    through this one code path."""

    @property
    def fs(self) -> float: ...
    @property
    def notch_hz(self) -> tuple[float, ...]: ...
    @property
    def notch_q(self) -> float: ...
    @property
    def highpass_hz(self) -> float: ...
    @property
    def highpass_order(self) -> int: ...


def filter_signal(x: np.ndarray, fs: float, params: FilterParams = BeatParams()) -> np.ndarray:
    """Zero-phase notch filters (``params.notch_hz``, quality ``notch_q``) then a Butterworth high-pass.

    ``x`` is ``[..., n]`` (time last). Notches at or above Nyquist are skipped.
    """
    y = np.asarray(x, dtype=float)
    for f0 in params.notch_hz:
        if f0 < fs / 2.0:
            b, a = sps.iirnotch(f0, params.notch_q, fs=fs)
            y = sps.filtfilt(b, a, y, axis=-1)
    if params.highpass_hz > 0:
        sos = sps.butter(params.highpass_order, params.highpass_hz, btype="highpass", fs=fs, output="sos")
        y = sps.sosfiltfilt(sos, y, axis=-1)
    return y


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Polyphase resampling of ``x [..., n]`` from ``fs_in`` to ``fs_out`` Hz (time last)."""
    if float(fs_in) == float(fs_out):
        return np.asarray(x, dtype=float)
    ratio = Fraction(float(fs_out) / float(fs_in)).limit_denominator(1000)
    if abs(float(ratio) - fs_out / fs_in) > 1e-9 * fs_out / fs_in:
        raise ValueError(f"cannot resample {fs_in} Hz to {fs_out} Hz by a rational ratio with denominator <= 1000")
    return sps.resample_poly(np.asarray(x, dtype=float), ratio.numerator, ratio.denominator, axis=-1)


def preprocess(x: np.ndarray, fs: float, params: FilterParams = BeatParams()) -> np.ndarray:
    """Filter at ``fs`` then resample to ``params.fs`` (steps 1-2)."""
    return resample(filter_signal(x, fs, params), fs, params.fs)


# ----------------------------------------------------------------------------- 3: R peaks
def first_principal_component(x: np.ndarray, segment: int | None = None) -> np.ndarray:
    """Projection of the centred ``x [leads, n]`` on its first principal axis.

    With ``segment`` (samples), the principal axis is that of the element-wise median of the
    covariance matrices of the record's consecutive ``segment``-long pieces, instead of the whole
    record's covariance: in a long record, an artefact episode in one lead (electrode motion,
    saturation) otherwise dominates the covariance and turns the axis towards that lead. A record no
    longer than two segments has one piece: the plain principal component (every 10-s 12-lead record).
    The sign is that returned by ``eigh``; see :func:`orient` for the sign the detector uses.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError("expected [leads, samples]")
    xc = x - x.mean(axis=1, keepdims=True)
    if x.shape[0] == 1:
        return xc[0]
    n_pieces = xc.shape[1] // segment if segment else 1
    if n_pieces <= 1:
        cov = xc @ xc.T
    else:
        pieces = xc[:, : n_pieces * segment].reshape(xc.shape[0], n_pieces, segment)
        cov = np.median(np.einsum("lps,mps->plm", pieces, pieces), axis=0)
    _, evecs = np.linalg.eigh(cov)
    return evecs[:, -1] @ xc


def orient(pc: np.ndarray, fs: float) -> np.ndarray:
    """Sign of a principal component chosen so that the typical QRS complex points upwards.

    A principal component's sign is arbitrary, and neurokit2's detector takes the most prominent
    *maximum* inside each QRS complex, so an upside-down component makes it mark a side lobe instead
    of the main deflection. The largest absolute excursion of each beat (peaks of ``|pc|`` at least
    0.3 s apart and at least 30 % of its 99.5th percentile) votes with its sign; the median vote wins.
    Using the median of all beats rather than the single largest excursion keeps a few large ectopic
    beats of opposite polarity from deciding.
    """
    a = np.abs(pc)
    if not np.any(a > 0):
        return pc
    peaks, _ = sps.find_peaks(a, height=0.3 * np.quantile(a, 0.995), distance=max(1, int(round(0.3 * fs))))
    if len(peaks) == 0:
        return pc
    return pc if np.median(pc[peaks]) >= 0 else -pc


def _running_median(values: np.ndarray, n: int) -> np.ndarray:
    """Centred running median over ``n`` values; the window shrinks at the ends (no padding)."""
    import pandas as pd

    return pd.Series(values).rolling(max(1, n), center=True, min_periods=1).median().to_numpy()


def _steepest_slopes(
    smooth: np.ndarray, peaks: np.ndarray, fs: float, half_window_ms: float
) -> tuple[np.ndarray, int, np.ndarray]:
    """``|gradient|`` of ``smooth``, the half window in samples, and each detection's steepest slope:
    the largest ``|gradient|`` within ``+-half_window_ms`` of it."""
    g = np.abs(np.gradient(smooth))
    h = max(1, int(round(half_window_ms * fs / 1000.0)))
    idx = np.clip(peaks[:, None] + np.arange(-h, h + 1)[None, :], 0, len(g) - 1)
    return g, h, g[idx].max(axis=1)


def reject_shallow(
    smooth: np.ndarray,
    peaks: np.ndarray,
    fs: float,
    min_ratio: float = 0.3,
    neighbours: int = 15,
    half_window_ms: float = 60.0,
) -> np.ndarray:
    """Drop detections whose steepest slope is below ``min_ratio`` times that of their neighbours.

    The slope of a detection is the largest ``|gradient|`` of the smoothed component within
    ``+-half_window_ms`` of it; its reference is the running median of that slope over ``neighbours``
    consecutive detections. A QRS complex is the steepest wave of a beat: P and T waves that neurokit2's
    adaptive threshold lets through during long pauses (2:1 AV block) or with tall T waves have a
    fraction of its slope. ``min_ratio = 0`` keeps every detection.
    """
    peaks = np.asarray(peaks, dtype=np.int64)
    if min_ratio <= 0 or len(peaks) < 3:
        return peaks
    _, _, slope = _steepest_slopes(smooth, peaks, fs, half_window_ms)
    return peaks[slope >= min_ratio * _running_median(slope, neighbours)]


def search_back(
    smooth: np.ndarray,
    peaks: np.ndarray,
    fs: float,
    gap_ratio: float = 1.5,
    min_ratio: float = 0.6,
    refractory_s: float = 0.25,
    neighbours: int = 15,
    half_window_ms: float = 60.0,
) -> np.ndarray:
    """Add the beats missed inside long gaps between detections (a search-back, as in Pan & Tompkins).

    A gap is long when the R-R interval exceeds ``gap_ratio`` times the running median of ``neighbours``
    consecutive intervals. Inside it, at least ``refractory_s`` from both ends, every local maximum of the
    smoothed component's ``|gradient|`` at least ``refractory_s`` apart and at least ``min_ratio`` times
    the running median of the detected beats' steepest slopes (:func:`reject_shallow`'s measure, the
    smaller of the gap's two ends) becomes a beat, placed at the largest ``|component|`` within
    ``+-half_window_ms`` of that slope: a wide ventricular beat may point down. neurokit2's detector
    misses such beats during runs of ventricular tachycardia, whose large, continuous gradient raises its
    moving-average threshold. ``gap_ratio = 0`` adds nothing.
    """
    peaks = np.asarray(peaks, dtype=np.int64)
    if gap_ratio <= 0 or len(peaks) < 3:
        return peaks
    g, h, slope = _steepest_slopes(smooth, peaks, fs, half_window_ms)
    slope = _running_median(slope, neighbours)
    rr = np.diff(peaks)
    ref_rr = _running_median(rr, neighbours)
    r = max(1, int(round(refractory_s * fs)))
    added: list[int] = []
    for k in np.flatnonzero(rr > gap_ratio * ref_rr):
        lo, hi = int(peaks[k]) + r, int(peaks[k + 1]) - r
        if hi <= lo:
            continue
        found, _ = sps.find_peaks(g[lo:hi], height=min_ratio * min(slope[k], slope[k + 1]), distance=r)
        for c in found + lo:
            a, b = max(0, c - h), min(len(smooth), c + h + 1)
            added.append(a + int(np.argmax(np.abs(smooth[a:b]))))
    return np.unique(np.concatenate([peaks, np.asarray(added, dtype=np.int64)]))


def detect_r_peaks(x: np.ndarray, fs: float, params: BeatParams = BeatParams()) -> np.ndarray:
    """R-peak sample indices of the preprocessed multi-lead signal ``x [leads, n]`` sampled at ``fs``.

    First principal component (oriented by :func:`orient`), Savitzky-Golay smoothing,
    ``neurokit2.ecg_peaks`` with its default method, then :func:`reject_shallow` (``min_slope_ratio``) and
    :func:`search_back` (``searchback_*``). Note that neurokit2's detector reports no peak within its
    refractory period (0.3 s) of the start.
    """
    import neurokit2 as nk

    segment = int(round(params.pca_segment_s * fs)) if params.pca_segment_s > 0 else None
    pc = orient(first_principal_component(x, segment), fs)
    if pc.shape[-1] <= params.savgol_window:
        return np.zeros(0, dtype=np.int64)
    smooth = sps.savgol_filter(pc, params.savgol_window, params.savgol_order)
    _, info = nk.ecg_peaks(smooth, sampling_rate=int(round(fs)), method="neurokit")
    peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
    peaks = reject_shallow(smooth, peaks, fs, params.min_slope_ratio, params.slope_neighbours)
    return search_back(
        smooth,
        peaks,
        fs,
        params.searchback_gap_ratio,
        params.searchback_min_slope_ratio,
        params.searchback_refractory_s,
        params.slope_neighbours,
    )


def find_r_peaks(x: np.ndarray, fs: float, params: BeatParams = BeatParams()) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-3 on a raw record ``x [leads, n]`` at ``fs``: the preprocessed signal (at ``params.fs``)
    and its R peaks (sample indices at ``params.fs``). The one code path of beat extraction and of the
    detector's validation."""
    y = preprocess(x, fs, params)
    return y, detect_r_peaks(y, params.fs, params)


# ----------------------------------------------------------------------------- 4-6: windows, quality, scale
def window_beats(x: np.ndarray, peaks: np.ndarray, before: int, after: int) -> np.ndarray:
    """Windows ``x[:, R - before : R + after]`` for each peak (all must fit): ``[n_peaks, leads, before+after]``."""
    peaks = np.asarray(peaks, dtype=np.int64)
    offsets = np.arange(-before, after)
    idx = peaks[:, None] + offsets[None, :]
    if len(peaks) and (idx.min() < 0 or idx.max() >= x.shape[-1]):
        raise ValueError("a window leaves the signal")
    return np.transpose(x[:, idx], (1, 0, 2))


def quality_mask(windows: np.ndarray, before: int, half_width: int = 20, min_std: float = 0.05) -> np.ndarray:
    """True for beats whose every lead has std > ``min_std`` over ``[R - half_width, R + half_width]``."""
    seg = windows[..., before - half_width : before + half_width + 1]
    return np.all(seg.std(axis=-1) > min_std, axis=-1)


def normalise(windows: np.ndarray, before: int, qrs: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Divide each lead of each beat by its max |value| in ``[R + qrs[0], R + qrs[1]]``; return (beats, scales)."""
    seg = windows[..., before + qrs[0] : before + qrs[1] + 1]
    scales = np.abs(seg).max(axis=-1)
    if np.any(scales <= 0):
        raise ValueError("a lead is identically zero during the QRS")
    return windows / scales[..., None], scales


# ----------------------------------------------------------------------------- one record
@dataclass
class RecordBeats:
    """The beats of one record: normalised windows, per-beat values and rejected beats."""

    record_id: str
    beats: np.ndarray  # [n, leads, T] float32, normalised
    scales: np.ndarray  # [n, leads] mV: the QRS max |value| each lead was divided by
    r_index: np.ndarray  # [n] R sample index at params.fs
    rr_ms: np.ndarray  # [n] preceding R-R interval (ms)
    beat_index: np.ndarray  # [n] index of the beat among the detected peaks
    peaks: np.ndarray  # all detected R peaks (at params.fs)
    rejects: list[dict[str, Any]] = field(default_factory=list)


def extract_beats(
    record: Record,
    lead_set: Sequence[str],
    params: BeatParams = BeatParams(),
    quality: QualityParams | None = None,
) -> RecordBeats:
    """Run the whole pipeline on one record (see the module docstring).

    With ``quality`` the record must also pass the checks of :mod:`ecgdiff.data.quality`: those of the raw
    signal before filtering, those of the beats once they are windowed (all in millivolts). Signals whose
    names are not standard 12-lead names (kept by ``strict_leads=False`` readers) are left out.

    Raises:
        RecordError: the record cannot give beats (leads not derivable, too short, non-finite samples,
            no R peaks, no beat passing the checks), naming the record and the reason;
            :class:`ecgdiff.data.quality.QualityError` when a quality check fails.
    """
    rid = record.record_id
    x = np.asarray(record.signal, dtype=float)
    if x.ndim != 2 or x.shape[0] != len(record.leads):
        raise RecordError(rid, f"signal shape {x.shape} does not match {len(record.leads)} lead names")
    if not np.all(np.isfinite(x)):
        raise RecordError(rid, "signal contains non-finite samples")
    recorded = [n for n in record.leads if n in L.STANDARD_12]
    if len(recorded) < len(record.leads):
        x = x[[record.leads.index(n) for n in recorded]]
    try:
        transform = L.derivation_matrix(recorded, lead_set)
    except L.LeadError as exc:
        raise RecordError(rid, f"lead set: {exc}") from None
    signal_reasons = check_signal(record, quality) if quality is not None and quality.enabled else []
    try:
        return _extract(record, x, recorded, transform, lead_set, params, quality, signal_reasons)
    except QualityError:
        raise
    except RecordError as exc:
        if signal_reasons:  # the signal's own faults come first: they usually explain the rest
            raise QualityError(rid, "; ".join([*signal_reasons, exc.reason])) from None
        raise


def _extract(
    record: Record,
    x: np.ndarray,
    recorded: Sequence[str],
    transform: np.ndarray,
    lead_set: Sequence[str],
    params: BeatParams,
    quality: QualityParams | None,
    signal_reasons: Sequence[str],
) -> RecordBeats:
    """Steps 1-6 of :func:`extract_beats` on the standard leads ``x`` (rows ``recorded``) of ``record``."""
    rid = record.record_id
    min_len = (params.before + params.after) * 2
    if x.shape[1] * params.fs / record.fs < min_len:
        raise RecordError(rid, f"record too short ({record.duration_s:.2f} s) for two beat windows")
    try:
        y, peaks = find_r_peaks(x, record.fs, params)
    except ValueError as exc:
        raise RecordError(rid, f"preprocessing: {exc}") from None
    if len(peaks) < 2:
        raise RecordError(rid, f"{len(peaks)} R peak(s) detected; need at least 2")
    rejects: list[dict[str, Any]] = [
        {"record_id": rid, "beat_index": 0, "stage": "window", "reason": "first beat (no preceding RR interval)"}
    ]
    idx = np.arange(1, len(peaks))
    fits = (peaks[idx] - params.before >= 0) & (peaks[idx] + params.after <= y.shape[1])
    for i in idx[~fits]:
        rejects.append(
            {
                "record_id": rid,
                "beat_index": int(i),
                "stage": "window",
                "reason": f"window [R-{params.before}, R+{params.after}) leaves the record",
            }
        )
    idx = idx[fits]
    out_leads = np.einsum("oi,it->ot", transform, y)
    windows = window_beats(out_leads, peaks[idx], params.before, params.after)
    ok = quality_mask(windows, params.before, params.quality_half_width, params.quality_min_std_mv)
    flat_leads: set[str] = set()
    if np.any(~ok):
        seg = windows[~ok][
            ..., params.before - params.quality_half_width : params.before + params.quality_half_width + 1
        ]
        flat = seg.std(axis=-1) <= params.quality_min_std_mv
        for i, f in zip(idx[~ok], flat):
            names = [n for n, bad in zip(lead_set, f) if bad]
            flat_leads.update(names)
            rejects.append(
                {
                    "record_id": rid,
                    "beat_index": int(i),
                    "stage": "quality",
                    "reason": f"flat lead(s) {','.join(names)}: std <= {params.quality_min_std_mv} mV "
                    f"within +-{params.quality_half_width} samples of R",
                }
            )
    if not np.any(ok):
        raise RecordError(
            rid,
            f"no beat passed the checks ({len(peaks)} R peaks detected; {int((~ok).sum())} "
            f"failed the quality check, flat lead(s) {', '.join(sorted(flat_leads)) or '-'})",
        )
    if quality is not None and quality.enabled:
        used = Record(rid, record.patient_id, record.source, params.fs, y, tuple(recorded), meta=record.meta)
        reasons = check_beats(
            used,
            lead_set,
            windows,
            windows[ok],
            y,
            peaks[idx[ok]],
            params.fs,
            params.qrs_window,
            params.before,
            quality,
        )
        if reasons or signal_reasons:
            raise QualityError(rid, "; ".join([*signal_reasons, *reasons]))
    idx, windows = idx[ok], windows[ok]
    beats, scales = normalise(windows, params.before, params.qrs_window)
    rr_ms = (peaks[idx] - peaks[idx - 1]) * 1000.0 / params.fs
    return RecordBeats(
        record_id=rid,
        beats=beats.astype(np.float32),
        scales=scales.astype(np.float32),
        r_index=peaks[idx],
        rr_ms=rr_ms,
        beat_index=idx,
        peaks=peaks,
        rejects=rejects,
    )
