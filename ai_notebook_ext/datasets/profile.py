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

from .formats import connect, materialize
from .readoptions import ReadOptions

HISTOGRAM_BINS = 10
TOP_VALUES = 10
QUANTILE_BATCH_VALUES = 8_000_000  # numbers held at once for quartiles (64 MB)
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


def quick_profile(
    path: str, fmt: str, options: ReadOptions | None = None, memory_limit: str = "300MB"
) -> dict[str, Any]:
    """The profile of the file at ``path`` read as ``fmt`` with ``options`` (the types
    pandas would give the columns, as the version's schema)."""
    started = time.perf_counter()
    con = connect(memory_limit)
    try:
        con.execute("SET preserve_insertion_order = false")
        materialize(con, path, fmt, options)
        described = [(r[0], r[1]) for r in con.execute("DESCRIBE t").fetchall()]
        (rows,) = con.execute("SELECT count(*) FROM t").fetchone()
        # Duplicate rows by a 64-bit hash of each row: a collision among a billion rows
        # has a chance of about 3%, among a million about 3e-8; DISTINCT * would hold
        # every row in a hash table.
        every = ", ".join(ident(name) for name, _ in described)
        (distinct_rows,) = con.execute(f"SELECT count(DISTINCT hash({every})) FROM t").fetchone()
        columns = _columns(con, described, rows)
    finally:
        con.close()
    return {
        "row_count": rows,
        "column_count": len(columns),
        "duplicate_rows": rows - distinct_rows,
        "columns": columns,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _aggregates(name: str, kind: str) -> list[str]:
    """The one-pass aggregates of a column (in the order ``_columns`` reads them)."""
    col = ident(name)
    parts = [f"count({col})"]
    if kind == "numeric":
        number = f"{col}::DOUBLE"
        parts += [
            f"min({col})",
            f"max({col})",
            f"avg({number})",
            f"stddev_samp({number})",
        ]
    elif kind == "datetime":
        parts += [f"min({col})", f"max({col})"]
    elif kind == "text":
        parts += [f"min(length({col}::VARCHAR))", f"max(length({col}::VARCHAR))"]
    return parts


def _columns(con: Any, described: list[tuple[str, str]], rows: int) -> list[dict[str, Any]]:
    """Every column's statistics: one scan for the simple aggregates of all columns, one
    query per column for its distinct count (one hash table at a time keeps memory low),
    the numeric columns' quartiles and histograms together, a top-values query per text
    column."""
    kinds = [kind_of(sql_type) for _, sql_type in described]
    select = [
        a for (name, _), kind in zip(described, kinds, strict=True) for a in _aggregates(name, kind)
    ]
    values = list(con.execute(f"SELECT {', '.join(select)} FROM t").fetchone())
    out = []
    numeric: list[tuple[str, float, float]] = []
    for (name, sql_type), kind in zip(described, kinds, strict=True):
        count = values.pop(0)
        col = ident(name)
        (distinct,) = con.execute(f"SELECT count(DISTINCT {col}) FROM t").fetchone()
        column: dict[str, Any] = {
            "name": name,
            "type": sql_type,
            "kind": kind,
            "count": count,
            "nulls": rows - count,
            "null_pct": round(100.0 * (rows - count) / rows, 4) if rows else 0.0,
            "distinct": distinct,
        }
        if kind == "numeric":
            lo, hi, mean, std = (values.pop(0) for _ in range(4))
            if count:
                column.update(
                    min=jsonable(lo), max=jsonable(hi), mean=jsonable(mean), std=jsonable(std)
                )
                numeric.append((name, float(lo), float(hi)))
        elif kind == "datetime":
            lo, hi = values.pop(0), values.pop(0)
            if count:
                column.update(min=jsonable(lo), max=jsonable(hi))
        elif kind == "text":
            shortest, longest = values.pop(0), values.pop(0)
            if count:
                column.update(min_length=shortest, max_length=longest)
        if kind in ("text", "boolean") and count:
            top = con.execute(
                f"SELECT {col}::VARCHAR AS v, count(*) AS n FROM t WHERE {col} IS NOT NULL "
                f"GROUP BY v ORDER BY n DESC, v LIMIT {TOP_VALUES}"
            ).fetchall()
            column["top"] = [{"value": v, "count": n} for v, n in top]
        out.append(column)
    by_name = {c["name"]: c for c in out}
    for name, quartiles in _quartiles(con, [n for n, _, _ in numeric], rows).items():
        by_name[name].update(
            p25=jsonable(quartiles[0]), p50=jsonable(quartiles[1]), p75=jsonable(quartiles[2])
        )
    for name, histogram in _histograms(con, numeric).items():
        by_name[name]["histogram"] = histogram
    return out


def _quartiles(con: Any, names: list[str], rows: int) -> dict[str, list[Any]]:
    """Quartiles (linear interpolation) of numeric columns. Each needs its column's values
    in memory: together in one scan when they fit QUANTILE_BATCH_VALUES, else one by one."""

    def query(batch: list[str]) -> list[Any]:
        parts = [f"quantile_cont({ident(n)}::DOUBLE, [0.25, 0.5, 0.75])" for n in batch]
        return list(con.execute(f"SELECT {', '.join(parts)} FROM t").fetchone())

    if not names:
        return {}
    if rows * len(names) <= QUANTILE_BATCH_VALUES:
        return dict(zip(names, query(names), strict=True))
    return {n: query([n])[0] for n in names}


def _histograms(con: Any, columns: list[tuple[str, float, float]]) -> dict[str, dict[str, Any]]:
    """Equal-width 10-bin histograms over [min, max] (the last bin includes max) of all
    numeric columns in one scan."""
    out: dict[str, dict[str, Any]] = {}
    parts: list[str] = []
    params: list[Any] = []
    binned: list[tuple[str, float, float, float]] = []
    for name, lo, hi in columns:
        if not (math.isfinite(lo) and math.isfinite(hi)):
            out[name] = {"edges": [], "counts": []}
            continue
        col = ident(name)
        width = (hi - lo) / HISTOGRAM_BINS
        if not (math.isfinite(width) and width > 0):  # one value, or a range floats can't bin
            parts.append(f"count({col})")
            width = 0.0
        else:
            last = HISTOGRAM_BINS - 1
            parts.append(
                f"histogram(coalesce(TRY_CAST(least(floor(({col}::DOUBLE - ?) / ?), {last}) "
                f"AS BIGINT), {last})) "
                f"FILTER (WHERE {col} IS NOT NULL AND isfinite({col}::DOUBLE))"
            )
            params += [lo, width]
        binned.append((name, lo, hi, width))
    if not parts:
        return out
    results = con.execute(f"SELECT {', '.join(parts)} FROM t", params).fetchone()
    for (name, lo, hi, width), result in zip(binned, results, strict=True):
        if width == 0.0:
            out[name] = {"edges": [lo, hi], "counts": [result]}
            continue
        counts = [0] * HISTOGRAM_BINS
        for bucket, n in (result or {}).items():
            counts[int(bucket)] = n
        edges = [lo + i * width for i in range(HISTOGRAM_BINS)] + [hi]
        out[name] = {"edges": edges, "counts": counts}
    return out
