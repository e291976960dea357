"""Posterior sampling for one shard of one clinical task (results/<run>/tasks/<task>/shard_<i>.npz)."""

import logging
import sys

from ecgdiff.tasks import run_shard

snakemake = snakemake  # noqa: F821  (injected by Snakemake)
logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
sys.excepthook = lambda *exc: (logging.critical("failed", exc_info=exc), sys.__excepthook__(*exc))
run_shard(snakemake.wildcards.task, snakemake.params.beats_dir, snakemake.input.prior, snakemake.config,
          int(snakemake.wildcards.shard), snakemake.output[0], threads=snakemake.threads)
