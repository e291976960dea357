"""Atomic file output and hashing.

Every file the workflow produces is written to a temporary name in the same folder and renamed
into place, so that an interrupted job never leaves a half-written output that looks complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``, else delete it.

    ``suffix`` defaults to the target's own suffix, so that libraries that infer the format from the
    extension (matplotlib, numpy) write the right format.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix, dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; outputs get the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a new temporary folder next to ``path``; on success it replaces ``path`` (a folder or nothing),
    else it is deleted and ``path`` is left as it was.

    For outputs made of several files that must change together (a database folder): readers see the old
    folder or the new one, never a mix. Replacing an existing folder renames it aside first and deletes it
    after the new one is in place (two renames; only an interruption between them leaves no folder).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if path.exists():
            if not path.is_dir():
                raise NotADirectoryError(f"{path} exists and is not a folder")
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write JSON atomically (sorted keys, numpy scalars converted)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text())


def json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Save one array atomically in ``.npy`` format (memory-mappable when loaded)."""
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, np.ascontiguousarray(array))


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hex SHA-256 of an object's canonical JSON form (sorted keys)."""
    blob = json.dumps(obj, sort_keys=True, default=json_default, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()
