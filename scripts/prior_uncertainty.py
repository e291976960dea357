"""Snakemake script of rule prior_uncertainty: figure 3 (see ecgdiff.diffusion.uncertainty.run_uncertainty_figure)."""

from ecgdiff.diffusion.uncertainty import run_uncertainty_figure
from ecgdiff.runtime import log_to, set_threads

sm = snakemake  # noqa: F821  (injected by Snakemake)
log_to(sm.log[0])
set_threads(sm.threads)
run_uncertainty_figure(
    sm.input.conditional,
    sm.params.beats_dir,
    dict(sm.params.settings),
    dict(sm.params.sampler),
    (sm.output.table, sm.output.table_md),
    (sm.output.figure, sm.output.figure_pdf),
    config=dict(sm.config),
    device=sm.params.device,
)
