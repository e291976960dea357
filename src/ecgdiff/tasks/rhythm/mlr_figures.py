"""Figures of the missing-lead reconstruction task (:mod:`.mlr`): the talk's BBB and AF examples, RMSE per lead.

- :func:`plot_example`: one test rhythm of a class (the first of that class among the shards' examples, shards
  in order), reconstructed from the task's ``example_setting`` by the main sampler: one panel per standard
  lead over the 10 s, the observed leads as observed, the missing ones true and reconstructed with the
  posterior band (mean ± 2 sd over the samples); mV axes. When the task's rhythms hold no rhythm of the class,
  the figure says so in its title and the log says why (it never shows another class instead).
- :func:`plot_rmse_per_lead`: mean RMSE per lead (and its Student-t interval) of every method, one panel per
  setting (lead I; the limb leads; each precordial lead withheld alone, the RMSE of its own problem).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from ... import leads as leadlib
from ...metrics import t_interval
from ...plots import save_figure
from .. import figures
from ..context import TaskContext
from ..shards import Shard, concat
from . import mlr

log = logging.getLogger(__name__)

BAND_COLOR = "tab:blue"


def time_s(length: int, fs: float) -> np.ndarray:
    """Sample times of a rhythm in seconds."""
    return np.arange(length) / float(fs)


def find_example(shards: Sequence[Shard], cls: str) -> dict[str, Any] | None:
    """The first stored example of class ``cls`` (shards in order), or None."""
    for sh in shards:
        classes = sh.arrays.get("ex_class")
        if classes is None:
            continue
        hits = np.flatnonzero(classes == cls)
        if len(hits):
            i = int(hits[0])
            return {
                "rhythm_id": int(sh.arrays["ex_rhythm_id"][i]),
                "patient": str(sh.arrays["ex_patient"][i]),
                "observed": sh.arrays["ex_observed"].astype(bool),
                "true": sh.arrays["ex_true"][i],
                "mean": sh.arrays["ex_mean"][i],
                "std": sh.arrays["ex_std"][i],
            }
    return None


def _why_none(db: Any, shards: Sequence[Shard], ctx: TaskContext, cls: str) -> str:
    labels = Counter(str(v) for v in concat(shards, "label"))
    in_test = int(((db.meta["split"] == "test") & (db.meta["label"] == cls)).sum())
    why = (
        f"the {sum(labels.values())} test rhythms of the task hold no {cls} rhythm (labels: "
        f"{', '.join(f'{k} {v}' for k, v in sorted(labels.items()))})"
    )
    if in_test:
        why += f"; the test split has {in_test}, outside the seeded selection of n_patients = {ctx.settings.n_patients}"
    else:
        why += "; the test split of the rhythm database has none"
    return why


def plot_example(
    db: Any, shards: Sequence[Shard], ctx: TaskContext, cls: str, stem: str, prov: Mapping[str, Any]
) -> None:
    """The reconstruction of a test rhythm of class ``cls`` (see the module docstring)."""
    s = ctx.settings
    prob = next(p for p in mlr.problems(db.leads, s) if p.key == s.example_setting)
    ex = find_example(shards, cls)
    names = leadlib.STANDARD_12
    sampler = mlr.title(ctx.sampler)
    if ex is None:
        why = _why_none(db, shards, ctx, cls)
        log.warning("%s: figure %s shows no rhythm: %s", mlr.TASK, stem, why)
        fig, ax = plt.subplots(figsize=(9, 1.8))
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"{why}.", ha="center", va="center", fontsize=8, wrap=True, transform=ax.transAxes)
        fig.suptitle(f"No {cls} test rhythm among the task's rhythms: nothing to show", fontsize=10)
        save_figure(fig, figures.paths(stem), prov)
        return
    fig, axes = plt.subplots(6, 2, figsize=(11, 9), sharex=True, squeeze=False)
    order = [axes[i % 6, i // 6] for i in range(len(names))]  # limb leads left, precordial right
    t = time_s(ex["true"].shape[-1], db.fs)
    for j, (ax, name) in enumerate(zip(order, names)):
        true = ex["true"][j]
        if ex["observed"][j]:
            ax.plot(t, true, color=figures.OBSERVED_COLOR, lw=0.7, label="observed")
        else:
            mean, sd = ex["mean"][j], ex["std"][j]
            ax.fill_between(t, mean - 2 * sd, mean + 2 * sd, color=BAND_COLOR, alpha=0.25, lw=0, label="mean ± 2 sd")
            ax.plot(t, true, color=figures.TRUE_COLOR, lw=0.7, label="true")
            ax.plot(t, mean, color=BAND_COLOR, lw=0.7, label=f"{sampler} posterior mean")
        ax.set_ylabel(f"{name} (mV)", fontsize=7)
        ax.tick_params(labelsize=6)
    first_missing = next(ax for ax, o in zip(order, ex["observed"]) if not o)
    first_missing.legend(fontsize=6, loc="upper right")
    observed = next((ax for ax, o in zip(order, ex["observed"]) if o), None)
    if observed is not None:
        observed.legend(fontsize=6, loc="upper right")
    figures.finish(
        fig,
        f"{cls} test rhythm {ex['rhythm_id']} (patient {ex['patient']}): {prob.title} observed, "
        f"{sampler} reconstruction ({s.n_samples} samples, sigma_y {s.sigma_y:g} mV)",
        xlabel="time (s)",
    )
    save_figure(fig, figures.paths(stem), prov)


def _lead_rmse(shards: Sequence[Shard], key: str, method: str, lead: int, level: float) -> tuple[float, float]:
    v = concat(shards, f"rmse_lead__{key}__{method}")[:, lead]
    v = v[np.isfinite(v)]
    if not len(v):
        return np.nan, np.nan
    iv = t_interval(v, level)
    return iv.estimate, (iv.half_width if np.isfinite(iv.half_width) else 0.0)


def plot_rmse_per_lead(db: Any, shards: Sequence[Shard], ctx: TaskContext, stem: str, prov: Mapping[str, Any]) -> None:
    """Mean RMSE per lead of every method, one panel per setting (see the module docstring)."""
    s = ctx.settings
    probs = mlr.problems(db.leads, s)
    names = leadlib.STANDARD_12
    panels: list[tuple[str, list[tuple[str, int]]]] = []  # (title, [(problem key, lead index)])
    for setting in s.settings:
        group = [p for p in probs if p.setting == setting]
        if setting == "precordial":
            items = [(p.key, names.index(p.withheld[0])) for p in group]
            panels.append(("each precordial lead withheld alone", items))
        else:
            p = group[0]
            obs12 = mlr.observed_12(db.leads, p, db.length)
            panels.append((f"{p.title} observed", [(p.key, j) for j in range(len(names)) if not obs12[j]]))
    meths = mlr.methods(ctx)
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.6 * len(panels) + 0.6), squeeze=False)
    width = 0.8 / len(meths)
    for ax, (name, items) in zip(axes[:, 0], panels):
        xpos = np.arange(len(items))
        for k, m in enumerate(meths):
            vals = np.array([_lead_rmse(shards, key, m, j, s.level) for key, j in items])
            ax.bar(xpos + (k - (len(meths) - 1) / 2) * width, vals[:, 0], width, yerr=vals[:, 1], label=mlr.title(m))
        ax.set_xticks(xpos, [names[j] for _, j in items], fontsize=7)
        ax.set_ylabel("RMSE (mV)", fontsize=7)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6, ncol=min(len(meths), 5))
    figures.finish(
        fig,
        f"RMSE per reconstructed lead (mean and {100 * s.level:g}% t-interval over test rhythms)",
        xlabel="lead",
    )
    save_figure(fig, figures.paths(stem), prov)
