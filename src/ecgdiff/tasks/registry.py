"""The registry of tasks: each task's module, outputs and the configuration it depends on, declared once.

The workflow (``workflow/rules/tasks.smk``) builds its rules and targets from :data:`TASKS` and passes each job
:func:`task_params` as its params, so a change to one task's section, or to a sampler that task uses, reruns that
task's jobs and no others. The package turns those params into typed settings once, at the task boundary
(:class:`ecgdiff.tasks.context.TaskContext`).

This module imports only the standard library: the Snakefile imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TaskSpec:
    """One task.

    Attributes:
        name: the task's name (its section ``tasks.<name>`` of the configuration, its shard folder).
        module: the module holding ``Settings``, ``run_shard`` and ``gather``.
        table: file stem of its table (``tables/<table>.{csv,md}``).
        figures: output key -> file stem of each figure (``figures/<stem>.{png,pdf}``).
        noise_estimation: whether it estimates noise levels (paper algorithm 2) before sampling.
        extra_samplers: key of its section listing samplers besides the paper's (table columns), if any.
        sampler: the sampler it always uses instead of ``tasks.sampler`` (a study of that sampler), if any.
        kind: ``"beat"`` (beat database and beat prior) or ``"rhythm"`` (rhythm database and rhythm prior).
        inputs: the models and databases its shard jobs read besides its own database and prior (names of
            :data:`ecgdiff.tasks.inputs.LOADERS`, e.g. ``classifier``, ``ecgrecover``, ``beat_prior``).
        gather_inputs: those its gather job reads.
        baseline_inputs: the further inputs of each baseline its section may list under ``baselines`` (its
            shard jobs read them only when the baseline is configured: :meth:`shard_inputs`).
        section: its configuration section (``tasks.<name>`` for beat tasks, ``rhythm_tasks.<name>`` for rhythm
            tasks).
    """

    name: str
    module: str
    table: str
    figures: Mapping[str, str]
    noise_estimation: bool = True
    extra_samplers: str | None = None
    sampler: str | None = None
    kind: str = "beat"
    inputs: tuple[str, ...] = ()
    gather_inputs: tuple[str, ...] = ()
    baseline_inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    output_keys: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.kind not in ("beat", "rhythm"):
            raise ValueError(f"task {self.name}: kind must be 'beat' or 'rhythm', got {self.kind!r}")
        object.__setattr__(self, "output_keys", ("table_csv", "table_md", *self.figures))

    def shard_inputs(self, section: Mapping[str, Any]) -> tuple[str, ...]:
        """The inputs its shard jobs read with the task section ``section``: :attr:`inputs`, then those of each
        configured baseline (:attr:`baseline_inputs`), each once."""
        names = list(self.inputs)
        for baseline in section.get("baselines") or ():
            names += self.baseline_inputs.get(baseline, ())
        return tuple(dict.fromkeys(names))

    @property
    def section(self) -> str:
        """Its kind's task section: ``tasks`` (beat tasks) or ``rhythm_tasks``."""
        return "tasks" if self.kind == "beat" else "rhythm_tasks"

    @property
    def inverse_section(self) -> str:
        """Its kind's sampler options: ``inverse`` (beat tasks) or ``rhythm_inverse`` (the samplers on 10-s rhythms,
        whose sizes and the talk's settings differ from the beat tasks')."""
        return "inverse" if self.kind == "beat" else "rhythm_inverse"

    def samplers(self, config: Mapping[str, Any]) -> list[str]:
        """Names of the samplers the task's jobs run, the paper's first (each once)."""
        names = [self.sampler or config[self.section]["sampler"]]
        if self.extra_samplers:
            names += list(config[self.section][self.name][self.extra_samplers])
        if self.noise_estimation:
            names.append("mcgdiff")  # the noise estimation runs MCGdiff's SMC
        return list(dict.fromkeys(names))

    def files(self, out_dir: str) -> list[str]:
        """The task's final outputs under ``out_dir`` (``results/<run>``)."""
        return [f"{out_dir}/tables/{self.table}.{ext}" for ext in ("csv", "md", "html")] + [
            f"{out_dir}/figures/{stem}.{ext}" for stem in self.figures.values() for ext in ("png", "pdf")
        ]


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec("denoising", "ecgdiff.tasks.beat.denoising", "denoising", {"figure": "fig5_denoising"}),
        TaskSpec(
            "missing_leads",
            "ecgdiff.tasks.beat.missing_leads",
            "table1_missing_leads",
            {"figure": "fig6_missing_leads"},
            extra_samplers="samplers",
        ),
        TaskSpec(
            "qt_rr",
            "ecgdiff.tasks.beat.qt_rr",
            "table2_qt_rr",
            {"figure_qt": "fig7_qt_rr", "figure_beats": "fig8_qt_beats"},
        ),
        TaskSpec(
            "anomaly",
            "ecgdiff.tasks.beat.anomaly",
            "anomaly_detection",
            {"figure_distances": "fig9_mahalanobis", "figure_roc": "fig10_roc", "figure_st": "fig11_st_segments"},
        ),
        TaskSpec(
            "particles",
            "ecgdiff.tasks.beat.particles",
            "particles_emd",
            {"figure": "fig13_particles"},
            noise_estimation=False,
            sampler="mcgdiff",
        ),
        TaskSpec(
            "rhythm_mlr",
            "ecgdiff.tasks.rhythm.mlr",
            "rhythm_mlr",
            {
                "figure_bbb": "fig_rhythm_mlr_bbb",
                "figure_af": "fig_rhythm_mlr_af",
                "figure_rmse": "fig_rhythm_mlr_rmse_per_lead",
            },
            noise_estimation=False,
            extra_samplers="samplers",
            kind="rhythm",
            inputs=("classifier",),
            baseline_inputs={"ecgrecover": ("ecgrecover",), "dower": (), "beat_prior": ("beat_prior", "beat_data")},
        ),
        TaskSpec(
            "rhythm_artefacts",
            "ecgdiff.tasks.rhythm.artefacts",
            "artefact_removal",
            {
                "figure_bbb": "fig_artefacts_bbb",
                "figure_af": "fig_artefacts_af",
                "figure_amplitude": "fig_artefacts_vs_amplitude",
            },
            noise_estimation=False,
            extra_samplers="samplers",
            kind="rhythm",
            inputs=("noisy_bw", "noisy_em", "descod_bw", "descod_em", "classifier"),
        ),
    )
}


def get(task: str) -> TaskSpec:
    if task not in TASKS:
        raise KeyError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    return TASKS[task]


def task_params(task: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the jobs of ``task`` depend on, taken from the resolved workflow configuration.

    ``run``, ``label``, ``seed``, ``device``; the shared sampling settings of its kind (``tasks`` or ``rhythm_tasks``:
    ``shards``, ``max_batch_rows``, the paper's ``sampler``); the task's own section; the options (``inverse.<name>`` or ``rhythm_inverse.<name>``) of each sampler it runs; the
    noise estimation (``noise_estimation``) when it estimates noise levels.
    """
    spec = get(task)
    tasks = config[spec.section]
    params: dict[str, Any] = {
        "run": config["run"],
        "label": config["label"],
        "seed": config["seed"],
        "device": config["device"],
        "shards": tasks["shards"],
        "max_batch_rows": tasks["max_batch_rows"],
        "sampler": spec.sampler or tasks["sampler"],
        "task": dict(tasks[task]),
        "samplers": {
            name: dict((config.get(spec.inverse_section) or {}).get(name) or {}) for name in spec.samplers(config)
        },
    }
    if spec.noise_estimation:
        params["noise_estimation"] = dict(config["noise_estimation"])
    return params
