"""The PhysioNet databases the workflow uses, and a parallel, resumable, verified downloader.

PhysioNet serves each published database version as a folder of files,
``<base_url>/<db>/<version>/<path>`` (``https://physionet.org/files/ludb/1.0.1/RECORDS``), with a
``SHA256SUMS.txt`` listing every file's SHA-256. :func:`download` mirrors such a folder:

- the file list comes from ``SHA256SUMS.txt`` (or, where a server has none, from ``RECORDS`` and the
  database's file extensions in :data:`CATALOGUE`), filtered by ``include`` patterns;
- files are fetched in parallel (a thread pool), each first into ``<name>.part``; an interrupted file is
  resumed with an HTTP ``Range`` request (a server that ignores ``Range`` restarts it);
- each file is checked against its SHA-256 before it is renamed to its final name; a file that fails is
  deleted and fetched again once, then :class:`ChecksumError` names the file and both hashes;
- a file already present with the right hash is not fetched again;
- on success a marker ``.ecgdiff-download.json`` (files, hashes, base URL, time) is written atomically
  into the version folder: the workflow's ``download_manifest(db)``.

``file://`` base URLs (a local copy of PhysioNet's folders) go through the same code path.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import hashlib
import logging
import os
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import requests

from ..io import sha256_file, write_json
from ..progress import bar as progress_bar

log = logging.getLogger(__name__)

MARKER_NAME = ".ecgdiff-download.json"
SUMS_NAME = "SHA256SUMS.txt"
CHUNK_BYTES = 1 << 16
#: First wait before retrying a failed transfer (doubles each retry, at most 10 s).
RETRY_BACKOFF_S = 0.5
USER_AGENT = "ecgdiff-downloader (+requests)"


@dataclass(frozen=True)
class Database:
    """A PhysioNet database version and how to list its files when it has no ``SHA256SUMS.txt``.

    Attributes:
        name, version: PhysioNet's project slug and version (the URL path ``<name>/<version>/``).
        title: human-readable name.
        extensions: file extensions every record of ``RECORDS`` has (header and signal).
        optional_extensions: extensions some records have (annotations); a 404 for them is not an error.
        extra_files: top-level files fetched besides the records (a 404 is not an error).
        include: default include patterns (see :func:`matches`); None means every file.
        size: approximate size of the full version (documentation only).
    """

    name: str
    version: str
    title: str
    extensions: tuple[str, ...] = ("hea", "dat")
    optional_extensions: tuple[str, ...] = ()
    extra_files: tuple[str, ...] = ("RECORDS", "ANNOTATORS", "LICENSE.txt")
    include: tuple[str, ...] | None = None
    size: str = ""

    def url(self, base_url: str) -> str:
        return database_url(base_url, self.name, self.version)


_LUDB_LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")

#: The databases the workflow uses (their default versions; config ``physionet.databases`` may change them).
CATALOGUE: dict[str, Database] = {
    "ludb": Database(
        "ludb",
        "1.0.1",
        "Lobachevsky University Electrocardiography Database",
        ("hea", "dat"),
        _LUDB_LEADS,
        ("RECORDS", "ANNOTATORS", "LICENSE.txt", "README", "ludb.csv"),
        size="~ 40 MB",
    ),
    "challenge-2021": Database(
        "challenge-2021",
        "1.0.3",
        "PhysioNet/Computing in Cardiology Challenge 2021 (12-lead ECGs)",
        ("hea", "mat"),
        (),
        ("RECORDS", "LICENSE.txt"),
        size="~ 8 GB for all training sources",
    ),
    "nstdb": Database("nstdb", "1.0.0", "MIT-BIH Noise Stress Test Database", ("hea", "dat"), ("xws",), size="~ 20 MB"),
    "qtdb": Database(
        "qtdb",
        "1.0.0",
        "QT Database",
        ("hea", "dat"),
        ("atr", "man", "q1c", "q2c", "qt1", "qt2", "pu", "pu0", "pu1", "xws", "hea-"),
        size="~ 90 MB",
    ),
    "mitdb": Database("mitdb", "1.0.0", "MIT-BIH Arrhythmia Database", ("hea", "dat"), ("atr", "xws"), size="~ 100 MB"),
    "ptb-xl": Database(
        "ptb-xl",
        "1.0.3",
        "PTB-XL, a large publicly available electrocardiography dataset",
        ("hea", "dat"),
        (),
        ("RECORDS", "LICENSE.txt", "ptbxl_database.csv", "scp_statements.csv"),
        include=("records500/*", "*.csv", "RECORDS", "LICENSE.txt"),
        size="~ 3 GB (records500 and CSVs: ~ 2.6 GB; records100 and CSVs: ~ 0.4 GB)",
    ),
    "ptbdb": Database(
        "ptbdb",
        "1.0.0",
        "PTB Diagnostic ECG Database",
        ("hea", "dat"),
        ("xyz",),
        ("RECORDS", "CONTROLS", "LICENSE.txt"),
        # the Frank leads (.xyz) are not read (ecgdiff.data.ptbdb): a fifth of the database left out
        include=("RECORDS", "CONTROLS", "LICENSE.txt", "*.hea", "*.dat"),
        size="~ 1.7 GB (without the .xyz Frank leads: ~ 1.3 GB)",
    ),
}

#: PTB-XL's record folders by sampling rate (the PTB-XL reader's option ``rate``; 500 Hz is the talk's input).
PTBXL_RECORD_FOLDERS: dict[int, str] = {500: "records500", 100: "records100"}


class DownloadError(RuntimeError):
    """A download failed; the message names the URL or file and what to do."""


class ChecksumError(DownloadError):
    """A file's SHA-256 differs from the one listed, twice in a row."""

    def __init__(self, path: str, url: str, expected: str, actual: str):
        super().__init__(
            f"checksum mismatch for {path} ({url}) after fetching it twice: expected sha256 {expected}, got {actual}"
        )
        self.path, self.url, self.expected, self.actual = path, url, expected, actual


