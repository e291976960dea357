"""Noisy rhythm sets for artefact removal, made reproducibly, and the training-noise sampler of the learned baseline.

Noise records. The MIT-BIH Noise Stress Test Database's ``bw`` (baseline wander) and ``em`` (electrode motion)
records: 2 channels, 360 Hz, 30 min, millivolts (read with wfdb, :func:`read_nstdb`), or, for the offline
default, any simulator ``(kind, duration_s, fs, seed) -> [2, n]`` with their shape, such as
``ecgdiff.data.synthetic_noise.simulate_nstdb_like`` (:func:`load_noise`). Either is resampled from its rate to the
rhythm rate (360 -> 100 Hz) with :func:`scipy.signal.resample_poly` (:func:`ecgdiff.data.beats.resample`, the
resampling of the records themselves).

Test set (the talk's protocol, the authors' ``denoising_mgps.py``): channel 1; each modelled lead of each test
rhythm gets its own random window of ``length`` samples (the 8 window starts of a rhythm are distinct, drawn
without replacement as theirs); the window is scaled so that its peak-to-peak is ``ratio`` times the lead's
peak-to-peak over its clean valid samples, ``ratio`` = 1 for ``em`` and 2 for ``bw``::

    noisy[l, :length] = clean[l, :length] + scale_l * window_l,   scale_l = ratio * ptp(clean_l) / ptp(window_l)

(no centring of the window, as theirs). The padding stays as it is (zeros): it is never observed.

Training noise (DeScoD-ECG's protocol, the talk's retraining): channel 0, window starts uniform over the
record, each lead's window scaled to ``ratio ~ U(0.2, 2.0)`` times that lead's peak-to-peak, one ratio per
example shared by its leads (DeScoD's and the talk's code; per lead as a setting) (:class:`TrainingNoise`).
Train and test noise never share samples: they come from different channels (and, optionally, from disjoint
spans of the record, DeScoD's original halves): :func:`assert_disjoint` checks it on a saved test set's offsets
and channels, :func:`assert_settings_disjoint` on the two protocols' settings before any test set exists.

Workflow steps: :func:`write_noisy_set` (the test split of a rhythm database with one noise kind, saved with its
provenance).

Leads. Noise is added to the 8 modelled leads ``ecgdiff.leads.BASIS``, each with its own window; the 4 derived
leads (III, aVR, aVL, aVF) follow from the noisy I and II by the lead laws (:meth:`NoisySet.twelve_lead`). The
authors instead noised their 9 stored channels (I, II, III, V1-V6) independently, which breaks III = II - I.

Reproducibility. Each rhythm's windows come from its own generator keyed by ``(seed, kind, rhythm id)``
(SHA-256, as :mod:`ecgdiff.data.splits`), so a rhythm's noise depends on nothing else; a rerun with the same inputs
and seed writes byte-identical files. Differences from the authors' script: their peak-to-peak was over the
padded window (padding zeros included) and their noise covered the padding; they resampled with
``scipy.signal.resample`` (FFT) in that script.

Saved set (a folder; :func:`save` / :func:`load`): ``noisy.npy`` and ``noise.npy`` ``[N, 8, T]`` float32 (the
noisy inputs every method sees and the noise added), ``noise.parquet`` (one row per rhythm and lead:
``rhythm``, ``rhythm_id``, ``lead``, ``channel``, ``offset``, ``ratio``, ``scale``, ``peak_to_peak``),
``manifest.json`` (kind, seed, protocol settings, fs, leads, length, the noise record's source and hash, the
clean set's hash, each file's SHA-256 and ``data_hash``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import leads as ecg_leads
from ..io import atomic_dir, atomic_path, read_json, save_npy, sha256_file, write_json
from . import beats

log = logging.getLogger(__name__)

#: NSTDB's sampling rate in Hz.
NSTDB_FS = 360.0
#: NSTDB's noise records.
NSTDB_KINDS: tuple[str, ...] = ("bw", "em", "ma")
#: NSTDB record length in seconds (650000 samples at 360 Hz), the default length of simulated noise.
NSTDB_DURATION_S = 650000 / NSTDB_FS
FORMAT = "ecgdiff-noisy-set/1"

NoiseSimulator = Callable[[str, float, float, int], np.ndarray]


# ================================================================== noise records
@dataclass
class NoiseRecord:
    """A 2-channel noise signal ``[2, n]`` in mV at ``fs`` Hz, named by its source."""

    kind: str
    signal: np.ndarray
    fs: float
    source: str

    def __post_init__(self) -> None:
        self.signal = np.asarray(self.signal, dtype=np.float64)
        if self.signal.ndim != 2 or self.signal.shape[0] != 2:
            raise ValueError(f"noise record {self.source!r} ({self.kind}): need [2, n], got {self.signal.shape}")
        if not np.isfinite(self.signal).all():
            raise ValueError(f"noise record {self.source!r} ({self.kind}): non-finite samples")
        if self.fs <= 0:
            raise ValueError(f"noise record {self.source!r} ({self.kind}): fs must be > 0, got {self.fs}")

    @property
    def sha256(self) -> str:
        """Hash of the signal's float64 bytes (identifies the noise every window was cut from)."""
        return hashlib.sha256(np.ascontiguousarray(self.signal).tobytes()).hexdigest()

    def resampled(self, fs: float) -> NoiseRecord:
        """This record at ``fs`` Hz (:func:`ecgdiff.data.beats.resample`: ``scipy.signal.resample_poly``)."""
        if float(fs) == float(self.fs):
            return self
        return NoiseRecord(self.kind, beats.resample(self.signal, self.fs, fs), float(fs), self.source)


