# Rules: tasks. The beat paper's clinical tasks (section 3.3, appendices 6.3-6.4).
#
# Each task samples its patients in `tasks.shards` independent jobs (task_shard: one file
# results/<run>/tasks/<task>/shard_<i>.npz per job, run in parallel on a cluster), then one gather job per
# task writes its table and figures. Naming any one output regenerates it alone, e.g.
#   snakemake --cores all results/synthetic/tables/table1_missing_leads.csv
# The tasks, their outputs and what each depends on are declared once, in ecgdiff.tasks.registry: every job
# gets task_params(task, config) as params, so editing one task's section (or a sampler it runs) reruns that
# task's jobs only.

from ecgdiff.tasks.registry import TASKS, task_params  # noqa: E402  (standard library only)

TASK_SHARDS = int(config["tasks"]["shards"])
BEAT_TASKS = {name: spec for name, spec in TASKS.items() if spec.kind == "beat"}
TASK_NAMES = [t for t in BEAT_TASKS if t in config["tasks"]["run"]]
TASK_SHARD_FILES = {t: [out(f"tasks/{t}/shard_{i}.npz") for i in range(TASK_SHARDS)] for t in BEAT_TASKS}


rule task_shard:
    input:
        beats=BEATS_FILES,
        prior=PRIOR_CONDITIONAL,
    output:
        out("tasks/{task}/shard_{shard}.npz"),
    wildcard_constraints:
        task="|".join(BEAT_TASKS),
        shard=r"\d+",
    log:
        log("tasks/{task}/shard_{shard}.log"),
    params:
        data_dir=lambda w, input: os.path.dirname(input.beats[0]),
        settings=lambda w: task_params(w.task, config),
    conda:
        ENV_SAMPLE
    threads: config["tasks"]["threads"]
    resources:
        mem_mb=config["tasks"]["mem_mb"],
        runtime=config["tasks"]["runtime_min"],
        gpu=1,
    script:
        "../../scripts/task_shard.py"


for _task, _spec in BEAT_TASKS.items():

    rule:
        name:
            f"{_task}_gather"
        input:
            beats=BEATS_FILES,
            shards=TASK_SHARD_FILES[_task],
        output:
            table_csv=out(f"tables/{_spec.table}.csv"),
            table_md=out(f"tables/{_spec.table}.md"),
            table_html=report(
                out(f"tables/{_spec.table}.html"),
                caption=f"../report/{_spec.table}.rst",
                category="Tasks",
                labels={"task": _task, "output": "table"},
            ),
            **{
                f"{key}_png": report(
                    out(f"figures/{stem}.png"),
                    caption=f"../report/{stem}.rst",
                    category="Tasks",
                    labels={"task": _task, "output": stem},
                )
                for key, stem in _spec.figures.items()
            },
            **{f"{key}_pdf": out(f"figures/{stem}.pdf") for key, stem in _spec.figures.items()},
        log:
            log(f"tasks/{_task}/gather.log"),
        params:
            task=_task,
            data_dir=lambda w, input: os.path.dirname(input.beats[0]),
            settings=task_params(_task, config),
        conda:
            ENV_PLOT
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        script:
            "../../scripts/task_gather.py"


register("tasks", [f for task in TASK_NAMES for f in TASKS[task].files(OUT)])
