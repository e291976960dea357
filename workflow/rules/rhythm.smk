# Rules: the rhythm branch (the talk). Records -> rhythm database (10-s windows of the modelled leads I, II,
# V1-V6 at rhythm.fs) -> the unconditional rhythm prior, the rhythm classifier and the ECGrecover baseline;
# the rhythm tasks (rules at the end) read them. Logic lives in ecgdiff.data.rhythmdb, ecgdiff.diffusion.train,
# ecgdiff.diffusion.rhythm_figures, ecgdiff.classify, ecgdiff.baselines.ecgrecover_train.

RHYTHMS_DIR = out("data/rhythms")
RHYTHMS_FILES = [f"{RHYTHMS_DIR}/{name}" for name in ("rhythms.npy", "rhythms.parquet", "rejects.csv", "splits.csv", "manifest.json")]
RHYTHMS_MANIFEST = f"{RHYTHMS_DIR}/manifest.json"
RHYTHM_PRIOR = out("models/rhythm_prior.pt")
CLASSIFIER = out("models/classifier.pt")
ECGRECOVER = out("models/ecgrecover.pt")
# the file marking each rhythm source's records as ready, and their folder
RHYTHM_SOURCES = [s["source"] for s in config["rhythm"]["sources"]]
RHYTHM_SOURCE_INPUT = {s: SYNTHETIC_COHORT if s == "synthetic" else download_manifest(SOURCE_DATABASES[s]) for s in RHYTHM_SOURCES}


rule rhythm_database:
    input:
        [RHYTHM_SOURCE_INPUT[s] for s in RHYTHM_SOURCES],
    output:
        rhythms=RHYTHMS_FILES[0],
        meta=RHYTHMS_FILES[1],
        rejects=RHYTHMS_FILES[2],
        splits=RHYTHMS_FILES[3],
        manifest=RHYTHMS_MANIFEST,
    params:
        section=config["rhythm"],
        roots=lambda wc, input: {s: os.path.dirname(RHYTHM_SOURCE_INPUT[s]) for s in RHYTHM_SOURCES},
    log:
        log("data/rhythm_database.log"),
    conda:
        ENV_DATA
    threads: 2
    resources:
        mem_mb=16000 if "ptbxl" in RHYTHM_SOURCES else 4000,
        runtime=120 if "ptbxl" in RHYTHM_SOURCES else 20,
    script:
        "../../scripts/rhythm_database.py"


rule train_rhythm_prior:
    input:
        rhythms=RHYTHMS_FILES,
    output:
        model=RHYTHM_PRIOR,
        table=out("tables/rhythm_training_loss.csv"),
        table_md=out("tables/rhythm_training_loss.md"),
        figure=report(out("figures/rhythm_training_loss.png"), caption="../report/rhythm_training_loss.rst", category="Rhythm prior"),
        figure_pdf=out("figures/rhythm_training_loss.pdf"),
    params:
        data_dir=rhythms_dir,
        work_dir=out("models/checkpoints/rhythm"),
        model=config["rhythm_prior"]["model"],
        train={**config["rhythm_prior"]["train"], "seed": config["seed"] if config["rhythm_prior"]["train"].get("seed") is None else config["rhythm_prior"]["train"]["seed"]},
        device=config["device"],
    log:
        log("prior/train_rhythm.log"),
    threads: config["rhythm_prior"]["threads"]
    resources:
        mem_mb=config["rhythm_prior"]["mem_mb"],
        runtime=config["rhythm_prior"]["runtime_min"],
        gpu=1,
    conda:
        ENV_TRAIN
    script:
        "../../scripts/train_rhythm_prior.py"


rule rhythm_generated:
    input:
        rhythms=RHYTHMS_FILES,
        prior=RHYTHM_PRIOR,
    output:
        figure=report(out("figures/fig_rhythm_generated.png"), caption="../report/fig_rhythm_generated.rst", category="Rhythm prior"),
        figure_pdf=out("figures/fig_rhythm_generated.pdf"),
    params:
        data_dir=rhythms_dir,
        settings={**config["rhythm_prior"]["generated"], "seed": config["seed"] if config["rhythm_prior"]["generated"].get("seed") is None else config["rhythm_prior"]["generated"]["seed"]},
        device=config["device"],
    log:
        log("prior/rhythm_generated.log"),
    threads: 1
    resources:
        mem_mb=config["rhythm_prior"]["mem_mb"],
        runtime=30,
        gpu=1,
    conda:
        ENV_SAMPLE
    script:
        "../../scripts/rhythm_generated.py"


