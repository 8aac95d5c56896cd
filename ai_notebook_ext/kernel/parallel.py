"""Run independent blocks at the same time in forked copies of the project kernel.

Why forks and not worker kernels: a forked child starts in about a millisecond with the
kernel's whole namespace (copy-on-write), so nothing is serialized on the way in and no
kernel has to start; only what a block defines or mutates travels back, pickled with
protocol 5 into a file of the batch's scratch folder, and the kernel loads a block's
results as it ends (see below for why that gives the state a sequential run gives).

A child runs its block with stdout, stderr and displays captured (it must not touch the
kernel's ZeroMQ sockets), then ``os._exit``. A value that cannot travel back by value (a
module, a function or class defined in the notebook, an open file...) makes the block
*unshippable*: the server then runs it in the kernel itself. Linux/macOS only (fork).

A block of the batch may wait for others of it (``after``: its parents in the batch): it
is forked once they have ended well and their results are loaded, so a branch goes on
while another is still running; it is not run at all (``not_run``) if one of them did not
end well. The server plans batches so that blocks that may run at the same time neither
write what another reads or writes: loading each block's results as soon as it ends then
gives the state a sequential run gives.

Called by the server with ``run_batch(...)``, which displays an
``application/vnd.ai-notebook.batch+json`` bundle as each waiting block starts and as each
block ends (so the server records it at once), and one with every block's result at the
end.
"""

from __future__ import annotations

import ast
import io
import linecache
import os
import pickle
import shutil
import signal
import tempfile
import time
import traceback
import types
from dataclasses import dataclass, field
from typing import Any

MIME = "application/vnd.ai-notebook.batch+json"
POLL = 0.01


class Unshippable(Exception):
    """A value that cannot be pickled by value for the kernel to load."""


