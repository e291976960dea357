"""Snakemake script of rule prior_generated_beats: figure 14 (see ecgdiff.diffusion.evaluation)."""

from ecgdiff.diffusion.evaluation import run_generated_beats_figure
from ecgdiff.runtime import log_to, set_threads

sm = snakemake  # noqa: F821  (injected by Snakemake)
log_to(sm.log[0])
set_threads(sm.threads)
run_generated_beats_figure(
    sm.input.conditional,
    sm.params.beats_dir,
    dict(sm.params.settings),
    dict(sm.params.sampler),
    (sm.output.figure, sm.output.figure_pdf),
    config=dict(sm.config),
    device=sm.params.device,
)
