"""A clinical task's table and figures from its shard files."""

import logging
import sys

from ecgdiff.tasks import gather

snakemake = snakemake  # noqa: F821  (injected by Snakemake)
logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
sys.excepthook = lambda *exc: (logging.critical("failed", exc_info=exc), sys.__excepthook__(*exc))
outputs = dict(snakemake.output.items())
# figures are written as <stem>.png and <stem>.pdf: the task functions take the stem
outputs.update({key[: -len("_png")]: path[: -len(".png")] for key, path in snakemake.output.items()
                if key.endswith("_png")})
gather(snakemake.params.task, snakemake.params.beats_dir, list(snakemake.input.shards), snakemake.config, outputs)
logging.info("wrote %s", ", ".join(snakemake.output))
