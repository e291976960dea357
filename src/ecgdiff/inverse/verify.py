"""Checking posterior samplers against exact posteriors (Gaussian-mixture prior, linear-Gaussian observation).

A :class:`Problem` draws ``x ~ prior`` and ``y = A x + sigma_y * noise``; its exact posterior is a Gaussian mixture
(:func:`ecgdiff.inverse.gmm.posterior`). :func:`score` compares a sampler's draws with exact posterior draws:

- ``sw``: sliced Wasserstein-2 distance (POT, random directions) to an exact posterior sample set ``E1``;
- ``sw_ref``: the same distance between two independent exact sets ``E2`` and ``E1`` (Monte-Carlo floor);
- ``sw_prior``: distance between prior draws and ``E1`` (what ignoring ``y`` costs);
- ``sw_excess = (sw - sw_ref) / (sw_prior - sw_ref)``: 0 is as good as exact sampling, 1 as bad as the prior;
- ``mean_err``: ``||mean(samples) - E[x | y]||`` and ``mean_rel`` = that divided by ``||E[x] - E[x | y]||``;
  ``mean_err_ref`` is the error of the mean of ``n`` exact draws (Monte-Carlo floor);
- ``var_ratio``: total variance of the draws ``tr Cov(samples)`` over the exact ``tr Cov(x | y)`` (1 is right,
  below 1 under-dispersed); ``var_ratio_ref`` is the same for ``n`` exact draws.

Tolerances on ``sw_excess``/``mean_rel`` are therefore relative to the prior-to-posterior distance and, through
``sw_ref``, to the Monte-Carlo noise of equally sized exact sample sets. A sampler that ignores ``y`` scores
about 1 and fails them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import ot
import torch

from .gmm import DenseGMM, LowRankGMM, MaskPosterior, mask_posterior, posterior
from .operators import Linear, Mask, Operator, sigma_vector

Tensor = torch.Tensor


@dataclass
class Problem:
    """One linear inverse problem with a Gaussian-mixture prior and its exact posterior."""

    name: str
    prior: LowRankGMM
    operator: Operator
    sigma_y: float | Tensor
    x_true: Tensor
    y: Tensor
    posterior: DenseGMM | MaskPosterior = field(repr=False)


def make_problem(
    name: str,
    prior: LowRankGMM,
    operator: Operator,
    sigma_y: float | Tensor,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    lowrank: bool = False,
) -> Problem:
    """Draw ``x ~ prior`` and ``y = A x + sigma_y eps`` with ``generator``; compute the exact posterior (dense, or
    with ``lowrank`` the :class:`~ecgdiff.inverse.gmm.MaskPosterior` of a mask, which needs no ``d x d`` matrix)."""
    x = prior.sample(1, generator)[0]
    s = sigma_vector(sigma_y, operator.m, torch.device("cpu"), torch.float64)
    clean = (
        operator.forward(x[None].double())[0]
        if isinstance(operator, Mask)
        else Linear(operator.A.double(), operator.x_shape).forward(x[None])[0]
    )
    y = clean + s * torch.randn(operator.m, generator=generator, dtype=torch.float64)
    y = y.to(dtype)
    sig = sigma_y if not isinstance(sigma_y, Tensor) else sigma_y.to(dtype)
    post = mask_posterior(prior, operator, y.double(), s) if lowrank else posterior(prior, operator, y.double(), s)
    return Problem(name, prior, operator, sig, x, y, post)


def sliced_wasserstein(
    a: Tensor | np.ndarray, b: Tensor | np.ndarray, n_projections: int = 256, seed: int = 0
) -> float:
    """Sliced Wasserstein-2 distance between two sample sets ``[n, ...]`` (flattened), POT's estimator."""
    a = np.asarray(a.reshape(a.shape[0], -1).double().cpu() if isinstance(a, Tensor) else a, dtype=np.float64)
    b = np.asarray(b.reshape(b.shape[0], -1).double().cpu() if isinstance(b, Tensor) else b, dtype=np.float64)
    a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    return float(ot.sliced_wasserstein_distance(a, b, n_projections=n_projections, seed=seed))


@dataclass
class Reference:
    """Exact draws for scoring: two posterior sets, one prior set, and their distances."""

    exact: Tensor
    exact2: Tensor
    prior: Tensor
    mean: Tensor
    sw_ref: float
    sw_prior: float
    mean_err_ref: float
    mean_err_prior: float
    trace: float = float("nan")
    var_ratio_ref: float = float("nan")


