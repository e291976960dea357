"""Bad inputs to the data stage, one test per case: each is caught, and a rejected record lands in the beat
database's ``rejects.csv`` with its reason (never in a split), a folder-level problem names the file.

Signals (real healthy LUDB records, corrupted and written back in LUDB's layout by the tests):

1. a noise-like lead (V3 replaced by white noise)
2. uniform random int16 samples
3. white noise
4. a clipped lead (V2 cut at half its largest excursion)
5. a lead stuck at the rail (V4 at 32767, the largest value of format 16, for 3 s)
6. V1 and V6 labels swapped
7. lead II inverted in a 12-lead record (Einthoven's/Goldberger's laws)
8. lead II inverted in an 8-lead record without redundant limb leads (lead II polarity)

Headers:

9. gain 0
10. a negative gain (every lead inverted)
11. an absurd gain (1 unit/mV where the samples are in uV)
12. a non-numeric sampling frequency (``abc``)
13. a non-numeric age (``abc``)

More records (numbered after the downloads):

21. a flat lead (V5 all zero)
22. a missing lead (no V3, which no other lead gives)
23. an unknown lead name where a standard lead is absent (``chest3`` for V3)
24. a truncated ``.dat`` file on disk
25. an HTML page saved as a record's header
26. an HTML page saved as a record's signal file
27. a sampling frequency below the minimum (50 Hz)
28. an age outside 0-120 years (430)

More folders and sources:

29. an empty folder (the folder named)
30. a folder that does not exist (the folder named, "download it first")
31. an unknown source name (the known ones listed)
32. a ``data.sources`` entry with a misspelt key (the entry named)

Folders:

14. the same ECG under two names (one kept, the other a reject naming it)
15. a record listed twice in RECORDS (counted once)
16. a non-UTF-8 byte in RECORDS (the file named, the good records read)
17. a garbage ``ludb.csv`` (the file named, the good records read)

Downloads (:mod:`ecgdiff.data.physionet`, loopback server):

18. a ``SHA256SUMS.txt`` that is not a checksum list (a kept copy is fetched again; the server's is not kept)
19. a server answering with an HTML page instead of a file
20. a server serving a truncated file
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb

from ecgdiff import leads as L
from ecgdiff.data import beatdb, physionet
from ecgdiff.data.physionet import DownloadError
from ecgdiff.data.records import read_wfdb_record

NAMES_12 = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
NAMES_8 = ("i", "ii", "v1", "v2", "v3", "v4", "v5", "v6")
CONFIG = {
    "run": "test",
    "label": "TEST",
    "seed": 0,
    "leads": list(L.PAPER_9),
    "data": {"beats": {}, "split": {"seed": 0, "fractions": {"train": 0.5, "cv": 0.25, "test": 0.25}}},
}
#: Healthy LUDB records (sinus rhythm, nothing else) the corrupted records start from.
GOOD, BASE = ("190", "154"), "56"


@pytest.fixture(scope="module")
def ludb_mv(physionet_mirror: Path) -> dict[str, np.ndarray]:
    """Signals (mV, 12 leads) of a few healthy LUDB records."""
    root = physionet_mirror / "ludb" / "1.0.1" / "data"
    return {n: read_wfdb_record(root / n, n).signal for n in (*GOOD, BASE, "62")}


def write(
    folder: Path,
    name: str,
    mv: np.ndarray | None = None,
    *,
    digital: np.ndarray | None = None,
    gain: float = 1000.0,
    names: tuple[str, ...] = NAMES_12,
    age: str = "50",
    records: bool = True,
) -> Path:
    """A record in LUDB's layout (``data/<name>``, format 16, sinus rhythm), listed in ``RECORDS``."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    if digital is None:
        digital = np.round(np.asarray(mv) * gain).astype(np.int64)
    wfdb.wrsamp(
        name,
        fs=500,
        units=["mV"] * len(names),
        sig_name=list(names),
        d_signal=np.ascontiguousarray(np.asarray(digital, dtype=np.int64).T),
        fmt=["16"] * len(names),
        adc_gain=[gain] * len(names),
        baseline=[0] * len(names),
        comments=[f"<age>: {age}", "<sex>: M", "<diagnoses>:", "Rhythm: Sinus rhythm."],
        write_dir=str(folder / "data"),
    )
    if records:
        with open(folder / "RECORDS", "a") as f:
            f.write(f"data/{name}\n")
    return folder / "data" / name


