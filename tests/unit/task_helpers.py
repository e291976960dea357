"""An analytic Gaussian beat prior with its exact denoiser and exact posterior, and small beat databases.

The prior is ``x ~ N(mean(cond), Sigma)`` over beats ``[L, T]`` (flattened lead-major) with
``Sigma = kron(C_leads, K_time) + floor^2 I``: leads correlated as Dower's rows make them
(``C_leads = D D^T``), time correlated by a squared-exponential kernel. For a linear observation
``y = A x + N(0, diag(s^2))`` the posterior is Gaussian and computed exactly; :class:`ExactPosterior` is a
``SamplesProvider`` drawing from it (and estimating the noise levels by exact maximum likelihood), so the
tasks' logic can be checked where every answer is known.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from scipy.optimize import minimize

from ecgdiff import leads
from ecgdiff.data import dataset


class GaussianBeatPrior:
    conditional = True
    device = torch.device("cpu")

    def __init__(
        self,
        length: int = 32,
        fs: float = 250.0,
        r_index: int = 8,
        ell: float = 3.0,
        amp: float = 0.3,
        floor: float = 0.05,
        mean_fn: Callable[[np.ndarray], np.ndarray] | None = None,
        structured: bool = True,
    ):
        self.leads = leads.PAPER_9
        self.fs, self.r_index, self.length = fs, r_index, length
        L, T = len(self.leads), length
        self.shape = (L, T)
        self.structured, self.floor = structured, floor
        self.mean_fn = mean_fn or (lambda cond: np.broadcast_to(self.default_mean(), (len(cond), L, T)))
        if structured:
            d = leads.dower_matrix(self.leads)
            c = d @ d.T
            t = np.arange(T)
            k = amp**2 * np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / ell**2)
            self.cov = np.kron(c, k) + floor**2 * np.eye(L * T)
            self.evals, self.evecs = np.linalg.eigh(self.cov)
            self.evals = np.clip(self.evals, 0, None)
            self._chol = np.linalg.cholesky(self.cov)

    def default_mean(self) -> np.ndarray:
        t = np.arange(self.length)
        bump = np.exp(-0.5 * (t - self.r_index) ** 2 / 1.5**2)
        return np.stack([g * bump for g in np.linspace(-1, 1, len(self.leads))])

    def mean(self, cond: np.ndarray) -> np.ndarray:
        return np.asarray(self.mean_fn(np.asarray(cond, dtype=np.float64)), dtype=np.float64)

    def sample(self, cond: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One prior draw per conditioning row: ``[P, L, T]``."""
        mu = self.mean(cond).reshape(len(cond), -1)
        z = rng.standard_normal(mu.shape)
        if not self.structured:
            return (mu + self.floor * z).reshape(len(cond), *self.shape)
        return (mu + z @ self._chol.T).reshape(len(cond), *self.shape)

    def denoiser(self, cond):
        cond = np.asarray(cond, dtype=np.float64)

        def D(x: torch.Tensor, sigma) -> torch.Tensor:
            b = x.shape[0]
            mu = np.repeat(self.mean(cond).reshape(len(cond), -1), b // len(cond), axis=0)
            s = np.broadcast_to(np.asarray(torch.as_tensor(sigma).double().cpu()).reshape(-1), (b,))
            xf = x.reshape(b, -1).double().cpu().numpy() - mu
            if not self.structured:
                out = mu + self.floor**2 / (self.floor**2 + s[:, None] ** 2) * xf
                return torch.as_tensor(out, dtype=x.dtype).reshape(x.shape)
            proj = xf @ self.evecs
            shrink = self.evals[None, :] / (self.evals[None, :] + s[:, None] ** 2)
            out = mu + (proj * shrink) @ self.evecs.T
            return torch.as_tensor(out, dtype=x.dtype).reshape(x.shape)

        return D

    def posterior(self, mu: np.ndarray, a: np.ndarray, y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean ``[d]`` and covariance ``[d, d]`` for ``y = a x + N(0, diag(s^2))``, ``x ~ N(mu, cov)``."""
        sa = self.cov @ a.T
        gram = a @ sa + np.diag(s**2)
        gain = np.linalg.solve(gram, sa.T).T
        return mu + gain @ (y - a @ mu), self.cov - gain @ sa.T


class ExactPosterior:
    """Exact posterior sampling and maximum-likelihood noise levels under a :class:`GaussianBeatPrior`."""

    def __init__(self, prior: GaussianBeatPrior, min_sigma: float = 1e-4):
        self.prior = prior
        self.min_sigma = min_sigma
        self.calls: list[dict] = []

    def estimate_sigma(self, cond, y, obs, generator):
        mu = self.prior.mean(cond).reshape(len(y), -1)
        out = np.zeros((len(y), obs.n_groups))
        if not self.prior.structured and obs.mask is not None:  # independent coordinates: closed form
            r2 = (y - mu[:, obs.mask.ravel()]) ** 2
            for g in range(obs.n_groups):
                ms = r2[:, obs.groups == g].mean(axis=1)
                out[:, g] = np.sqrt(np.clip(ms - self.prior.floor**2, self.min_sigma**2, None))
            return out
        for p in range(len(y)):
            a = obs.dense(p)
            base = a @ self.prior.cov @ a.T
            r = y[p] - a @ mu[p]

            def nll(log_s, base=base, r=r):
                s2 = np.exp(2 * log_s)[obs.groups]
                c = np.linalg.cholesky(base + np.diag(s2))
                z = np.linalg.solve(c, r)
                return 0.5 * z @ z + np.log(np.diag(c)).sum()

            res = minimize(
                nll,
                np.full(obs.n_groups, np.log(0.1)),
                method="L-BFGS-B",
                bounds=[(np.log(self.min_sigma), np.log(10.0))] * obs.n_groups,
            )
            out[p] = np.exp(res.x)
        self.calls.append({"kind": "estimate", "P": len(y)})
        return out

    def sample(self, cond, y, obs, sigma, n_samples, generator):
        P = len(y)
        mu = self.prior.mean(cond).reshape(P, -1)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=generator.device))
        rng = np.random.default_rng(seed)
        out = np.zeros((P, n_samples, *self.prior.shape), dtype=np.float32)
        if not self.prior.structured and obs.mask is not None:  # isotropic prior, mask: coordinate-wise
            f2 = self.prior.floor**2
            idx = np.flatnonzero(obs.mask.ravel())
            for p in range(P):
                s2 = np.maximum(sigma[p], self.min_sigma) ** 2
                m, v = mu[p].copy(), np.full(mu.shape[1], f2)
                m[idx] = (s2 * mu[p, idx] + f2 * y[p]) / (f2 + s2)
                v[idx] = f2 * s2 / (f2 + s2)
                out[p] = (m + np.sqrt(v) * rng.standard_normal((n_samples, len(m)))).reshape(
                    n_samples, *self.prior.shape
                )
            return out
        for p in range(P):
            m, c = self.prior.posterior(mu[p], obs.dense(p), y[p], np.maximum(sigma[p], self.min_sigma))
            w, v = np.linalg.eigh((c + c.T) / 2)
            root = v * np.sqrt(np.clip(w, 0, None))
            out[p] = (m + rng.standard_normal((n_samples, len(m))) @ root.T).reshape(n_samples, *self.prior.shape)
        self.calls.append({"kind": "sample", "P": P, "n": n_samples})
        return out


def make_db(
    folder,
    prior: GaussianBeatPrior,
    counts: dict[str, int],
    seed: int = 0,
    modify: Callable[[str, np.ndarray, np.random.Generator], np.ndarray] | None = None,
) -> dataset.BeatDatabase:
    """A beat database of prior draws: ``counts[split]`` patients with two beats each (ages, sexes, RR random).

    ``modify(split, beats, rng)`` may alter the beats of a split (e.g. add ST elevation to the MI set).
    """
    rng = np.random.default_rng(seed)
    from ecgdiff.diffusion import conditioning

    metas, beats = [], []
    for split, n in counts.items():
        age = np.repeat(rng.uniform(30, 85, n), 2)
        sex = np.repeat(rng.choice(["M", "F"], n), 2)
        rr = rng.uniform(600, 1200, 2 * n)
        pid = np.repeat([f"{split}{i:03d}" for i in range(n)], 2)
        cond = conditioning.encode(age, sex, rr)
        b = prior.sample(cond, rng)
        if modify is not None:
            b = modify(split, b, rng)
        beats.append(b)
        metas.append(
            pd.DataFrame(
                {
                    "patient_id": pid,
                    "record_id": [f"r/{p}" for p in pid],
                    "source": "test",
                    "age": age,
                    "sex": sex,
                    "rr_ms": rr,
                    "label": "mi" if split == "mi" else "healthy",
                    "split": split,
                    "r_index": 100,
                }
            )
        )
    meta = pd.concat(metas, ignore_index=True)
    meta.insert(0, "beat_id", np.arange(len(meta)))
    for lead in prior.leads:
        meta[f"scale_{lead}"] = rng.uniform(0.4, 2.0, len(meta))
    splits = meta[["patient_id", "split"]].drop_duplicates()
    manifest = {
        "leads": list(prior.leads),
        "fs": prior.fs,
        "before": prior.r_index,
        "after": prior.length - prior.r_index,
    }
    dataset.save(
        folder,
        np.concatenate(beats).astype(np.float32),
        meta,
        pd.DataFrame(columns=["record_id", "beat_index", "stage", "reason"]),
        splits,
        manifest,
    )
    return dataset.load(folder)


def exact_factory(prior: GaussianBeatPrior):
    provider = ExactPosterior(prior)

    def make(name=None, **options):
        provider.last_request = (name, options)
        return provider

    return make, provider


# QRS onset/offset and R peak of :func:`qt_beat_mean` (samples at 250 Hz, 176-sample beats)
Q_ON, QRS_OFF, R_PEAK, BEAT_LENGTH, BEAT_FS = 38.0, 60.0, 48, 176, 250.0


def qt_beat_mean(cond: np.ndarray) -> np.ndarray:
    """Mean beats ``[P, 9, 176]`` whose QT follows Fridericia with an offset, ``QT = 0.3 RR^(1/3) + 0.09`` (s),
    for the RR of each conditioning row: a piecewise-linear QRS and a triangular T wave ending at
    ``Q_ON + QT * fs`` (its descending limb is straight, so the tangent method finds that end exactly)."""
    rr_s = (np.asarray(cond)[:, 3] * 400 + 400) / 1000.0
    qt_s = 0.3 * np.cbrt(rr_s) + 0.09
    t = np.arange(BEAT_LENGTH, dtype=float)
    qrs = np.interp(t, [Q_ON, R_PEAK - 4, R_PEAK, R_PEAK + 5, QRS_OFF], [0.0, -0.2, 1.0, -0.3, 0.0])
    out = []
    for q in qt_s:
        t_end = Q_ON + q * BEAT_FS
        tw = np.interp(t, [t_end - 54, t_end - 24, t_end], [0.0, 0.3, 0.0], left=0.0, right=0.0)
        out.append(np.stack([g * qrs + tg * tw for g, tg in zip(np.linspace(-1, 1, 9), np.linspace(0.2, 1.0, 9))]))
    return np.asarray(out)
