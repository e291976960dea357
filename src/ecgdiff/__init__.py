"""ecgdiff: Bayesian reconstruction of electrocardiograms with diffusion-model priors.

Subpackages and modules, one concept each:

- :mod:`ecgdiff.leads`: lead names, order, derived leads, Dower matrix.
- :mod:`ecgdiff.config`: loading and validating workflow configurations.
- :mod:`ecgdiff.io`, :mod:`ecgdiff.provenance`, :mod:`ecgdiff.plots`: atomic outputs that carry their provenance.
- :mod:`ecgdiff.physionet`, :mod:`ecgdiff.records`, :mod:`ecgdiff.labels`, :mod:`ecgdiff.synthetic`,
  :mod:`ecgdiff.beats`, :mod:`ecgdiff.splits`, :mod:`ecgdiff.dataset`: from PhysioNet (or the simulator)
  to the beat database.
- :mod:`ecgdiff.diffusion`: the EDM beat prior (schedule, preconditioning, UNet, training, sampling).
- :mod:`ecgdiff.inverse`: posterior samplers behind one interface (MCGdiff, DPS, PGDM, DDNM, DiffPIR,
  RED-diff, MGPS) and linear observation operators.
- :mod:`ecgdiff.baselines`, :mod:`ecgdiff.metrics`, :mod:`ecgdiff.tasks`: the paper's clinical tasks.
"""

__version__ = "0.1.0"