def read_nstdb(root: str | os.PathLike[str], kind: str) -> NoiseRecord:
    """The NSTDB noise record ``kind`` (``bw``, ``em``, ``ma``) from the folder ``root`` (``.../nstdb/1.0.0``)."""
    import wfdb

    if kind not in NSTDB_KINDS:
        raise ValueError(f"unknown NSTDB noise record {kind!r}; known: {NSTDB_KINDS}")
    path = Path(root) / kind
    if not path.with_suffix(".hea").is_file():
        raise FileNotFoundError(f"NSTDB record {kind!r}: no header {path.with_suffix('.hea')}")
    rec = wfdb.rdrecord(str(path))
    if rec.p_signal is None or rec.p_signal.ndim != 2 or rec.p_signal.shape[1] != 2:
        raise ValueError(
            f"{path}: expected 2 noise channels, got {None if rec.p_signal is None else rec.p_signal.shape}"
        )
    units = [str(u).lower() for u in rec.units]
    if any(u != "mv" for u in units):
        raise ValueError(f"{path}: expected millivolts, got units {rec.units}")
    if float(rec.fs) != NSTDB_FS:
        raise ValueError(f"{path}: expected {NSTDB_FS} Hz, got {rec.fs}")
    return NoiseRecord(kind, rec.p_signal.T, float(rec.fs), f"nstdb/{kind}")


def load_noise(
    source: str | os.PathLike[str] | NoiseSimulator,
    kind: str,
    seed: int = 0,
    duration_s: float = NSTDB_DURATION_S,
) -> NoiseRecord:
    """The noise record ``kind`` at 360 Hz from ``source``.

    ``source`` is the NSTDB folder (read with wfdb), a simulator ``(kind, duration_s, fs, seed) -> [2, n]`` (called
    at NSTDB's 360 Hz so both go through the same resampling), or ``"simulated"`` for
    ``ecgdiff.data.synthetic_noise.simulate_nstdb_like``.
    """
    if isinstance(source, str) and source == "simulated":
        from . import synthetic_noise  # the simulated stand-in of the embedded default run

        source = synthetic_noise.simulate_nstdb_like
    if callable(source):
        name = f"{getattr(source, '__module__', '')}.{getattr(source, '__name__', type(source).__name__)}"
        sig = np.asarray(source(kind, float(duration_s), NSTDB_FS, int(seed)))
        return NoiseRecord(kind, sig, NSTDB_FS, f"simulated:{name.strip('.')}:seed={int(seed)}")
    return read_nstdb(source, kind)


