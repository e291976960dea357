# ecgdiff: Bayesian ECG reconstruction with diffusion-model priors.
#
#   snakemake --cores all                                  embedded default (synthetic, CPU, minutes)
#   snakemake --cores all --configfile config/ludb.yaml    real data (LUDB)
#   snakemake --profile profiles/slurm --configfile config/paper.yaml   on a SLURM cluster (docs/cluster.md)
#   snakemake --report results/<run>/report.html           the HTML report of a finished run
#   snakemake --configfile config/ludb.yaml --cores all results/ludb/tables/table1_missing_leads.csv   one output
#
# Rules live in workflow/rules/*.smk; their scripts (scripts/*.py) only call the ecgdiff package.

import os
import sys

from snakemake.utils import min_version, validate

min_version("8.20")

# YAML syntax errors named by file and line, keys given twice refused (ecgdiff/configfiles.py): the default
# config file before Snakemake reads it, and the files given with --configfile.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))
from ecgdiff.configfiles import check_yaml_files

check_yaml_files(["config/config.yaml", *workflow.overwrite_configfiles])


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/validation.smk"
include: "workflow/rules/prior.smk"
include: "workflow/rules/tasks.smk"
include: "workflow/rules/rhythm.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
