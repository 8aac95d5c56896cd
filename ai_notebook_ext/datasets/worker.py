"""Data work (reading, counting, profiling, checking files with DuckDB) in a worker
process, never in the server.

DuckDB alone adds about 80 MB to a process, and profiling 12M rows takes over a GB while
it runs; in the server that memory would stay, and a crash would take the server down.
One long-lived worker process (spawned, so it shares nothing with the server's threads
and sockets) takes these jobs one at a time; if it dies (e.g. out of memory) the job fails
with a clear error and the next job gets a new worker.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .formats import FormatError, Schema, detect, inspect
from .profile import quick_profile
from .quality import Rule, evaluate, validate
from .storage import BlobStore


class WorkerDied(RuntimeError):
    """The data worker process ended during a job (out of memory, killed)."""


QUICK = 15.0  # seconds for checks that read no data (a rule's SQL)
LONG = 3600.0  # seconds for reading, profiling or checking a whole file

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_stores: dict[str, BlobStore] = {}  # in the worker: one store per configuration


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return _pool


async def run(fn: Any, *args: Any, limit: float = LONG) -> Any:
    """``fn(*args)`` in the worker; FormatError and other job errors come back as raised.
    A job past ``limit`` seconds is stopped by killing the worker (WorkerDied)."""
    pool = _executor()
    future = asyncio.get_running_loop().run_in_executor(pool, fn, *args)
    try:
        return await asyncio.wait_for(future, limit)
    except TimeoutError:
        _discard(pool, kill=True)
        raise WorkerDied(
            f"the data worker took longer than {limit:g} s on this job and was stopped"
        ) from None
    except BrokenProcessPool:
        _discard(pool)
        raise WorkerDied(
            "the data worker process died during this job (out of memory?); try again, or "
            "with a smaller file"
        ) from None


def _discard(pool: ProcessPoolExecutor, kill: bool = False) -> None:
    """Forget a broken or stuck pool; the next job starts a new worker."""
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    if kill:  # the executor has no public way to stop a running job
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown() -> None:
    """Stop the worker (tests and server shutdown)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


# --- jobs (they run in the worker) -------------------------------------------------------


def _store(url: str, options: dict[str, Any]) -> BlobStore:
    key = repr((url, sorted(options.items())))
    if key not in _stores:
        _stores[key] = BlobStore(url, options)
    return _stores[key]


def read_file(path: str, filename: str, declared: str | None, count: bool) -> Schema:
    """Detect the format and read the schema (and, with ``count``, every row)."""
    fmt = detect(path, filename, declared)
    return inspect(path, fmt, count=count)


def read_blob(url: str, options: dict[str, Any], blob: str, fmt: str) -> Schema:
    store = _store(url, options)
    with store.local_path(blob, "." + fmt) as path:
        return inspect(path, fmt)


def profile_blob(url: str, options: dict[str, Any], blob: str, fmt: str) -> dict[str, Any]:
    store = _store(url, options)
    with store.local_path(blob, "." + fmt) as path:
        return quick_profile(path, fmt)


def sample_blob(
    url: str, options: dict[str, Any], blob: str, fmt: str, rows: int
) -> list[dict[str, Any]]:
    """The first ``rows`` rows, as JSON-able dicts."""
    from .formats import connect, open_relation
    from .profile import jsonable

    store = _store(url, options)
    with store.local_path(blob, "." + fmt) as path:
        con = connect()
        try:
            open_relation(con, path, fmt)
            cursor = con.execute("SELECT * FROM data LIMIT ?", [int(rows)])
            names = [d[0] for d in cursor.description]
            return [
                {n: jsonable(v) for n, v in zip(names, row, strict=False)}
                for row in cursor.fetchall()
            ]
        finally:
            con.close()


def check_blob(
    url: str, options: dict[str, Any], blob: str, fmt: str, rules: list[Rule]
) -> list[dict[str, Any]]:
    store = _store(url, options)
    with store.local_path(blob, "." + fmt) as path:
        return evaluate(path, fmt, rules)


def validate_rule(rule: Rule) -> None:
    validate(rule)


__all__ = ["FormatError", "WorkerDied", "run", "shutdown"]
