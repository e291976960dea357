"""The sequential Monte Carlo of MCGdiff (Cardoso et al. 2023; beat paper section 3.1, algorithm 1).

The one place of this SMC: posterior sampling (:class:`ecgdiff.inverse.mcgdiff.MCGdiff`) and the noise-level
estimation of algorithm 2 (:class:`ecgdiff.inverse.noise.NoiseEstimation`) both run :meth:`SMC.run`.

Setting (variance exploding / EDM). The observation, in its diagonal form
(:mod:`ecgdiff.inverse.operators`), is ``ybar_c = x_c + sigma_c eps_c`` along orthonormal directions ``c``
(coordinates of a mask, right singular vectors of a ``Linear`` operator). The backward kernel of the prior is
``p_k(x_k | x_{k+1}) = N(mu_k(x_{k+1}), eta_k^2 I)`` with ``mu_k`` the VE/DDIM mean
(:func:`ecgdiff.diffusion.schedule.ddim_mean`) of the denoised estimate ``D(x_{k+1}, v_{k+1})`` and ``eta_k``
the ancestral noise std (:func:`~ecgdiff.diffusion.schedule.ddim_eta`).

Guiding functions (paper eq. 9): with ``V_k = {c : v_k >= sigma_c}`` (a coordinate enters only while the
diffusion level is at least its noise std, i.e. for ``k >= tau_c``)::

    g_k(x) = prod_{c in V_k} N(x_c; ybar_c, s2_kc),     s2_kc = v_k^2 - (1 - delta) sigma_c^2.

Each SMC step (algorithm 1) from level ``k+1`` to ``k``, for ``M`` particles ``xi``:

1. weights ``w~(xi) = L_k(xi) / g_{k+1}(xi)`` with ``L_k(xi) = prod_{c in V_k} N(mu_k(xi)_c; ybar_c, eta_k^2 + s2_kc)``;
2. ancestors ``I ~ Cat(w~)`` (multinomial or systematic resampling);
3. new particles from the auxiliary kernel ``p_k^y(. | xi_I) ∝ g_k(x) p_k(x | xi_I)``: free coordinates
   ``N(mu_c, eta_k^2)``, guided ones ``N((eta^2 ybar_c + s2 mu_c)/(eta^2 + s2), eta^2 s2/(eta^2 + s2))``.

Everything is in log space; the ``P x runs x particles`` states are one tensor (no Python loop over particles
or runs). The ``n_samples`` posterior draws are ``n_samples`` independent SMC runs with one particle drawn per run
(anchors: 20 EDM steps, 50 particles, 100 runs).

The ``tau`` levels. MCGdiff is exact (in the ideal-prior limit, [9, Prop. 2.3]) when every noise std
``sigma_c`` is a level of the grid: at ``v_tau = sigma_c`` the guide with ``delta = 0`` pins ``x_tau[c] = ybar_c``,
which has exactly the law of the observation. Like the original code, which places time steps at the
singular-value-dependent levels, ``levels="insert"`` (default) adds the distinct noise stds of each patient
to the Karras grid (at most ``max_extra_levels`` of them; beyond that, representative stds are inserted and the
others are snapped up to the next level, a small documented bias). ``levels="snap"`` keeps the plain Karras
grid, so each coordinate enters up to the smallest level above its std (the paper's ``v_tau ≈ sigma``),
which blurs the observation. Noiseless coordinates (``sigma = 0``) are treated as observed with the smallest
grid level ``sigma_min`` (2e-4) and set to ``y`` in the returned samples. Patients of one batch each have
their own grid; grids with fewer inserted levels are padded with repeated levels, which are exact identity
steps, so every patient's chain is the one it would have alone.
"""

from __future__ import annotations

import dataclasses

import torch

from ..diffusion import schedule
from .base import RNG, DenoiserCall, check_grid, check_positive
from .operators import Observation

Tensor = torch.Tensor


def patient_levels(base: list[float], std: Tensor, valid: Tensor, mode: str, max_extra: int) -> Tensor:
    """Per-patient decreasing noise grids ``[P, L + 1]`` (float64) from the Karras grid ``base``.

    ``std``/``valid`` ``[P, r]`` are the diagonal-form noise stds. ``mode="insert"`` adds each patient's
    distinct positive stds below ``base[0]`` (at most ``max_extra``, chosen at evenly spaced ranks), then pads
    every grid to the same length by repeating its smallest positive level.
    """
    if mode not in ("insert", "snap"):
        raise ValueError(f"levels must be 'insert' or 'snap', got {mode!r}")
    P = std.shape[0]
    grids: list[list[float]] = []
    for p in range(P):
        levels = [v for v in base if v > 0]
        if mode == "insert":
            s = std[p][valid[p]].double()
            s = torch.unique(s[(s > 0) & (s < base[0])]).tolist()
            if len(s) > max_extra:
                pick = torch.linspace(0, len(s) - 1, max_extra).round().long().tolist()
                s = [s[i] for i in sorted(set(pick))]
            present = set(levels)
            levels = sorted(present.union(v for v in s if v not in present), reverse=True)
        grids.append(levels)
    L = max(len(g) for g in grids)
    out = torch.zeros(P, L + 1, dtype=torch.float64)
    for p, g in enumerate(grids):
        g = g + [g[-1]] * (L - len(g))
        out[p, :L] = torch.tensor(g, dtype=torch.float64)
    return out


