"""Rule detector_validation: score the R-peak detector against reference beats of each configured database."""

import logging

from ecgdiff import detector_validation

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
detector_validation.run_from_config(snakemake.params["roots"], snakemake.config,  # noqa: F821
                                    dict(snakemake.output.items()), inputs=list(snakemake.input))  # noqa: F821
