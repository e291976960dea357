"""Rule synthetic_cohort: simulate the seeded synthetic cohort (WFDB records + metadata.csv + cohort.json)."""

import logging
from pathlib import Path

from ecgdiff import provenance, synthetic

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
synthetic.write_cohort(Path(snakemake.output["cohort"]).parent, snakemake.params["synthetic"],  # noqa: F821
                       workers=snakemake.threads,  # noqa: F821
                       provenance=provenance.make(snakemake.config, seed=snakemake.params["synthetic"].get("seed")))  # noqa: F821
