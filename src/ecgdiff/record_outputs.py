"""Files of a single-record analysis: WFDB and CSV signals in millivolts, per-beat tables, figures, JSON numbers.

Every file is written atomically (:mod:`ecgdiff.io`). Signals (:func:`write_wfdb`) are WFDB records of format 32
at 10^6 ADC units per millivolt (1 nV resolution, range +-2147 mV), so a reconstruction reads back to 1e-6 mV;
samples that no beat window reached are WFDB's invalid value (read back as NaN). CSV files hold every float at
full precision. Figures carry the provenance footer (:func:`ecgdiff.plots.save_figure`) and state their amplitude
unit.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .io import atomic_path, write_json
from .plots import save_figure
from .tasks import figures

#: ADC units per millivolt of the WFDB outputs.
WFDB_GAIN: float = 1e6


def write_wfdb(
    stem: str | os.PathLike[str],
    fs: float,
    signals: np.ndarray,
    names: Sequence[str],
    comments: Sequence[str] = (),
) -> list[Path]:
    """Write ``signals [K, N]`` (mV) as the WFDB record ``stem`` (``stem.hea`` and ``stem.dat``); return both paths."""
    import wfdb

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    x = np.asarray(signals, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(names):
        raise ValueError(f"signals of shape {x.shape} for {len(names)} names")
    finite = x[np.isfinite(x)]
    if len(finite) and np.abs(finite).max() * WFDB_GAIN >= 2**31 - 1:
        raise ValueError(f"{stem}: amplitudes beyond +-{(2**31 - 1) / WFDB_GAIN:.0f} mV")
    with tempfile.TemporaryDirectory(prefix=f".{stem.name}.", dir=stem.parent) as tmp:
        wfdb.wrsamp(
            stem.name,
            fs=float(fs),
            units=["mV"] * len(names),
            sig_name=[str(n) for n in names],
            p_signal=x.T,
            fmt=["32"] * len(names),
            adc_gain=[WFDB_GAIN] * len(names),
            baseline=[0] * len(names),
            comments=[str(c) for c in comments],
            write_dir=tmp,
        )
        out = []
        for ext in (".dat", ".hea"):  # the header last: a complete header means a complete record
            os.replace(Path(tmp) / f"{stem.name}{ext}", stem.with_suffix(ext))
            out.append(stem.with_suffix(ext))
    return out


def write_csv(path: str | os.PathLike[str], table: pd.DataFrame) -> Path:
    """``table`` as CSV (floats at full precision)."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return Path(path)


def write_summary(path: str | os.PathLike[str], summary: Mapping[str, Any]) -> Path:
    write_json(path, dict(summary))
    return Path(path)


def beat_table(
    values: Mapping[str, np.ndarray], leads: Sequence[str], r_index: np.ndarray, before: int, fs: float
) -> pd.DataFrame:
    """Long table of per-beat curves: one row per (beat, lead, sample) with ``beat``, ``r_s``, ``lead``, ``t_ms`` and
    one column per entry of ``values`` (each ``[B, K, T]``)."""
    first = next(iter(values.values()))
    B, K, T = first.shape
    t_ms = (np.arange(T) - before) * 1000.0 / fs
    cols: dict[str, Any] = {
        "beat": np.repeat(np.arange(B), K * T),
        "r_s": np.repeat(np.asarray(r_index) / fs, K * T),
        "lead": np.tile(np.repeat(np.asarray(leads, dtype=object), T), B),
        "t_ms": np.tile(t_ms, B * K),
    }
    for name, v in values.items():
        cols[name] = np.asarray(v, dtype=np.float64).reshape(-1)
    return pd.DataFrame(cols)


