"""An analytic Gaussian rhythm prior over ``[8, 1024]`` with its exact denoiser and exact posterior; small rhythm
databases, classifiers and ECGrecover models for the rhythm tasks' tests.

The prior is ``x ~ N(mean, kron(C, K) + floor^2 I)`` over rhythms ``[L, T]`` (row-major): leads correlated as
Dower's rows make them (``C = D D^T + 0.05 I``, the basis leads I, II, V1-V6), time by a locally periodic
kernel (beats every ``rr`` samples, decorrelating over a few seconds). Both factors are diagonalised once, so
the exact denoiser ``E[x | x + sigma eps]`` and, for a mask observing some leads at some times (a Kronecker
selection), the exact posterior mean and exact posterior draws (Matheron's rule: a prior draw corrected by the
gain applied to its simulated residual) cost a few ``[L, T] x [T, T]`` products: exact at the rhythms' real
size, where a dense ``8192 x 8192`` covariance would not fit a unit test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from ecgdiff import leads
from ecgdiff.baselines import ecgrecover
from ecgdiff.classify.predict import RhythmClassifier
from ecgdiff.data.rhythmdb import RhythmDatabase

LENGTH, PADDED, FS = 1000, 1024, 100.0


class KroneckerRhythmPrior:
    conditional = False
    device = torch.device("cpu")

    def __init__(
        self,
        length: int = LENGTH,
        padded_length: int = PADDED,
        fs: float = FS,
        rr: float = 80.0,
        amp: float = 0.25,
        periodic_scale: float = 0.15,
        decorrelation: float = 250.0,
        floor: float = 0.02,
    ):
        self.leads = leads.BASIS
        self.fs, self.length, self.padded_length = fs, length, padded_length
        L, T = len(self.leads), padded_length
        self.shape = (L, T)
        self.floor = floor
        d = leads.dower_matrix(self.leads)
        self.C = d @ d.T + 0.05 * np.eye(L)
        tau = np.arange(T)[:, None] - np.arange(T)[None, :]
        self.K = (
            amp**2
            * np.exp(-2 * np.sin(np.pi * tau / rr) ** 2 / periodic_scale**2)
            * np.exp(-0.5 * (tau / decorrelation) ** 2)
        )
        self.lc, self.uc = np.linalg.eigh(self.C)
        self.lk, self.uk = np.linalg.eigh(self.K)
        self.lc, self.lk = np.clip(self.lc, 0, None), np.clip(self.lk, 0, None)
        t = np.arange(T)
        beat = np.exp(-0.5 * (((t % rr) - rr / 2) / 2.0) ** 2)
        self.mean = (d @ np.array([0.8, 0.5, -0.3]))[:, None] * beat[None, :]
        self._gains: dict = {}

    # ------------------------------------------------------------------ prior
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``[n, L, T]`` prior draws."""
        z = rng.standard_normal((n, *self.shape))
        e = (self.uc * np.sqrt(self.lc)) @ z @ (self.uk * np.sqrt(self.lk)).T
        return self.mean + e + self.floor * rng.standard_normal((n, *self.shape))

    def denoiser(self, cond=None):
        uc, uk = torch.as_tensor(self.uc), torch.as_tensor(self.uk)
        lam = torch.as_tensor(np.outer(self.lc, self.lk) + self.floor**2)
        mean = torch.as_tensor(self.mean)

        def D(x: torch.Tensor, sigma) -> torch.Tensor:
            b = x.shape[0]
            s2 = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1).expand(b)[:, None, None] ** 2
            p = uc.T @ (x.double().cpu() - mean) @ uk
            return (mean + uc @ (p * lam / (lam + s2)) @ uk.T).to(x.dtype)

        return D

    # ------------------------------------------------------------------ posterior
    def _split(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        if not np.array_equal(mask, np.outer(mask.any(axis=1), mask.any(axis=0))):
            raise ValueError("the exact posterior needs a mask observing some leads at some times (a product)")
        return rows, cols

    def _gain(self, mask: np.ndarray, s2: float):
        """``r [n, Lo, v] -> Sigma A^T (A Sigma A^T + s2 I)^{-1} r [n, L, T]`` for the mask's selection ``A``."""
        key = (mask.tobytes(), mask.shape, float(s2))
        if key not in self._gains:
            self._gains[key] = self._make_gain(mask, s2)
        return self._gains[key]

    def _make_gain(self, mask: np.ndarray, s2: float):
        rows, cols = self._split(mask)
        gc, vc = np.linalg.eigh(self.C[np.ix_(rows, rows)])
        gk, vk = np.linalg.eigh(self.K[np.ix_(cols, cols)])
        den = np.outer(gc, gk) + self.floor**2 + s2
        c_o, k_o = self.C[:, rows], self.K[cols, :]

        def apply(r: np.ndarray) -> np.ndarray:
            w = vc @ ((vc.T @ r @ vk) / den) @ vk.T
            out = c_o @ w @ k_o
            out[:, rows[:, None], cols[None, :]] += self.floor**2 * w
            return out

        return apply

    def posterior_mean(self, y: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
        """Exact ``E[x | y]`` ``[P, L, T]`` for ``y [P, m]`` = the masked entries plus ``N(0, sigma^2)``."""
        rows, cols = self._split(mask)
        r = y.reshape(len(y), len(rows), len(cols)) - self.mean[np.ix_(rows, cols)]
        return self.mean + self._gain(mask, sigma**2)(r)


class ExactRhythmPosterior:
    """A ``SamplesProvider`` drawing exact posterior samples under a :class:`KroneckerRhythmPrior` (any mask
    that observes some leads at some times, one noise std)."""

    def __init__(self, prior: KroneckerRhythmPrior):
        self.prior = prior
        self.calls: list[dict] = []

    def estimate_sigma(self, cond, y, obs, generator):  # pragma: no cover - the rhythm task gives sigma
        raise AssertionError("the rhythm task never estimates noise levels")

    def sample(self, cond, y, obs, sigma, n_samples, generator):
        assert cond is None
        s = np.unique(np.asarray(sigma))
        assert len(s) == 1, "one likelihood std for every entry"
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=generator.device))
        rng = np.random.default_rng(seed)
        prior, mask = self.prior, obs.mask
        rows, cols = prior._split(mask)
        gain = prior._gain(mask, float(s[0]) ** 2)
        P = len(y)
        out = np.zeros((P, n_samples, *prior.shape), dtype=np.float32)
        for p in range(P):
            x0 = prior.sample(n_samples, rng)
            sim = x0[:, rows[:, None], cols[None, :]] + float(s[0]) * rng.standard_normal(
                (n_samples, len(rows), len(cols))
            )
            out[p] = x0 + gain(y[p].reshape(1, len(rows), len(cols)) - sim)
        self.calls.append({"P": P, "n": n_samples, "m": obs.m})
        return out


