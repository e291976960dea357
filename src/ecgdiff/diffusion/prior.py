"""A trained prior (beats or rhythms) as the rest of the package sees it: a denoiser ``D(x, sigma)`` plus its metadata.

    >>> prior = load_prior("results/synthetic/models/prior_conditional.pt")
    >>> cond = prior.condition(age=[63, 41], sex=["M", "F"], rr_ms=[820, 1010])   # [P=2, 4]
    >>> D = prior.denoiser(cond)
    >>> x = torch.randn(2 * 50, *prior.shape) * 80            # 50 particles per patient, patient-major
    >>> x0_hat = D(x, torch.full((100,), 80.0))                # [100, L, T]

An unconditional rhythm prior (the talk: 8 independent leads x 1024 samples at 100 Hz) is used the same
way, without conditioning::

    >>> rhythm = load_prior("results/synthetic/models/rhythm_prior.pt")
    >>> rhythm.shape, rhythm.valid_length, rhythm.fs                      # ((8, 1024), 1000, 100.0)
    >>> x0_hat = rhythm.denoiser()(torch.randn(10, 8, 1024) * 80, 80.0)

Checkpoint files (written by :func:`ecgdiff.diffusion.train.save_prior`) hold the preconditioned
network's raw and EMA weights, the model configuration (its ``arch`` key names the network of
:mod:`.networks`; beat checkpoints have none), the lead set, the signal length and sampling rate, the
database's hash and the provenance of the training run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import checkpoints
from ..runtime import pick_device
from . import conditioning
from .networks import build_network, split_model_config
from .precond import EDMPrecond, as_batch_sigma

#: Format tag of prior checkpoint files.
FORMAT = "ecgdiff-prior/1"

Denoiser = Callable[[torch.Tensor, "torch.Tensor | float"], torch.Tensor]


def build_model(model_config: dict[str, Any], sigma_data: float) -> EDMPrecond:
    """The preconditioned network described by a checkpoint's ``model_config`` (no ``arch`` key: the beat UNet)."""
    arch, settings = split_model_config(model_config)
    return EDMPrecond(build_network(arch, settings), sigma_data=sigma_data)


