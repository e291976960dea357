"""Snakemake script of rule train_prior: train one variant of the beat prior (see ecgdiff.diffusion.train)."""

from ecgdiff.diffusion.train import train_prior
from ecgdiff.runtime import log_to, set_threads

sm = snakemake  # noqa: F821  (injected by Snakemake)
log_to(sm.log[0])
set_threads(sm.threads)
train_prior(
    sm.params.beats_dir,
    sm.wildcards.variant,
    dict(sm.params.model),
    dict(sm.params.train),
    sm.output.model,
    sm.params.work_dir,
    (sm.output.table, sm.output.table_md),
    (sm.output.figure, sm.output.figure_pdf),
    config=dict(sm.config),
    device=sm.params.device,
)
