"""Tables: CSV files of numbers (caption and provenance in ``#`` comment lines, read back by :func:`read_table`) and
their Markdown and HTML views, written atomically (:mod:`ecgdiff.io`) with the provenance footer
(:mod:`ecgdiff.provenance`).

The HTML view (``<stem>.html`` next to the Markdown one) is a self-contained page, the caption, the table and the
provenance footer, with nothing loaded from elsewhere: the workflow report (``snakemake --report``) shows HTML
files inline, where it would only offer a CSV file for download.
"""

from __future__ import annotations

import html
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
    """Write a table as CSV (data, with ``#`` comment lines for caption and provenance), Markdown and HTML (both
    at ``md_path``'s stem, when given).

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
        write_html(df, html_path(md_path), caption, provenance, floatfmt)


def html_path(md_path: str | os.PathLike[str]) -> str:
    """The HTML view's path of a table whose Markdown view is ``md_path``."""
    root, _ = os.path.splitext(os.fspath(md_path))
    return root + ".html"


_STYLE = (
    "body{font-family:sans-serif;font-size:14px;margin:1em}"
    "table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #bbb;padding:3px 7px;text-align:right;white-space:nowrap}"
    "th{background:#eee}td:first-child,th:first-child{text-align:left}"
    "p.caption{max-width:70em}p.footer{color:#555;font-size:12px}"
)


def write_html(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    caption: str = "",
    provenance: Mapping[str, Any] | None = None,
    floatfmt: str = ".3f",
) -> None:
    """Write ``df`` as a self-contained HTML page: caption, table (floats as ``floatfmt``), provenance footer."""

    def fmt(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt) if np.isfinite(v) else str(v)
        return str(v)

    table = df.to_html(index=False, na_rep="", float_format=lambda v: fmt(v), border=0, escape=True)
    parts = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8">', f"<style>{_STYLE}</style></head><body>"]
    parts += [f'<p class="caption">{html.escape(p.strip())}</p>' for p in caption.strip().split("\n\n") if p.strip()]
    parts.append(table)
    if provenance:
        parts.append(f'<p class="footer">{html.escape(footer(provenance))}</p>')
    parts.append("</body></html>")
    write_text(path, "\n".join(parts) + "\n")


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
    Markdown and HTML views; all carry the caption and the provenance."""
    write_table(numeric, csv_path, None, caption=caption, provenance=provenance)
    body = display.to_markdown(index=False) if _has_tabulate() else markdown_table(display)
    write_text(md_path, "\n".join([caption.strip() + "\n", body, "\n" + footer(provenance)]) + "\n")
    write_html(display, html_path(md_path), caption, provenance)
