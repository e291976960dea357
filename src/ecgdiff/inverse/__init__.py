"""Posterior sampling for linear inverse problems with a diffusion (EDM denoiser) prior.

One interface for every sampler::

    from ecgdiff.inverse import Mask, get_sampler
    sampler = get_sampler("mcgdiff", particles=50)           # or dps, pgdm, ddnm, diffpir, reddiff, mgps
    x = sampler.sample(denoiser, y, Mask(mask), sigma_y=0.05, n_samples=100, generator=g)   # [100, *x_shape]
    xs = sampler.sample_batch(denoiser, ys, Mask(mask), sigma_y, n_samples=100)             # [P, 100, *x_shape]

``denoiser(x, sigma)`` is an EDM x0-denoiser (variance exploding: ``x_sigma = x0 + sigma * noise``).
See ``docs/inverse.md`` for each sampler's algorithm, defaults, accuracy against exact posteriors and speed.
"""

from . import ddnm, diffpir, dps, mcgdiff, mgps, pgdm, reddiff  # noqa: F401  (registration)
from .base import DenoiserCall, Sampler, SamplerSpec, available, default_options, get_sampler
from .noise import NoiseEstimation
from .operators import Linear, Mask, Observation, build_observation
from .smc import SMC

__all__ = [
    "Sampler",
    "get_sampler",
    "available",
    "default_options",
    "DenoiserCall",
    "Mask",
    "Linear",
    "Observation",
    "build_observation",
    "SamplerSpec",
    "NoiseEstimation",
    "SMC",
]
