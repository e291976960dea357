"""DDNM+: denoising diffusion null-space model for noisy observations (Wang et al. 2023), VE/EDM form.

Each step from ``v`` to ``v'`` corrects the range-space part of the denoised estimate ``x0 = D(x, v)`` towards
the observation and shrinks the fresh noise so that the noise carried by ``y`` is not added twice. In the
diagonal form (``ybar_c = <V_c, x> + std_c eps``, SVD of the whitened operator) with the step's noise std
``eta_k = eta * posterior_std(v, v')``, per observed direction ``c`` (DDNM+ eq. 17-19 with ``a_t = 1`` in the
VE/DDIM step)::

    lambda_c = 1                    if eta_k >= std_c,  else eta_k / std_c
    x0_hat_c = x0_c - lambda_c (x0_c - ybar_c)
    fresh noise variance along c:   gamma_c = eta_k^2 - (lambda_c std_c)^2   (>= 0)
    x' = x0_hat + c_k (x - x0) + noise   (noise std eta_k off the observed directions)

so the total noise along ``c`` is ``eta_k``. Noiseless directions (``std_c = 0``) get the hard projection
(DDNM). No time-travel (it multiplies the cost; off here). Cost per step: one denoiser evaluation, no
gradient. Biased (projection, not conditioning): see ``docs/inverse.md``.

Defaults: 50 steps and ``eta = 0.85`` (the talk's setting and DDNM's and InverseBench's default).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from ..diffusion import schedule
from .base import RNG, DenoiserCall, GridSampler, register
from .operators import Observation


@register
@dataclasses.dataclass
class DDNM(GridSampler):
    name: ClassVar[str] = "ddnm"
    eta: float = 0.85

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {self.eta}")

    def _run(self, den: DenoiserCall, obs: Observation, n: int, rng: RNG) -> torch.Tensor:
        levels = self.grid()
        x = rng.randn(obs.P, n, obs.d) * levels[0]
        ybar = obs.ybar[:, None, :]
        std_y = obs.std[:, None, :]
        valid = obs.valid[:, None, :]
        for v, vn in zip(levels[:-1], levels[1:]):
            x0 = den(x, v)
            e = schedule.ddim_eta(v, vn, self.eta)
            coef = schedule.ddim_coefficient(v, vn, e)
            lam = torch.where(std_y <= e, torch.ones_like(std_y), e / std_y.clamp(min=1e-30))
            gamma = (e * e - (lam * std_y) ** 2).clamp(min=0.0)
            x0c = obs.coords(x0)
            x0_hat = obs.replace(x0, x0c - lam * (x0c - ybar), valid)
            x_new = x0_hat + coef * (x - x0)
            if e > 0:
                z = rng.randn(*x.shape)
                free = x_new + e * z
                x_new = obs.replace(free, obs.coords(x_new) + gamma.sqrt() * obs.coords(z), valid)
            x = x_new
        return x
