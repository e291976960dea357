"""Posterior sampling for one shard of one clinical task (results/<run>/tasks/<task>/shard_<i>.npz)."""

from ecgdiff.runtime import log_to
from ecgdiff.tasks import run_shard

snakemake = snakemake  # noqa: F821  (injected by Snakemake)
log_to(snakemake.log[0])
run_shard(
    snakemake.wildcards.task,
    snakemake.params.beats_dir,
    snakemake.input.prior,
    snakemake.config,
    int(snakemake.wildcards.shard),
    snakemake.output[0],
    threads=snakemake.threads,
)