class _NotFound(DownloadError):
    pass


class _Retryable(Exception):
    """A transfer problem worth retrying (connection, timeout, short read, server error)."""


def database_url(base_url: str, db: str, version: str) -> str:
    """``<base_url>/<db>/<version>/`` with exactly one slash between parts."""
    return f"{base_url.rstrip('/')}/{db}/{version}/"


def marker_path(dest: str | os.PathLike[str]) -> Path:
    """The download marker in a database version folder (the workflow's ``download_manifest(db)``)."""
    return Path(dest) / MARKER_NAME


def default_include(db: str) -> tuple[str, ...] | None:
    """The catalogue's include patterns for ``db`` (None: every file; unknown databases: every file)."""
    entry = CATALOGUE.get(db)
    return entry.include if entry else None


def include_patterns(
    db: str,
    override: Sequence[str] | None = None,
    cinc_sources: Sequence[str] | None = None,
    ptbxl_rate: int | None = None,
) -> list[str] | None:
    """The include patterns the workflow uses for ``db``: ``override`` (config ``physionet.include[db]``)
    when given; for ``challenge-2021`` the top-level files and ``training/<source>/`` of each of
    ``cinc_sources`` (config ``data.cinc2021.sources``); for ``ptb-xl`` with ``ptbxl_rate`` (the PTB-XL
    reader's ``rate``) the record folder of that rate and the CSVs; otherwise the catalogue's default
    (PTB-XL: ``records500/``, the reader's default rate, and the CSVs)."""
    if override is not None:
        return list(override)
    if db == "challenge-2021" and cinc_sources:
        return ["RECORDS", "LICENSE.txt"] + [f"training/{s}/" for s in cinc_sources]
    if db == "ptb-xl" and ptbxl_rate is not None:
        if int(ptbxl_rate) not in PTBXL_RECORD_FOLDERS:
            raise ValueError(f"ptb-xl: no record folder at {ptbxl_rate} Hz (have {sorted(PTBXL_RECORD_FOLDERS)})")
        return [f"{PTBXL_RECORD_FOLDERS[int(ptbxl_rate)]}/*", "*.csv", "RECORDS", "LICENSE.txt"]
    default = default_include(db)
    return list(default) if default is not None else None


