"""Noise-level estimation: maximum likelihood of per-group observation stds by Monte-Carlo EM (paper 3.2).

The parameter ``phi = (sigma_1, ..., sigma_G)`` gives one noise std per group of observed coordinates (one
group per lead in the paper). The log-likelihood ``l(phi) = log ∫ g_0^{y,phi}(x) p_0(x) dx`` has, by Fisher's
identity (paper eq. 14), the gradient ``E_{phi_0^{y,phi}}[∇_phi log g_0^{y,phi}(X)]``, estimated with the particles
of MCGdiff runs (algorithm 1) under the current ``phi``, averaged over ``runs`` parallel runs (algorithm 2).

For the Gaussian likelihood ``log g_0 = sum_c [-log sigma_{g(c)} - (y_c - (A x)_c)^2 / (2 sigma_{g(c)}^2)]`` the
maximiser of the Monte-Carlo EM objective is closed form::

    sigma_g^2  <-  mean over particles and over the n_g coordinates c of group g of (y_c - (A x)_c)^2

(``method="em"``, the default: no step size to tune). ``method="gradient"`` takes instead the stochastic
gradient step ``log sigma_g += lr * (mean r^2 / sigma_g^2 - 1)`` on ``log sigma`` (the Fisher-identity gradient
divided by ``n_g``; ``lr = 0.5`` matches EM near the fixed point). Both start at ``init`` (paper: 1) and run
``iterations`` iterations (paper: N_MLE = 10): :class:`NoiseEstimation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from .base import RNG, DenoiserCall, check_finite, check_observations, check_positive
from .operators import Mask, Operator, _sigma_matrix, build_observation
from .smc import SMC

Tensor = torch.Tensor


def resolve_groups(operator: Operator | Sequence[Operator], groups: str | Tensor, m: int) -> Tensor:
    """Group id ``[m]`` (0..G-1) of each observed coordinate.

    ``"lead"``: one group per observed index of the first axis of a :class:`Mask` (all patients' masks must
    then group their observations identically); ``"all"``: a single group; a tensor is checked and returned.
    """
    if isinstance(groups, Tensor):
        g = groups.long().cpu()
        if g.shape != (m,):
            raise ValueError(f"groups must be [m] = [{m}], got {tuple(g.shape)}")
        if g.min() < 0 or set(g.unique().tolist()) != set(range(int(g.max()) + 1)):
            raise ValueError("group ids must be 0..G-1, each used at least once")
        return g
    if groups == "all":
        return torch.zeros(m, dtype=torch.long)
    if groups == "lead":
        ops = list(operator) if isinstance(operator, (list, tuple)) else [operator]
        if not all(isinstance(op, Mask) for op in ops):
            raise TypeError("noise groups 'lead' need Mask operators; pass explicit group ids for a Linear operator")
        g = ops[0].groups(0)
        for op in ops[1:]:
            if not torch.equal(op.groups(0), g):
                raise ValueError("noise groups 'lead' differ between the patients' masks; pass explicit group ids")
        return g
    raise ValueError(f"groups must be 'lead', 'all' or a tensor of ids, got {groups!r}")


@dataclass(frozen=True)
class NoiseEstimation:
    """Monte-Carlo EM estimation of per-group noise stds (paper algorithm 2), by runs of MCGdiff's SMC.

    ``iterations`` (N_MLE, paper: 10) EM iterations from ``init`` (paper: 1); each averages the squared residuals
    of ``runs`` parallel SMC runs (:class:`~.smc.SMC` ``smc``) of ``particles`` particles under the current
    estimate; ``method`` ``"em"`` (closed-form maximiser) or ``"gradient"`` (step ``lr`` on ``log sigma``). Defaults:
    the paper's (10 iterations, 50 particles as for sampling, 10 runs as the anchors' code, init 1).
    """

    iterations: int = 10
    runs: int = 10
    particles: int = 50
    init: float = 1.0
    method: str = "em"
    lr: float = 0.5
    smc: SMC = field(default_factory=SMC)

    def __post_init__(self) -> None:
        check_positive("iterations", self.iterations, allow_zero=True)
        check_positive("runs", self.runs)
        check_positive("particles", self.particles)
        check_positive("init", self.init)
        check_positive("lr", self.lr)
        if self.method not in ("em", "gradient"):
            raise ValueError(f"method must be 'em' or 'gradient', got {self.method!r}")
        if not isinstance(self.smc, SMC):
            raise TypeError(f"smc must be an ecgdiff.inverse.smc.SMC, got {type(self.smc).__name__}")

    def estimate(
        self,
        denoiser,
        ys: Tensor,
        operator: Operator | Sequence[Operator],
        groups: str | Tensor = "lead",
        init: float | Tensor | None = None,
        generator: torch.Generator | None = None,
        history: list | None = None,
    ) -> Tensor:
        """Estimated noise std per group ``[P, G]`` for ``P`` observations ``ys [P, m]`` (``[G]`` for one ``y [m]``).

        ``groups``: see :func:`resolve_groups`. ``init`` overrides :attr:`init`: a float, a per-group ``[G]``/``[P, G]``
        tensor, or a per-coordinate ``sigma_y`` (``[m]`` or ``[P, m]``, averaged within groups). When ``history`` is
        a list, the estimate after each iteration is appended to it.
        """
        ys = torch.as_tensor(ys)
        if ys.ndim == 1:
            init1 = init[None, :] if isinstance(init, Tensor) and init.ndim == 1 else init
            return self.estimate(denoiser, ys[None, :], operator, groups, init1, generator, history)[0]
        if not ys.is_floating_point():
            ys = ys.to(torch.get_default_dtype())
        check_observations(ys)
        if init is not None:
            check_finite("init (the initial noise stds)", init)
        P, m = ys.shape
        device, dtype = ys.device, ys.dtype
        g = resolve_groups(operator, groups, m).to(device)
        G = int(g.max()) + 1
        counts = torch.bincount(g, minlength=G).to(torch.float64)

        def group_mean(v: Tensor) -> Tensor:  # [P, m] -> [P, G]
            out = torch.zeros(P, G, dtype=torch.float64, device=device)
            out.index_add_(1, g, v.double())
            return out / counts.to(device)

        init_t = torch.as_tensor(self.init if init is None else init, dtype=torch.float64, device=device)
        if init_t.ndim == 0:
            phi = init_t.expand(P, G).clone()
        elif init_t.shape[-1] == m:  # per-coordinate sigma_y ([m] or [P, m]), averaged within groups
            phi = group_mean(
                _sigma_matrix(init_t if init_t.ndim == 2 else init_t[None, :].expand(P, m), P, m, device, torch.float64)
            )
        elif init_t.shape in ((G,), (P, G)):
            phi = init_t.expand(P, G).clone()
        else:
            raise ValueError(f"init must be a float, [G]={G}, [P, G], [m]={m} or [P, m]; got {tuple(init_t.shape)}")
        if bool((phi <= 0).any()):
            raise ValueError("initial noise stds must be > 0")

        rng = RNG(generator, device, dtype)
        for it in range(self.iterations):
            obs = build_observation(operator, ys, phi[:, g].to(dtype))
            den = DenoiserCall(denoiser, obs.x_shape)
            with torch.no_grad():
                parts, _ = self.smc.run(den, obs, self.runs, self.particles, rng)
            x = parts.reshape(P, -1, obs.d)
            r2 = ((ys[:, None, :] - obs.forward(x)) ** 2).double().mean(1)  # [P, m]
            ms = group_mean(r2)
            if self.method == "em":
                phi = ms.sqrt()
            else:
                phi = phi * torch.exp(self.lr * (ms / phi**2 - 1.0))
            if not bool(torch.isfinite(phi).all()):
                raise FloatingPointError(
                    f"noise estimation: the estimate is not finite after iteration {it + 1} "
                    f"(mean squared residual {ms.max().item():.3g}): are the observations in the prior's units?"
                )
            phi = phi.clamp(min=1e-8)
            if history is not None:
                history.append(phi.to(dtype).cpu().clone())
        return phi.to(dtype)
