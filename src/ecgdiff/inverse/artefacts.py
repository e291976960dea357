"""Artefact removal: a harmonic artefact model alternated with diffusion posterior sampling (the talk, "Artefact
Removal in ECGs").

Model (the talk)::

    y = x + sum_j mu_j phi_j + sigma_y z,      x ~ p_0 (the diffusion prior),  z ~ N(0, I),

per lead, with ``phi_j`` cosines and sines ``cos(2 pi f_k t)``, ``sin(2 pi f_k t)`` at ``n_freqs`` frequencies
``f_k`` on ``linspace(f_min, f_max, n_freqs)`` and ``t = n / fs`` (the authors' ``denoising_mgps.py``: 512
frequencies on ``linspace(0, 50 Hz)`` at 100 Hz, i.e. 1024 regressors per lead; regressor layout
``[cos f_0 .. cos f_{F-1}, sin f_0 .. sin f_{F-1}]`` as theirs).

Alternation (the talk's "propose weights, sample the most plausible reconstruction, regress new weights,
iterate"; the authors' loop):

- round 0: Lasso (``lasso_alpha`` 0.1) of the noisy signal on the harmonics, per lead;
- every later round (``rounds`` = 5 in all): ``n_samples`` posterior draws of the clean signal ``x`` given
  ``y - artefact`` (identity observation of the valid samples, :class:`ecgdiff.inverse.Mask`; the zero padding is
  not observed) with any registered sampler (``get_sampler(sampler, **sampler_options)``; one call for all
  patients), the per-lead noise std taken from the current residual, then a Ridge refit (``ridge_alpha`` 1) of
  ``y - posterior mean`` on the harmonics;
- a patient stops once the relative change of its artefact estimate falls below ``tol``; ``rounds`` caps the
  loop.

Choices, and where they differ from the authors' code:

- **Zero regressors.** ``sin(2 pi f t)`` vanishes on the sample grid at ``f = 0`` and, when ``f_max = fs / 2``
  (the default grid), at the Nyquist frequency too (``sin(pi n) = 0``). Such columns (norm below
  ``1e-8 sqrt(n)``) are dropped from the design before any fit; their weights are reported as exactly 0 in the
  full ``2 * n_freqs`` layout. (A zero column gets a zero weight from Lasso and Ridge anyway; dropping it keeps
  the solvers off a degenerate column.) ``cos`` at 0 Hz is the constant regressor.
- **No intercept.** Fits use ``fit_intercept=False``: the constant (``cos 0 Hz``) regressor carries the offset,
  so a baseline offset is part of the artefact. The authors fitted with scikit-learn's default intercept and
  kept only ``coef_``, so the window's mean offset never entered their artefact estimate.
- **Valid samples only.** Regressions and the residual use the ``length`` valid samples; the returned artefact
  is 0 on the padding (never observed, never scored). The authors fitted over the padded window.
- **Noise std.** Per lead, the root mean square over the valid samples of ``y - artefact - x_hat`` with
  ``x_hat`` the previous round's posterior mean (0 before the first sampling round, as the authors' round 0
  uses zero samples), floored at ``sigma_floor`` (``noise_std="residual"``). The authors used one std for all
  leads, the std of ``y - artefact`` over the window (the signal included: a deliberately loose likelihood;
  ``noise_std="signal"`` is that rule per lead), and added fresh noise of that std to the observation every
  round (not done here).
- **Penalty conventions.** scikit-learn's Lasso minimises ``||r - X w||^2 / (2 n) + alpha ||w||_1`` and Ridge
  ``||r - X w||^2 + alpha ||w||^2`` (no ``1 / n``). The authors used scikit-learn with these alphas, so the
  conventions are theirs; ``n`` is the 1000 valid samples here (their 1024 padded ones).
- **Ridge closed form.** The design is the same for every lead and patient, so all Ridge fits of a round are one
  matrix product ``W = R H^T`` with ``H = (X^T X + alpha I)^{-1} X^T = X^T (X X^T + alpha I)^{-1}`` (the smaller
  system is solved, once per window length, in float64; checked against ``sklearn.linear_model.Ridge``).
- **Lasso per lead.** ``sklearn.linear_model.Lasso`` with a 2-D target fits each column independently
  (coordinate descent per target, one shared Gram matrix, no joblib): exactly the per-lead problems.
  ``MultiTaskLasso`` would be a different problem (an l2,1 penalty selecting the same frequencies in every lead).
- **Identifiability.** On the default grid the design has 1022 non-zero columns for 1000 samples and its
  frequencies are 0.098 Hz apart (below the 0.1 Hz resolution of a 10-s window): the weights are not
  identifiable, only the fitted artefact is, and the span holds almost every signal of the window (a Ridge fit,
  alpha 1, of a clean LUDB rhythm reproduces it to 0.2 % of its rms). The artefact and the ECG are then told
  apart only by the Lasso's sparsity in round 0 and by the prior: from round 1 on, the Ridge refit of
  ``y - x_hat`` is ``y - x_hat`` itself, so the residual, hence ``noise_std="residual"``, falls to the floor and
  the later rounds reproduce round 1's posterior mean. On a grid with fewer regressors than samples (e.g. a
  few Hz for baseline wander) the weights are identifiable and recovered (``tests/unit/test_artefacts.py``).
- **Sampler.** The talk's table names MGPS (the default here); the authors' script ran DDNM+ (``eta`` 0.85):
  ``sampler="ddnm"`` reproduces that.

What is returned (:class:`ArtefactResult`): the posterior samples of the last sampling round, the final artefact
estimate (after the last refit), the artefact those samples were conditioned on, the weights, and a per-round
history.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso

from .base import available, get_sampler
from .operators import Mask

Tensor = torch.Tensor
Denoiser = Callable[[Tensor, Tensor], Tensor]

#: A regressor whose norm over the window is below ``ZERO_COLUMN_RTOL * sqrt(n)`` is identically zero there.
ZERO_COLUMN_RTOL = 1e-8


@dataclass
class ArtefactSettings:
    """Settings of the harmonic artefact model and of the alternation (defaults: the talk / the authors' code).

    Attributes:
        n_freqs: number of frequencies (authors: 512), so ``2 * n_freqs`` regressors per lead.
        f_max, f_min: frequency range in Hz of ``linspace(f_min, f_max, n_freqs)`` (authors: 0 to 50 Hz).
        fs: sampling rate in Hz of the signals (the rhythm branch: 100 Hz).
        rounds: total rounds, round 0 (Lasso) included (authors: 5); at least 2 (one sampling round).
        lasso_alpha: scikit-learn Lasso penalty of round 0 (authors: 0.1).
        ridge_alpha: scikit-learn Ridge penalty of the later rounds (authors: 1).
        tol: a patient stops when ``||a_k - a_{k-1}|| / ||a_{k-1}||`` (valid samples) is below ``tol``; 0 runs
            every round (the authors' fixed 5 rounds).
        sampler, sampler_options: the registered sampler of the inner step and its options (the talk's table:
            MGPS with its defaults; the authors' script: ``ddnm`` with ``eta`` 0.85).
        n_samples: posterior draws per patient and round (the talk: 10).
        noise_std: the per-lead noise std of each sampling round: ``"residual"`` (default: the root mean square of
            ``y - artefact - x_hat``), ``"signal"`` (the authors' rule, per lead: the standard deviation of
            ``y - artefact``, a deliberately loose likelihood), or a number (fixed, in mV).
        sigma_floor: smallest per-lead noise std passed to the sampler, in signal units (mV).
        lasso_max_iter, lasso_tol: coordinate-descent limits of the Lasso (scikit-learn's defaults: 1000, 1e-4).
    """

    n_freqs: int = 512
    f_max: float = 50.0
    f_min: float = 0.0
    fs: float = 100.0
    rounds: int = 5
    lasso_alpha: float = 0.1
    ridge_alpha: float = 1.0
    tol: float = 1e-3
    sampler: str = "mgps"
    sampler_options: dict[str, Any] = field(default_factory=dict)
    n_samples: int = 10
    noise_std: str | float = "residual"
    sigma_floor: float = 1e-3
    lasso_max_iter: int = 1000
    lasso_tol: float = 1e-4

    def __post_init__(self) -> None:
        for name in ("n_freqs", "n_samples", "lasso_max_iter"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.rounds < 2:
            raise ValueError(f"rounds must be >= 2 (round 0 fits the Lasso, later rounds sample), got {self.rounds}")
        if self.fs <= 0:
            raise ValueError(f"fs must be > 0, got {self.fs}")
        if not 0.0 <= self.f_min <= self.f_max:
            raise ValueError(f"need 0 <= f_min <= f_max, got f_min={self.f_min}, f_max={self.f_max}")
        if self.f_max > self.fs / 2:
            raise ValueError(f"f_max {self.f_max} Hz exceeds the Nyquist frequency {self.fs / 2} Hz of fs={self.fs}")
        for name in ("lasso_alpha", "ridge_alpha", "sigma_floor", "lasso_tol"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if isinstance(self.noise_std, str):
            if self.noise_std not in ("residual", "signal"):
                raise ValueError(f"noise_std must be 'residual', 'signal' or a number, got {self.noise_std!r}")
        elif not float(self.noise_std) > 0:
            raise ValueError(f"a fixed noise_std must be > 0, got {self.noise_std}")
        if self.tol < 0:
            raise ValueError(f"tol must be >= 0, got {self.tol}")
        if self.sampler not in available():
            raise ValueError(f"unknown sampler {self.sampler!r}; available: {', '.join(available())}")
        get_sampler(self.sampler, **dict(self.sampler_options))  # unknown or invalid options fail here

    @property
    def frequencies(self) -> np.ndarray:
        """The ``n_freqs`` frequencies in Hz."""
        return np.linspace(self.f_min, self.f_max, self.n_freqs)

    @property
    def n_regressors(self) -> int:
        return 2 * self.n_freqs


def harmonics(n_samples: int, fs: float, frequencies: np.ndarray) -> np.ndarray:
    """The regressors ``[n_samples, 2 F]`` (float64): ``cos(2 pi f_k t)`` for every ``f_k``, then the sines."""
    t = np.arange(n_samples, dtype=np.float64) / float(fs)
    ang = 2.0 * np.pi * t[:, None] * np.asarray(frequencies, dtype=np.float64)[None, :]
    return np.concatenate([np.cos(ang), np.sin(ang)], axis=1)


@dataclass
class ArtefactResult:
    """Output of :meth:`ArtefactModel.run` for ``P`` patients of shape ``[L, T]``.

    Attributes:
        samples: ``[P, n_samples, L, T]`` posterior draws of the clean signal from each patient's last sampling
            round.
        artefact: ``[P, L, T]`` final artefact estimate (after the last refit; 0 on the padding).
        artefact_sampled: ``[P, L, T]`` the artefact ``samples`` were conditioned on (``y - artefact_sampled``).
        weights: ``[P, L, 2 * n_freqs]`` final harmonic weights (0 for the dropped zero regressors).
        sigma_y: ``[P, L]`` noise stds of the last sampling round.
        rounds_run: ``[P]`` rounds each patient ran (round 0 included).
        converged: ``[P]`` whether each patient met the tolerance before the cap.
        history: one dict per round: ``round``, ``step`` (``"lasso"`` or ``"ridge"``), ``active`` (patient
            indices), ``rel_change`` ``[P]`` (NaN where not computed), ``sigma_y`` ``[P, L]`` (NaN where no
            sampling), ``residual_rms`` ``[P, L]`` (of ``y - artefact - x_hat`` after the round, NaN for inactive
            patients), ``sampling_s``, ``regression_s``, ``denoiser_calls``.
    """

    samples: Tensor
    artefact: Tensor
    artefact_sampled: Tensor
    weights: np.ndarray
    sigma_y: np.ndarray
    rounds_run: np.ndarray
    converged: np.ndarray
    history: list[dict[str, Any]]

    @property
    def mean(self) -> Tensor:
        """``[P, L, T]`` posterior mean of the clean signal."""
        return self.samples.mean(1)


class ArtefactModel:
    """The harmonic artefact model over windows of ``length`` valid samples (see the module docstring)."""

    def __init__(self, settings: ArtefactSettings | None = None, length: int | None = None) -> None:
        self.settings = settings or ArtefactSettings()
        self.length = length
        self._cache: dict[int, _Design] = {}

    # ------------------------------------------------------------------ design and regressions
    def design(self, length: int) -> _Design:
        """The design over ``length`` samples (cached per length)."""
        if length not in self._cache:
            s = self.settings
            self._cache[length] = _Design(harmonics(length, s.fs, s.frequencies), s.ridge_alpha)
        return self._cache[length]

    def fit_lasso(self, residual: np.ndarray) -> np.ndarray:
        """Lasso weights ``[K, 2F]`` of the rows of ``residual [K, n]`` (one independent problem per row)."""
        d = self.design(residual.shape[1])
        s = self.settings
        model = Lasso(
            alpha=s.lasso_alpha,
            fit_intercept=False,
            precompute=True,
            max_iter=s.lasso_max_iter,
            tol=s.lasso_tol,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # reported through n_iter_ below instead
            model.fit(d.X, np.asarray(residual, dtype=np.float64).T)
        coef = np.atleast_2d(model.coef_)
        self.last_lasso_iters = np.atleast_1d(model.n_iter_)
        return d.expand(coef)

    def fit_ridge(self, residual: np.ndarray) -> np.ndarray:
        """Ridge weights ``[K, 2F]`` of the rows of ``residual [K, n]`` by the shared closed form."""
        d = self.design(residual.shape[1])
        return d.expand(np.asarray(residual, dtype=np.float64) @ d.H.T)

    def evaluate(self, weights: np.ndarray, length: int) -> np.ndarray:
        """Artefact ``[K, length]`` of weights ``[K, 2F]``."""
        d = self.design(length)
        return np.asarray(weights, dtype=np.float64)[:, d.keep] @ d.X.T

    def noise_level(self, y: np.ndarray, artefact: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
        """Per-lead noise std ``[P, L]`` of a sampling round (``settings.noise_std``; arrays ``[P, L, n]``)."""
        rule = self.settings.noise_std
        if rule == "residual":
            r = y - artefact - x_hat
            return np.sqrt((r * r).mean(-1))
        if rule == "signal":
            return (y - artefact).std(-1)
        return np.full(y.shape[:2], float(rule))

    # ------------------------------------------------------------------ the inner step
    def posterior_step(
        self,
        denoiser: Denoiser,
        y: Tensor,
        artefact: Tensor | np.ndarray,
        length: int,
        sigma_y: Tensor | np.ndarray,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Posterior draws ``[P, n_samples, L, T]`` of ``x`` given ``y - artefact`` (``y [P, L, T]``).

        The observation is the identity on the first ``length`` samples of every lead (a :class:`Mask`; the
        padding is not observed), with noise std ``sigma_y [P, L]`` per patient and lead; one sampler call for all
        patients. ``artefact`` is ``[P, L, T]`` or ``[P, L, length]`` (only its valid samples are used).
        """
        P, L, T = y.shape
        art = torch.as_tensor(artefact, dtype=y.dtype, device=y.device)
        if art.shape[:2] != (P, L) or art.shape[2] < length:
            raise ValueError(f"artefact must be [P, L, >= {length}] = [{P}, {L}, ...], got {tuple(art.shape)}")
        sig = torch.as_tensor(sigma_y, dtype=y.dtype, device=y.device)
        if sig.shape != (P, L):
            raise ValueError(f"sigma_y must be [P, L] = [{P}, {L}], got {tuple(sig.shape)}")
        valid = torch.zeros(L, T, dtype=torch.bool, device=y.device)
        valid[:, :length] = True
        op = Mask(valid)
        target = torch.zeros_like(y)
        target[..., :length] = y[..., :length] - art[..., :length]
        sig_m = sig[:, :, None].expand(P, L, length).reshape(P, L * length)
        sampler = get_sampler(self.settings.sampler, **dict(self.settings.sampler_options))
        out = sampler.sample_batch(denoiser, op(target), op, sig_m, self.settings.n_samples, generator)
        self.last_denoiser_calls = int(getattr(sampler, "last_calls", 0))
        return out

    # ------------------------------------------------------------------ the alternation
    def run(
        self,
        denoiser: Denoiser,
        y: Tensor | np.ndarray,
        length: int | None = None,
        generator: torch.Generator | None = None,
    ) -> ArtefactResult:
        """Alternate harmonic regression and posterior sampling for ``P`` noisy signals ``y [P, L, T]``.

        ``length`` (default: the model's, else ``T``) is the number of valid samples; the rest is padding.
        The samples come out on ``y``'s device in ``y``'s floating dtype (float32 for non-float input).
        """
        s = self.settings
        y = torch.as_tensor(y)
        if not y.is_floating_point():
            y = y.to(torch.get_default_dtype())
        if y.ndim != 3:
            raise ValueError(f"y must be [P, L, T], got shape {tuple(y.shape)}")
        P, L, T = y.shape
        n = int(length if length is not None else (self.length if self.length is not None else T))
        if not 0 < n <= T:
            raise ValueError(f"length must be in 1..{T}, got {n}")
        if not bool(torch.isfinite(y[..., :n]).all()):
            raise ValueError("y has non-finite values on its valid samples")
        dev, dt = y.device, y.dtype
        y_np = y[..., :n].detach().double().cpu().numpy()  # [P, L, n]

        history: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        W = self.fit_lasso(y_np.reshape(P * L, n)).reshape(P, L, -1)
        art = self.evaluate(W.reshape(P * L, -1), n).reshape(P, L, n)
        x_hat = np.zeros_like(y_np)
        history.append(
            _record(0, "lasso", np.arange(P), np.full(P, np.nan), np.full((P, L), np.nan), y_np - art, P, L)
            | {"sampling_s": 0.0, "regression_s": time.perf_counter() - t0, "denoiser_calls": 0}
        )

        samples = torch.zeros(P, s.n_samples, L, T, dtype=dt, device=dev)
        art_sampled = np.zeros_like(art)
        sigma_last = np.full((P, L), np.nan)
        rounds_run = np.ones(P, dtype=np.int64)
        converged = np.zeros(P, dtype=bool)
        active = np.arange(P)
        for r in range(1, s.rounds):
            # inner step: posterior draws given y - artefact, per-lead noise std (from the current residual)
            sigma = np.maximum(self.noise_level(y_np[active], art[active], x_hat[active]), s.sigma_floor)  # [A, L]
            idx = torch.as_tensor(active, device=dev)
            t1 = time.perf_counter()
            draws = self.posterior_step(denoiser, y[idx], art[active], n, sigma, generator)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t_sample = time.perf_counter() - t1
            samples[idx] = draws
            art_sampled[active] = art[active]
            sigma_last[active] = sigma
            x_hat[active] = draws[..., :n].mean(1).double().cpu().numpy()

            # refit: Ridge of y - posterior mean
            t2 = time.perf_counter()
            W_a = self.fit_ridge((y_np[active] - x_hat[active]).reshape(-1, n)).reshape(len(active), L, -1)
            art_a = self.evaluate(W_a.reshape(-1, W_a.shape[-1]), n).reshape(len(active), L, n)
            t_reg = time.perf_counter() - t2
            change = np.full(P, np.nan)
            num = np.sqrt(((art_a - art[active]) ** 2).sum((1, 2)))
            den = np.sqrt((art[active] ** 2).sum((1, 2)))
            change[active] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, 0.0))
            W[active], art[active] = W_a, art_a
            rounds_run[active] = r + 1
            sig_rec = np.full((P, L), np.nan)
            sig_rec[active] = sigma
            history.append(
                _record(r, "ridge", active, change, sig_rec, y_np - art - x_hat, P, L)
                | {"sampling_s": t_sample, "regression_s": t_reg, "denoiser_calls": self.last_denoiser_calls}
            )
            done = change[active] < s.tol
            converged[active[done]] = True
            active = active[~done]
            if len(active) == 0:
                break

        def padded(a: np.ndarray) -> Tensor:
            out = torch.zeros(P, L, T, dtype=dt, device=dev)
            out[..., :n] = torch.as_tensor(a, dtype=dt, device=dev)
            return out

        return ArtefactResult(
            samples=samples,
            artefact=padded(art),
            artefact_sampled=padded(art_sampled),
            weights=W,
            sigma_y=sigma_last,
            rounds_run=rounds_run,
            converged=converged,
            history=history,
        )


def _record(r, step, active, change, sigma, resid, P, L) -> dict[str, Any]:
    rms = np.full((P, L), np.nan)
    rms[active] = np.sqrt((resid[active] ** 2).mean(-1))
    return {
        "round": r,
        "step": step,
        "active": [int(a) for a in active],
        "rel_change": change,
        "sigma_y": sigma,
        "residual_rms": rms,
    }


@dataclass
class _Design:
    """Harmonic design ``X [n, 2F]``, its non-zero columns, and the Ridge operator ``H [p, n]`` on them."""

    full: np.ndarray
    ridge_alpha: float

    def __post_init__(self) -> None:
        n = self.full.shape[0]
        norms = np.linalg.norm(self.full, axis=0)
        self.keep = norms > ZERO_COLUMN_RTOL * np.sqrt(n)
        self.X = np.ascontiguousarray(self.full[:, self.keep])

    @cached_property
    def H(self) -> np.ndarray:
        """``(X^T X + alpha I)^{-1} X^T`` (float64), through whichever of the two Gram systems is smaller."""
        X, a = self.X, self.ridge_alpha
        n, p = X.shape
        if p <= n:
            G = X.T @ X + a * np.eye(p)
            return np.linalg.solve(G, X.T)
        G = X @ X.T + a * np.eye(n)
        return np.linalg.solve(G, X).T  # X^T (X X^T + a I)^{-1}, G symmetric

    def expand(self, coef: np.ndarray) -> np.ndarray:
        """Weights on the kept columns ``[K, p]`` -> the full layout ``[K, 2F]`` (0 for dropped columns)."""
        out = np.zeros((coef.shape[0], self.full.shape[1]))
        out[:, self.keep] = coef
        return out


def settings_from_config(section: dict[str, Any] | None) -> ArtefactSettings:
    """:class:`ArtefactSettings` from a config section (unknown keys are errors naming the key)."""
    section = dict(section or {})
    known = {f.name for f in dataclasses.fields(ArtefactSettings)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(f"artefact settings: unknown key(s) {unknown}; known: {sorted(known)}")
    return ArtefactSettings(**section)
