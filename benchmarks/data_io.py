"""Speed of the PhysioNet downloader and of the record readers, on the local PhysioNet mirror.

    python benchmarks/data_io.py [--mirror ../shared/physionet] [--out results/benchmarks/data_io.json]

Downloads the full LUDB 1.0.1 (2805 files, ~25 MB) from a loopback HTTP server (the Range-capable test
server of tests/conftest.py) with 1, 4 and 8 workers, then again with everything present (verification
only), and from a file:// URL; then reads every LUDB and CinC 2021 record of the mirror. Prints a table and
writes the numbers as JSON. Loopback numbers measure the client and server overhead (per-file cost), not a
network.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

from conftest import LoopbackServer, _handler  # noqa: E402

from ecgdiff.data import physionet  # noqa: E402
from ecgdiff.data.records import RecordError, read_source  # noqa: E402


def _serve(root: Path) -> tuple[LoopbackServer, ThreadingHTTPServer]:
    srv = LoopbackServer(root)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(srv, threading.Lock()))
    httpd.daemon_threads = True
    srv.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return srv, httpd


def bench_download(mirror: Path) -> list[dict]:
    rows = []
    srv, httpd = _serve(mirror)
    try:
        for workers in (1, 4, 8):
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                m = physionet.download("ludb", "1.0.1", tmp, srv.url, workers=workers, progress=False)
                first = time.perf_counter() - t
                t = time.perf_counter()
                m2 = physionet.download("ludb", "1.0.1", tmp, srv.url, workers=workers, progress=False)
                second = time.perf_counter() - t
                assert m2["fetched_files"] == 0
            rows.append(
                {
                    "what": "download ludb over loopback http",
                    "workers": workers,
                    "files": m["n_files"],
                    "mb": m["total_bytes"] / 1e6,
                    "seconds": first,
                    "files_per_s": m["n_files"] / first,
                    "mb_per_s": m["total_bytes"] / 1e6 / first,
                    "rerun_seconds": second,
                }
            )
    finally:
        httpd.shutdown()
        httpd.server_close()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        m = physionet.download("ludb", "1.0.1", tmp, mirror.as_uri() + "/", workers=4, progress=False)
        first = time.perf_counter() - t
    rows.append(
        {
            "what": "download ludb from file:// URL",
            "workers": 4,
            "files": m["n_files"],
            "mb": m["total_bytes"] / 1e6,
            "seconds": first,
            "files_per_s": m["n_files"] / first,
            "mb_per_s": m["total_bytes"] / 1e6 / first,
            "rerun_seconds": None,
        }
    )
    return rows


def bench_read(mirror: Path) -> list[dict]:
    rows = []
    for source, root in (("ludb", mirror / "ludb" / "1.0.1"), ("cinc2021", mirror / "challenge-2021" / "1.0.3")):
        t = time.perf_counter()
        items = list(read_source(source, root))
        dt = time.perf_counter() - t
        n_err = sum(isinstance(x, RecordError) for x in items)
        samples = sum(x.signal.size for x in items if not isinstance(x, RecordError))
        rows.append(
            {
                "what": f"read_source({source!r})",
                "records": len(items),
                "rejected": n_err,
                "seconds": dt,
                "records_per_s": len(items) / dt,
                "msamples_per_s": samples / 1e6 / dt,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--mirror",
        type=Path,
        default=Path(os.environ.get("ECGDIFF_PHYSIONET_MIRROR", REPO.parent / "shared" / "physionet")),
    )
    ap.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks" / "data_io.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    down = bench_download(args.mirror)
    read = bench_read(args.mirror)
    print(
        f"{'what':40s} {'workers':>7s} {'files':>6s} {'MB':>6s} {'s':>7s} {'files/s':>8s} {'MB/s':>6s} {'rerun s':>8s}"
    )
    for r in down:
        rerun = f"{r['rerun_seconds']:8.2f}" if r["rerun_seconds"] is not None else f"{'-':>8s}"
        print(
            f"{r['what']:40s} {r['workers']:7d} {r['files']:6d} {r['mb']:6.1f} {r['seconds']:7.2f} "
            f"{r['files_per_s']:8.0f} {r['mb_per_s']:6.1f} {rerun}"
        )
    for r in read:
        print(
            f"{r['what']:40s} records {r['records']:4d} rejected {r['rejected']:3d} {r['seconds']:6.2f} s "
            f"{r['records_per_s']:6.1f} records/s {r['msamples_per_s']:6.1f} Msamples/s"
        )
    result = {
        "download": down,
        "read": read,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}; cpus: {os.cpu_count()}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
