"""Quick profile (DuckDB) vs. the profiling library's minimal description, on the same
CSV of 1M rows x 12 mixed columns.

Each side runs in a fresh Python process that reports its own wall time and peak RSS
(VmHWM of /proc/self/status, which starts afresh at exec), so neither side's memory
leaks into the other's:

- ours: ``ai_notebook_ext.datasets.profile.quick_profile(path, "csv")`` (reads the file
  itself);
- baseline: ``pandas.read_csv(path)`` then fg-data-profiling (ydata-profiling)
  ``ProfileReport(df, minimal=True).get_description()``; the library needs a DataFrame,
  so reading it is part of its cost. Its import time is excluded (timed separately).

    .venv/bin/python benchmarks/dataset_profile.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from _data import sales_frame  # noqa: E402

GOAL_SPEED = 10.0
GOAL_MEMORY = 5.0

OURS = """
import json, sys, time
from ai_notebook_ext.datasets.profile import quick_profile
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
started = time.perf_counter()
profile = quick_profile(sys.argv[1], "csv")
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb(), "rows": profile["row_count"]}))
"""

BASELINE = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
t0 = time.perf_counter()
import pandas as pd
from data_profiling import ProfileReport
imported = time.perf_counter() - t0
started = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
description = ProfileReport(frame, minimal=True, progress_bar=False).get_description()
elapsed = time.perf_counter() - started
rows = description.table["n"]
print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb(), "rows": rows, "import": imported}))
"""


def measure(code: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ainb-profile-bench-") as tmp:
        path = Path(tmp) / "data.csv"
        frame = sales_frame(args.rows)
        frame.to_csv(path, index=False)
        del frame
        size_mb = path.stat().st_size / 1024**2
        ours = measure(OURS, path)
        base = measure(BASELINE, path)
    assert ours["rows"] == base["rows"] == args.rows
    speed = base["seconds"] / ours["seconds"]
    memory = base["peak_mb"] / ours["peak_mb"]
    print(f"data: {args.rows:,} rows x 12 columns, {size_mb:.0f} MB CSV")
    print(
        f"quick profile (DuckDB):        {ours['seconds']:6.2f} s, peak {ours['peak_mb']:6.0f} MB"
    )
    print(
        f"minimal description (library): {base['seconds']:6.2f} s, peak {base['peak_mb']:6.0f} MB"
        f" (+{base['import']:.1f} s import)"
    )
    print(f"speed: {speed:.1f}x faster (goal >= {GOAL_SPEED:.0f}x)")
    print(f"memory: {memory:.1f}x less (goal >= {GOAL_MEMORY:.0f}x)")


if __name__ == "__main__":
    main()
