"""A task's settings, resolved once at the task boundary from its params (:func:`.registry.task_params`).

:meth:`TaskContext.from_params` validates everything before any model is loaded: the task's section against
its ``Settings`` dataclass (an unknown or missing key is an error naming it), each sampler's options against the
sampler's own fields (:class:`ecgdiff.inverse.SamplerSpec`), and the noise estimation
(:class:`ecgdiff.inverse.NoiseEstimation`, whose SMC is MCGdiff's). The task modules then read typed attributes
only: ``ctx.settings.n_samples``, ``ctx.samplers["mgps"]``, ``ctx.noise.iterations``.
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .. import provenance
from ..inverse import NoiseEstimation, SamplerSpec
from ..runtime import pick_device
from . import registry
from .posterior import PosteriorSampler, SamplesProvider
from .shards import Shard, shard_seed

#: ``factory(name=None, **options) -> SamplesProvider``: the samplers a task draws from (tests pass exact ones).
ProviderFactory = Callable[..., SamplesProvider]


@dataclass(frozen=True)
class RunSettings:
    """What every task of a run shares."""

    run: str
    label: str
    seed: int
    device: str
    shards: int
    max_batch_rows: int | None

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ValueError(f"tasks.shards must be >= 1, got {self.shards}")
        if self.max_batch_rows is not None and self.max_batch_rows < 1:
            raise ValueError(f"tasks.max_batch_rows must be >= 1 or null, got {self.max_batch_rows}")


def settings_from_section(cls: type, section: Mapping[str, Any] | None, where: str) -> Any:
    """An instance of the dataclass ``cls`` from a configuration section that must give exactly its fields."""
    section = dict(section or {})
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(section) - set(names))
    missing = [n for n in names if n not in section]
    if unknown or missing:
        parts = ([f"unknown keys {unknown}"] if unknown else []) + ([f"missing keys {missing}"] if missing else [])
        raise ValueError(f"{where}: {'; '.join(parts)} (keys: {names})")
    hints = typing.get_type_hints(cls)
    for name, value in section.items():
        if isinstance(value, list) and _is_tuple(hints.get(name)):
            section[name] = tuple(value)
    return cls(**section)


def _is_tuple(hint: Any) -> bool:
    return hint is tuple or typing.get_origin(hint) is tuple


@dataclass(frozen=True)
class TaskContext:
    """Everything a task's shard and gather steps read.

    Attributes:
        task: the task's name.
        run: the run's shared settings.
        settings: the task module's ``Settings`` (its section ``tasks.<task>``).
        sampler: name of the paper's sampler for this task (MCGdiff).
        samplers: the validated sampler of each name the task runs.
        noise: the noise-level estimation (None when the task does not estimate noise levels).
        params: the params as given (recorded in every output's provenance).
    """

    task: str
    run: RunSettings
    settings: Any
    sampler: str
    samplers: dict[str, SamplerSpec]
    noise: NoiseEstimation | None
    params: dict[str, Any]

    @classmethod
    def from_params(cls, task: str, params: Mapping[str, Any]) -> TaskContext:
        spec = registry.get(task)
        params = _plain(params)
        module = importlib.import_module(spec.module)
        run = RunSettings(
            run=str(params["run"]),
            label=str(params["label"]),
            seed=int(params["seed"]),
            device=str(params["device"]),
            shards=int(params["shards"]),
            max_batch_rows=None if params["max_batch_rows"] is None else int(params["max_batch_rows"]),
        )
        settings = settings_from_section(module.Settings, params["task"], f"{spec.section}.{task}")
        samplers = {name: SamplerSpec(name, opts) for name, opts in params["samplers"].items()}
        noise = None
        if spec.noise_estimation:
            noise = NoiseEstimation(**params["noise_estimation"], smc=samplers["mcgdiff"].build().smc)
        return cls(task, run, settings, str(params["sampler"]), samplers, noise, params)

    # ------------------------------------------------------------------ sampling
    def provider(self, prior: Any, name: str | None = None, **override: Any) -> PosteriorSampler:
        """Sampler ``name`` (default: the paper's) bound to ``prior``, with ``override`` on top of its options."""
        name = name or self.sampler
        if name not in self.samplers:
            raise KeyError(f"{self.task}: sampler {name!r} is not among this task's samplers {sorted(self.samplers)}")
        return PosteriorSampler(prior, self.samplers[name].build(**override), self.noise, self.run.max_batch_rows)

    def providers(self, prior: Any) -> ProviderFactory:
        """:meth:`provider` bound to ``prior`` (what the task modules receive)."""
        return lambda name=None, **override: self.provider(prior, name, **override)

    def shard_seed(self, shard: int, key: str | None = None) -> int:
        """Seed of shard ``shard`` (of the sub-stream ``key``): :func:`.shards.shard_seed`."""
        return shard_seed(self.run.seed, key or self.task, shard)

    def generator(self, seed: int) -> torch.Generator:
        """A torch generator seeded with ``seed`` on the run's device, where the samplers draw their noise."""
        return torch.Generator(device=pick_device(self.run.device)).manual_seed(int(seed))

    # ------------------------------------------------------------------ outputs
    def provenance(self, data_hash: str, shards: Sequence[Shard] = (), **extra: Any) -> dict[str, Any]:
        """Provenance of an output: run, label, hash of the params, data hash, seed, the task's settings, prior hash."""
        priors = sorted({s.meta.get("prior_sha256") for s in shards if s.meta.get("prior_sha256")})
        return provenance.make(
            self.params,
            data_hash=data_hash,
            seed=self.run.seed,
            task=self.task,
            task_config=self.params["task"],
            shards_config=self.run.shards,
            prior_sha256=priors[0] if len(priors) == 1 else priors,
            **extra,
        )


def _plain(obj: Any) -> Any:
    """Snakemake's params (Namedlist, nested mappings) as plain dicts and lists."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
