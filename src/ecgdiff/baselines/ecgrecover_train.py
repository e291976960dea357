"""Training ECGrecover on the train rhythms, best-on-CV weights, resumable after a kill.

Data: the 8 modelled leads of the rhythm database (``train`` and ``cv`` splits) expanded to the 12 standard
leads (:func:`ecgdiff.leads.derive`) and turned into the protocol's targets
(:func:`.ecgrecover.prepare_targets`). Every epoch visits every training rhythm once in an order drawn from
``(seed, epoch)`` (:func:`ecgdiff.diffusion.train.epoch_permutation`), each with an observed-lead mask drawn
from ``(seed, epoch)`` (:func:`.ecgrecover.draw_masks`); the uniform fill of the original protocol is drawn
from ``(seed, epoch)`` too. So the data side of an epoch is a function of the seed and the epoch number, and
the only other randomness, dropout, uses torch's global RNG, whose state the checkpoint keeps.

Validation: after every epoch, the loss of every CV rhythm under every missing-lead setting of ``masks``
(fixed; the fill noise, if any, fixed by the seed): a deterministic estimate. The learning rate follows
``ReduceLROnPlateau`` on that loss (the authors' scheduler; their script stepped it on the training and the
validation loss, twice an epoch, which is not kept), and the weights with the lowest CV loss are the ones
written to the model file.

Checkpoint (``last.pt`` in the work folder, written atomically with a content hash every ``checkpoint_every``
epochs and at the end, the previous one kept as ``last.prev.pt`` (:mod:`ecgdiff.checkpoints`), following :class:`ecgdiff.diffusion.train.Trainer`): model, optimiser and scheduler states, torch RNG
states, the epoch, the history and the best weights, with a fingerprint of the settings and data; a run
started again with the same settings resumes from it and reaches the same weights as a straight run.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import checkpoints
from .. import leads as leadlib
from ..diffusion.train import epoch_permutation
from ..runtime import pick_device
from ..tables import write_table
from . import ecgrecover as er

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "train_loss", "cv_loss", "cv_mse", "cv_pearson", "lr", "elapsed_s")
_MASK_STREAM, _FILL_STREAM, _CV_FILL_STREAM = 1, 2, 3


@dataclass
class RecoverData:
    """Complete 12-lead train and CV rhythms (``[N, 12, padded_length]`` mV, STANDARD_12 order)."""

    x_train: np.ndarray
    x_cv: np.ndarray
    length: int
    data_hash: str
    fs: float = 100.0

    def __post_init__(self) -> None:
        for name in ("x_train", "x_cv"):
            x = getattr(self, name)
            if x.ndim != 3 or x.shape[1] != len(er.LEADS):
                raise ValueError(f"RecoverData.{name}: expected [N, 12, T], got {list(x.shape)}")
            if len(x) == 0:
                raise ValueError(f"RecoverData.{name} is empty (train and cv rhythms are both needed)")
            if not np.all(np.isfinite(x)):
                raise ValueError(f"RecoverData.{name} has non-finite values")
        if self.x_train.shape[2] != self.x_cv.shape[2]:
            raise ValueError(f"RecoverData: train length {self.x_train.shape[2]} != cv length {self.x_cv.shape[2]}")

    @property
    def padded_length(self) -> int:
        return int(self.x_train.shape[2])


def from_basis(x: np.ndarray, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """``[N, len(names), T]`` rhythms -> the 12 standard leads (float32)."""
    return leadlib.derive(np.asarray(x, dtype=np.float64), names, er.LEADS).astype(np.float32)


def load_training_data(db: Any) -> RecoverData:
    """Train and CV rhythms of a :class:`ecgdiff.data.rhythmdb.RhythmDatabase`, as 12 leads."""
    x_tr, _ = db.subset("train")
    x_cv, _ = db.subset("cv")
    if len(x_tr) == 0 or len(x_cv) == 0:
        raise ValueError(f"rhythm database {db.path}: train ({len(x_tr)}) and cv ({len(x_cv)}) must be non-empty")
    return RecoverData(
        x_train=from_basis(x_tr, db.leads),
        x_cv=from_basis(x_cv, db.leads),
        length=int(db.length),
        data_hash=str(db.data_hash),
        fs=float(db.fs),
    )


def _rng(seed: int, epoch: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(epoch), stream])


class ECGrecoverTrainer:
    """One training run: network, optimiser, scheduler, history and best weights; see the module docstring."""

    def __init__(
        self, data: RecoverData, cfg: er.ECGrecoverConfig, work_dir: str | Path, device: str | torch.device = "auto"
    ) -> None:
        self.data = data
        self.cfg = er.ECGrecoverConfig(**{**cfg.to_dict(), "length": data.length, "padded_length": data.padded_length})
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.work_dir = Path(work_dir)
        self.ckpt_path = self.work_dir / "last.pt"
        self.y_train = torch.from_numpy(er.prepare_targets(data.x_train, self.cfg))
        self.y_cv = torch.from_numpy(er.prepare_targets(data.x_cv, self.cfg))
        self.score_len = self.cfg.length if self.cfg.protocol == "talk" else self.cfg.window
        torch.manual_seed(self.cfg.seed)  # initialisation
        self.model = er.ECGrecoverNet(self.cfg).to(self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.cfg.lr)
        self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.opt, mode="min", factor=self.cfg.lr_factor, patience=self.cfg.lr_patience
        )
        self.epoch = 0
        self.elapsed = 0.0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"cv_loss": math.inf, "epoch": -1, "state_dict": None}
        self._setup_cv()
        log.info(
            "ECGrecover (%s protocol): %d parameters, %d train / %d CV rhythms, batch %d, device %s",
            self.cfg.protocol,
            er.count_parameters(self.model),
            len(self.y_train),
            len(self.y_cv),
            self.cfg.batch_size,
            self.device,
        )

    # ---------------------------------------------------------------- validation
    def _setup_cv(self) -> None:
        """Every CV rhythm under every setting of ``masks`` (setting-major), with fixed fill noise."""
        settings = self.cfg.masks or list(er.MISSING_LEAD_SETTINGS)
        m = len(self.y_cv)
        self.cv_index = torch.arange(m).repeat(len(settings))
        self.cv_masks = torch.from_numpy(np.repeat(np.stack([er.setting_mask(s) for s in settings]), m, axis=0))
        gen = torch.Generator().manual_seed(int(_rng(self.cfg.seed, 0, _CV_FILL_STREAM).integers(2**62)))
        self.cv_gen_state = gen.get_state()

    @torch.no_grad()
    def cv_loss(self, chunk: int | None = None) -> dict[str, float]:
        """Mean loss, MSE and Pearson of the network over the fixed CV set (evaluation mode)."""
        was = self.model.training
        self.model.eval()
        gen = torch.Generator().set_state(self.cv_gen_state)
        chunk = chunk or self.cfg.batch_size
        tot = {"loss": 0.0, "mse": 0.0, "pearson": 0.0}
        n = len(self.cv_index)
        for a in range(0, n, chunk):
            y = self.y_cv[self.cv_index[a : a + chunk]].to(self.device)
            x = er.network_input(y, self.cv_masks[a : a + chunk], self.cfg, gen)
            out = self.model(x)
            lo, mse, corr = er.recover_loss(
                out[..., : self.score_len], y[..., : self.score_len], self.cfg.pearson_weight
            )
            w = len(y) / n
            tot["loss"] += float(lo) * w
            tot["mse"] += float(mse) * w
            tot["pearson"] += float(corr) * w
        self.model.train(was)
        return tot

    # ---------------------------------------------------------------- checkpoints
    def fingerprint(self) -> dict[str, Any]:
        d = self.cfg.to_dict()
        for k in ("epochs", "checkpoint_every"):
            d.pop(k)
        return {"config": d, "data_hash": self.data.data_hash, "n_train": len(self.y_train), "n_cv": len(self.y_cv)}

    def state(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint(),
            "epoch": self.epoch,
            "elapsed": self.elapsed,
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict(),
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
        st = checkpoints.resume(self.ckpt_path, self.fingerprint(), "ECGrecover training checkpoint")
        if st is None:
            return False
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        self.sched.load_state_dict(st["sched"])
        torch.set_rng_state(st["torch_rng"])
        if st.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(st["cuda_rng"])
        self.epoch, self.elapsed = int(st["epoch"]), float(st["elapsed"])
        self.history, self.best = list(st["history"]), dict(st["best"])
        log.info("resumed from %s at epoch %d (best CV loss %.4f)", self.ckpt_path, self.epoch, self.best["cv_loss"])
        return True

    # ---------------------------------------------------------------- training
    def train_epoch(self) -> float:
        """One pass over the training rhythms (the epoch's order, masks and fill); returns the mean loss."""
        cfg, n = self.cfg, len(self.y_train)
        perm = epoch_permutation(n, cfg.seed, self.epoch)
        masks = torch.from_numpy(
            er.draw_masks(n, cfg.masks, cfg.random_subset_prob, _rng(cfg.seed, self.epoch, _MASK_STREAM))
        )
        gen = torch.Generator().manual_seed(int(_rng(cfg.seed, self.epoch, _FILL_STREAM).integers(2**62)))
        self.model.train()
        total = 0.0
        for a in range(0, n, cfg.batch_size):
            idx = perm[a : a + cfg.batch_size]
            y = self.y_train[idx].to(self.device)
            x = er.network_input(y, masks[idx], cfg, gen)
            out = self.model(x)
            loss, _, _ = er.recover_loss(out[..., : self.score_len], y[..., : self.score_len], cfg.pearson_weight)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise FloatingPointError(f"ECGrecover: training loss is {lv} in epoch {self.epoch + 1}")
            total += lv * len(idx)
        return total / n

    def run(self, stop_after_epoch: int | None = None) -> None:
        """Train up to ``epochs`` (or stop after ``stop_after_epoch``, checkpoint written: a simulated kill)."""
        target = self.cfg.epochs if stop_after_epoch is None else min(stop_after_epoch, self.cfg.epochs)
        while self.epoch < target:
            t0 = time.perf_counter()
            train_loss = self.train_epoch()
            self.epoch += 1
            cv = self.cv_loss()
            self.sched.step(cv["loss"])
            self.elapsed += time.perf_counter() - t0
            self.history.append(
                {
                    "epoch": self.epoch,
                    "train_loss": train_loss,
                    "cv_loss": cv["loss"],
                    "cv_mse": cv["mse"],
                    "cv_pearson": cv["pearson"],
                    "lr": self.opt.param_groups[0]["lr"],
                    "elapsed_s": self.elapsed,
                }
            )
            if cv["loss"] < self.best["cv_loss"]:
                self.best = {
                    "cv_loss": cv["loss"],
                    "epoch": self.epoch,
                    "state_dict": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
                }
            log.info(
                "epoch %d/%d  train %.4f  CV %.4f (MSE %.4f, r %.3f)  best %.4f at %d  %.1f s",
                self.epoch,
                self.cfg.epochs,
                train_loss,
                cv["loss"],
                cv["mse"],
                cv["pearson"],
                self.best["cv_loss"],
                self.best["epoch"],
                time.perf_counter() - t0,
            )
            if self.epoch % self.cfg.checkpoint_every == 0 or self.epoch == target:
                self.save_checkpoint()

    def best_model(self) -> er.ECGrecoverNet:
        """A copy of the network with the best-on-CV weights, in evaluation mode."""
        if self.best["state_dict"] is None:
            raise RuntimeError("ECGrecover: no epoch finished, no best weights")
        model = er.ECGrecoverNet(self.cfg)
        model.load_state_dict(self.best["state_dict"])
        return model.to(self.device).eval()


def save_trained(path: str | Path, trainer: ECGrecoverTrainer, provenance: dict[str, Any]) -> dict[str, Any]:
    """Write the model file (best-on-CV weights) with the training record and provenance."""
    if trainer.best["state_dict"] is None:
        raise RuntimeError("ECGrecover: no epoch finished, no best weights to save")
    return er.save_model(
        path,
        trainer.best["state_dict"],
        trainer.cfg,
        best_epoch=int(trainer.best["epoch"]),
        best_cv_loss=float(trainer.best["cv_loss"]),
        final_epoch=int(trainer.epoch),
        n_parameters=er.count_parameters(trainer.model),
        n_train=len(trainer.y_train),
        n_cv=len(trainer.y_cv),
        data_hash=trainer.data.data_hash,
        fs=trainer.data.fs,
        train_seconds=float(trainer.elapsed),
        device=str(trainer.device),
        history=trainer.history,
        provenance=provenance,
    )


def history_frame(history: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(history, columns=list(HISTORY_COLUMNS))


def train_ecgrecover(
    rhythms_dir: str | Path,
    settings: dict[str, Any],
    out_model: str | Path,
    work_dir: str | Path,
    loss_table: tuple[str, str],
    config: dict[str, Any],
    device: str = "auto",
) -> dict[str, Any]:
    """The workflow step: train on a rhythm database, write the model file and the per-epoch loss table.

    ``settings`` is the ``ECGrecoverConfig`` section; returns the model file's contents without the weights.
    """
    from .. import provenance as prov_mod
    from ..data import rhythmdb

    cfg = er.ECGrecoverConfig(**settings)
    data = load_training_data(rhythmdb.load(rhythms_dir))
    trainer = ECGrecoverTrainer(data, cfg, work_dir, device=device)
    trainer.try_resume()
    trainer.run()
    prov = prov_mod.make(
        config, data_hash=data.data_hash, seed=cfg.seed, method="ecgrecover", best_epoch=trainer.best["epoch"]
    )
    blob = save_trained(out_model, trainer, prov)
    write_table(
        history_frame(trainer.history),
        loss_table[0],
        loss_table[1],
        caption=f"Training of ECGrecover ({cfg.protocol} protocol, loss MSE - {cfg.pearson_weight} x Pearson): "
        f"mean training loss and CV loss per epoch (every CV rhythm under each of {len(cfg.masks)} missing-lead "
        f"settings). Best on CV: epoch {trainer.best['epoch']} (loss {trainer.best['cv_loss']:.4f}).",
        provenance=prov,
    )
    return {k: v for k, v in blob.items() if k != "state_dict"}
