"""Snakemake script of rule train_classifier (see ecgdiff.classify.train.train_classifier)."""

from ecgdiff.classify.train import train_classifier
from ecgdiff.runtime import log_to, set_threads

sm = snakemake  # noqa: F821  (injected by Snakemake)
log_to(sm.log[0])
set_threads(sm.threads)
train_classifier(
    sm.params.data_dir,
    dict(sm.params.model),
    dict(sm.params.train),
    sm.output.model,
    sm.params.work_dir,
    (sm.output.table, sm.output.table_md),
    config=dict(sm.config),
    device=sm.params.device,
)
