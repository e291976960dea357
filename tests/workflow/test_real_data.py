"""Real data end to end up to the beat database: Snakemake downloads PhysioNet databases from a loopback
HTTP server over the local mirror, verifies them and builds the beat database (LUDB, then the CinC 2021
subset); a second run downloads nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecgdiff.data import dataset

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.network]


def workdir(tmp: Path) -> Path:
    """A working folder with links to the workflow (outputs and downloads stay inside it)."""
    for name in ("Snakefile", "workflow", "config", "scripts", "src", "envs"):
        (tmp / name).symlink_to(REPO / name)
    return tmp


def snakemake(cwd: Path, targets: list[str], *config: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        *targets,
        "--cores",
        "2",
        "--configfile",
        "config/ludb.yaml",
        "--config",
        *config,
    ]
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def test_ludb_download_and_beat_database(tmp_path, serve_folder, physionet_mirror):
    cwd = workdir(tmp_path)
    server = serve_folder(physionet_mirror)
    base = f"physionet={{base_url: '{server.url}'}}"
    target = "results/ludb/data/beats/manifest.json"
    snakemake(cwd, [target], base)
    marker = cwd / "resources/physionet/ludb/1.0.1/.ecgdiff-download.json"
    assert marker.is_file()
    assert any(r.path.endswith("ludb/1.0.1/data/1.dat") for r in server.gets())
    db = dataset.load(cwd / "results/ludb/data/beats")
    assert db.manifest["source"] == "ludb" and db.beats.shape[1:] == (9, 176)
    assert db.manifest["n_records_seen"] == 200 and db.manifest["n_records_used"] >= 190
    counts = db.manifest["counts"]
    assert counts["train"]["patients"] > 10 and counts["mi"]["patients"] > 10
    # a second run finds everything up to date and downloads nothing
    n_gets = len(server.gets())
    again = snakemake(cwd, [target], base)
    assert len(server.gets()) == n_gets
    assert "Nothing to be done" in again.stdout + again.stderr


def test_cinc2021_subset_download_and_beat_database(tmp_path, serve_folder, physionet_mirror):
    cwd = workdir(tmp_path)
    server = serve_folder(physionet_mirror)
    target = "results/cinc_subset/data/beats/manifest.json"
    snakemake(cwd, [target], f"physionet={{base_url: '{server.url}'}}", "run=cinc_subset", "data={source: cinc2021}")
    assert (cwd / "resources/physionet/challenge-2021/1.0.3/.ecgdiff-download.json").is_file()
    db = dataset.load(cwd / "results/cinc_subset/data/beats")
    assert db.manifest["source"] == "cinc2021" and db.manifest["n_records_seen"] == 147
    assert db.manifest["counts"]["mi"]["patients"] >= 5 and db.manifest["counts"]["train"]["patients"] >= 5
    assert set(db.meta["source"]) == {"cinc2021"}
