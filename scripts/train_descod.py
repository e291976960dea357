"""Snakemake script of rule train_descod: DeScoD-ECG for one noise kind (see ecgdiff.baselines.descod_train)."""

from ecgdiff.baselines.descod_train import train_descod
from ecgdiff.runtime import log_to, set_threads

sm = snakemake  # noqa: F821  (injected by Snakemake)
log_to(sm.log[0])
set_threads(sm.threads)
train_descod(
    sm.params.data_dir,
    sm.wildcards.kind,
    sm.params.source,
    dict(sm.params.noise_train),
    dict(sm.params.settings),
    sm.output.model,
    sm.params.work_dir,
    (sm.output.table, sm.output.table_md),
    config=dict(sm.config),
    device=sm.params.device,
    noise_seed=int(sm.params.seed),
    test_settings=dict(sm.params.noise_test),
)
