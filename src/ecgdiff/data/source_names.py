"""Which download each data source reads: the one mapping from a source name (``data.sources[].source``,
``rhythm.sources[].source``) to its PhysioNet database (``physionet.databases`` key, the download folder).

Standard library only: the workflow's rule files import it while Snakemake parses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The PhysioNet database (``physionet.databases`` key, the download folder) each source reads by default.
SOURCE_DATABASES: dict[str, str] = {
    "ludb": "ludb",
    "cinc2021": "challenge-2021",
    "ptbxl": "ptb-xl",
    "ptbdb": "ptbdb",
}


def source_databases(config: Mapping[str, Any]) -> list[str]:
    """The download folders (``physionet.databases`` keys, or ``synthetic``) the configured beat sources
    (``data.sources``, else ``data.source``) read from, in order and once each, without the entries that
    give their own ``root``: the beat database rule's inputs. Raises ``ValueError`` naming the entry when
    a source has neither a ``root`` nor a download (a ``folder`` source needs its ``root``)."""
    data = dict(config.get("data", {}))
    entries = data.get("sources") or [{"source": data.get("source", "synthetic")}]
    out: list[str] = []
    for i, entry in enumerate(entries):
        if entry.get("root"):
            continue
        source = entry["source"]
        db = entry.get("database") or ("synthetic" if source == "synthetic" else SOURCE_DATABASES.get(source))
        if db is None:
            raise ValueError(f"data.sources[{i}] ({source}): no download to read it from; give its root")
        if db not in out:
            out.append(db)
    return out
