"""Rule download_physionet: fetch one PhysioNet database version and write its download marker."""

from pathlib import Path

from ecgdiff.data import physionet
from ecgdiff.runtime import log_to

sm = snakemake  # noqa: F821 (defined by Snakemake's script directive)
log_to(sm.log[0])

physionet.download(
    sm.wildcards.db,
    sm.wildcards.version,
    Path(sm.output.manifest).parent,  # the marker is written into the version folder
    sm.config["physionet"]["base_url"],
    include=physionet.workflow_include(sm.wildcards.db, sm.config),
    workers=sm.config["physionet"]["workers"],
    retries=sm.config["physionet"]["retries"],
    timeout=sm.config["physionet"]["timeout_s"],
)
