"""The talk's rhythm tasks (10-s 12-lead rhythms and the rhythm prior; registry kind ``"rhythm"``, configuration
section ``rhythm_tasks``), one module each.

- :mod:`.mlr`: missing-lead reconstruction (the talk's first table, its BBB and AF figures).
- :mod:`.artefacts`: artefact removal (the talk's second table: electrode motion and baseline wander).
"""
