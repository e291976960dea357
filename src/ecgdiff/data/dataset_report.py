"""Description of a beat database: the paper's table 3 (sets, patients, sex, beats) and figure 12 (age
histograms by sex per set).

Mean beats per patient: the mean over the set's patients of their number of beats, with the half-width
of its normal-approximation 95 % confidence interval, ``1.96 * sd / sqrt(n_patients)`` (the paper's
"9.5 +/- 0.1").
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .dataset import BeatDatabase

#: The sets of table 3 and figure 12, in the paper's order, with their display names.
SETS: dict[str, str] = {"train": "Train", "cv": "CV", "test": "Test", "mi": "MI"}


def patient_table(meta: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: ``patient_id, split, sex, age, n_beats`` (age and sex of its first beat)."""
    g = meta.groupby("patient_id", sort=True)
    return pd.DataFrame(
        {"split": g["split"].first(), "sex": g["sex"].first(), "age": g["age"].first(), "n_beats": g.size()}
    ).reset_index()


def table3(meta: pd.DataFrame, sets: Sequence[str] = tuple(SETS)) -> pd.DataFrame:
    """Table 3: rows are quantities, columns the sets (``Train, CV, Test, MI``)."""
    pt = patient_table(meta)
    cols: dict[str, list[Any]] = {}
    for s in sets:
        p = pt[pt["split"] == s]
        n = len(p)
        mean = float(p["n_beats"].mean()) if n else float("nan")
        half = float(1.96 * p["n_beats"].std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        cols[SETS.get(s, s)] = [
            n,
            int((p["sex"] == "M").sum()),
            int((p["sex"] == "F").sum()),
            int(p["n_beats"].sum()),
            mean,
            half,
        ]
    rows = [
        "All (patients)",
        "Male (patients)",
        "Female (patients)",
        "All (beats)",
        "Mean (beats per patient)",
        "Mean 95% CI half-width",
    ]
    df = pd.DataFrame({k: pd.Series(v, index=rows, dtype=object) for k, v in cols.items()})
    return df.reset_index().rename(columns={"index": "quantity"})


def write_table3(
    db: BeatDatabase, csv_path: str | os.PathLike[str], md_path: str | os.PathLike[str], provenance: Mapping[str, Any]
) -> pd.DataFrame:
    """Compute table 3 from a loaded beat database and write it (CSV + Markdown, with provenance)."""
    from ..io import write_text
    from ..provenance import footer
    from ..tables import html_path, write_html, write_table

    df = table3(db.meta)
    cap = (
        f"Table 3. Patients, sex and beats per set ({db.manifest.get('source')} beat database; "
        "mean beats per patient with its 95% confidence half-width, 1.96 sd / sqrt(n))."
    )
    write_table(df, csv_path, None, caption=cap, provenance=provenance)
    # Markdown in the paper's layout: counts as integers, the mean as "m +/- h"
    t = df.set_index("quantity")
    shown = t.iloc[:4].map(lambda v: f"{int(v)}")
    mean = t.loc["Mean (beats per patient)"]
    half = t.loc["Mean 95% CI half-width"]
    shown.loc["Mean (beats)"] = [
        f"{m:.1f} +/- {h:.1f}" if np.isfinite(h) else (f"{m:.1f}" if np.isfinite(m) else "-")
        for m, h in zip(mean.astype(float), half.astype(float))
    ]
    md = f"{cap}\n\n{shown.reset_index().to_markdown(index=False, colalign=['left'] + ['right'] * shown.shape[1], disable_numparse=True)}\n\n{footer(provenance)}\n"
    write_text(md_path, md)
    write_html(shown.reset_index(), html_path(md_path), cap, provenance)
    return df


def figure12(meta: pd.DataFrame, sets: Sequence[str] = tuple(SETS), bin_years: float = 5.0) -> Any:
    """Figure 12: age histograms of women (pink) and men (blue), one panel per set (one count per patient)."""
    import matplotlib.pyplot as plt

    pt = patient_table(meta)
    ages = pt["age"].to_numpy(dtype=float)
    hi = max(100.0, float(np.nanmax(ages)) if len(ages) else 100.0)
    bins = np.arange(0.0, hi + bin_years, bin_years)
    fig, axes = plt.subplots(1, len(sets), figsize=(3.2 * len(sets), 2.8), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, s in zip(axes, sets):
        p = pt[pt["split"] == s]
        ax.hist(
            [p.loc[p["sex"] == "F", "age"], p.loc[p["sex"] == "M", "age"]],
            bins=bins,
            color=["#e377c2", "#1f77b4"],
            label=["female", "male"],
            histtype="bar",
            alpha=0.85,
        )
        ax.set_title(f"{SETS.get(s, s)} ({len(p)} patients)", fontsize=9)
        ax.set_xlabel("age (years)")
    axes[0].set_ylabel("patients")
    axes[0].legend(fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def write_figure12(db: BeatDatabase, paths: Sequence[str | os.PathLike[str]], provenance: Mapping[str, Any]) -> None:
    """Draw figure 12 from a loaded beat database and save it (PNG + PDF, stamped with provenance)."""
    from ..plots import save_figure

    save_figure(figure12(db.meta), paths, provenance)
