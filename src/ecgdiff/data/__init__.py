"""From PhysioNet (or the simulator) to the databases the priors train on.

- :mod:`.physionet`: verified, resumable downloads of PhysioNet databases.
- :mod:`.records`: WFDB readers of each source (quirks included) into one :class:`~.records.Record` type;
  :mod:`.ptbxl`: the PTB-XL reader.
- :mod:`.labels`: diagnoses (SNOMED-CT codes, diagnosis text) to the project's classes.
- :mod:`.synthetic`, :mod:`.synthetic_config`: the simulated cohort of the embedded default.
- :mod:`.synthetic_noise`: simulated stand-ins of the NSTDB noise records (baseline wander, electrode motion).
- :mod:`.beats`: filtering, resampling, R-peak detection, beat windows, quality checks, normalisation.
- :mod:`.splits`: seeded patient-level splits.
- :mod:`.beatdb`, :mod:`.dataset`, :mod:`.dataset_report`: the beat database (build, files, table 3 and figure 12).
- :mod:`.rhythms`, :mod:`.rhythmdb`: 10-s rhythm windows and the rhythm database (the talk).
- :mod:`.parallel`: the bounded parallel map both databases use.

This package imports nothing at import time (the workflow's Snakefile imports :mod:`.synthetic_config`).
"""
