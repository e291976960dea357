"""The posterior sampling step every task shares: noise-level estimation, then posterior samples.

Paper 3.3: "to sample from the posterior we start by first running algorithm 2 for a maximum of N_MLE
[iterations] to obtain an estimate [of the per-lead noise levels] that is then used to sample from the
posterior X | y, phi_{N_MLE} using algorithm 1". :class:`PosteriorSampler` is that two-step procedure
for a batch of ``P`` patients, a prior bound to a sampler of :mod:`ecgdiff.inverse` and the noise estimation
(:meth:`ecgdiff.tasks.context.TaskContext.provider` builds it). Tasks only see the protocol :class:`SamplesProvider`, so that their logic can be
checked against an exact posterior (a Gaussian prior) in the tests.

Arrays: conditioning ``cond [P, c]``; observation ``y [P, m]`` (the entries ``A x`` of each patient,
row-major, as the operators of :mod:`ecgdiff.inverse.operators` return them); noise levels
``sigma [P, m]`` per entry (or ``None``: estimate them); samples ``[P, n, L, T]`` numpy float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from .. import leads as leadlib
from ..inverse import NoiseEstimation
from ..inverse.operators import Linear, Mask


@dataclass(frozen=True)
class LinearObservation:
    """A linear observation ``y = A x`` of beats ``x [L, T]`` (flattened row-major to ``d = L T``).

    Either a boolean ``mask [L, T]`` (``y`` = the masked entries, row-major) or a dense ``matrix``,
    shared ``[m, d]`` or one per patient ``[P, m, d]``. ``groups [m]`` assigns each observed entry to a
    noise group (one per observed lead): the noise-level estimation fits one level per group.
    """

    x_shape: tuple[int, int]
    groups: np.ndarray
    mask: np.ndarray | None = None
    matrix: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.mask is None) == (self.matrix is None):
            raise ValueError("LinearObservation needs exactly one of mask and matrix")
        m = int(self.mask.sum()) if self.mask is not None else self.matrix.shape[-2]
        if self.mask is not None and tuple(self.mask.shape) != tuple(self.x_shape):
            raise ValueError(f"mask shape {self.mask.shape} is not x_shape {self.x_shape}")
        if self.matrix is not None and self.matrix.shape[-1] != int(np.prod(self.x_shape)):
            raise ValueError(f"matrix has {self.matrix.shape[-1]} columns for x_shape {self.x_shape}")
        if len(self.groups) != m:
            raise ValueError(f"{len(self.groups)} group ids for {m} observed entries")

    @classmethod
    def of_leads(
        cls, leads: Sequence[str], observed: Sequence[str], length: int, times: np.ndarray | slice | None = None
    ) -> LinearObservation:
        """Observe leads ``observed`` of signals with leads ``leads`` at ``times`` (all by default)."""
        return cls.from_mask(lead_time_mask(leads, observed, length, times))

    @classmethod
    def of_combinations(cls, weights: np.ndarray, length: int) -> LinearObservation:
        """Observe combinations of leads at every time: ``y[o, t] = sum_l weights[o, l] x[l, t]`` for each row ``o``
        of ``weights [O, L]`` (shared) or ``[P, O, L]`` (one per patient); one noise group per combination. The
        matrices (``[O T, L T]`` each, in the dtype of ``weights``: float32 halves their memory) are built densely,
        for a few hundred patients per call at most."""
        w = np.asarray(weights)
        w = w if w.dtype in (np.float32, np.float64) else w.astype(np.float64)
        n_obs, n_leads = w.shape[-2:]
        eye = np.eye(length, dtype=w.dtype)
        mats = np.einsum("...ol,ts->...otls", w, eye).reshape(*w.shape[:-2], n_obs * length, n_leads * length)
        return cls((n_leads, length), np.repeat(np.arange(n_obs), length), matrix=mats)

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> LinearObservation:
        """Observe the entries of ``mask [L, T]``; one noise group per observed lead (in lead order)."""
        mask = np.asarray(mask, dtype=bool)
        rows = np.nonzero(mask)[0]
        _, groups = np.unique(rows, return_inverse=True)
        return cls(tuple(mask.shape), groups.astype(np.int64), mask=mask)

    @property
    def m(self) -> int:
        return len(self.groups)

    @property
    def n_groups(self) -> int:
        return int(self.groups.max()) + 1

    @property
    def per_patient(self) -> bool:
        return self.matrix is not None and self.matrix.ndim == 3

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``[P, L, T] -> [P, m]``."""
        x = np.asarray(x)
        if self.mask is not None:
            return x[:, self.mask]
        flat = x.reshape(x.shape[0], -1)
        if self.per_patient:
            return np.einsum("pmd,pd->pm", self.matrix, flat)
        return flat @ self.matrix.T

    def dense(self, p: int = 0) -> np.ndarray:
        """The matrix ``[m, d]`` (of patient ``p`` when per patient)."""
        if self.mask is not None:
            a = np.zeros((self.m, int(np.prod(self.x_shape))))
            a[np.arange(self.m), np.flatnonzero(self.mask.ravel())] = 1.0
            return a
        return self.matrix[p] if self.per_patient else self.matrix

    def subset(self, idx: np.ndarray | slice) -> LinearObservation:
        """The observation of the patients ``idx`` (a no-op unless the matrix is per patient)."""
        if not self.per_patient:
            return self
        return LinearObservation(self.x_shape, self.groups, matrix=self.matrix[idx])

    def to_operator(self, n_patients: int, device: torch.device | str = "cpu") -> Any:
        """The :mod:`ecgdiff.inverse.operators` operator: one ``Mask`` or ``Linear``, or ``P`` ``Linear``."""
        if self.mask is not None:
            return Mask(torch.as_tensor(self.mask, device=device))
        if self.per_patient:
            if self.matrix.shape[0] != n_patients:
                raise ValueError(f"{self.matrix.shape[0]} per-patient matrices for {n_patients} patients")
            return [Linear(torch.as_tensor(a, dtype=torch.float32, device=device), self.x_shape) for a in self.matrix]
        return Linear(torch.as_tensor(self.matrix, dtype=torch.float32, device=device), self.x_shape)


