"""Figure output: every figure carries its run's label and provenance, visibly and in its metadata."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import textwrap  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402

from .io import atomic_path  # noqa: E402
from .provenance import footer  # noqa: E402


def save_figure(
    fig: plt.Figure, paths: Sequence[str | os.PathLike[str]], provenance: Mapping[str, Any] | None, dpi: int = 150
) -> None:
    """Save ``fig`` to each path (format from the extension), stamped with the provenance footer.

    The footer names the run's label (for the embedded default: that the data are synthetic), so a
    figure can never be mistaken for one computed on patient data.
    """
    if provenance:
        _add_footer(fig, footer(provenance))
    for path in paths:
        path = os.fspath(path)
        ext = os.path.splitext(path)[1].lower()
        meta: dict[str, str] = {}
        if provenance:
            if ext == ".png":
                meta = {
                    "Description": json.dumps(dict(provenance), sort_keys=True, default=str),
                    "Software": f"ecgdiff {provenance.get('code_version')}",
                }
            elif ext == ".pdf":
                meta = {
                    "Subject": json.dumps(dict(provenance), sort_keys=True, default=str),
                    "Creator": f"ecgdiff {provenance.get('code_version')}",
                }
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", metadata=meta or None, format=ext.lstrip(".") or None)
    plt.close(fig)


def _add_footer(fig: plt.Figure, text: str, fontsize: float = 6.0) -> None:
    """Put ``text`` under everything already drawn (axis labels included), wrapped to the figure's width.

    The saved image uses a tight bounding box, which grows to include the footer, so it never overlaps
    the figure's content whatever its layout.
    """
    renderer = fig.canvas.get_renderer()
    bottom_in = fig.get_tightbbox(renderer).y0  # inches, may be below 0 when labels stick out
    width_in, height_in = fig.get_size_inches()
    chars = max(40, int(width_in * 72 / (0.5 * fontsize)))
    fig.text(
        0.5,
        (bottom_in - 0.05) / height_in,
        "\n".join(textwrap.wrap(text, chars)),
        ha="center",
        va="top",
        fontsize=fontsize,
        color="0.35",
    )
