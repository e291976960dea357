"""Snakemake script of rule train_rhythm_prior (see ecgdiff.diffusion.train.train_rhythm_prior)."""

from ecgdiff.diffusion.train import train_rhythm_prior
from ecgdiff.runtime import log_to, set_threads

sm = snakemake  # noqa: F821  (injected by Snakemake)
log_to(sm.log[0])
set_threads(sm.threads)
train_rhythm_prior(
    sm.params.data_dir,
    dict(sm.params.model),
    dict(sm.params.train),
    sm.output.model,
    sm.params.work_dir,
    (sm.output.table, sm.output.table_md),
    (sm.output.figure, sm.output.figure_pdf),
    config=dict(sm.config),
    device=sm.params.device,
)