def workflow_include(db: str, config: Mapping[str, Any]) -> list[str] | None:
    """The include patterns the download rule uses for ``db`` under the workflow ``config``, so that the
    download holds what the configured readers read: ``physionet.include[db]`` when set; otherwise, for
    ``challenge-2021``, the challenge sources of every ``cinc2021`` source of the beat database
    (``data.cinc2021.sources``, overridden by an entry's ``options.sources`` in ``data.sources``; None there
    means every source, so every file), and for ``ptb-xl`` the record folders of the rates of its ``ptbxl``
    sources (``data.ptbxl.rate`` / the entries' ``options.rate``, default 500 Hz); :func:`include_patterns`
    otherwise."""
    override = (config.get("physionet", {}).get("include") or {}).get(db)
    if override is not None:
        return list(override)
    data = dict(config.get("data", {}))
    entries = data.get("sources") or [{"source": data.get("source")}]
    if db == "challenge-2021":
        wanted: list[str] = []
        for entry in entries:
            if entry.get("source") != "cinc2021":
                continue
            options = {**dict(data.get("cinc2021") or {}), **dict(entry.get("options") or {})}
            if options.get("sources") is None:
                return include_patterns(db)
            wanted += [s for s in options["sources"] if s not in wanted]
        if not wanted:  # no cinc2021 source configured: the default sources
            wanted = list((data.get("cinc2021") or {}).get("sources") or [])
        return include_patterns(db, None, wanted or None)
    if db == "ptb-xl":
        rates: list[int] = []
        for entry in entries:
            if entry.get("source") == "ptbxl":
                options = {**dict(data.get("ptbxl") or {}), **dict(entry.get("options") or {})}
                rate = int(options.get("rate", 500))
                if rate not in rates:
                    rates.append(rate)
        if not rates:
            rates = [int((data.get("ptbxl") or {}).get("rate", 500))]
        out: list[str] = []
        for rate in rates:
            out += [p for p in include_patterns(db, ptbxl_rate=rate) or [] if p not in out]
        return out
    return include_patterns(db)


def matches(path: str, patterns: Iterable[str] | None) -> bool:
    """Whether ``path`` (relative, ``/``-separated) is selected by ``patterns``.

    A pattern ending in ``/`` selects everything under that folder; any other pattern is a shell glob
    matched against the whole path (``fnmatch``: ``*`` also matches ``/``), so ``training/georgia/*``
    selects the Georgia source and ``*.csv`` every CSV. None selects everything.
    """
    if patterns is None:
        return True
    for pat in patterns:
        if pat.endswith("/") and path.startswith(pat):
            return True
        if fnmatch.fnmatchcase(path, pat):
            return True
    return False


def parse_sha256sums(text: str) -> dict[str, str]:
    """``{path: sha256}`` from a ``SHA256SUMS.txt`` (``<hash>  <path>`` or ``<hash> *<path>`` lines)."""
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64 or any(c not in "0123456789abcdefABCDEF" for c in parts[0]):
            raise DownloadError(f"{SUMS_NAME} line {n} is not '<sha256> <path>': {line[:120]!r}")
        path = parts[1].strip()
        if path.startswith("*"):
            path = path[1:]
        out[_safe_relpath(path)] = parts[0].lower()
    return out


