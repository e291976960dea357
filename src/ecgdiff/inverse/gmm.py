"""Analytic Gaussian-mixture prior: its exact EDM denoiser and the exact posterior of a linear-Gaussian observation.

Prior ``p_0 = sum_k w_k N(m_k, C_k)`` with low-rank-plus-floor covariances ``C_k = Q_k diag(lam_k) Q_k^T + f_k I``
(``Q_k [d, r]`` orthonormal): cheap to denoise in high dimension and shaped like ECG beats (strongly
correlated coordinates). Noising at level ``sigma`` convolves each component with ``N(0, sigma^2 I)``, so the
exact denoiser is the mixture of the components' Gaussian conditional means::

    D(x, sigma) = sum_k r_k(x) [x - sigma^2 (C_k + sigma^2 I)^{-1} (x - m_k)],
    r_k(x) ∝ w_k N(x; m_k, C_k + sigma^2 I),

evaluated with the Woodbury identity in ``O(d r)`` per component (float64 inside).

For ``y = A x + N(0, diag(sigma_y^2))`` the posterior is again a Gaussian mixture with, per component,
``S_k = A C_k A^T + Sigma``, ``m_k' = m_k + C_k A^T S_k^{-1}(y - A m_k)``, ``C_k' = C_k - C_k A^T S_k^{-1} A C_k``
and weights ``w_k' ∝ w_k N(y; A m_k, S_k)`` (:func:`posterior`): the exact reference every sampler is
checked against (:mod:`ecgdiff.inverse.verify`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .operators import Linear, Mask, Operator, SigmaLike, sigma_vector

Tensor = torch.Tensor


@dataclass
class LowRankGMM:
    """Mixture prior with ``C_k = Q_k diag(lam_k) Q_k^T + floor_k I``; call it as an EDM denoiser ``D(x, sigma)``."""

    weights: Tensor  # [K]
    means: Tensor  # [K, d]
    Q: Tensor  # [K, d, r], orthonormal columns
    lam: Tensor  # [K, r] >= 0
    floor: Tensor  # [K] > 0
    x_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        self.weights = (self.weights / self.weights.sum()).double()
        self.means, self.Q = self.means.double(), self.Q.double()
        self.lam, self.floor = self.lam.double(), self.floor.double()
        K, d = self.means.shape
        if self.Q.shape[:2] != (K, d) or self.lam.shape != (K, self.Q.shape[2]) or self.floor.shape != (K,):
            raise ValueError("inconsistent GMM parameter shapes")
        if math.prod(self.x_shape) != d:
            raise ValueError(f"x_shape {self.x_shape} does not have d = {d} entries")

    @property
    def d(self) -> int:
        return int(self.means.shape[1])

    @property
    def K(self) -> int:
        return int(self.means.shape[0])

    def to(self, device: torch.device | str) -> LowRankGMM:
        return LowRankGMM(
            self.weights.to(device),
            self.means.to(device),
            self.Q.to(device),
            self.lam.to(device),
            self.floor.to(device),
            self.x_shape,
        )

    # ------------------------------------------------------------------ denoiser
    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor:
        """Exact ``E[x0 | x_sigma = x]`` for ``x [B, *x_shape]``, ``sigma [B]`` (or a float)."""
        B = x.shape[0]
        xf = x.reshape(B, -1).double()
        s2 = torch.as_tensor(sigma, dtype=torch.float64, device=x.device).reshape(-1).expand(B) ** 2  # [B]
        m, Q, lam, f = (t.to(x.device) for t in (self.means, self.Q, self.lam, self.floor))
        a = f[None, :] + s2[:, None]  # [B, K]
        c = lam[None] / (lam[None] + a[:, :, None])  # [B, K, r]
        p = torch.einsum("bd,kdr->bkr", xf, Q) - torch.einsum("kd,kdr->kr", m, Q)[None]  # Q^T (x - m)
        u2 = (xf * xf).sum(1)[:, None] - 2 * xf @ m.T + (m * m).sum(1)[None]  # ||x - m||^2  [B, K]
        quad = (u2 - (c * p * p).sum(-1)) / a
        logdet = torch.log(lam[None] + a[:, :, None]).sum(-1) + (self.d - lam.shape[1]) * torch.log(a)
        logr = torch.log(self.weights.to(x.device))[None] - 0.5 * (quad + logdet)
        r = torch.softmax(logr, dim=1)  # [B, K]
        ra = r / a  # [B, K]
        out = xf - s2[:, None] * (ra.sum(1, keepdim=True) * xf - ra @ m)
        out = out + s2[:, None] * torch.einsum("bkr,kdr->bd", ra[:, :, None] * c * p, Q)
        return out.to(x.dtype).reshape(x.shape)

    # ------------------------------------------------------------------ exact quantities
    def covariance(self, k: int) -> Tensor:
        Q = self.Q[k]
        return (Q * self.lam[k]) @ Q.T + self.floor[k] * torch.eye(self.d, dtype=torch.float64, device=Q.device)

    def mean(self) -> Tensor:
        return self.weights @ self.means

    def as_dense(self) -> DenseGMM:
        return DenseGMM(
            self.weights, self.means, torch.stack([self.covariance(k) for k in range(self.K)]), self.x_shape
        )

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``[n, *x_shape]`` exact prior draws (float64)."""
        dev = self.means.device
        gen_dev = generator.device if generator is not None else dev
        k = torch.multinomial(self.weights.to(gen_dev), n, replacement=True, generator=generator).to(dev)
        z = torch.randn(n, self.Q.shape[2], generator=generator, device=gen_dev, dtype=torch.float64).to(dev)
        e = torch.randn(n, self.d, generator=generator, device=gen_dev, dtype=torch.float64).to(dev)
        x = self.means[k] + torch.einsum("ndr,nr->nd", self.Q[k], z * self.lam[k].sqrt())
        x = x + e * self.floor[k, None].sqrt()
        return x.reshape(n, *self.x_shape)


