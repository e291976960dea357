"""Atomic file output, hashing and table I/O.

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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


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
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text())


def _json_default(o: Any) -> Any:
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
    blob = json.dumps(obj, sort_keys=True, default=_json_default, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def write_table(
    df: pd.DataFrame,
    csv_path: str | os.PathLike[str],
    md_path: str | os.PathLike[str] | None = None,
    caption: str = "",
    provenance: Mapping[str, Any] | None = None,
    floatfmt: str = ".3f",
) -> None:
    """Write a table as CSV (data, with ``#`` comment lines for caption and provenance) and Markdown.

    Read the CSV back with :func:`read_table`.
    """
    header = []
    if caption:
        header += [f"# {line}" for line in caption.splitlines()]
    if provenance:
        header.append("# provenance: " + json.dumps(dict(provenance), sort_keys=True, default=_json_default))
    with atomic_path(csv_path) as tmp:
        with open(tmp, "w") as f:
            for line in header:
                f.write(line + "\n")
            df.to_csv(f, index=False)
    if md_path is not None:
        parts = []
        if caption:
            parts.append(caption.strip() + "\n")
        parts.append(df.to_markdown(index=False, floatfmt=floatfmt) if _has_tabulate() else _markdown(df, floatfmt))
        if provenance:
            from .provenance import footer  # local import: provenance imports io

            parts.append("\n" + footer(provenance))
        write_text(md_path, "\n".join(parts) + "\n")


def read_table(csv_path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV written by :func:`write_table` (comment lines skipped)."""
    return pd.read_csv(csv_path, comment="#")


def read_table_provenance(csv_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance dictionary stored in a table's comment header (empty if none)."""
    with open(csv_path) as f:
        for line in f:
            if not line.startswith("#"):
                break
            if line.startswith("# provenance: "):
                return json.loads(line[len("# provenance: ") :])
    return {}


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def _markdown(df: pd.DataFrame, floatfmt: str) -> str:
    """Minimal Markdown table writer (used when ``tabulate`` is not installed)."""

    def fmt(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt) if np.isfinite(v) else str(v)
        return str(v)

    cols: Sequence[str] = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v) for v in row) + " |")
    return "\n".join(lines)
