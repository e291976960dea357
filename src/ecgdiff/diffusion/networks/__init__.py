"""The denoising networks ``F(x_in, c_noise, cond)`` that EDM preconditioning wraps, one module each, and their registry.

- :mod:`.beat_unet` (``"beat_unet"``): the beat prior's 1D UNet (paper 2.5, appendix 6.6).
- :mod:`.rhythm_unet` (``"rhythm_unet"``): the multi-resolution UNet of the 10-s rhythm prior (the talk).

A checkpoint's ``model_config`` names its network by an ``arch`` key; beat checkpoints have none (their
format predates the registry) and stay so: :func:`model_config_dict` writes the beat UNet's settings
without the key, so that beat checkpoints, their fingerprints and their numbers are unchanged.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .beat_unet import UNet1D, UNetConfig
from .rhythm_unet import RhythmUNet, RhythmUNetConfig

#: The architecture of a ``model_config`` without an ``arch`` key (every beat checkpoint).
DEFAULT_ARCH = "beat_unet"
#: arch name -> (settings dataclass, network class).
ARCHS: dict[str, tuple[type, type[nn.Module]]] = {
    "beat_unet": (UNetConfig, UNet1D),
    "rhythm_unet": (RhythmUNetConfig, RhythmUNet),
}

NetworkConfig = UNetConfig | RhythmUNetConfig


def _lookup(arch: str) -> tuple[type, type[nn.Module]]:
    if arch not in ARCHS:
        raise KeyError(f"unknown network architecture {arch!r}; known: {', '.join(sorted(ARCHS))}")
    return ARCHS[arch]


def arch_of(config: NetworkConfig) -> str:
    """The registry name of a settings dataclass."""
    for name, (cfg_cls, _) in ARCHS.items():
        if type(config) is cfg_cls:
            return name
    raise TypeError(f"{type(config).__name__} is not the settings class of a registered network")


def make_config(arch: str, config_dict: dict[str, Any]) -> NetworkConfig:
    """The validated settings of network ``arch`` from a dictionary (an ``arch`` key in it must agree)."""
    d = dict(config_dict)
    named = d.pop("arch", arch)
    if named != arch:
        raise ValueError(f"model config names arch {named!r}, expected {arch!r}")
    cfg_cls, _ = _lookup(arch)
    try:
        return cfg_cls(**d)
    except TypeError as e:
        raise TypeError(f"{arch} settings: {e}") from None


def build_network(arch: str, config_dict: dict[str, Any]) -> nn.Module:
    """The raw network ``F`` of architecture ``arch`` (``"beat_unet"`` | ``"rhythm_unet"``) from its settings."""
    _, net_cls = _lookup(arch)
    return net_cls(make_config(arch, config_dict))


def model_config_dict(config: NetworkConfig) -> dict[str, Any]:
    """The settings as stored in a checkpoint: the dataclass's fields, plus ``arch`` unless it is the beat UNet."""
    arch = arch_of(config)
    d = config.to_dict()
    return d if arch == DEFAULT_ARCH else {"arch": arch, **d}


def split_model_config(model_config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(arch, settings without the arch key)`` of a checkpoint's ``model_config``."""
    d = dict(model_config)
    return str(d.pop("arch", DEFAULT_ARCH)), d


__all__ = [
    "ARCHS",
    "DEFAULT_ARCH",
    "NetworkConfig",
    "arch_of",
    "build_network",
    "make_config",
    "model_config_dict",
    "split_model_config",
]