@dataclass
class DenseGMM:
    """Mixture with dense covariances (exact posteriors); sampling through symmetric square roots."""

    weights: Tensor  # [K]
    means: Tensor  # [K, d]
    covs: Tensor  # [K, d, d]
    x_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        self.weights = (self.weights / self.weights.sum()).double()
        self.means, self.covs = self.means.double(), self.covs.double()
        covs = 0.5 * (self.covs + self.covs.transpose(1, 2))
        evals, evecs = torch.linalg.eigh(covs)
        self._root = evecs * evals.clamp(min=0).sqrt()[:, None, :]  # C = root root^T

    @property
    def d(self) -> int:
        return int(self.means.shape[1])

    def mean(self) -> Tensor:
        return self.weights @ self.means

    def covariance(self) -> Tensor:
        """Covariance of the whole mixture ``[d, d]``."""
        mu = self.mean()
        dm = self.means - mu
        return torch.einsum("k,kij->ij", self.weights, self.covs) + torch.einsum("k,ki,kj->ij", self.weights, dm, dm)

    def trace(self) -> float:
        """Total variance ``tr Cov(x)`` of the mixture."""
        return float(torch.diagonal(self.covariance()).sum())

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        dev = self.means.device
        gen_dev = generator.device if generator is not None else dev
        k = torch.multinomial(self.weights.to(gen_dev), n, replacement=True, generator=generator).to(dev)
        z = torch.randn(n, self.d, generator=generator, device=gen_dev, dtype=torch.float64).to(dev)
        x = self.means[k] + torch.einsum("nij,nj->ni", self._root[k], z)
        return x.reshape(n, *self.x_shape)


def operator_matrix(operator: Operator) -> Tensor:
    """Dense ``A [m, d]`` (float64) of an operator; for verification only (a mask never needs it to sample)."""
    if isinstance(operator, Mask):
        A = torch.zeros(operator.m, operator.d, dtype=torch.float64)
        A[torch.arange(operator.m), operator.index.cpu()] = 1.0
        return A
    if isinstance(operator, Linear):
        return operator.A.double().cpu()
    raise TypeError(f"unknown operator {operator!r}")