# ================================================================== settings
@dataclass
class NoisySetSettings:
    """The test-set protocol (the talk / the authors' ``denoising_mgps.py``).

    Attributes:
        channel: noise channel of the test windows (authors: 1).
        ratios: noise peak-to-peak over lead peak-to-peak, per noise kind (authors: ``em`` 1, ``bw`` 2).
        span: fraction ``[start, stop)`` of the record the windows are cut from (default the whole record).
        fs: rhythm sampling rate in Hz (the noise is resampled to it).
    """

    channel: int = 1
    ratios: dict[str, float] = field(default_factory=lambda: {"em": 1.0, "bw": 2.0})
    span: tuple[float, float] = (0.0, 1.0)
    fs: float = 100.0

    def __post_init__(self) -> None:
        _check_channel(self.channel)
        self.ratios = {str(k): float(v) for k, v in dict(self.ratios).items()}
        for k, v in self.ratios.items():
            if not v > 0:
                raise ValueError(f"noise ratio of {k!r} must be > 0, got {v}")
        self.span = _check_span(self.span)
        if self.fs <= 0:
            raise ValueError(f"fs must be > 0, got {self.fs}")

    def ratio(self, kind: str) -> float:
        if kind not in self.ratios:
            raise ValueError(f"no test noise ratio for kind {kind!r}; ratios are given for {sorted(self.ratios)}")
        return self.ratios[kind]


#: How many noise-to-lead ratios a training example draws: one shared by its leads, or one per lead.
RATIO_PER: tuple[str, ...] = ("example", "lead")


@dataclass
class TrainingNoiseSettings:
    """The training-noise protocol (DeScoD-ECG; the talk's retraining).

    Attributes:
        channel: noise channel of the training windows (0: the test set uses channel 1).
        ratio_range: ``(low, high)`` of the uniform noise-to-lead peak-to-peak ratio (DeScoD: 0.2 to 2.0).
        ratio_per: ``"example"``: one ratio per example, every lead's window scaled to that ratio times the
            lead's own peak-to-peak (DeScoD's ``Data_Preparation/data_preparation.py``, one ratio per beat, and
            the talk's multi-lead copy, ``PtbXLDataset``: one ratio per rhythm); ``"lead"``: one ratio per lead.
        span: fraction ``[start, stop)`` of the record the windows are cut from (DeScoD's original split: the
            first half of channel 0 for training, the second half of channel 1 for testing; the talk's: all).
        fs: rhythm sampling rate in Hz.
    """

    channel: int = 0
    ratio_range: tuple[float, float] = (0.2, 2.0)
    ratio_per: str = "example"
    span: tuple[float, float] = (0.0, 1.0)
    fs: float = 100.0

    def __post_init__(self) -> None:
        _check_channel(self.channel)
        lo, hi = (float(v) for v in self.ratio_range)
        if not 0 < lo <= hi:
            raise ValueError(f"ratio_range must satisfy 0 < low <= high, got {self.ratio_range}")
        self.ratio_range = (lo, hi)
        if self.ratio_per not in RATIO_PER:
            raise ValueError(f"ratio_per must be one of {RATIO_PER}, got {self.ratio_per!r}")
        self.span = _check_span(self.span)
        if self.fs <= 0:
            raise ValueError(f"fs must be > 0, got {self.fs}")


def _check_channel(channel: int) -> None:
    if channel not in (0, 1):
        raise ValueError(f"noise channel must be 0 or 1 (NSTDB records have 2), got {channel}")


def _check_span(span: Sequence[float]) -> tuple[float, float]:
    lo, hi = (float(v) for v in span)
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"span must satisfy 0 <= start < stop <= 1, got {tuple(span)}")
    return (lo, hi)