def reference(problem: Problem, n: int, seed: int = 0, n_projections: int = 256) -> Reference:
    """Reference sets of ``n`` exact posterior draws (twice) and ``n`` prior draws."""
    g = torch.Generator().manual_seed(seed)
    e1 = problem.posterior.sample(n, g).reshape(n, -1)
    e2 = problem.posterior.sample(n, g).reshape(n, -1)
    pr = problem.prior.sample(n, g).reshape(n, -1)
    mean = problem.posterior.mean()
    trace = problem.posterior.trace()
    return Reference(
        e1,
        e2,
        pr,
        mean,
        sliced_wasserstein(e2, e1, n_projections, seed),
        sliced_wasserstein(pr, e1, n_projections, seed),
        float((e2.mean(0) - mean).norm()),
        float((problem.prior.mean() - mean).norm()),
        trace,
        float(e2.var(0).sum()) / trace,
    )


def score(samples: Tensor, ref: Reference, n_projections: int = 256, seed: int = 0) -> dict[str, float]:
    """Distances of ``samples [n, ...]`` to the exact posterior (see the module docstring)."""
    s = samples.reshape(samples.shape[0], -1).double().cpu()
    sw = sliced_wasserstein(s, ref.exact, n_projections, seed)
    mean_err = float((s.mean(0) - ref.mean).norm())
    return {
        "sw": sw,
        "sw_ref": ref.sw_ref,
        "sw_prior": ref.sw_prior,
        "sw_excess": (sw - ref.sw_ref) / max(ref.sw_prior - ref.sw_ref, 1e-12),
        "mean_err": mean_err,
        "mean_err_ref": ref.mean_err_ref,
        "mean_err_prior": ref.mean_err_prior,
        "mean_rel": mean_err / max(ref.mean_err_prior, 1e-12),
        "var_ratio": float(s.var(0).sum()) / ref.trace,
        "var_ratio_ref": ref.var_ratio_ref,
    }


