"""Progress of long steps: a tqdm bar with a total, on a terminal or in the log.

:func:`bar` returns a ``tqdm`` bar. On an interactive terminal it draws on standard error as usual. Otherwise
(a Snakemake job, whose script sends its logging to the rule's log file with :func:`ecgdiff.runtime.log_to`;
a batch job; a pipe) the bar writes to :class:`LogStream`, which turns each refresh into one compact INFO line of
the logger ``ecgdiff.progress``, at most every ``interval_s`` seconds (plus the first and the last)::

    beats ludb: 120/200 records (60%) [00:41<00:27, 2.93 records/s]

so that the job's log file shows how far it got, its rate and its ETA. ``ECGDIFF_PROGRESS=log`` or ``tty``
forces either form, ``off`` disables the bars (``ECGDIFF_PROGRESS_INTERVAL`` sets ``interval_s``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

log = logging.getLogger(__name__)

#: Seconds between two log lines of a bar that is not on a terminal.
INTERVAL_S: float = 30.0
#: The log line: description, count, percentage, elapsed < remaining, rate (and the bar's postfix).
LOG_FORMAT = "{desc}: {n_fmt}/{total_fmt} {unit} ({percentage:.0f}%) [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


class LogStream:
    """A file-like target for tqdm that logs each refresh that advanced the count (the part before ``[``) once,
    stripped of carriage returns."""

    def __init__(self, logger: logging.Logger = log, level: int = logging.INFO) -> None:
        self.logger, self.level = logger, level
        self._last = ""

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        key = line.split(" [")[0]
        if line and key != self._last:
            self.logger.log(self.level, "%s", line)
            self._last = key
        return len(text)

    def flush(self) -> None:
        pass


def mode() -> str:
    """``tty``, ``log`` or ``off``: ``$ECGDIFF_PROGRESS``, else ``tty`` when standard error is a terminal."""
    forced = os.environ.get("ECGDIFF_PROGRESS", "").strip().lower()
    if forced in ("tty", "log", "off"):
        return forced
    return "tty" if getattr(sys.stderr, "isatty", lambda: False)() else "log"


def eta(done: float, total: float, elapsed_s: float) -> str:
    """Remaining time ``H:MM:SS`` at the average rate so far (``?`` before any progress)."""
    if done <= 0 or elapsed_s <= 0:
        return "?"
    return tqdm.format_interval(max(0.0, (total - done) * elapsed_s / done))


def bar(
    iterable: Iterable[Any] | None = None,
    total: int | float | None = None,
    desc: str = "",
    unit: str = "it",
    logger: logging.Logger | None = None,
    interval_s: float | None = None,
    disable: bool = False,
    **options: Any,
) -> tqdm:
    """A tqdm bar over ``iterable`` (or updated by hand) with ``total`` steps of ``unit``; see the module docstring.

    ``total`` defaults to ``len(iterable)``. ``logger``: where the log form writes (default ``ecgdiff.progress``).
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    how = "off" if disable else mode()
    if how == "tty":
        return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, **options)
    if interval_s is None:
        interval_s = float(os.environ.get("ECGDIFF_PROGRESS_INTERVAL", INTERVAL_S))
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        file=LogStream(logger or log),
        mininterval=interval_s,
        maxinterval=max(interval_s, 1e-3) * 10,
        miniters=1,
        bar_format=LOG_FORMAT if total else "{desc}: {n_fmt} {unit} [{elapsed}, {rate_fmt}]",
        disable=how == "off",
        **options,
    )
