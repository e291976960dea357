"""Shared test fixtures: the local PhysioNet mirror and a loopback HTTP server that serves a folder.

The server speaks enough HTTP/1.1 for the downloader: GET/HEAD, byte ``Range`` requests (206 with
``Content-Range``, 416 past the end), and switches to misbehave on purpose: ignore ``Range``, answer 404
for some paths, serve corrupted bytes (a given number of times, or always), or drop the connection after
some bytes. It records every request (path, Range header, status, bytes sent).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

REPO = Path(__file__).resolve().parents[1]


def _mirror_candidates() -> list[Path]:
    out = []
    if os.environ.get("ECGDIFF_PHYSIONET_MIRROR"):
        out.append(Path(os.environ["ECGDIFF_PHYSIONET_MIRROR"]))
    out.append(REPO.parent / "shared" / "physionet")
    return out


@pytest.fixture(scope="session")
def physionet_mirror() -> Path:
    """The local copy of PhysioNet folders: ``$ECGDIFF_PHYSIONET_MIRROR`` or ``<repo>/../shared/physionet``."""
    for cand in _mirror_candidates():
        if (cand / "ludb").is_dir():
            return cand
    pytest.skip(
        f"no PhysioNet mirror found (looked in {[str(c) for c in _mirror_candidates()]}); set ECGDIFF_PHYSIONET_MIRROR"
    )


@dataclass
class Served:
    """One request the loopback server answered."""

    method: str
    path: str
    range: str | None
    status: int
    sent: int


@dataclass
class LoopbackServer:
    """A folder served over HTTP on 127.0.0.1 (see the module docstring for the switches)."""

    root: Path
    port: int = 0
    ignore_range: bool = False
    missing: set[str] = field(default_factory=set)
    corrupt: dict[str, int] = field(default_factory=dict)  # path -> times to corrupt (-1: always)
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before dropping (once)
    log: list[Served] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def requests_for(self, path: str) -> list[Served]:
        return [r for r in self.log if r.path == path]

    def gets(self) -> list[Served]:
        return [r for r in self.log if r.method == "GET"]


def _handler(server: LoopbackServer, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def setup(self) -> None:
            super().setup()
            # headers and body go out in separate writes: without this, Nagle's algorithm and delayed
            # ACKs add ~40 ms to every keep-alive request
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _record(self, status: int, sent: int) -> None:
            with lock:
                server.log.append(Served(self.command, self._rel, self.headers.get("Range"), status, sent))

        def _fail(self, status: int, extra: dict[str, str] | None = None) -> None:
            body = f"{status}\n".encode()
            self.send_response(status)
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)
            self._record(status, 0)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            self._rel = unquote(urlparse(self.path).path).lstrip("/")
            target = (server.root / self._rel).resolve()
            if self._rel in server.missing or not target.is_file() or server.root.resolve() not in target.parents:
                return self._fail(404)
            data = target.read_bytes()
            with lock:
                times = server.corrupt.get(self._rel, 0)
                if times:
                    server.corrupt[self._rel] = times - 1 if times > 0 else times
            if times and data:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            start, status = 0, 200
            rng = self.headers.get("Range")
            if rng and not server.ignore_range:
                spec = rng.split("=", 1)[1].split(",")[0].strip()
                a, _, b = spec.partition("-")
                start = int(a)
                end = int(b) if b else len(data) - 1
                if start >= len(data):
                    return self._fail(416, {"Content-Range": f"bytes */{len(data)}"})
                end = min(end, len(data) - 1)
                body = data[start : end + 1]
                status = 206
            else:
                body = data
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "none" if server.ignore_range else "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/{len(data)}")
            self.end_headers()
            if self.command == "HEAD":
                return self._record(status, 0)
            with lock:
                cut = server.drop_after.pop(self._rel, None)
            if cut is not None and cut < len(body):
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self._record(status, cut)
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            self.wfile.write(body)
            self._record(status, len(body))

    return Handler


@pytest.fixture
def serve_folder() -> Iterator[Callable[..., LoopbackServer]]:
    """``serve_folder(root, **switches)`` starts a :class:`LoopbackServer` on a free port (stopped after the test)."""
    started: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(root: Path, **switches: object) -> LoopbackServer:
        srv = LoopbackServer(Path(root), **switches)  # type: ignore[arg-type]
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(srv, threading.Lock()))
        httpd.daemon_threads = True
        srv.port = httpd.server_address[1]
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        started.append((httpd, thread))
        return srv

    yield start
    for httpd, thread in started:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening (bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LUDB_SMALL_RECORDS = ("1", "2", "3")


@pytest.fixture(scope="session")
def ludb_small(physionet_mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A served-folder root holding ``ludb/1.0.1/`` with LUDB's first three records (real files), their
    ``RECORDS`` and a ``SHA256SUMS.txt`` restricted to them (hashes of the real files). Read-only for tests."""
    import hashlib

    src = physionet_mirror / "ludb" / "1.0.1"
    root = tmp_path_factory.mktemp("served")
    dst = root / "ludb" / "1.0.1"
    (dst / "data").mkdir(parents=True)
    lines = []
    for rec in LUDB_SMALL_RECORDS:
        for f in sorted((src / "data").glob(f"{rec}.*")):
            shutil.copyfile(f, dst / "data" / f.name)
    (dst / "RECORDS").write_text("".join(f"data/{r}\n" for r in LUDB_SMALL_RECORDS))
    for f in sorted(p for p in dst.rglob("*") if p.is_file()):
        rel = f.relative_to(dst).as_posix()
        lines.append(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {rel}\n")
    (dst / "SHA256SUMS.txt").write_text("".join(lines))
    return root


@pytest.fixture(scope="session")
def ludb_records(physionet_mirror: Path) -> list:
    """Every LUDB record of the mirror, read with the default options (all 200 are usable)."""
    from ecgdiff.data.records import read_source

    return list(read_source("ludb", physionet_mirror / "ludb" / "1.0.1"))


@pytest.fixture(scope="session")
def cinc_records_all(physionet_mirror: Path) -> list:
    """Every CinC 2021 record of the mirror, read with the usability checks that depend on content off
    (age/sex and flat leads), so that all 147 are Records."""
    from ecgdiff.data.records import read_source

    return list(
        read_source(
            "cinc2021", physionet_mirror / "challenge-2021" / "1.0.3", {"require_age_sex": False, "flat_tol_mv": -1.0}
        )
    )