def small_problems(x_shape: tuple[int, ...] = (3, 16), seed: int = 0) -> dict[str, Problem]:
    """The small problems of the unit tests (d = 48 by default): masks, per-lead noise, a Linear operator.

    - ``lead_missing``: all leads but the last observed (sigma 0.05);
    - ``span_missing``: the middle third of the time axis unobserved in every lead (sigma 0.1);
    - ``per_lead_noise``: the first two leads observed with stds 0.02 and 0.2;
    - ``linear``: ``d / 2`` random Gaussian projections ``A / sqrt(d)`` (sigma 0.05).
    """
    from .gmm import random_beatlike_gmm

    g = torch.Generator().manual_seed(seed)
    prior = random_beatlike_gmm(x_shape, n_components=3, rank=4, generator=g)
    L, T = x_shape
    out: dict[str, Problem] = {}
    m = torch.zeros(x_shape, dtype=torch.bool)
    m[: L - 1] = True
    out["lead_missing"] = make_problem("lead_missing", prior, Mask(m), 0.05, g)
    m = torch.ones(x_shape, dtype=torch.bool)
    m[:, T // 3 : 2 * T // 3] = False
    out["span_missing"] = make_problem("span_missing", prior, Mask(m), 0.1, g)
    m = torch.zeros(x_shape, dtype=torch.bool)
    m[:2] = True
    hetero = Mask(m)
    sig = torch.tensor([0.02, 0.2])[hetero.groups(0)]
    out["per_lead_noise"] = make_problem("per_lead_noise", prior, hetero, sig, g)
    A = torch.randn(max(2, (L * T) // 2), L * T, generator=g, dtype=torch.float64) / (L * T) ** 0.5
    out["linear"] = make_problem("linear", prior, Linear(A.float(), x_shape), 0.05, g)
    return out


def beat_problems(n_time: int = 176, seed: int = 0, n_components: int = 4, rank: int = 16) -> dict[str, Problem]:
    """Beat-shaped problems (9 paper leads x ``n_time``) for the accuracy benchmark.

    - ``precordial_missing``: aVL, aVR, aVF observed (sigma 0.05), V1-V6 to reconstruct (the MI task);
    - ``lead_missing``: every lead but V3 observed (sigma 0.05; the missing-lead task);
    - ``span_missing``: all leads, a third of the beat (from 1/3 to 2/3 of the window) unobserved (sigma 0.05);
    - ``denoise_per_lead``: everything observed with per-lead stds drawn from an exponential law of mean 0.2
      (the denoising task, paper 3.3.1);
    - ``linear``: ``m = d / 8`` random Gaussian projections ``A / sqrt(d)`` (sigma 0.05).
    """
    from .. import leads as L
    from .gmm import random_beatlike_gmm

    names = L.PAPER_9
    shape = (len(names), n_time)
    d = shape[0] * shape[1]
    g = torch.Generator().manual_seed(seed)
    prior = random_beatlike_gmm(shape, n_components=n_components, rank=rank, generator=g)
    out: dict[str, Problem] = {}
    m = torch.zeros(shape, dtype=torch.bool)
    m[L.indices(["aVL", "aVR", "aVF"], names)] = True
    out["precordial_missing"] = make_problem("precordial_missing", prior, Mask(m), 0.05, g)
    m = torch.ones(shape, dtype=torch.bool)
    m[L.indices(["V3"], names)] = False
    out["lead_missing"] = make_problem("lead_missing", prior, Mask(m), 0.05, g)
    m = torch.ones(shape, dtype=torch.bool)
    m[:, n_time // 3 : 2 * n_time // 3] = False
    out["span_missing"] = make_problem("span_missing", prior, Mask(m), 0.05, g)
    full = Mask(torch.ones(shape, dtype=torch.bool))
    per_lead = torch.distributions.Exponential(torch.tensor(5.0, dtype=torch.float64))
    torch.manual_seed(seed)  # Exponential.sample has no generator argument
    stds = per_lead.sample((shape[0],)).float()
    out["denoise_per_lead"] = make_problem("denoise_per_lead", prior, full, stds[full.groups(0)], g)
    A = torch.randn(d // 8, d, generator=g, dtype=torch.float64) / d**0.5
    out["linear"] = make_problem("linear", prior, Linear(A.float(), shape), 0.05, g)
    return out


def rhythm_problems(
    n_time: int = 32,
    length: int = 30,
    seed: int = 0,
    n_components: int = 3,
    rank: int = 8,
    period: float = 8.0,
    sigma_y: float = 0.05,
) -> dict[str, Problem]:
    """Rhythm-shaped problems: the missing-lead settings of the talk's table on the modelled leads.

    Prior: :func:`ecgdiff.inverse.gmm.random_rhythmlike_gmm` over ``[8, n_time]`` (the leads of
    :data:`ecgdiff.leads.BASIS`, the first ``length`` samples valid, the rest padding). Every problem observes
    its leads over the valid samples only (the padding is never observed), with std ``sigma_y`` (the talk's
    likelihood std, 0.05):

    - ``lead_I``: lead I alone (the talk's table);
    - ``limb``: I and II (the six limb leads);
    - ``without_V3``: every modelled lead but V3.
    """
    from .. import leads as L
    from .gmm import random_rhythmlike_gmm

    names = L.BASIS
    shape = (len(names), int(n_time))
    g = torch.Generator().manual_seed(seed)
    prior = random_rhythmlike_gmm(n_time, length, names, n_components, rank, period, generator=g)
    out: dict[str, Problem] = {}
    for key, observed in (("lead_I", ["I"]), ("limb", ["I", "II"]), ("without_V3", [n for n in names if n != "V3"])):
        m = torch.zeros(shape, dtype=torch.bool)
        m[L.indices(observed, names), :length] = True
        out[key] = make_problem(key, prior, Mask(m), sigma_y, g)
    return out


def run_accuracy(
    problems: dict[str, Problem],
    samplers: list[tuple[str, str, dict]],
    n: int,
    seed: int = 0,
    refs: dict[str, Reference] | None = None,
    device: str = "cpu",
    log=print,
) -> list[dict]:
    """Score every ``(label, sampler name, options)`` on every problem with ``n`` draws (seeded).

    Returns one row per (sampler, problem) with the :func:`score` fields, the wall time and the number of
    denoiser calls.
    """
    import time

    from .base import get_sampler

    refs = refs or {k: reference(p, n, seed) for k, p in problems.items()}
    rows = []
    for label, name, opts in samplers:
        for key, prob in problems.items():
            sampler = get_sampler(name, **opts)
            prior = prob.prior.to(device)
            y = prob.y.to(device)
            sig = prob.sigma_y.to(device) if isinstance(prob.sigma_y, Tensor) else prob.sigma_y
            gen = torch.Generator(device=device).manual_seed(seed + 1)
            t0 = time.perf_counter()
            try:
                x = sampler.sample(prior, y, prob.operator.to(device), sig, n, generator=gen)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                row = score(x.cpu(), refs[key], seed=seed)
            except ValueError as err:  # e.g. a sampler that needs sigma_y > 0
                row = {"error": str(err)}
            row.update(
                sampler=label,
                problem=key,
                seconds=time.perf_counter() - t0,
                denoiser_calls=getattr(sampler, "last_calls", float("nan")),
            )
            diag = getattr(sampler, "last_diagnostics", None)
            if diag and diag.get("ess"):  # MCGdiff: effective sample size before each resampling
                guided = [e for e in diag["ess"] if e < sampler.particles - 1e-6] or [float(sampler.particles)]
                row.update(
                    ess_mean=sum(diag["ess"]) / len(diag["ess"]),
                    ess_min=min(diag["ess"]),
                    ess_mean_guided=sum(guided) / len(guided),
                )
            rows.append(row)
            if log:
                log(
                    f"{label:28s} {key:20s} " + " ".join(f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float))
                )
    return rows
