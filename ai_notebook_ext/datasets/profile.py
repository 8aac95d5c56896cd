"""Quick profiles with DuckDB: per-column statistics of a whole dataset in seconds.

Per column: type and kind, count, nulls and their percentage, distinct count; numbers:
min, max, mean, sample standard deviation, quartiles (linear interpolation, as pandas)
and a 10-bin histogram; text and booleans: the 10 most frequent values; dates and
times: their range. For the dataset: row count and duplicate rows. The data is read once
into DuckDB's columnar memory (spilling to disk past the memory limit), never into
Python objects.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import time
from typing import Any

from .formats import connect, open_relation

HISTOGRAM_BINS = 10
TOP_VALUES = 10
NUMERIC = (
    *("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT"),
    *("UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL"),
)
TEMPORAL = ("DATE", "TIME", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS")


def kind_of(sql_type: str) -> str:
    """numeric, datetime, boolean or text (what statistics make sense)."""
    base = sql_type.upper().split("(")[0].strip()
    if base in NUMERIC or base.startswith("DECIMAL"):
        return "numeric"
    if base in TEMPORAL or base.startswith("TIMESTAMP"):
        return "datetime"
    if base == "BOOLEAN":
        return "boolean"
    return "text"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def jsonable(value: Any) -> Any:
    """A DuckDB value as JSON: dates as ISO text, decimals as floats, NaN/inf as null."""
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def quick_profile(path: str, fmt: str, memory_limit: str = "1GB") -> dict[str, Any]:
    """The profile of the file at ``path`` read as ``fmt``."""
    started = time.perf_counter()
    con = connect(memory_limit)
    try:
        open_relation(con, path, fmt)
        con.execute("CREATE TEMP TABLE t AS SELECT * FROM data")
        described = con.execute("DESCRIBE t").fetchall()
        (rows,) = con.execute("SELECT count(*) FROM t").fetchone()
        (distinct_rows,) = con.execute("SELECT count(*) FROM (SELECT DISTINCT * FROM t)").fetchone()
        columns = [_column(con, name, sql_type, rows) for name, sql_type, *_ in described]
    finally:
        con.close()
    return {
        "row_count": rows,
        "column_count": len(columns),
        "duplicate_rows": rows - distinct_rows,
        "columns": columns,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _column(con: Any, name: str, sql_type: str, rows: int) -> dict[str, Any]:
    col = ident(name)
    kind = kind_of(sql_type)
    count, distinct = con.execute(f"SELECT count({col}), count(DISTINCT {col}) FROM t").fetchone()
    out: dict[str, Any] = {
        "name": name,
        "type": sql_type,
        "kind": kind,
        "count": count,
        "nulls": rows - count,
        "null_pct": round(100.0 * (rows - count) / rows, 4) if rows else 0.0,
        "distinct": distinct,
    }
    if kind == "numeric" and count:
        lo, hi, mean, std, quartiles = con.execute(
            f"SELECT min({col}), max({col}), avg({col}::DOUBLE), stddev_samp({col}::DOUBLE), "
            f"quantile_cont({col}::DOUBLE, [0.25, 0.5, 0.75]) FROM t"
        ).fetchone()
        out.update(
            min=jsonable(lo),
            max=jsonable(hi),
            mean=jsonable(mean),
            std=jsonable(std),
            p25=jsonable(quartiles[0]),
            p50=jsonable(quartiles[1]),
            p75=jsonable(quartiles[2]),
            histogram=_histogram(con, col, float(lo), float(hi)),
        )
    elif kind == "datetime" and count:
        lo, hi = con.execute(f"SELECT min({col}), max({col}) FROM t").fetchone()
        out.update(min=jsonable(lo), max=jsonable(hi))
    if kind in ("text", "boolean") and count:
        top = con.execute(
            f"SELECT {col}::VARCHAR AS v, count(*) AS n FROM t WHERE {col} IS NOT NULL "
            f"GROUP BY v ORDER BY n DESC, v LIMIT {TOP_VALUES}"
        ).fetchall()
        out["top"] = [{"value": v, "count": n} for v, n in top]
    if kind == "text" and count:
        lengths = con.execute(
            f"SELECT min(length({col}::VARCHAR)), max(length({col}::VARCHAR)) FROM t"
        ).fetchone()
        out.update(min_length=lengths[0], max_length=lengths[1])
    return out


def _histogram(con: Any, col: str, lo: float, hi: float) -> dict[str, list[Any]]:
    """Equal-width bins over [min, max]; the last bin includes max."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return {"edges": [], "counts": []}
    if hi == lo:
        (n,) = con.execute(f"SELECT count({col}) FROM t").fetchone()
        return {"edges": [lo, hi], "counts": [n]}
    width = (hi - lo) / HISTOGRAM_BINS
    rows = con.execute(
        f"SELECT least(floor(({col}::DOUBLE - ?) / ?)::BIGINT, ?) AS b, count(*) FROM t "
        f"WHERE {col} IS NOT NULL AND isfinite({col}::DOUBLE) GROUP BY b",
        [lo, width, HISTOGRAM_BINS - 1],
    ).fetchall()
    counts = [0] * HISTOGRAM_BINS
    for bucket, n in rows:
        counts[int(bucket)] = n
    edges = [lo + i * width for i in range(HISTOGRAM_BINS)] + [hi]
    return {"edges": edges, "counts": counts}
