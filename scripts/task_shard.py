"""Posterior sampling for one shard of one task (results/<run>/tasks/<task>/shard_<i>.npz)."""

from ecgdiff.runtime import log_to
from ecgdiff.tasks.inputs import LOADERS
from ecgdiff.tasks.steps import run_shard

sm = snakemake  # noqa: F821  (injected by Snakemake)
log_to(sm.log[0])
run_shard(
    sm.wildcards.task,
    sm.params.data_dir,
    sm.input.prior,
    sm.params.settings,
    int(sm.wildcards.shard),
    sm.output[0],
    threads=sm.threads,
    inputs={name: path for name, path in sm.input.items() if name in LOADERS},
)
