"""Small plotting helpers shared by the task figures (beats drawn lead by lead against time)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np

from .. import plots  # noqa: F401  (selects the non-interactive backend)

POSTERIOR_COLOR = "tab:blue"
TRUE_COLOR = "black"
OBSERVED_COLOR = "tab:red"
BASELINE_COLOR = "tab:orange"


def time_ms(length: int, r_index: int, fs: float) -> np.ndarray:
    """Sample times of a beat window in milliseconds relative to the R peak."""
    return (np.arange(length) - r_index) * 1000.0 / fs


def lead_grid(
    n_leads: int, n_cols: int, height: float = 1.0, width: float = 3.2, sharex: bool = True
) -> tuple[plt.Figure, np.ndarray]:
    """A figure with ``n_leads`` rows and ``n_cols`` columns of axes (``axes[lead, col]``)."""
    fig, axes = plt.subplots(
        n_leads, n_cols, figsize=(width * n_cols, height * n_leads + 0.8), sharex=sharex, squeeze=False
    )
    return fig, axes


def draw_samples(
    ax: plt.Axes,
    t: np.ndarray,
    samples: np.ndarray,
    color: str = POSTERIOR_COLOR,
    max_lines: int = 30,
    label: str | None = "posterior samples",
) -> None:
    """Thin, translucent lines for (at most ``max_lines``) samples ``[n, T]``."""
    n = min(len(samples), max_lines)
    for i in range(n):
        ax.plot(t, samples[i], color=color, lw=0.5, alpha=0.35, label=label if i == 0 else None)


#: Amplitude unit of normalised beats: each lead divided by its QRS maximum (:func:`ecgdiff.data.beats.normalise`).
NORMALISED = "norm."
MILLIVOLT = "mV"


def amplitude_label(unit: str) -> str:
    """The amplitude axis's unit as written on a figure."""
    return {NORMALISED: "normalised units (QRS max = 1)", MILLIVOLT: "millivolts"}.get(unit, unit)


def label_leads(axes: np.ndarray, names: Sequence[str], unit: str = NORMALISED) -> None:
    """Lead names with the amplitude unit as y labels of the first column (``V1 [mV]``), and the unit spelt out
    once beside the grid."""
    for row, name in zip(axes, names):
        row[0].set_ylabel(f"{name}\n[{unit}]", rotation=0, ha="right", va="center", fontsize=7)
    fig = np.asarray(axes).ravel()[0].figure
    fig.supylabel(f"amplitude: {amplitude_label(unit)}", fontsize=7, x=0.0)


def finish(fig: plt.Figure, title: str, xlabel: str = "time from R peak (ms)") -> None:
    """Title, x label under the bottom row and a tight layout leaving room for the provenance footer."""
    fig.suptitle(title, fontsize=10)
    axes = np.array(fig.axes).reshape(-1)
    bottom = max(ax.get_subplotspec().rowspan.stop for ax in axes if ax.get_subplotspec() is not None)
    for ax in axes:
        spec = ax.get_subplotspec()
        if spec is not None and spec.rowspan.stop == bottom:
            ax.set_xlabel(xlabel, fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))


def paths(stem: str | os.PathLike[str]) -> list[str]:
    """The files of a figure: ``[<stem>.png, <stem>.pdf]``."""
    stem = os.fspath(stem)
    return [stem + ".png", stem + ".pdf"]
