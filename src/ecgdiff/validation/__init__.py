"""Validation of the data pipeline against reference annotations.

- :mod:`.detector`: the R-peak detector against reference beat annotations (MIT-BIH, QT database, LUDB, the
  simulated cohort's true R peaks).
- :mod:`.qt`: QT measurement on beats whose QT is known.
- :mod:`.rhythm_features`: QRS width, P-wave coherence and f-wave spectra that tell the simulated classes apart.
"""
