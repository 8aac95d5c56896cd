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
HEAD_ROWS = 2048  # rows that rule out most tests before every row is scanned


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _tests(fmt: str, name: str, sql_type: str) -> list[str] | None:
    """What pandas' type of a column depends on: four tests over its non-null values
    (all True/False spellings; all integers; all numbers; all whole numbers), as SQL
    (None: nothing to check)."""
    col = ident(name)
    trimmed = f"trim({col})"
    if sql_type == "VARCHAR":
        spellings = ", ".join(_quote(v) for v in (*TRUE_VALUES, *FALSE_VALUES))
        number = f"TRY_CAST({trimmed} AS DOUBLE)"
        return [
            f"{col} IN ({spellings})",
            f"regexp_full_match({trimmed}, '{INT_TEXT}') "
            f"AND TRY_CAST({trimmed} AS BIGINT) IS NOT NULL",
            f"{number} IS NOT NULL",
            f"{number} = floor({number})",
        ]
    if sql_type in TEXT:
        return ["false", "false", "false", "false"]
    if fmt in ("json", "jsonl") and sql_type in FLOATS:
        return ["false", "false", "true", f"{col} = floor({col})"]
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
    ``relation``; only columns whose DuckDB type differs from pandas' are listed. The
    first rows rule out most tests (a column of names is no number) so that the scan of
    every row runs only the tests that may still hold."""
    checked: list[tuple[str, str, list[str]]] = []
    counts: list[str] = []  # text formats: every value is converted once, so a value
    # far down that contradicts the sniffed type fails here (and the caller sniffs again)
    if fmt in ("csv", "tsv", "json", "jsonl"):
        for name, sql_type in described:
            tests = _tests(fmt, name, sql_type)
            if tests is not None:
                checked.append((name, sql_type, tests))
            counts.append(f"count({ident(name)})")
    if checked:
        first = [
            f"bool_and(coalesce({test}, false)) FILTER (WHERE {ident(name)} IS NOT NULL)"
            for name, _, tests in checked
            for test in tests
        ]
        head = con.execute(
            f"SELECT {', '.join(first)} FROM (SELECT * FROM {relation} LIMIT {HEAD_ROWS})"
        ).fetchone()
        possible = iter(head)  # None: no value in the first rows, so still possible
        checked = [
            (name, sql_type, [t if next(possible) is not False else "false" for t in tests])
            for name, sql_type, tests in checked
        ]
    every = [
        f"coalesce(bool_and(coalesce({test}, false)) "
        f"FILTER (WHERE {ident(name)} IS NOT NULL), false)"
        if test != "false"
        else "false"
        for name, _, tests in checked
        for test in tests
    ]
    values = con.execute(
        f"SELECT {', '.join(['count(*)', *counts, *every])} FROM {relation}"
    ).fetchone()
    rows = int(values[0])
    count_of = dict(
        zip([n for n, _ in described] if counts else [], values[1 : 1 + len(counts)], strict=True)
    )
    facts = iter(values[1 + len(counts) :])
    casts: dict[str, str] = {}
    for name, sql_type, tests in checked:
        found = (count_of[name], *(next(facts) for _ in tests))
        expression = _cast(fmt, name, sql_type, rows, found)
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
