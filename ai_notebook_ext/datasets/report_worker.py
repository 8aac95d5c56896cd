"""Make a full HTML profile report in a process of its own (run by datasets/reports.py).

    python -m ai_notebook_ext.datasets.report_worker SETTINGS_JSON

The profiling library (fg-data-profiling, the renamed ydata-profiling) takes seconds and
hundreds of MB to import, so it never loads into the server. Data larger than
``max_rows`` is sampled (DuckDB reservoir sample) and the report's title says so.
Progress goes to stdout as JSON lines: {"progress": 0..1, "message": ...}; the last line
is {"done": true, "sampled_rows": n} or {"error": "..."}.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def main(settings: dict[str, Any]) -> None:
    from .formats import connect, materialize
    from .readoptions import ReadOptions

    say(progress=0.05, message="reading the data")
    con = connect(settings.get("memory_limit", "2GB"))
    try:
        # read as the version's schema says (pandas' types, the version's read options)
        read = ReadOptions.of(settings.get("read_options"))
        materialize(con, settings["path"], settings["format"], read)
        (rows,) = con.execute("SELECT count(*) FROM t").fetchone()
        limit = int(settings["max_rows"])
        if rows > limit:
            frame = con.execute(
                f"SELECT * FROM t USING SAMPLE reservoir({limit} ROWS) REPEATABLE (42)"
            ).df()
        else:
            frame = con.execute("SELECT * FROM t").df()
    finally:
        con.close()
    title = settings["title"]
    if len(frame) < rows:
        title += f" (a random sample of {len(frame):,} of {rows:,} rows)"
    say(progress=0.2, message="loading the profiling library")
    try:
        from data_profiling import ProfileReport
    except ImportError:
        say(error="full reports need the profiling library: pip install 'ai_notebook_ext[report]'")
        sys.exit(1)

    say(progress=0.3, message=f"describing {len(frame):,} rows x {frame.shape[1]} columns")
    report = ProfileReport(
        frame, title=title, minimal=bool(settings.get("minimal")), progress_bar=False
    )
    report.get_description()
    say(progress=0.8, message="rendering HTML")
    html = report.to_html()
    with open(settings["out"], "w", encoding="utf-8") as f:
        f.write(html)
    say(done=True, sampled_rows=len(frame) if len(frame) < rows else None, rows=rows)


if __name__ == "__main__":
    try:
        main(json.loads(sys.argv[1]))
    except Exception as exc:  # reported to the server, which marks the report failed
        say(error=f"{type(exc).__name__}: {exc}"[:2000])
        sys.exit(1)
