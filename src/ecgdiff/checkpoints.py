"""Checkpoint and model files: written atomically with a content hash, read back with every failure named.

Every ``.pt`` file the package writes (training checkpoints ``last.pt``, the final prior, classifier,
ECGrecover and DeScoD model files) goes through :func:`save` and is read back through :func:`load`:

- :func:`save` writes the file atomically (:func:`ecgdiff.io.atomic_path`) and stores in it, under
  :data:`HASH_KEY`, the SHA-256 of its content (:func:`content_digest`: every tensor's dtype, shape and bytes
  and every other value, key by key). ``torch.load`` reads a file whose tensor bytes were changed (a disk
  or copy error) without complaint; the hash makes :func:`load` refuse it.
- :func:`load` turns whatever ``torch.load`` raises on a truncated, damaged or foreign file (``RuntimeError``
  from the zip reader, ``EOFError``, ``UnpicklingError``, ``UnicodeDecodeError``, ...) into a
  :class:`CheckpointError` naming the file and the problem, and checks the hash. A file without a hash
  (written before hashes were stored, or by other code) is loaded with a logged warning that it is not
  verified.
- Training checkpoints keep one previous version: ``save(path, state, keep_previous=True)`` moves the
  current file to :func:`previous_path` (``last.prev.pt``) just before the new one takes its place, so an
  interruption at any point leaves at least one complete checkpoint. :func:`resume` returns the newest
  checkpoint that reads, verifies and was made with the caller's settings (``fingerprint``); a damaged one
  is reported by path and moved aside to ``*.corrupt.pt`` (so that a rerun does not trip over it again), one
  made with other settings to ``*.stale.pt``; with none left training starts over, with a warning.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .io import atomic_path

log = logging.getLogger(__name__)

#: Key of the content hash in every file written by :func:`save`.
HASH_KEY = "content_sha256"


class CheckpointError(ValueError):
    """A checkpoint or model file that cannot be used: ``path`` and ``problem`` say which and why."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path}: {problem}")


# ----------------------------------------------------------------------------- hashing
def content_digest(obj: Any) -> str:
    """Hex SHA-256 of a checkpoint's content (without its :data:`HASH_KEY` entry).

    Nested mappings (keys in sorted order), sequences, tensors (dtype, shape, raw bytes, on any device),
    numpy arrays and scalars, and plain Python values each contribute their type and value; any other
    object contributes its type name only.
    """
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        h.update(f"A{a.dtype.str}{a.shape}|".encode())
        if a.dtype.hasobject:
            for v in a.ravel():
                _feed(h, v)
        else:
            h.update(a.view(np.uint8).ravel())
    elif isinstance(obj, Mapping):
        items = [(k, v) for k, v in obj.items() if k != HASH_KEY]
        h.update(f"M{len(items)}|".encode())
        for k, v in sorted(items, key=lambda kv: (type(kv[0]).__name__, repr(kv[0]))):
            h.update(f"{type(k).__name__}:{k!r}=".encode())
            _feed(h, v)
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{type(obj).__name__}{len(obj)}|".encode())
        for v in obj:
            _feed(h, v)
    elif obj is None or isinstance(obj, (bool, int, float, str, bytes, np.generic, torch.dtype, torch.device)):
        h.update(f"V{type(obj).__name__}:{obj!r}|".encode())
    else:
        h.update(f"O{type(obj).__module__}.{type(obj).__qualname__}|".encode())


# ----------------------------------------------------------------------------- writing
def previous_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`save` keeps the previous version of a training checkpoint (``last.pt`` -> ``last.prev.pt``)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save(path: str | os.PathLike[str], blob: Mapping[str, Any], keep_previous: bool = False) -> str:
    """Write ``blob`` (a dictionary) to ``path`` atomically with its content hash; returns the hash.

    With ``keep_previous`` the file already at ``path`` becomes :func:`previous_path` at the moment the new
    file replaces it.
    """
    path = Path(path)
    if not isinstance(blob, Mapping):
        raise TypeError(f"{path}: a checkpoint is a dictionary, got {type(blob).__name__}")
    digest = content_digest(blob)
    content = {**blob, HASH_KEY: digest}
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(content, tmp)
        if keep_previous and path.exists():
            os.replace(path, previous_path(path))
    return digest


