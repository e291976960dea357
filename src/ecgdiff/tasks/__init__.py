"""The clinical tasks: each samples posteriors for its patients in shards, then computes its table and figures.

- :mod:`.registry`: every task's module, outputs and the configuration it depends on (standard library only).
- :mod:`.context`: a task's settings, resolved once from its params (:class:`~.context.TaskContext`).
- :mod:`.steps`: what the workflow's scripts call: :func:`~.steps.run_shard` and :func:`~.steps.gather`.
- :mod:`.shards`, :mod:`.posterior`, :mod:`.figures`: shard files, the posterior-sampling step, plotting helpers.
- :mod:`.beat`: the beat paper's tasks (section 3.3, appendices 6.3-6.4).

Each task module has a ``Settings`` dataclass (its section ``tasks.<task>``; defaults in ``config/config.yaml``),
``run_shard(db, ctx, providers, shard) -> arrays`` (posterior sampling for one shard of the task's patients) and
``gather(db, shards, ctx, outputs)`` (table and figures).
"""
