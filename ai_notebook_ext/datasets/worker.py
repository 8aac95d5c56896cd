"""Data work (reading, counting, profiling, checking files with DuckDB) in worker
processes, never in the server.

DuckDB alone adds about 80 MB to a process, and profiling 12M rows takes over a GB while
it runs; in the server that memory would stay, and a crash would take the server down.
Each project's jobs go to one worker process (a lane), one at a time, so a slow job
(a big profile, a slow quality rule) delays only its own project: other projects' jobs
run in other workers at once. A project without a worker gets an idle one, else a new
one while fewer than ``workers`` run (``configure``), else shares the least busy; one
idle worker is kept started and warm while more may start, so a project's first job
does not wait for a process to spawn.
Workers are spawned (they share nothing with the server's threads and sockets) and
watch the server: when it dies, even by SIGKILL, they exit. If a worker dies (e.g. out
of memory) its job fails with a clear error and the lane's next job gets a new worker.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from .formats import FormatError, Schema, detect, inspect
from .profile import quick_profile
from .quality import Rule, evaluate, validate
from .readoptions import ReadOptions
from .storage import BlobStore


class WorkerDied(RuntimeError):
    """The data worker process ended during a job (out of memory, killed)."""


QUICK = 15.0  # seconds for checks that read no data (a rule's SQL)
LONG = 3600.0  # seconds for reading, profiling or checking a whole file
PARENT_POLL = 0.5  # seconds between a worker's looks at its parent

_lock = threading.Lock()
_limit = 4  # worker processes at most
_workers: list[_Worker] = []  # every running worker, a spare included
_lanes: dict[Any, _Worker] = {}  # lane (a project) -> its worker
_stores: dict[str, BlobStore] = {}  # in the worker: one store per configuration


@dataclass(eq=False)
class _Worker:
    """One worker process (an executor of one) and the jobs queued or running in it."""

    pool: ProcessPoolExecutor
    pending: int = 0
    lanes: set[Any] = field(default_factory=set)


def configure(workers: int) -> None:
    """The most worker processes at once (AINotebookApp.dataset_workers)."""
    global _limit
    _limit = max(1, int(workers))


def _new_worker() -> _Worker:
    """A worker process, started now and warmed up (DuckDB imported) in the background,
    so that the job that gets it does not wait for a process to spawn."""
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        1, mp_context=context, initializer=_watch_parent, initargs=(os.getpid(),)
    )
    pool.submit(_warm_up)
    worker = _Worker(pool)
    _workers.append(worker)
    return worker


def _worker_for(lane: Any) -> _Worker:
    """The lane's worker: its own, else an idle one (which changes hands whole), else a
    new one, else the least busy. While workers remain to start, one idle worker is kept
    ready for the next lane."""
    with _lock:
        worker = _lanes.get(lane)
        if worker is None:
            idle = [w for w in _workers if w.pending == 0]
            if idle:
                worker = min(idle, key=lambda w: len(w.lanes))
                for old in worker.lanes:
                    _lanes.pop(old, None)
                worker.lanes.clear()
            elif len(_workers) < _limit:
                worker = _new_worker()
            else:
                worker = min(_workers, key=lambda w: w.pending)
            worker.lanes.add(lane)
            _lanes[lane] = worker
        worker.pending += 1
        if len(_workers) < _limit and all(w.pending for w in _workers):
            _new_worker()  # the spare
        return worker


def prewarm() -> None:
    """Start a worker now if none runs yet: an upload's body is arriving and its first
    job (reading the file) then finds DuckDB imported instead of waiting for a spawn."""
    with _lock:
        if not _workers:
            _new_worker()


async def run(fn: Any, *args: Any, limit: float = LONG, lane: Any = None) -> Any:
    """``fn(*args)`` in the worker of ``lane`` (a project id; None: a shared lane);
    FormatError and other job errors come back as raised. A job past ``limit`` seconds is
    stopped by killing its worker (WorkerDied)."""
    worker = _worker_for(lane)
    try:
        future = asyncio.get_running_loop().run_in_executor(worker.pool, fn, *args)
        try:
            return await asyncio.wait_for(future, limit)
        except TimeoutError:
            _discard(worker, kill=True)
            raise WorkerDied(
                f"the data worker took longer than {limit:g} s on this job and was stopped"
            ) from None
        except BrokenProcessPool:
            _discard(worker)
            raise WorkerDied(
                "the data worker process died during this job (out of memory?); try again, "
                "or with a smaller file"
            ) from None
    finally:
        with _lock:
            worker.pending -= 1


def _discard(worker: _Worker, kill: bool = False) -> None:
    """Forget a broken or stuck worker; its lanes' next jobs start a new one."""
    with _lock:
        for lane in list(worker.lanes):
            if _lanes.get(lane) is worker:
                del _lanes[lane]
        worker.lanes.clear()
        if worker in _workers:
            _workers.remove(worker)
    if kill:  # the executor has no public way to stop a running job
        for process in list(getattr(worker.pool, "_processes", {}).values()):
            process.kill()
    worker.pool.shutdown(wait=False, cancel_futures=True)