rule train_classifier:
    input:
        rhythms=RHYTHMS_FILES,
    output:
        model=CLASSIFIER,
        table=out("tables/classifier_training.csv"),
        table_md=out("tables/classifier_training.md"),
    params:
        data_dir=rhythms_dir,
        work_dir=out("models/checkpoints/classifier"),
        model=config["classifier"]["model"],
        train={**config["classifier"]["train"], "seed": config["seed"] if config["classifier"]["train"].get("seed") is None else config["classifier"]["train"]["seed"]},
        device=config["device"],
    log:
        log("models/train_classifier.log"),
    threads: config["classifier"]["threads"]
    resources:
        mem_mb=config["classifier"]["mem_mb"],
        runtime=config["classifier"]["runtime_min"],
        gpu=1,
    conda:
        ENV_TRAIN
    script:
        "../../scripts/train_classifier.py"


rule train_ecgrecover:
    input:
        rhythms=RHYTHMS_FILES,
    output:
        model=ECGRECOVER,
        table=out("tables/ecgrecover_training.csv"),
        table_md=out("tables/ecgrecover_training.md"),
    params:
        data_dir=rhythms_dir,
        work_dir=out("models/checkpoints/ecgrecover"),
        settings={**config["ecgrecover"]["settings"], "seed": config["seed"] if config["ecgrecover"]["settings"].get("seed") is None else config["ecgrecover"]["settings"]["seed"]},
        device=config["device"],
    log:
        log("models/train_ecgrecover.log"),
    threads: config["ecgrecover"]["threads"]
    resources:
        mem_mb=config["ecgrecover"]["mem_mb"],
        runtime=config["ecgrecover"]["runtime_min"],
        gpu=1,
    conda:
        ENV_TRAIN
    script:
        "../../scripts/train_ecgrecover.py"


# ---------------------------------------------------------------- artefact removal: noisy test sets and DeScoD
# The noise records: NSTDB's bw and em (downloaded) or, in the embedded default, their simulated stand-ins.
NOISE = config["artefacts"]["noise"]
NOISE_FROM_NSTDB = NOISE["source"] == "nstdb"
NOISE_INPUT = [download_manifest("nstdb")] if NOISE_FROM_NSTDB else []
NOISE_SOURCE = physionet_dir("nstdb") if NOISE_FROM_NSTDB else "simulated"


rule noisy_set:
    input:
        NOISE_INPUT,
        rhythms=RHYTHMS_FILES,
    output:
        noisy=out("data/noisy/{kind}/noisy.npy"),
        noise=out("data/noisy/{kind}/noise.npy"),
        table=out("data/noisy/{kind}/noise.parquet"),
        manifest=out("data/noisy/{kind}/manifest.json"),
    wildcard_constraints:
        kind="bw|em",
    params:
        data_dir=rhythms_dir,
        source=NOISE_SOURCE,
        settings=NOISE["test"],
        seed=NOISE["seed"],
    log:
        log("data/noisy_{kind}.log"),
    conda:
        ENV_DATA
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../../scripts/noisy_set.py"


rule train_descod:
    input:
        NOISE_INPUT,
        rhythms=RHYTHMS_FILES,
    output:
        model=out("models/descod_{kind}.pt"),
        table=out("tables/descod_training_{kind}.csv"),
        table_md=out("tables/descod_training_{kind}.md"),
    wildcard_constraints:
        kind="bw|em",
    params:
        data_dir=rhythms_dir,
        work_dir=lambda w: out(f"models/checkpoints/descod_{w.kind}"),
        source=NOISE_SOURCE,
        noise_train=NOISE["train"],
        noise_test=NOISE["test"],
        seed=NOISE["seed"],
        settings={**config["artefacts"]["descod"]["settings"], "seed": config["seed"] if config["artefacts"]["descod"]["settings"].get("seed") is None else config["artefacts"]["descod"]["settings"]["seed"]},
        device=config["device"],
    log:
        log("models/train_descod_{kind}.log"),
    threads: config["artefacts"]["descod"]["threads"]
    resources:
        mem_mb=config["artefacts"]["descod"]["mem_mb"],
        runtime=config["artefacts"]["descod"]["runtime_min"],
        gpu=1,
    conda:
        ENV_TRAIN
    script:
        "../../scripts/train_descod.py"


