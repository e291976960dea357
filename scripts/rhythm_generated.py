"""Snakemake script of rule rhythm_generated (see ecgdiff.diffusion.rhythm_figures.run_generated_rhythms_figure)."""

from ecgdiff.diffusion.rhythm_figures import run_generated_rhythms_figure
from ecgdiff.runtime import log_to, set_threads

sm = snakemake  # noqa: F821  (injected by Snakemake)
log_to(sm.log[0])
set_threads(sm.threads)
run_generated_rhythms_figure(
    sm.input.prior,
    sm.params.data_dir,
    dict(sm.params.settings),
    (sm.output.figure, sm.output.figure_pdf),
    config=dict(sm.config),
    device=sm.params.device,
)