def _span_samples(span: tuple[float, float], n_noise: int, length: int) -> tuple[int, int]:
    """``[first, last]`` admissible window starts inside ``span`` of an ``n_noise``-sample record."""
    first = int(np.ceil(span[0] * n_noise))
    stop = int(np.floor(span[1] * n_noise))  # windows end at or before this sample
    last = stop - length
    if last < first:
        raise ValueError(
            f"a noise window of {length} samples does not fit in the span {span} of a {n_noise}-sample record"
        )
    return first, last


# ================================================================== the noisy set
@dataclass
class NoisySet:
    """Noisy rhythms and everything that made them (see the module docstring)."""

    noisy: np.ndarray  # [N, L, T] float32
    noise: np.ndarray  # [N, L, T] float32 (0 on the padding)
    offsets: np.ndarray  # [N, L] int64, window starts in the resampled noise record
    channels: np.ndarray  # [N, L] int64
    ratios: np.ndarray  # [N, L] float64, noise ptp / lead ptp
    scales: np.ndarray  # [N, L] float64, factor applied to the raw window
    peak_to_peak: np.ndarray  # [N, L] float64, of the clean valid samples
    rhythm_ids: list[str]
    manifest: dict[str, Any]
    path: Path | None = None

    @property
    def leads(self) -> tuple[str, ...]:
        return tuple(self.manifest["leads"])

    @property
    def length(self) -> int:
        return int(self.manifest["length"])

    @property
    def fs(self) -> float:
        return float(self.manifest["fs"])

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def data_hash(self) -> str:
        return str(self.manifest["data_hash"])

    def twelve_lead(self, which: str = "noisy") -> np.ndarray:
        """``[N, 12, T]``: the noisy signals (or the noise) in the 12 standard leads, by the lead laws."""
        arr = {"noisy": self.noisy, "noise": self.noise}[which]
        return ecg_leads.derive(arr, self.leads, ecg_leads.STANDARD_12)

    def table(self) -> pd.DataFrame:
        """One row per rhythm and lead: the window, its channel and its scaling."""
        N, L = self.offsets.shape
        return pd.DataFrame(
            {
                "rhythm": np.repeat(np.arange(N, dtype=np.int64), L),
                "rhythm_id": np.repeat(np.asarray(self.rhythm_ids, dtype=object), L),
                "lead": np.tile(np.asarray(self.leads, dtype=object), N),
                "channel": self.channels.reshape(-1).astype(np.int64),
                "offset": self.offsets.reshape(-1).astype(np.int64),
                "ratio": self.ratios.reshape(-1),
                "scale": self.scales.reshape(-1),
                "peak_to_peak": self.peak_to_peak.reshape(-1),
            }
        )


def array_hash(a: np.ndarray) -> str:
    """SHA-256 of an array's float32 C-order bytes (identifies the clean set a noisy set was made from)."""
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()


