"""Training the EDM priors, resumable after a kill: the beat prior (paper 2.5, appendix 6.6) and the rhythm prior.

One training run fits a preconditioned network of :mod:`.networks` to every example of the ``train``
split with the EDM loss (:func:`.precond.training_loss`), Adam, a linear learning rate warm-up and an
exponential moving average (EMA) of the weights. :class:`Trainer` takes any :class:`TrainData` (examples
``[N, L, T]``, conditioning vectors or None) and any registered network's settings:

- :func:`train_prior`: the beat prior, :class:`~.networks.beat_unet.UNet1D` on the beats of a beat
  database, conditional (age, sex, RR) or unconditional;
- :func:`train_rhythm_prior`: the talk's unconditional rhythm prior,
  :class:`~.networks.rhythm_unet.RhythmUNet` on the 10-s rhythms (8 leads x 1024 samples at 100 Hz) of a
  rhythm database.

Reproducibility and resumption. The run's randomness has three separate sources, each saved in the
checkpoint: (1) the data order, a permutation per epoch drawn from ``seed`` and the epoch number (so the
data-order state is ``(epoch, position)``, a function of the step); (2) a CPU generator for the noise
levels and noise of the loss; (3) torch's global RNG (CPU and CUDA), used by dropout. A checkpoint
(``last.pt`` in the run's work folder, written atomically with a content hash every ``checkpoint_every``
steps, the previous one kept as ``last.prev.pt``; :mod:`ecgdiff.checkpoints`) holds the
model, EMA and optimizer states, these RNG states, the step, the loss history and the best-on-CV
weights; a run started again with the same settings resumes from it and reaches the same parameters
as an uninterrupted run (up to floating point).

Validation. Every ``cv_every`` steps the EMA network's EDM loss is computed on the CV examples (one
beat or rhythm per CV patient, as in paper 2.4, or all of them) at ``cv_sigmas`` fixed noise levels
(quantiles of the training law) with fixed noise: a deterministic, low-variance estimate. The weights with the
lowest CV loss are the ones written to the final prior file (paper 2.5).
"""

from __future__ import annotations

import copy
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

from .. import checkpoints
from ..data import dataset as beat_dataset
from ..progress import eta
from ..runtime import pick_device
from ..tables import write_table
from . import conditioning, schedule
from .networks import NetworkConfig, arch_of, make_config, model_config_dict
from .networks.beat_unet import UNetConfig, count_parameters
from .networks.rhythm_unet import RhythmUNetConfig
from .precond import EDMPrecond, edm_loss, training_loss
from .prior import FORMAT, build_model

log = logging.getLogger(__name__)

VARIANTS = ("conditional", "unconditional")
HISTORY_COLUMNS = ("step", "epoch", "train_loss", "cv_loss", "lr", "elapsed_s")


