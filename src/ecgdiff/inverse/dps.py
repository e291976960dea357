"""DPS: diffusion posterior sampling (Chung et al. 2023), in the VE/EDM parametrisation.

Each step from level ``v`` to ``v'`` takes the prior's ancestral (DDIM, ``eta``) step from the denoised
estimate ``x0 = D(x, v)`` and subtracts the gradient, through the denoiser, of the residual norm::

    x' = x0 + c (x - x0) + eta_k z  -  zeta * grad_x || (y - A D(x, v)) / sigma_y ||

which is DPS's step ``zeta_i = zeta / ||y - A x0||`` on the squared residual (algorithm 1 of the paper). The
residual is whitened by ``sigma_y`` when every std is positive (for homoscedastic noise this is DPS's own
scale-invariant step) and left raw otherwise (noiseless coordinates). No clipping: ECG beats are in
millivolt-scale units, not images in [-1, 1].

Cost per step: one denoiser evaluation and one vector-Jacobian product. DPS approximates
``p(y | x_v)`` by ``p(y | D(x_v))`` and rescales the step: it is biased (its samples are not posterior samples,
typically over-concentrated near a data-consistent mode); see the accuracy table in ``docs/inverse.md``.

Defaults: 50 steps and ``zeta = 0.5`` (the talk's settings for the ECG competitors), ancestral ``eta = 1``
(DPS uses the DDPM sampler).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from ..diffusion import schedule
from .base import RNG, DenoiserCall, GridSampler, check_positive, register
from .operators import Observation


@register
@dataclasses.dataclass
class DPS(GridSampler):
    name: ClassVar[str] = "dps"
    zeta: float = 0.5
    eta: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("zeta", self.zeta, allow_zero=True)
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {self.eta}")

    def _run(self, den: DenoiserCall, obs: Observation, n: int, rng: RNG) -> torch.Tensor:
        levels = self.grid()
        whiten = bool((obs.sigma > 0).all())
        x = rng.randn(obs.P, n, obs.d) * levels[0]
        for v, vn in zip(levels[:-1], levels[1:]):
            with torch.enable_grad():
                xr = x.detach().requires_grad_(True)
                x0 = den(xr, v)
                norm = obs.residual_norm2(x0, whiten=whiten).clamp(min=1e-30).sqrt()
                (grad,) = torch.autograd.grad(norm.sum(), xr)
            x0 = x0.detach()
            std = schedule.ddim_eta(v, vn, self.eta)
            x = schedule.ddim_mean(x, x0, v, vn, std) - self.zeta * grad
            if std > 0:
                x = x + std * rng.randn(*x.shape)
        return x.detach()
