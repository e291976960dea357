"""Training DeScoD-ECG on clean rhythms with one kind of recorded artefact (resumable, best on validation).

Training pairs (the talk's retraining, ``Bayesian_ECG/diffusion_prior/dataloaders/ecg_datasets.py``, and
DeScoD's ``Data_Preparation/data_preparation.py``): a clean rhythm ``x [L, T]`` and ``y = noise_fn(x, rng)``,
where ``noise_fn`` is the project's one training-noise sampler, :class:`ecgdiff.data.noise.TrainingNoise`:
each lead's noise is its own window (random start) of ONE noise channel (NSTDB channel 0; channel 1 is kept
for test inputs), scaled so that its peak-to-peak is ``a`` times the clean lead's, ``a ~ U[0.2, 2.0]`` one
per rhythm by default (``TrainingNoiseSettings``). The sampler sees the valid samples only; padding stays
zero. Unlike the released code, which drew the windows and factors once, every epoch draws new ones (the
same law; more distinct pairs from the same records).

Noise kind and origin. The sampler's ``kind`` (``"bw"`` or ``"em"``), its record's ``source`` (e.g.
``"nstdb/em"`` or the simulator and seed) and its settings are written into the checkpoint, and
:func:`.descod.load_model` refuses a model trained on another kind: one model per noise type. Any other
callable ``fn(clean_batch [B, L, length], rng) -> noisy_batch`` can be used, with ``noise_kind`` given.

Reproducibility and resumption. All randomness of epoch ``e`` (data order, noise windows and factors,
diffusion levels and ``eps``) is drawn from generators seeded by ``(seed, e)`` alone, and the network has
no dropout, so a checkpoint at the end of an epoch (``last.pt`` in ``work_dir``, written atomically with a
content hash after every epoch, the previous one kept as ``last.prev.pt``; :mod:`ecgdiff.checkpoints`) resumes
to the same parameters as an uninterrupted run. A checkpoint made with other settings, noise or data is moved aside
(``last.stale.pt``), not silently reused; a damaged one is reported and moved aside (``last.corrupt.pt``).

Validation. The validation rhythms, each with ``cv_repeats`` noisy copies, their diffusion levels (steps
stratified over ``1..T``) and ``eps`` are drawn once from the seed; the validation loss is the mean absolute
error of the predicted noise per valid sample. The weights of the epoch with the lowest validation loss
are the model's (DeScoD's ``model.pth``).

Workflow step: :func:`train_descod` (a rhythm database's train and cv splits, one noise kind; checks that
the training noise can never share a sample with the test protocol's windows before training).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import checkpoints
from .. import leads as leadlib
from ..data import noise as noiselib
from ..runtime import pick_device
from ..tables import write_table
from .descod import FORMAT, NOISE_KINDS, DeScoD, DeScoDConfig, count_parameters

log = logging.getLogger(__name__)

#: Validation loss (mean absolute error of the predicted noise) of the network that predicts zero noise:
#: ``E|eps| = sqrt(2 / pi)`` for standard normal ``eps``. A model no better than that has not learned the noise.
ZERO_PREDICTOR_LOSS: float = math.sqrt(2.0 / math.pi)

NoiseFn = Callable[[np.ndarray, np.random.Generator], np.ndarray]
HISTORY_COLUMNS = ("epoch", "train_loss", "cv_loss", "lr", "elapsed_s")
#: Rhythms per call of the noise sampler (bounds its float64 work arrays on large training sets).
NOISE_CHUNK = 1024


def _seed_int(*key: int) -> int:
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(1, dtype=np.uint64)[0] >> 1)


def noise_description(noise_fn: NoiseFn) -> dict[str, Any]:
    """What the checkpoint records of a training-noise sampler: its record's source and hash and its settings
    (a :class:`~ecgdiff.data.noise.TrainingNoise`), or the callable's name."""
    record = getattr(noise_fn, "record", None)
    settings = getattr(noise_fn, "settings", None)
    return {
        "origin": str(getattr(record, "source", "") or getattr(noise_fn, "__qualname__", type(noise_fn).__name__)),
        "sha256": getattr(record, "sha256", None),
        "settings": json.loads(json.dumps(dataclasses.asdict(settings)))
        if dataclasses.is_dataclass(settings)
        else None,
    }