def _safe_relpath(path: str) -> str:
    p = PurePosixPath(path.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or not p.parts or path.startswith("/"):
        raise DownloadError(f"refusing unsafe path {path!r} in a file listing")
    return p.as_posix().removeprefix("./")


# ---------------------------------------------------------------- transport (http(s) and file)


@dataclass
class _Response:
    chunks: Iterator[bytes]
    partial: bool  # True when the body starts at the requested offset (206 / file seek)
    total: int | None  # full size of the file when known
    close: Any


class _Transport:
    """GET with an optional start offset, over HTTP(S) (one requests session per thread) or ``file://``."""

    def __init__(self, base: str, timeout: float):
        self.base = base
        self.timeout = timeout
        self.scheme = urllib.parse.urlparse(base).scheme.lower()
        if self.scheme not in ("http", "https", "file"):
            raise DownloadError(f"unsupported base URL {base!r}: use http://, https:// or file://")
        self._local = threading.local()

    def url(self, rel: str) -> str:
        return self.base + urllib.parse.quote(rel)

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            s.headers["User-Agent"] = USER_AGENT
            self._local.session = s
        return s

    def get(self, rel: str, offset: int = 0) -> _Response | None:
        """The file's bytes from ``offset``; None when ``offset`` is at or past its end (HTTP 416)."""
        if self.scheme == "file":
            return self._get_file(rel, offset)
        url = self.url(rel)
        headers = (
            {"Range": f"bytes={offset}-", "Accept-Encoding": "identity"} if offset else {"Accept-Encoding": "identity"}
        )
        try:
            r = self._session().get(url, headers=headers, stream=True, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Retryable(exc) from exc
        if r.status_code == 404:
            r.close()
            raise _NotFound(f"{url} not found (HTTP 404)")
        if r.status_code == 416:
            total = _content_range_total(r.headers.get("Content-Range"))
            r.close()
            return None if total is None or offset >= total else self.get(rel, 0)
        if r.status_code >= 500 or r.status_code == 429:
            r.close()
            raise _Retryable(f"HTTP {r.status_code} for {url}")
        if r.status_code not in (200, 206):
            r.close()
            raise DownloadError(f"HTTP {r.status_code} for {url}")
        length = r.headers.get("Content-Length")
        if r.status_code == 206:
            start, total = _content_range(r.headers.get("Content-Range"))
            if start != offset:
                r.close()
                raise _Retryable(f"server answered range start {start} for requested {offset} ({url})")
            partial = True
        else:
            total = int(length) if length is not None and length.isdigit() else None
            partial = False

        def chunks() -> Iterator[bytes]:
            try:
                yield from r.iter_content(CHUNK_BYTES)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                raise _Retryable(exc) from exc

        return _Response(chunks(), partial, total, r.close)

    def _get_file(self, rel: str, offset: int) -> _Response | None:
        path = Path(urllib.request.url2pathname(urllib.parse.urlparse(self.url(rel)).path))
        if not path.is_file():
            raise _NotFound(f"{self.url(rel)} not found (no such file {path})")
        total = path.stat().st_size
        if offset >= total and offset > 0:
            return None
        f = open(path, "rb")
        f.seek(offset)
        return _Response(iter(lambda: f.read(CHUNK_BYTES), b""), True, total, f.close)


def _content_range(value: str | None) -> tuple[int, int | None]:
    # "bytes 100-199/1000" or "bytes 100-199/*"
    try:
        unit, rng = value.split(" ", 1)  # type: ignore[union-attr]
        span, total = rng.split("/")
        return int(span.split("-")[0]), (None if total == "*" else int(total))
    except (AttributeError, ValueError):
        raise _Retryable(f"malformed Content-Range {value!r}") from None


def _content_range_total(value: str | None) -> int | None:
    # "bytes */1000"
    try:
        return int(value.split("/")[-1])  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        return None


# ---------------------------------------------------------------- the downloader


class _Downloader:
    def __init__(self, db: str, version: str, dest: Path, base_url: str, retries: int, timeout: float, progress: bool):
        self.db, self.version, self.dest = db, version, dest
        self.base_url = base_url
        self.url = database_url(base_url, db, version)
        self.transport = _Transport(self.url, timeout)
        self.retries = max(0, int(retries))
        self.progress = progress
        self.bar: Any = None  # a bar over the listed files (:meth:`start`)
        self.lock = threading.Lock()
        self.bytes_downloaded = 0
        self.fetched = 0

    # ---- one file
    def _count(self, n: int) -> None:
        with self.lock:
            self.bytes_downloaded += n

    def start(self, n_files: int) -> None:
        """The progress bar: ``n_files`` files (each counted when present and verified), the bytes fetched shown."""
        self.bar = progress_bar(
            total=n_files, desc=f"{self.db} {self.version}", unit="files", disable=not self.progress
        )

    def _done(self) -> None:
        if self.bar is not None:
            with self.lock:
                self.bar.set_postfix_str(f"{self.bytes_downloaded / 2**20:.1f} MiB fetched", refresh=False)
                self.bar.update(1)

    def _to_part(self, rel: str, part: Path, fresh: bool = False) -> str:
        """Fetch ``rel`` into ``part`` (resuming what is there unless ``fresh``); return its SHA-256."""
        if fresh and part.exists():
            part.unlink()
        last: BaseException | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(RETRY_BACKOFF_S * 2 ** (attempt - 1), 10.0))
            try:
                offset = part.stat().st_size if part.exists() else 0
                h = hashlib.sha256()
                if offset:
                    with open(part, "rb") as f:
                        for block in iter(lambda: f.read(1 << 20), b""):
                            h.update(block)
                resp = self.transport.get(rel, offset)
                if resp is None:  # the part already holds the whole file
                    return h.hexdigest()
                try:
                    if offset and not resp.partial:
                        log.info("%s: server ignored the Range request; restarting the file", rel)
                        h = hashlib.sha256()
                        mode, written = "wb", 0
                    else:
                        mode, written = "ab", offset
                    with open(part, mode) as f:
                        for chunk in resp.chunks:
                            f.write(chunk)
                            h.update(chunk)
                            written += len(chunk)
                            self._count(len(chunk))
                finally:
                    resp.close()
                if resp.total is not None and written != resp.total:
                    raise _Retryable(f"short read: {written} of {resp.total} bytes")
                return h.hexdigest()
            except _Retryable as exc:
                last = exc
                log.warning("%s: transfer failed (%s); attempt %d of %d", rel, exc, attempt + 1, self.retries + 1)
        if isinstance(last, _Retryable) and isinstance(last.__cause__, requests.ConnectionError):
            raise DownloadError(
                f"cannot reach the PhysioNet server at {self.base_url} (fetching {self.transport.url(rel)}: "
                f"{last}). Check the network or point the workflow at a reachable server or mirror with "
                f"physionet.base_url (e.g. --config physionet='{{base_url: http://127.0.0.1:8000/}}')."
            )
        raise DownloadError(f"failed to fetch {self.transport.url(rel)} after {self.retries + 1} attempts: {last}")

    def fetch(self, rel: str, expected: str | None, optional: bool = False) -> tuple[str, int, bool] | None:
        """Make ``dest/rel`` present and verified; return (sha256, size, fetched_now).

        None when ``optional`` and the server has no such file (404)."""
        if optional:
            try:
                return self.fetch(rel, expected)
            except _NotFound:
                log.debug("%s: not on the server (optional)", rel)
                return None
        final = self.dest / rel
        if final.is_file():
            if expected is None:
                self._done()
                return sha256_file(final), final.stat().st_size, False
            have = sha256_file(final)
            if have == expected:
                self._done()
                return have, final.stat().st_size, False
            log.warning(
                "%s: present but its sha256 %s differs from the listed %s; fetching it again", rel, have, expected
            )
            final.unlink()
        final.parent.mkdir(parents=True, exist_ok=True)
        part = final.with_name(final.name + ".part")
        sha = self._to_part(rel, part)
        self._refuse_html(rel, part)
        if expected is not None and sha != expected:
            log.warning(
                "%s: sha256 %s differs from the listed %s; deleting it and fetching it again", rel, sha, expected
            )
            sha = self._to_part(rel, part, fresh=True)
            if sha != expected:
                part.unlink(missing_ok=True)
                raise ChecksumError(rel, self.transport.url(rel), expected, sha)
        size = part.stat().st_size
        os.replace(part, final)
        with self.lock:
            self.fetched += 1
        self._done()
        return sha, size, True

    def _refuse_html(self, rel: str, part: Path) -> None:
        """Delete ``part`` and raise :class:`DownloadError` when the server sent a web page instead of the file
        (a login, error or proxy page answered with status 200): no PhysioNet data file starts like one."""
        if rel.lower().endswith((".html", ".htm")):
            return
        with open(part, "rb") as f:
            head = f.read(512)
        if looks_like_html(head):
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"the server answered {self.transport.url(rel)} with an HTML page, not the file {rel} "
                f"(first bytes {head[:60]!r}): a login, error or proxy page? Check physionet.base_url"
            )

    # ---- listings
    def _fetch_listing(self, rel: str) -> Path | None:
        """A listing file (``SHA256SUMS.txt``, ``RECORDS``): kept when present, else fetched; None on 404."""
        path = self.dest / rel
        if path.is_file():
            return path
        try:
            self.fetch(rel, None)
        except _NotFound:
            return None
        return path

    def _checksums(self) -> dict[str, str] | None:
        """``SHA256SUMS.txt`` parsed (None when the server has none). A kept copy that is not a checksum list
        (an interrupted or foreign file) is deleted and fetched again from the server; when the server's own
        copy is not one either, it is deleted (never kept in the download folder) and :class:`DownloadError`
        names the URL and the first bad line."""
        path = self._fetch_listing(SUMS_NAME)
        if path is None:
            return None
        try:
            return parse_sha256sums(path.read_text(errors="replace"))
        except DownloadError as exc:
            log.warning("%s: kept %s is not a checksum list (%s); fetching it again", self.db, path, exc)
        path.unlink(missing_ok=True)
        try:
            self.fetch(SUMS_NAME, None)
        except _NotFound:
            return None
        try:
            return parse_sha256sums(path.read_text(errors="replace"))
        except DownloadError as exc:
            path.unlink(missing_ok=True)
            raise DownloadError(
                f"{self.transport.url(SUMS_NAME)} is not a checksum list ({exc}); nothing was downloaded and the "
                "file was not kept. Check physionet.base_url and the database version."
            ) from None

    def listing(self, include: Sequence[str] | None) -> tuple[str, dict[str, str | None], set[str]]:
        """(kind, {path: sha256 or None}, optional paths) of the files to fetch."""
        listed = self._checksums()
        if listed is not None:
            files: dict[str, str | None] = {p: h for p, h in listed.items() if matches(p, include)}
            return SUMS_NAME, files, set()
        entry = CATALOGUE.get(self.db)
        if entry is None:
            raise DownloadError(
                f"{self.url} has no {SUMS_NAME}, and {self.db!r} is not in the catalogue "
                "(which would give its file extensions)"
            )
        records = self._records("")
        files = {}
        optional: set[str] = set()
        for name in entry.extra_files:
            if matches(name, include):
                files[name] = None
                optional.add(name)
        for rec in records:
            for ext in entry.extensions + entry.optional_extensions:
                rel = f"{rec}.{ext}"
                if matches(rel, include):
                    files[rel] = None
                    if ext in entry.optional_extensions:
                        optional.add(rel)
        return "RECORDS", files, optional

    def _records(self, folder: str) -> list[str]:
        rel = f"{folder}RECORDS"
        path = self._fetch_listing(rel)
        if path is None:
            raise DownloadError(
                f"{self.url} has neither {SUMS_NAME} nor {rel}: cannot list its files "
                f"({self.transport.url(rel)} not found; check the database name and version "
                f"in physionet.databases and the base URL physionet.base_url)"
            )
        out: list[str] = []
        for line in path.read_text(errors="replace").splitlines():
            line = line.strip()
            if not line:
                continue
            if line.endswith("/"):
                out += self._records(folder + _safe_relpath(line) + "/")
            else:
                out.append(folder + _safe_relpath(line))
        return out