def posterior(prior: LowRankGMM | DenseGMM, operator: Operator, y: Tensor, sigma_y: SigmaLike) -> DenseGMM:
    """Exact posterior of ``x`` given ``y = A x + N(0, diag(sigma_y^2))`` under the mixture ``prior``."""
    dense = prior.as_dense() if isinstance(prior, LowRankGMM) else prior
    dev = dense.means.device
    A = operator_matrix(operator).to(dev)
    m = A.shape[0]
    y = torch.as_tensor(y, dtype=torch.float64, device=dev).reshape(m)
    s2 = sigma_vector(sigma_y, m, dev, torch.float64) ** 2
    logw, means, covs = [], [], []
    for k in range(dense.means.shape[0]):
        C, mk = dense.covs[k], dense.means[k]
        CA = C @ A.T  # [d, m]
        S = A @ CA + torch.diag(s2)
        S = 0.5 * (S + S.T)
        L = torch.linalg.cholesky(S)
        resid = y - A @ mk
        sol = torch.cholesky_solve(resid[:, None], L)[:, 0]
        G = torch.cholesky_solve(CA.T, L)  # S^{-1} A C  [m, d]
        means.append(mk + CA @ sol)
        covs.append(C - CA @ G)
        logw.append(torch.log(dense.weights[k]) - 0.5 * (resid @ sol) - torch.log(torch.diagonal(L)).sum())
    logw_t = torch.stack(logw)
    w = torch.softmax(logw_t, 0)
    return DenseGMM(w, torch.stack(means), torch.stack(covs), dense.x_shape)


