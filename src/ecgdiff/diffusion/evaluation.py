"""Evaluation of the beat prior: EMD against the number of steps (figure 2) and generated beats (figure 14).

Earth mover's distance (paper 2.6). Each beat becomes the vector of its samples (all leads, flattened)
concatenated with its normalised conditioning features (:mod:`.conditioning`: sex one-hot,
``(age-50)/50``, ``(RR-400)/400``), so that transporting a beat to a beat of another patient profile
costs more. The cost is the Euclidean (L2) distance between such vectors and the EMD is the optimal
transport cost between the two empirical distributions with uniform weights (:func:`ecgdiff.metrics.emd`, POT's exact
``ot.emd2``).

Figure 2: for each number of steps ``K`` of the grid, the conditional prior generates one beat per test
patient (conditioned on that patient's age, sex and RR) and the unconditional prior as many beats, to
which the features of randomly drawn test rows are attached. Their EMD to the test beats and to
batches of training beats of the same size (one beat per patient everywhere, paper 2.4) is reported,
with the spread over training batches; reference lines: test vs training batches, and noisy test (test
beats plus Gaussian noise of a stated standard deviation) vs training batches.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import dataset as beat_dataset
from ..metrics import emd
from . import conditioning
from .prior import Prior, load_prior
from .sample import generate

log = logging.getLogger(__name__)


def emd_features(beats: np.ndarray, cond: np.ndarray) -> np.ndarray:
    """``[N, L*T + 4]``: each beat flattened and concatenated with its conditioning features."""
    beats = np.asarray(beats, dtype=np.float64)
    cond = np.asarray(cond, dtype=np.float64)
    if len(beats) != len(cond):
        raise ValueError(f"{len(beats)} beats but {len(cond)} feature rows")
    return np.concatenate([beats.reshape(len(beats), -1), cond], axis=1)


def train_batches(n_rows: int, batch_size: int, max_batches: int | None, seed: int) -> list[np.ndarray]:
    """Disjoint random batches of ``batch_size`` row indices (the remainder is dropped)."""
    if n_rows < batch_size:
        raise ValueError(f"{n_rows} training patients cannot form one batch of {batch_size} (the test-set size)")
    perm = np.random.default_rng(seed).permutation(n_rows)
    n = n_rows // batch_size if max_batches is None else min(n_rows // batch_size, max_batches)
    return [perm[i * batch_size : (i + 1) * batch_size] for i in range(n)]


def _emd_to_batches(f: np.ndarray, train_f: np.ndarray, batches: list[np.ndarray]) -> np.ndarray:
    return np.array([emd(f, train_f[idx]) for idx in batches])


def emd_vs_steps(
    cond_prior: Prior,
    uncond_prior: Prior,
    db: beat_dataset.BeatDatabase,
    steps: list[int],
    method: str = "ve",
    eta: float = 1.0,
    noise_std: float = 0.1,
    max_train_batches: int | None = None,
    seed: int = 0,
    batch_size: int = 512,
) -> pd.DataFrame:
    """The numbers of figure 2 (see the module docstring): one row per (model, K, target).

    Columns: ``model`` (conditional, unconditional, test, noisy_test), ``steps`` (K; empty for the
    references), ``target`` (test or train), ``emd`` (mean over training batches for ``train``),
    ``emd_std`` (standard deviation over training batches), ``n_batches``, ``n_beats``, ``seconds``.
    """
    x_test, m_test = db.one_beat_per_patient("test", seed)
    x_train, m_train = db.one_beat_per_patient("train", seed + 1)
    if len(x_test) == 0:
        raise ValueError(f"beat database {db.path}: no test patients, the EMD of figure 2 needs some")
    c_test = conditioning.encode_meta(m_test)
    test_f = emd_features(x_test, c_test)
    train_f = emd_features(x_train, conditioning.encode_meta(m_train))
    n = len(x_test)
    batches = train_batches(len(train_f), n, max_train_batches, seed + 2)
    rows: list[dict[str, Any]] = []

    def add(model: str, k: int | None, f: np.ndarray, seconds: float = float("nan")) -> None:
        t = _emd_to_batches(f, train_f, batches)
        rows.append(
            dict(
                model=model,
                steps=k,
                target="train",
                emd=t.mean(),
                emd_std=t.std(ddof=1) if len(t) > 1 else 0.0,
                n_batches=len(t),
                n_beats=n,
                seconds=seconds,
            )
        )
        if model != "test":
            rows.append(
                dict(
                    model=model,
                    steps=k,
                    target="test",
                    emd=emd(f, test_f),
                    emd_std=0.0,
                    n_batches=0,
                    n_beats=n,
                    seconds=seconds,
                )
            )

    add("test", None, test_f)
    rng = np.random.default_rng(seed + 3)
    noisy = x_test + noise_std * rng.standard_normal(x_test.shape)
    add("noisy_test", None, emd_features(noisy, c_test))
    unc_feat = c_test[rng.permutation(n)]  # features of randomly drawn test rows for the unconditional beats
    for k in steps:
        t0 = time.perf_counter()
        gen_c = generate(
            cond_prior, k, cond=c_test, method=method, eta=eta, seed=seed + 1000 + k, batch_size=batch_size
        )
        t_c = time.perf_counter() - t0
        add("conditional", k, emd_features(gen_c, c_test), t_c)
        t0 = time.perf_counter()
        gen_u = generate(uncond_prior, k, n=n, method=method, eta=eta, seed=seed + 2000 + k, batch_size=batch_size)
        t_u = time.perf_counter() - t0
        add("unconditional", k, emd_features(gen_u, unc_feat), t_u)
        log.info(
            "K=%d: EMD to test %.3f (conditional) %.3f (unconditional); generation %.1f s + %.1f s",
            k,
            rows[-3]["emd"],
            rows[-1]["emd"],
            t_c,
            t_u,
        )
    table = pd.DataFrame(rows)
    table["steps"] = table["steps"].astype("Int64")
    return table


def plot_emd_vs_steps(table: pd.DataFrame, paths: list[str], provenance: dict[str, Any], noise_std: float) -> None:
    """Figure 2: EMD of generated beats to the test set (dotted) and to training batches (solid, error bars)."""
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    colours = {"conditional": "tab:orange", "unconditional": "0.45"}
    for model, colour in colours.items():
        sub = table[table["model"] == model]
        tr = sub[sub["target"] == "train"].sort_values("steps")
        te = sub[sub["target"] == "test"].sort_values("steps")
        ax.errorbar(
            tr["steps"],
            tr["emd"],
            yerr=tr["emd_std"],
            color=colour,
            marker="o",
            ms=3,
            capsize=2,
            label=f"{model} vs train",
        )
        ax.plot(te["steps"], te["emd"], color=colour, ls=":", marker="s", ms=3, label=f"{model} vs test")
    for model, colour, name in (
        ("test", "tab:red", "test vs train"),
        ("noisy_test", "tab:blue", f"noisy test (+N(0, {noise_std:g}^2)) vs train"),
    ):
        r = table[(table["model"] == model) & (table["target"] == "train")].iloc[0]
        ax.axhline(r["emd"], color=colour, lw=1, label=name)
        ax.axhspan(r["emd"] - r["emd_std"], r["emd"] + r["emd_std"], color=colour, alpha=0.12, lw=0)
    ax.set_xscale("log")
    ks = sorted(int(k) for k in table["steps"].dropna().unique())
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xlabel("diffusion steps K")
    ax.set_ylabel("EMD (L2 cost on beat + features)")
    n = int(table["n_beats"].iloc[0])
    nb = int(table.loc[table["target"] == "train", "n_batches"].max())
    ax.set_title(f"EMD of generated beats ({n} per set; {nb} training batch{'es' if nb != 1 else ''})", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout(rect=(0, 0.05, 1, 1))  # room for the provenance footer
    save_figure(fig, paths, provenance)


def run_emd_figure(
    cond_path: str | Path,
    uncond_path: str | Path,
    beats_dir: str | Path,
    settings: dict[str, Any],
    sampler: dict[str, Any],
    table_paths: tuple[str, str],
    figure_paths: tuple[str, str],
    config: dict[str, Any],
    device: str = "auto",
) -> pd.DataFrame:
    """Workflow step of figure 2: compute the table, write it and the figure."""
    from .. import provenance as prov_mod
    from ..tables import write_table

    db = beat_dataset.load(beats_dir)
    cp, up = load_prior(cond_path, device), load_prior(uncond_path, device)
    seed = int(settings.get("seed", config.get("seed", 0)))
    table = emd_vs_steps(
        cp,
        up,
        db,
        list(settings["steps"]),
        method=sampler["method"],
        eta=sampler["eta"],
        noise_std=settings["noise_std"],
        max_train_batches=settings.get("max_train_batches"),
        seed=seed,
        batch_size=sampler["batch_size"],
    )
    prov = prov_mod.make(
        config, data_hash=db.data_hash, seed=seed, priors={"conditional": cp.provenance, "unconditional": up.provenance}
    )
    caption = (
        "Figure 2: EMD between generated and real beats against the number of diffusion steps K "
        f"({sampler['method']} sampler, eta={sampler['eta']}); one beat per patient; cost = L2 distance "
        "between flattened beats concatenated with the normalised (sex, age, RR) features. 'train' rows: "
        "mean and standard deviation over training batches of the test-set size. References: test vs "
        f"train and noisy test (Gaussian noise, std {settings['noise_std']}) vs train."
    )
    write_table(table, table_paths[0], table_paths[1], caption=caption, provenance=prov)
    plot_emd_vs_steps(table, list(figure_paths), prov, settings["noise_std"])
    return table


def plot_generated_beats(
    real: np.ndarray,
    generated: np.ndarray,
    meta: pd.DataFrame,
    leads: tuple[str, ...],
    fs: float,
    before: int,
    paths: list[str],
    provenance: dict[str, Any],
    steps: int,
) -> None:
    """Figure 14: per test patient (column) and lead (row), the real beat and beats generated for its (A, S, RR)."""
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    n_ex, n_gen = generated.shape[:2]
    n_leads = len(leads)
    t_ms = (np.arange(real.shape[-1]) - before) / fs * 1000.0
    fig, axes = plt.subplots(n_leads, n_ex, figsize=(2.3 * n_ex, 0.95 * n_leads + 0.8), sharex=True, squeeze=False)
    for j in range(n_ex):
        row = meta.iloc[j]
        axes[0, j].set_title(f"{row['sex']}, {row['age']:.0f} y, RR {row['rr_ms']:.0f} ms", fontsize=8)
        for i, lead in enumerate(leads):
            ax = axes[i, j]
            for g in range(n_gen):
                ax.plot(
                    t_ms,
                    generated[j, g, i],
                    color="tab:orange",
                    lw=0.8,
                    alpha=0.75,
                    label="generated" if (g == 0 and i == 0 and j == 0) else None,
                )
            ax.plot(t_ms, real[j, i], color="k", lw=1.0, label="real (test)" if (i == 0 and j == 0) else None)
            ax.tick_params(labelsize=6)
            if j == 0:
                ax.set_ylabel(lead, fontsize=8, rotation=0, ha="right", va="center")
    for ax in axes[-1]:
        ax.set_xlabel("ms from R", fontsize=7)
    axes[0, 0].legend(loc="upper right", fontsize=6, framealpha=0.7)
    fig.suptitle(f"Beats generated with {steps} steps for (sex, age, RR) of test patients", fontsize=10)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))  # room for the provenance footer
    save_figure(fig, paths, provenance)


def run_generated_beats_figure(
    cond_path: str | Path,
    beats_dir: str | Path,
    settings: dict[str, Any],
    sampler: dict[str, Any],
    figure_paths: tuple[str, str],
    config: dict[str, Any],
    device: str = "auto",
) -> np.ndarray:
    """Workflow step of figure 14: draw test patients at random, generate beats for them, plot with the real ones."""
    from .. import provenance as prov_mod

    db = beat_dataset.load(beats_dir)
    prior = load_prior(cond_path, device)
    seed = int(settings.get("seed", config.get("seed", 0)))
    if tuple(db.leads) != prior.leads:
        raise ValueError(f"prior leads {prior.leads} differ from the beat database's {db.leads}")
    x_test, m_test = db.one_beat_per_patient("test", seed)
    n_ex = min(int(settings["n_patients"]), len(x_test))
    pick = np.sort(np.random.default_rng(seed).choice(len(x_test), n_ex, replace=False))
    meta = m_test.iloc[pick].reset_index(drop=True)
    cond = np.repeat(conditioning.encode_meta(meta), int(settings["n_samples"]), axis=0)
    gen = generate(
        prior,
        int(settings["steps"]),
        cond=cond,
        method=sampler["method"],
        eta=sampler["eta"],
        seed=seed,
        batch_size=sampler["batch_size"],
    )
    gen = gen.reshape(n_ex, int(settings["n_samples"]), *prior.shape)
    log.info("generated %d beats for each of %d test patients (%d steps)", gen.shape[1], n_ex, int(settings["steps"]))
    prov = prov_mod.make(config, data_hash=db.data_hash, seed=seed, prior=prior.provenance)
    plot_generated_beats(
        x_test[pick],
        gen,
        meta,
        prior.leads,
        float(db.manifest.get("fs", prior.fs)),
        int(db.manifest.get("before", 48)),
        list(figure_paths),
        prov,
        int(settings["steps"]),
    )
    return gen
