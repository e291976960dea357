"""Rule synthetic_cohort: simulate the seeded synthetic cohort (WFDB records + metadata.csv + cohort.json)."""

from pathlib import Path

from ecgdiff import provenance
from ecgdiff.data import synthetic
from ecgdiff.runtime import log_to

log_to(snakemake.log[0])  # noqa: F821
synthetic.write_cohort(
    Path(snakemake.output["cohort"]).parent,
    snakemake.params["synthetic"],  # noqa: F821
    workers=snakemake.threads,  # noqa: F821
    provenance=provenance.make(snakemake.config, seed=snakemake.params["synthetic"].get("seed")),
)  # noqa: F821
