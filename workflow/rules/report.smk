# Rules: report. The run's configuration and the software each rule group ran with, for the HTML report.
#
#   snakemake --cores all [--configfile config/ludb.yaml]                 run the workflow first, then
#   snakemake --report results/<run>/report.html [--configfile ...]      the self-contained HTML report
#
# software_versions_<group> runs once in each group's environment (envs/<group>.yaml) with that group's
# resources (a GPU for train and sample), so its record says where the group's jobs really ran.

from snakemake import __version__ as SNAKEMAKE_VERSION

ENV_GROUPS = {"data": ENV_DATA, "train": ENV_TRAIN, "sample": ENV_SAMPLE, "plot": ENV_PLOT}
GPU_GROUPS = ("train", "sample")
SOFTWARE_RECORDS = {g: out(f"run_info/software_{g}.json") for g in ENV_GROUPS}


for _group, _env in ENV_GROUPS.items():

    rule:
        name:
            f"software_versions_{_group}"
        output:
            SOFTWARE_RECORDS[_group],
        log:
            log(f"run_info/software_versions_{_group}.log"),
        params:
            group=_group,
        conda:
            _env
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
            **({"gpu": 1} if _group in GPU_GROUPS else {}),
        script:
            "../../scripts/software_versions.py"


rule run_info:
    input:
        list(SOFTWARE_RECORDS.values()),
    output:
        config_csv=out("tables/run_info.csv"),
        config_md=out("tables/run_info.md"),
        config_html=report(
            out("tables/run_info.html"),
            caption="../report/run_info.rst",
            category="Run information",
            labels={"table": "configuration"},
        ),
        software_csv=out("tables/software_versions.csv"),
        software_md=out("tables/software_versions.md"),
        software_html=report(
            out("tables/software_versions.html"),
            caption="../report/software_versions.rst",
            category="Run information",
            labels={"table": "software"},
        ),
    log:
        log("run_info/run_info.log"),
    params:
        config=config,
        snakemake_version=SNAKEMAKE_VERSION,
    conda:
        ENV_PLOT
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../../scripts/run_info.py"


register(
    "report",
    [
        out("tables/run_info.csv"),
        out("tables/run_info.md"),
        out("tables/software_versions.csv"),
        out("tables/software_versions.md"),
    ],
)
