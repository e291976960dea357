"""Rule detector_validation: score the R-peak detector against reference beats of each configured database."""

from ecgdiff.runtime import log_to
from ecgdiff.validation import detector as detector_validation

log_to(snakemake.log[0])  # noqa: F821
detector_validation.run_from_config(
    snakemake.params["roots"],
    snakemake.config,  # noqa: F821
    dict(snakemake.output.items()),
    inputs=list(snakemake.input),
)  # noqa: F821
