"""MCGdiff: Sequential Monte Carlo guided diffusion (Cardoso et al. 2023; beat paper section 3.1, algorithm 1).

The ``n_samples`` posterior draws are ``n_samples`` independent runs of the SMC of :mod:`ecgdiff.inverse.smc`
(where the algorithm, its guiding functions and its noise levels are described) with one particle drawn per
run (anchors: 20 EDM steps, 50 particles, 100 runs).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from .base import RNG, DenoiserCall, GridSampler, check_positive, register
from .operators import Observation
from .smc import SMC

Tensor = torch.Tensor


@register
@dataclasses.dataclass
class MCGdiff(GridSampler):
    """MCGdiff posterior sampler: ``n_samples`` independent SMC runs (:class:`~.smc.SMC`) of ``particles``
    particles, one particle drawn from each run.

    Defaults (beat problem, 9 x 176, EDM sigma in [2e-4, 80]): ``steps=20`` and ``particles=50`` are the paper's
    (appendix 6.3: the particle count where the EMD to a 10^4-particle reference flattens); the SMC's own options
    (``eta``, ``delta``, ``resampling``, ``levels``, ``max_extra_levels``) and their reasons are in :class:`~.smc.SMC`.
    Noise-level estimation (paper algorithm 2) is :class:`ecgdiff.inverse.noise.NoiseEstimation`, which runs the
    same SMC (:attr:`smc`).
    """

    name: ClassVar[str] = "mcgdiff"
    steps: int = 20
    particles: int = 50
    eta: float = 1.0
    delta: float = 0.0
    resampling: str = "systematic"
    levels: str = "insert"
    max_extra_levels: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("particles", self.particles)
        self.smc = SMC(
            steps=self.steps,
            eta=self.eta,
            delta=self.delta,
            resampling=self.resampling,
            levels=self.levels,
            max_extra_levels=self.max_extra_levels,
            sigma_min=self.sigma_min,
            sigma_max=self.sigma_max,
            rho=self.rho,
        )

    def _run(self, den: DenoiserCall, obs: Observation, n: int, rng: RNG) -> Tensor:
        parts, diag = self.smc.run(den, obs, n, self.particles, rng)
        self.last_diagnostics = diag
        P, R, M, d = parts.shape
        pick = rng.randint(M, P, R)
        return torch.gather(parts, 2, pick[:, :, None, None].expand(P, R, 1, d)).squeeze(2)
