"""RED-diff: variational posterior sampling with a denoising-diffusion regulariser (Mardani et al. 2023), VE/EDM form.

RED-diff fits a point ``mu`` (one per returned sample) by Adam on the variational objective of the paper
(eq. 13, with the ``sg`` stop-gradient trick: no Jacobian of the denoiser)::

    loss(mu) = 1/2 ||(y - A mu) / sigma_y||^2  +  lam * sum_v w_v  sg[eps_hat(x_v, v) - eps]^T mu,
    x_v = mu + v eps,  eps_hat = (x_v - D(x_v, v)) / v,

sweeping the noise levels once from high to low, one Adam step per level. ``weighting="linear"`` is the
paper's ``w_v = sigma_t / alpha_t``, which is ``v`` in VE form; ``"sqrt"`` is ``sqrt(v)``; ``"constant"`` is 1.
``mu`` starts at the pseudo-inverse ``A^+ y`` (observed coordinates at ``y``, the rest at 0 for a mask).

Cost per level: one denoiser evaluation, no vector-Jacobian product. RED-diff is an optimiser (its
variational family is a point mass): the returned samples differ only through the optimisation noise and
under-represent the posterior spread; see ``docs/inverse.md``. Needs ``sigma_y > 0``.

Defaults: 50 levels (the talk), linear weighting (the talk and the paper), Adam betas (0.9, 0.99) as in the
reference implementation, ``lam = 0.25`` (the paper's and InverseBench's value; with Adam's per-coordinate
normalisation the results hardly change for ``lam`` in 0.01..1 on the beat problems) and ``lr = 0.1`` (best of
0.03/0.1/0.3/1 on the 9 x 176 Gaussian-mixture beat problems; the talk used 0.3): see ``docs/inverse.md``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch

from .base import RNG, DenoiserCall, GridSampler, check_noise_positive, check_positive, register
from .operators import Observation


@register
@dataclasses.dataclass
class REDdiff(GridSampler):
    name: ClassVar[str] = "reddiff"
    lr: float = 0.1
    lam: float = 0.25
    weighting: str = "linear"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("lr", self.lr)
        check_positive("lam", self.lam, allow_zero=True)
        if self.weighting not in ("linear", "sqrt", "constant"):
            raise ValueError(f"weighting must be 'linear', 'sqrt' or 'constant', got {self.weighting!r}")

    def _weight(self, v: float) -> float:
        return {"linear": v, "sqrt": math.sqrt(v), "constant": 1.0}[self.weighting]

    def _run(self, den: DenoiserCall, obs: Observation, n: int, rng: RNG) -> torch.Tensor:
        check_noise_positive(obs, "reddiff")
        levels = [v for v in self.grid() if v > 0]
        ybar = obs.ybar[:, None, :]
        inv_var = torch.where(obs.valid, 1.0 / obs.std.clamp(min=1e-30) ** 2, torch.zeros_like(obs.std))[:, None, :]
        valid = obs.valid[:, None, :]
        x_init = obs.replace(
            torch.zeros(obs.P, n, obs.d, device=ybar.device, dtype=ybar.dtype), ybar.expand(obs.P, n, -1), valid
        )
        mu = x_init.clone().requires_grad_(True)
        opt = torch.optim.Adam([mu], lr=self.lr, betas=(0.9, 0.99))
        scale = 1.0 / obs.d  # objective per coordinate (Adam is scale-free up to its epsilon)
        for v in levels:
            eps = rng.randn(obs.P, n, obs.d)
            with torch.no_grad():
                xv = mu.detach() + v * eps
                eps_hat = (xv - den(xv, v)) / v
                reg = self.lam * self._weight(v) * (eps_hat - eps)
            with torch.enable_grad():
                opt.zero_grad(set_to_none=True)
                c = obs.coords(mu)
                data = 0.5 * (torch.where(valid, (c - ybar) ** 2, torch.zeros_like(c)) * inv_var).sum()
                loss = scale * (data + (reg * mu).sum())
                (mu.grad,) = torch.autograd.grad(loss, [mu])
            opt.step()
        return mu.detach()