register(
    "rhythm",
    RHYTHMS_FILES
    + [RHYTHM_PRIOR, CLASSIFIER, ECGRECOVER]
    + [out(f"tables/{n}.{e}") for n in ("rhythm_training_loss", "classifier_training", "ecgrecover_training") for e in ("csv", "md")]
    + [out(f"models/descod_{k}.pt") for k in NOISE["kinds"]]
    + [out(f"tables/descod_training_{k}.{e}") for k in NOISE["kinds"] for e in ("csv", "md")]
    + [out(f"figures/{n}.{e}") for n in ("rhythm_training_loss", "fig_rhythm_generated") for e in ("png", "pdf")],
)


# ---------------------------------------------------------------- rhythm tasks (the talk's tables)
# As the beat tasks: `rhythm_tasks.shards` sampling jobs per task, then one gather job; each job gets
# task_params(task, config) (its section of rhythm_tasks, the samplers it runs) and the models it reads.
RHYTHM_TASKS = {name: spec for name, spec in TASKS.items() if spec.kind == "rhythm"}
RHYTHM_TASK_NAMES = [t for t in RHYTHM_TASKS if t in config["rhythm_tasks"]["run"]]
RHYTHM_SHARDS = int(config["rhythm_tasks"]["shards"])
RHYTHM_TASK_SHARD_FILES = {t: [out(f"tasks/{t}/shard_{i}.npz") for i in range(RHYTHM_SHARDS)] for t in RHYTHM_TASKS}
# the files behind each named task input (ecgdiff.tasks.inputs.LOADERS)
TASK_INPUT_FILES = {
    "classifier": CLASSIFIER,
    "ecgrecover": ECGRECOVER,
    "beat_prior": PRIOR_CONDITIONAL,
    "beat_data": BEATS_MANIFEST,
    **{f"descod_{k}": out(f"models/descod_{k}.pt") for k in ("bw", "em")},
    **{f"noisy_{k}": out(f"data/noisy/{k}/manifest.json") for k in ("bw", "em")},
}


if RHYTHM_TASKS:

    rule rhythm_task_shard:
        input:
            unpack(lambda w: rhythm_task_inputs(RHYTHM_TASKS[w.task].shard_inputs(config["rhythm_tasks"][w.task]))),
            rhythms=RHYTHMS_FILES,
            prior=RHYTHM_PRIOR,
        output:
            out("tasks/{task}/shard_{shard}.npz"),
        wildcard_constraints:
            task="|".join(RHYTHM_TASKS),
            shard=r"\d+",
        log:
            log("tasks/{task}/shard_{shard}.log"),
        params:
            data_dir=rhythms_dir,
            settings=lambda w: task_params(w.task, config),
        conda:
            ENV_SAMPLE
        threads: config["rhythm_tasks"]["threads"]
        resources:
            mem_mb=config["rhythm_tasks"]["mem_mb"],
            runtime=config["rhythm_tasks"]["runtime_min"],
            gpu=1,
        script:
            "../../scripts/task_shard.py"


for _task, _spec in RHYTHM_TASKS.items():

    rule:
        name:
            f"{_task}_gather"
        input:
            **rhythm_task_inputs(_spec.gather_inputs),
            rhythms=RHYTHMS_FILES,
            shards=RHYTHM_TASK_SHARD_FILES[_task],
        output:
            table_csv=out(f"tables/{_spec.table}.csv"),
            table_md=out(f"tables/{_spec.table}.md"),
            table_html=report(
                out(f"tables/{_spec.table}.html"),
                caption=f"../report/{_spec.table}.rst",
                category="Rhythm tasks",
                labels={"task": _task, "output": "table"},
            ),
            **{
                f"{key}_png": report(
                    out(f"figures/{stem}.png"),
                    caption=f"../report/{stem}.rst",
                    category="Rhythm tasks",
                    labels={"task": _task, "output": stem},
                )
                for key, stem in _spec.figures.items()
            },
            **{f"{key}_pdf": out(f"figures/{stem}.pdf") for key, stem in _spec.figures.items()},
        log:
            log(f"tasks/{_task}/gather.log"),
        params:
            task=_task,
            data_dir=rhythms_dir,
            settings=task_params(_task, config),
        conda:
            ENV_PLOT
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        script:
            "../../scripts/task_gather.py"


register("rhythm_tasks", [f for task in RHYTHM_TASK_NAMES for f in TASKS[task].files(OUT)])
