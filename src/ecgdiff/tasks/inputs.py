"""The models and databases a task reads besides its own database and prior, loaded once, when first asked for.

A task declares their names in the registry (:attr:`.registry.TaskSpec.inputs`, ``gather_inputs``); the workflow
passes their paths; the task module asks ``inputs.load(name)``. Each name has one loader here.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from typing import Any


def _module(name: str) -> Any:
    return importlib.import_module(name)


def _folder(path: str) -> str:
    """A database's folder, given the folder or its ``manifest.json`` (the file a rule tracks)."""
    return os.path.dirname(path) if os.path.basename(path) == "manifest.json" else path


def _device(device: str) -> Any:
    return _module("ecgdiff.runtime").pick_device(device)


#: input name -> ``load(path, device)``
LOADERS: dict[str, Callable[[str, str], Any]] = {
    "beat_prior": lambda path, device: _module("ecgdiff.diffusion.prior").load_prior(path, device=device),
    "beat_data": lambda path, device: _module("ecgdiff.data.dataset").load(_folder(path)),
    "classifier": lambda path, device: _module("ecgdiff.classify.predict").load_classifier(path, device=device),
    "ecgrecover": lambda path, device: _module("ecgdiff.baselines.ecgrecover").load_model(path, device=_device(device)),
    "descod_bw": lambda path, device: _module("ecgdiff.baselines.descod").load_model(path, "bw", _device(device)),
    "descod_em": lambda path, device: _module("ecgdiff.baselines.descod").load_model(path, "em", _device(device)),
    "noisy_bw": lambda path, device: _module("ecgdiff.data.noise").load(_folder(path)),
    "noisy_em": lambda path, device: _module("ecgdiff.data.noise").load(_folder(path)),
}


class TaskInputs:
    """Paths of a job's extra inputs (name -> path) and the objects loaded from them (each loaded once)."""

    def __init__(self, paths: Mapping[str, str | os.PathLike[str]] | None = None, device: str = "auto") -> None:
        self.paths = {k: os.fspath(v) for k, v in (paths or {}).items()}
        unknown = sorted(set(self.paths) - set(LOADERS))
        if unknown:
            raise KeyError(f"unknown task inputs {unknown}; known: {sorted(LOADERS)}")
        self.device = device
        self._loaded: dict[str, Any] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.paths

    def load(self, name: str) -> Any:
        """The object of input ``name`` (a :class:`KeyError` naming the missing input when the job lacks it)."""
        if name not in self.paths:
            raise KeyError(f"this job has no input {name!r} (it has {sorted(self.paths)})")
        if name not in self._loaded:
            self._loaded[name] = LOADERS[name](self.paths[name], self.device)
        return self._loaded[name]