@dataclass
class MaskPosterior:
    """Exact posterior of a :class:`LowRankGMM` prior observed through a :class:`Mask` with independent noise,
    computed without any ``d x d`` matrix (so that ``d = 8 x 1024`` stays cheap).

    Per component, ``S = A C A^T + Sigma = D + W W^T`` with ``D = floor + sigma_y^2`` (diagonal) and
    ``W = (A Q) diag(sqrt(lam))`` (``m x r``) is inverted by the Woodbury identity; the posterior mean is
    ``m_k + C A^T S^{-1} (y - A m_k)``, the weight ``w_k N(y; A m_k, S)`` (determinant lemma), and exact draws
    follow Matheron's rule: ``x + C A^T S^{-1} (y - A x - e)`` with ``x ~ N(m_k, C)``, ``e ~ N(0, Sigma)``.
    Agrees with the dense :func:`posterior` (``tests/unit/test_inverse_gmm.py``).
    """

    prior: LowRankGMM
    index: Tensor  # [m] observed coordinates (flattened)
    y: Tensor  # [m]
    s2: Tensor  # [m] noise variances
    weights: Tensor = None  # [K] posterior weights (computed)
    means: Tensor = None  # [K, d] posterior component means (computed)

    def __post_init__(self) -> None:
        pr = self.prior
        r = self.y - pr.means[:, self.index]  # [K, m]
        logw, means = [], []
        for k in range(pr.K):
            sol, logdet = self._solve(k, r[k][:, None])
            means.append(pr.means[k] + self._cat(k, sol[:, 0]))
            logw.append(torch.log(pr.weights[k]) - 0.5 * (r[k] @ sol[:, 0]) - 0.5 * logdet)
        self.weights = torch.softmax(torch.stack(logw), 0)
        self.means = torch.stack(means)

    @property
    def x_shape(self) -> tuple[int, ...]:
        return self.prior.x_shape

    def _parts(self, k: int) -> tuple[Tensor, Tensor, Tensor]:
        pr = self.prior
        U = pr.Q[k][self.index]  # A Q  [m, r]
        D = pr.floor[k] + self.s2  # [m]
        W = U * pr.lam[k].sqrt()
        return U, D, W

    def _solve(self, k: int, v: Tensor) -> tuple[Tensor, Tensor]:
        """``S_k^{-1} v`` for ``v [m, c]`` and ``log det S_k``."""
        _, D, W = self._parts(k)
        Dv = v / D[:, None]
        inner = torch.eye(W.shape[1], dtype=W.dtype, device=W.device) + W.T @ (W / D[:, None])
        L = torch.linalg.cholesky(inner)
        out = Dv - (W / D[:, None]) @ torch.cholesky_solve(W.T @ Dv, L)
        return out, torch.log(D).sum() + 2 * torch.log(torch.diagonal(L)).sum()

    def _cat(self, k: int, v: Tensor) -> Tensor:
        """``C_k A^T v`` for ``v [m]`` or ``[m, c]`` (columns), as ``[d]`` or ``[d, c]``."""
        pr = self.prior
        U = pr.Q[k][self.index]
        vv = v if v.ndim == 2 else v[:, None]
        out = pr.Q[k] @ (pr.lam[k][:, None] * (U.T @ vv))
        out[self.index] += pr.floor[k] * vv
        return out if v.ndim == 2 else out[:, 0]

    def mean(self) -> Tensor:
        return self.weights @ self.means

    def trace(self) -> float:
        """Total variance ``tr Cov(x | y)``: ``sum_k w_k tr C_k' + sum_k w_k ||mu_k - mu||^2`` with
        ``tr C_k' = tr C_k - tr(S^{-1} A C_k^2 A^T)`` and ``A C^2 A^T = U (lam^2 + 2 f lam) U^T + f^2 I``."""
        pr = self.prior
        total = 0.0
        for k in range(pr.K):
            U, D, W = self._parts(k)
            f, lam = pr.floor[k], pr.lam[k]
            SU, _ = self._solve(k, U)
            reduced = f * f * self._trace_inverse(k) + ((U * SU).sum(0) * (lam * lam + 2 * f * lam)).sum()
            total = total + self.weights[k] * (lam.sum() + pr.d * f - reduced)
        mu = self.mean()
        spread = (self.weights * ((self.means - mu) ** 2).sum(1)).sum()
        return float(total + spread)

    def _trace_inverse(self, k: int) -> Tensor:
        """``tr S_k^{-1} = sum 1/D - tr((I + W^T D^-1 W)^{-1} W^T D^-2 W)``."""
        _, D, W = self._parts(k)
        inner = torch.eye(W.shape[1], dtype=W.dtype, device=W.device) + W.T @ (W / D[:, None])
        return (1 / D).sum() - torch.trace(torch.linalg.solve(inner, W.T @ (W / (D * D)[:, None])))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``[n, *x_shape]`` exact posterior draws (float64), Matheron's rule per component."""
        pr = self.prior
        dev = pr.means.device
        gen_dev = generator.device if generator is not None else dev
        comp = torch.multinomial(self.weights.to(gen_dev), n, replacement=True, generator=generator).to(dev)
        x = torch.empty(n, pr.d, dtype=torch.float64, device=dev)
        z = torch.randn(n, pr.Q.shape[2], generator=generator, device=gen_dev, dtype=torch.float64).to(dev)
        e = torch.randn(n, pr.d, generator=generator, device=gen_dev, dtype=torch.float64).to(dev)
        eps = torch.randn(n, self.index.numel(), generator=generator, device=gen_dev, dtype=torch.float64).to(dev)
        eps = eps * self.s2.sqrt()
        for k in range(pr.K):
            rows = torch.nonzero(comp == k).squeeze(1)
            if rows.numel() == 0:
                continue
            xk = pr.means[k] + (z[rows] * pr.lam[k].sqrt()) @ pr.Q[k].T + e[rows] * pr.floor[k].sqrt()
            resid = self.y - xk[:, self.index] - eps[rows]  # [b, m]
            sol, _ = self._solve(k, resid.T)
            x[rows] = xk + self._cat(k, sol).T
        return x.reshape(n, *pr.x_shape)


def mask_posterior(prior: LowRankGMM, operator: Mask, y: Tensor, sigma_y: SigmaLike) -> MaskPosterior:
    """Exact posterior of ``x`` given ``y = x[mask] + N(0, diag(sigma_y^2))`` (low-rank, no ``d x d`` matrix)."""
    if not isinstance(operator, Mask):
        raise TypeError(f"mask_posterior needs a Mask operator, got {operator!r}")
    dev = prior.means.device
    y = torch.as_tensor(y, dtype=torch.float64, device=dev).reshape(operator.m)
    s2 = sigma_vector(sigma_y, operator.m, dev, torch.float64) ** 2
    return MaskPosterior(prior, operator.index.to(dev), y, s2)