class Prior:
    """A trained EDM prior (EMA weights, eval mode, frozen parameters) on one device."""

    def __init__(
        self,
        model: EDMPrecond,
        meta: dict[str, Any],
        device: torch.device,
        autocast: bool = False,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.model = model.to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.meta = meta
        self.device = device
        self.autocast = bool(autocast) and device.type == "cuda"
        self.path = Path(path) if path is not None else None

    # ---------------------------------------------------------------- metadata
    @property
    def arch(self) -> str:
        """The network's registry name (``beat_unet`` | ``rhythm_unet``)."""
        return split_model_config(self.meta["model_config"])[0]

    @property
    def leads(self) -> tuple[str, ...]:
        """Lead names, in the order of the signal's first axis."""
        return tuple(self.meta["leads"])

    @property
    def shape(self) -> tuple[int, int]:
        """``(L, T)``: leads and samples of one signal (a beat, or a padded rhythm window)."""
        cfg = self.meta["model_config"]
        return int(cfg["leads"]), int(cfg["length"])

    @property
    def valid_length(self) -> int:
        """Samples of real signal at the start of each window (the rest is zero padding; beats: all of them)."""
        return int(self.meta.get("valid_length", self.shape[1]))

    @property
    def conditional(self) -> bool:
        return bool(self.meta["conditional"])

    @property
    def fs(self) -> float:
        return float(self.meta["fs"])

    @property
    def data_hash(self) -> str:
        return str(self.meta.get("data_hash"))

    @property
    def provenance(self) -> dict[str, Any]:
        """Provenance of the training run (config hash, data hash, code version, seed, ...) and the checkpoint's step."""
        prov = dict(self.meta.get("provenance") or {})
        prov.update(
            best_step=self.meta.get("best_step"),
            best_cv_loss=self.meta.get("best_cv_loss"),
            final_step=self.meta.get("final_step"),
            variant=self.meta.get("variant"),
        )
        if self.path is not None:
            prov["checkpoint"] = str(self.path)
        return prov

    # ---------------------------------------------------------------- conditioning
    def condition(
        self, age: Sequence[float] | np.ndarray, sex: Sequence[str] | np.ndarray, rr_ms: Sequence[float] | np.ndarray
    ) -> torch.Tensor:
        """Conditioning vectors ``[P, 4]`` on the prior's device (see :mod:`.conditioning`)."""
        return torch.from_numpy(conditioning.encode(age, sex, rr_ms)).to(self.device)

    def condition_meta(self, meta: pd.DataFrame) -> torch.Tensor:
        """Conditioning vectors ``[P, 4]`` of beat-metadata rows (columns age, sex, rr_ms)."""
        return torch.from_numpy(conditioning.encode_meta(meta)).to(self.device)

    # ---------------------------------------------------------------- the denoiser
    def denoiser(
        self, cond: torch.Tensor | np.ndarray | pd.DataFrame | None = None, grad: bool | None = None
    ) -> Denoiser:
        """The denoiser ``D(x, sigma) -> x0_hat`` (VE/EDM convention ``x = x0 + sigma * eps``).

        ``x`` is ``[B, L, T]``; ``sigma`` a scalar, a 0-d/1-element tensor or ``[B]``. The output has
        ``x``'s shape, dtype and device.

        Conditioning (conditional priors; an unconditional prior takes ``cond=None``): ``cond`` is
        ``[c]`` (one patient: used for every row) or ``[P, c]`` for ``P`` patients (also a metadata
        table, encoded by :func:`.conditioning.encode_meta`). With ``P`` patients, ``B`` must be a
        multiple ``P * n`` and the rows of ``x`` are **patient-major**: rows ``p*n .. p*n + n - 1``
        belong to patient ``p``; each patient's vector is repeated ``n`` times with
        ``cond.repeat_interleave(n, dim=0)``. The posterior samplers lay out their particles that way.

        Gradients: with ``grad=None`` (default) the network runs under ``torch.no_grad`` unless ``x``
        requires grad, in which case gradients flow to ``x`` (the network's own parameters stay frozen).
        ``grad=True``/``False`` forces either behaviour. The network runs in eval mode with the EMA
        weights, on the prior's device (inputs are moved there and outputs moved back), in bfloat16
        autocast on CUDA when the prior was loaded with ``autocast=True``.
        """
        c = self._prepare_cond(cond)

        def D(x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
            if x.ndim != 3 or tuple(x.shape[1:]) != self.shape:
                raise ValueError(f"expected x of shape [B, {self.shape[0]}, {self.shape[1]}], got {list(x.shape)}")
            b = x.shape[0]
            xd = x.to(self.device, torch.float32)
            s = as_batch_sigma(
                sigma.to(self.device) if isinstance(sigma, torch.Tensor) else sigma, b, self.device, torch.float32
            )
            cb = None
            if c is not None:
                p = c.shape[0]
                if b % p:
                    raise ValueError(
                        f"batch of {b} rows is not a multiple of the {p} conditioning rows "
                        "(expected patient-major rows, n per patient)"
                    )
                cb = c.repeat_interleave(b // p, dim=0) if p != b else c
            want_grad = (x.requires_grad and torch.is_grad_enabled()) if grad is None else bool(grad)
            with torch.set_grad_enabled(want_grad), torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.autocast):
                out = self.model(xd, s, cb)
            return out.to(device=x.device, dtype=x.dtype)

        return D

    def _prepare_cond(self, cond: torch.Tensor | np.ndarray | pd.DataFrame | None) -> torch.Tensor | None:
        if not self.conditional:
            if cond is not None:
                raise ValueError("this prior is unconditional: call denoiser() without conditioning")
            return None
        if cond is None:
            raise ValueError(
                "this prior is conditional: denoiser() needs conditioning vectors (Prior.condition(age, sex, rr_ms))"
            )
        if isinstance(cond, pd.DataFrame):
            cond = conditioning.encode_meta(cond)
        c = torch.as_tensor(cond, dtype=torch.float32).to(self.device)
        if c.ndim == 1:
            c = c.unsqueeze(0)
        if c.ndim != 2 or c.shape[1] != conditioning.COND_DIM:
            raise ValueError(f"conditioning must be [P, {conditioning.COND_DIM}], got {list(c.shape)}")
        if not bool(torch.isfinite(c).all()):
            rows = (~torch.isfinite(c)).any(1).nonzero().flatten().tolist()
            raise ValueError(f"conditioning vectors of rows {rows[:10]} hold NaN or inf (age, sex, RR missing?)")
        return c


def load_prior(
    path: str | os.PathLike[str], device: str | torch.device = "auto", autocast: bool = False, weights: str = "ema"
) -> Prior:
    """Load a prior checkpoint written by training (``weights``: ``'ema'`` (default) or ``'raw'``).

    A truncated, damaged or foreign file, one whose content differs from its stored hash, or one whose
    weights do not fit its model configuration raises :class:`ecgdiff.checkpoints.CheckpointError` (a
    ``ValueError``) naming the file and the problem.
    """
    if weights not in ("ema", "raw"):
        raise ValueError(f"weights must be 'ema' or 'raw', got {weights!r}")
    dev = device if isinstance(device, torch.device) else pick_device(device)
    blob = checkpoints.load(path, "prior checkpoint", weights_only=True)
    if blob.get("format") != FORMAT:
        raise ValueError(
            f"{path}: not an ecgdiff prior checkpoint (format {blob.get('format')!r}, expected {FORMAT!r})"
        )
    key = {"ema": "ema_state_dict", "raw": "state_dict"}[weights]
    checkpoints.require(blob, ("model_config", "sigma_data", "leads", "conditional", key), path, "prior checkpoint")
    try:
        model = build_model(blob["model_config"], blob["sigma_data"])
    except (TypeError, ValueError) as err:
        raise checkpoints.CheckpointError(path, f"invalid model configuration: {err}") from err
    checkpoints.load_weights(model, blob[key], path, "prior network")
    meta = {k: v for k, v in blob.items() if k not in ("state_dict", "ema_state_dict")}
    return Prior(model, meta, dev, autocast=autocast, path=path)