def worker_pids() -> list[int]:
    """The process ids of the running workers (tests, diagnostics)."""
    with _lock:
        workers = list(_workers)
    return [
        p.pid
        for w in workers
        for p in list(getattr(w.pool, "_processes", {}).values())
        if p.pid is not None
    ]


def shutdown() -> None:
    """Stop the workers (tests and server shutdown)."""
    with _lock:
        workers = list(_workers)
        _workers.clear()
        _lanes.clear()
    for worker in workers:
        worker.pool.shutdown(wait=False, cancel_futures=True)


def _warm_up() -> None:
    """Import what jobs need, before the first job arrives."""
    import duckdb  # noqa: F401


def _watch_parent(parent: int) -> None:
    """In a worker: exit as soon as the server that started it is gone (its parent
    changes when it dies, even by SIGKILL, which runs none of the server's cleanup)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(0)

    threading.Thread(target=watch, name="ain-parent-watch", daemon=True).start()


# --- jobs (they run in the worker) -------------------------------------------------------


def _store(url: str, options: dict[str, Any]) -> BlobStore:
    key = repr((url, sorted(options.items())))
    if key not in _stores:
        _stores[key] = BlobStore(url, options)
    return _stores[key]


def read_file(
    path: str,
    filename: str,
    declared: str | None,
    count: bool,
    read: ReadOptions | None = None,
) -> Schema:
    """Detect the format and read the schema (and, with ``count``, every row)."""
    fmt = detect(path, filename, declared)
    return inspect(path, fmt, read, count=count)


def read_blob(
    url: str, options: dict[str, Any], blob: str, fmt: str, read: ReadOptions | None = None
) -> Schema:
    store = _store(url, options)
    with store.local_path(blob, "." + fmt) as path:
        return inspect(path, fmt, read)


def profile_blob(
    url: str, options: dict[str, Any], blob: str, fmt: str, read: ReadOptions | None = None
) -> dict[str, Any]:
    store = _store(url, options)
    with store.local_path(blob, "." + fmt) as path:
        return quick_profile(path, fmt, read)


def sample_blob(
    url: str,
    options: dict[str, Any],
    blob: str,
    fmt: str,
    rows: int,
    read: ReadOptions | None = None,
) -> list[dict[str, Any]]:
    """The first ``rows`` rows, as JSON-able dicts."""
    from .formats import SAMPLE_HEAD, FormatError, connect, open_relation
    from .profile import jsonable

    store = _store(url, options)
    with store.local_path(blob, "." + fmt) as path:
        con = connect()
        try:
            try:  # a text file copied (recoded, blank lines) only as far as a sample
                open_relation(con, path, fmt, read, head=SAMPLE_HEAD)
                cursor = con.execute("SELECT * FROM data LIMIT ?", [int(rows)])
            except FormatError:
                raise
            except Exception:  # the sample may end inside a quoted field: all of it
                open_relation(con, path, fmt, read)
                cursor = con.execute("SELECT * FROM data LIMIT ?", [int(rows)])
            names = [d[0] for d in cursor.description]
            return [
                {n: jsonable(v) for n, v in zip(names, row, strict=False)}
                for row in cursor.fetchall()
            ]
        finally:
            con.close()


def check_blob(
    url: str,
    options: dict[str, Any],
    blob: str,
    fmt: str,
    rules: list[Rule],
    read: ReadOptions | None = None,
    time_limit: float = 30.0,
) -> list[dict[str, Any]]:
    store = _store(url, options)
    with store.local_path(blob, "." + fmt) as path:
        return evaluate(path, fmt, rules, read, time_limit)


def validate_rule(rule: Rule) -> None:
    validate(rule)


__all__ = ["FormatError", "WorkerDied", "configure", "run", "shutdown", "worker_pids"]