def download(
    db: str,
    version: str,
    dest: str | os.PathLike[str],
    base_url: str,
    *,
    include: Sequence[str] | None = None,
    workers: int = 4,
    retries: int = 3,
    timeout: float = 60,
    progress: bool = True,
) -> dict[str, Any]:
    """Download PhysioNet database ``db`` version ``version`` from ``base_url`` into the folder ``dest``.

    Args:
        db, version: the URL path ``<db>/<version>/`` under ``base_url``.
        dest: the local version folder (files land at ``dest/<path>``).
        base_url: ``https://physionet.org/files/`` or a mirror (``http://127.0.0.1:8000/``, ``file:///data/``).
        include: path patterns to fetch (:func:`matches`); None: the catalogue's default for ``db``
            (every file for most databases; PTB-XL: ``records500/`` and the CSVs). Pass ``["*"]`` for all.
        workers: parallel transfers. retries: extra attempts per file after a transfer failure.
        timeout: seconds to wait for the server (connect and each read). progress: a bar over the listed files
            (:func:`ecgdiff.progress.bar`: on a terminal, else log lines with rate and ETA), bytes fetched beside it.

    Returns the manifest also written to ``dest/.ecgdiff-download.json``: database, version, base URL,
    listing kind, include patterns, ``files`` (path -> sha256, size), counts and the time.

    Raises :class:`DownloadError` (server unreachable: names the base URL and ``physionet.base_url``;
    404: names the URL) or :class:`ChecksumError`. Partial files stay as ``<name>.part`` for the next run.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if include is None:
        include = default_include(db)
    include = list(include) if include is not None else None
    entry = CATALOGUE.get(db)
    if entry is not None and entry.version != version:
        log.info("%s: version %s requested (catalogue default %s)", db, version, entry.version)
    dl = _Downloader(db, version, dest, base_url, retries, timeout, progress)
    started = time.monotonic()
    try:
        kind, files, optional = dl.listing(include)
        if not files:
            raise DownloadError(f"no file of {dl.url} matches the include patterns {include}")
        log.info(
            "%s %s: %d files listed by %s%s",
            db,
            version,
            len(files),
            kind,
            f" (include {include})" if include is not None else "",
        )
        dl.start(len(files))
        results: dict[str, dict[str, Any]] = {}
        missing_optional: list[str] = []
        with ThreadPoolExecutor(max_workers=max(1, int(workers)), thread_name_prefix="physionet") as pool:
            futures = {pool.submit(dl.fetch, rel, sha, rel in optional): rel for rel, sha in sorted(files.items())}
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            errors = []
            for fut in done:
                exc = fut.exception()
                rel = futures[fut]
                if exc is None and fut.result() is None:
                    missing_optional.append(rel)
                elif exc is None:
                    sha, size, _ = fut.result()
                    results[rel] = {"sha256": sha, "size": size}
                else:
                    errors.append(exc)
            if pending:  # only after a failure: stop queued transfers, let running ones finish
                for fut in pending:
                    fut.cancel()
                for fut in wait(pending)[0]:
                    if not fut.cancelled() and fut.exception() is None and fut.result() is not None:
                        sha, size, _ = fut.result()
                        results[futures[fut]] = {"sha256": sha, "size": size}
            if errors:
                first = errors[0]
                if isinstance(first, _NotFound):
                    raise DownloadError(f"{first} while downloading {db} {version} from {base_url}") from first
                if len(errors) > 1:
                    log.error("%d files failed; the first error follows", len(errors))
                raise first
    finally:
        if dl.bar is not None:
            dl.bar.close()
    if kind != SUMS_NAME:
        check_signal_sizes(dest, results)
    manifest = {
        "database": db,
        "version": version,
        "base_url": base_url,
        "url": dl.url,
        "listing": kind,
        "include": include,
        "verified": kind == SUMS_NAME,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "n_files": len(results),
        "total_bytes": int(sum(r["size"] for r in results.values())),
        "fetched_files": dl.fetched,
        "fetched_bytes": dl.bytes_downloaded,
        "seconds": round(time.monotonic() - started, 3),
        "missing_optional": sorted(missing_optional),
        "files": dict(sorted(results.items())),
    }
    write_json(marker_path(dest), manifest)
    log.info(
        "%s %s: %d files (%d fetched, %d bytes) verified into %s",
        db,
        version,
        len(results),
        dl.fetched,
        dl.bytes_downloaded,
        dest,
    )
    return manifest


def looks_like_html(head: bytes) -> bool:
    """Whether a file's first bytes are those of a web page (``<!DOCTYPE html``, ``<html``, ``<head``)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml version")) and b"<html" in text[:512]


