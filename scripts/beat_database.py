"""Rule beat_database: records of the configured source -> beat database (ecgdiff.data.dataset format)."""

from pathlib import Path

from ecgdiff.data import beatdb
from ecgdiff.runtime import log_to

log_to(snakemake.log[0])  # noqa: F821
beatdb.build(
    snakemake.params["source"],
    snakemake.params["root"],  # noqa: F821
    Path(snakemake.output["manifest"]).parent,
    snakemake.config,  # noqa: F821
    threads=snakemake.threads,
    inputs=list(snakemake.input),
)  # noqa: F821
