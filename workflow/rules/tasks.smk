# Rules: tasks. The beat paper's clinical tasks (section 3.3, appendices 6.3-6.4).
#
# Each task samples its patients in `tasks.shards` independent jobs (task_shard: one file
# results/<run>/tasks/<task>/shard_<i>.npz per job, run in parallel on a cluster), then one gather job per
# task writes its table and figures. Naming any one output regenerates it alone, e.g.
#   snakemake --cores all results/synthetic/tables/table1_missing_leads.csv

TASK_SHARDS = int(config["tasks"]["shards"])

# task -> table name and figure names (figure key -> file stem); keys match ecgdiff.tasks.OUTPUT_KEYS
TASK_OUTPUTS = {
    "denoising": {"table": "denoising", "figures": {"figure": "fig5_denoising"}},
    "missing_leads": {"table": "table1_missing_leads", "figures": {"figure": "fig6_missing_leads"}},
    "qt_rr": {"table": "table2_qt_rr", "figures": {"figure_qt": "fig7_qt_rr", "figure_beats": "fig8_qt_beats"}},
    "anomaly": {
        "table": "anomaly_detection",
        "figures": {
            "figure_distances": "fig9_mahalanobis",
            "figure_roc": "fig10_roc",
            "figure_st": "fig11_st_segments",
        },
    },
    "particles": {"table": "particles_emd", "figures": {"figure": "fig13_particles"}},
}
TASK_NAMES = [t for t in TASK_OUTPUTS if t in config["tasks"]["run"]]
TASK_SHARD_FILES = {t: [out(f"tasks/{t}/shard_{i}.npz") for i in range(TASK_SHARDS)] for t in TASK_OUTPUTS}
TASK_FILES = {
    t: [out(f"tables/{s['table']}.{e}") for e in ("csv", "md")]
    + [out(f"figures/{f}.{e}") for f in s["figures"].values() for e in ("png", "pdf")]
    for t, s in TASK_OUTPUTS.items()
}


rule task_shard:
    input:
        beats=BEATS_FILES,
        prior=PRIOR_CONDITIONAL,
    output:
        out("tasks/{task}/shard_{shard}.npz"),
    wildcard_constraints:
        task="|".join(TASK_OUTPUTS),
        shard=r"\d+",
    log:
        log("tasks/{task}/shard_{shard}.log"),
    params:
        beats_dir=lambda w, input: os.path.dirname(input.beats[0]),
        # the settings a shard depends on: a change reruns the affected jobs
        settings={"seed": config["seed"], "tasks": config["tasks"], "inverse": config["inverse"]},
    conda:
        ENV_SAMPLE
    threads: config["tasks"]["threads"]
    resources:
        mem_mb=config["tasks"]["mem_mb"],
        runtime=config["tasks"]["runtime_min"],
        gpu=1,
    script:
        "../../scripts/task_shard.py"


for _task, _spec in TASK_OUTPUTS.items():

    rule:
        name:
            f"{_task}_gather"
        input:
            beats=BEATS_FILES,
            shards=TASK_SHARD_FILES[_task],
        output:
            table_csv=report(
                out(f"tables/{_spec['table']}.csv"),
                caption=f"../report/{_spec['table']}.rst",
                category="Tasks",
                labels={"task": _task, "output": "table"},
            ),
            table_md=out(f"tables/{_spec['table']}.md"),
            **{
                f"{key}_png": report(
                    out(f"figures/{stem}.png"),
                    caption=f"../report/{stem}.rst",
                    category="Tasks",
                    labels={"task": _task, "output": stem},
                )
                for key, stem in _spec["figures"].items()
            },
            **{f"{key}_pdf": out(f"figures/{stem}.pdf") for key, stem in _spec["figures"].items()},
        log:
            log(f"tasks/{_task}/gather.log"),
        params:
            task=_task,
            beats_dir=lambda w, input: os.path.dirname(input.beats[0]),
            settings={"seed": config["seed"], "tasks": config["tasks"], "inverse": config["inverse"]},
        conda:
            ENV_PLOT
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        script:
            "../../scripts/task_gather.py"


register("tasks", [f for task in TASK_NAMES for f in TASK_FILES[task]])