@dataclass
class TrainConfig:
    """Optimisation settings (paper: lr 1e-4, batch 1024, EMA 0.9999)."""

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-4
    lr_warmup_steps: int = 0
    ema: float = 0.9999
    ema_warmup: bool = True  # beta_t = min(ema, (1 + t) / (10 + t)): the EMA tracks early weights
    grad_clip: float | None = None  # max global gradient norm (None: no clipping)
    checkpoint_every: int = 500
    cv_every: int = 250
    cv_sigmas: int = 8
    cv_beats: str = "one_per_patient"  # or "all"
    log_every: int = 50
    amp: bool = True  # bfloat16 autocast (CUDA only)
    compile: bool = False  # torch.compile the network for training
    seed: int = 0

    def __post_init__(self) -> None:
        if self.cv_beats not in ("one_per_patient", "all"):
            raise ValueError(f"cv_beats must be 'one_per_patient' or 'all', got {self.cv_beats!r}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        for name in ("steps", "batch_size", "checkpoint_every", "cv_every", "cv_sigmas", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if self.lr_warmup_steps < 0:
            raise ValueError(f"lr_warmup_steps must be >= 0, got {self.lr_warmup_steps}")
        if self.grad_clip is not None and not (math.isfinite(self.grad_clip) and self.grad_clip > 0):
            raise ValueError(f"grad_clip must be a finite number > 0 or None, got {self.grad_clip}")

    def fingerprint(self) -> dict[str, Any]:
        """Settings that must agree for a checkpoint to be resumed (the step budget and intervals may change)."""
        d = asdict(self)
        for k in ("steps", "checkpoint_every", "log_every", "compile"):
            d.pop(k)
        return d


@dataclass
class TrainData:
    """Training and CV examples ``[N, L, T]`` with their conditioning vectors (None: unconditional data).

    ``cond_names`` names the conditioning features (written to the prior file); ``extra`` holds further
    metadata written to the prior file as they are (e.g. a rhythm's valid length and padding).
    """

    x_train: torch.Tensor
    c_train: torch.Tensor | None
    x_cv: torch.Tensor
    c_cv: torch.Tensor | None
    leads: tuple[str, ...]
    fs: float
    data_hash: str
    n_train_patients: int = 0
    n_cv_patients: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    cond_names: tuple[str, ...] = conditioning.FEATURE_NAMES


def load_training_data(db: beat_dataset.BeatDatabase, cv_beats: str = "one_per_patient", seed: int = 0) -> TrainData:
    """Every beat of the train patients; the CV beats (one random beat per CV patient, or all)."""
    x_tr, m_tr = db.subset("train")
    if len(x_tr) == 0:
        raise ValueError(f"beat database {db.path}: the train split is empty")
    if cv_beats == "one_per_patient":
        x_cv, m_cv = db.one_beat_per_patient("cv", seed)
    else:
        x_cv, m_cv = db.subset("cv")
    if len(x_cv) == 0:
        raise ValueError(f"beat database {db.path}: the cv split is empty (needed for best-on-CV selection)")
    fs = float(db.manifest.get("fs", 250))
    return TrainData(
        x_train=torch.from_numpy(np.ascontiguousarray(x_tr, dtype=np.float32)),
        c_train=torch.from_numpy(conditioning.encode_meta(m_tr)),
        x_cv=torch.from_numpy(np.ascontiguousarray(x_cv, dtype=np.float32)),
        c_cv=torch.from_numpy(conditioning.encode_meta(m_cv)),
        leads=db.leads,
        fs=fs,
        data_hash=db.data_hash,
        n_train_patients=int(m_tr["patient_id"].nunique()),
        n_cv_patients=int(m_cv["patient_id"].nunique()),
    )


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The data order of one epoch: a permutation drawn from ``(seed, epoch)`` alone."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


class Trainer:
    """Holds one training run's model, EMA, optimizer, RNG states and history; see the module docstring."""

    def __init__(
        self,
        data: TrainData,
        model_config: NetworkConfig,
        cfg: TrainConfig,
        work_dir: str | Path,
        variant: str = "conditional",
        device: str | torch.device = "auto",
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if variant == "conditional" and (data.c_train is None or data.c_cv is None):
            raise ValueError("a conditional prior needs conditioning vectors (TrainData.c_train and c_cv)")
        self.data, self.cfg, self.variant = data, cfg, variant
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.arch = arch_of(model_config)
        self.model_config = make_config(
            self.arch,
            {
                **model_config.to_dict(),
                "leads": data.x_train.shape[1],
                "length": data.x_train.shape[2],
                "cond_dim": int(data.c_train.shape[1]) if variant == "conditional" else 0,
            },
        )
        self.work_dir = Path(work_dir)
        self.ckpt_path = self.work_dir / "last.pt"
        n = data.x_train.shape[0]
        self.batch_size = min(cfg.batch_size, n)
        if self.batch_size < cfg.batch_size:
            log.warning("only %d training examples: batch size %d reduced to %d", n, cfg.batch_size, self.batch_size)
        self.steps_per_epoch = n // self.batch_size

        torch.manual_seed(cfg.seed)  # model initialisation
        self.model: EDMPrecond = build_model(model_config_dict(self.model_config), schedule.SIGMA_DATA).to(self.device)
        self.ema = copy.deepcopy(self.model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.noise_gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"cv_loss": math.inf, "step": -1, "ema": None, "raw": None}
        self.elapsed = 0.0
        self.amp = bool(cfg.amp) and self.device.type == "cuda"
        self._train_fn = torch.compile(self.model) if cfg.compile else self.model
        self.x_train = data.x_train.to(self.device)
        self.c_train = data.c_train.to(self.device) if data.c_train is not None else None
        self._setup_cv()
        log.info(
            "%s %s prior: %d parameters, %d training examples (%d patients), %d CV examples, batch %d, "
            "%d steps/epoch, device %s",
            variant,
            self.arch,
            count_parameters(self.model),
            n,
            data.n_train_patients,
            len(data.x_cv),
            self.batch_size,
            self.steps_per_epoch,
            self.device,
        )

    # ---------------------------------------------------------------- validation
    def _setup_cv(self) -> None:
        """Fixed CV noise levels and noise: every CV beat at each of ``cv_sigmas`` quantile levels."""
        s = schedule.stratified_training_sigmas(self.cfg.cv_sigmas)
        m = self.data.x_cv.shape[0]
        self.cv_sigma = s.repeat(m)  # [m * S], beat-major
        self.cv_index = torch.arange(m).repeat_interleave(len(s))
        gen = torch.Generator().manual_seed(self.cfg.seed + 2)
        self.cv_noise = torch.randn((m * len(s), *self.data.x_cv.shape[1:]), generator=gen)

    @torch.no_grad()
    def cv_loss(self, model: EDMPrecond | None = None, chunk: int = 1024) -> float:
        """Mean EDM loss of ``model`` (the EMA network by default) on the fixed CV noise set."""
        model = model if model is not None else self.ema
        was_training = model.training
        model.eval()
        total, count = 0.0, 0
        for a in range(0, len(self.cv_sigma), chunk):
            idx = self.cv_index[a : a + chunk]
            x0 = self.data.x_cv[idx].to(self.device)
            c = self.data.c_cv[idx].to(self.device) if self.variant == "conditional" else None
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
                lo = edm_loss(
                    model,
                    x0,
                    self.cv_sigma[a : a + chunk].to(self.device),
                    self.cv_noise[a : a + chunk].to(self.device),
                    c,
                )
            total += float(lo.double().sum())
            count += len(idx)
        model.train(was_training)
        return total / count

    # ---------------------------------------------------------------- checkpoints
    def fingerprint(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "model_config": model_config_dict(self.model_config),
            "train": self.cfg.fingerprint(),
            "data_hash": self.data.data_hash,
            "n_train": int(self.data.x_train.shape[0]),
            "batch_size": self.batch_size,
        }

    def state(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint(),
            "step": self.step,
            "elapsed": self.elapsed,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "opt": self.opt.state_dict(),
            "noise_gen": self.noise_gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "data_order": {
                "epoch": self.step // self.steps_per_epoch,
                "position": self.step % self.steps_per_epoch,
                "seed": self.cfg.seed,
            },
            "history": self.history,
            "best": self.best,
        }

    def save_checkpoint(self) -> None:
        """Write ``last.pt`` (with its content hash), keeping the previous one as ``last.prev.pt``."""
        checkpoints.save(self.ckpt_path, self.state(), keep_previous=True)
        log.info("checkpoint at step %d -> %s", self.step, self.ckpt_path)

    def try_resume(self) -> bool:
        """Resume from the newest usable checkpoint made with the same settings and data
        (:func:`ecgdiff.checkpoints.resume`: ``last.pt``, else ``last.prev.pt``); ``False``: start over."""
        st = checkpoints.resume(self.ckpt_path, self.fingerprint(), f"{self.variant} prior training checkpoint")
        if st is None:
            return False
        self.model.load_state_dict(st["model"])
        self.ema.load_state_dict(st["ema"])
        self.opt.load_state_dict(st["opt"])
        self.noise_gen.set_state(st["noise_gen"])
        torch.set_rng_state(st["torch_rng"])
        if st.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(st["cuda_rng"])
        self.step, self.elapsed = int(st["step"]), float(st["elapsed"])
        self.history, self.best = list(st["history"]), dict(st["best"])
        log.info(
            "resumed from %s at step %d (best CV loss %.4f at step %d)",
            self.ckpt_path,
            self.step,
            self.best["cv_loss"],
            self.best["step"],
        )
        return True

    # ---------------------------------------------------------------- training
    def _lr(self, step: int) -> float:
        if self.cfg.lr_warmup_steps > 0:
            return self.cfg.lr * min(1.0, (step + 1) / self.cfg.lr_warmup_steps)
        return self.cfg.lr

    @torch.no_grad()
    def _update_ema(self) -> None:
        beta = self.cfg.ema
        if self.cfg.ema_warmup:
            beta = min(beta, (1 + self.step) / (10 + self.step))
        ema_p = [p for p in self.ema.parameters()]
        model_p = [p.detach() for p in self.model.parameters()]
        torch._foreach_lerp_(ema_p, model_p, 1.0 - beta)
        for be, bm in zip(self.ema.buffers(), self.model.buffers()):
            be.copy_(bm)

    def _evaluate(self, train_loss: float) -> None:
        cv = self.cv_loss()
        row = {
            "step": self.step,
            "epoch": self.step / self.steps_per_epoch,
            "train_loss": train_loss,
            "cv_loss": cv,
            "lr": self._lr(self.step - 1),
            "elapsed_s": self.elapsed,
        }
        self.history.append(row)
        if cv < self.best["cv_loss"]:
            self.best = {
                "cv_loss": cv,
                "step": self.step,
                "ema": {k: v.detach().cpu().clone() for k, v in self.ema.state_dict().items()},
                "raw": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            }
        log.info(
            "step %d/%d  train loss %.4f  CV loss %.4f  (best %.4f at step %d)",
            self.step,
            self.cfg.steps,
            train_loss,
            cv,
            self.best["cv_loss"],
            self.best["step"],
        )

    def run(self, stop_at_step: int | None = None) -> None:
        """Train up to ``cfg.steps`` (or stop early after ``stop_at_step``, saving a checkpoint: a simulated kill)."""
        target = self.cfg.steps if stop_at_step is None else min(stop_at_step, self.cfg.steps)
        self.model.train()
        running, n_run = 0.0, 0
        t_last, step_last = time.perf_counter(), self.step
        t_start, step_start = t_last, self.step
        perm_epoch, perm = -1, None
        while self.step < target:
            epoch, pos = divmod(self.step, self.steps_per_epoch)
            if epoch != perm_epoch:
                perm, perm_epoch = epoch_permutation(self.x_train.shape[0], self.cfg.seed, epoch).to(self.device), epoch
            idx = perm[pos * self.batch_size : (pos + 1) * self.batch_size]
            x0 = self.x_train[idx]
            c = self.c_train[idx] if self.variant == "conditional" else None
            for g in self.opt.param_groups:
                g["lr"] = self._lr(self.step)
            t0 = time.perf_counter()
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
                loss = training_loss(self._train_fn, x0, c, self.noise_gen)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.opt.step()
            self.step += 1
            self._update_ema()
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise FloatingPointError(f"{self.variant} prior: training loss is {lv} at step {self.step}")
            running += lv
            n_run += 1
            self.elapsed += time.perf_counter() - t0
            if self.step % self.cfg.log_every == 0 or self.step == target:
                now = time.perf_counter()
                rate = (self.step - step_last) * self.batch_size / max(now - t_last, 1e-9)
                log.info(
                    "step %d/%d  epoch %.2f  loss %.4f  lr %.2e  %.0f examples/s  ETA %s",
                    self.step,
                    self.cfg.steps,
                    self.step / self.steps_per_epoch,
                    running / n_run,
                    self._lr(self.step - 1),
                    rate,
                    eta(self.step - step_start, target - step_start, now - t_start),
                )
                t_last, step_last = now, self.step
            if self.step % self.cfg.cv_every == 0 or self.step == self.cfg.steps:
                self._evaluate(running / max(n_run, 1))
                running, n_run = 0.0, 0
            if self.step % self.cfg.checkpoint_every == 0 or self.step == target:
                self.save_checkpoint()


def save_prior(path: str | Path, trainer: Trainer, provenance: dict[str, Any]) -> dict[str, Any]:
    """Write the final prior file: best-on-CV raw and EMA weights, configs, leads, data hash, provenance."""
    if trainer.best["ema"] is None:
        raise RuntimeError(f"{trainer.variant} prior: no CV evaluation was made, no best weights to save")
    blob = {
        "format": FORMAT,
        "variant": trainer.variant,
        "conditional": trainer.variant == "conditional",
        "model_config": model_config_dict(trainer.model_config),
        "sigma_data": schedule.SIGMA_DATA,
        "state_dict": trainer.best["raw"],
        "ema_state_dict": trainer.best["ema"],
        "leads": list(trainer.data.leads),
        "fs": trainer.data.fs,
        "data_hash": trainer.data.data_hash,
        "conditioning": list(trainer.data.cond_names),
        "train_config": asdict(trainer.cfg),
        "batch_size": trainer.batch_size,
        "best_step": int(trainer.best["step"]),
        "best_cv_loss": float(trainer.best["cv_loss"]),
        "final_step": int(trainer.step),
        "n_parameters": count_parameters(trainer.model),
        "n_train_beats": int(trainer.data.x_train.shape[0]),
        "n_cv_beats": int(trainer.data.x_cv.shape[0]),
        "train_seconds": float(trainer.elapsed),
        "device": str(trainer.device),
        "provenance": json.loads(json.dumps(provenance, default=str)),  # plain types: loadable with weights_only
    }
    for key, value in trainer.data.extra.items():
        blob.setdefault(key, value)
    checkpoints.save(path, blob)
    return blob


def history_frame(history: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(history, columns=list(HISTORY_COLUMNS))


def plot_history(
    history: pd.DataFrame,
    variant: str,
    best_step: int,
    paths: list[str],
    provenance: dict[str, Any],
    noun: str = "beat",
) -> None:
    """Training and CV loss against the step, the best-on-CV step marked (``noun``: beat or rhythm prior)."""
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(history["step"], history["train_loss"], "o-", ms=3, label="train (mean since last point)")
    ax.plot(history["step"], history["cv_loss"], "s-", ms=3, label="CV (EMA weights, fixed noise)")
    if best_step >= 0:
        ax.axvline(best_step, color="0.5", ls=":", label=f"best on CV (step {best_step})")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("EDM loss")
    ax.set_title(f"{variant} {noun} prior: training loss")
    ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))  # room for the provenance footer
    save_figure(fig, paths, provenance)


def _write_outputs(
    trainer: Trainer,
    prov: dict[str, Any],
    out_model: str | Path,
    loss_table: tuple[str, str],
    loss_figure: tuple[str, str],
    noun: str,
) -> dict[str, Any]:
    """The prior file (best-on-CV weights), the loss table and the loss-curve figure of a finished run."""
    blob = save_prior(out_model, trainer, prov)
    hist = history_frame(trainer.history)
    write_table(
        hist,
        loss_table[0],
        loss_table[1],
        caption=f"Training of the {trainer.variant} {noun} prior: mean training loss since the previous row and "
        f"CV loss (EMA weights, {trainer.cfg.cv_sigmas} fixed noise levels per CV {noun}). "
        f"Best on CV: step {trainer.best['step']} (loss {trainer.best['cv_loss']:.4f}).",
        provenance=prov,
    )
    plot_history(hist, trainer.variant, trainer.best["step"], list(loss_figure), prov, noun=noun)
    return blob


def train_prior(
    beats_dir: str | Path,
    variant: str,
    model: dict[str, Any],
    train: dict[str, Any],
    out_model: str | Path,
    work_dir: str | Path,
    loss_table: tuple[str, str],
    loss_figure: tuple[str, str],
    config: dict[str, Any],
    device: str = "auto",
) -> dict[str, Any]:
    """The workflow step: train one variant on a beat database, write the prior file, loss table and figure."""
    from .. import provenance as prov_mod

    db = beat_dataset.load(beats_dir)
    cfg = TrainConfig(**train)
    data = load_training_data(db, cfg.cv_beats, seed=cfg.seed)
    trainer = Trainer(data, UNetConfig(**model), cfg, work_dir, variant=variant, device=device)
    trainer.try_resume()
    trainer.run()
    prov = prov_mod.make(
        config,
        data_hash=data.data_hash,
        seed=cfg.seed,
        variant=variant,
        step=trainer.step,
        best_step=trainer.best["step"],
    )
    return _write_outputs(trainer, prov, out_model, loss_table, loss_figure, "beat")


# --------------------------------------------------------------------------- the rhythm prior (the talk)
def _one_per_patient(meta: pd.DataFrame, seed: int) -> np.ndarray:
    """Row positions of one randomly chosen row per patient (patients sorted), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    groups = pd.Series(np.arange(len(meta))).groupby(meta["patient_id"].to_numpy(), sort=True)
    return np.array([rows.to_numpy()[rng.integers(len(rows))] for _, rows in groups], dtype=np.int64)


def load_rhythm_training_data(db: Any, cv_rhythms: str = "all", seed: int = 0) -> TrainData:
    """Every rhythm of the train split; the CV rhythms (all, or one random rhythm per CV patient).

    ``db`` is a rhythm database (:func:`ecgdiff.data.rhythmdb.load`) or anything with its interface:
    ``subset(split) -> (x [n, L, T] float32 mV, meta)`` with a ``patient_id`` column, and the properties
    ``path``, ``leads``, ``fs``, ``length`` (valid samples), ``padded_length`` and ``data_hash``. No
    conditioning: the talk's rhythm prior is unconditional.
    """
    if cv_rhythms not in ("one_per_patient", "all"):
        raise ValueError(f"cv_rhythms must be 'one_per_patient' or 'all', got {cv_rhythms!r}")
    where = f"rhythm database {getattr(db, 'path', '?')}"
    leads = tuple(db.leads)
    padded, valid = int(db.padded_length), int(db.length)
    arrays: dict[str, tuple[np.ndarray, pd.DataFrame]] = {}
    for split in ("train", "cv"):
        x, meta = db.subset(split)
        x = np.ascontiguousarray(x, dtype=np.float32)
        if len(x) == 0:
            need = " (needed for best-on-CV selection)" if split == "cv" else ""
            raise ValueError(f"{where}: the {split} split is empty{need}")
        if x.ndim != 3 or x.shape[1:] != (len(leads), padded):
            raise ValueError(
                f"{where}: {split} rhythms have shape {list(x.shape)}, expected [n, {len(leads)}, {padded}] "
                f"(leads {', '.join(leads)}; padded length {padded})"
            )
        if not np.isfinite(x).all():
            bad = np.flatnonzero(~np.isfinite(x).all(axis=(1, 2)))
            ids = meta["rhythm_id"].iloc[bad[:5]].tolist() if "rhythm_id" in meta else bad[:5].tolist()
            raise ValueError(f"{where}: {split} rhythms {ids} hold non-finite samples")
        arrays[split] = (x, meta.reset_index(drop=True))
    x_tr, m_tr = arrays["train"]
    x_cv, m_cv = arrays["cv"]
    if cv_rhythms == "one_per_patient":
        pick = _one_per_patient(m_cv, seed)
        x_cv, m_cv = x_cv[pick], m_cv.iloc[pick].reset_index(drop=True)
    return TrainData(
        x_train=torch.from_numpy(x_tr),
        c_train=None,
        x_cv=torch.from_numpy(x_cv),
        c_cv=None,
        leads=leads,
        fs=float(db.fs),
        data_hash=str(db.data_hash),
        n_train_patients=int(m_tr["patient_id"].nunique()),
        n_cv_patients=int(m_cv["patient_id"].nunique()),
        extra={"valid_length": valid, "padded_length": padded, "signal": "rhythm"},
        cond_names=(),
    )


def open_rhythm_database(rhythms: Any) -> Any:
    """A rhythm database object as it is, or the one in folder ``rhythms`` (:func:`ecgdiff.data.rhythmdb.load`)."""
    if hasattr(rhythms, "subset"):
        return rhythms
    from ..data import rhythmdb

    return rhythmdb.load(rhythms)


def train_rhythm_prior(
    rhythms: Any,
    model: dict[str, Any],
    train: dict[str, Any],
    out_model: str | Path,
    work_dir: str | Path,
    loss_table: tuple[str, str],
    loss_figure: tuple[str, str],
    config: dict[str, Any],
    device: str = "auto",
) -> dict[str, Any]:
    """The workflow step: train the unconditional rhythm prior, write the prior file, loss table and figure.

    ``rhythms``: the rhythm database's folder (or a loaded database); ``model``: the
    :class:`~.networks.rhythm_unet.RhythmUNetConfig` settings (leads and length come from the data);
    ``train``: the :class:`TrainConfig` settings (``cv_beats`` chooses all CV rhythms or one per CV
    patient). The prior file holds the best-on-CV EMA weights, the leads, ``fs``, the valid length and the
    padding of the windows, the database's hash and the run's provenance.
    """
    from .. import provenance as prov_mod

    db = open_rhythm_database(rhythms)
    cfg = TrainConfig(**train)
    mcfg = RhythmUNetConfig(**model)
    if mcfg.cond_dim:
        raise ValueError(
            "the rhythm prior is unconditional (cond_dim 0): a label-conditioned prior would leak the "
            f"classifier's answer; got cond_dim {mcfg.cond_dim}"
        )
    data = load_rhythm_training_data(db, cfg.cv_beats, seed=cfg.seed)
    trainer = Trainer(data, mcfg, cfg, work_dir, variant="unconditional", device=device)
    trainer.try_resume()
    trainer.run()
    prov = prov_mod.make(
        config,
        data_hash=data.data_hash,
        seed=cfg.seed,
        variant="unconditional",
        prior="rhythm",
        step=trainer.step,
        best_step=trainer.best["step"],
    )
    return _write_outputs(trainer, prov, out_model, loss_table, loss_figure, "rhythm")
