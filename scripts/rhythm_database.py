"""Snakemake script of rule rhythm_database (see ecgdiff.data.rhythmdb.build_from_config)."""

from ecgdiff.data.rhythmdb import build_from_config
from ecgdiff.runtime import log_to

sm = snakemake  # noqa: F821  (injected by Snakemake)
log_to(sm.log[0])
build_from_config(
    dict(sm.params.section),
    dict(sm.params.roots),
    sm.output.manifest.rsplit("/", 1)[0],
    workers=sm.threads,
    config=dict(sm.config),
    inputs=list(sm.input),
)