def _resample(logw: Tensor, rng: RNG, method: str) -> Tensor:
    """Ancestor indices ``[..., M]`` drawn from the categorical laws ``softmax(logw)`` over the last axis."""
    M = logw.shape[-1]
    w = torch.softmax(logw.double(), dim=-1)
    cdf = torch.cumsum(w, dim=-1)
    cdf = cdf / cdf[..., -1:]
    if method == "multinomial":
        u = rng.rand(*logw.shape).double()
    elif method == "systematic":
        u0 = rng.rand(*logw.shape[:-1], 1).double()
        u = (u0 + torch.arange(M, device=logw.device, dtype=torch.float64)) / M
    else:
        raise ValueError(f"resampling must be 'multinomial' or 'systematic', got {method!r}")
    return torch.searchsorted(cdf, u.contiguous()).clamp_(max=M - 1)


def _ess(logw: Tensor) -> Tensor:
    w = torch.softmax(logw.double(), dim=-1)
    return 1.0 / (w * w).sum(-1)


@dataclasses.dataclass(frozen=True)
class SMC:
    """Settings of the SMC (see the module docstring): the Karras grid (``steps``, ``sigma_min``, ``sigma_max``,
    ``rho``), the ancestral fraction ``eta`` of the kernels (in (0, 1]: SMC needs stochastic proposals), the guide's
    ``delta``, the ``resampling`` scheme and how noise stds enter the grid (``levels``, ``max_extra_levels``).
    Defaults: the paper's 20 steps, ``eta = 1``, ``delta = 0`` (exact pinning at inserted levels), systematic
    resampling (lower variance than multinomial at the same cost), inserted levels (up to 16: 9 per-lead stds fit).
    """

    steps: int = 20
    eta: float = 1.0
    delta: float = 0.0
    resampling: str = "systematic"
    levels: str = "insert"
    max_extra_levels: int = 16
    sigma_min: float = schedule.SIGMA_MIN
    sigma_max: float = schedule.SIGMA_MAX
    rho: float = schedule.RHO

    def __post_init__(self) -> None:
        check_grid(self)
        if not 0.0 < self.eta <= 1.0:
            raise ValueError(f"mcgdiff needs stochastic kernels: eta in (0, 1], got {self.eta}")
        if not 0.0 <= self.delta <= 1.0:
            raise ValueError(f"delta must be in [0, 1], got {self.delta}")
        if self.resampling not in ("multinomial", "systematic"):
            raise ValueError(f"resampling must be 'multinomial' or 'systematic', got {self.resampling!r}")
        if self.levels not in ("insert", "snap"):
            raise ValueError(f"levels must be 'insert' or 'snap', got {self.levels!r}")
        check_positive("max_extra_levels", self.max_extra_levels, allow_zero=True)

    def run(self, den: DenoiserCall, obs: Observation, runs: int, particles: int, rng: RNG) -> tuple[Tensor, dict]:
        """Run ``runs`` independent SMC runs of ``particles`` particles for each of the ``P`` patients.

        Returns the final particles ``[P, runs, particles, d]`` (equally weighted within each run) and
        diagnostics (the grids used and the mean effective sample size before each resampling).
        """
        check_positive("runs", runs)
        check_positive("particles", particles)
        return _smc(den, obs, runs, particles, rng, self)


