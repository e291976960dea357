"""Snakemake script of rule noisy_set: the noisy test set of one noise kind (see ecgdiff.data.noise.write_noisy_set)."""

import os

from ecgdiff.data.noise import write_noisy_set
from ecgdiff.runtime import log_to

sm = snakemake  # noqa: F821  (injected by Snakemake)
log_to(sm.log[0])
write_noisy_set(
    sm.params.data_dir,
    sm.wildcards.kind,
    sm.params.source,
    dict(sm.params.settings),
    int(sm.params.seed),
    os.path.dirname(sm.output.manifest),
    config=dict(sm.config),
)
