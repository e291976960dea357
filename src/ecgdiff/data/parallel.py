"""A bounded, order-preserving parallel map for per-record work (beats, rhythm windows).

Records are read in the main process (one file at a time, in a fixed order) and processed in worker
processes. :func:`bounded_map` keeps at most ``4 * workers`` records in flight, so that memory stays
bounded however large the source is, and yields results in input order, so that the output does not
depend on the number of workers.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def bounded_map(
    func: Callable[..., Any], items: Iterable[tuple[Any, ...]], workers: int
) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """``(item, func(*item))`` in input order, at most ``4 * workers`` items in flight (serial if 1)."""
    if workers <= 1:
        for item in items:
            yield item, func(*item)
        return
    with cf.ProcessPoolExecutor(max_workers=workers) as pool:
        pending: list[tuple[Any, cf.Future[Any]]] = []
        for item in items:
            pending.append((item, pool.submit(func, *item)))
            if len(pending) >= 4 * workers:
                first, fut = pending.pop(0)
                yield first, fut.result()
        for item, fut in pending:
            yield item, fut.result()
