"""Write the run's configuration table and software table (the report's "Run information")."""

import logging

from ecgdiff.runinfo import write_run_info
from ecgdiff.runtime import log_to

snakemake = snakemake  # noqa: F821  (injected by Snakemake)
log_to(snakemake.log[0])
out = snakemake.output
write_run_info(
    snakemake.config,
    list(snakemake.input),
    out.config_csv,
    out.config_md,
    out.software_csv,
    out.software_md,
    snakemake_version=snakemake.params.snakemake_version,
)
logging.info("wrote %s and %s", out.config_csv, out.software_csv)
