"""Startup cost: how much the extension adds to a bare Jupyter Server's time to its first answer.

Alternates runs of two ``jupyter server`` processes that differ only in
``jpserver_extensions``:

- bare: every server extension off (JupyterLab, LSP, terminals, ... and ours);
- ours: only ``ai_notebook_ext`` on.

Everything else is the same: a fresh temporary root, runtime and data folder per run, the
same token, a free loopback port. Each run is timed from ``Popen`` to the first 200 of
``GET /api/status`` (Jupyter's own) and, for ours, also to the first 200 of
``GET /ai-notebook/api/me`` (our handlers answer: the database is open and migrated).
Besides wall-clock seconds it records the server process's CPU seconds (user + system,
from /proc) at each first 200: on a loaded machine that figure is much steadier.

Two cases for ours:

- steady state: the data folder already holds a database at the current schema (copied
  from a template migrated once before the timed runs): what every start but the first
  costs;
- first start: an empty data folder, so the database is created and migrated.

It prints the medians and the seconds ours adds (goal: <= 0.3 s in the steady state).
The polling interval (5 ms) bounds the resolution.

    .venv/bin/python benchmarks/startup.py [--n 4] [--first-start-n 2] [--others]
        [--profile FILE]

``--others`` keeps the other installed server extensions on in both servers (a JupyterLab
user's start). ``--profile FILE`` also profiles (cProfile) one steady-state start of ours, from the
interpreter's start to the end of ``ServerApp.initialize`` (imports, extension loading,
database check: everything before the event loop runs), and writes the stats to FILE
(inspect with ``python -m pstats FILE``).
"""

from __future__ import annotations

import argparse
import http.client
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
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from server_process import free_port  # noqa: E402

TOKEN = "bench-token"
OTHERS = ("jupyterlab", "jupyter_lsp", "jupyter_server_terminals", "notebook_shim")
POLL = 0.005
TARGET = 0.3
# argv: stats file, server arguments. Profiles imports and ServerApp.initialize.
PROFILE_SNIPPET = """
import cProfile, sys
out, args = sys.argv[1], sys.argv[2:]
prof = cProfile.Profile()
prof.enable()
from jupyter_server.serverapp import ServerApp
app = ServerApp.instance()
app.initialize(args)
prof.disable()
prof.dump_stats(out)
"""


def _config(workdir: Path, port: int, ours: bool, others: bool) -> Path:
    extensions = {name: others for name in OTHERS}
    extensions["ai_notebook_ext"] = ours
    config = {
        "ServerApp": {
            "port": port,
            "ip": "127.0.0.1",
            "open_browser": False,
            "allow_root": True,
            "root_dir": str(workdir / "root"),
            "jpserver_extensions": extensions,
        },
        "IdentityProvider": {"token": TOKEN},
        "AINotebookApp": {"data_dir": str(workdir / "data")},
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
    }
    path = workdir / "config.json"
    path.write_text(json.dumps(config))
    return path


def _status(port: int, path: str) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Authorization": f"token {TOKEN}"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return None
    finally:
        conn.close()


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(port: int, path: str, proc: subprocess.Popen[bytes], log: Path) -> tuple[float, float]:
    """Wall clock and the server's CPU seconds at the first 200 of ``path``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if _status(port, path) == 200:
            return time.perf_counter(), _cpu(proc.pid)
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        time.sleep(POLL)
    raise TimeoutError(f"no 200 from {path} in 120 s:\n{log.read_text()}")


@dataclass
class Start:
    """One start: seconds to the first 200s, wall clock and the server's CPU time."""

    status: float = 0.0
    status_cpu: float = 0.0
    api: float = 0.0  # ours only: our API's first 200
    api_cpu: float = 0.0


