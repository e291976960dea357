"""A clinical task's table and figures from its shard files."""

import logging

from ecgdiff.runtime import log_to
from ecgdiff.tasks import gather

snakemake = snakemake  # noqa: F821  (injected by Snakemake)
log_to(snakemake.log[0])
outputs = dict(snakemake.output.items())
# figures are written as <stem>.png and <stem>.pdf: the task functions take the stem
outputs.update(
    {key[: -len("_png")]: path[: -len(".png")] for key, path in snakemake.output.items() if key.endswith("_png")}
)
gather(snakemake.params.task, snakemake.params.beats_dir, list(snakemake.input.shards), snakemake.config, outputs)
logging.info("wrote %s", ", ".join(snakemake.output))
