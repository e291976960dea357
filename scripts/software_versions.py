"""Record the software of one rule group's environment (envs/<group>.yaml), from inside its job."""

import logging

from ecgdiff.runinfo import write_environment_record
from ecgdiff.runtime import log_to

snakemake = snakemake  # noqa: F821  (injected by Snakemake)
log_to(snakemake.log[0])
record = write_environment_record(snakemake.output[0], snakemake.params.group)
logging.info(
    "environment %s: python %s, torch %s (CUDA %s), GPUs %s, job %s",
    record["group"],
    record["python"],
    record["packages"]["torch"],
    record["torch_cuda"],
    record["gpus"],
    record["job"],
)
