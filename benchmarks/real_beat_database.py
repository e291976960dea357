"""Build the beat database of ``config/real.yaml`` (LUDB + the PhysioNet/CinC 2021 records of the local
PhysioNet copy) once, the way the workflow does: both databases are downloaded by
:func:`ecgdiff.data.physionet.download` from a loopback HTTP server over the local copy, with the include
patterns of :func:`ecgdiff.data.physionet.workflow_include`, then :func:`ecgdiff.data.beatdb.build_sources`
reads :func:`ecgdiff.data.beatdb.source_specs` of the configuration. The LUDB-only database of
``config/ludb.yaml`` is built next to it for comparison.

Prints and saves (``results/benchmarks/real_beat_database.json``) the download and build times and, per
database, the healthy and MI patients and beats of each split, per source, and the rejected records by
stage.

    python benchmarks/real_beat_database.py [--mirror ../shared/physionet] [--threads 1]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ecgdiff.data import beatdb, dataset, physionet

REPO = Path(__file__).resolve().parents[1]


def merged(*files: str) -> dict[str, Any]:
    """config/config.yaml overridden by each file in turn (nested keys merged, as Snakemake's --configfile)."""

    def update(base: dict[str, Any], over: dict[str, Any]) -> None:
        for k, v in over.items():
            if isinstance(v, dict) and isinstance(base.get(k), dict):
                update(base[k], v)
            else:
                base[k] = v

    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    for f in files:
        update(cfg, yaml.safe_load((REPO / f).read_text()))
    return cfg


def summary(folder: Path) -> dict[str, Any]:
    """Patients and beats by split, label and source; rejected records by stage."""
    db = dataset.load(folder)
    meta = db.meta
    table = (
        meta.groupby(["split", "source"])
        .agg(patients=("patient_id", "nunique"), beats=("beat_id", "size"))
        .reset_index()
        .to_dict("records")
    )
    rej = pd.read_csv(folder / "rejects.csv")
    records = rej[rej["beat_index"].isna()]
    return {
        "data_hash": db.data_hash,
        "counts": db.manifest["counts"],
        "by_split_and_source": table,
        "healthy_patients": int(meta.loc[meta["split"].isin(["train", "cv", "test"]), "patient_id"].nunique()),
        "mi_patients": int(meta.loc[meta["split"] == "mi", "patient_id"].nunique()),
        "records_seen": db.manifest["n_records_seen"],
        "records_used": db.manifest["n_records_used"],
        "rejected_by_stage": records["stage"].value_counts().to_dict(),
        "quality_rejects": records.loc[
            records["stage"].isin(["quality", "duplicate"]), ["record_id", "reason"]
        ].to_dict("records"),
        "build_s": db.manifest["build_s"],
    }


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # one line per file is noise here
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--mirror", default=os.environ.get("ECGDIFF_PHYSIONET_MIRROR", str(REPO.parent / "shared/physionet"))
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "results/benchmarks/real_beat_database.json"))
    args = ap.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=args.mirror))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}/"
    report: dict[str, Any] = {"mirror": args.mirror, "threads": args.threads}
    try:
        with tempfile.TemporaryDirectory(prefix="ecgdiff-real-") as tmp:
            cfg = merged("config/real.yaml")
            cfg["resources_dir"] = f"{tmp}/resources"
            roots = beatdb.default_roots(cfg)
            report["downloads"] = {}
            for db in beatdb.source_databases(cfg):
                t0 = time.perf_counter()
                man = physionet.download(
                    db,
                    cfg["physionet"]["databases"][db],
                    roots[db],
                    base_url,
                    include=physionet.workflow_include(db, cfg),
                    progress=False,
                )
                report["downloads"][db] = {
                    "files": man["n_files"],
                    "bytes": man["total_bytes"],
                    "verified": man["verified"],
                    "s": round(time.perf_counter() - t0, 2),
                }
            t0 = time.perf_counter()
            beatdb.build_sources(beatdb.source_specs(cfg, roots), f"{tmp}/real", cfg, threads=args.threads)
            report["real_build_wall_s"] = round(time.perf_counter() - t0, 2)
            report["real"] = summary(Path(f"{tmp}/real"))
            ludb = merged("config/ludb.yaml")
            t0 = time.perf_counter()
            beatdb.build("ludb", roots["ludb"], f"{tmp}/ludb", ludb, threads=args.threads)
            report["ludb_build_wall_s"] = round(time.perf_counter() - t0, 2)
            report["ludb"] = summary(Path(f"{tmp}/ludb"))
    finally:
        server.shutdown()
    report["healthy_ratio_real_over_ludb"] = round(
        report["real"]["healthy_patients"] / max(1, report["ludb"]["healthy_patients"]), 2
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
