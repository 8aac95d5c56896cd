"""Execute overhead: a raw jupyter_client round trip vs. our REST execute through a server.

Both sides run the trivial code ``pass`` in the same kernelspec (``ai-notebook-python``,
shipped in ``ai_notebook_ext/kernelspec``) and wait for the same things: the shell reply
for the request and the iopub ``idle`` status for it.

- raw: one ``AsyncKernelClient`` on a kernel started by ``AsyncKernelManager``;
  ``client.execute("pass")``, then read iopub until idle for that msg_id and the shell
  reply for it (what ``ai_notebook_ext.execution.runner`` does).
- server: a real ``jupyter server`` subprocess with the extension (temp dir, SQLite in it
  unless ``--database-url``, token auth, free loopback port); one project, one block, then
  ``POST ai-notebook/api/projects/{pid}/blocks/{bid}/execute?wait=true`` over one kept-alive
  ``http.client.HTTPConnection``.

With ``--gateway`` both sides use kernels on a Jupyter Enterprise Gateway that the script
starts (``tests/gateway_server.py``: ``.venv-eg``, local process proxy):

- raw: Jupyter Server's own ``GatewayKernelManager`` starts the kernel on the gateway and
  one ``GatewayKernelClient`` (websocket) does the same round trip as above;
- server: the same server in gateway mode (``--GatewayClient.url``).

After warm-up on both, the timed executes are interleaved in chunks (raw chunk, server
chunk, ...) so drift of the machine affects both sides alike.

    .venv/bin/python benchmarks/execute_overhead.py [--n 500] [--warmup 20] [--chunk 50]
        [--database-url postgresql://user@host:5432/db] [--gateway]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import http.cookies
import json
import os
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

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from gateway_server import GatewayServer  # noqa: E402
from server_process import ServerProcess  # noqa: E402

KERNEL_NAME = "ai-notebook-python"
KERNELSPEC_DIR = REPO / "ai_notebook_ext" / "kernelspec"
CODE = "pass"
TARGET = 1.3


class BenchServer(ServerProcess):
    """ServerProcess in its own session with stdin closed: a Ctrl-C in the terminal reaches
    only this script, which then stops the server with SIGTERM (no interactive prompt)."""

    popen_options: ClassVar[dict[str, Any]] = {
        "stdin": subprocess.DEVNULL,
        "start_new_session": True,
    }


# --- raw jupyter_client ------------------------------------------------------------------


class RawKernel:
    """The kernelspec started by jupyter_client directly, with one async client."""

    def __init__(self, workdir: Path) -> None:
        ksm = KernelSpecManager()
        if KERNEL_NAME not in ksm.find_kernel_specs():
            ksm.kernel_dirs.append(str(KERNELSPEC_DIR))
        self.km = AsyncKernelManager(
            kernel_name=KERNEL_NAME,
            kernel_spec_manager=ksm,
            connection_file=str(workdir / "raw-kernel.json"),
        )
        self.workdir = workdir
        self.client: Any = None

    async def start(self) -> None:
        # Like the server's kernel, whose output goes to the server log.
        with (self.workdir / "raw-kernel.log").open("ab") as log:
            await self.km.start_kernel(cwd=str(self.workdir), stdout=log, stderr=log)
        self.client = self.km.client()
        self.client.start_channels()
        await self.client.wait_for_ready(timeout=60)

    async def execute(self) -> float:
        return await round_trip(self.client)

    def pid(self) -> int | None:
        return getattr(self.km.provisioner, "pid", None)

    async def stop(self) -> None:
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        if await self.km.is_alive():
            await self.km.shutdown_kernel(now=True)


async def round_trip(client: Any) -> float:
    """One round trip in seconds: execute, iopub idle for it, then its shell reply."""
    start = time.perf_counter()
    msg_id = client.execute(CODE, store_history=True, allow_stdin=False, stop_on_error=True)
    while True:
        msg = await client.get_iopub_msg(timeout=30)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            break
    while True:
        reply = await client.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    elapsed = time.perf_counter() - start
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"raw execute failed: {reply['content']}")
    return elapsed


class RawGatewayKernel:
    """A kernel on the gateway through Jupyter Server's GatewayKernelManager, with one
    GatewayKernelClient (whose get_*_msg busy-waits: the lowest latency it can give)."""

    def __init__(self, gateway_url: str) -> None:
        from jupyter_server.gateway.gateway_client import GatewayClient
        from jupyter_server.gateway.managers import GatewayKernelManager

        GatewayClient.instance(url=gateway_url)
        self.km = GatewayKernelManager()
        self.client: Any = None
        self.pids_before: set[int] = set()

    async def start(self) -> None:
        await self.km.start_kernel(kernel_name=KERNEL_NAME)
        self.client = self.km.client()
        await self.client.start_channels()
        while True:  # wait_for_ready's steps (its liveness check needs a local kernel)
            msg_id = self.client.kernel_info()
            try:
                reply = await self.client.get_shell_msg(timeout=1)
            except Exception:
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        await asyncio.sleep(0.5)
        while True:
            try:
                await self.client.get_iopub_msg(timeout=0)
            except Exception:
                break

    async def execute(self) -> float:
        return await round_trip(self.client)

    async def stop(self) -> None:
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        if self.km.has_kernel:
            await self.km.shutdown_kernel(now=True)


# --- through the server ------------------------------------------------------------------


class ServerSide:
    """Project + code block on a running server, executed over one keep-alive connection.

    The client keeps the cookies the server sets, as a browser or ``requests.Session``
    does: Jupyter Server answers a token-authenticated request without its login cookie
    by making an anonymous user and signing a new cookie for it, every time.
    """

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.headers = {"Authorization": f"token {server.token}", "Content-Length": "0"}
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        self.path = ""
        self.cookies: http.cookies.SimpleCookie = http.cookies.SimpleCookie()

    def setup(self) -> None:
        status, project = self.server.request(
            "POST", "ai-notebook/api/projects", {"name": "execute-overhead"}
        )
        if status != 201:
            raise RuntimeError(f"creating the project: {status} {project}")
        pid = project["id"]
        status, block = self.server.request(
            "POST", f"ai-notebook/api/projects/{pid}/blocks", {"kind": "code", "source": CODE}
        )
        if status != 201:
            raise RuntimeError(f"creating the block: {status} {block}")
        self.path = f"/ai-notebook/api/projects/{pid}/blocks/{block['id']}/execute?wait=true"

    def execute(self) -> float:
        """One round trip in seconds: POST ...execute?wait=true until the response is read."""
        start = time.perf_counter()
        self.conn.request("POST", self.path, headers=self.headers)
        resp = self.conn.getresponse()
        body = resp.read()
        elapsed = time.perf_counter() - start
        if resp.status != 200:
            raise RuntimeError(f"execute: {resp.status} {body[:500]!r}")
        self.keep_cookies(resp)
        run = json.loads(body)
        if run["status"] != "succeeded":
            raise RuntimeError(f"execute: run {run['id']} {run['status']}: {run['message']}")
        return elapsed

    def floor(self) -> float:
        """One round trip of Jupyter Server's own ``GET /api/me`` on the same connection
        with the same headers: what any authenticated request costs (HTTP, tornado,
        Jupyter's authentication, the client) before an extension does anything."""
        start = time.perf_counter()
        self.conn.request("GET", "/api/me", headers=self.headers)
        resp = self.conn.getresponse()
        body = resp.read()
        elapsed = time.perf_counter() - start
        if resp.status != 200:
            raise RuntimeError(f"GET /api/me: {resp.status} {body[:500]!r}")
        return elapsed

    def keep_cookies(self, resp: http.client.HTTPResponse) -> None:
        for header in resp.headers.get_all("Set-Cookie") or ():
            self.cookies.load(header)
            self.headers["Cookie"] = "; ".join(
                f"{name}={morsel.value}" for name, morsel in self.cookies.items()
            )

    def close(self) -> None:
        self.conn.close()


# --- measurement -------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p95 and mean in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, statistics.fmean(samples) * 1000


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process (Linux /proc; 0 where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def wait_for_spares(pid: int, timeout: float = 60) -> int:
    """After the first execute took the spare kernel, until the server's refill has
    started (a second kernel) and a moment more: its start must not overlap the timed
    executes. The number of spare kernels (0 with spare_kernels=0)."""
    deadline = time.monotonic() + timeout
    time.sleep(0.5)
    while len(child_pids(pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    spares = len(child_pids(pid)) - 1
    if spares:
        time.sleep(3.0)  # its start and our client's connection
    return spares


def project_kernels(pid: int, root: Path) -> list[int]:
    """The server's kernels outside ``root``: the project's (spares run in the root)."""
    kernels = []
    for child in child_pids(pid):
        try:
            cwd = Path(os.readlink(f"/proc/{child}/cwd"))
        except OSError:
            continue
        if cwd.resolve() != root.resolve():
            kernels.append(child)
    return kernels


def child_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


class CpuMeter:
    """CPU seconds spent by this process (the client) and by other processes, per side."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self.totals = dict.fromkeys(["client", *pids], 0.0)
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {"client": time.process_time()} | {k: cpu_seconds(p) for k, p in self.pids.items()}

    def __enter__(self) -> CpuMeter:
        self._start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        for key, value in self._now().items():
            self.totals[key] += value - self._start[key]


async def measure(
    args: argparse.Namespace,
    workdir: Path,
    server: ServerProcess,
    gateway: GatewayServer | None,
) -> None:
    side = ServerSide(server)
    raw: RawKernel | RawGatewayKernel = (
        RawKernel(workdir) if gateway is None else RawGatewayKernel(gateway.url)
    )
    try:
        side.setup()
        t0 = time.perf_counter()
        side.execute()  # starts the project's kernel (takes the spare kernel)
        print(f"server: first execute (kernel start) {time.perf_counter() - t0:.2f} s")
        assert server.proc is not None
        if gateway is None:
            print(f"server: spare kernels {wait_for_spares(server.proc.pid)} (started again)")
        t0 = time.perf_counter()
        await raw.start()
        print(f"raw: kernel start {time.perf_counter() - t0:.2f} s")
        for _ in range(args.warmup):
            await raw.execute()
            side.execute()

        assert server.proc is not None
        if gateway is None:
            assert isinstance(raw, RawKernel)
            server_kernels = project_kernels(server.proc.pid, server.workdir / "root")
            raw_cpu = CpuMeter({"kernel": raw.pid()})
            server_cpu = CpuMeter(
                {"server": server.proc.pid, "kernel": server_kernels[0] if server_kernels else None}
            )
        else:  # the gateway started the server's kernel first, then the raw one
            assert gateway.process is not None
            eg_pid = gateway.process.pid
            kernels = [*child_pids(eg_pid), None, None]
            raw_cpu = CpuMeter({"gateway": eg_pid, "kernel": kernels[1]})
            server_cpu = CpuMeter(
                {"server": server.proc.pid, "gateway": eg_pid, "kernel": kernels[0]}
            )
        raw_times: list[float] = []
        server_times: list[float] = []
        floor_times: list[float] = []
        remaining = args.n
        while remaining > 0:
            chunk = min(args.chunk, remaining)
            with raw_cpu:
                for _ in range(chunk):
                    raw_times.append(await raw.execute())
            with server_cpu:
                for _ in range(chunk):
                    server_times.append(side.execute())
            for _ in range(chunk):
                floor_times.append(side.floor())
            remaining -= chunk
    finally:
        side.close()
        await raw.stop()
    report(args, raw_times, server_times, raw_cpu.totals, server_cpu.totals, gateway is not None)
    floor_report(raw_times, server_times, floor_times)


def report(
    args: argparse.Namespace,
    raw_times: list[float],
    server_times: list[float],
    raw_cpu: dict[str, float],
    server_cpu: dict[str, float],
    on_gateway: bool = False,
) -> None:
    r50, r95, rmean = percentiles(raw_times)
    s50, s95, smean = percentiles(server_times)
    print()
    print(
        f"execute round trip of {CODE!r}, kernel {KERNEL_NAME}, n={args.n} each after "
        f"{args.warmup} warm-up, interleaved in chunks of {args.chunk}"
    )
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    if on_gateway:
        print("kernels: on a Jupyter Enterprise Gateway (local process proxy), websocket clients")
    print("HTTP client: http.client.HTTPConnection, one kept-alive connection, cookies kept")
    print()
    print(f"{'side':<34}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    raw_name = "raw GatewayKernelClient" if on_gateway else "raw jupyter_client"
    print(f"{raw_name:<34}{r50:>10.2f}{r95:>10.2f}{rmean:>10.2f}")
    print(f"{'server POST execute?wait=true':<34}{s50:>10.2f}{s95:>10.2f}{smean:>10.2f}")
    print(f"{'ratio (server / raw)':<34}{s50 / r50:>9.2f}x{s95 / r95:>9.2f}x{smean / rmean:>9.2f}x")
    d50, d95, dmean = s50 - r50, s95 - r95, smean - rmean
    print(f"{'overhead (server - raw)':<34}{d50:>10.2f}{d95:>10.2f}{dmean:>10.2f}")
    cpu_report(args.n, raw_cpu, server_cpu, raw_name)
    print()
    print(f"ratio p95 = {s95 / r95:.2f}x")
    verdict = "met" if s50 / r50 <= TARGET else "NOT met"
    print(f"ratio p50 = {s50 / r50:.2f}x (target <= {TARGET}x: {verdict})")


def floor_report(raw_times: list[float], server_times: list[float], floors: list[float]) -> None:
    """The overhead split into Jupyter Server's per-request floor and the rest (ours)."""
    r50, s50, f50 = (statistics.median(t) * 1000 for t in (raw_times, server_times, floors))
    print()
    print(f"{'Jupyter floor: GET /api/me':<34}{f50:>10.2f} ms p50 (same connection and headers)")
    print(f"{'overhead beyond the floor':<34}{s50 - r50 - f50:>10.2f} ms p50")
    print(f"{'ratio with the floor alone':<34}{(r50 + f50) / r50:>9.2f}x")


def cpu_report(
    n: int, raw: dict[str, float], server: dict[str, float], raw_name: str = "raw jupyter_client"
) -> None:
    """CPU per execute: unlike wall time, barely affected by other load on the machine."""
    if not Path("/proc/self/stat").exists():
        return
    columns = [k for k in ("client", "server", "gateway", "kernel") if k in raw or k in server]
    print()
    print(f"{'CPU ms per execute':<34}" + "".join(f"{k:>10}" for k in columns) + f"{'total':>10}")
    for name, cpu in ((raw_name, raw), ("server POST execute?wait=true", server)):
        cells = [cpu.get(k) for k in columns]
        text = "".join("-".rjust(10) if c is None else f"{c / n * 1000:>10.2f}" for c in cells)
        print(f"{name:<34}{text}{sum(cpu.values()) / n * 1000:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=500, help="timed executes per side")
    parser.add_argument("--warmup", type=int, default=20, help="untimed executes per side")
    parser.add_argument(
        "--chunk", type=int, default=50, help="timed executes per side before switching side"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="the server's database (default: a SQLite file in the temp dir)",
    )
    parser.add_argument(
        "--keep-log", action="store_true", help="print the server log path and keep the temp dir"
    )
    parser.add_argument(
        "--gateway",
        action="store_true",
        help="both sides on an Enterprise Gateway's kernels (needs .venv-eg; see scripts/test)",
    )
    parser.add_argument(
        "--gateway-nodelay",
        action="store_true",
        help="with --gateway: the gateway's websockets with TCP_NODELAY (see gateway_server.py)",
    )
    parser.add_argument(
        "--profile",
        default="",
        help="run the server under cProfile and write its stats to this file at the end",
    )
    args = parser.parse_args()
    if args.n < 2 or args.warmup < 0 or args.chunk < 1:
        parser.error("--n must be >= 2, --warmup >= 0, --chunk >= 1")

    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the server and the kernels.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="ai-notebook-bench-"))
    db_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    gateway = GatewayServer(nodelay=args.gateway_nodelay) if args.gateway else None
    extra = {"GatewayClient": {"url": gateway.start().url}} if gateway is not None else None
    server = BenchServer(workdir, db_url, extra_config=extra)
    if args.profile:
        out = str(Path(args.profile).resolve())
        # CPU time of the server's main thread (its event loop): wall time would charge
        # the profiled functions with the time the loaded machine kept the server waiting.
        code = (
            "import cProfile, runpy, sys, time\n"
            "profile = cProfile.Profile(time.thread_time)\n"
            "sys.argv = ['jupyter_server', *sys.argv[1:]]\n"
            "try:\n"
            "    profile.runcall(runpy.run_module, 'jupyter_server', run_name='__main__')\n"
            "except SystemExit:\n"
            "    pass\n"
            f"profile.dump_stats({out!r})\n"
        )
        server.command = [sys.executable, "-c", code]
    try:
        t0 = time.perf_counter()
        server.start(timeout=240 if args.profile else 60)
        print(f"server: started in {time.perf_counter() - t0:.2f} s on port {server.port}")
        print(f"server database: {db_url.split('@')[-1]}")
        if gateway is not None:
            print(f"gateway: {gateway.url}")
        asyncio.run(measure(args, workdir, server, gateway))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the server and kernels", file=sys.stderr)
        sys.exit(130)
    finally:
        if server.proc is not None:
            server.stop()
        if gateway is not None:
            gateway.stop()
        if args.keep_log:
            print(f"server log: {server.log_path}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