def lead_time_mask(
    leads: Sequence[str], observed: Sequence[str], length: int, times: np.ndarray | slice | None = None
) -> np.ndarray:
    """Boolean mask ``[L, T]`` observing leads ``observed`` at ``times`` (all times by default)."""
    mask = np.zeros((len(leads), length), dtype=bool)
    rows = leadlib.indices(observed, leads)
    t = np.arange(length) if times is None else np.arange(length)[times]
    mask[np.ix_(rows, t)] = True
    return mask


class SamplesProvider(Protocol):
    """Estimate noise levels and draw posterior samples for a batch of patients."""

    def estimate_sigma(
        self, cond: np.ndarray | None, y: np.ndarray, obs: LinearObservation, generator: torch.Generator
    ) -> np.ndarray:
        """Per-group noise levels ``[P, G]`` (``obs.groups`` gives the group of each observed entry)."""
        ...

    def sample(
        self,
        cond: np.ndarray | None,
        y: np.ndarray,
        obs: LinearObservation,
        sigma: np.ndarray,
        n_samples: int,
        generator: torch.Generator,
    ) -> np.ndarray:
        """Posterior samples ``[P, n_samples, L, T]`` given per-entry noise levels ``sigma [P, m]``."""
        ...


def expand_groups(sigma_groups: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per-group levels ``[P, G]`` -> per-entry levels ``[P, m]``."""
    return np.asarray(sigma_groups)[:, np.asarray(groups)]


@dataclass
class PosteriorSampler:
    """A sampler of :mod:`ecgdiff.inverse` bound to a prior (the production :class:`SamplesProvider`).

    Attributes:
        prior: a :class:`ecgdiff.diffusion.prior.Prior` (or anything with ``denoiser(cond)``,
            ``conditional`` and ``device``).
        sampler: the sampler (:meth:`ecgdiff.inverse.SamplerSpec.build`).
        noise: the noise-level estimation (paper algorithm 2), or None when the task gives the noise levels.
        max_rows: at most this many states per denoiser call: the samples are drawn in consecutive
            chunks of ``max_rows // (P * particles)`` (``None``: all at once).
    """

    prior: Any
    sampler: Any
    noise: NoiseEstimation | None = None
    max_rows: int | None = None

    def __post_init__(self) -> None:
        self.device = getattr(self.prior, "device", torch.device("cpu"))

    def _denoiser(self, cond: np.ndarray | None):
        if not getattr(self.prior, "conditional", True):
            return self.prior.denoiser(None)
        return self.prior.denoiser(torch.as_tensor(cond, dtype=torch.float32))

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=self.device)

    def estimate_sigma(self, cond, y, obs, generator):
        if self.noise is None or self.noise.iterations <= 0:
            raise ValueError("noise-level estimation requested without iterations (noise_estimation.iterations = 0)")
        out = self.noise.estimate(
            self._denoiser(cond),
            self._tensor(y),
            obs.to_operator(len(y), self.device),
            groups=torch.as_tensor(obs.groups),
            generator=generator,
        )
        return out.detach().cpu().numpy().astype(np.float64)

    def sample(self, cond, y, obs, sigma, n_samples, generator):
        P = len(y)
        per_sample = P * int(getattr(self.sampler, "particles", 1))
        chunk = n_samples if not self.max_rows else max(1, int(self.max_rows) // per_sample)
        den = self._denoiser(cond)
        op = obs.to_operator(P, self.device)
        yt, st = self._tensor(y), self._tensor(sigma)
        parts = [
            self.sampler.sample_batch(den, yt, op, st, min(chunk, n_samples - i), generator)
            .detach()
            .cpu()
            .numpy()
            .astype(np.float32)
            for i in range(0, int(n_samples), chunk)
        ]
        return np.concatenate(parts, axis=1)


def sample_with_estimated_noise(
    provider: SamplesProvider,
    cond: np.ndarray | None,
    y: np.ndarray,
    obs: LinearObservation,
    n_samples: int,
    generator: torch.Generator,
    sigma_groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Paper 3.3's procedure: estimate the per-group noise levels (unless given), then sample.

    Returns ``(samples [P, n, L, T], sigma_groups [P, G])``.
    """
    if sigma_groups is None:
        sigma_groups = provider.estimate_sigma(cond, y, obs, generator)
    sigma_groups = np.asarray(sigma_groups, dtype=np.float64)
    samples = provider.sample(cond, y, obs, expand_groups(sigma_groups, obs.groups), n_samples, generator)
    return samples, sigma_groups


def batches(n: int, size: int | None) -> list[slice]:
    """Slices of ``range(n)`` of at most ``size`` items (one slice when ``size`` is None or 0; none when n = 0)."""
    if n == 0:
        return []
    if not size or size >= n:
        return [slice(0, n)]
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]
