"""Dataset upload: a large CSV through the REST API vs. ``sha256sum`` and ``cp`` of it.

- sha256sum: ``sha256sum FILE``, the floor of a content-addressed store (every byte
  must be hashed); the goal (issue 14) is an upload at >= 0.8x its throughput.
- cp: ``cp FILE COPY`` into the server's data folder (same disk), timed, copy removed.
- API: ``POST ai-notebook/api/projects/{pid}/datasets/upload`` to a real ``jupyter
  server`` subprocess (SQLite, local storage, token auth), the body streamed from the file
  by http.client in 1 MiB blocks. Two modes:
  - ``background=true``: answered once the file is stored (hashed, schema read, moved
    into content-addressed storage); the row count, profile and checks follow.
  - default: answered after the full read (row count), the quick profile and the checks.
  Between runs the dataset is deleted, so each upload stores its blob anew.
- Memory: the server's peak RSS growth (VmHWM after the uploads minus VmRSS before).

Runs interleave (sha256sum, cp, background, full) ``--repeat`` times; medians are reported.

    .venv/bin/python benchmarks/dataset_upload.py [--size-mb 1024] [--repeat 3]
        [--file path/to/existing.csv]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from server_process import ServerProcess  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from _data import sales_frame  # noqa: E402

GOAL_RATIO = 0.8  # of sha256sum
GOAL_RSS_MB = 100


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


def time_sha256sum(src: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["sha256sum", str(src)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def time_cp(src: Path, folder: Path) -> float:
    dst = folder / "cp-copy.csv"
    started = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    elapsed = time.perf_counter() - started
    dst.unlink()
    return elapsed


def upload(server: ServerProcess, pid: int, src: Path, name: str, background: bool) -> float:
    query = f"name={name}&filename=data.csv" + ("&background=true" if background else "")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=3600, blocksize=1 << 20)
    size = src.stat().st_size
    started = time.perf_counter()
    with src.open("rb") as body:
        conn.request(
            "POST",
            f"/ai-notebook/api/projects/{pid}/datasets/upload?{query}",
            body=body,
            headers={
                "Authorization": f"token {server.token}",
                "Content-Type": "application/octet-stream",
                "Content-Length": str(size),
            },
        )
        resp = conn.getresponse()
        payload = json.loads(resp.read())
    elapsed = time.perf_counter() - started
    conn.close()
    if resp.status not in (201, 202):
        raise RuntimeError(f"upload failed: {resp.status} {payload}")
    status, _ = server.request(
        "DELETE", f"ai-notebook/api/projects/{pid}/datasets/{payload['dataset']['id']}"
    )
    if background:  # let the background work finish before the next run
        time.sleep(0.5)
    assert status == 204, status
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--file", type=Path, default=None)
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
        try:
            status, project = server.request("POST", "ai-notebook/api/projects", {"name": "b"})
            assert status == 201, project
            pid = project["id"]
            data_dir = work / "data"
            rss_before = rss_kb(server.proc.pid, "VmRSS")  # type: ignore[union-attr]
            sha, cp, background, full = [], [], [], []
            for i in range(args.repeat):
                sha.append(time_sha256sum(src))
                cp.append(time_cp(src, data_dir))
                background.append(upload(server, pid, src, f"bg{i}", background=True))
                full.append(upload(server, pid, src, f"full{i}", background=False))
                print(
                    f"run {i + 1}: sha256sum {sha[-1]:.2f} s, cp {cp[-1]:.2f} s, "
                    f"API (background) {background[-1]:.2f} s, "
                    f"API (full processing) {full[-1]:.2f} s",
                    flush=True,
                )
            peak = rss_kb(server.proc.pid, "VmHWM")  # type: ignore[union-attr]
        finally:
            server.stop()

    med_sha, med_cp, med_bg, med_full = (statistics.median(x) for x in (sha, cp, background, full))
    growth_mb = (peak - rss_before) / 1024
    ratio_bg, ratio_full = med_sha / med_bg, med_sha / med_full
    print()
    print(f"file: {size_mb:.0f} MB CSV; {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"sha256sum:             {med_sha:6.2f} s  {size_mb / med_sha:7.1f} MB/s")
    print(f"cp:                    {med_cp:6.2f} s  {size_mb / med_cp:7.1f} MB/s")
    print(
        f"API, background=true:  {med_bg:6.2f} s  {size_mb / med_bg:7.1f} MB/s  "
        f"ratio {ratio_bg:.2f}x of sha256sum (goal >= {GOAL_RATIO}x)"
    )
    print(
        f"API, full processing:  {med_full:6.2f} s  {size_mb / med_full:7.1f} MB/s  "
        f"ratio {ratio_full:.2f}x of sha256sum (row count, profile, checks included)"
    )
    print(f"server peak RSS growth: {growth_mb:.0f} MB (goal < {GOAL_RSS_MB} MB)")


if __name__ == "__main__":
    main()
