"""ecgdiff: Bayesian reconstruction of electrocardiograms with diffusion-model priors.

Subpackages, in the order of the pipeline:

- :mod:`ecgdiff.data`: PhysioNet downloads, record readers, labels, splits, the simulated cohort, beat
  extraction and the beat database.
- :mod:`ecgdiff.validation`: the data pipeline against reference annotations (R-peak detector, QT).
- :mod:`ecgdiff.diffusion`: EDM diffusion priors (noise schedule, preconditioning, networks, training, sampling).
- :mod:`ecgdiff.inverse`: posterior samplers behind one interface (MCGdiff, DPS, PGDM, DDNM, DiffPIR,
  RED-diff, MGPS) and linear observation operators.
- :mod:`ecgdiff.baselines`: non-diffusion reconstructions (Dower's method).
- :mod:`ecgdiff.tasks`: the clinical tasks, their shard files, tables and figures.

Modules every stage shares: :mod:`ecgdiff.leads` (lead names, order, derived leads, Dower matrix),
:mod:`ecgdiff.metrics`, :mod:`ecgdiff.qt`, :mod:`ecgdiff.matching`, and :mod:`ecgdiff.io`,
:mod:`ecgdiff.provenance`, :mod:`ecgdiff.plots`, :mod:`ecgdiff.runtime`, :mod:`ecgdiff.runinfo` (atomic outputs
that carry their provenance, devices, threads, logs).
"""

__version__ = "0.1.0"
