# Rules: data. Records (simulated, or downloaded from PhysioNet) -> beat database -> table 3, figure 12.
# Logic lives in src/ecgdiff/data (synthetic, beats, splits, beatdb, dataset_report); scripts/*.py only call it.

from ecgdiff.data.synthetic_config import cohort_hash  # noqa: E402  (standard library only)

SYNTHETIC_DIR = f"{RES}/synthetic/{cohort_hash(config['data']['synthetic'])}"
SYNTHETIC_COHORT = f"{SYNTHETIC_DIR}/cohort.json"
DATA_SOURCE = config["data"]["source"]
# The file marking each source's records as ready (the simulated cohort, or a verified PhysioNet download);
# the records lie in that file's folder.
SOURCE_INPUT = {
    "synthetic": SYNTHETIC_COHORT,
    "ludb": download_manifest("ludb"),
    "cinc2021": download_manifest("challenge-2021"),
}


rule synthetic_cohort:
    output:
        cohort=SYNTHETIC_COHORT,
        metadata=f"{SYNTHETIC_DIR}/metadata.csv",
    params:
        synthetic=config["data"]["synthetic"],
    log:
        log("data/synthetic_cohort.log"),
    conda:
        ENV_DATA
    threads: 2
    resources:
        mem_mb=2000,
        runtime=15,
    script:
        "../../scripts/synthetic_cohort.py"


rule beat_database:
    input:
        SOURCE_INPUT[DATA_SOURCE],
    output:
        beats=BEATS_FILES[0],
        meta=BEATS_FILES[1],
        rejects=BEATS_FILES[2],
        splits=BEATS_FILES[3],
        manifest=BEATS_MANIFEST,
    params:
        source=DATA_SOURCE,
        root=lambda wc, input: os.path.dirname(input[0]),
        # what the database depends on (read by the script from the config): a change re-runs the rule
        beats=config["data"]["beats"],
        split=config["data"]["split"],
        source_settings=config["data"].get(DATA_SOURCE, {}),
        leads=config["leads"],
    log:
        log("data/beat_database.log"),
    conda:
        ENV_DATA
    threads: 8
    resources:
        mem_mb=32000 if DATA_SOURCE == "cinc2021" else 4000,
        runtime=240 if DATA_SOURCE == "cinc2021" else 30,
    script:
        "../../scripts/beat_database.py"


rule dataset_table:
    input:
        manifest=BEATS_MANIFEST,
        meta=BEATS_FILES[1],
    output:
        csv=out("tables/table3_dataset.csv"),
        md=out("tables/table3_dataset.md"),
        html=report(out("tables/table3_dataset.html"), caption="../report/table3_dataset.rst", category="Data"),
    log:
        log("data/dataset_table.log"),
    conda:
        ENV_PLOT
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/dataset_table.py"


rule dataset_figure:
    input:
        manifest=BEATS_MANIFEST,
        meta=BEATS_FILES[1],
    output:
        png=report(out("figures/fig12_age_histograms.png"), caption="../report/fig12_age_histograms.rst",
                   category="Data"),
        pdf=out("figures/fig12_age_histograms.pdf"),
    log:
        log("data/dataset_figure.log"),
    conda:
        ENV_PLOT
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/dataset_figure.py"


register(
    "data",
    [
        out("tables/table3_dataset.csv"),
        out("tables/table3_dataset.md"),
        out("figures/fig12_age_histograms.png"),
        out("figures/fig12_age_histograms.pdf"),
    ],
)