def one_start(
    base: Path,
    ours: bool,
    others: bool,
    template: Path | None,
    profile: str | None = None,
) -> Start:
    """Time one server start; the process is stopped and its folder removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="start-", dir=base))
    (workdir / "root").mkdir()
    if template is not None:
        shutil.copytree(template, workdir / "data")
    port = free_port()
    config = _config(workdir, port, ours, others)
    env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1"}
    env["JUPYTER_RUNTIME_DIR"] = str(workdir / "runtime")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "jupyter_server", f"--config={config}"]
    if profile:
        command = [sys.executable, "-c", PROFILE_SNIPPET, profile, f"--config={config}"]
    log = workdir / "server.log"
    result = Start()
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env=env)
        try:
            if profile:
                proc.wait(120)
                return result
            wall, result.status_cpu = _wait(port, "/api/status", proc, log)
            result.status = wall - started
            if ours:
                wall, result.api_cpu = _wait(port, "/ai-notebook/api/me", proc, log)
                result.api = wall - started
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def make_template(base: Path, others: bool) -> Path:
    """A data folder whose SQLite database is at the current schema (one start of ours)."""
    workdir = Path(tempfile.mkdtemp(prefix="template-", dir=base))
    (workdir / "root").mkdir()
    port = free_port()
    config = _config(workdir, port, True, others)
    env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1"}
    env["JUPYTER_RUNTIME_DIR"] = str(workdir / "runtime")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    log = workdir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", f"--config={config}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
        )
        try:
            _wait(port, "/ai-notebook/api/me", proc, log)
        finally:
            proc.terminate()
            proc.wait(30)
    data = workdir / "data"
    for leftover in ("staging", "artifacts"):
        shutil.rmtree(data / leftover, ignore_errors=True)
    return data


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(bare: list[Start], ours: list[Start], first: list[Start]) -> None:
    def med(starts: list[Start], what: str) -> float:
        return median([getattr(s, what) for s in starts])

    def _pair(starts: list[Start], what: str) -> tuple[float, float]:
        return med(starts, what), med(starts, what + "_cpu")

    b, b_cpu = med(bare, "status"), med(bare, "status_cpu")
    rows = [
        ("bare jupyter server, /api/status", b, b_cpu),
        ("with ai_notebook_ext, /api/status", med(ours, "status"), med(ours, "status_cpu")),
        ("with ai_notebook_ext, our /me", med(ours, "api"), med(ours, "api_cpu")),
    ]
    if first:
        rows += [
            ("first start (migrations), /api/status", *_pair(first, "status")),
            ("first start (migrations), our /me", *_pair(first, "api")),
        ]
    print(f"{'median of first 200':42} {'wall s':>8} {'added':>8} {'CPU s':>8} {'added':>8}")
    for name, wall, cpu in rows:
        print(f"{name:42} {wall:8.3f} {wall - b:+8.3f} {cpu:8.3f} {cpu - b_cpu:+8.3f}")
    print(f"goal: the extension adds <= {TARGET} s to /api/status (steady state)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4, help="steady-state runs of each")
    parser.add_argument("--first-start-n", type=int, default=2, help="first-start runs")
    parser.add_argument("--others", action="store_true", help="keep other extensions on")
    parser.add_argument("--profile", help="cProfile one start of ours into this file")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    base = Path(tempfile.mkdtemp(prefix="ai-notebook-startup-"))
    bare: list[Start] = []
    ours: list[Start] = []
    first: list[Start] = []
    try:
        template = make_template(base, args.others)
        if args.n:
            one_start(base, False, args.others, None)  # warm the OS caches for both
            one_start(base, True, args.others, template)
        for i in range(args.n):
            bare.append(one_start(base, False, args.others, None))
            ours.append(one_start(base, True, args.others, template))
            b, o = bare[-1], ours[-1]
            print(
                f"  run {i + 1}: bare {b.status:.3f} s ({b.status_cpu:.2f} CPU s)   ours "
                f"{o.status:.3f} s ({o.status_cpu:.2f} CPU s), our API {o.api:.3f} s"
            )
        for _ in range(args.first_start_n):
            first.append(one_start(base, True, args.others, None))
        if args.profile:
            one_start(base, True, args.others, template, profile=args.profile)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    cores = len(os.sched_getaffinity(0))
    print(f"\n{platform.system()} {platform.machine()}, {cores} cores, Python ", end="")
    print(
        f"{platform.python_version()}; other extensions {'on' if args.others else 'off'}; ", end=""
    )
    print(f"load average {os.getloadavg()[0]:.1f}")
    if bare:
        report(bare, ours, first)
    if args.profile:
        print(f"cProfile of one steady-state start of ours: {args.profile}")


if __name__ == "__main__":
    main()
