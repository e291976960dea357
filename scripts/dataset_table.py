"""Rule dataset_table: the paper's table 3 (patients, sex, beats per set) from the beat database."""

import logging
from pathlib import Path

from ecgdiff import dataset, dataset_report, provenance

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
db = dataset.load(Path(snakemake.input["manifest"]).parent)  # noqa: F821
dataset_report.write_table3(db, snakemake.output["csv"], snakemake.output["md"],  # noqa: F821
                            provenance.make(snakemake.config, data_hash=db.data_hash))  # noqa: F821