def exact_factory(prior: KroneckerRhythmPrior):
    provider = ExactRhythmPosterior(prior)

    def make(name=None, **options):
        provider.last_request = (name, options)
        return provider

    return make, provider


# --------------------------------------------------------------------------- databases and models
LABELS = ("NSR", "BBB", "AF", "other")


def make_rhythm_db(prior: KroneckerRhythmPrior, counts: dict[str, int], seed: int = 0, labels=None) -> RhythmDatabase:
    """An in-memory rhythm database of prior draws, zero-padded: ``counts[split]`` rhythms, one patient each
    (two rhythms for every third test patient), labels cycling through :data:`LABELS` (or ``labels[split]``)."""
    rng = np.random.default_rng(seed)
    xs, rows = [], []
    for split, n in counts.items():
        x = prior.sample(n, rng)
        x[..., prior.length :] = 0.0
        xs.append(x)
        labs = (labels or {}).get(split) or [LABELS[i % len(LABELS)] for i in range(n)]
        for i in range(n):
            pid = f"{split}{i // 2 if split == 'test' and i % 3 == 1 else i:03d}"
            rows.append({"record_id": f"r/{split}{i}", "patient_id": pid, "source": "test", "label": labs[i]})
            rows[-1] |= {c: int(labs[i] == c) for c in ("NSR", "BBB", "AF")} | {"split": split, "fs_original": 500.0}
    meta = pd.DataFrame(rows)
    meta.insert(0, "rhythm_id", np.arange(len(meta)))
    manifest = {
        "fs": prior.fs,
        "leads": list(prior.leads),
        "length": prior.length,
        "padded_length": prior.padded_length,
        "pad_left": 0,
        "pad_right": prior.padded_length - prior.length,
        "data_hash": f"kronecker-{seed}",
        "sources": [{"source": "test"}],
    }
    return RhythmDatabase(None, np.concatenate(xs).astype(np.float32), meta, manifest)


class LeadFeatures(nn.Module):
    """A fixed, cheap 'classifier network': per-class logits from a seeded random 1-D convolution of the 12 leads."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv1d(12, 3, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        return h.abs().mean(dim=-1) - h.mean(dim=-1)


def stub_classifier(length: int = LENGTH, fs: float = FS) -> RhythmClassifier:
    meta = {"classes": ["NSR", "BBB", "AF"], "fs": fs, "length": length, "window": 250, "stride": 125}
    meta |= {"mean": 0.0, "std": 0.3, "window_aggregate": "max"}
    return RhythmClassifier(LeadFeatures(), meta, torch.device("cpu"))


def tiny_ecgrecover(length: int = LENGTH, padded_length: int = PADDED) -> ecgrecover.ECGrecoverNet:
    torch.manual_seed(0)
    cfg = ecgrecover.ECGrecoverConfig(channels=2, depth=2, dropout=0.0, length=length, padded_length=padded_length)
    return ecgrecover.ECGrecoverNet(cfg).eval()


class Inputs:
    """Preloaded task inputs (what ``ecgdiff.tasks.inputs.TaskInputs.load`` returns), counting each load."""

    def __init__(self, **objects):
        self.objects = objects
        self.loads: list[str] = []

    def __contains__(self, name: str) -> bool:
        return name in self.objects

    def load(self, name: str):
        self.loads.append(name)
        return self.objects[name]
