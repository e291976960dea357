"""Rule beat_database: records of the configured source -> beat database (ecgdiff.dataset format)."""

import logging
from pathlib import Path

from ecgdiff import beatdb

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
beatdb.build(snakemake.params["source"], snakemake.params["root"],  # noqa: F821
             Path(snakemake.output["manifest"]).parent, snakemake.config,  # noqa: F821
             threads=snakemake.threads, inputs=list(snakemake.input))  # noqa: F821