def noise_mle(
    prior: LowRankGMM, operator: Operator, y: Tensor, groups: Tensor, init: float = 0.1, iters: int = 200
) -> Tensor:
    """Exact maximum-likelihood noise stds ``[G]``: maximiser over one std per group of the closed-form marginal
    likelihood ``log sum_k w_k N(y; A m_k, A C_k A^T + diag(sigma^2))`` (LBFGS on ``log sigma``).

    The reference that Monte-Carlo EM (:mod:`ecgdiff.inverse.noise`) must reach.
    """
    A = operator_matrix(operator)
    covs = torch.stack([A @ prior.covariance(k).cpu() @ A.T for k in range(prior.K)])
    means = prior.means.cpu() @ A.T
    yy = torch.as_tensor(y, dtype=torch.float64).cpu()
    g = torch.as_tensor(groups).long().cpu()
    logs = torch.full((int(g.max()) + 1,), float(init), dtype=torch.float64).log().requires_grad_(True)
    opt = torch.optim.LBFGS([logs], max_iter=iters, line_search_fn="strong_wolfe")
    logw = torch.log(prior.weights.cpu())

    def closure():
        opt.zero_grad()
        S = covs + torch.diag_embed((2 * logs[g]).exp())[None]
        logp = torch.distributions.MultivariateNormal(means, covariance_matrix=S).log_prob(yy)
        val = -torch.logsumexp(logw + logp, 0)
        val.backward()
        return val

    with torch.enable_grad():
        opt.step(closure)
    return logs.detach().exp()


def _smooth_noise(shape: tuple[int, ...], width: float, generator: torch.Generator | None) -> Tensor:
    """White noise ``[*shape]`` smoothed along the last axis with a Gaussian kernel of std ``width`` samples."""
    z = torch.randn(*shape, generator=generator, dtype=torch.float64)
    if width <= 0:
        return z
    half = int(math.ceil(3 * width))
    t = torch.arange(-half, half + 1, dtype=torch.float64)
    kern = torch.exp(-0.5 * (t / width) ** 2)
    kern = kern / kern.norm()
    flat = z.reshape(-1, 1, shape[-1])
    out = torch.nn.functional.conv1d(flat, kern[None, None, :], padding=half)
    return out.reshape(shape)


def random_beatlike_gmm(
    x_shape: tuple[int, ...],
    n_components: int = 4,
    rank: int = 8,
    mean_std: float = 0.5,
    component_std: float = 0.2,
    floor_std: float = 0.03,
    smooth: float | None = None,
    decay: float = 0.7,
    generator: torch.Generator | None = None,
) -> LowRankGMM:
    """A random mixture shaped like ECG beats: smooth along the last (time) axis, correlated across leads.

    Component means are smooth curves of rms ``mean_std``; each component's covariance spans ``rank`` smooth
    directions mixing all leads (eigenvalues decaying geometrically by ``decay``, per-coordinate rms std
    ``component_std``) plus an isotropic floor of std ``floor_std``. ``smooth`` (samples) defaults to
    ``T / 20`` for ``T`` time samples.
    """
    d = math.prod(x_shape)
    T = x_shape[-1]
    width = smooth if smooth is not None else max(T / 20.0, 0.0 if T < 8 else 1.0)
    means = _smooth_noise((n_components, *x_shape), width, generator).reshape(n_components, d)
    means = means / means.pow(2).mean(1, keepdim=True).sqrt() * mean_std
    Q = []
    for _ in range(n_components):
        B = _smooth_noise((rank, *x_shape), width, generator).reshape(rank, d).T
        q, _ = torch.linalg.qr(B)
        Q.append(q)
    Qt = torch.stack(Q)
    lam = decay ** torch.arange(rank, dtype=torch.float64)
    lam = lam / lam.sum() * (component_std**2) * d
    lam = lam[None].expand(n_components, rank).clone()
    w = torch.rand(n_components, generator=generator, dtype=torch.float64) + 0.5
    floor = torch.full((n_components,), floor_std**2, dtype=torch.float64)
    return LowRankGMM(w, means, Qt, lam, floor, tuple(x_shape))


