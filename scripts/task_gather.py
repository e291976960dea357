"""A clinical task's table and figures from its shard files."""

import logging

from ecgdiff.tasks import gather

snakemake = snakemake  # noqa: F821  (injected by Snakemake)
logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
outputs = {key: value for key, value in snakemake.output.items()}
outputs.update(snakemake.params.figure_stems)
gather(snakemake.params.task, snakemake.params.beats_dir, list(snakemake.input.shards), snakemake.config, outputs)
logging.info("wrote %s", ", ".join(outputs.values()))
