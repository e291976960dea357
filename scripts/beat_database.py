"""Rule beat_database: records of the configured source(s) -> beat database (ecgdiff.data.dataset format).

One source (``data.source``, its folder from the rule's input) or several (``data.sources``: each folder from
its entry's ``root`` or the download of its ``database``, ecgdiff.data.beatdb.source_specs).
"""

from pathlib import Path

from ecgdiff.data import beatdb
from ecgdiff.runtime import log_to

sm = snakemake  # noqa: F821 (defined by Snakemake's script directive)
log_to(sm.log[0])
out = Path(sm.output["manifest"]).parent
if sm.config["data"].get("sources"):
    specs = beatdb.source_specs(sm.config, beatdb.default_roots(sm.config))
    beatdb.build_sources(specs, out, sm.config, threads=sm.threads, inputs=list(sm.input))
else:
    beatdb.build(sm.params["source"], sm.params["root"], out, sm.config, threads=sm.threads, inputs=list(sm.input))
