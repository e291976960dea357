"""Out-of-distribution uncertainty of beats with prior networks (random network distillation; paper 2.6, figure 3).

Following Ciosek et al. (2020), a randomly initialised, fixed network ``f`` (the *prior* or target)
maps a beat to a representation vector, and a second network ``h`` (same ResNet body plus linear
layers) is trained to reproduce ``f`` on the training beats. Far from the training distribution ``h``
has not learned to imitate ``f``, so ``||h(x) - f(x)||`` grows: it measures how far a beat lies
outside the support of the training data. ``B`` independent pairs are trained and the uncertainty of
a beat is the mean over pairs of the L2 distance.

The body is a small 1D ResNet in the spirit of Ribeiro et al.'s ECG classifier: a stem convolution,
residual stages that halve the length and double the channels, global average pooling.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..data import dataset as beat_dataset
from ..runtime import pick_device

log = logging.getLogger(__name__)


@dataclass
class RNDConfig:
    """Sizes of the prior-network ensemble (paper: B = 10 pairs, 1024-dimensional representation, 20 epochs)."""

    pairs: int = 10
    repr_dim: int = 1024
    channels: int = 32
    stages: int = 3
    kernel: int = 7
    hidden: int = 1024
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv1d(cin, cout, kernel, stride=stride, padding=kernel // 2)
        self.norm0 = nn.GroupNorm(min(8, cout), cout)
        self.conv1 = nn.Conv1d(cout, cout, kernel, padding=kernel // 2)
        self.norm1 = nn.GroupNorm(min(8, cout), cout)
        self.skip = nn.Conv1d(cin, cout, 1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm0(self.conv0(x)))
        h = self.norm1(self.conv1(h))
        return F.relu(h + self.skip(x))


class ResNet1d(nn.Module):
    """Beat ``[B, L, T]`` to a pooled feature vector ``[B, channels * 2^(stages-1)]``."""

    def __init__(self, leads: int, channels: int, stages: int, kernel: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(leads, channels, kernel, padding=kernel // 2), nn.GroupNorm(min(8, channels), channels), nn.ReLU()
        )
        blocks, c = [], channels
        for s in range(stages):
            cout = channels * 2**s
            blocks.append(_Block(c, cout, kernel, stride=1 if s == 0 else 2))
            c = cout
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x)).mean(dim=-1)


class TargetNet(nn.Module):
    """The fixed random prior network: ResNet body and a linear map to the representation."""

    def __init__(self, leads: int, cfg: RNDConfig) -> None:
        super().__init__()
        self.body = ResNet1d(leads, cfg.channels, cfg.stages, cfg.kernel)
        self.head = nn.Linear(self.body.out_channels, cfg.repr_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class PredictorNet(nn.Module):
    """The trained network: the same ResNet body followed by linear layers."""

    def __init__(self, leads: int, cfg: RNDConfig) -> None:
        super().__init__()
        self.body = ResNet1d(leads, cfg.channels, cfg.stages, cfg.kernel)
        self.head = nn.Sequential(
            nn.Linear(self.body.out_channels, cfg.hidden),
            nn.ReLU(),
            nn.Linear(cfg.hidden, cfg.hidden),
            nn.ReLU(),
            nn.Linear(cfg.hidden, cfg.repr_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class PriorNetworkEnsemble:
    """``B`` (target, predictor) pairs; :meth:`fit` on training beats, :meth:`uncertainty` of any beats."""

    def __init__(self, leads: int, cfg: RNDConfig, device: str | torch.device = "auto") -> None:
        self.cfg = cfg
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        torch.manual_seed(cfg.seed)
        self.targets = [TargetNet(leads, cfg).to(self.device).eval() for _ in range(cfg.pairs)]
        self.predictors = [PredictorNet(leads, cfg).to(self.device) for _ in range(cfg.pairs)]
        for t in self.targets:
            for p in t.parameters():
                p.requires_grad_(False)
        self.history: list[dict[str, float]] = []

    def fit(self, beats: np.ndarray) -> list[dict[str, float]]:
        """Train every predictor to match its target on ``beats`` (mean squared error, Adam)."""
        x = torch.as_tensor(np.asarray(beats, dtype=np.float32), device=self.device)
        gen = torch.Generator().manual_seed(self.cfg.seed + 1)
        bs = min(self.cfg.batch_size, len(x))
        for b, (tgt, pred) in enumerate(zip(self.targets, self.predictors)):
            with torch.no_grad():
                y = torch.cat([tgt(x[i : i + 1024]) for i in range(0, len(x), 1024)])
            opt = torch.optim.Adam(pred.parameters(), lr=self.cfg.lr)
            pred.train()
            t0 = time.perf_counter()
            for epoch in range(self.cfg.epochs):
                perm = torch.randperm(len(x), generator=gen).to(self.device)
                total = 0.0
                for i in range(0, len(x) - bs + 1, bs):
                    idx = perm[i : i + bs]
                    loss = F.mse_loss(pred(x[idx]), y[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                self.history.append({"pair": b, "epoch": epoch + 1, "mse": total / (len(x) // bs * bs)})
            pred.eval()
            log.info(
                "prior network %d/%d: final MSE %.4g (%.1f s)",
                b + 1,
                self.cfg.pairs,
                self.history[-1]["mse"],
                time.perf_counter() - t0,
            )
        return self.history

    @torch.no_grad()
    def uncertainty(self, beats: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """Per beat: mean over pairs of ``||predictor(x) - target(x)||_2``."""
        x = torch.as_tensor(np.asarray(beats, dtype=np.float32))
        out = np.zeros(len(x))
        for tgt, pred in zip(self.targets, self.predictors):
            pred.eval()
            for i in range(0, len(x), chunk):
                xb = x[i : i + chunk].to(self.device)
                out[i : i + chunk] += (pred(xb) - tgt(xb)).norm(dim=1).double().cpu().numpy()
        return out / len(self.targets)


def summarise(values: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per group: n, mean, std, quartiles of the uncertainty."""
    rows = []
    for group, v in values.items():
        q = np.percentile(v, [5, 25, 50, 75, 95])
        rows.append(
            dict(
                group=group,
                n=len(v),
                mean=v.mean(),
                std=v.std(ddof=1) if len(v) > 1 else 0.0,
                p05=q[0],
                q25=q[1],
                median=q[2],
                q75=q[3],
                p95=q[4],
            )
        )
    return pd.DataFrame(rows)