def rhythm_generator(seed: int, kind: str, rhythm_id: str) -> np.random.Generator:
    """The generator of one rhythm's windows, keyed by ``SHA-256("<seed>:<kind>:<rhythm_id>")``."""
    digest = hashlib.sha256(f"{int(seed)}:{kind}:{rhythm_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def make_noisy_set(
    clean: np.ndarray,
    length: int,
    noise_signal: NoiseRecord | np.ndarray,
    noise_fs: float | None,
    kind: str,
    seed: int,
    settings: NoisySetSettings | None = None,
    rhythm_ids: Sequence[str] | None = None,
    leads: Sequence[str] = ecg_leads.BASIS,
) -> NoisySet:
    """The test-protocol noisy version of ``clean [N, 8, T]`` (``length`` valid samples per rhythm).

    ``noise_signal`` is a :class:`NoiseRecord` or an array ``[2, n]`` at ``noise_fs`` Hz (ignored for a record);
    it is resampled to ``settings.fs``. ``rhythm_ids`` (default ``"0"``, ``"1"``, ...) key each rhythm's windows.
    """
    st = settings or NoisySetSettings()
    clean = np.asarray(clean)
    leads = ecg_leads.canonical_all(leads)
    if clean.ndim != 3 or clean.shape[1] != len(leads):
        raise ValueError(f"clean must be [N, {len(leads)}, T] (leads {list(leads)}), got shape {clean.shape}")
    N, L, T = clean.shape
    if not 0 < int(length) <= T:
        raise ValueError(f"length must be in 1..{T}, got {length}")
    length = int(length)
    ids = [str(i) for i in range(N)] if rhythm_ids is None else [str(r) for r in rhythm_ids]
    if len(ids) != N or len(set(ids)) != N:
        raise ValueError(f"rhythm_ids must be {N} distinct identifiers")
    raw = _as_record(noise_signal, noise_fs, kind)
    rec = raw.resampled(st.fs)
    ratio = st.ratio(kind)
    first, last = _span_samples(st.span, rec.signal.shape[1], length)
    if last - first + 1 < L:
        raise ValueError(f"noise record too short for {L} distinct windows of {length} samples")
    chan = rec.signal[st.channel]

    valid = clean[..., :length].astype(np.float64)
    if not np.isfinite(valid).all():
        bad = int(np.argwhere(~np.isfinite(valid).all(axis=(1, 2)))[0, 0])
        raise ValueError(f"rhythm {ids[bad]}: non-finite clean samples")
    ptp = np.ptp(valid, axis=-1)  # [N, L]
    if np.any(ptp <= 0):
        i, lead = np.argwhere(ptp <= 0)[0]
        raise ValueError(f"rhythm {ids[i]} lead {leads[lead]}: flat (peak-to-peak 0); noise scaled to it is undefined")

    offsets = np.empty((N, L), dtype=np.int64)
    for i, rid in enumerate(ids):
        g = rhythm_generator(seed, kind, rid)
        offsets[i] = first + g.choice(last - first + 1, size=L, replace=False)
    windows = chan[offsets[..., None] + np.arange(length)]  # [N, L, length]
    wptp = np.ptp(windows, axis=-1)
    if np.any(wptp <= 0):
        i, lead = np.argwhere(wptp <= 0)[0]
        raise ValueError(f"rhythm {ids[i]} lead {leads[lead]}: the noise window at {offsets[i, lead]} is flat")
    scales = ratio * ptp / wptp
    noise = np.zeros((N, L, T), dtype=np.float64)
    noise[..., :length] = scales[..., None] * windows
    noisy = clean.astype(np.float64) + noise

    manifest = {
        "format": FORMAT,
        "kind": kind,
        "seed": int(seed),
        "protocol": "test",
        "settings": _settings_dict(st),
        "fs": float(st.fs),
        "leads": list(leads),
        "length": length,
        "padded_length": T,
        "count": N,
        "noise_source": rec.source,
        "noise_fs_original": float(raw.fs),
        "noise_samples": int(rec.signal.shape[1]),
        "noise_sha256": rec.sha256,
        "clean_hash": array_hash(clean),
        "window_starts": [first, last],
    }
    return NoisySet(
        noisy=noisy.astype(np.float32),
        noise=noise.astype(np.float32),
        offsets=offsets,
        channels=np.full((N, L), st.channel, dtype=np.int64),
        ratios=np.full((N, L), ratio),
        scales=scales,
        peak_to_peak=ptp,
        rhythm_ids=ids,
        manifest=manifest,
    )


def _as_record(noise_signal: NoiseRecord | np.ndarray, noise_fs: float | None, kind: str) -> NoiseRecord:
    if isinstance(noise_signal, NoiseRecord):
        if noise_signal.kind != kind:
            raise ValueError(f"noise record is {noise_signal.kind!r} but kind {kind!r} was asked for")
        return noise_signal
    if noise_fs is None:
        raise ValueError("noise_fs is needed for a noise array")
    return NoiseRecord(kind, np.asarray(noise_signal), float(noise_fs), "array")


def _settings_dict(st) -> dict[str, Any]:
    d = dataclasses.asdict(st)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


# ================================================================== files
NPY_FILES = ("noisy.npy", "noise.npy")
TABLE = "noise.parquet"


