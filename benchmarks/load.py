"""Load: 32 concurrent clients listing a 200-block project, on SQLite and PostgreSQL.

A real ``jupyter server`` with the extension (temp dir, token auth; SQLite in the temp dir,
or a database on a throwaway PostgreSQL started like the tests' ``tests/pg_server.py``)
gets one project of 200 blocks (a few lines of code each). Then, from one asyncio process
with aiohttp (keep-alive connections, one per client):

1. ``list``: 32 clients each GET ``.../projects/{id}/blocks?limit=200`` in a loop for
   ``--seconds``: requests per second, latency p50 and p99;
2. ``list (If-None-Match)``: the same with the ETag of the last answer, as a browser's
   HTTP cache revalidates (304s);
3. ``workspace``: the same loop on ``.../projects/{id}/workspace`` (what the JupyterLab
   workspace reads when it opens a project);
4. ``list + 8 executing``: the list loop while 8 other projects each run a loop of short
   executes (``x = 1``, ``?wait=true``) in their own kernels: the list's p99.

The client process burns CPU too on this machine: its CPU seconds per request are
printed next to the server's (both from ``/proc``), so a saturated client is visible.
Goal: >= 300 req/s with p99 < 100 ms for the list, on both databases, and p99 < 100 ms
with eight projects executing.

    .venv/bin/python benchmarks/load.py [--db sqlite|postgresql|both] [--clients 32]
        [--blocks 200] [--seconds 10] [--server-config JSON] [--profile FILE]

``--server-config`` merges settings into the server's config (e.g. to switch off rate
limits: '{"AINotebookApp": {...}}'). ``--profile FILE`` runs the server under cProfile
(slower) and writes its stats to FILE.<db> when it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from pg_server import PostgresServer  # noqa: E402
from server_process import ServerProcess  # noqa: E402

API = "ai-notebook/api/"
TARGET_RPS = 300.0
TARGET_P99 = 100.0
SOURCE = "\n".join(
    [
        "import math",
        "values = [math.sqrt(i) for i in range({i})]",
        "total = sum(values)",
        "print(f'block {i}: {{total:.3f}}')",
    ]
)
# Runs the server under cProfile; the stats are written when it stops (SIGTERM).
PROFILE_SNIPPET = """
import cProfile, sys
out = sys.argv.pop(1)
prof = cProfile.Profile()
from jupyter_server.serverapp import ServerApp
prof.enable()
try:
    ServerApp.launch_instance()
finally:
    prof.disable()
    prof.dump_stats(out)
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[q - 1]


class Profiled(ServerProcess):
    """A server whose command runs it under cProfile (stats written on SIGTERM)."""

    def __init__(self, *args: Any, profile: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.command = [sys.executable, "-c", PROFILE_SNIPPET, profile]


async def setup(session: aiohttp.ClientSession, url: str, blocks: int, executors: int) -> Any:
    """The listed project (with its blocks) and the executing projects' first blocks."""

    async def call(method: str, path: str, body: Any = None) -> Any:
        async with session.request(method, url + API + path, json=body) as resp:
            assert resp.status < 300, (resp.status, await resp.text())
            return await resp.json()

    pid = (await call("POST", "projects", {"name": "listed"}))["id"]
    for start in range(0, blocks, 100):
        specs = [{"source": SOURCE.format(i=i)} for i in range(start, min(blocks, start + 100))]
        await call("POST", f"projects/{pid}/blocks/bulk", {"blocks": specs})
    running = []
    for n in range(executors):
        eid = (await call("POST", "projects", {"name": f"executing-{n}"}))["id"]
        bid = (await call("POST", f"projects/{eid}/blocks", {"source": "x = 1"}))["id"]
        await call("POST", f"projects/{eid}/blocks/{bid}/execute?wait=true")  # kernel up
        running.append((eid, bid))
    return pid, running


async def client_loop(
    session: aiohttp.ClientSession,
    url: str,
    stop: float,
    latencies: list[float],
    conditional: bool,
    errors: list[int],
) -> None:
    etag = None
    while time.perf_counter() < stop:
        headers = {"If-None-Match": etag} if conditional and etag else {}
        began = time.perf_counter()
        async with session.get(url, headers=headers) as resp:
            await resp.read()
            if resp.status not in (200, 304):
                errors.append(resp.status)
            etag = resp.headers.get("ETag", etag)
        latencies.append((time.perf_counter() - began) * 1000)


async def executor_loop(
    session: aiohttp.ClientSession, url: str, stop: float, done: list[float]
) -> None:
    while time.perf_counter() < stop:
        began = time.perf_counter()
        async with session.post(url) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        done.append((time.perf_counter() - began) * 1000)


async def phase(
    name: str,
    server: ServerProcess,
    path: str,
    clients: int,
    seconds: float,
    conditional: bool = False,
    executing: list[tuple[int, int]] | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"token {server.token}"}
    url = server.url + API + path
    connector = aiohttp.TCPConnector(limit=clients + 16)
    # Cookies kept, as a browser or requests.Session does (aiohttp's default jar refuses
    # them from an IP address): without its login cookie, Jupyter Server answers every
    # token-authenticated request by making a new anonymous user and signing a cookie.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(
        headers=headers, connector=connector, cookie_jar=jar
    ) as session:
        # warm-up: every connection opened, caches filled
        warm: list[float] = []
        await asyncio.gather(
            *(
                client_loop(session, url, time.perf_counter() + 1.0, warm, conditional, [])
                for _ in range(clients)
            )
        )
        latencies: list[float] = []
        errors: list[int] = []
        runs: list[float] = []
        assert server.proc is not None
        cpu0, client0 = cpu_seconds(server.proc.pid), time.process_time()
        began = time.perf_counter()
        stop = began + seconds
        tasks = [
            client_loop(session, url, stop, latencies, conditional, errors) for _ in range(clients)
        ]
        for eid, bid in executing or []:
            execute = server.url + API + f"projects/{eid}/blocks/{bid}/execute?wait=true"
            tasks.append(executor_loop(session, execute, stop, runs))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
        server_cpu = cpu_seconds(server.proc.pid) - cpu0
        client_cpu = time.process_time() - client0
    n = len(latencies)
    result = {
        "name": name,
        "rps": n / elapsed,
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
        "n": n,
        "errors": len(errors),
        "server_cpu_ms": server_cpu / max(n, 1) * 1000,
        "client_cpu_ms": client_cpu / max(n, 1) * 1000,
        "executes": len(runs),
        "execute_p50": pct(runs, 50) if runs else None,
    }
    line = (
        f"  {name:28} {result['rps']:7.0f} req/s   p50 {result['p50']:6.1f} ms   "
        f"p99 {result['p99']:6.1f} ms   server {result['server_cpu_ms']:.2f} / client "
        f"{result['client_cpu_ms']:.2f} CPU ms per request"
    )
    if runs:
        line += f"   ({len(runs)} executes, p50 {result['execute_p50']:.0f} ms)"
    if errors:
        line += f"   {len(errors)} errors: {sorted(set(errors))}"
    print(line, flush=True)
    return result


