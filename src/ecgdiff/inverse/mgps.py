"""MGPS: midpoint guidance posterior sampling (Moufad et al. 2025; the talk), in the VE/EDM parametrisation.

Index the grid from the data up: ``t_0 = 0 < t_1 = sigma_min < ... < t_K = sigma_max``. The posterior
backward transition from ``k+1`` to ``k`` is decomposed through a midpoint ``l = l_k <= k``::

    pi(x_k | x_{k+1}) = ∫ q_{k|l,k+1}(x_k | x_l, x_{k+1}) pi_hat(x_l | x_{k+1}) dx_l,
    pi_hat(x_l | x_{k+1}) ∝ g_0(y | D(x_l, t_l)) p_{l|k+1}(x_l | x_{k+1}),

where ``p_{l|k+1} ∝ q_{k+1|l}(x_{k+1} | x_l) p_l(x_l)`` is the prior's backward transition and ``q_{k|l,k+1}``
the Brownian bridge of the VE forward process between levels ``t_l`` and ``t_{k+1}``. ``pi_hat`` is fitted by a
diagonal Gaussian ``N(m, diag(s^2))`` (Adam on ``(m, log s)``, one reparametrised sample per gradient step)
minimising ``KL(N(m, s^2) || pi_hat)``; then ``x_l ~ N(m, s^2)`` and ``x_k ~ q_{k|l,k+1}(. | x_l, x_{k+1})``.
The last state ``x_1`` is returned denoised, ``D(x_1, t_1)``.

The prior transition in the KL (``prior_transition``):

- ``"gaussian"``: its Gaussian (DDPM posterior) surrogate ``q_{l|0,k+1}(x_l | D(x_{k+1}, t_{k+1}),
  x_{k+1})``, mean ``x0 + (t_l^2 / t_{k+1}^2)(x_{k+1} - x0)`` and std ``posterior_std(t_{k+1}, t_l)``: the KL
  term is closed form (the paper's objective); it needs the denoising of the current state;
- ``"gaussian_midpoint"``: the same surrogate centred on the previous step's midpoint denoising
  ``D(x_l', t_l')`` in place of ``D(x_{k+1}, t_{k+1})`` (one denoising fewer per step, an approximation:
  ``x_{k+1}`` is bridged from ``x_l'``, so this is a one-draw estimate of ``E[x_0 | x_{k+1}]``);
- ``"score"`` (default): the exact ``q_{k+1|l}(x_{k+1} | x_l) p_l(x_l)``: the forward term is closed form and the
  gradient of ``E log p_l`` is reparametrised through Tweedie's score ``(D(x_l, t_l) - x_l) / t_l^2`` of the same
  denoising that the likelihood needs (the authors' code, ``_elbo`` of their ``mgps.py``): no denoising of the
  current state, so one call fewer per step, and the fit converges to the exact transition, not its surrogate.

Initial variational law: std ``posterior_std(t_{k+1}, t_l)``; mean the surrogate mean computed from the
previous step's midpoint denoising ``D(x_l, t_l)`` (``warm_start``, as in the authors' code) or from the current
state's denoising ``D(x_{k+1}, t_{k+1})``. With ``ddim_init_steps > 0`` the first step's warm start is the
denoising of ``ddim_init_steps`` unguided ancestral DDIM steps from ``sigma_max`` down to the first midpoint (the
authors' code: 200 steps in DDPM time), instead of ``D(x_K, t_K)``.

Midpoint rule (``midpoint = 0.5`` is the talk's ``l_k = floor(k/2)``), read in one of four clocks:

- ``"edm"`` (default): EDM's time is the noise level itself (``sigma(t) = t``), so the midpoint of the step to
  level ``t_k`` is the level ``midpoint * t_k``;
- ``"ddpm"``: half the time of the talk's DDPM chain (1000 steps, linear betas 1e-4..0.02) at the TARGET level,
  mapped to VE levels;
- ``"ddpm_current"``: half the DDPM time of the CURRENT level ``t_{k+1}`` (the authors' ``int(alpha * t)`` with
  ``t`` the step's current DDPM time: noise level 3.4 on their first step, from 156 to 126);
- ``"index"``: half the index of the Karras grid.

The midpoint need not be a grid level (the denoiser takes any sigma); it is kept in ``[t_1, t_k]``. The DDPM
rules put the midpoint far below the target in the noisy half of the chain (3.4 on the step from 156 to 126), and
the index rule too (the Karras grid packs half its levels below sigma = 0.5).

Gradient steps (``grad_step_schedule``): ``grad_steps`` per diffusion step, and ``window_grad_steps`` in a window
of ``window_size`` steps at the noisy end of the chain (``window = "first"``, the authors' code: their loop index
runs from ``n - 1`` down and the rule is ``i >= n_steps - 10``) or at the clean end (``"last"``).

The variational mean is optimised in VP units (``m = sqrt(1 + t_l^2) m'``, Adam on ``m'``): DDPM's
``x_vp = x_ve / sqrt(1 + sigma^2)``, so the reference's learning rate keeps its meaning at every noise level.

Denoiser calls per step: ``1 + g`` with ``g`` gradient steps (``g`` of them with a vector-Jacobian product),
except for ``prior_transition="gaussian"`` with ``warm_start``, which needs both the current state's and the
midpoint's denoising: ``2 + g``, or ``1 + g`` on the steps whose midpoint is their target (then the state is the
midpoint draw and its denoising is reused, exactly). Needs ``sigma_y > 0``. No clipping.

Defaults. From the talk and the authors' code: 50 steps, Adam ``lr = 3e-2``, ``midpoint = 0.5``, 5 gradient
steps per step and 10 in a window of 10 steps, the warm start from the previous midpoint. Chosen by measurement
against exact Gaussian-mixture posteriors (``benchmarks/mgps_schedule.py``, ``benchmarks/inverse_accuracy.py``;
the tables are in docs/inverse.md), where they differ from the authors' code:

- ``prior_transition="score"`` (the authors'; ours was ``"gaussian"``): as accurate or better from d = 256 up
  and with more gradient steps everywhere, and ``1 + g`` calls instead of ``2 + g`` (9 x 176 beat problems:
  ``sw_excess`` 0.0002-0.0008 against 0.008-0.010, variance ratio 0.95-1.07 against 1.44-1.54);
  ``"gaussian_midpoint"`` (the one-call reuse of the surrogate) is an approximation and measured worse;
- ``window="last"`` (ours; the authors' is ``"first"``): with the EDM midpoint the extra steps are worth most at
  the clean end, where they remove the over-dispersion (beat problems: 0.0002-0.0008 against 0.06-0.11 with the
  first window; the rhythm shape 8 x 1024: 0.13 against 0.15); the first window is better only on the smallest
  problems (d = 64, 256) and with the DDPM midpoint;
- ``midpoint_rule="edm"`` (ours): the authors' ``"ddpm_current"`` keeps the noisy half of the chain's midpoints
  at levels 0.3-3, which the short fits cannot use: ``sw_excess`` 0.28-1.0 against 0.05-0.16 from d = 256 up;
- ``ddim_init_steps=0`` (ours): their DDIM warm start starts each draw's fits from an unguided prior draw and
  measured worse at every size (0.24-1.4 against 0.17-1.0 with the same midpoint rule).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch

from ..diffusion import schedule
from .base import RNG, DenoiserCall, GridSampler, check_noise_positive, check_positive, register
from .operators import Observation

MIDPOINT_RULES = ("edm", "ddpm", "ddpm_current", "index")
PRIOR_TRANSITIONS = ("gaussian", "gaussian_midpoint", "score")
WINDOWS = ("first", "last")
SCALINGS = ("vp", "none", "prior_std")


def grad_step_schedule(n: int, grad_steps: int, window_grad_steps: int, window_size: int, window: str) -> list[int]:
    """Adam steps of each of ``n`` MGPS steps, noisiest first: ``window_grad_steps`` in the ``window_size`` steps
    at the noisy (``window="first"``) or clean (``"last"``) end of the chain, ``grad_steps`` elsewhere."""
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")
    inside = range(min(window_size, n)) if window == "first" else range(max(n - window_size, 0), n)
    out = [grad_steps] * n
    for j in inside:
        out[j] = window_grad_steps
    return out


def midpoint_level(rule: str, midpoint: float, t: list[float], i: int) -> float:
    """Noise level of the midpoint of the step from ``t[i]`` to ``t[i - 1]`` on the increasing grid ``t``
    (``t[0] = 0``), kept in ``[t[1], t[i - 1]]``."""
    k = i - 1
    if rule == "index":
        return t[min(max(1, int(math.floor(midpoint * k))), k)]
    if rule == "edm":
        level = midpoint * t[k]
    elif rule == "ddpm":  # half the DDPM time of the target level
        level = ddpm_sigma(midpoint * ddpm_time(t[k]))
    elif rule == "ddpm_current":  # half the DDPM time of the current level (the authors' int(alpha * t))
        level = ddpm_sigma(midpoint * ddpm_time(t[i]))
    else:
        raise ValueError(f"midpoint_rule must be one of {MIDPOINT_RULES}, got {rule!r}")
    return min(max(level, t[1]), t[k])


@register
@dataclasses.dataclass
class MGPS(GridSampler):
    name: ClassVar[str] = "mgps"
    midpoint: float = 0.5
    midpoint_rule: str = "edm"
    lr: float = 3e-2
    grad_steps: int = 5
    window_grad_steps: int = 10
    window_size: int = 10
    window: str = "last"
    prior_transition: str = "score"
    warm_start: bool = True
    ddim_init_steps: int = 0
    scaling: str = "vp"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < 2:
            raise ValueError("mgps needs steps >= 2")
        if not 0.0 <= self.midpoint <= 1.0:
            raise ValueError(f"midpoint must be in [0, 1], got {self.midpoint}")
        check_positive("lr", self.lr)
        check_positive("grad_steps", self.grad_steps, allow_zero=True)
        check_positive("window_grad_steps", self.window_grad_steps, allow_zero=True)
        check_positive("window_size", self.window_size, allow_zero=True)
        check_positive("ddim_init_steps", self.ddim_init_steps, allow_zero=True)
        for key, allowed in (
            ("midpoint_rule", MIDPOINT_RULES),
            ("prior_transition", PRIOR_TRANSITIONS),
            ("window", WINDOWS),
            ("scaling", SCALINGS),
        ):
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key} must be one of {allowed}, got {getattr(self, key)!r}")
        if self.prior_transition == "gaussian_midpoint" and not self.warm_start:
            raise ValueError(
                "prior_transition='gaussian_midpoint' centres on the midpoint denoising: it needs warm_start"
            )
        if self.ddim_init_steps and not self.warm_start:
            raise ValueError("ddim_init_steps > 0 sets the warm start of the first step: it needs warm_start=True")

    def schedule(self) -> list[int]:
        """Adam steps of each diffusion step (``steps - 1`` of them), noisiest first."""
        return grad_step_schedule(
            self.steps - 1, self.grad_steps, self.window_grad_steps, self.window_size, self.window
        )

    def _run(self, den: DenoiserCall, obs: Observation, n: int, rng: RNG) -> torch.Tensor:
        check_noise_positive(obs, "mgps")
        t = self.grid()[::-1]  # t[0] = 0 < t[1] = sigma_min < ... < t[K] = sigma_max
        K = len(t) - 1
        counts = self.schedule()
        gaussian = self.prior_transition != "score"
        reuse = self.prior_transition == "gaussian_midpoint"
        x = rng.randn(obs.P, n, obs.d) * t[K]
        need_first = self.prior_transition == "gaussian" or not self.warm_start or not self.ddim_init_steps
        x0_current = den(x, t[K]) if need_first else None
        pred_x0 = None
        if self.warm_start:
            pred_x0 = x0_current if not self.ddim_init_steps else self._ddim_x0(den, x, t, rng)
        for j, i in enumerate(range(K, 1, -1)):
            k = i - 1
            ti, tk = t[i], t[k]
            tl = midpoint_level(self.midpoint_rule, self.midpoint, t, i)
            if reuse:
                x0_current = pred_x0  # an approximation of D(x_{k+1}, t_{k+1}), one call fewer
            elif x0_current is None and (gaussian or not self.warm_start):
                x0_current = den(x, ti)
            ratio = tl * tl / (ti * ti)
            prior_std = schedule.posterior_std(ti, tl)
            init = pred_x0 if self.warm_start else x0_current
            unit = self._unit(tl, prior_std)
            m = ((init + ratio * (x - init)) / unit).clone().requires_grad_(True)  # mean in Adam's units
            logs = torch.full_like(x, math.log(prior_std)).requires_grad_(True)
            if gaussian:
                prior_mean = x0_current + ratio * (x - x0_current)
            fwd_var = ti * ti - tl * tl
            if counts[j] > 0:
                opt = torch.optim.Adam([m, logs], lr=self.lr)
                for _ in range(counts[j]):
                    with torch.enable_grad():
                        opt.zero_grad(set_to_none=True)
                        s = logs.exp()
                        xl = unit * m + s * rng.randn(*x.shape)
                        x0_l = den(xl, tl)
                        if gaussian:  # KL(N(m, s^2) || N(prior_mean, prior_std^2)) up to a constant
                            kl = -logs.sum() + (((unit * m - prior_mean) ** 2).sum() + (s * s).sum()) / (
                                2 * prior_std**2
                            )
                        else:  # -H - E log q(x_{k+1} | x_l) - E log p_l(x_l), the last by its reparametrised score
                            score = ((x0_l - xl) / (tl * tl)).detach()
                            fwd = (((x - unit * m) ** 2).sum() + (s * s).sum()) / (2 * fwd_var)
                            kl = -logs.sum() + fwd - (xl * score).sum()
                        nll = 0.5 * obs.residual_norm2(x0_l, whiten=True).sum()
                        # gradients for (m, log s) only: never touch the denoiser's parameters
                        m.grad, logs.grad = torch.autograd.grad(kl + nll, [m, logs])
                    opt.step()
            with torch.no_grad():
                xl = unit * m.detach() + logs.detach().exp() * rng.randn(*x.shape)
                x0_current = None
                if tl >= tk:  # the midpoint is the target: the state is the midpoint draw
                    x = xl
                else:
                    span = ti * ti - tl * tl
                    a = (tk * tk - tl * tl) / span
                    var = (tk * tk - tl * tl) * (ti * ti - tk * tk) / span
                    x = xl + a * (x - xl) + math.sqrt(max(var, 0.0)) * rng.randn(*x.shape)
                if self.warm_start and i > 2:
                    pred_x0 = den(xl, tl)
                    if tl >= tk:
                        x0_current = pred_x0  # D(x_k, t_k) of the next step, the same evaluation
        return den(x, t[1]).detach()

    def _ddim_x0(self, den: DenoiserCall, x: torch.Tensor, t: list[float], rng: RNG) -> torch.Tensor:
        """Denoising at the first midpoint after ``ddim_init_steps`` unguided ancestral DDIM steps from ``t[K]``
        (Karras spacing between the two levels; the chain's own state is left as it is)."""
        K = len(t) - 1
        tl = midpoint_level(self.midpoint_rule, self.midpoint, t, K)
        if self.ddim_init_steps < 2 or tl >= t[K]:
            return den(x, tl)
        levels = schedule.karras_sigmas(self.ddim_init_steps, tl, t[K], self.rho)[:-1].tolist()
        z = x
        for v, v_next in zip(levels[:-1], levels[1:]):
            std = schedule.ddim_eta(v, v_next, 1.0)
            z = schedule.ddim_mean(z, den(z, v), v, v_next, std) + std * rng.randn(*z.shape)
        return den(z, tl)

    def _unit(self, level: float, prior_std: float) -> float:
        if self.scaling == "vp":
            return math.sqrt(1.0 + level * level)
        if self.scaling == "prior_std":
            return prior_std
        return 1.0


#: The DDPM schedule of the talk's rhythm prior (linear betas over T steps), used to place MGPS's midpoint.
DDPM_T, DDPM_BETA_MIN, DDPM_BETA_MAX = 1000, 1e-4, 0.02


def ddpm_time(sigma: float) -> float:
    """Continuous DDPM time ``t`` with ``sigma^2 = 1 / alpha_bar(t) - 1`` for the linear-beta schedule."""
    B = math.log1p(sigma * sigma)  # -log alpha_bar = b0 t + (b1 - b0) t^2 / (2 T)
    a = (DDPM_BETA_MAX - DDPM_BETA_MIN) / (2 * DDPM_T)
    return (-DDPM_BETA_MIN + math.sqrt(DDPM_BETA_MIN**2 + 4 * a * B)) / (2 * a)


def ddpm_sigma(time: float) -> float:
    """VE noise level of DDPM time ``time`` (inverse of :func:`ddpm_time`)."""
    B = DDPM_BETA_MIN * time + (DDPM_BETA_MAX - DDPM_BETA_MIN) * time * time / (2 * DDPM_T)
    return math.sqrt(math.expm1(B))
