"""The talk's rhythm tasks (10-s 12-lead rhythms, the rhythm prior), one module each.

- :mod:`.mlr`: missing-lead reconstruction (the talk's first table, its BBB and AF figures).
"""
