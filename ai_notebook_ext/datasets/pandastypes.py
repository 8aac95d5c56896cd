"""Column types as pandas gives them, where DuckDB's sniffer types a column otherwise.

read_csv (pandas' C parser): a column of only missing values is float64; text of only
True/False spellings is bool; numbers with spaces around them (" .5", "  7 ") and quoted
numbers with leading zeros ("001") are numbers. read_json: strings that are all numbers
are numbers, and floats that are all whole (10.0) are int64 when there are no nulls. A
file with no rows keeps text columns (pandas: object). One scan of the data finds these
columns; a cast then gives them their pandas type.
"""

from __future__ import annotations

from typing import Any

from .readoptions import FALSE_VALUES, TRUE_VALUES

TEXT = ("VARCHAR", '"NULL"', "NULL", "JSON")
FLOATS = ("DOUBLE", "FLOAT")
INT_TEXT = r"[+-]?[0-9]+"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _checks(fmt: str, name: str, sql_type: str) -> list[str] | None:
    """The aggregates telling what pandas makes of a column (None: nothing to check)."""
    col = ident(name)
    trimmed = f"trim({col})"
    if sql_type == "VARCHAR":
        spellings = ", ".join(_quote(v) for v in (*TRUE_VALUES, *FALSE_VALUES))
        number = f"TRY_CAST({trimmed} AS DOUBLE)"
        tests = [
            f"{col} IN ({spellings})",
            f"regexp_full_match({trimmed}, '{INT_TEXT}') "
            f"AND TRY_CAST({trimmed} AS BIGINT) IS NOT NULL",
            f"{number} IS NOT NULL",
            f"{number} = floor({number})",
        ]
        return [f"count({col})"] + [
            f"coalesce(bool_and({t}) FILTER (WHERE {col} IS NOT NULL), false)" for t in tests
        ]
    if sql_type in TEXT:
        return [f"count({col})", "false", "false", "false", "false"]
    if fmt in ("json", "jsonl") and sql_type in FLOATS:
        return [
            f"count({col})",
            "false",
            "false",
            "true",
            f"coalesce(bool_and({col} = floor({col})), false)",
        ]
    return None


def _cast(fmt: str, name: str, sql_type: str, rows: int, facts: tuple[Any, ...]) -> str | None:
    """The expression giving the column its pandas type (None: it has it already)."""
    count, all_bool, all_int, all_number, all_whole = facts
    col, trimmed = ident(name), f"trim({ident(name)})"
    json = fmt in ("json", "jsonl")
    if rows == 0:
        return None
    if count == 0:
        return "CAST(NULL AS DOUBLE)"
    if sql_type in FLOATS:  # json only: whole floats without nulls are int64
        return f"CAST({col} AS BIGINT)" if all_whole and count == rows else None
    if all_bool and not json:
        return f"CAST({col} AS BOOLEAN)"
    if all_int and not json:
        return f"CAST({trimmed} AS BIGINT)"
    if all_number:
        if json and all_whole and count == rows:
            return f"CAST(CAST({trimmed} AS DOUBLE) AS BIGINT)"
        return f"CAST({trimmed} AS DOUBLE)"
    return None


def pandas_casts(
    con: Any, relation: str, fmt: str, described: list[tuple[str, str]]
) -> tuple[int, dict[str, str]]:
    """(rows, column -> the expression casting it to its pandas type) in one scan of
    ``relation``; only columns whose DuckDB type differs from pandas' are listed."""
    parts = ["count(*)"]
    checked: list[tuple[str, str]] = []
    converted: list[str] = []  # text formats: every value is converted once, so a value
    # far down that contradicts the sniffed type fails here (and the caller sniffs again)
    if fmt in ("csv", "tsv", "json", "jsonl"):
        for name, sql_type in described:
            aggregates = _checks(fmt, name, sql_type)
            if aggregates is not None:
                parts += aggregates
                checked.append((name, sql_type))
            else:
                converted.append(f"count({ident(name)})")
    values = con.execute(f"SELECT {', '.join(parts + converted)} FROM {relation}").fetchone()
    rows = int(values[0])
    casts: dict[str, str] = {}
    for i, (name, sql_type) in enumerate(checked):
        facts = tuple(values[1 + 5 * i : 6 + 5 * i])
        expression = _cast(fmt, name, sql_type, rows, facts)
        if expression is not None:
            casts[name] = expression
    return rows, casts


def select_list(described: list[tuple[str, str]], casts: dict[str, str]) -> str:
    """Every column, cast where pandas types it otherwise."""
    return ", ".join(f"{casts[n]} AS {ident(n)}" if n in casts else ident(n) for n, _ in described)


def cast_types(
    con: Any, relation: str, described: list[tuple[str, str]], casts: dict[str, str]
) -> list[dict[str, str]]:
    """The columns' names and types after the casts (DuckDB's own names for them)."""
    if not casts:
        return [{"name": n, "type": t} for n, t in described]
    rows = con.execute(
        f"DESCRIBE SELECT {select_list(described, casts)} FROM {relation}"
    ).fetchall()
    return [{"name": r[0], "type": r[1]} for r in rows]
