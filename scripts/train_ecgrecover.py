"""Snakemake script of rule train_ecgrecover (see ecgdiff.baselines.ecgrecover_train.train_ecgrecover)."""

from ecgdiff.baselines.ecgrecover_train import train_ecgrecover
from ecgdiff.runtime import log_to, set_threads

sm = snakemake  # noqa: F821  (injected by Snakemake)
log_to(sm.log[0])
set_threads(sm.threads)
train_ecgrecover(
    sm.params.data_dir,
    dict(sm.params.settings),
    sm.output.model,
    sm.params.work_dir,
    (sm.output.table, sm.output.table_md),
    config=dict(sm.config),
    device=sm.params.device,
)
