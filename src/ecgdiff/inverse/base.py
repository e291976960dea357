"""The sampler interface, the registry behind :func:`get_sampler`, and what every sampler shares.

A *denoiser* is any callable ``D(x, sigma) -> x0_hat`` in the EDM / variance-exploding convention
(``x_sigma = x0 + sigma * noise``), with ``x`` of shape ``[B, *x_shape]`` and ``sigma`` of shape ``[B]``.
A trained prior becomes one by binding its conditioning; an analytic prior (:mod:`ecgdiff.inverse.gmm`)
is one too. Samplers see nothing else of the model.

Batching contract: :meth:`Sampler.sample_batch` runs ``P`` patients at once and always calls the denoiser on
``[P * B, *x_shape]`` in **patient-major** order (rows ``p*B .. p*B + B - 1`` belong to patient ``p``), with
the same ``B`` for every patient in a call. A conditional prior's bound denoiser repeats each patient's
conditioning ``B = batch // P`` times with ``repeat_interleave`` (``ecgdiff.diffusion.prior.Prior.denoiser``).

Every sampler runs on the device of ``y`` in ``y``'s floating dtype (float32 by default) and draws all its
randomness from ``generator`` when one is given (a generator on another device is used there and the draws
are moved), so a seeded call is reproducible.

Bad inputs are refused here, once for every sampler and the noise estimation: NaN or inf in ``y`` or ``sigma_y``
(:func:`check_observations`; a NaN observation would otherwise make every sample NaN without an error), a
denoiser that returns NaN or inf or something other than a tensor (reported by :class:`DenoiserCall` with the
noise level of the call), sampler states that turned NaN between two denoiser calls (a NaN gradient through the
denoiser, a diverging step: reported with both levels), non-finite final samples, and NaN or inf options.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch

from ..diffusion import schedule
from .operators import Observation, Operator, SigmaLike, build_observation

Tensor = torch.Tensor
Denoiser = Callable[[Tensor, Tensor], Tensor]


@runtime_checkable
class Sampler(Protocol):
    """What :func:`get_sampler` returns."""

    name: ClassVar[str]

    def sample(
        self,
        denoiser: Denoiser,
        y: Tensor,
        operator: Operator,
        sigma_y: SigmaLike,
        n_samples: int,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``n_samples`` draws ``[n_samples, *x_shape]`` from the posterior of ``x`` given ``y [m]``."""
        ...

    def sample_batch(
        self,
        denoiser: Denoiser,
        ys: Tensor,
        operator: Operator | Sequence[Operator],
        sigma_y: SigmaLike,
        n_samples: int,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``[P, n_samples, *x_shape]`` for ``P`` observations ``ys [P, m]`` at once."""
        ...


_REGISTRY: dict[str, type[BaseSampler]] = {}


def register(cls: type[BaseSampler]) -> type[BaseSampler]:
    """Class decorator adding a sampler to the registry under ``cls.name``."""
    if cls.name in _REGISTRY:
        raise ValueError(f"sampler {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """Names accepted by :func:`get_sampler`."""
    return sorted(_REGISTRY)


def get_sampler(name: str, **options) -> BaseSampler:
    """The sampler ``name`` with ``options`` (unknown options are errors; see each sampler's defaults)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown sampler {name!r}; available: {', '.join(available())}")
    cls = _REGISTRY[name]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"sampler {name!r} has no option(s) {unknown}; options are {sorted(known)}")
    return cls(**options)


def default_options(name: str) -> dict:
    """The documented default options of sampler ``name``."""
    cls = _REGISTRY[name]
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            out[f.name] = f.default_factory()  # type: ignore[misc]
    return out


@dataclasses.dataclass(frozen=True)
class SamplerSpec:
    """A sampler by ``name`` and ``options``, validated against the sampler's own fields when made: a misspelt
    option, a value of the wrong type (``steps: "four"``) or out of range (``particles: -1``) is an error naming the
    sampler and the option, before any model is loaded. :meth:`build` makes the sampler."""

    name: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in _REGISTRY:
            raise KeyError(f"unknown sampler {self.name!r}; available: {', '.join(available())}")
        object.__setattr__(self, "options", dict(self.options or {}))
        hints = typing.get_type_hints(_REGISTRY[self.name])
        for key, value in self.options.items():
            if key not in hints or key == "name":
                known = sorted(f.name for f in dataclasses.fields(_REGISTRY[self.name]))
                raise TypeError(f"sampler {self.name!r} has no option {key!r}; options are {known}")
            if not _type_ok(value, hints[key]):
                raise TypeError(
                    f"sampler {self.name!r}: option {key!r} must be {_type_name(hints[key])}, got {value!r}"
                )
        try:
            self.build()
        except (TypeError, ValueError) as err:
            raise ValueError(f"sampler {self.name!r}: {err}") from err

    def build(self, **override: Any) -> BaseSampler:
        """The sampler with :attr:`options` (and ``override`` on top, e.g. a particle count of a sweep)."""
        return get_sampler(self.name, **{**self.options, **override})

    def replace(self, **override: Any) -> SamplerSpec:
        """The same sampler with some options changed (validated)."""
        return SamplerSpec(self.name, {**self.options, **override})


def _type_ok(value: Any, hint: Any) -> bool:
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def _type_name(hint: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))