class _ShipPickler(pickle.Pickler):
    """Refuses what would pickle by reference to the notebook's own namespace."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.ModuleType):
            raise Unshippable(f"module {obj.__name__}")
        if isinstance(obj, (types.FunctionType, type)) and obj.__module__ == "__main__":
            kind = "class" if isinstance(obj, type) else "function"
            raise Unshippable(f"{kind} {obj.__qualname__} defined in the notebook")
        return NotImplemented


def _dumps(value: Any) -> bytes:
    buffer = io.BytesIO()
    try:
        _ShipPickler(buffer, protocol=5).dump(value)
    except Unshippable:
        raise
    except Exception as exc:
        raise Unshippable(f"{type(value).__name__} cannot be pickled ({exc})") from None
    return buffer.getvalue()


@dataclass
class _Task:
    block_id: int
    code: str
    names: list[str]
    timeout: float | None
    after: list[int] = field(default_factory=list)  # blocks of the batch it waits for
    pid: int = 0
    started: float = 0.0
    path: str = ""
    # pending | running | done | timeout | crashed | cancelled | not_run
    status: str = "pending"
    applied: bool = False  # its results are in the kernel's namespace
    exit_code: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def _exec_block(shell: Any, code: str, filename: str = "<block>") -> Any:
    """Run ``code`` like a cell (IPython syntax, value of a last expression) without the
    kernel's display hook; returns that value (or None). ``filename`` names its frames in
    tracebacks; its source is put in ``linecache`` so that they show its lines."""
    source = shell.transform_cell(code)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = ast.parse(source, filename)
    last = None
    if module.body and isinstance(module.body[-1], ast.Expr):
        last = ast.Expression(module.body.pop().value)
    namespace = shell.user_ns
    exec(compile(module, filename, "exec"), namespace)  # noqa: S102 - the user's own code
    if last is not None:
        return eval(compile(last, filename, "eval"), namespace)  # noqa: S307
    return None


def _error(shell: Any, exc: BaseException, filename: str) -> dict[str, Any]:
    """The error as the kernel shows a cell's: IPython's traceback from the block's own
    frames on (this module's frames are left out)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    try:
        lines = shell.InteractiveTB.structured_traceback(type(exc), exc, tb)
    except Exception:  # a shell without IPython's formatter
        lines = traceback.format_exception(type(exc), exc, tb)
    return {
        "ename": type(exc).__name__,
        "evalue": str(exc),
        "traceback": [line.rstrip("\n") for line in lines],
    }


def _child(shell: Any, task: _Task) -> None:
    """In the forked child: run the block, write what came out, never return."""
    from IPython.utils.capture import capture_output

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    result: dict[str, Any] = {"outputs": [], "error": None, "values": {}, "deleted": []}
    unshippable: list[str] = []
    with capture_output(display=True) as captured:
        filename = f"<block {task.block_id}>"
        try:
            value = _exec_block(shell, task.code, filename)
            if value is not None:
                data, metadata = shell.display_formatter.format(value)
                result["result"] = {"data": data, "metadata": metadata}
        except BaseException as exc:
            result["error"] = _error(shell, exc, filename)
    outputs = []
    if captured.stdout:
        outputs.append({"output_type": "stream", "name": "stdout", "text": captured.stdout})
    if captured.stderr:
        outputs.append({"output_type": "stream", "name": "stderr", "text": captured.stderr})
    for rich in captured.outputs:
        outputs.append(
            {"output_type": "display_data", "data": rich.data, "metadata": rich.metadata or {}}
        )
    result["outputs"] = outputs
    # Also after an error: a sequential run keeps what the block did before failing.
    namespace = shell.user_ns
    for name in task.names:
        if name not in namespace:
            result["deleted"].append(name)
            continue
        try:
            result["values"][name] = _dumps(namespace[name])
        except Unshippable as exc:
            unshippable.append(f"{name}: {exc}")
    result["unshippable"] = unshippable
    tmp = task.path + ".tmp"
    with open(tmp, "wb") as fh:
        pickle.dump(result, fh, protocol=5)
    os.replace(tmp, task.path)


def _start(shell: Any, task: _Task, scratch: str) -> None:
    task.path = os.path.join(scratch, f"block-{task.block_id}.pkl")
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            _child(shell, task)
        except BaseException:
            code = 70
        finally:
            os._exit(code)
    task.pid, task.started, task.status = pid, time.monotonic(), "running"


def _reap(task: _Task) -> bool:
    """Collect a finished child; True when it has ended."""
    try:
        pid, status = os.waitpid(task.pid, os.WNOHANG)
    except ChildProcessError:
        pid, status = task.pid, 0
    if pid == 0:
        if task.timeout and time.monotonic() - task.started > task.timeout:
            _kill(task)
            task.status = "timeout"
            return True
        return False
    task.exit_code = os.waitstatus_to_exitcode(status) if pid else None
    if os.path.exists(task.path):
        with open(task.path, "rb") as fh:
            task.payload = pickle.load(fh)  # noqa: S301 - written by our own child
        task.status = "done"
    else:
        task.status = "crashed"
    return True


def _kill(task: _Task) -> None:
    try:
        os.kill(task.pid, signal.SIGKILL)
        os.waitpid(task.pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _apply(shell: Any, task: _Task) -> None:
    """Load what the block defined or changed into the kernel's namespace (also after an
    error: a sequential run keeps what the block did before failing)."""
    if task.status != "done" or task.payload.get("unshippable") or task.applied:
        return
    task.applied = True
    namespace = shell.user_ns
    for name, blob in task.payload.get("values", {}).items():
        namespace[name] = pickle.loads(blob)  # noqa: S301 - written by our own child
    for name in task.payload.get("deleted", []):
        namespace.pop(name, None)


def _summary(task: _Task) -> dict[str, Any]:
    payload = task.payload
    summary: dict[str, Any] = {
        "block_id": task.block_id,
        "status": task.status,
        "seconds": round(time.monotonic() - task.started, 3) if task.started else 0.0,
        "outputs": payload.get("outputs", []),
        "error": payload.get("error"),
        "unshippable": payload.get("unshippable", []),
    }
    if "result" in payload:
        summary["result"] = payload["result"]
    if task.status == "crashed":
        summary["error"] = {
            "ename": "WorkerDied",
            "evalue": f"the forked worker ended without a result (exit code {task.exit_code})",
            "traceback": [],
        }
    elif task.status == "timeout":
        summary["error"] = {
            "ename": "TimeoutError",
            "evalue": f"timed out after {task.timeout:g} s",
            "traceback": [],
        }
    return summary


def _ended_well(task: _Task) -> bool:
    return task.applied and not task.payload.get("error")


def _failed(task: _Task) -> bool:
    return task.status in ("timeout", "crashed") or bool(task.payload.get("error"))


def _drop(pending: list[_Task]) -> list[_Task]:
    """Every pending task, now never to run (``not_run``); the list is emptied."""
    dropped = list(pending)
    for task in dropped:
        task.status = "not_run"
    pending.clear()
    return dropped


def _next(pending: list[_Task], tasks: dict[int, _Task]) -> tuple[_Task | None, list[_Task]]:
    """The first pending task whose parents in the batch ended well, and the tasks that
    will never run because one of theirs did not (``not_run``)."""
    dropped = []
    for task in list(pending):
        parents = [tasks[b] for b in task.after if b in tasks]
        if any(p.status not in ("pending", "running") and not _ended_well(p) for p in parents):
            task.status = "not_run"
            pending.remove(task)
            dropped.append(task)
    for task in pending:
        if all(_ended_well(tasks[b]) for b in task.after if b in tasks):
            return task, dropped
    return None, dropped


def run_batch(blocks: list[dict[str, Any]], slots: int, stop_on_error: bool = False) -> None:
    """Run ``blocks`` (dicts of block_id, code, names, timeout, after; in plan order) in up
    to ``slots`` forked children at once, load each block's results as it ends, and
    display a summary per block. An interrupt kills the children. ``stop_on_error``: once
    a block failed, no other starts (those running end)."""
    from IPython import get_ipython
    from IPython.display import display

    def report(*done: _Task) -> None:
        display({MIME: {"blocks": [_summary(t) for t in done]}}, raw=True)

    shell = get_ipython()
    tasks = [
        _Task(
            b["block_id"],
            b["code"],
            list(b.get("names", [])),
            b.get("timeout"),
            list(b.get("after", [])),
        )
        for b in blocks
    ]
    by_id = {t.block_id: t for t in tasks}
    scratch = tempfile.mkdtemp(prefix="ai-notebook-batch-")
    pending = list(tasks)
    running: list[_Task] = []
    try:
        while pending or running:
            while len(running) < max(1, slots):
                task, dropped = _next(pending, by_id)
                if dropped:
                    report(*dropped)
                if task is None:
                    break
                pending.remove(task)
                _start(shell, task, scratch)
                running.append(task)
                if task.after:  # the server opens its run now
                    report(task)
            if not running:  # nothing can start: ``after`` names a cycle (not from us)
                report(*_drop(pending))
                continue
            time.sleep(POLL)
            still = []
            for task in running:
                if _reap(task):
                    _apply(shell, task)
                    report(task)
                    if stop_on_error and _failed(task):
                        report(*_drop(pending))
                else:
                    still.append(task)
            running = still
    except KeyboardInterrupt:
        for task in running:
            _kill(task)
            task.status = "cancelled"
        for task in pending:
            task.status = "cancelled"
    finally:
        for task in tasks:
            _apply(shell, task)  # reaped while the interrupt came in
        shutil.rmtree(scratch, ignore_errors=True)
        display({MIME: {"blocks": [_summary(t) for t in tasks]}}, raw=True)