def _smc(den: DenoiserCall, obs: Observation, runs: int, particles: int, rng: RNG, cfg: SMC) -> tuple[Tensor, dict]:
    steps, eta, delta, resampling, levels, max_extra_levels = (
        cfg.steps,
        cfg.eta,
        cfg.delta,
        cfg.resampling,
        cfg.levels,
        cfg.max_extra_levels,
    )
    sigma_min, sigma_max, rho = cfg.sigma_min, cfg.sigma_max, cfg.rho
    P, d = obs.P, obs.d
    R, M = runs, particles
    N = R * M
    device, dtype = obs.ybar.device, obs.ybar.dtype
    base = [float(v) for v in schedule.karras_sigmas(steps, sigma_min, sigma_max, rho)]
    v_floor = min(v for v in base if v > 0)

    # noise stds of the diagonal form, float64; noiseless coordinates observed at the smallest level
    sig = obs.std.double()
    noiseless = obs.valid & (sig == 0)
    sig = torch.where(obs.valid, sig.clamp(min=v_floor), sig)
    grid = patient_levels(base, sig.cpu(), obs.valid.cpu(), levels, max_extra_levels).to(device)  # [P, L+1]
    L = grid.shape[1] - 1
    ybar = obs.ybar[:, None, :]  # [P, 1, r]

    def active(v: Tensor) -> tuple[Tensor, Tensor]:
        """Coordinates in the guiding function at levels ``v [P]`` and their guide variances (float64)."""
        act = obs.valid & (v[:, None] >= sig)
        var = torch.where(act, v[:, None] ** 2 - (1.0 - delta) * sig**2, torch.zeros_like(sig)).clamp(min=0.0)
        return act, var

    # step coefficients per patient, from the schedule's own formulas
    g_cpu = grid.cpu().tolist()
    eta_t = torch.tensor(
        [[schedule.ddim_eta(g[i], g[i + 1], eta) for i in range(L)] for g in g_cpu], dtype=torch.float64, device=device
    )  # [P, L]
    coef_t = torch.tensor(
        [
            [schedule.ddim_coefficient(g[i], g[i + 1], schedule.ddim_eta(g[i], g[i + 1], eta)) for i in range(L)]
            for g in g_cpu
        ],
        dtype=torch.float64,
        device=device,
    )

    # initial particles from phi_K ∝ g_K p_K with p_K ≈ N(0, v_K^2 I): exact Gaussian product on guided coords
    v0 = grid[:, 0]
    act0, var0 = active(v0)
    z = rng.randn(P, N, d) * v0.to(dtype)[:, None, None]
    zc = obs.coords(z) / v0.to(dtype)[:, None, None]
    a, b = v0[:, None] ** 2, var0
    pm = (a / (a + b)).to(dtype)[:, None, :] * ybar
    ps = (a * b / (a + b)).sqrt().to(dtype)[:, None, :]
    x = obs.replace(z, pm + ps * zc, act0[:, None, :])

    ess_trace = []
    for i in range(L):
        v, vn = grid[:, i], grid[:, i + 1]
        x0 = den(x, v)
        et = eta_t[:, i].to(dtype)[:, None, None]
        mu = x0 + coef_t[:, i].to(dtype)[:, None, None] * (x - x0)

        act, var = active(v)
        actn, varn = active(vn)
        e2 = (eta_t[:, i] ** 2)[:, None]  # [P, 1] float64
        # log L_k(xi): guided coordinates at the next level, predictive variance eta^2 + s2
        tot = e2 + varn
        useL = actn & (tot > 0)
        inv_tot = torch.where(useL, 1.0 / torch.where(useL, tot, torch.ones_like(tot)), torch.zeros_like(tot))
        mu_c = obs.coords(mu)
        logL = -0.5 * (((mu_c - ybar) ** 2) * inv_tot.to(dtype)[:, None, :]).sum(-1)
        # log g_{k+1}(xi) at the current level (pinned coordinates, variance 0, are a constant factor)
        useg = act & (var > 0)
        inv_var = torch.where(useg, 1.0 / torch.where(useg, var, torch.ones_like(var)), torch.zeros_like(var))
        x_c = obs.coords(x)
        logg = -0.5 * (((x_c - ybar) ** 2) * inv_var.to(dtype)[:, None, :]).sum(-1)
        logw = (logL - logg).reshape(P, R, M)
        ess_trace.append(float(_ess(logw).mean()))

        anc = _resample(logw, rng, resampling)  # [P, R, M]
        mu_sel = torch.gather(mu.reshape(P, R, M, d), 2, anc[..., None].expand(P, R, M, d)).reshape(P, N, d)

        # auxiliary kernel p_k^y
        z = rng.randn(P, N, d)
        prop = mu_sel + et * z
        zc = obs.coords(z)
        mu_sel_c = obs.coords(mu_sel)
        both_zero = actn & (tot == 0)
        w_y = torch.where(both_zero, torch.ones_like(tot), e2 * inv_tot)  # weight of ybar in the mean
        w_mu = torch.where(both_zero, torch.zeros_like(tot), varn * inv_tot)
        sd = torch.where(both_zero, torch.zeros_like(tot), (e2 * varn * inv_tot).clamp(min=0).sqrt())
        c_new = w_y.to(dtype)[:, None, :] * ybar + w_mu.to(dtype)[:, None, :] * mu_sel_c + sd.to(dtype)[:, None, :] * zc
        x = obs.replace(prop, c_new, actn[:, None, :])

    if bool(noiseless.any()):
        x = obs.replace(x, ybar.expand_as(obs.coords(x)), noiseless[:, None, :])
    diag = {"grid": grid.cpu(), "ess": ess_trace}
    return x.reshape(P, R, M, d), diag