def plot_uncertainty(values: dict[str, np.ndarray], paths: list[str], provenance: dict[str, Any], steps: int) -> None:
    """Figure 3: box plots of the uncertainty per group."""
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    names = {"train": "Train", "test": "Test", "generated": f"Gen ({steps} steps)", "mi": "MI"}
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    groups = list(values)
    ax.boxplot([values[g] for g in groups], showfliers=True, flierprops={"markersize": 2})
    ax.set_xticks(range(1, len(groups) + 1), [f"{names.get(g, g)}\n(n={len(values[g])})" for g in groups])
    ax.set_ylabel("uncertainty (mean L2 over prior-network pairs)")
    ax.set_title("Out-of-distribution uncertainty of beats", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))  # room for the provenance footer
    save_figure(fig, paths, provenance)


def run_uncertainty_figure(
    cond_path: str | Path,
    beats_dir: str | Path,
    settings: dict[str, Any],
    sampler: dict[str, Any],
    table_paths: tuple[str, str],
    figure_paths: tuple[str, str],
    config: dict[str, Any],
    device: str = "auto",
) -> pd.DataFrame:
    """Workflow step of figure 3: fit the ensemble on training beats; score train, test, generated and MI beats.

    Train, test and MI groups hold one beat per patient (paper 2.4); the generated group holds one beat
    per test patient, generated with ``settings['steps']`` steps for that patient's (age, sex, RR). A
    database without MI patients yields no MI group (stated in the table caption and the log).
    """
    from .. import provenance as prov_mod
    from ..tables import write_table
    from . import conditioning
    from .prior import load_prior
    from .sample import generate

    db = beat_dataset.load(beats_dir)
    seed = int(settings.get("seed", config.get("seed", 0)))
    cfg = RNDConfig(**{k: v for k, v in settings.items() if k in RNDConfig.__dataclass_fields__})
    x_fit = (
        db.subset("train")[0]
        if settings.get("fit_beats", "all") == "all"
        else db.one_beat_per_patient("train", seed)[0]
    )
    ens = PriorNetworkEnsemble(len(db.leads), cfg, device)
    ens.fit(x_fit)
    groups: dict[str, np.ndarray] = {}
    groups["train"] = db.one_beat_per_patient("train", seed + 1)[0]
    x_test, m_test = db.one_beat_per_patient("test", seed + 2)
    groups["test"] = x_test
    prior = load_prior(cond_path, device)
    groups["generated"] = generate(
        prior,
        int(settings["steps"]),
        cond=conditioning.encode_meta(m_test),
        method=sampler["method"],
        eta=sampler["eta"],
        seed=seed + 3,
        batch_size=sampler["batch_size"],
    )
    n_mi = int((db.meta["split"] == "mi").sum())
    note = ""
    if n_mi:
        groups["mi"] = db.one_beat_per_patient("mi", seed + 4)[0]
    else:
        note = " The beat database has no MI patients: no MI group."
        log.warning("beat database %s has no MI beats: figure 3 shows no MI group", db.path)
    values = {g: ens.uncertainty(x) for g, x in groups.items()}
    table = summarise(values)
    prov = prov_mod.make(config, data_hash=db.data_hash, seed=seed, prior=prior.provenance, rnd=asdict(cfg))
    caption = (
        f"Figure 3: uncertainty (mean over {cfg.pairs} prior-network pairs of the L2 distance between the "
        f"trained predictor and its fixed random target, {cfg.repr_dim}-dimensional) of train, test, "
        f"generated ({settings['steps']} steps, conditioned on the test patients) and MI beats; one beat "
        f"per patient. Predictors fitted for {cfg.epochs} epochs on {len(x_fit)} training beats." + note
    )
    write_table(table, table_paths[0], table_paths[1], caption=caption, provenance=prov)
    plot_uncertainty(values, list(figure_paths), prov, int(settings["steps"]))
    return table