def check_signal_sizes(dest: str | os.PathLike[str], files: Iterable[str]) -> None:
    """Check every downloaded WFDB header's signal files against the sizes it implies: without checksums
    (a ``RECORDS`` listing) this is what tells a file the server cut short. A truncated or oversized signal
    file is deleted (the next run fetches it again) and :class:`DownloadError` names it and the header."""
    import wfdb

    from .records import RecordError, check_signal_files

    dest = Path(dest)
    problems = []
    for rel in sorted(f for f in files if f.endswith(".hea")):
        hea = dest / rel
        try:
            header = wfdb.rdheader(str(hea.with_suffix("")))
        except Exception as exc:  # noqa: BLE001 - wfdb raises many types for a bad header
            problems.append(f"{rel}: not a WFDB header ({type(exc).__name__}: {exc})")
            hea.unlink(missing_ok=True)
            continue
        if getattr(header, "n_seg", None) is not None or not header.n_sig:
            continue
        for name in dict.fromkeys(header.file_name):
            chans = [k for k, f in enumerate(header.file_name) if f == name]
            target = hea.parent / name
            if not target.is_file():
                continue  # not part of this download (include patterns)
            try:
                check_signal_files(header, hea.parent, rel, chans)
            except RecordError as exc:
                problems.append(f"{exc.reason} (header {rel}); deleted it")
                target.unlink(missing_ok=True)
    if problems:
        raise DownloadError(
            f"{len(problems)} downloaded file(s) do not match their WFDB headers (truncated by the server?): "
            + "; ".join(problems[:5])
        )


def verify(dest: str | os.PathLike[str]) -> list[str]:
    """Paths whose current SHA-256 differs from the download marker in ``dest`` (empty: all intact)."""
    from ..io import read_json

    manifest = read_json(marker_path(dest))
    bad = []
    for rel, info in manifest["files"].items():
        path = Path(dest) / rel
        if not path.is_file() or sha256_file(path) != info["sha256"]:
            bad.append(rel)
    return bad