def signal_table(fs: float, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """A timeline table: ``time_s`` and one column per named signal ``[N]``."""
    n = len(next(iter(columns.values())))
    return pd.DataFrame(
        {"time_s": np.arange(n) / fs, **{k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}}
    )


# ----------------------------------------------------------------------------- figures
def plot_timeline(
    stem: str | os.PathLike[str],
    fs: float,
    observed: Mapping[str, np.ndarray],
    reconstructed: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    truth: Mapping[str, np.ndarray] | None,
    title: str,
    provenance: Mapping[str, Any],
    seconds: float = 10.0,
    start_s: float = 0.0,
) -> list[str]:
    """Observed leads (red) and reconstructed ones (posterior mean, blue, and band), the record's own leads dashed
    where it has them, over ``seconds`` from ``start_s``; amplitudes in millivolts."""
    import matplotlib.pyplot as plt

    n = len(next(iter(observed.values())))
    a = max(0, int(round(start_s * fs)))
    b = min(n, a + int(round(seconds * fs)))
    t = np.arange(a, b) / fs
    rows = list(observed) + list(reconstructed)
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 0.75 * len(rows) + 1.0), sharex=True, squeeze=False)
    for r, name in enumerate(rows):
        ax = axes[r, 0]
        if name in observed:
            ax.plot(t, observed[name][a:b], color=figures.OBSERVED_COLOR, lw=0.7, label="observed")
        else:
            mean, lo, hi = reconstructed[name]
            ax.fill_between(t, lo[a:b], hi[a:b], color=figures.POSTERIOR_COLOR, alpha=0.25, lw=0, label="band")
            ax.plot(t, mean[a:b], color=figures.POSTERIOR_COLOR, lw=0.7, label="posterior mean")
            if truth is not None and name in truth:
                ax.plot(t, truth[name][a:b], color=figures.TRUE_COLOR, lw=0.6, ls="--", label="recorded")
        ax.set_ylabel(f"{name}\n[mV]", rotation=0, ha="right", va="center", fontsize=7)
        ax.tick_params(labelsize=6)
    handles = {}
    for ax in axes[:, 0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    axes[0, 0].legend(handles.values(), handles.keys(), fontsize=6, loc="upper right", ncol=4)
    fig.supylabel(f"amplitude: {figures.amplitude_label(figures.MILLIVOLT)}", fontsize=7, x=0.0)
    figures.finish(fig, title, xlabel="time (s)")
    paths = figures.paths(stem)
    save_figure(fig, paths, provenance)
    return paths


def plot_denoised(
    stem: str | os.PathLike[str],
    t_ms: np.ndarray,
    leads: Sequence[str],
    observed: np.ndarray,
    mean: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    sigma_mv: np.ndarray,
    title: str,
    provenance: Mapping[str, Any],
) -> list[str]:
    """One beat per column (``observed/mean/low/high [C, L, T]``, mV): the recorded beat (grey), the denoised posterior
    mean and band (blue), the estimated noise std of each lead (``sigma_mv [C, L]``)."""
    fig, axes = figures.lead_grid(len(leads), len(observed), height=0.8, width=3.0)
    for c in range(len(observed)):
        for j in range(len(leads)):
            ax = axes[j, c]
            ax.plot(t_ms, observed[c, j], color="0.55", lw=0.6, label="recorded")
            ax.fill_between(t_ms, low[c, j], high[c, j], color=figures.POSTERIOR_COLOR, alpha=0.25, lw=0)
            ax.plot(t_ms, mean[c, j], color=figures.POSTERIOR_COLOR, lw=0.8, label="denoised (posterior mean, band)")
            ax.text(
                0.99,
                0.95,
                f"σ={sigma_mv[c, j] * 1000:.0f} µV",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=5,
            )
            ax.tick_params(labelsize=6)
    figures.label_leads(axes, leads, figures.MILLIVOLT)
    axes[0, 0].legend(fontsize=5, loc="lower left")
    figures.finish(fig, title)
    paths = figures.paths(stem)
    save_figure(fig, paths, provenance)
    return paths


def plot_reference(
    stem: str | os.PathLike[str],
    reference: np.ndarray,
    beats: np.ndarray,
    record_value: float,
    percentile: float,
    source: str,
    title: str,
    provenance: Mapping[str, Any],
) -> list[str]:
    """The healthy reference distances (histogram), the record's beats (ticks) and its median (line)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    values = np.concatenate([reference, beats, [record_value]])
    bins = np.histogram_bin_edges(values, bins=min(30, max(8, len(reference) // 3)))
    ax.hist(
        reference, bins=bins, density=True, color="tab:red", alpha=0.45, label=f"healthy reference (n={len(reference)})"
    )
    for v in beats:
        ax.axvline(v, color="tab:blue", lw=0.5, alpha=0.5)
    ax.axvline(
        record_value, color="tab:blue", lw=1.6, label=f"this record: {record_value:.3f} ({percentile:.0f}th percentile)"
    )
    ax.set_xlabel("rescaled Mahalanobis distance, mean over V1-V6 (dimensionless)")
    ax.set_ylabel("density")
    ax.legend(fontsize=6)
    ax.set_title(title, fontsize=8)
    ax.text(0.0, -0.28, f"reference: {source}", transform=ax.transAxes, fontsize=5, va="top", wrap=True)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    paths = figures.paths(stem)
    save_figure(fig, paths, provenance)
    return paths


def plot_qt(
    stem: str | os.PathLike[str],
    r_s: np.ndarray,
    qt_real: np.ndarray,
    qt_samples: np.ndarray,
    rr_grid: np.ndarray | None,
    qt_grid: np.ndarray | None,
    fits: Mapping[str, Mapping[str, float]],
    title: str,
    provenance: Mapping[str, Any],
) -> list[str]:
    """QT of each beat (real beat and posterior mean +- sd against time) and, with a grid, the posterior QT of one beat
    against the conditioning RR with the fitted Fridericia laws."""
    import matplotlib.pyplot as plt

    ncol = 2 if rr_grid is not None and qt_grid is not None else 1
    fig, axes = plt.subplots(1, ncol, figsize=(5 * ncol, 3.4), squeeze=False)
    ax = axes[0, 0]
    mean = np.array([np.nanmean(v) if np.isfinite(v).any() else np.nan for v in qt_samples])
    sd = np.array([np.nanstd(v) if np.isfinite(v).sum() > 1 else np.nan for v in qt_samples])
    ax.errorbar(
        r_s, mean, yerr=sd, fmt="o", ms=3, capsize=2, color=figures.POSTERIOR_COLOR, label="posterior (mean ± sd)"
    )
    ax.plot(r_s, qt_real, "x", color=figures.OBSERVED_COLOR, ms=4, label="recorded beat")
    ax.set_xlabel("beat time (s)")
    ax.set_ylabel("QT (ms)")
    ax.legend(fontsize=6)
    if ncol == 2:
        ax = axes[0, 1]
        m = np.array([np.nanmean(v) if np.isfinite(v).any() else np.nan for v in qt_grid])
        s = np.array([np.nanstd(v) if np.isfinite(v).sum() > 1 else np.nan for v in qt_grid])
        ax.errorbar(rr_grid, m, yerr=s, fmt="o", ms=3, capsize=2, color=figures.POSTERIOR_COLOR, label="posterior QT")
        g = np.linspace(rr_grid.min(), rr_grid.max(), 100)
        if "fridericia_offset" in fits:
            f = fits["fridericia_offset"]
            ax.plot(
                g,
                1000 * (f["qtc0"] * np.cbrt(g / 1000) + f["qtc1"]),
                lw=1,
                label=f"Fridericia with offset (R²={f['r2']:.2f})",
            )
        if "fridericia" in fits:
            f = fits["fridericia"]
            ax.plot(g, 1000 * f["qtc"] * np.cbrt(g / 1000), lw=0.8, ls="--", label=f"Fridericia (R²={f['r2']:.2f})")
        ax.set_xlabel("conditioning RR (ms)")
        ax.set_ylabel("QT (ms)")
        ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    paths = figures.paths(stem)
    save_figure(fig, paths, provenance)
    return paths