# --------------------------------------------------------------------------- randomness
class RNG:
    """Draws on ``device`` from ``generator`` (drawn on the generator's own device and moved when they differ)."""

    def __init__(self, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype) -> None:
        self.generator, self.device, self.dtype = generator, device, dtype
        self._gen_device = generator.device if generator is not None else device

    def _draw(self, fn, shape) -> Tensor:
        out = fn(*shape, generator=self.generator, device=self._gen_device, dtype=self.dtype)
        return out.to(self.device) if self._gen_device != self.device else out

    def randn(self, *shape: int) -> Tensor:
        return self._draw(torch.randn, shape)

    def rand(self, *shape: int) -> Tensor:
        return self._draw(torch.rand, shape)

    def randint(self, high: int, *shape: int) -> Tensor:
        return (self.rand(*shape) * high).long().clamp_(max=high - 1)


# --------------------------------------------------------------------------- denoiser calls
class DenoiserCall:
    """Calls a denoiser on ``[P, B, d]`` states as ``[P * B, *x_shape]`` (patient-major) and counts calls.

    ``sigma`` is a float (one level for everyone) or a ``[P]`` tensor (one level per patient). Level 0 returns
    ``x`` itself (``D(x, 0) = x``), so no sampler ever evaluates a network at sigma = 0.
    """

    def __init__(self, denoiser: Denoiser, x_shape: tuple[int, ...]) -> None:
        self.denoiser, self.x_shape = denoiser, x_shape
        self.calls = 0  # number of denoiser invocations
        self.evaluations = 0  # number of states denoised (sum of batch sizes)
        self.last_level = ""  # noise level(s) of the latest call, for error messages

    def __call__(self, x: Tensor, sigma: float | Tensor) -> Tensor:
        P, B, d = x.shape
        if isinstance(sigma, Tensor):
            if sigma.shape != (P,):
                raise ValueError(f"per-patient sigma must be [P]={P}, got {tuple(sigma.shape)}")
            if bool((sigma == 0).all()):
                return x
            if bool((sigma == 0).any()):
                raise ValueError("a denoiser batch mixes sigma = 0 with sigma > 0")
            sig = sigma.to(device=x.device, dtype=x.dtype).repeat_interleave(B)
        else:
            if sigma == 0:
                return x
            sig = torch.full((P * B,), float(sigma), device=x.device, dtype=x.dtype)
        self.calls += 1
        self.evaluations += P * B
        if not bool(torch.isfinite(x).all()):
            after = f" (the previous call was at {self.last_level})" if self.last_level else ""
            raise FloatingPointError(
                f"the sampler's states hold {_non_finite(x)} before the denoiser call at noise level "
                f"{_levels(sigma, x)}{after}: the step since the previous call diverged (a NaN or inf gradient "
                "through the denoiser, or step sizes or guidance too large for this problem)"
            )
        self.last_level = _levels(sigma, x, every=True)
        out = self.denoiser(x.reshape(P * B, *self.x_shape), sig)
        if not isinstance(out, Tensor):
            raise TypeError(f"the denoiser returned a {type(out).__name__}, expected a torch tensor")
        if out.shape != (P * B, *self.x_shape):
            raise ValueError(f"denoiser returned shape {tuple(out.shape)}, expected {(P * B, *self.x_shape)}")
        out = out.reshape(P, B, d).to(x.dtype)
        if not bool(torch.isfinite(out).all()):
            raise FloatingPointError(
                f"the denoiser returned {_non_finite(out)} at noise level {_levels(sigma, out)} "
                f"(denoiser call {self.calls}); the prior network or its weights are broken at this level"
            )
        return out


