"""Opening a 500-block project: one GET .../workspace vs. listing blocks + each last run.

A real ``jupyter server`` subprocess with the extension (temp dir, SQLite in it unless
``--database-url``, token auth, free loopback port). The project is a notebook of
``--blocks`` code cells imported, then run once as a pipeline (target ``all``) in its
kernel, so every block has a last run with outputs and a live state.

- baseline: ``GET .../blocks?limit=500``, then ``GET .../runs/{last_run_id}`` for every
  block, one after the other (what a client without the workspace endpoint does; it would
  still lack the states, which need ``GET .../dag`` on top).
- workspace: ``GET .../workspace`` (blocks, states with reasons, last runs, edges, kernel).

Both over one kept-alive ``http.client.HTTPConnection``, alternating, after a warm-up.

    .venv/bin/python benchmarks/workspace_load.py [--blocks 500] [--n 20]
        [--database-url postgresql://user@host:5432/db]
"""

from __future__ import annotations

import argparse
import http.client
import http.cookies
import json
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from server_process import ServerProcess  # noqa: E402

API = "/ai-notebook/api"
TARGET = 1.0  # seconds to open a 500-block project with every state


class BenchServer(ServerProcess):
    """ServerProcess in its own session with stdin closed (Ctrl-C reaches this script)."""

    popen_options: ClassVar[dict[str, Any]] = {
        "stdin": subprocess.DEVNULL,
        "start_new_session": True,
    }


class Client:
    """One kept-alive connection that keeps the server's cookies, as a browser does."""

    def __init__(self, server: ServerProcess) -> None:
        self.headers = {"Authorization": f"token {server.token}"}
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
        self.cookies: http.cookies.SimpleCookie = http.cookies.SimpleCookie()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else b""
        self.conn.request(method, API + path, body=data, headers=self.headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status} {raw[:300]!r}")
        for header in resp.headers.get_all("Set-Cookie") or ():
            self.cookies.load(header)
            self.headers["Cookie"] = "; ".join(f"{k}={m.value}" for k, m in self.cookies.items())
        return json.loads(raw)

    def close(self) -> None:
        self.conn.close()


def notebook(cells: int) -> dict[str, Any]:
    """A chain of code cells, each printing a line (every block reads the previous one)."""
    code = []
    for i in range(cells):
        source = f"v{i} = v{i - 1} + 1\nprint(v{i})" if i else "v0 = 0\nprint(v0)"
        code.append(
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": source,
            }
        )
    return {"cells": code, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def setup(client: Client, blocks: int) -> int:
    pid = client.call("POST", "/projects/import", {"notebook": notebook(blocks), "name": "bench"})[
        "id"
    ]
    t0 = time.perf_counter()
    run = client.call("POST", f"/projects/{pid}/runs?wait=true", {"target": "all"})
    print(f"pipeline over {blocks} blocks: {run['status']} in {time.perf_counter() - t0:.1f} s")
    if run["status"] != "succeeded":
        raise RuntimeError(run["message"])
    return int(pid)


def baseline(client: Client, pid: int) -> int:
    page = client.call("GET", f"/projects/{pid}/blocks?limit=500")
    runs = [
        client.call("GET", f"/projects/{pid}/runs/{b['last_run_id']}")
        for b in page["items"]
        if b["last_run_id"]
    ]
    return len(runs)


def workspace(client: Client, pid: int) -> int:
    ws = client.call("GET", f"/projects/{pid}/workspace")
    states = {b["state"] for b in ws["blocks"]}
    if states != {"fresh"}:
        raise RuntimeError(f"expected every block fresh, got {states}")
    return sum(1 for b in ws["blocks"] if b["last_run"])


def timed(fn: Any, *args: Any) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--blocks", type=int, default=500)
    parser.add_argument("--n", type=int, default=20, help="timed loads per side")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    if not 1 <= args.blocks <= 500:
        parser.error("--blocks must be 1-500 (one page of blocks for the baseline)")
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="ai-notebook-bench-"))
    db_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    server = BenchServer(workdir, db_url)
    try:
        server.start()
        client = Client(server)
        pid = setup(client, args.blocks)
        cold = timed(workspace, client, pid)
        for _ in range(2):  # warm-up
            baseline(client, pid)
            workspace(client, pid)
        if baseline(client, pid) != workspace(client, pid) != args.blocks:
            raise RuntimeError("not every block has a last run")
        base, ours = [], []
        for _ in range(args.n):
            base.append(timed(baseline, client, pid))
            ours.append(timed(workspace, client, pid))
        client.close()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        if server.proc is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def ms(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if q < 100 else 0.0

    b50, o50 = statistics.median(base) * 1000, statistics.median(ours) * 1000
    print(f"machine: {platform.machine()}, {platform.python_version()}, {platform.system()}")
    print(f"database: {'PostgreSQL' if args.database_url else 'SQLite file in the temp dir'}")
    print(f"blocks: {args.blocks}, each with a last run; n = {args.n} loads per side")
    print(f"first workspace load after the pipeline: {cold * 1000:.0f} ms")
    print(f"{'':<34}{'p50':>10}{'p95':>10}")
    label = f"baseline (1 + {args.blocks} requests)"
    print(f"{label:<34}{b50:>8.1f}ms{ms(base, 95):>8.1f}ms")
    print(f"{'workspace (1 request)':<34}{o50:>8.1f}ms{ms(ours, 95):>8.1f}ms")
    print(f"ratio workspace / baseline (p50): {o50 / b50:.3f}x ({b50 / o50:.1f}x faster)")
    verdict = "met" if o50 / 1000 < TARGET else "NOT met"
    print(f"goal: a {args.blocks}-block project with states in < {TARGET:g} s: {verdict}")


if __name__ == "__main__":
    main()
