"""Snakemake script of rule prior_emd: figure 2 (see ecgdiff.diffusion.evaluation.run_emd_figure)."""

from ecgdiff.diffusion.evaluation import run_emd_figure
from ecgdiff.runtime import log_to, set_threads

sm = snakemake  # noqa: F821  (injected by Snakemake)
log_to(sm.log[0])
set_threads(sm.threads)
run_emd_figure(
    sm.input.conditional,
    sm.input.unconditional,
    sm.params.beats_dir,
    dict(sm.params.settings),
    dict(sm.params.sampler),
    (sm.output.table, sm.output.table_md),
    (sm.output.figure, sm.output.figure_pdf),
    config=dict(sm.config),
    device=sm.params.device,
)
