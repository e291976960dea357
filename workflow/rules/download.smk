# Rules: download
#
# download_physionet fetches one PhysioNet database version into resources_dir (shared by every run)
# and writes its marker, download_manifest(db). Any configured database is fetched by naming its marker,
# e.g.  snakemake --cores 2 resources/physionet/qtdb/1.0.0/.ecgdiff-download.json
# Rules that read a database take download_manifest(db) as input and physionet_dir(db) as the folder.
# Which files: physionet.include[db] when set, else ecgdiff.data.physionet.include_patterns' default (every
# file; ptb-xl: records100/ and the CSVs; challenge-2021: the sources of data.cinc2021.sources).


rule download_physionet:
    output:
        manifest=f"{RES}/physionet/{{db}}/{{version}}/.ecgdiff-download.json",
    params:
        # which files: changing it downloads again; where from and how (base_url, workers, retries, timeout_s)
        # are read from config by the script, so that switching to a mirror does not invalidate a download
        include=lambda wc: config["physionet"].get("include", {}).get(wc.db),
        cinc_sources=config["data"]["cinc2021"]["sources"],
    wildcard_constraints:
        db="[A-Za-z0-9_-]+",
        version="[0-9][A-Za-z0-9_.-]*",
    log:
        log("download/{db}-{version}.log"),
    threads: 2
    resources:
        mem_mb=1024,
        runtime=600,
    conda:
        ENV_DATA
    script:
        "../../scripts/download_physionet.py"
