"""EDM preconditioning and loss (Karras et al. 2022; paper section 2.5).

A raw network ``F(x_in, c_noise, cond)`` becomes a denoiser::

    D(x, sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma), cond)

    c_in = 1 / sqrt(sigma^2 + sd^2)      c_skip = sd^2 / (sigma^2 + sd^2)
    c_out = sigma sd / sqrt(sigma^2 + sd^2)      c_noise = log(sigma) / 4

with ``sd = sigma_data``. As ``sigma -> 0``, ``c_skip -> 1`` and ``c_out -> 0``: the denoiser returns its
input, whatever the network (exactly what an ideal denoiser does with a clean input). The training
loss draws ``log(sigma) ~ N(P_MEAN, P_STD^2)`` and weights the squared error by
``lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2 = 1 / c_out^2``, so that the network's own target
has unit variance at every noise level.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import nn

from . import schedule


class Network(Protocol):
    """What the preconditioner wraps: ``F(x_in [B, L, T], c_noise [B], cond [B, c] | None) -> [B, L, T]``."""

    def __call__(self, x: torch.Tensor, c_noise: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor: ...


def coefficients(
    sigma: torch.Tensor, sigma_data: float = schedule.SIGMA_DATA
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(c_skip, c_out, c_in, c_noise)`` at noise level(s) ``sigma`` (same shape as ``sigma``)."""
    sd2 = sigma_data**2
    s2 = sigma**2
    c_skip = sd2 / (s2 + sd2)
    c_out = sigma * sigma_data / (s2 + sd2).sqrt()
    c_in = 1.0 / (s2 + sd2).sqrt()
    c_noise = sigma.log() / 4
    return c_skip, c_out, c_in, c_noise


def loss_weight(sigma: torch.Tensor, sigma_data: float = schedule.SIGMA_DATA) -> torch.Tensor:
    """EDM loss weight ``(sigma^2 + sd^2) / (sigma sd)^2``."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def as_batch_sigma(sigma: torch.Tensor | float, batch: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Noise levels as a ``[B]`` tensor from a scalar, a 0-d or 1-element tensor, or a ``[B]`` tensor."""
    s = torch.as_tensor(sigma, device=device, dtype=dtype).reshape(-1)
    if s.numel() == 1:
        return s.expand(batch)
    if s.numel() != batch:
        raise ValueError(f"sigma has {s.numel()} entries for a batch of {batch}")
    return s


class EDMPrecond(nn.Module):
    """The denoiser ``D(x, sigma, cond)`` made of a raw network ``F`` and EDM's preconditioning."""

    def __init__(self, net: nn.Module, sigma_data: float = schedule.SIGMA_DATA) -> None:
        super().__init__()
        self.net = net
        self.sigma_data = float(sigma_data)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Denoised estimate of ``x0`` from ``x = x0 + sigma * eps`` (``x: [B, L, T]``, ``sigma``: scalar or ``[B]``)."""
        dtype = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
        x32 = x.to(dtype)
        s = as_batch_sigma(sigma, x.shape[0], x.device, dtype)
        if not torch.compiler.is_compiling() and bool((s <= 0).any()):  # no graph break under torch.compile
            raise ValueError("noise levels must be > 0 (D(x, 0) = x needs no network)")
        c_skip, c_out, c_in, c_noise = (c.reshape(-1, 1, 1) for c in coefficients(s, self.sigma_data))
        f = self.net(c_in * x32, c_noise.reshape(-1), cond)
        return (c_skip * x32 + c_out * f.to(dtype)).to(x.dtype)


def edm_loss(
    model: nn.Module, x0: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor, cond: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-beat EDM loss ``lambda(sigma) * mean((D(x0 + sigma n, sigma) - x0)^2)`` over leads and time: ``[B]``.

    ``sigma`` (``[B]``) and ``noise`` (like ``x0``) are given, so a fixed set of them yields a
    deterministic (low-variance) validation loss; :func:`training_loss` draws them.
    """
    sd = getattr(model, "sigma_data", schedule.SIGMA_DATA)
    s = sigma.reshape(-1, 1, 1).to(x0.dtype)
    denoised = model(x0 + s * noise, sigma, cond)
    err = (denoised.float() - x0.float()) ** 2
    return loss_weight(sigma.float(), sd) * err.mean(dim=tuple(range(1, err.ndim)))


def training_loss(
    model: nn.Module,
    x0: torch.Tensor,
    cond: torch.Tensor | None,
    generator: torch.Generator,
    p_mean: float = schedule.P_MEAN,
    p_std: float = schedule.P_STD,
) -> torch.Tensor:
    """Mean EDM loss of a batch with ``sigma ~ LogNormal(p_mean, p_std^2)`` and Gaussian noise drawn from ``generator``.

    The generator lives on the CPU (random draws are moved to the model's device), so training with a
    given seed draws the same noise on every device.
    """
    sigma = schedule.sample_training_sigmas(x0.shape[0], generator, p_mean, p_std, device=x0.device)
    noise = torch.randn(x0.shape, generator=generator, dtype=torch.float32).to(x0.device)
    return edm_loss(model, x0, sigma, noise, cond).mean()


def expected_loss_floor(sigma: float, data_var: float, sigma_data: float = schedule.SIGMA_DATA) -> float:
    """Weighted loss of the exact denoiser for Gaussian data with per-coordinate variance ``data_var``.

    The MMSE error of a Gaussian is ``data_var sigma^2 / (data_var + sigma^2)`` per coordinate; the
    EDM weight multiplies it. Used by tests as an analytic reference.
    """
    mmse = data_var * sigma**2 / (data_var + sigma**2)
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2 * mmse if sigma > 0 else math.nan
