"""Inference with a trained rhythm classifier: windows, aggregation over windows and over posterior samples.

Protocol of the talk's evaluation (the authors' ``plot_lead_inpatining.py`` with the PTB-XL benchmark's
``fastai_model.predict``):

1. the modelled leads are expanded to the 12 standard leads (:func:`ecgdiff.leads.derive`) and only the
   ``length`` valid samples are kept (never the zero padding);
2. the signal is standardised with the training set's scalar mean and standard deviation (the
   benchmark's ``StandardScaler`` on all values, the authors' ``(x - mean_train) / std_train``);
3. windows of 2.5 s (250 samples at 100 Hz) with a stride of 1.25 s cover the 10 s: starts 0, 125, ...,
   750 (the benchmark's ``stride_length_valid = input_size // 2``); when ``length - window`` is not a
   multiple of the stride a last window ending at the last valid sample is added, so the windows always
   cover exactly the valid samples;
4. the sigmoid outputs are aggregated over the windows by their maximum (``aggregate_fn='max'``);
5. for posterior samples ``[P, n, leads, T]``, each sample is classified and the per-patient probability
   is the median over the ``n`` samples (``np.median(pred_scores, axis=1)`` in the authors' script;
   ``"mean"`` is what their artefact-removal script, ``plot_denoising.py``, used).

Everything is batched over windows (``batch_size`` windows per forward pass).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import checkpoints
from .. import leads as leadmod
from ..runtime import pick_device
from .xresnet1d import XResNet1d, XResNetConfig

#: Format tag of classifier checkpoint files.
FORMAT = "ecgdiff-rhythm-classifier/1"
#: Output classes, in the order of the network's outputs (talk's table: NSR, BBB, AF).
CLASSES: tuple[str, ...] = ("NSR", "BBB", "AF")
WINDOW_AGGREGATES = ("max", "mean")
SAMPLE_AGGREGATES = ("median", "mean")


def window_starts(length: int, window: int, stride: int) -> np.ndarray:
    """First sample of every window of ``window`` samples, ``stride`` apart, covering ``[0, length)`` exactly.

    ``0, stride, 2 stride, ...`` while the window fits, plus ``length - window`` when the last of those
    stops short of the end. 1000 samples, window 250, stride 125: ``[0, 125, ..., 750]`` (7 windows).
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
    if window > length:
        raise ValueError(f"window of {window} samples is longer than the {length} valid samples")
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return np.asarray(starts, dtype=np.int64)


def to_classifier_input(
    x: np.ndarray | torch.Tensor, leads: Sequence[str] = leadmod.BASIS, length: int = 1000
) -> np.ndarray:
    """``x [..., len(leads), T >= length]`` -> the 12 standard leads over the valid samples, float32.

    Leads are derived with :func:`ecgdiff.leads.derive` (Einthoven/Goldberger for III, aVR, aVL, aVF);
    samples from ``length`` on (the zero padding) are dropped.
    """
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"expected signals [..., leads, T], got shape {x.shape}")
    if x.shape[-1] < length:
        raise ValueError(f"signals have {x.shape[-1]} samples, fewer than the {length} valid samples")
    out = leadmod.derive(x[..., :length], leads, leadmod.STANDARD_12)
    return np.ascontiguousarray(out, dtype=np.float32)


def aggregate(p: np.ndarray | torch.Tensor, how: str, axis: int) -> np.ndarray | torch.Tensor:
    """Max / mean (windows) or median / mean (posterior samples) of probabilities along ``axis``."""
    if how == "max":
        return p.max(axis=axis) if isinstance(p, np.ndarray) else p.amax(dim=axis)
    if how == "mean":
        return p.mean(axis=axis) if isinstance(p, np.ndarray) else p.mean(dim=axis)
    if how == "median":
        if not isinstance(p, np.ndarray):
            raise TypeError("median aggregation takes numpy arrays (torch.median picks the lower middle value)")
        return np.median(p, axis=axis)
    raise ValueError(f"unknown aggregation {how!r} (windows: {WINDOW_AGGREGATES}, samples: {SAMPLE_AGGREGATES})")


