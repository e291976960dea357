"""The PhysioNet downloader against a loopback HTTP server serving real LUDB files."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from ecgdiff.data import physionet
from ecgdiff.data.physionet import ChecksumError, DownloadError

pytestmark = pytest.mark.network

DB, VERSION = "ludb", "1.0.1"
LUDB_SMALL_RECORDS = ("1", "2", "3")  # the records of the ludb_small fixture
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(physionet, "RETRY_BACKOFF_S", 0.01)


def _sums(served: Path) -> dict[str, str]:
    return physionet.parse_sha256sums((served / DB / VERSION / "SHA256SUMS.txt").read_text())


def _get(dest: Path, server, **kw):
    kw.setdefault("progress", False)
    return physionet.download(DB, VERSION, dest, server.url, **kw)


def test_full_download_is_verified_and_marked(ludb_small, serve_folder, tmp_path):
    server = serve_folder(ludb_small)
    dest = tmp_path / "ludb" / VERSION
    manifest = _get(dest, server, workers=3)
    sums = _sums(ludb_small)
    assert set(manifest["files"]) == set(sums)
    assert len(sums) == 1 + 14 * len(LUDB_SMALL_RECORDS)  # RECORDS + 14 files per record
    for rel, sha in sums.items():
        assert hashlib.sha256((dest / rel).read_bytes()).hexdigest() == sha
        assert manifest["files"][rel]["sha256"] == sha
    assert not list(dest.rglob("*.part"))
    marker = json.loads((dest / ".ecgdiff-download.json").read_text())
    assert marker == json.loads(json.dumps(manifest))
    assert marker["base_url"] == server.url and marker["verified"] and marker["listing"] == "SHA256SUMS.txt"
    assert marker["url"] == f"{server.url}{DB}/{VERSION}/"
    assert physionet.verify(dest) == []
    # every request used the PhysioNet layout <base>/<db>/<version>/<file>
    assert all(r.path.startswith(f"{DB}/{VERSION}/") for r in server.log)


def test_second_run_fetches_nothing(ludb_small, serve_folder, tmp_path):
    server = serve_folder(ludb_small)
    dest = tmp_path / "d"
    _get(dest, server)
    n_first = len(server.gets())
    assert n_first == len(_sums(ludb_small)) + 1
    second = _get(dest, server)
    assert len(server.gets()) == n_first  # no request at all
    assert second["fetched_files"] == 0 and second["fetched_bytes"] == 0
    assert second["files"] == _get(dest, server)["files"]


def test_interrupted_file_resumes_with_range(ludb_small, serve_folder, tmp_path):
    server = serve_folder(ludb_small)
    dest = tmp_path / "d"
    rel = "data/2.dat"
    data = (ludb_small / DB / VERSION / rel).read_bytes()
    half = len(data) // 2
    (dest / "data").mkdir(parents=True)
    (dest / f"{rel}.part").write_bytes(data[:half])
    _get(dest, server)
    reqs = server.requests_for(f"{DB}/{VERSION}/{rel}")
    assert [(r.range, r.status, r.sent) for r in reqs] == [(f"bytes={half}-", 206, len(data) - half)]
    assert (dest / rel).read_bytes() == data
    assert not (dest / f"{rel}.part").exists()


def test_dropped_connection_is_resumed(ludb_small, serve_folder, tmp_path):
    rel = "data/3.dat"
    data = (ludb_small / DB / VERSION / rel).read_bytes()
    cut = 100_000  # more than one transfer chunk, less than the file
    assert physionet.CHUNK_BYTES < cut < len(data)
    server = serve_folder(ludb_small, drop_after={f"{DB}/{VERSION}/{rel}": cut})
    dest = tmp_path / "d"
    _get(dest, server, retries=2)
    reqs = server.requests_for(f"{DB}/{VERSION}/{rel}")
    assert len(reqs) == 2 and reqs[0].range is None and reqs[0].sent == cut
    start = int(reqs[1].range.removeprefix("bytes=").removesuffix("-"))
    assert 0 < start <= cut  # what had arrived before the drop was kept
    assert reqs[1].status == 206 and reqs[1].sent == len(data) - start
    assert (dest / rel).read_bytes() == data


def test_server_ignoring_range_restarts_the_file(ludb_small, serve_folder, tmp_path):
    server = serve_folder(ludb_small, ignore_range=True)
    dest = tmp_path / "d"
    rel = "data/1.dat"
    data = (ludb_small / DB / VERSION / rel).read_bytes()
    (dest / "data").mkdir(parents=True)
    (dest / f"{rel}.part").write_bytes(data[:1000])
    _get(dest, server)
    reqs = server.requests_for(f"{DB}/{VERSION}/{rel}")
    assert [(r.range, r.status, r.sent) for r in reqs] == [("bytes=1000-", 200, len(data))]
    assert (dest / rel).read_bytes() == data


def test_stale_part_longer_than_file_is_replaced(ludb_small, serve_folder, tmp_path):
    server = serve_folder(ludb_small)
    dest = tmp_path / "d"
    rel = "data/1.hea"
    data = (ludb_small / DB / VERSION / rel).read_bytes()
    (dest / "data").mkdir(parents=True)
    (dest / f"{rel}.part").write_bytes(b"x" * (len(data) + 10))
    _get(dest, server)
    assert (dest / rel).read_bytes() == data


def test_corrupt_file_is_fetched_again(ludb_small, serve_folder, tmp_path):
    rel = "data/1.dat"
    server = serve_folder(ludb_small, corrupt={f"{DB}/{VERSION}/{rel}": 1})
    dest = tmp_path / "d"
    _get(dest, server)
    assert len(server.requests_for(f"{DB}/{VERSION}/{rel}")) == 2
    assert (dest / rel).read_bytes() == (ludb_small / DB / VERSION / rel).read_bytes()


def test_persistently_corrupt_file_fails_clearly(ludb_small, serve_folder, tmp_path):
    rel = "data/2.hea"
    server = serve_folder(ludb_small, corrupt={f"{DB}/{VERSION}/{rel}": -1})
    dest = tmp_path / "d"
    with pytest.raises(ChecksumError) as err:
        _get(dest, server)
    expected = _sums(ludb_small)[rel]
    msg = str(err.value)
    assert rel in msg and expected in msg
    actual = hashlib.sha256(
        b"".join(
            [
                bytes([(ludb_small / DB / VERSION / rel).read_bytes()[0] ^ 0xFF]),
                (ludb_small / DB / VERSION / rel).read_bytes()[1:],
            ]
        )
    ).hexdigest()
    assert actual in msg
    assert len(server.requests_for(f"{DB}/{VERSION}/{rel}")) == 2
    assert not (dest / rel).exists() and not (dest / f"{rel}.part").exists()
    assert not (dest / ".ecgdiff-download.json").exists()


def test_missing_file_names_the_url(ludb_small, serve_folder, tmp_path):
    rel = "data/3.v6"
    server = serve_folder(ludb_small, missing={f"{DB}/{VERSION}/{rel}"})
    dest = tmp_path / "d"
    with pytest.raises(DownloadError, match="404") as err:
        _get(dest, server)
    assert f"{server.url}{DB}/{VERSION}/{rel}" in str(err.value)
    assert not (dest / ".ecgdiff-download.json").exists()


def test_server_down_names_base_url_and_config_key(tmp_path, unused_port):
    base = f"http://127.0.0.1:{unused_port}/"
    with pytest.raises(DownloadError) as err:
        physionet.download(DB, VERSION, tmp_path / "d", base, retries=1, timeout=5, progress=False)
    msg = str(err.value)
    assert base in msg and "physionet.base_url" in msg and "cannot reach" in msg


def test_include_filters_paths(ludb_small, serve_folder, tmp_path):
    server = serve_folder(ludb_small)
    dest = tmp_path / "d"
    manifest = _get(dest, server, include=["data/2.*"])
    assert sorted(manifest["files"]) == sorted(p for p in _sums(ludb_small) if p.startswith("data/2."))
    assert len(manifest["files"]) == 14
    assert not (dest / "data" / "1.dat").exists() and not (dest / "RECORDS").exists()
    assert manifest["include"] == ["data/2.*"]
    requested = {r.path for r in server.gets()}
    assert requested == {f"{DB}/{VERSION}/{p}" for p in manifest["files"]} | {f"{DB}/{VERSION}/SHA256SUMS.txt"}


def test_include_matching_nothing_is_an_error(ludb_small, serve_folder, tmp_path):
    server = serve_folder(ludb_small)
    with pytest.raises(DownloadError, match="matches the include patterns"):
        _get(tmp_path / "d", server, include=["nothing/*"])


def test_records_listing_when_there_is_no_sha256sums(ludb_small, serve_folder, tmp_path):
    served = tmp_path / "served"
    shutil.copytree(ludb_small, served)
    (served / DB / VERSION / "SHA256SUMS.txt").unlink()
    (served / DB / VERSION / "data" / "2.v6").unlink()  # an optional annotation file absent
    server = serve_folder(served)
    dest = tmp_path / "d"
    manifest = _get(dest, server)
    assert manifest["listing"] == "RECORDS" and manifest["verified"] is False
    for rec in LUDB_SMALL_RECORDS:
        for ext in ("hea", "dat", "i", "v5"):
            assert (dest / "data" / f"{rec}.{ext}").read_bytes() == (
                served / DB / VERSION / "data" / f"{rec}.{ext}"
            ).read_bytes()
    assert "data/2.v6" in manifest["missing_optional"]
    # a required file (header) absent is an error
    (served / DB / VERSION / "data" / "3.hea").unlink()
    with pytest.raises(DownloadError, match="3.hea"):
        _get(tmp_path / "d2", server)


def test_file_url_mirror(ludb_small, tmp_path):
    manifest = physionet.download(DB, VERSION, tmp_path / "d", ludb_small.as_uri() + "/", progress=False)
    assert set(manifest["files"]) == set(_sums(ludb_small))
    assert physionet.verify(tmp_path / "d") == []


def test_file_url_missing_folder(tmp_path):
    with pytest.raises(DownloadError, match="neither SHA256SUMS.txt nor RECORDS"):
        physionet.download(DB, VERSION, tmp_path / "d", (tmp_path / "nowhere").as_uri(), progress=False)


def test_verify_detects_a_changed_file(ludb_small, serve_folder, tmp_path):
    server = serve_folder(ludb_small)
    dest = tmp_path / "d"
    _get(dest, server)
    (dest / "data" / "1.hea").write_text("changed\n")
    assert physionet.verify(dest) == ["data/1.hea"]
    # the next run repairs it, fetching only that file
    before = len(server.gets())
    _get(dest, server)
    assert [r.path for r in server.gets()[before:]] == [f"{DB}/{VERSION}/data/1.hea"]
    assert physionet.verify(dest) == []


def test_parse_sha256sums_formats_and_unsafe_paths():
    h = "a" * 64
    assert physionet.parse_sha256sums(f"{h}  data/1.hea\n{h} *RECORDS\n\n{h} ./x.dat\n") == {
        "data/1.hea": h,
        "RECORDS": h,
        "x.dat": h,
    }
    with pytest.raises(DownloadError, match="unsafe"):
        physionet.parse_sha256sums(f"{h}  ../evil\n")
    with pytest.raises(DownloadError, match="unsafe"):
        physionet.parse_sha256sums(f"{h}  /etc/passwd\n")
    with pytest.raises(DownloadError, match="line 1"):
        physionet.parse_sha256sums("nothex  file\n")


def test_matches_patterns():
    assert physionet.matches("training/georgia/g1/E00001.hea", ["training/georgia/"])
    assert physionet.matches("training/georgia/g1/E00001.hea", ["training/georgia/*"])
    assert not physionet.matches("training/ptb/g1/S0001.hea", ["training/georgia/", "RECORDS"])
    assert physionet.matches("ptbxl_database.csv", physionet.default_include("ptb-xl"))
    assert physionet.matches("records500/00000/00001_hr.dat", physionet.default_include("ptb-xl"))
    assert not physionet.matches("records100/00000/00001_lr.dat", physionet.default_include("ptb-xl"))
    assert physionet.matches("anything", None)


def test_include_patterns_for_the_workflow():
    assert physionet.include_patterns("ludb") is None
    assert physionet.include_patterns("ludb", ["data/*"]) == ["data/*"]
    inc = physionet.include_patterns("challenge-2021", None, ["georgia", "ptb"])
    assert inc == ["RECORDS", "LICENSE.txt", "training/georgia/", "training/ptb/"]
    assert physionet.include_patterns("ptb-xl") == list(physionet.CATALOGUE["ptb-xl"].include)
    # what the PTB-XL reader needs at each rate: its record folder and both CSVs, not the other folder
    for rate, wanted, other in (
        (500, "records500/00000/00001_hr", "records100/00000/00001_lr"),
        (100, "records100/00000/00001_lr", "records500/00000/00001_hr"),
    ):
        inc = physionet.include_patterns("ptb-xl", ptbxl_rate=rate)
        for path in (f"{wanted}.hea", f"{wanted}.dat", "ptbxl_database.csv", "scp_statements.csv"):
            assert physionet.matches(path, inc), (rate, path)
        assert not physionet.matches(f"{other}.dat", inc)
    with pytest.raises(ValueError, match="250 Hz"):
        physionet.include_patterns("ptb-xl", ptbxl_rate=250)


def test_catalogue_agrees_with_the_default_config():
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    versions = cfg["physionet"]["databases"]
    catalogue = {name: db.version for name, db in physionet.CATALOGUE.items()}
    assert versions == {name: v for name, v in catalogue.items() if name in versions}
    # the PTB Diagnostic ECG Database is catalogued for configurations that read it (no default run does)
    assert set(catalogue) - set(versions) <= {"ptbdb"}
    assert (
        physionet.database_url("https://physionet.org/files/", "ludb", "1.0.1")
        == "https://physionet.org/files/ludb/1.0.1/"
    )
    assert physionet.database_url("http://127.0.0.1:8000", "ludb", "1.0.1") == "http://127.0.0.1:8000/ludb/1.0.1/"


def test_real_mirror_sha256sums_cover_the_catalogue(physionet_mirror):
    """For every catalogue database in the mirror, SHA256SUMS.txt lists exactly what the RECORDS fallback
    would fetch: each record's required files, optional files with known extensions, and top-level files
    named in the catalogue."""
    seen = 0
    for name, db in physionet.CATALOGUE.items():
        folder = physionet_mirror / name / db.version
        if not folder.is_dir():
            continue
        seen += 1
        sums = physionet.parse_sha256sums((folder / "SHA256SUMS.txt").read_text())
        records = {r for r in (folder / "RECORDS").read_text().split() if r}
        for rec in records:
            for ext in db.extensions:
                assert f"{rec}.{ext}" in sums, (name, rec, ext)
        for rel in sums:
            stem, _, ext = rel.rpartition(".")
            if stem in records:
                assert ext in db.extensions + db.optional_extensions, (name, rel)
            else:
                assert rel in db.extra_files, (name, rel)
    assert seen >= 4
