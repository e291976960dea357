"""Training the rhythm classifier on real training rhythms, resumable after a kill.

What is trained (the talk's evaluation; the authors' ``downstream_classifier_subclasses.py`` and the PTB-XL
benchmark's ``fastai_model`` that it calls):

- inputs: the 12 standard leads expanded from the modelled ones (:func:`.predict.to_classifier_input`),
  the ``length`` valid samples only, standardised by the scalar mean and standard deviation of the
  training inputs (stored with the weights);
- targets: the multi-hot columns ``NSR``, ``BBB``, ``AF`` of the rhythm database (multi-label), binary
  cross-entropy on the logits of the three sigmoid outputs;
- samples: every epoch, one random crop of ``crop_s`` = 2.5 s (250 samples at 100 Hz, start uniform over
  the valid samples) of every training rhythm (the benchmark's ``input_size=2.5`` random crops), in a
  seeded random order, in batches of ``batch_size``; an incomplete last batch is dropped (fastai's
  training loader);
- optimiser: Adam with decoupled weight decay (fastai's ``true_wd``: :class:`torch.optim.AdamW`),
  betas (0.9, 0.99) (fastai's Adam), under fastai's one-cycle schedule (``fit_one_cycle``): the learning
  rate rises from ``lr / 25`` to ``lr`` over the first 30 % of the steps and anneals (cosine) to
  ``lr / 25e4``, while beta1 goes 0.95 -> 0.85 -> 0.95 (:class:`torch.optim.lr_scheduler.OneCycleLR`
  with the same constants). Defaults are the authors' values for the 3-class classifier: lr 1e-3,
  weight decay 1e-3, batch 128, 100 epochs (the benchmark's own defaults: lr 1e-2, weight decay 1e-2,
  batch 128, 50 epochs);
- validation: after every ``eval_every`` epochs the network is applied to the ``cv`` rhythms with the
  test-time protocol (sliding windows, max aggregation; :mod:`.predict`) and scored by the mean AUC-PR
  over classes (and the binary cross-entropy of the aggregated probabilities). The weights with the best
  validation score are the ones written to the classifier file (the authors kept the last epoch's).

Reproducibility and resumption: the data order and the crops of an epoch are functions of ``(seed,
epoch)`` alone; torch's global RNG (dropout) is saved. A checkpoint (``last.pt`` in the run's work
folder, written atomically with a content hash every ``checkpoint_every`` epochs, the previous one kept as
``last.prev.pt``; :mod:`ecgdiff.checkpoints`) holds the network, optimiser and schedule
states, the RNG state, the epoch, the history and the best weights; a run started again with the same
settings and data resumes from it and reaches the same weights as an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

from .. import checkpoints
from .. import leads as leadmod
from ..diffusion.networks.beat_unet import count_parameters
from ..diffusion.train import epoch_permutation
from ..runtime import pick_device
from ..tables import write_table
from .evaluate import macro_auc_pr
from .predict import CLASSES, FORMAT, WINDOW_AGGREGATES, aggregate, to_classifier_input, window_probabilities
from .predict import window_starts as _window_starts
from .xresnet1d import XResNet1d, XResNetConfig

log = logging.getLogger(__name__)

SCHEDULES = ("one_cycle", "constant")
SELECT_ON = ("auc_pr", "loss")


@dataclass
class ClassifierConfig:
    """Training and windowing settings (defaults: the authors' 3-class classifier; see the module docstring)."""

    epochs: int = 100
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    schedule: str = "one_cycle"
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    crop_s: float = 2.5
    stride_s: float = 1.25
    window_aggregate: str = "max"
    select_on: str = "auc_pr"
    eval_every: int = 1
    checkpoint_every: int = 1
    eval_batch_size: int = 1024  # windows per forward pass at validation
    seed: int = 0

    def __post_init__(self) -> None:
        self.betas = [float(b) for b in self.betas]
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.window_aggregate not in WINDOW_AGGREGATES:
            raise ValueError(f"window_aggregate must be one of {WINDOW_AGGREGATES}, got {self.window_aggregate!r}")
        if self.select_on not in SELECT_ON:
            raise ValueError(f"select_on must be one of {SELECT_ON}, got {self.select_on!r}")
        for name in ("epochs", "batch_size", "eval_every", "checkpoint_every", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if not 0.0 < self.pct_start < 1.0 or self.div_factor <= 0 or self.final_div_factor <= 0:
            raise ValueError("one-cycle settings: pct_start in (0, 1), div_factor > 0, final_div_factor > 0")
        if self.crop_s <= 0 or self.stride_s <= 0:
            raise ValueError(f"crop_s and stride_s must be > 0, got {self.crop_s}, {self.stride_s}")

    def fingerprint(self) -> dict[str, Any]:
        """Settings that must agree for a checkpoint to be resumed."""
        d = asdict(self)
        for k in ("checkpoint_every", "eval_batch_size"):
            d.pop(k)
        return d


@dataclass
class ClassifierData:
    """Training and validation rhythms as the network sees them: 12 leads, valid samples, mV; multi-hot labels."""

    x_train: np.ndarray  # [n, 12, length] float32
    y_train: np.ndarray  # [n, C] float32
    x_cv: np.ndarray
    y_cv: np.ndarray
    fs: float
    data_hash: str
    classes: tuple[str, ...] = CLASSES
    n_train_patients: int = 0
    n_cv_patients: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return int(self.x_train.shape[-1])


def make_data(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_cv: np.ndarray,
    y_cv: np.ndarray,
    fs: float,
    data_hash: str,
    leads: tuple[str, ...] = leadmod.BASIS,
    length: int | None = None,
    classes: tuple[str, ...] = CLASSES,
    **counts: int,
) -> ClassifierData:
    """:class:`ClassifierData` from rhythms ``[n, len(leads), T]`` (expanded to 12 leads, cut to ``length``)."""
    length = int(x_train.shape[-1] if length is None else length)
    y_train, y_cv = (np.asarray(y, dtype=np.float32) for y in (y_train, y_cv))
    for name, x, y in (("train", x_train, y_train), ("cv", x_cv, y_cv)):
        if len(x) == 0:
            raise ValueError(f"classifier data: the {name} split is empty")
        if y.shape != (len(x), len(classes)):
            raise ValueError(
                f"classifier data: {name} labels {y.shape} for {len(x)} rhythms and {len(classes)} classes"
            )
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError(f"classifier data: {name} labels must be 0/1")
    return ClassifierData(
        x_train=to_classifier_input(x_train, leads, length),
        y_train=y_train,
        x_cv=to_classifier_input(x_cv, leads, length),
        y_cv=y_cv,
        fs=float(fs),
        data_hash=str(data_hash),
        classes=tuple(classes),
        **counts,
    )


def load_training_data(db: Any, classes: tuple[str, ...] = CLASSES) -> ClassifierData:
    """Train and cv rhythms of a rhythm database (``ecgdiff.data.rhythmdb.RhythmDatabase``) with their labels."""
    x_tr, m_tr = db.subset("train")
    x_cv, m_cv = db.subset("cv")
    for name, m in (("train", m_tr), ("cv", m_cv)):
        missing = [c for c in classes if c not in m.columns]
        if missing:
            raise ValueError(f"rhythm database {db.path}: {name} metadata lacks the label columns {missing}")
    return make_data(
        x_tr,
        m_tr[list(classes)].to_numpy(),
        x_cv,
        m_cv[list(classes)].to_numpy(),
        fs=float(db.fs),
        data_hash=str(db.data_hash),
        leads=tuple(db.leads),
        length=int(db.length),
        classes=classes,
        n_train_patients=int(m_tr["patient_id"].nunique()),
        n_cv_patients=int(m_cv["patient_id"].nunique()),
    )


class ClassifierTrainer:
    """One training run: network, optimiser, schedule, RNG state and history; see the module docstring."""

    def __init__(
        self,
        data: ClassifierData,
        model_config: XResNetConfig,
        cfg: ClassifierConfig,
        work_dir: str | Path,
        device: str | torch.device = "auto",
    ) -> None:
        self.data, self.cfg = data, cfg
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.window = int(round(cfg.crop_s * data.fs))
        self.stride = int(round(cfg.stride_s * data.fs))
        self.starts = _window_starts(data.length, self.window, self.stride)
        self.model_config = XResNetConfig(
            **{**model_config.to_dict(), "in_channels": data.x_train.shape[1], "n_classes": len(data.classes)}
        )
        if cfg.select_on == "auc_pr" and data.y_cv.sum() == 0:
            raise ValueError(
                "the cv rhythms carry no positive label of any class: AUC-PR cannot select the best epoch "
                "(set select_on: loss)"
            )
        self.work_dir = Path(work_dir)
        self.ckpt_path = self.work_dir / "last.pt"
        n = data.x_train.shape[0]
        self.batch_size = min(cfg.batch_size, n)
        if self.batch_size < cfg.batch_size:
            log.warning("only %d training rhythms: batch size %d reduced to %d", n, cfg.batch_size, self.batch_size)
        if self.batch_size < 2:
            raise ValueError("batch norm needs at least 2 training rhythms per batch")
        self.steps_per_epoch = n // self.batch_size

        x64 = data.x_train.astype(np.float64)
        self.mean, self.std = float(x64.mean()), float(x64.std())
        if not self.std > 0:
            raise ValueError("the training rhythms are constant: no standard deviation to standardise by")

        torch.manual_seed(cfg.seed)  # network initialisation
        self.model = XResNet1d(self.model_config).to(self.device)
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
        )
        self.sched = None
        if cfg.schedule == "one_cycle":
            self.sched = torch.optim.lr_scheduler.OneCycleLR(
                self.opt,
                max_lr=cfg.lr,
                total_steps=cfg.epochs * self.steps_per_epoch,
                pct_start=cfg.pct_start,
                anneal_strategy="cos",
                cycle_momentum=True,
                base_momentum=0.85,
                max_momentum=0.95,
                div_factor=cfg.div_factor,
                final_div_factor=cfg.final_div_factor,
            )
        self.x_train = torch.from_numpy(self._standardise(data.x_train)).to(self.device)
        self.y_train = torch.from_numpy(data.y_train).to(self.device)
        self.x_cv = self._standardise(data.x_cv)
        self.epoch = 0
        self.elapsed = 0.0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"score": math.inf, "epoch": -1, "state_dict": None, "cv": None}
        log.info(
            "rhythm classifier: %d parameters, %d train rhythms (%d patients), %d cv rhythms, window %d, "
            "stride %d, batch %d, %d steps/epoch, device %s",
            count_parameters(self.model),
            n,
            data.n_train_patients,
            len(data.x_cv),
            self.window,
            self.stride,
            self.batch_size,
            self.steps_per_epoch,
            self.device,
        )

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)

    # ---------------------------------------------------------------- validation
    def cv_probabilities(self) -> np.ndarray:
        """Validation probabilities ``[n_cv, C]`` with the test-time protocol (windows, aggregation)."""
        p = window_probabilities(self.model, self.x_cv, self.starts, self.window, self.device, self.cfg.eval_batch_size)
        return np.asarray(aggregate(p, self.cfg.window_aggregate, axis=1))

    def _evaluate(self, train_loss: float) -> None:
        p = self.cv_probabilities()
        y = self.data.y_cv
        eps = 1e-7
        pc = np.clip(p, eps, 1 - eps)
        cv_loss = float(-(y * np.log(pc) + (1 - y) * np.log(1 - pc)).mean())
        row: dict[str, Any] = {
            "epoch": self.epoch,
            "train_loss": train_loss,
            "cv_loss": cv_loss,
            "cv_auc_pr": macro_auc_pr(y, p),
        }
        for c, name in enumerate(self.data.classes):
            row[f"cv_auc_pr_{name}"] = float(average_precision_score(y[:, c], p[:, c])) if y[:, c].sum() else np.nan
        row["lr"] = float(self.opt.param_groups[0]["lr"])
        row["elapsed_s"] = self.elapsed
        self.history.append(row)
        score = -row["cv_auc_pr"] if self.cfg.select_on == "auc_pr" else cv_loss
        if score < self.best["score"]:
            self.best = {
                "score": score,
                "epoch": self.epoch,
                "state_dict": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
                "cv": {k: v for k, v in row.items() if k.startswith("cv_")},
            }
        log.info(
            "epoch %d/%d  train loss %.4f  cv loss %.4f  cv AUC-PR %.4f  (best epoch %d)",
            self.epoch,
            self.cfg.epochs,
            train_loss,
            cv_loss,
            row["cv_auc_pr"],
            self.best["epoch"],
        )

    # ---------------------------------------------------------------- checkpoints
    def fingerprint(self) -> dict[str, Any]:
        return {
            "model_config": self.model_config.to_dict(),
            "train": self.cfg.fingerprint(),
            "data_hash": self.data.data_hash,
            "n_train": int(self.data.x_train.shape[0]),
            "n_cv": int(self.data.x_cv.shape[0]),
            "length": self.data.length,
            "fs": self.data.fs,
            "batch_size": self.batch_size,
        }

    def state(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint(),
            "epoch": self.epoch,
            "elapsed": self.elapsed,
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict() if self.sched is not None else None,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "history": self.history,
            "best": self.best,
        }

    def save_checkpoint(self) -> None:
        """Write ``last.pt`` (with its content hash), keeping the previous one as ``last.prev.pt``."""
        checkpoints.save(self.ckpt_path, self.state(), keep_previous=True)
        log.info("checkpoint at epoch %d -> %s", self.epoch, self.ckpt_path)

    def try_resume(self) -> bool:
        """Resume from the newest usable checkpoint made with the same settings and data
        (:func:`ecgdiff.checkpoints.resume`: ``last.pt``, else ``last.prev.pt``); ``False``: start over."""
        st = checkpoints.resume(self.ckpt_path, self.fingerprint(), "classifier training checkpoint")
        if st is None:
            return False
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        if self.sched is not None:
            self.sched.load_state_dict(st["sched"])
        torch.set_rng_state(st["torch_rng"])
        if st.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(st["cuda_rng"])
        self.epoch, self.elapsed = int(st["epoch"]), float(st["elapsed"])
        self.history, self.best = list(st["history"]), dict(st["best"])
        log.info("resumed from %s at epoch %d (best epoch %d)", self.ckpt_path, self.epoch, self.best["epoch"])
        return True

    # ---------------------------------------------------------------- training
    def crops(self, epoch: int) -> torch.Tensor:
        """First sample of every training rhythm's random crop in ``epoch`` (a function of ``(seed, epoch)``)."""
        rng = np.random.default_rng((self.cfg.seed, epoch, 1))
        hi = self.data.length - self.window
        return torch.from_numpy(rng.integers(0, hi + 1, size=self.data.x_train.shape[0]))

    def _train_epoch(self, epoch: int) -> float:
        self.model.train()
        perm = epoch_permutation(self.x_train.shape[0], self.cfg.seed, epoch).to(self.device)
        starts = self.crops(epoch).to(self.device)
        offsets = torch.arange(self.window, device=self.device)
        total = 0.0
        for k in range(self.steps_per_epoch):
            idx = perm[k * self.batch_size : (k + 1) * self.batch_size]
            xb = self.x_train[idx]  # [B, 12, length]
            cols = (starts[idx][:, None] + offsets[None, :])[:, None, :].expand(-1, xb.shape[1], -1)
            xb = torch.gather(xb, 2, cols)  # [B, 12, window]
            loss = F.binary_cross_entropy_with_logits(self.model(xb), self.y_train[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            if self.sched is not None:
                self.sched.step()
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise FloatingPointError(f"rhythm classifier: training loss is {lv} in epoch {epoch + 1}, step {k}")
            total += lv
        return total / self.steps_per_epoch

    def run(self, stop_at_epoch: int | None = None) -> None:
        """Train up to ``cfg.epochs`` (or stop after ``stop_at_epoch``, saving a checkpoint: a simulated kill)."""
        target = self.cfg.epochs if stop_at_epoch is None else min(stop_at_epoch, self.cfg.epochs)
        while self.epoch < target:
            t0 = time.perf_counter()
            train_loss = self._train_epoch(self.epoch)
            self.epoch += 1
            self.elapsed += time.perf_counter() - t0
            if self.epoch % self.cfg.eval_every == 0 or self.epoch == self.cfg.epochs:
                self._evaluate(train_loss)
            if self.epoch % self.cfg.checkpoint_every == 0 or self.epoch == target:
                self.save_checkpoint()


def save_classifier(path: str | Path, trainer: ClassifierTrainer, provenance: dict[str, Any]) -> dict[str, Any]:
    """Write the classifier file: best-on-validation weights, configs, standardisation, windowing, provenance.

    Every entry is a tensor or a plain Python value, so the file loads with ``torch.load(weights_only=True)``
    on any device (:func:`.predict.load_classifier`).
    """
    if trainer.best["state_dict"] is None:
        raise RuntimeError("rhythm classifier: no validation was made, no best weights to save")
    blob = {
        "format": FORMAT,
        "model_config": trainer.model_config.to_dict(),
        "state_dict": trainer.best["state_dict"],
        "classes": list(trainer.data.classes),
        "leads": list(leadmod.STANDARD_12),
        "fs": trainer.data.fs,
        "length": trainer.data.length,
        "window": trainer.window,
        "stride": trainer.stride,
        "window_aggregate": trainer.cfg.window_aggregate,
        "mean": trainer.mean,
        "std": trainer.std,
        "train_config": asdict(trainer.cfg),
        "batch_size": trainer.batch_size,
        "best_epoch": int(trainer.best["epoch"]),
        "best_cv": {k: float(v) for k, v in trainer.best["cv"].items()},
        "final_epoch": int(trainer.epoch),
        "history": json.loads(json.dumps(trainer.history, default=float)),
        "n_parameters": count_parameters(trainer.model),
        "n_train": int(trainer.data.x_train.shape[0]),
        "n_cv": int(trainer.data.x_cv.shape[0]),
        "data_hash": trainer.data.data_hash,
        "train_seconds": float(trainer.elapsed),
        "device": str(trainer.device),
        "provenance": json.loads(json.dumps(provenance, default=str)),
    }
    checkpoints.save(path, blob)
    return blob


def history_frame(history: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(history)


def train_classifier(
    rhythms_dir: str | Path,
    model: dict[str, Any],
    train: dict[str, Any],
    out_model: str | Path,
    work_dir: str | Path,
    history_table: tuple[str, str],
    config: dict[str, Any],
    device: str = "auto",
) -> dict[str, Any]:
    """The workflow step: train on a rhythm database's train split, select on cv, write the file and history."""
    from .. import provenance as prov_mod
    from ..data import rhythmdb

    db = rhythmdb.load(rhythms_dir)
    cfg = ClassifierConfig(**train)
    data = load_training_data(db)
    trainer = ClassifierTrainer(data, XResNetConfig(**model), cfg, work_dir, device=device)
    trainer.try_resume()
    trainer.run()
    prov = prov_mod.make(
        config, data_hash=data.data_hash, seed=cfg.seed, epoch=trainer.epoch, best_epoch=trainer.best["epoch"]
    )
    blob = save_classifier(out_model, trainer, prov)
    write_table(
        history_frame(trainer.history),
        history_table[0],
        history_table[1],
        caption=f"Training of the rhythm classifier (xresnet1d, depth {trainer.model_config.depth}): mean training "
        f"loss of the epoch, validation loss and AUC-PR (sliding windows, {cfg.window_aggregate} aggregation). "
        f"Best on validation: epoch {trainer.best['epoch']}.",
        provenance=prov,
    )
    return blob


__all__ = [
    "ClassifierConfig",
    "ClassifierData",
    "ClassifierTrainer",
    "make_data",
    "load_training_data",
    "save_classifier",
    "history_frame",
    "train_classifier",
]