def _non_finite(t: Tensor) -> str:
    """``'3 NaN and 1 inf of 24 values'``."""
    n_nan = int(torch.isnan(t).sum())
    n_inf = int(torch.isinf(t).sum())
    parts = [f"{n_nan} NaN" if n_nan else "", f"{n_inf} inf" if n_inf else ""]
    return f"{' and '.join(p for p in parts if p)} of {t.numel()} values"


def _levels(sigma: float | Tensor, t: Tensor, every: bool = False) -> str:
    """The noise level of a call; for per-patient levels, those of the patients whose rows ``t [P, B, d]`` are not
    finite (``every``: of all patients)."""
    if not isinstance(sigma, Tensor):
        return f"sigma = {float(sigma):.6g}"
    if every:
        return f"sigma = {float(sigma.min()):.6g} .. {float(sigma.max()):.6g} (per patient)"
    bad = (~torch.isfinite(t)).flatten(1).any(1).nonzero().flatten().tolist()
    return ", ".join(f"sigma = {float(sigma[p]):.6g} (patient {p})" for p in bad[:5]) + (" ..." if len(bad) > 5 else "")


def check_finite(name: str, value: Any, hint: str = "") -> None:
    """Raise ``ValueError`` naming ``name``, the count of NaN / inf entries and the first one's index, if any."""
    t = torch.as_tensor(value)
    if not t.is_floating_point() or bool(torch.isfinite(t).all()):
        return
    where = ""
    if t.ndim:
        first = tuple(int(i) for i in (~torch.isfinite(t)).nonzero()[0])
        where = f", the first at index {first[0] if len(first) == 1 else first}"
    raise ValueError(f"{name} contains {_non_finite(t)}{where}{'; ' + hint if hint else ''}")


def check_observations(ys: Tensor, sigma_y: Any = None) -> None:
    """Refuse NaN or infinite observations ``ys [P, m]`` (or ``[m]``) and noise stds ``sigma_y``: every sampler
    (:meth:`BaseSampler.sample_batch`) and the noise estimation call this before anything else. A NaN
    observation would otherwise turn every sample into NaN without an error."""
    check_finite(
        "the observations y",
        ys,
        "an unobserved coordinate must be left out of the operator (e.g. a Mask), not passed as NaN "
        "(index: [patient, coordinate])",
    )
    if sigma_y is not None:
        check_finite("the noise std sigma_y", sigma_y)


