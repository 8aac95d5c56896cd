"""Dataset upload: a large CSV through the REST API vs. ``sha256sum`` of the same file.

Each run, in this order:

- sha256sum: ``sha256sum FILE``, the floor of a content-addressed store (every byte must
  be hashed); the goal (issue 14) is ``sha256sum time / upload time >= 0.8``.
- upload: ``POST ai-notebook/api/projects/{pid}/datasets/upload?background=true`` to a
  real ``jupyter server`` subprocess (SQLite, local storage, token auth), the body
  streamed from the file by http.client in 1 MiB blocks, timed until the 202 answer
  (the file received, hashed, stored, its schema read from a sample and the version
  recorded). Then, separately, the time from the start of the upload until the version
  is 'ready' (the whole file read, counted, profiled and checked in the background),
  polled every 50 ms; the next run starts only after that.
- bare (``--bare``): the same body POSTed to a bare tornado server that writes it to a
  file through the page cache while hashing it (``_bare_upload_server.py``): what
  Python, tornado and the page cache cost on this machine without the extension.
- full (``--full``): the upload without ``background``, answered after all of the above.

A small upload first starts the server's data worker (the first upload after a start
also pays for that, overlapped with its body). Between runs the dataset is deleted, so
each upload stores its blob anew. CPU seconds
are also reported (sha256sum's from its rusage; the upload's as the server's and its data
workers' CPU time over the request), as wall times on a shared machine are noisy.
Memory: the server's peak RSS growth (VmHWM after the uploads minus VmRSS before).

    .venv/bin/python benchmarks/dataset_upload.py [--size-mb 300] [--repeat 3]
        [--file path/to/existing.csv] [--bare] [--full]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from server_process import ServerProcess, free_port  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from _data import sales_frame  # noqa: E402

GOAL_RATIO = 0.8  # sha256sum time / upload time
GOAL_RSS_MB = 100
API = "/ai-notebook/api/projects"


def make_csv(path: Path, size_mb: int) -> None:
    """A CSV of about ``size_mb`` MB: 12 mixed columns, a 200k-row block repeated."""
    block = sales_frame(200_000).to_csv(index=False).encode()
    header, body = block.split(b"\n", 1)
    with path.open("wb") as f:
        f.write(header + b"\n")
        while f.tell() < size_mb * 1024 * 1024:
            f.write(body)


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def cpu_of_tree(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live descendants."""
    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def time_sha256sum(src: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of ``sha256sum src``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(["sha256sum", str(src)], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def post_file(port: int, path: str, src: Path, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST the file as the body, streamed from disk in 1 MiB blocks."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600, blocksize=1 << 20)
    try:
        with src.open("rb") as body:
            conn.request(
                "POST",
                path,
                body=body,
                headers={
                    **headers,
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(src.stat().st_size),
                },
            )
            resp = conn.getresponse()
            return resp.status, resp.read()
    finally:
        conn.close()


def upload(
    server: ServerProcess, pid: int, src: Path, name: str, background: bool
) -> tuple[float, float, float]:
    """(seconds until the answer, server CPU seconds over the request, seconds from the
    start until the version is ready); the dataset is deleted afterwards."""
    query = f"name={name}&filename=data.csv" + ("&background=true" if background else "")
    server_pid = server.proc.pid  # type: ignore[union-attr]
    cpu_before = cpu_of_tree(server_pid)
    started = time.perf_counter()
    status, body = post_file(
        server.port,
        f"{API}/{pid}/datasets/upload?{query}",
        src,
        {"Authorization": f"token {server.token}"},
    )
    answered = time.perf_counter() - started
    cpu = cpu_of_tree(server_pid) - cpu_before
    payload = json.loads(body)
    if status not in (201, 202):
        raise RuntimeError(f"upload failed: {status} {payload}")
    did, number = payload["dataset"]["id"], payload["version"]["number"]
    while True:  # ready: counted, profiled and checked
        status, version = server.request("GET", f"{API[1:]}/{pid}/datasets/{did}/versions/{number}")
        assert status == 200, version
        if version["status"] != "processing":
            assert version["status"] == "ready", version
            break
        time.sleep(0.05)
    ready = time.perf_counter() - started
    status, _ = server.request("DELETE", f"{API[1:]}/{pid}/datasets/{did}")
    assert status == 204, status
    return answered, cpu, ready


def bare_upload(port: int, src: Path) -> float:
    started = time.perf_counter()
    status, body = post_file(port, "/", src, {})
    assert status == 200, body
    return time.perf_counter() - started


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--file", type=Path, default=None)
    parser.add_argument("--bare", action="store_true", help="also the bare tornado baseline")
    parser.add_argument("--full", action="store_true", help="also the upload without background")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ainb-upload-bench-") as tmp:
        work = Path(tmp)
        src = args.file
        if src is None:
            src = work / "data.csv"
            print(f"writing a {args.size_mb} MB CSV ...", flush=True)
            make_csv(src, args.size_mb)
        size_mb = src.stat().st_size / 1024**2
        server = ServerProcess(
            work,
            f"sqlite:///{work / 'bench.db'}",
            extra_config={"AINotebookApp": {"dataset_max_bytes": 64 * 1024**3}},
        ).start()
        bare = None
        if args.bare:
            bare_port = free_port()
            bare_args = [str(bare_port), str(work)]
            bare = subprocess.Popen(
                [sys.executable, str(REPO / "benchmarks" / "_bare_upload_server.py"), *bare_args],
                stdout=subprocess.PIPE,
            )
            assert bare.stdout is not None
            assert bare.stdout.readline().strip() == b"ready"
        try:
            status, project = server.request("POST", API[1:], {"name": "b"})
            assert status == 201, project
            pid = project["id"]
            warm = work / "warm.csv"  # the first upload also starts the data worker
            warm.write_bytes(b"a,b\n1,2\n")
            upload(server, pid, warm, "warm-up", background=True)
            rss_before = rss_kb(server.proc.pid, "VmRSS")  # type: ignore[union-attr]
            sha: list[float] = []
            sha_cpu: list[float] = []
            up: list[float] = []
            up_cpu: list[float] = []
            ready: list[float] = []
            ratios: list[float] = []
            bare_t: list[float] = []
            full: list[float] = []
            for i in range(args.repeat):
                time.sleep(args.pause)
                wall, cpu = time_sha256sum(src)
                sha.append(wall)
                sha_cpu.append(cpu)
                answered, cpu, until_ready = upload(server, pid, src, f"bg{i}", background=True)
                up.append(answered)
                up_cpu.append(cpu)
                ready.append(until_ready)
                ratios.append(sha[-1] / answered)
                line = (
                    f"run {i + 1}: sha256sum {sha[-1]:.2f} s ({sha_cpu[-1]:.2f} CPU s), "
                    f"upload {answered:.2f} s ({cpu:.2f} CPU s), "
                    f"ratio {ratios[-1]:.2f}; ready after {until_ready:.2f} s"
                )
                if bare is not None:
                    time.sleep(args.pause)
                    bare_t.append(bare_upload(bare_port, src))
                    line += f"; bare tornado {bare_t[-1]:.2f} s"
                if args.full:
                    time.sleep(args.pause)
                    full.append(upload(server, pid, src, f"full{i}", background=False)[0])
                    line += f"; full {full[-1]:.2f} s"
                print(line, flush=True)
            peak = rss_kb(server.proc.pid, "VmHWM")  # type: ignore[union-attr]
        finally:
            server.stop()
            if bare is not None:
                bare.terminate()
                bare.wait()

    growth_mb = (peak - rss_before) / 1024
    ms, mu = median(sha), median(up)
    print()
    print(f"file: {size_mb:.0f} MB CSV; {platform.python_version()}, {os.cpu_count()} CPUs")
    cpu = median(sha_cpu)
    print(f"sha256sum:               {ms:6.2f} s  {size_mb / ms:7.1f} MB/s  CPU {cpu:.2f} s")
    print(
        f"upload, background=true: {mu:6.2f} s  {size_mb / mu:7.1f} MB/s  "
        f"CPU {median(up_cpu):.2f} s (server and workers)"
    )
    print(
        f"ratio sha256sum / upload: {median(ratios):.2f} (median of runs; "
        f"{min(ratios):.2f}-{max(ratios):.2f}), goal >= {GOAL_RATIO}"
    )
    print(f"until the version is ready (profiled, checked): {median(ready):6.2f} s")
    if bare_t:
        mb = median(bare_t)
        print(
            f"bare tornado, page cache: {mb:6.2f} s  {size_mb / mb:7.1f} MB/s  "
            f"ratio sha256sum / bare {ms / mb:.2f}"
        )
    if full:
        print(f"upload, full processing: {median(full):6.2f} s (answered after the profile)")
    print(f"server peak RSS growth: {growth_mb:.0f} MB (goal < {GOAL_RSS_MB} MB)")


if __name__ == "__main__":
    main()