def random_rhythmlike_gmm(
    n_time: int = 32,
    length: int | None = None,
    leads: tuple[str, ...] | None = None,
    n_components: int = 3,
    rank: int = 8,
    period: float = 8.0,
    mean_std: float = 0.5,
    component_std: float = 0.2,
    floor_std: float = 0.03,
    heart_fraction: float = 0.5,
    generator: torch.Generator | None = None,
) -> LowRankGMM:
    """A random mixture shaped like zero-padded rhythms of the modelled leads ``[len(leads), n_time]``.

    Rhythm conventions (the talk's prior): the modelled leads (default :data:`ecgdiff.leads.BASIS`), the first
    ``length`` samples valid and the rest zero padding. Each component's mean is a train of beats, one every
    ``period * u`` samples (``u`` uniform on [0.8, 1.2] per component, a random phase), each beat a bump of
    width ``period / 8`` whose heart vector (X, Y, Z) is random per component and mapped to the leads by their
    Dower rows (:func:`ecgdiff.leads.dower_matrix`: the leads are correlated as a dipole makes them), rms
    ``mean_std`` over the valid samples. Of the ``rank`` covariance directions, ``heart_fraction`` are
    smooth heart-vector signals seen through the Dower rows and the others smooth signals of every lead (the
    part of real leads a dipole does not explain); eigenvalues and the isotropic floor as
    :func:`random_beatlike_gmm`. Means and directions are zero on the padding, whose prior spread is the floor
    alone (a trained prior has learnt that the padding is zero).
    """
    from .. import leads as leadlib

    names = tuple(leads or leadlib.BASIS)
    L, T = len(names), int(n_time)
    valid = T if length is None else int(length)
    if not 0 < valid <= T:
        raise ValueError(f"need 0 < length <= n_time, got {valid}, {T}")
    if not 0.0 <= heart_fraction <= 1.0:
        raise ValueError(f"heart_fraction must be in [0, 1], got {heart_fraction}")
    dower = torch.as_tensor(leadlib.dower_matrix(names), dtype=torch.float64)  # [L, 3]
    d = L * T
    t = torch.arange(T, dtype=torch.float64)
    width = max(period / 8.0, 0.5)
    smooth = max(period / 6.0, 0.5)
    means = []
    for _ in range(n_components):
        rr = period * (0.8 + 0.4 * float(torch.rand((), generator=generator, dtype=torch.float64)))
        phase = rr * float(torch.rand((), generator=generator, dtype=torch.float64))
        beats = torch.arange(phase, T + rr, rr, dtype=torch.float64)
        train = torch.exp(-0.5 * ((t[:, None] - beats[None, :]) / width) ** 2).sum(1)  # [T]
        heart = torch.randn(3, generator=generator, dtype=torch.float64)
        m = (dower @ heart)[:, None] * train[None, :]
        m[:, valid:] = 0.0
        means.append(m.reshape(d) / m[:, :valid].pow(2).mean().sqrt() * mean_std)
    n_heart = int(round(heart_fraction * rank))
    Q = []
    for _ in range(n_components):
        xyz = _smooth_noise((n_heart, 3, T), smooth, generator)
        own = _smooth_noise((rank - n_heart, L, T), smooth, generator)
        B = torch.cat([torch.einsum("lk,rkt->rlt", dower, xyz), own])  # [rank, L, T]
        B[:, :, valid:] = 0.0
        q, _ = torch.linalg.qr(B.reshape(rank, d).T)
        Q.append(q)
    lam = 0.7 ** torch.arange(rank, dtype=torch.float64)  # decay and scale of random_beatlike_gmm
    lam = lam / lam.sum() * (component_std**2) * (L * valid)
    w = torch.rand(n_components, generator=generator, dtype=torch.float64) + 0.5
    floor = torch.full((n_components,), floor_std**2, dtype=torch.float64)
    return LowRankGMM(
        w, torch.stack(means), torch.stack(Q), lam[None].expand(n_components, rank).clone(), floor, (L, T)
    )