# ----------------------------------------------------------------------------- reading
def load(
    path: str | os.PathLike[str],
    what: str = "checkpoint",
    weights_only: bool = True,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Read a file written by :func:`save` and check its content hash.

    Raises :class:`FileNotFoundError` when ``path`` does not exist and :class:`CheckpointError` (naming the
    path, ``what`` was expected and the problem) when it cannot be read, is not a dictionary, or its content
    differs from its hash.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        blob = torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged file; all mean the same here
        size = path.stat().st_size
        raise CheckpointError(
            path,
            f"cannot be read as a {what} ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else err!r}; "
            f"{size} bytes): truncated, damaged or not a torch file",
        ) from err
    if not isinstance(blob, dict):
        raise CheckpointError(path, f"holds a {type(blob).__name__}, not a {what} (a dictionary)")
    stored = blob.pop(HASH_KEY, None)
    if stored is None:
        log.warning(
            "%s %s carries no content hash (written by older or other code): its content is not verified", what, path
        )
        return blob
    actual = content_digest(blob)
    if actual != stored:
        raise CheckpointError(
            path,
            f"content differs from the hash stored with the {what} (stored {str(stored)[:12]}..., "
            f"content {actual[:12]}...): the file was damaged after it was written",
        )
    return blob


def require(blob: Mapping[str, Any], keys: Sequence[str], path: str | os.PathLike[str], what: str) -> None:
    """Raise :class:`CheckpointError` when ``blob`` lacks any of ``keys``."""
    missing = [k for k in keys if k not in blob]
    if missing:
        raise CheckpointError(path, f"{what} lacks the entries {missing}")


def load_weights(module: torch.nn.Module, state_dict: Any, path: str | os.PathLike[str], what: str) -> None:
    """``module.load_state_dict(state_dict)``, a mismatch reported as a :class:`CheckpointError` naming ``path``."""
    try:
        module.load_state_dict(state_dict)
    except (RuntimeError, KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(path, f"its weights do not fit the {what} it describes: {str(err)[:500]}") from err


def _move_aside(path: Path, tag: str) -> Path:
    dest = path.with_name(f"{path.stem}.{tag}{path.suffix}")
    path.replace(dest)
    return dest


def resume(path: str | os.PathLike[str], fingerprint: Any, what: str = "training checkpoint") -> dict[str, Any] | None:
    """The newest usable training checkpoint: ``path``, else :func:`previous_path`; ``None`` when neither is.

    A candidate that cannot be read or fails its hash is reported (path and problem) and moved to
    ``*.corrupt.pt``; one whose ``"fingerprint"`` entry differs from ``fingerprint`` (other settings or data)
    is moved to ``*.stale.pt``. Training checkpoints hold generator states and history rows, so they are read
    with ``weights_only=False`` (they are the package's own files).
    """
    path = Path(path)
    tried = []
    for cand in (path, previous_path(path)):
        if not cand.exists():
            continue
        tried.append(cand)
        try:
            state = load(cand, what, weights_only=False)
        except CheckpointError as err:
            bad = _move_aside(cand, "corrupt")
            log.warning("%s; moved to %s", err, bad)
            continue
        if state.get("fingerprint") != fingerprint:
            stale = _move_aside(cand, "stale")
            log.warning("%s %s was made with other settings or data: moved to %s, not resumed from", what, cand, stale)
            continue
        if cand != path:
            log.warning("resuming from the previous %s %s (the latest one was unusable)", what, cand)
        return state
    if tried:
        log.warning("no usable %s among %s: training starts over", what, [str(p) for p in tried])
    return None


__all__ = [
    "HASH_KEY",
    "CheckpointError",
    "content_digest",
    "previous_path",
    "save",
    "load",
    "require",
    "load_weights",
    "resume",
]
