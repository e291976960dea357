"""Unconditional generation from a denoiser: the VE/DDIM sampler of paper 2.2.2 and EDM's Heun sampler.

Both samplers take any denoiser ``D(x, sigma) -> x0_hat`` (VE convention ``x = x0 + sigma eps``) and the
Karras grid of :func:`.schedule.karras_sigmas` (``K`` levels from ``sigma_max`` down to ``sigma_min``,
then 0). Random draws come from a seeded CPU :class:`torch.Generator` and are moved to the working
device, so a seed gives the same beats on every device (up to floating point).

- :func:`ve_sample`: ``X_K ~ N(0, sigma_max^2 I)``, then for ``k = K..1``
  ``x_{k-1} = x0 + sqrt((v_{k-1}^2 - s_k^2) / v_k^2) (x_k - x0) + s_k z`` with ``x0 = D(x_k, v_k)`` and
  ``s_k = eta * posterior_std(v_k, v_{k-1})`` (:func:`.schedule.ddim_eta`, :func:`.schedule.ddim_mean`);
  the last step (``v_0 = 0``) returns ``D(x_1, v_1)``. ``eta = 1`` makes each step the exact forward
  posterior ``q(x_{k-1} | x_k, x0)`` (ancestral sampling), ``eta = 0`` the deterministic DDIM map.
  ``K`` denoiser calls.
- :func:`heun_sample`: EDM's deterministic 2nd-order sampler (Karras et al. 2022, algorithm 1) on the
  probability-flow ODE ``dx/dsigma = (x - D(x, sigma)) / sigma``; ``2K - 1`` denoiser calls.

:func:`generate` draws beats (or rhythms) from a :class:`~.prior.Prior` for given conditioning rows (or, from an
unconditional prior, a given number), in batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from . import schedule

if TYPE_CHECKING:
    from .prior import Prior

log = logging.getLogger(__name__)

Denoiser = Callable[[torch.Tensor, "torch.Tensor | float"], torch.Tensor]
METHODS = ("ve", "heun")


def _randn(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(shape, generator=generator, device=gen_device, dtype=dtype).to(device)


def ve_sample(
    denoiser: Denoiser,
    shape: tuple[int, ...],
    n_steps: int,
    eta: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    sigma_min: float = schedule.SIGMA_MIN,
    sigma_max: float = schedule.SIGMA_MAX,
    rho: float = schedule.RHO,
    x_init: torch.Tensor | None = None,
) -> torch.Tensor:
    """Draw ``shape[0]`` samples with the VE inference process of paper 2.2.2 in ``n_steps`` steps."""
    device = torch.device(device)
    sigmas = schedule.karras_sigmas(n_steps, sigma_min, sigma_max, rho).tolist()
    x = x_init.to(device, dtype) if x_init is not None else sigmas[0] * _randn(shape, generator, device, dtype)
    for v, v_next in zip(sigmas[:-1], sigmas[1:]):
        x0 = denoiser(x, torch.full((x.shape[0],), v, device=device, dtype=dtype))
        if v_next == 0.0:
            x = x0
            break
        noise_std = schedule.ddim_eta(v, v_next, eta)
        x = schedule.ddim_mean(x, x0, v, v_next, noise_std)
        if noise_std > 0:
            x = x + noise_std * _randn(tuple(x.shape), generator, device, dtype)
    return x


def heun_sample(
    denoiser: Denoiser,
    shape: tuple[int, ...],
    n_steps: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    sigma_min: float = schedule.SIGMA_MIN,
    sigma_max: float = schedule.SIGMA_MAX,
    rho: float = schedule.RHO,
    x_init: torch.Tensor | None = None,
) -> torch.Tensor:
    """Draw ``shape[0]`` samples with EDM's deterministic Heun sampler in ``n_steps`` steps (``2K - 1`` calls)."""
    device = torch.device(device)
    sigmas = schedule.karras_sigmas(n_steps, sigma_min, sigma_max, rho).tolist()
    x = x_init.to(device, dtype) if x_init is not None else sigmas[0] * _randn(shape, generator, device, dtype)
    for t, t_next in zip(sigmas[:-1], sigmas[1:]):
        d = (x - denoiser(x, torch.full((x.shape[0],), t, device=device, dtype=dtype))) / t
        x_next = x + (t_next - t) * d
        if t_next > 0:
            d2 = (x_next - denoiser(x_next, torch.full((x.shape[0],), t_next, device=device, dtype=dtype))) / t_next
            x_next = x + (t_next - t) * 0.5 * (d + d2)
        x = x_next
    return x


def sample(
    denoiser: Denoiser,
    shape: tuple[int, ...],
    n_steps: int,
    method: str = "ve",
    eta: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Dispatch to :func:`ve_sample` (``method='ve'``) or :func:`heun_sample` (``'heun'``; ``eta`` unused)."""
    if method == "ve":
        return ve_sample(denoiser, shape, n_steps, eta=eta, generator=generator, device=device)
    if method == "heun":
        return heun_sample(denoiser, shape, n_steps, generator=generator, device=device)
    raise ValueError(f"unknown sampler {method!r}: expected one of {METHODS}")


def generate(
    prior: Prior,
    n_steps: int,
    cond: np.ndarray | pd.DataFrame | torch.Tensor | None = None,
    n: int | None = None,
    method: str = "ve",
    eta: float = 1.0,
    seed: int = 0,
    batch_size: int = 256,
) -> np.ndarray:
    """Generate beats (or rhythms) ``float32 [N, L, T]`` from a prior.

    Conditional prior: one beat per conditioning row (``cond``: ``[N, 4]`` vectors or a metadata table
    with age, sex, rr_ms). Unconditional prior: ``n`` beats (``cond`` must be None). Rows are generated
    in batches of ``batch_size`` with one seeded generator, so the result depends on ``seed`` and
    ``batch_size`` only.
    """

    if prior.conditional:
        if cond is None:
            raise ValueError("a conditional prior generates beats for given conditioning rows (cond)")
        c = prior._prepare_cond(cond)
        total = c.shape[0]
    else:
        if cond is not None:
            raise ValueError("an unconditional prior takes no conditioning rows; give n")
        if n is None or n < 1:
            raise ValueError("give the number of beats n for an unconditional prior")
        c, total = None, int(n)
    gen = torch.Generator().manual_seed(int(seed))
    out = []
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        D = prior.denoiser(c[start:stop] if c is not None else None, grad=False)
        x = sample(D, (stop - start, *prior.shape), n_steps, method=method, eta=eta, generator=gen, device=prior.device)
        out.append(x.float().cpu().numpy())
    return np.concatenate(out, axis=0)
