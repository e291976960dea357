"""Rule dataset_figure: the paper's figure 12 (age histograms by sex per set) from the beat database."""

from pathlib import Path

from ecgdiff import provenance
from ecgdiff.data import dataset, dataset_report
from ecgdiff.runtime import log_to

log_to(snakemake.log[0])  # noqa: F821
db = dataset.load(Path(snakemake.input["manifest"]).parent)  # noqa: F821
dataset_report.write_figure12(
    db,
    [snakemake.output["png"], snakemake.output["pdf"]],  # noqa: F821
    provenance.make(snakemake.config, data_hash=db.data_hash),
)  # noqa: F821
