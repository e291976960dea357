"""Write the run's configuration table and software table (the report's "Run information")."""

import logging

from ecgdiff.runinfo import write_run_info

snakemake = snakemake  # noqa: F821  (injected by Snakemake)
logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
out = snakemake.output
write_run_info(snakemake.config, list(snakemake.input), out.config_csv, out.config_md, out.software_csv,
               out.software_md, snakemake_version=snakemake.params.snakemake_version)
logging.info("wrote %s and %s", out.config_csv, out.software_csv)