# ----------------------------------------------------------------------------- trainer
def data_fingerprint(x: np.ndarray) -> str:
    """SHA-256 of an array's shape, dtype and bytes (identifies the training data when no manifest hash is given)."""
    x = np.ascontiguousarray(x)
    h = hashlib.sha256(f"{x.shape}{x.dtype}".encode())
    h.update(memoryview(x).cast("B"))
    return h.hexdigest()


class DeScoDTrainer:
    """One training run: model, optimiser, history, best weights, checkpoints (see the module docstring)."""

    def __init__(
        self,
        clean: np.ndarray,
        cv: np.ndarray,
        noise_fn: noiselib.TrainingNoise | NoiseFn,
        config: DeScoDConfig,
        work_dir: str | Path,
        *,
        noise_kind: str | None = None,
        leads: Sequence[str] = leadlib.BASIS,
        fs: float = 100.0,
        data_hash: str | None = None,
        device: str | torch.device = "auto",
    ) -> None:
        kind = noise_kind if noise_kind is not None else getattr(noise_fn, "kind", None)
        if kind not in NOISE_KINDS:
            raise ValueError(f"DeScoD training needs the noise kind ({NOISE_KINDS}): got {kind!r}")
        if getattr(noise_fn, "kind", kind) != kind:
            raise ValueError(f"noise source of kind {noise_fn.kind!r} given for a {kind!r} model")  # type: ignore[attr-defined]
        self.cfg, self.noise_fn, self.noise_kind = config, noise_fn, kind
        self.leads, self.fs = tuple(leads), float(fs)
        window = getattr(noise_fn, "length", None)
        if window is not None and int(window) != config.length:
            raise ValueError(
                f"training noise windows of {window} samples for a model of {config.length} valid samples per rhythm"
            )
        noise_fs = getattr(getattr(noise_fn, "settings", None), "fs", self.fs)
        if float(noise_fs) != self.fs:
            raise ValueError(f"training noise at {noise_fs} Hz for rhythms at {self.fs} Hz")
        self.noise = noise_description(noise_fn)
        self.noise_origin = self.noise["origin"]
        self.clean = self._check(clean, "training")
        self.cv = self._check(cv, "validation")
        self.data_hash = data_hash or data_fingerprint(self.clean)
        self.cv_hash = data_fingerprint(self.cv)
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.work_dir = Path(work_dir)
        self.ckpt_path = self.work_dir / "last.pt"

        torch.manual_seed(config.seed)  # network initialisation
        self.model = DeScoD(config, self.leads, kind).to(self.device)
        self.opt = torch.optim.Adam(self.model.net.parameters(), lr=config.lr)
        n_items = self.clean.shape[0] * (1 if config.lead_mode == "joint" else len(self.leads))
        self.batch_size = min(config.batch_size, n_items)
        if self.batch_size < config.batch_size:
            log.warning("only %d training examples: batch size %d reduced to %d", n_items, config.batch_size, n_items)
        self.steps_per_epoch = n_items // self.batch_size
        self.epoch = 0
        self.elapsed = 0.0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"cv_loss": math.inf, "epoch": -1, "state_dict": None}
        self._setup_cv()
        log.info(
            "DeScoD (%s, %s): %d parameters, %d train / %d validation rhythms, batch %d, %d steps per epoch, device %s",
            kind,
            config.lead_mode,
            count_parameters(self.model.net),
            len(self.clean),
            len(self.cv),
            self.batch_size,
            self.steps_per_epoch,
            self.device,
        )

    def _check(self, x: np.ndarray, what: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 3 or x.shape[1] != len(self.leads):
            raise ValueError(f"DeScoD {what} rhythms must be [N, {len(self.leads)}, T], got {x.shape}")
        if len(x) == 0:
            raise ValueError(f"DeScoD: no {what} rhythms")
        if x.shape[2] < self.cfg.length:
            raise ValueError(f"DeScoD {what} rhythms have {x.shape[2]} samples, fewer than length={self.cfg.length}")
        if not np.isfinite(x).all():
            raise ValueError(f"DeScoD {what} rhythms contain non-finite values")
        if np.any(x[..., self.cfg.length :] != 0):
            raise ValueError(f"DeScoD {what} rhythms: the padding after sample {self.cfg.length} is not zero")
        return x

    # ------------------------------------------------------------------ tensors
    def _mask(self, t: int) -> torch.Tensor:
        m = torch.zeros(1, 1, t)
        m[..., : self.cfg.length] = 1.0
        return m

    def noisy(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One noisy copy of every rhythm ``clean [N, L, T]`` (the sampler sees the valid samples; padding 0)."""
        n = self.cfg.length
        out = np.zeros_like(clean)
        for a in range(0, len(clean), NOISE_CHUNK):
            part = clean[a : a + NOISE_CHUNK, :, :n]
            y = np.asarray(self.noise_fn(part, rng), dtype=np.float32)
            if y.shape != part.shape:
                raise ValueError(f"training noise returned shape {y.shape} for a batch of shape {part.shape}")
            out[a : a + NOISE_CHUNK, :, :n] = y
        if not np.isfinite(out).all():
            raise ValueError(f"DeScoD ({self.noise_kind}): the training noise gave non-finite values")
        return out

    def _pairs(self, clean: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        noisy = self.noisy(clean, rng)
        x0 = self.model.to_net(torch.from_numpy(clean))
        y = self.model.to_net(torch.from_numpy(noisy))
        return x0, y

    def _setup_cv(self) -> None:
        rng = np.random.default_rng([self.cfg.seed, 1])
        reps = np.concatenate([self.cv] * self.cfg.cv_repeats)
        self.cv_x0, self.cv_y = self._pairs(reps, rng)
        gen = torch.Generator().manual_seed(_seed_int(self.cfg.seed, 1))
        m, steps = self.cv_x0.shape[0], self.cfg.steps
        t = (torch.randperm(m, generator=gen) % steps) + 1  # every step equally often
        u = torch.rand(m, generator=gen, dtype=torch.float64)
        lv = self.model.sqrt_levels.detach().cpu().double()
        self.cv_level = (lv[t - 1] + u * (lv[t] - lv[t - 1])).float()
        self.cv_eps = torch.randn(self.cv_x0.shape, generator=gen)

    @torch.no_grad()
    def cv_loss(self) -> float:
        """Mean absolute error of the predicted noise per valid sample on the fixed validation set."""
        self.model.eval()
        mask = self._mask(self.cv_x0.shape[-1]).to(self.device)
        total, count = 0.0, 0.0
        for a in range(0, self.cv_x0.shape[0], self.batch_size):
            sl = slice(a, a + self.batch_size)
            s, c = self.model.loss(
                self.cv_x0[sl].to(self.device),
                self.cv_y[sl].to(self.device),
                mask,
                self.cv_level[sl].to(self.device),
                self.cv_eps[sl].to(self.device),
            )
            total += float(s)
            count += float(c)
        self.model.train()
        return total / count

    # ------------------------------------------------------------------ checkpoints
    def fingerprint(self) -> dict[str, Any]:
        return {
            "config": self.cfg.fingerprint(),
            "noise_kind": self.noise_kind,
            "noise_origin": self.noise_origin,
            "noise_sha256": self.noise["sha256"],
            "noise_settings": self.noise["settings"],
            "leads": list(self.leads),
            "data_hash": self.data_hash,
            "cv_hash": self.cv_hash,
            "batch_size": self.batch_size,
        }

    def save_checkpoint(self) -> None:
        state = {
            "fingerprint": self.fingerprint(),
            "epoch": self.epoch,
            "elapsed": self.elapsed,
            "state_dict": self.model.net.state_dict(),
            "opt": self.opt.state_dict(),
            "history": self.history,
            "best": self.best,
        }
        checkpoints.save(self.ckpt_path, state, keep_previous=True)

    def try_resume(self) -> bool:
        """Resume from the newest usable checkpoint made with the same settings and data
        (:func:`ecgdiff.checkpoints.resume`: ``last.pt``, else ``last.prev.pt``); ``False``: start over."""
        st = checkpoints.resume(self.ckpt_path, self.fingerprint(), f"DeScoD ({self.noise_kind}) training checkpoint")
        if st is None:
            return False
        self.model.net.load_state_dict(st["state_dict"])
        self.opt.load_state_dict(st["opt"])
        self.epoch, self.elapsed = int(st["epoch"]), float(st["elapsed"])
        self.history, self.best = list(st["history"]), dict(st["best"])
        log.info(
            "resumed from %s after epoch %d (best validation loss %.4f)",
            self.ckpt_path,
            self.epoch,
            self.best["cv_loss"],
        )
        return True

    # ------------------------------------------------------------------ training
    def lr_at(self, epoch: int) -> float:
        return self.cfg.lr * self.cfg.lr_gamma ** (epoch // self.cfg.lr_step_epochs)

    def run_epoch(self) -> dict[str, Any]:
        """One pass over the training rhythms with fresh noise, then validation and a checkpoint."""
        e, cfg = self.epoch, self.cfg
        t0 = time.perf_counter()
        x0_all, y_all = self._pairs(self.clean, np.random.default_rng([cfg.seed, 0, e]))
        gen = torch.Generator().manual_seed(_seed_int(cfg.seed, 2, e))
        perm = torch.randperm(x0_all.shape[0], generator=gen)
        mask = self._mask(x0_all.shape[-1]).to(self.device)
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(e)
        self.model.train()
        total, count = 0.0, 0.0
        for b in range(self.steps_per_epoch):
            idx = perm[b * self.batch_size : (b + 1) * self.batch_size]
            x0, y = x0_all[idx].to(self.device), y_all[idx].to(self.device)
            level = self.model.draw_levels(len(idx), gen).to(self.device)
            eps = torch.randn(x0.shape, generator=gen).to(self.device)
            loss, n = self.model.loss(x0, y, mask, level, eps)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.net.parameters(), cfg.grad_clip)
            self.opt.step()
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise FloatingPointError(
                    f"DeScoD ({self.noise_kind}): training loss {lv} at epoch {e + 1}, step {b + 1}"
                )
            total += lv
            count += float(n)
        cv = self.cv_loss()
        self.epoch += 1
        self.elapsed += time.perf_counter() - t0
        row = {
            "epoch": self.epoch,
            "train_loss": total / count,
            "cv_loss": cv,
            "lr": self.lr_at(e),
            "elapsed_s": self.elapsed,
        }
        self.history.append(row)
        if cv < self.best["cv_loss"]:
            state = {k: v.detach().cpu().clone() for k, v in self.model.net.state_dict().items()}
            self.best = {"cv_loss": cv, "epoch": self.epoch, "state_dict": state}
        log.info(
            "epoch %d/%d  train %.4f  validation %.4f  (best %.4f at epoch %d)  %.1f s",
            self.epoch,
            cfg.epochs,
            row["train_loss"],
            cv,
            self.best["cv_loss"],
            self.best["epoch"],
            time.perf_counter() - t0,
        )
        self.save_checkpoint()
        return row

    def run(self, stop_after_epochs: int | None = None) -> None:
        """Train to ``cfg.epochs`` (or stop after ``stop_after_epochs`` more epochs: a simulated interruption)."""
        target = self.cfg.epochs if stop_after_epochs is None else min(self.cfg.epochs, self.epoch + stop_after_epochs)
        while self.epoch < target:
            self.run_epoch()

    def checkpoint(self, provenance: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The model file's content: best-on-validation weights, settings, noise kind, history, provenance."""
        if self.best["state_dict"] is None:
            raise RuntimeError(f"DeScoD ({self.noise_kind}): no epoch was trained, no best weights")
        return {
            "format": FORMAT,
            "noise_kind": self.noise_kind,
            "noise_origin": self.noise_origin,
            "noise_sha256": self.noise["sha256"],
            "noise_settings": self.noise["settings"],
            "config": self.cfg.to_dict(),
            "leads": list(self.leads),
            "fs": self.fs,
            "length": self.cfg.length,
            "padded_length": int(self.clean.shape[-1]),
            "state_dict": self.best["state_dict"],
            "best_epoch": int(self.best["epoch"]),
            "best_cv_loss": float(self.best["cv_loss"]),
            "epochs_run": int(self.epoch),
            "history": list(self.history),
            "batch_size": self.batch_size,
            "n_parameters": count_parameters(self.model.net),
            "n_train": int(len(self.clean)),
            "n_cv": int(len(self.cv)),
            "data_hash": self.data_hash,
            "cv_hash": self.cv_hash,
            "train_seconds": float(self.elapsed),
            "device": str(self.device),
            "provenance": json.loads(json.dumps(dict(provenance or {}), default=str)),
        }


def train(
    clean: np.ndarray,
    noise_fn: noiselib.TrainingNoise | NoiseFn,
    config: DeScoDConfig,
    work_dir: str | Path,
    *,
    cv: np.ndarray,
    noise_kind: str | None = None,
    leads: Sequence[str] = leadlib.BASIS,
    fs: float = 100.0,
    data_hash: str | None = None,
    device: str | torch.device = "auto",
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train (or resume) one DeScoD model on ``clean [N, L, T]`` with validation rhythms ``cv``; the checkpoint.

    ``noise_fn`` makes the noisy inputs: a :class:`~ecgdiff.data.noise.TrainingNoise` (whose kind, record
    source and settings are recorded), or any callable ``fn(clean_batch, rng) -> noisy_batch`` with
    ``noise_kind``. Write the result with :func:`save_model`; load it with :func:`.descod.load_model`.
    """
    tr = DeScoDTrainer(
        clean,
        cv,
        noise_fn,
        config,
        work_dir,
        noise_kind=noise_kind,
        leads=leads,
        fs=fs,
        data_hash=data_hash,
        device=device,
    )
    tr.try_resume()
    tr.run()
    return tr.checkpoint(provenance)


def save_model(path: str | Path, checkpoint: Mapping[str, Any]) -> None:
    """Write a checkpoint from :func:`train` atomically, with its content hash (:func:`ecgdiff.checkpoints.save`)."""
    checkpoints.save(path, dict(checkpoint))


def history_frame(history: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The per-epoch losses as a table (columns :data:`HISTORY_COLUMNS`)."""
    return pd.DataFrame(list(history), columns=list(HISTORY_COLUMNS))


def train_descod(
    rhythms_dir: str | os.PathLike[str],
    kind: str,
    source: str | os.PathLike[str],
    noise_settings: Mapping[str, Any] | None,
    settings: Mapping[str, Any] | None,
    out_model: str | Path,
    work_dir: str | Path,
    loss_table: tuple[str | os.PathLike[str], str | os.PathLike[str]],
    config: Mapping[str, Any],
    device: str = "auto",
    *,
    noise_seed: int,
    test_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The workflow step: train the ``kind`` model on a rhythm database, write the model file and the loss table.

    Trains on the ``train`` split, keeps the best weights on the ``cv`` split. The training noise is
    :func:`ecgdiff.data.noise.training_noise` of the record ``load_noise(source, kind, noise_seed)`` (``source``:
    the NSTDB folder or ``"simulated"``; ``noise_seed`` must be the test sets' seed, so that a simulated record
    is the same record for both) with ``noise_settings`` (:class:`~ecgdiff.data.noise.TrainingNoiseSettings`).
    Before training, :func:`~ecgdiff.data.noise.assert_settings_disjoint` checks that it can never share a
    sample with the windows of the test protocol ``test_settings`` (:class:`~ecgdiff.data.noise.NoisySetSettings`,
    default its defaults). ``settings`` is the :class:`.descod.DeScoDConfig` section (``length`` defaults to the
    database's valid length and must equal it); ``config`` the workflow configuration (provenance);
    ``loss_table`` the CSV and Markdown paths of the per-epoch losses. Resumes from ``work_dir/last.pt``.
    Returns the model file's contents without the weights.
    """
    from .. import provenance as prov_mod
    from ..data import rhythmdb

    if kind not in NOISE_KINDS:
        raise ValueError(f"DeScoD is trained per noise kind {NOISE_KINDS}, got {kind!r}")
    db = rhythmdb.load(rhythms_dir)
    section = dict(settings or {})
    section.setdefault("length", db.length)
    cfg = DeScoDConfig.from_dict(section)
    if cfg.length != db.length:
        raise ValueError(f"descod.length {cfg.length} differs from the rhythm database's valid length {db.length}")
    train_st = noiselib.settings_at_rate(noise_settings, db.fs, noiselib.TrainingNoiseSettings)
    test_st = noiselib.settings_at_rate(test_settings, db.fs)
    noiselib.assert_settings_disjoint(test_st, train_st)
    record = noiselib.load_noise(source, kind, noise_seed)
    noise_fn = noiselib.training_noise(record, kind, noise_seed, settings=train_st, length=db.length)
    clean, _ = db.subset("train")
    cv, _ = db.subset("cv")
    trainer = DeScoDTrainer(
        clean,
        cv,
        noise_fn,
        cfg,
        work_dir,
        noise_kind=kind,
        leads=db.leads,
        fs=db.fs,
        data_hash=db.data_hash,
        device=device,
    )
    trainer.try_resume()
    trainer.run()
    prov = prov_mod.make(
        config,
        data_hash=db.data_hash,
        seed=cfg.seed,
        method="descod",
        noise_kind=kind,
        noise_source=record.source,
        test_noise_settings=dataclasses.asdict(test_st),
        best_epoch=trainer.best["epoch"],
    )
    ck = trainer.checkpoint(prov)
    save_model(out_model, ck)
    ratio = "one per rhythm" if train_st.ratio_per == "example" else "one per lead"
    verdict = ""
    if trainer.best["cv_loss"] >= ZERO_PREDICTOR_LOSS:
        verdict = (
            f" UNDERTRAINED: its validation loss is no better than predicting zero noise ({ZERO_PREDICTOR_LOSS:.3f}), "
            "so its reverse chain amplifies the initial noise by up to 1 / sqrt(alpha_bar_T); train more epochs."
        )
        log.warning("DeScoD-ECG (%s):%s", kind, verdict)
    write_table(
        history_frame(trainer.history),
        loss_table[0],
        loss_table[1],
        caption=f"Training of DeScoD-ECG ({kind}, {cfg.lead_mode}, width {cfg.feats}): mean absolute error of the "
        f"predicted noise per valid sample, training and validation, per epoch. Training noise: {record.source} "
        f"channel {train_st.channel}, {train_st.ratio_range[0]}-{train_st.ratio_range[1]} x the lead's "
        f"peak-to-peak ({ratio}). Best on validation: epoch {trainer.best['epoch']} "
        f"(loss {trainer.best['cv_loss']:.4f}; predicting zero noise scores {ZERO_PREDICTOR_LOSS:.3f}).{verdict}",
        provenance=prov,
    )
    return {k: v for k, v in ck.items() if k != "state_dict"}