async def run_db(db: str, args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    pg: PostgresServer | None = None
    if db == "sqlite":
        url = f"sqlite:///{workdir / 'load.db'}"
    else:
        pg = PostgresServer().start()
        url = pg.create_database("load")
    extra = json.loads(args.server_config) if args.server_config else {}
    options: dict[str, Any] = {"extra_config": extra}
    if args.profile:
        server: ServerProcess = Profiled(workdir, url, profile=f"{args.profile}.{db}", **options)
    else:
        server = ServerProcess(workdir, url, **options)
    server.start(timeout=120)
    results = []
    try:
        headers = {"Authorization": f"token {server.token}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            pid, executing = await setup(session, server.url, args.blocks, args.executing)
        print(f"{db}: {args.clients} clients, a {args.blocks}-block project", flush=True)
        blocks = f"projects/{pid}/blocks?limit={args.blocks}"
        c, s = args.clients, args.seconds
        results.append(await phase("list", server, blocks, c, s))
        results.append(await phase("list (If-None-Match)", server, blocks, c, s, True))
        results.append(await phase("workspace", server, f"projects/{pid}/workspace", c, s))
        if executing:
            name = f"list + {len(executing)} executing"
            results.append(await phase(name, server, blocks, c, s, executing=executing))
    finally:
        server.stop()
        if pg is not None:
            pg.stop()
    for r in results:
        r["db"] = db
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=200)
    parser.add_argument("--executing", type=int, default=8, help="projects executing at once")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--server-config", help="JSON merged into the server's config")
    parser.add_argument("--profile", help="cProfile the server into FILE.<db>")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results = []
    for db in dbs:
        workdir = Path(tempfile.mkdtemp(prefix=f"ai-notebook-load-{db}-"))
        try:
            results += asyncio.run(run_db(db, args, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    cores = len(os.sched_getaffinity(0))
    print(
        f"\n{platform.system()} {platform.machine()}, {cores} cores, Python "
        f"{platform.python_version()}, aiohttp {aiohttp.__version__}, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    for r in results:
        if r["name"] == "list":
            met = r["rps"] >= TARGET_RPS and r["p99"] < TARGET_P99
            print(
                f"{r['db']}: list {r['rps']:.0f} req/s, p99 {r['p99']:.1f} ms "
                f"(goal >= {TARGET_RPS:.0f} req/s, p99 < {TARGET_P99:.0f} ms: "
                f"{'met' if met else 'not met'})"
            )
        elif "executing" in r["name"]:
            met = r["p99"] < TARGET_P99
            print(
                f"{r['db']}: {r['name']}: p99 {r['p99']:.1f} ms "
                f"(goal < {TARGET_P99:.0f} ms: {'met' if met else 'not met'})"
            )


if __name__ == "__main__":
    main()