@torch.no_grad()
def window_probabilities(
    network: torch.nn.Module,
    x: np.ndarray | torch.Tensor,
    starts: np.ndarray,
    window: int,
    device: torch.device,
    batch_size: int = 512,
) -> np.ndarray:
    """Sigmoid outputs ``[N, W, C]`` of ``network`` (in eval mode) on every window of standardised ``x [N, 12, T]``."""
    xt = torch.as_tensor(x, dtype=torch.float32)
    n, w = xt.shape[0], len(starts)
    idx = torch.as_tensor(starts)[:, None] + torch.arange(window)[None, :]  # [W, window]
    was_training = network.training
    network.eval()
    out = []
    per_batch = max(1, batch_size // w)  # rhythms per forward pass
    try:
        for a in range(0, n, per_batch):
            chunk = xt[a : a + per_batch].to(device)  # [b, 12, T]
            win = chunk[:, :, idx.to(device)]  # [b, 12, W, window]
            win = win.permute(0, 2, 1, 3).reshape(-1, chunk.shape[1], window)  # rhythm-major
            p = torch.sigmoid(network(win).float()).reshape(chunk.shape[0], w, -1)
            out.append(p.cpu())
    finally:
        network.train(was_training)
    if not out:
        return np.zeros((0, w, 0), dtype=np.float32)
    return torch.cat(out).numpy()


class RhythmClassifier:
    """A trained classifier (best-on-validation weights, eval mode) with its standardisation and windowing."""

    def __init__(self, network: XResNet1d, meta: dict[str, Any], device: torch.device, path: str | None = None):
        self.network = network.to(device).eval()
        for p in self.network.parameters():
            p.requires_grad_(False)
        self.meta = meta
        self.device = device
        self.path = Path(path) if path is not None else None

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.meta["classes"])

    @property
    def fs(self) -> float:
        return float(self.meta["fs"])

    @property
    def length(self) -> int:
        return int(self.meta["length"])

    @property
    def window(self) -> int:
        return int(self.meta["window"])

    @property
    def stride(self) -> int:
        return int(self.meta["stride"])

    @property
    def starts(self) -> np.ndarray:
        return window_starts(self.length, self.window, self.stride)

    @property
    def provenance(self) -> dict[str, Any]:
        prov = dict(self.meta.get("provenance") or {})
        prov.update(best_epoch=self.meta.get("best_epoch"), best_cv=self.meta.get("best_cv"))
        if self.path is not None:
            prov["checkpoint"] = str(self.path)
        return prov

    def standardise(self, x12: np.ndarray) -> np.ndarray:
        return ((x12 - float(self.meta["mean"])) / float(self.meta["std"])).astype(np.float32)

    def window_probabilities(
        self, x: np.ndarray | torch.Tensor, leads: Sequence[str] = leadmod.BASIS, batch_size: int = 512
    ) -> np.ndarray:
        """Per-window probabilities ``[N, W, C]`` of rhythms ``x [N, len(leads), T >= length]``."""
        x12 = self.standardise(to_classifier_input(x, leads, self.length))
        return window_probabilities(self.network, x12, self.starts, self.window, self.device, batch_size)

    def predict_proba(
        self, x: np.ndarray | torch.Tensor, leads: Sequence[str] = leadmod.BASIS, batch_size: int = 512
    ) -> np.ndarray:
        """Probabilities ``[N, C]`` of rhythms ``x [N, len(leads), T]``: windows aggregated by the trained rule (max)."""
        p = self.window_probabilities(x, leads, batch_size)
        return np.asarray(aggregate(p, self.meta.get("window_aggregate", "max"), axis=1))

    def predict_posterior(
        self,
        samples: np.ndarray | torch.Tensor,
        leads: Sequence[str] = leadmod.BASIS,
        how: str = "median",
        batch_size: int = 512,
        return_samples: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Per-patient probabilities ``[P, C]`` from posterior samples ``[P, n, len(leads), T]``.

        Every sample is classified (:meth:`predict_proba`), then the ``n`` probabilities of a patient are
        aggregated by their median (the talk's protocol) or mean. With ``return_samples`` the per-sample
        probabilities ``[P, n, C]`` are returned too.
        """
        if how not in SAMPLE_AGGREGATES:
            raise ValueError(f"how must be one of {SAMPLE_AGGREGATES}, got {how!r}")
        s = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples)
        if s.ndim != 4:
            raise ValueError(f"expected posterior samples [P, n, leads, T], got shape {s.shape}")
        p, n = s.shape[:2]
        per = self.predict_proba(s.reshape(p * n, *s.shape[2:]), leads, batch_size).reshape(p, n, -1)
        agg = np.asarray(aggregate(per, how, axis=1))
        return (agg, per) if return_samples else agg


def load_classifier(path: str | os.PathLike[str], device: str | torch.device = "auto") -> RhythmClassifier:
    """Load a classifier file written by :func:`ecgdiff.classify.train.save_classifier` (CPU or GPU)."""
    dev = device if isinstance(device, torch.device) else pick_device(device)
    blob = checkpoints.load(path, "rhythm classifier file", weights_only=True)
    if blob.get("format") != FORMAT:
        raise ValueError(f"{path}: not a rhythm classifier file (format {blob.get('format')!r}, expected {FORMAT!r})")
    checkpoints.require(
        blob,
        ("model_config", "state_dict", "classes", "fs", "length", "window", "stride", "mean", "std"),
        path,
        "rhythm classifier file",
    )
    try:
        network = XResNet1d(XResNetConfig(**blob["model_config"]))
    except (TypeError, ValueError) as err:
        raise checkpoints.CheckpointError(path, f"invalid model configuration: {err}") from err
    checkpoints.load_weights(network, blob["state_dict"], path, "rhythm classifier")
    meta = {k: v for k, v in blob.items() if k != "state_dict"}
    return RhythmClassifier(network, meta, dev, path=str(path))


__all__ = [
    "FORMAT",
    "CLASSES",
    "window_starts",
    "to_classifier_input",
    "aggregate",
    "window_probabilities",
    "RhythmClassifier",
    "load_classifier",
]
