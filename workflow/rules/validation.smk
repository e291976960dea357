# Rules: validation. The R-peak detector against reference annotations (ecgdiff.validation.detector).
# Databases: detector_validation.databases (synthetic: the cohort's true R peaks; mitdb, qtdb, ludb: downloaded).

VALIDATION_DATABASES = config["detector_validation"]["databases"]
VALIDATION_INPUT = [SYNTHETIC_COHORT if db == "synthetic" else download_manifest(db) for db in VALIDATION_DATABASES]


rule detector_validation:
    input:
        VALIDATION_INPUT,
    output:
        summary_csv=out("tables/detector_validation.csv"),
        summary_md=out("tables/detector_validation.md"),
        summary_html=report(out("tables/detector_validation.html"), caption="../report/detector_validation.rst",
                            category="Validation"),
        records_csv=out("tables/detector_validation_records.csv"),
        records_md=out("tables/detector_validation_records.md"),
    params:
        roots=lambda wc, input: {db: os.path.dirname(p) for db, p in zip(VALIDATION_DATABASES, input)},
        # what the scores depend on (read by the script from the config): a change re-runs the rule
        beats=config["data"]["beats"],
        settings=config["detector_validation"],
    log:
        log("data/detector_validation.log"),
    conda:
        ENV_DATA
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../../scripts/detector_validation.py"


register(
    "validation",
    [
        out("tables/detector_validation.csv"),
        out("tables/detector_validation.md"),
        out("tables/detector_validation_records.csv"),
        out("tables/detector_validation_records.md"),
    ],
)
