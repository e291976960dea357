"""A self-contained HTML summary of a single-record analysis: numbers and tables, figures embedded as PNG.

One file with no external reference (images are ``data:image/png;base64`` URIs, the style sheet is inline), so it
can be mailed or archived as it is. :func:`write` takes a title and sections made of :class:`Text`,
:class:`Table` (a pandas frame or a mapping of numbers) and :class:`Figure` (a PNG file) items.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .io import atomic_path

_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
img { max-width: 100%; border: 1px solid #eee; } .caption { font-size: 0.8em; color: #555; }
.footer { font-size: 0.75em; color: #666; margin-top: 2em; }
"""


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Table:
    data: pd.DataFrame | Mapping[str, Any]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    png: str | os.PathLike[str]
    caption: str = ""


Item = Text | Table | Figure


def _table_html(data: pd.DataFrame | Mapping[str, Any]) -> str:
    if isinstance(data, pd.DataFrame):
        return data.to_html(index=False, border=0, float_format=lambda v: f"{v:.4g}", na_rep="-")
    rows = []
    for key, value in data.items():
        if isinstance(value, float):
            shown = f"{value:.4g}"
        elif isinstance(value, (dict, list, tuple)):
            shown = json.dumps(value, default=str)
        else:
            shown = str(value)
        rows.append(f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(shown)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def render(title: str, sections: Sequence[tuple[str, Sequence[Item]]], footer: str = "") -> str:
    """The HTML text."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for heading, items in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        for item in items:
            if isinstance(item, Text):
                parts.append(f"<p>{html.escape(item.text)}</p>")
            elif isinstance(item, Table):
                parts.append(_table_html(item.data))
                if item.caption:
                    parts.append(f"<p class='caption'>{html.escape(item.caption)}</p>")
            elif isinstance(item, Figure):
                data = base64.b64encode(Path(item.png).read_bytes()).decode("ascii")
                parts.append(f"<img alt='{html.escape(item.caption)}' src='data:image/png;base64,{data}'>")
                if item.caption:
                    parts.append(f"<p class='caption'>{html.escape(item.caption)}</p>")
            else:
                raise TypeError(f"unknown report item {type(item).__name__}")
    if footer:
        parts.append(f"<p class='footer'>{html.escape(footer)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write(
    path: str | os.PathLike[str], title: str, sections: Sequence[tuple[str, Sequence[Item]]], footer: str = ""
) -> Path:
    """Write the report to ``path`` (atomically)."""
    text = render(title, sections, footer)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
