"""The talk's rhythm tasks (10-s, 12-lead rhythms and the rhythm prior; registry kind ``"rhythm"``, configuration
section ``rhythm_tasks``): missing-lead reconstruction and artefact removal (:mod:`.artefacts`)."""
