# Rules: data. Records (simulated, or downloaded from PhysioNet) -> beat database -> table 3, figure 12.
# Logic lives in src/ecgdiff/data (synthetic, beats, splits, beatdb, dataset_report); scripts/*.py only call it.

from ecgdiff.data.source_names import SOURCE_DATABASES, source_databases  # noqa: E402  (standard library only)
from ecgdiff.data.synthetic_config import cohort_hash  # noqa: E402  (standard library only)

SYNTHETIC_DIR = f"{RES}/synthetic/{cohort_hash(config['data']['synthetic'])}"
SYNTHETIC_COHORT = f"{SYNTHETIC_DIR}/cohort.json"
DATA_SOURCE = config["data"]["source"]
# data.sources (several sources in one database) or data.source: the names read, and the file marking each
# download (or the simulated cohort) as ready; a single source's records lie in its marker's folder.
DATA_SOURCES = [entry["source"] for entry in config["data"].get("sources") or [{"source": DATA_SOURCE}]]
BEAT_SOURCE_INPUT = [SYNTHETIC_COHORT if db == "synthetic" else download_manifest(db) for db in source_databases(config)]
BEATS_HEAVY = "cinc2021" in DATA_SOURCES or "ptbxl" in DATA_SOURCES


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
        BEAT_SOURCE_INPUT,
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
        sources=config["data"].get("sources"),
        source_settings={s: config["data"].get(s, {}) for s in DATA_SOURCES},
        quality=config["data"].get("quality", {}),
        leads=config["leads"],
    log:
        log("data/beat_database.log"),
    conda:
        ENV_DATA
    threads: 8
    resources:
        mem_mb=32000 if BEATS_HEAVY else 4000,
        runtime=240 if BEATS_HEAVY else 30,
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