def folder_with(tmp_path: Path, ludb_mv: dict[str, np.ndarray], name: str = "3", **bad) -> Path:
    """Two good healthy records ``1``, ``2`` and the bad one ``name``."""
    root = tmp_path / "ludb"
    for i, n in enumerate(GOOD, 1):
        write(root, str(i), ludb_mv[n])
    write(root, name, **bad)
    return root


def build(root: Path, tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    out = tmp_path / "beats"
    manifest = beatdb.build("ludb", root, out, CONFIG)
    return pd.read_parquet(out / "beats.parquet"), pd.read_csv(out / "rejects.csv"), manifest


def rejected(root: Path, tmp_path: Path, record: str = "ludb/3") -> pd.Series:
    """Build the database; the record must be absent from every split and have one record-level reject."""
    meta, rej, _ = build(root, tmp_path)
    assert record not in set(meta["record_id"]), f"{record} entered the beat database"
    assert {"ludb/1", "ludb/2"} <= set(meta["record_id"])  # the good records are kept
    rows = rej[(rej["record_id"] == record) & rej["beat_index"].isna()]
    assert len(rows) == 1, rej
    return rows.iloc[0]


# ------------------------------------------------------------------------------------------ signals
def test_noise_like_lead(tmp_path, ludb_mv):
    x = ludb_mv[BASE].copy()
    k = NAMES_12.index("v3")
    x[k] = np.random.default_rng(0).normal(size=x.shape[1]) * x[k].std()
    row = rejected(folder_with(tmp_path, ludb_mv, mv=x), tmp_path)
    assert row["stage"] == "quality" and "noise-like lead(s)" in row["reason"] and "V3" in row["reason"]


def test_uniform_random_int16(tmp_path, ludb_mv):
    digital = np.random.default_rng(7).integers(-32767, 32768, size=(8, 5000))  # -32768 is WFDB's NaN code
    row = rejected(folder_with(tmp_path, ludb_mv, digital=digital, names=NAMES_8), tmp_path)
    assert row["stage"] == "quality" and "QRS complexes do not repeat" in row["reason"]


def test_white_noise(tmp_path, ludb_mv):
    noise = np.random.default_rng(5).normal(size=(8, 5000)) * 0.3
    row = rejected(folder_with(tmp_path, ludb_mv, mv=noise, names=NAMES_8), tmp_path)
    assert row["stage"] == "quality" and "QRS complexes do not repeat" in row["reason"]


def test_clipped_lead(tmp_path, ludb_mv):
    x = ludb_mv[BASE].copy()
    k = NAMES_12.index("v2")
    level = 0.5 * np.abs(x[k]).max()
    x[k] = np.clip(x[k], -level, level)
    row = rejected(folder_with(tmp_path, ludb_mv, mv=x), tmp_path)
    assert row["stage"] == "quality" and "clipped lead(s): V2" in row["reason"]


def test_lead_stuck_at_the_rail(tmp_path, ludb_mv):
    digital = np.round(ludb_mv[BASE] * 1000).astype(np.int64)
    digital[NAMES_12.index("v4"), 1000:2500] = 32767
    row = rejected(folder_with(tmp_path, ludb_mv, digital=digital), tmp_path)
    assert row["stage"] == "quality" and "stuck at the rail" in row["reason"]
    assert "V4 (+32.77 mV for 3.00 s)" in row["reason"]


def test_swapped_v1_v6_labels(tmp_path, ludb_mv):
    x = ludb_mv[BASE].copy()
    i, j = NAMES_12.index("v1"), NAMES_12.index("v6")
    x[[i, j]] = x[[j, i]]
    row = rejected(folder_with(tmp_path, ludb_mv, mv=x), tmp_path)
    assert row["stage"] == "quality" and "V1 and V6 look swapped" in row["reason"]


def test_inverted_lead_ii_breaks_the_lead_laws(tmp_path, ludb_mv):
    x = ludb_mv[BASE].copy()
    x[NAMES_12.index("ii")] *= -1
    row = rejected(folder_with(tmp_path, ludb_mv, mv=x), tmp_path)
    assert row["stage"] == "quality" and "Einthoven" in row["reason"]
    name, corr = row["reason"].split("-1): ")[1].split(",")[0].split()
    assert name == "II" and float(corr) < -0.9  # the inverted lead is named first, correlating about -1


def test_inverted_lead_ii_without_redundant_limb_leads(tmp_path, ludb_mv):
    x = ludb_mv[BASE][[NAMES_12.index(n) for n in NAMES_8]].copy()
    x[1] *= -1
    row = rejected(folder_with(tmp_path, ludb_mv, mv=x, names=NAMES_8), tmp_path)
    assert row["stage"] == "quality" and "lead II inverted" in row["reason"]


# ------------------------------------------------------------------------------------------ headers
def _edit_gain(path: Path, new: str) -> None:
    hea = path.with_suffix(".hea")
    lines = hea.read_text().splitlines()
    for k in range(1, 13):
        f = lines[k].split()
        f[2] = new + f[2][f[2].index("(") :]  # "1000(0)/mV" -> "<new>(0)/mV"
        lines[k] = " ".join(f)
    hea.write_text("\n".join(lines) + "\n")


def test_gain_zero(tmp_path, ludb_mv):
    root = folder_with(tmp_path, ludb_mv, mv=ludb_mv[BASE])
    _edit_gain(root / "data" / "3", "0")  # WFDB's "uncalibrated"; wfdb would assume 200 units/mV
    row = rejected(root, tmp_path)
    assert row["stage"] == "read" and "gain 0 of signal 'i'" in row["reason"]


def test_negative_gain(tmp_path, ludb_mv):
    root = folder_with(tmp_path, ludb_mv, mv=ludb_mv[BASE])
    _edit_gain(root / "data" / "3", "-1000")
    row = rejected(root, tmp_path)
    assert row["stage"] == "read" and "negative gain -1000 of signal 'i'" in row["reason"]


def test_absurd_gain(tmp_path, ludb_mv):
    root = folder_with(tmp_path, ludb_mv, digital=np.round(ludb_mv[BASE] * 1000).astype(np.int64), gain=1.0)
    row = rejected(root, tmp_path)
    assert row["stage"] == "quality" and "absurd amplitude" in row["reason"]


def test_non_numeric_sampling_frequency(tmp_path, ludb_mv):
    root = folder_with(tmp_path, ludb_mv, mv=ludb_mv[BASE])
    hea = root / "data" / "3.hea"
    hea.write_text(hea.read_text().replace("3 12 500 5000", "3 12 abc 5000", 1))  # wfdb would read 250 Hz
    row = rejected(root, tmp_path)
    assert row["stage"] == "read" and "sampling frequency 'abc' is not a number" in row["reason"]
    assert str(hea) in row["reason"]


def test_non_numeric_age(tmp_path, ludb_mv):
    row = rejected(folder_with(tmp_path, ludb_mv, mv=ludb_mv[BASE], age="abc"), tmp_path)
    assert row["stage"] == "read" and "unparseable age 'abc'" in row["reason"]


def test_flat_lead(tmp_path, ludb_mv):
    x = ludb_mv[BASE].copy()
    x[10] = 0.0  # V5
    row = rejected(folder_with(tmp_path, ludb_mv, mv=x), tmp_path)
    assert row["stage"] == "read" and "flat (constant) lead(s)" in row["reason"] and "V5" in row["reason"]


def test_missing_lead(tmp_path, ludb_mv):
    names = tuple(n for n in NAMES_12 if n != "v3")
    row = rejected(folder_with(tmp_path, ludb_mv, mv=np.delete(ludb_mv[BASE], 8, axis=0), names=names), tmp_path)
    assert row["stage"] == "beats" and "cannot derive ['V3']" in row["reason"]


def test_unknown_lead_name_where_a_standard_lead_is_absent(tmp_path, ludb_mv):
    names = tuple("chest3" if n == "v3" else n for n in NAMES_12)
    row = rejected(folder_with(tmp_path, ludb_mv, mv=ludb_mv[BASE], names=names), tmp_path)
    assert row["stage"] == "read" and "unknown lead name 'chest3'" in row["reason"]
    assert "not every standard lead is present" in row["reason"]


def test_truncated_dat_on_disk(tmp_path, ludb_mv):
    root = folder_with(tmp_path, ludb_mv, mv=ludb_mv[BASE])
    dat = root / "data" / "3.dat"
    dat.write_bytes(dat.read_bytes()[:50_000])
    row = rejected(root, tmp_path)
    assert row["stage"] == "read" and "truncated signal file 3.dat: 50000 bytes" in row["reason"]


HTML_PAGE = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please log in</body></html>\n"


def test_html_page_instead_of_a_header(tmp_path, ludb_mv):
    root = folder_with(tmp_path, ludb_mv, mv=ludb_mv[BASE])
    hea = root / "data" / "3.hea"
    hea.write_text(HTML_PAGE)
    row = rejected(root, tmp_path)
    assert row["stage"] == "read" and f"header {hea} is an HTML page, not a WFDB header" in row["reason"]


def test_html_page_instead_of_a_signal_file(tmp_path, ludb_mv):
    root = folder_with(tmp_path, ludb_mv, mv=ludb_mv[BASE])
    dat = root / "data" / "3.dat"
    size = dat.stat().st_size
    dat.write_bytes(HTML_PAGE.encode().ljust(size, b" "))  # the right size: only its content tells
    row = rejected(root, tmp_path)
    assert row["stage"] == "read" and f"signal file {dat} is an HTML page, not signal data" in row["reason"]


def test_sampling_frequency_below_the_minimum(tmp_path, ludb_mv):
    root = folder_with(tmp_path, ludb_mv, mv=ludb_mv[BASE])
    hea = root / "data" / "3.hea"
    hea.write_text(hea.read_text().replace("3 12 500 5000", "3 12 50 5000", 1))
    row = rejected(root, tmp_path)
    assert row["stage"] == "read" and "sampling rate 50 Hz below the minimum 250 Hz" in row["reason"]


def test_age_out_of_range(tmp_path, ludb_mv):
    row = rejected(folder_with(tmp_path, ludb_mv, mv=ludb_mv[BASE], age="430"), tmp_path)
    assert row["stage"] == "read" and "age 430 outside 0-120 years (header: '430')" in row["reason"]


# ------------------------------------------------------------------------------------------ folders
def test_same_ecg_under_two_names(tmp_path, ludb_mv):
    root = folder_with(tmp_path, ludb_mv, mv=ludb_mv[BASE])
    write(root, "4", ludb_mv[BASE])  # the same samples as ludb/3
    meta, rej, _ = build(root, tmp_path)
    assert "ludb/3" in set(meta["record_id"]) and "ludb/4" not in set(meta["record_id"])
    row = rej[(rej["record_id"] == "ludb/4") & rej["beat_index"].isna()].iloc[0]
    assert row["stage"] == "duplicate" and row["reason"].startswith("duplicate of ludb/3")


def test_record_listed_twice_in_records(tmp_path, ludb_mv):
    root = folder_with(tmp_path, ludb_mv, mv=ludb_mv[BASE])
    with open(root / "RECORDS", "a") as f:
        f.write("data/3\n")
    meta, rej, manifest = build(root, tmp_path)
    assert manifest["n_records_seen"] == 3
    assert meta.groupby("record_id")["r_index"].apply(lambda r: r.is_unique).all()  # no beat twice
    folder = rej[rej["stage"] == "folder"]
    assert len(folder) == 1 and "lists 'data/3' twice (lines 3 and 4)" in folder["reason"].iloc[0]
    assert folder["record_id"].iloc[0] == "ludb/RECORDS"


def test_non_utf8_byte_in_records(tmp_path, ludb_mv):
    root = folder_with(tmp_path, ludb_mv, mv=ludb_mv[BASE])
    with open(root / "RECORDS", "ab") as f:
        f.write(b"data/\xff4\n")
    meta, rej, manifest = build(root, tmp_path)
    assert set(meta["record_id"]) == {"ludb/1", "ludb/2", "ludb/3"}
    folder = rej[rej["stage"] == "folder"]
    assert len(folder) == 1 and f"{root / 'RECORDS'} line 4 is not UTF-8 text (byte 0xff" in folder["reason"].iloc[0]
    assert manifest["folder_problems"] and "RECORDS" in manifest["folder_problems"][0]


def test_garbage_ludb_csv(tmp_path, ludb_mv):
    root = folder_with(tmp_path, ludb_mv, mv=ludb_mv[BASE])
    (root / "ludb.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    meta, rej, _ = build(root, tmp_path)
    assert set(meta["record_id"]) == {"ludb/1", "ludb/2", "ludb/3"}
    folder = rej[rej["stage"] == "folder"]
    assert len(folder) == 1 and folder["record_id"].iloc[0] == "ludb/ludb.csv"
    assert f"{root / 'ludb.csv'} is not LUDB's table" in folder["reason"].iloc[0]


def test_empty_folder(tmp_path):
    root = tmp_path / "ludb"
    root.mkdir()
    with pytest.raises(RuntimeError, match="no record found in ludb under .*: an empty folder") as err:
        beatdb.build("ludb", root, tmp_path / "beats", CONFIG)
    assert str(root) in str(err.value) and not (tmp_path / "beats" / "manifest.json").exists()


def test_folder_that_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist \\(download it first\\)") as err:
        beatdb.build("ludb", tmp_path / "nowhere", tmp_path / "beats", CONFIG)
    assert str(tmp_path / "nowhere") in str(err.value)


def test_unknown_source(tmp_path):
    with pytest.raises(ValueError, match="unknown source 'ludbx'; known: synthetic, ludb, cinc2021"):
        beatdb.build("ludbx", tmp_path, tmp_path / "beats", CONFIG)


def test_misspelt_key_of_a_source_entry(tmp_path):
    cfg = {"data": {"sources": [{"source": "ludb"}, {"source": "ptbdb", "rot": str(tmp_path)}]}}
    with pytest.raises(ValueError, match=r"data.sources\[1\] .*keys are source, root or database.*\['rot'\]"):
        beatdb.source_specs(cfg, {"ludb": str(tmp_path)})


# ------------------------------------------------------------------------------------------ downloads
DB, VERSION = "ludb", "1.0.1"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(physionet, "RETRY_BACKOFF_S", 0.01)


def _served(ludb_small: Path, tmp_path: Path, checksums: bool = True) -> Path:
    served = tmp_path / "served"
    shutil.copytree(ludb_small, served)
    if not checksums:
        (served / DB / VERSION / "SHA256SUMS.txt").unlink()
    return served


def _get(dest: Path, server) -> dict:
    return physionet.download(DB, VERSION, dest, server.url, progress=False)


HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please log in</body></html>\n"


@pytest.mark.network
def test_sha256sums_that_is_not_a_checksum_list(ludb_small, serve_folder, tmp_path):
    # a kept copy that is not a checksum list (an earlier run stored a web page) is fetched again
    server = serve_folder(ludb_small)
    dest = tmp_path / "resources" / DB / VERSION
    dest.mkdir(parents=True)
    (dest / "SHA256SUMS.txt").write_bytes(HTML)
    manifest = _get(dest, server)
    assert (
        manifest["verified"]
        and (dest / "SHA256SUMS.txt").read_bytes() == (ludb_small / DB / VERSION / "SHA256SUMS.txt").read_bytes()
    )
    # the server's own copy is not one: a clear error, and nothing of it stays in the download folder
    served = _served(ludb_small, tmp_path)
    (served / DB / VERSION / "SHA256SUMS.txt").write_text("this is not\na checksum list\n")
    bad = serve_folder(served)
    dest2 = tmp_path / "resources2" / DB / VERSION
    with pytest.raises(DownloadError, match="is not a checksum list") as err:
        _get(dest2, bad)
    assert f"{bad.url}{DB}/{VERSION}/SHA256SUMS.txt" in str(err.value)
    assert not (dest2 / "SHA256SUMS.txt").exists() and not (dest2 / ".ecgdiff-download.json").exists()


@pytest.mark.network
def test_server_returns_html_instead_of_a_file(ludb_small, serve_folder, tmp_path):
    served = _served(ludb_small, tmp_path, checksums=False)
    (served / DB / VERSION / "data" / "2.dat").write_bytes(HTML)
    server = serve_folder(served)
    dest = tmp_path / "d"
    with pytest.raises(DownloadError, match="with an HTML page, not the file data/2.dat"):
        _get(dest, server)
    assert not (dest / "data" / "2.dat").exists() and not (dest / ".ecgdiff-download.json").exists()


@pytest.mark.network
def test_server_serves_a_truncated_file(ludb_small, serve_folder, tmp_path):
    served = _served(ludb_small, tmp_path, checksums=False)
    dat = served / DB / VERSION / "data" / "3.dat"
    dat.write_bytes(dat.read_bytes()[:50_000])  # the server's copy is short; its Content-Length agrees
    server = serve_folder(served)
    dest = tmp_path / "d"
    with pytest.raises(DownloadError, match="truncated signal file 3.dat") as err:
        _get(dest, server)
    assert "data/3.hea" in str(err.value)
    assert not (dest / "data" / "3.dat").exists() and not (dest / ".ecgdiff-download.json").exists()
    (dat).write_bytes((ludb_small / DB / VERSION / "data" / "3.dat").read_bytes())  # repaired on the server
    assert _get(dest, server)["n_files"] > 0 and (dest / "data" / "3.dat").stat().st_size == 120_000