# --------------------------------------------------------------------------- the shared base classes
@dataclasses.dataclass
class BaseSampler:
    """Shared plumbing: argument checks, batching over patients.

    Subclasses are dataclasses whose fields are their options, and implement
    ``_run(den, obs, n_samples, rng) -> [P, n_samples, d]``.
    """

    name: ClassVar[str] = ""

    def sample(
        self,
        denoiser: Denoiser,
        y: Tensor,
        operator: Operator,
        sigma_y: SigmaLike,
        n_samples: int,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        y = torch.as_tensor(y)
        if y.ndim != 1:
            raise ValueError(f"y must be [m], got shape {tuple(y.shape)} (use sample_batch for several patients)")
        sig = sigma_y
        if isinstance(sig, Tensor) and sig.ndim == 1:
            sig = sig[None, :]
        return self.sample_batch(denoiser, y[None, :], operator, sig, n_samples, generator)[0]

    def sample_batch(
        self,
        denoiser: Denoiser,
        ys: Tensor,
        operator: Operator | Sequence[Operator],
        sigma_y: SigmaLike,
        n_samples: int,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        if isinstance(n_samples, bool) or int(n_samples) != n_samples or n_samples < 1:
            raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
        n_samples = int(n_samples)
        ys = torch.as_tensor(ys)
        if not ys.is_floating_point():
            ys = ys.to(torch.get_default_dtype())
        check_observations(ys, sigma_y)
        obs = build_observation(operator, ys, sigma_y)
        rng = RNG(generator, ys.device, ys.dtype)
        den = DenoiserCall(denoiser, obs.x_shape)
        with torch.no_grad():  # samplers that need gradients re-enable them locally
            x = self._run(den, obs, n_samples, rng)
        self.last_calls = den.calls
        if not bool(torch.isfinite(x).all()):
            bad = (~torch.isfinite(x.reshape(obs.P, -1))).any(1).nonzero().flatten().tolist()
            raise FloatingPointError(
                f"{self.name}: the samples of patient(s) {bad[:10]} hold {_non_finite(x)} after the last step "
                "(the sampler diverged; its step sizes or guidance are too large for this problem)"
            )
        return x.reshape(obs.P, n_samples, *obs.x_shape)

    def _run(self, den: DenoiserCall, obs: Observation, n: int, rng: RNG) -> Tensor:  # pragma: no cover
        raise NotImplementedError


@dataclasses.dataclass
class GridSampler(BaseSampler):
    """A sampler that walks the Karras grid of EDM noise levels: ``steps`` levels from ``sigma_max`` down to
    ``sigma_min``, then 0 (:func:`ecgdiff.diffusion.schedule.karras_sigmas`). The grid's options and their checks
    live here once; subclasses change only the default of ``steps`` where their paper's differs."""

    steps: int = 50
    sigma_min: float = schedule.SIGMA_MIN
    sigma_max: float = schedule.SIGMA_MAX
    rho: float = schedule.RHO

    def __post_init__(self) -> None:
        check_grid(self)

    def grid(self) -> list[float]:
        """Decreasing noise levels ``[steps + 1]`` ending at 0."""
        return [float(v) for v in schedule.karras_sigmas(self.steps, self.sigma_min, self.sigma_max, self.rho)]


def check_grid(opts: Any) -> None:
    """The Karras grid options ``steps``, ``sigma_min``, ``sigma_max``, ``rho`` of a sampler or an SMC."""
    check_positive("steps", opts.steps)
    check_positive("sigma_min", opts.sigma_min)
    check_positive("sigma_max", opts.sigma_max)
    if not opts.sigma_max > opts.sigma_min:
        raise ValueError(f"sigma_max must exceed sigma_min, got {opts.sigma_max} <= {opts.sigma_min}")
    check_positive("rho", opts.rho)


def check_positive(name: str, value, allow_zero: bool = False) -> None:
    """``value`` must be a finite number ``> 0`` (``>= 0`` with ``allow_zero``); NaN and inf are refused."""
    ok = value >= 0 if allow_zero else value > 0
    if not ok or not math.isfinite(value):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {value}")


def check_noise_positive(obs: Observation, sampler: str) -> None:
    """Samplers whose likelihood is a Gaussian density need ``sigma_y > 0`` everywhere."""
    if bool((obs.sigma <= 0).any()):
        raise ValueError(
            f"{sampler} needs sigma_y > 0 (its guidance is the Gaussian log-likelihood); "
            "use mcgdiff, pgdm, ddnm or diffpir for noiseless observations"
        )
