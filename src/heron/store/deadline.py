"""A time limit on the reads a caller shapes (metrics, compare): past it, DuckDB is told to stop.

DuckDB cannot be given a statement timeout, but a cursor's running statement can be
interrupted from another thread; a timer does that, and the statement fails with
``duckdb.InterruptException``, which becomes :class:`heron.errors.QueryTimeout`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from heron.errors import QueryTimeout


@contextmanager
def deadline(cur: duckdb.DuckDBPyConnection, seconds: float | None, what: str) -> Iterator[None]:
    """Interrupt what runs on ``cur`` inside the block after ``seconds`` (None or 0: never).

    ``cur`` is a per-thread cursor, reused by the next request of the same thread, so the
    watcher is stopped under a lock before the block ends: it never hits a later statement.
    """
    if not seconds or seconds <= 0:
        yield
        return
    lock = threading.Lock()
    done = threading.Event()
    fired = False

    def watch() -> None:
        nonlocal fired
        if done.wait(seconds):
            return
        # again every 10 ms: a block may run several statements, and an interrupt that
        # lands between two of them is lost
        while True:
            with lock:
                if done.is_set():
                    return
                fired = True
                cur.interrupt()
            if done.wait(0.01):
                return

    threading.Thread(target=watch, name="heron-query-deadline", daemon=True).start()
    try:
        yield
    except duckdb.InterruptException:
        if not fired:
            raise
        raise timed_out(what, seconds) from None
    finally:
        with lock:
            done.set()


def timed_out(what: str, seconds: float) -> QueryTimeout:
    """The error of a read cancelled at its time limit (any backend)."""
    return QueryTimeout(
        f"{what} ran longer than {seconds:g} s (HERON_QUERY_TIMEOUT_S) and was cancelled; "
        "narrow the time window, add filters, use a coarser granularity or fewer dimensions"
    )
