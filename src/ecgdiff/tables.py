"""Tables: CSV files of numbers (caption and provenance in ``#`` comment lines, read back by :func:`read_table`) and
their Markdown views, written atomically (:mod:`ecgdiff.io`) with the provenance footer (:mod:`ecgdiff.provenance`)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .io import atomic_path, json_default, write_text
from .provenance import footer


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
        header.append("# provenance: " + json.dumps(dict(provenance), sort_keys=True, default=json_default))
    with atomic_path(csv_path) as tmp:
        with open(tmp, "w") as f:
            for line in header:
                f.write(line + "\n")
            df.to_csv(f, index=False)
    if md_path is not None:
        parts = []
        if caption:
            parts.append(caption.strip() + "\n")
        parts.append(markdown_table(df, floatfmt))
        if provenance:
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


def markdown_table(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A Markdown table of ``df``: pandas' (``tabulate``) when installed, else a minimal writer."""
    if _has_tabulate():
        return df.to_markdown(index=False, floatfmt=floatfmt)

    def fmt(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt) if np.isfinite(v) else str(v)
        return str(v)

    cols: Sequence[str] = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v) for v in row) + " |")
    return "\n".join(lines)


def write_table_pair(
    numeric: pd.DataFrame,
    display: pd.DataFrame,
    csv_path: str | os.PathLike[str],
    md_path: str | os.PathLike[str],
    caption: str,
    provenance: Mapping[str, Any],
) -> None:
    """Numbers in the CSV (:func:`write_table`), a formatted view (e.g. ``estimate ± half-width`` cells) in the
    Markdown; both carry the caption and the provenance."""
    write_table(numeric, csv_path, None, caption=caption, provenance=provenance)
    body = display.to_markdown(index=False) if _has_tabulate() else markdown_table(display)
    write_text(md_path, "\n".join([caption.strip() + "\n", body, "\n" + footer(provenance)]) + "\n")
