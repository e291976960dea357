"""The noise schedule: the one place that defines noise levels and the VE inference step.

Convention (variance exploding, EDM): a noisy state at level ``sigma`` is ``x_sigma = x0 + sigma * eps``.
In the paper's notation ``v_k`` is the noise level of step ``k`` (``v_0 = 0``); generation runs from
``v_K = sigma_max`` down to 0.

The grid is Karras et al.'s (EDM, eq. 5)::

    sigma_i = (sigma_max^(1/rho) + i/(K-1) * (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho,  i = 0..K-1

followed by ``sigma_K = 0``. The inference process of paper section 2.2.2 (DDIM in VE form) moves from
level ``v`` to level ``v_next < v`` given a denoised estimate ``x0``::

    x_next = x0 + sqrt((v_next^2 - eta^2) / v^2) * (x - x0) + eta * z,   z ~ N(0, I)

with ``eta^2 in [0, v_next^2]``; :func:`ddim_eta` gives the DDIM-style choice ``eta = e * std`` where
``std`` is the standard deviation of the exact forward posterior ``q(x_next | x, x0)`` (paper eq. 17)
and ``e in [0, 1]`` interpolates from deterministic (0) to ancestral (1) sampling.
"""

from __future__ import annotations

import math

import torch

#: EDM defaults of the beat paper (appendix 6.6).
SIGMA_MIN: float = 2e-4
SIGMA_MAX: float = 80.0
SIGMA_DATA: float = 0.5
RHO: float = 7.0
#: Training noise distribution: log(sigma) ~ N(P_MEAN, P_STD^2).
P_MEAN: float = -1.2
P_STD: float = 1.2


def karras_sigmas(
    n_steps: int,
    sigma_min: float = SIGMA_MIN,
    sigma_max: float = SIGMA_MAX,
    rho: float = RHO,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Decreasing noise levels ``[n_steps + 1]``: ``n_steps`` Karras levels from ``sigma_max`` to ``sigma_min``, then 0."""
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if n_steps == 1:
        levels = torch.tensor([sigma_max], dtype=dtype, device=device)
    else:
        i = torch.arange(n_steps, dtype=dtype, device=device)
        a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
        levels = (a + i / (n_steps - 1) * (b - a)) ** rho
    return torch.cat([levels, torch.zeros(1, dtype=dtype, device=device)])


def posterior_std(v: float, v_next: float) -> float:
    """Std of the exact forward posterior ``q(x_next | x_v, x0)`` for ``v > v_next >= 0`` (paper eq. 17)."""
    if v <= 0:
        return 0.0
    return math.sqrt(max(v_next**2 * (v**2 - v_next**2) / v**2, 0.0))


def ddim_eta(v: float, v_next: float, eta: float) -> float:
    """Noise std of one inference step: ``eta`` times :func:`posterior_std` (``eta`` in [0, 1])."""
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    return eta * posterior_std(v, v_next)


def ddim_coefficient(v: float, v_next: float, noise_std: float) -> float:
    """Coefficient of ``(x - x0)`` in the inference step: ``sqrt((v_next^2 - noise_std^2) / v^2)``."""
    if v <= 0:
        return 0.0
    return math.sqrt(max(v_next**2 - noise_std**2, 0.0)) / v


def ddim_mean(x: torch.Tensor, x0: torch.Tensor, v: float, v_next: float, noise_std: float) -> torch.Tensor:
    """Mean of the inference step from level ``v`` to ``v_next`` given the denoised estimate ``x0``."""
    return x0 + ddim_coefficient(v, v_next, noise_std) * (x - x0)


def sample_training_sigmas(
    n: int,
    generator: torch.Generator | None = None,
    p_mean: float = P_MEAN,
    p_std: float = P_STD,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``n`` training noise levels drawn from EDM's importance law ``log(sigma) ~ N(p_mean, p_std^2)``.

    Drawn on the generator's device (CPU by default) and moved to ``device``, so that a seeded CPU
    generator gives the same levels whatever device trains the model.
    """
    gen_device = generator.device if generator is not None else torch.device("cpu")
    z = torch.randn(n, generator=generator, device=gen_device, dtype=torch.float32)
    return (p_mean + p_std * z).exp().to(device=device, dtype=dtype)


def stratified_training_sigmas(
    n: int, p_mean: float = P_MEAN, p_std: float = P_STD, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``n`` fixed noise levels at the quantiles ``(j + 1/2) / n`` of the training law (low-variance loss estimates)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    q = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    z = torch.special.ndtri(q)
    return (p_mean + p_std * z).exp().to(dtype)
