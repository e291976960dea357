"""Rule dataset_table: the paper's table 3 (patients, sex, beats per set) from the beat database."""

from pathlib import Path

from ecgdiff import provenance
from ecgdiff.data import dataset, dataset_report
from ecgdiff.runtime import log_to

log_to(snakemake.log[0])  # noqa: F821
db = dataset.load(Path(snakemake.input["manifest"]).parent)  # noqa: F821
dataset_report.write_table3(
    db,
    snakemake.output["csv"],
    snakemake.output["md"],  # noqa: F821
    provenance.make(snakemake.config, data_hash=db.data_hash),
)  # noqa: F821