def save(noisy_set: NoisySet, folder: str | os.PathLike[str], provenance: Mapping[str, Any] | None = None) -> dict:
    """Write the set into ``folder`` (each file atomically, the manifest last); return the manifest.

    Without ``provenance`` every file is a deterministic function of the set (a rerun writes identical bytes);
    a provenance record (with its creation time) is stored in the manifest under ``provenance``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_npy(folder / "noisy.npy", noisy_set.noisy)
    save_npy(folder / "noise.npy", noisy_set.noise)
    with atomic_path(folder / TABLE) as tmp:
        noisy_set.table().to_parquet(tmp, index=False)
    files = {name: sha256_file(folder / name) for name in (*NPY_FILES, TABLE)}
    data_hash = hashlib.sha256("".join(files[k] for k in sorted(files)).encode()).hexdigest()
    manifest = dict(noisy_set.manifest, files=files, data_hash=data_hash)
    if provenance is not None:
        manifest["provenance"] = dict(provenance)
    write_json(folder / "manifest.json", manifest)
    noisy_set.manifest, noisy_set.path = manifest, folder
    return manifest


def load(folder: str | os.PathLike[str], verify: bool = True) -> NoisySet:
    """Read a set written by :func:`save` (``verify``: check every file against the manifest's SHA-256)."""
    folder = Path(folder)
    mpath = folder / "manifest.json"
    if not mpath.is_file():
        raise FileNotFoundError(f"noisy set {folder}: no manifest.json")
    manifest = read_json(mpath)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"noisy set {folder}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    if verify:
        for name, expected in manifest["files"].items():
            actual = sha256_file(folder / name)
            if actual != expected:
                raise ValueError(f"noisy set {folder}: {name} has SHA-256 {actual}, the manifest says {expected}")
    noisy, noise = (np.load(folder / name) for name in NPY_FILES)
    tab = pd.read_parquet(folder / TABLE)
    N, L = int(manifest["count"]), len(manifest["leads"])
    if noisy.shape[:2] != (N, L) or len(tab) != N * L:
        raise ValueError(f"noisy set {folder}: arrays {noisy.shape} / table rows {len(tab)} disagree with N={N}, L={L}")
    tab = tab.sort_values(["rhythm"], kind="stable")
    if list(tab["lead"].iloc[:L]) != list(manifest["leads"]):
        raise ValueError(f"noisy set {folder}: lead order in {TABLE} differs from the manifest's")

    def col(name, dtype):
        return tab[name].to_numpy(dtype=dtype).reshape(N, L)

    return NoisySet(
        noisy=noisy,
        noise=noise,
        offsets=col("offset", np.int64),
        channels=col("channel", np.int64),
        ratios=col("ratio", np.float64),
        scales=col("scale", np.float64),
        peak_to_peak=col("peak_to_peak", np.float64),
        rhythm_ids=[str(r) for r in tab["rhythm_id"].to_numpy()[::L]],
        manifest=manifest,
        path=folder,
    )


# ================================================================== training noise
class TrainingNoise:
    """Noisy training batches ``fn(clean_batch [B, L, T], rng) -> noisy_batch`` (DeScoD's protocol).

    Each example and lead gets a window of ``length`` samples (default ``T``) from channel ``settings.channel``,
    starting uniformly inside ``settings.span``, scaled to ``ratio ~ U(ratio_range)`` times the lead's
    peak-to-peak over its valid samples (a flat lead gets no noise); the samples from ``length`` on are left as
    they are. ``settings.ratio_per = "example"`` (the default) draws one ratio per example for all its leads, as
    DeScoD's ``Data_Preparation`` (one ratio per single-lead beat) and the talk's multi-lead copy (one per
    rhythm) do; ``"lead"`` draws one per lead. DeScoD drew its ratios on a 0.01 grid
    (``randint(20, 200) / 100``: 0.20 ... 1.99); here they are continuous on ``[0.2, 2.0]``. ``rng`` (a numpy
    Generator) defaults to the sampler's own, seeded with ``seed``. Works on numpy arrays and torch tensors
    (returned on the input's device and dtype).
    """

    def __init__(
        self,
        noise_signal: NoiseRecord | np.ndarray,
        kind: str,
        seed: int = 0,
        noise_fs: float | None = None,
        settings: TrainingNoiseSettings | None = None,
        length: int | None = None,
    ) -> None:
        self.settings = settings or TrainingNoiseSettings()
        self.record = _as_record(noise_signal, noise_fs, kind).resampled(self.settings.fs)
        self.kind, self.seed, self.length = kind, int(seed), length
        self.channel = self.settings.channel
        self._signal = self.record.signal[self.channel]
        self.rng = np.random.default_rng(self.seed)

    def window_starts(self, length: int) -> tuple[int, int]:
        """``[first, last]`` admissible window starts for windows of ``length`` samples."""
        return _span_samples(self.settings.span, self._signal.shape[0], length)

    def __call__(self, clean_batch, rng: np.random.Generator | None = None):
        rng = self.rng if rng is None else rng
        torch = sys.modules.get("torch")  # a tensor batch implies torch is imported; numpy batches need no torch
        is_torch = torch is not None and isinstance(clean_batch, torch.Tensor)
        x = clean_batch.detach().cpu().double().numpy() if is_torch else np.asarray(clean_batch, dtype=np.float64)
        if x.ndim != 3:
            raise ValueError(f"clean batch must be [B, L, T], got shape {x.shape}")
        B, L, T = x.shape
        n = T if self.length is None else int(self.length)
        if not 0 < n <= T:
            raise ValueError(f"length {n} does not fit batches of {T} samples")
        first, last = self.window_starts(n)
        starts = rng.integers(first, last + 1, size=(B, L))
        n_ratios = 1 if self.settings.ratio_per == "example" else L
        ratio = rng.uniform(*self.settings.ratio_range, size=(B, n_ratios))
        windows = self._signal[starts[..., None] + np.arange(n)]
        wptp = np.ptp(windows, axis=-1)
        scale = ratio * np.ptp(x[..., :n], axis=-1) / np.where(wptp > 0, wptp, np.inf)
        out = x.copy()
        out[..., :n] += scale[..., None] * windows
        if is_torch:
            return torch.as_tensor(out, dtype=clean_batch.dtype, device=clean_batch.device)
        dtype = np.asarray(clean_batch).dtype
        return out.astype(dtype if dtype.kind == "f" else np.float64)


def training_noise(
    noise_signal: NoiseRecord | np.ndarray,
    kind: str,
    seed: int = 0,
    noise_fs: float | None = None,
    settings: TrainingNoiseSettings | None = None,
    length: int | None = None,
) -> TrainingNoise:
    """The training-noise sampler of the learned baseline (see :class:`TrainingNoise`)."""
    return TrainingNoise(noise_signal, kind, seed, noise_fs, settings, length)


def assert_disjoint(test_set: NoisySet, training: TrainingNoise) -> None:
    """Raise unless no sample of a test window can ever be drawn by ``training`` (checked on the saved offsets
    and channels, and on the training sampler's channel and span)."""
    if test_set.kind != training.kind or test_set.manifest["noise_source"] != training.record.source:
        return  # different noise records share no sample
    shared = test_set.channels == training.channel
    if not shared.any():
        return
    n = test_set.length
    first, last = training.window_starts(training.length or n)
    train_lo, train_hi = first, last + (training.length or n)  # samples [lo, hi) the training windows cover
    lo = test_set.offsets[shared]
    hi = lo + n
    overlap = (lo < train_hi) & (hi > train_lo)
    if overlap.any():
        k = int(np.argmax(overlap))
        raise ValueError(
            f"test noise window at offset {int(lo[k])} on channel {training.channel} overlaps the training noise "
            f"span [{train_lo}, {train_hi}) of the same channel"
        )


def settings_at_rate(section: Mapping[str, Any] | None, fs: float, cls=NoisySetSettings):
    """:func:`settings_from_config` for rhythms at ``fs`` Hz: ``fs`` defaults to it, another rate is an error."""
    section = dict(section or {})
    section.setdefault("fs", float(fs))
    if float(section["fs"]) != float(fs):
        raise ValueError(f"{cls.__name__}: fs {section['fs']} Hz differs from the rhythms' {float(fs)} Hz")
    return settings_from_config(section, cls)


def assert_settings_disjoint(test: NoisySetSettings, training: TrainingNoiseSettings) -> None:
    """Raise unless no test window of protocol ``test`` can share a sample with a training window of ``training``
    (the same noise record), whatever the record's length: they use different channels, or disjoint spans.

    For use before any test set exists (training the learned baseline); :func:`assert_disjoint` checks a saved set.
    Disjoint fractions give disjoint samples at every record length: test windows lie in samples
    ``[ceil(a n), floor(b n))`` and training windows in ``[ceil(c n), floor(d n))``, and ``b <= c`` implies
    ``floor(b n) <= ceil(c n)`` (likewise ``d <= a``).
    """
    if test.channel != training.channel:
        return
    (a, b), (c, d) = test.span, training.span
    if b <= c or d <= a:
        return
    raise ValueError(
        f"training noise (channel {training.channel}, span {list(training.span)}) overlaps the test protocol's "
        f"windows (channel {test.channel}, span {list(test.span)}): use another channel or disjoint spans"
    )


def settings_from_config(section: Mapping[str, Any] | None, cls=NoisySetSettings):
    """A settings dataclass (``NoisySetSettings`` or ``TrainingNoiseSettings``) from a config section; unknown keys
    are errors naming the key."""
    section = dict(section or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown key(s) {unknown}; known: {sorted(known)}")
    for key in ("span", "ratio_range"):
        if key in section:
            section[key] = tuple(section[key])
    return cls(**section)


# ================================================================== workflow step
def write_noisy_set(
    rhythms_dir: str | os.PathLike[str],
    kind: str,
    source: str | os.PathLike[str],
    settings: Mapping[str, Any] | None,
    seed: int,
    out_dir: str | os.PathLike[str],
    config: Mapping[str, Any],
) -> dict[str, Any]:
    """The workflow step: the test split of the rhythm database ``rhythms_dir`` with noise ``kind``, saved in
    ``out_dir`` (:func:`save` into a new folder that then replaces ``out_dir`` whole); returns the manifest.

    ``source`` is the NSTDB folder or ``"simulated"`` (:func:`load_noise`, seeded with ``seed``); ``settings`` is
    the test-protocol section (:class:`NoisySetSettings`; ``fs`` defaults to the database's and must equal it);
    ``config`` is the workflow configuration (provenance). Windows are keyed by ``(seed, kind, rhythm_id)``, so a
    rerun writes byte-identical ``noisy.npy``, ``noise.npy`` and ``noise.parquet``.
    """
    from .. import provenance
    from . import rhythmdb

    db = rhythmdb.load(rhythms_dir)
    st = settings_at_rate(settings, db.fs)
    x, meta = db.subset("test")
    if len(x) == 0:
        raise ValueError(f"rhythm database {rhythms_dir}: no test rhythm to add noise to")
    record = load_noise(source, kind, seed)
    noisy_set = make_noisy_set(
        x, db.length, record, None, kind, seed, st, rhythm_ids=meta["rhythm_id"].astype(str).tolist(), leads=db.leads
    )
    noisy_set.manifest["rhythms"] = {"data_hash": db.data_hash, "split": "test"}
    prov = provenance.make(config, data_hash=db.data_hash, seed=seed, step="noisy_set", noise_kind=kind)
    with atomic_dir(out_dir) as tmp:  # readers see the old folder or the new one, never a mix
        manifest = save(noisy_set, tmp, prov)
    log.info("noisy test set (%s, %s): %d rhythms -> %s", kind, record.source, len(x), out_dir)
    return manifest
