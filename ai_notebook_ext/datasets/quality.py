"""Data-quality rules, evaluated by DuckDB on a whole dataset version.

Kinds: ``not_null``, ``unique``, ``range`` (min and/or max, inclusive), ``allowed_values``,
``regex`` (RE2 full match, so no catastrophic backtracking), ``row_count`` (min and/or
max) and ``sql``: a boolean expression every row must satisfy, with named ``$params``
bound by DuckDB, never pasted into the text. Custom SQL runs on a private copy of the
version with file, network and extension access switched off and the configuration
locked, so it can only look at the version's own rows.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from .formats import connect, materialize
from .profile import ident, jsonable
from .readoptions import ReadOptions

KINDS = ("not_null", "unique", "range", "allowed_values", "regex", "row_count", "sql")
NEEDS_COLUMN = ("not_null", "unique", "range", "allowed_values", "regex")
SAMPLE = 5
RULE_TIME_LIMIT = 30.0  # seconds; the server passes AINotebookApp.dataset_rule_time_limit
PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class RuleError(ValueError):
    """A rule that cannot be saved; the message says which part is wrong."""


@dataclass(frozen=True)
class Rule:
    """One check (``id`` is None until stored)."""

    kind: str
    column: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


def validate(rule: Rule) -> None:
    """Refuse a rule whose parts do not fit its kind."""
    p = rule.params
    if rule.kind not in KINDS:
        raise RuleError(f"kind must be one of {', '.join(KINDS)}")
    if rule.kind in NEEDS_COLUMN and not rule.column:
        raise RuleError(f"a {rule.kind} rule needs a column")
    if rule.kind not in NEEDS_COLUMN and rule.column:
        raise RuleError(f"a {rule.kind} rule takes no column")
    allowed = {
        "not_null": set(),
        "unique": set(),
        "range": {"min", "max"},
        "allowed_values": {"values"},
        "regex": {"pattern"},
        "row_count": {"min", "max"},
        "sql": {"predicate", "params"},
    }[rule.kind]
    extra = set(p) - allowed
    if extra:
        raise RuleError(f"a {rule.kind} rule has no parameter(s) {', '.join(sorted(extra))}")
    if rule.kind in ("range", "row_count"):
        if "min" not in p and "max" not in p:
            raise RuleError(f"a {rule.kind} rule needs min, max or both")
        for key in ("min", "max"):
            if key in p and (isinstance(p[key], bool) or not isinstance(p[key], int | float)):
                raise RuleError(f"{key} must be a number")
        if "min" in p and "max" in p and p["min"] > p["max"]:
            raise RuleError("min is greater than max")
    if rule.kind == "allowed_values":
        values = p.get("values")
        if not isinstance(values, list) or not values or len(values) > 10_000:
            raise RuleError("values must be a list of 1 to 10000 values")
        if any(isinstance(v, dict | list) for v in values):
            raise RuleError("values must be numbers, text, booleans or null")
    if rule.kind == "regex":
        pattern = p.get("pattern")
        if not isinstance(pattern, str) or not pattern or len(pattern) > 1000:
            raise RuleError("pattern must be a regular expression of 1 to 1000 characters")
    if rule.kind == "sql":
        _check_sql(p)


def _check_sql(p: dict[str, Any]) -> None:
    predicate = p.get("predicate")
    if not isinstance(predicate, str) or not predicate.strip() or len(predicate) > 5000:
        raise RuleError("predicate must be a SQL boolean expression of 1 to 5000 characters")
    if ";" in predicate or "--" in predicate or "/*" in predicate:
        raise RuleError("predicate must be one expression, without ';' or comments")
    if not _balanced(predicate):
        raise RuleError("predicate has unbalanced parentheses or quotes")
    params = p.get("params", {})
    if not isinstance(params, dict) or len(params) > 50:
        raise RuleError("params must be an object of at most 50 named values")
    for name, value in params.items():
        if not PARAM.match(name):
            raise RuleError(f"parameter name {name!r} is not an identifier")
        if isinstance(value, dict | list):
            raise RuleError(f"parameter {name!r} must be a number, text, boolean or null")
    con = connect("64MB", 1)
    try:
        _lock_down(con)
        con.execute("CREATE TABLE t (x INTEGER)")
        # PREPARE parses and binds without running anything.
        con.execute(f"PREPARE check_rule AS {_failing_sql(predicate)}")
    except Exception as exc:  # the parser's or binder's reason, for the rule's author
        message = str(exc).split("\n\nLINE", 1)[0]
        if "Referenced column" in message or "not found in FROM clause" in message:
            return  # columns are checked against each version, not here
        raise RuleError(f"predicate: {message}") from None
    finally:
        con.close()


def _failing_sql(predicate: str) -> str:
    return f"SELECT count(*) FROM t WHERE NOT coalesce(({predicate}), false)"


def _balanced(text: str) -> bool:
    """Parentheses balance outside quotes, so the predicate stays one expression."""
    depth, quote = 0, ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""  # a doubled quote re-opens at once: the same result
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not quote


def _lock_down(con: Any) -> None:
    con.execute("SET max_temp_directory_size = '2GB'")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


def evaluate(
    path: str,
    fmt: str,
    rules: list[Rule],
    options: ReadOptions | None = None,
    time_limit: float = RULE_TIME_LIMIT,
) -> list[dict[str, Any]]:
    """Each rule's outcome on the file (read with ``options``, the types pandas gives
    it): passed, failing rows, a sample, a message. A rule still running after
    ``time_limit`` seconds is interrupted and fails; the next rule runs."""
    if not rules:
        return []
    con = connect()
    try:
        materialize(con, path, fmt, options)
        con.execute("DROP VIEW IF EXISTS data")
        _lock_down(con)
        names = {r[0] for r in con.execute("DESCRIBE t").fetchall()}
        (rows,) = con.execute("SELECT count(*) FROM t").fetchone()
        return [_timed(con, rule, names, rows, time_limit) for rule in rules]
    finally:
        con.close()


def _timed(con: Any, rule: Rule, names: set[str], rows: int, time_limit: float) -> dict[str, Any]:
    """``_one`` with a watchdog that interrupts DuckDB after ``time_limit`` seconds."""
    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        con.interrupt()

    watchdog = threading.Timer(time_limit, stop)
    watchdog.daemon = True
    watchdog.start()
    try:
        out = _one(con, rule, names, rows)
    finally:
        watchdog.cancel()
    if stopped.is_set():
        return {
            "rule_id": rule.id,
            "kind": rule.kind,
            "column": rule.column,
            "passed": False,
            "failing_rows": None,
            "message": f"stopped after {time_limit:g} s: the rule took longer than its time "
            "limit (AINotebookApp.dataset_rule_time_limit)",
        }
    return out


def _one(con: Any, rule: Rule, names: set[str], rows: int) -> dict[str, Any]:
    out: dict[str, Any] = {"rule_id": rule.id, "kind": rule.kind, "column": rule.column}
    if rule.column is not None and rule.column not in names:
        return {
            **out,
            "passed": False,
            "failing_rows": None,
            "message": f"column {rule.column!r} does not exist in this version",
        }
    try:
        failing, sample, message = _check(con, rule, rows)
    except Exception as exc:  # a custom predicate that does not fit this version
        reason = str(exc).split("\n\nLINE", 1)[0]
        return {**out, "passed": False, "failing_rows": None, "message": reason}
    return {
        **out,
        "passed": failing == 0,
        "failing_rows": failing,
        "sample": [jsonable(v) for v in sample],
        "message": message if failing else "ok",
    }


def _check(con: Any, rule: Rule, rows: int) -> tuple[int, list[Any], str]:
    p = rule.params
    col = ident(rule.column) if rule.column else ""
    if rule.kind == "row_count":
        low, high = p.get("min"), p.get("max")
        bad = (low is not None and rows < low) or (high is not None and rows > high)
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        return int(bad), [rows] if bad else [], f"{rows} rows, expected {bounds}"
    if rule.kind == "unique":
        failing = con.execute(
            f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM t "
            f"WHERE {col} IS NOT NULL GROUP BY {col} HAVING count(*) > 1)"
        ).fetchone()[0]
        sample = con.execute(
            f"SELECT {col} FROM t WHERE {col} IS NOT NULL GROUP BY {col} "
            f"HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT {SAMPLE}"
        ).fetchall()
        return int(failing), [s[0] for s in sample], f"{failing} rows share a value"
    condition, params, message = _condition(rule, col)
    (failing,) = con.execute(f"SELECT count(*) FROM t WHERE {condition}", params).fetchone()
    sample_col = col or "*"
    sample = con.execute(
        f"SELECT {sample_col} FROM t WHERE {condition} LIMIT {SAMPLE}", params
    ).fetchall()
    values = [s[0] if len(s) == 1 else dict(zip(_names(con), s, strict=False)) for s in sample]
    return int(failing), values, f"{failing} rows {message}"


def _names(con: Any) -> list[str]:
    return [r[0] for r in con.execute("DESCRIBE t").fetchall()]


def _condition(rule: Rule, col: str) -> tuple[str, Any, str]:
    """A WHERE clause selecting the failing rows, its parameters, what failing means."""
    p = rule.params
    if rule.kind == "not_null":
        return f"{col} IS NULL", [], "are null"
    if rule.kind == "range":
        parts, params = [], []
        if "min" in p:
            parts.append(f"{col} < ?")
            params.append(p["min"])
        if "max" in p:
            parts.append(f"{col} > ?")
            params.append(p["max"])
        return f"{col} IS NOT NULL AND ({' OR '.join(parts)})", params, "are out of range"
    if rule.kind == "allowed_values":
        values = [v for v in p["values"] if v is not None]
        nulls_ok = None in p["values"]
        listed = f"list_contains(?, {col}::VARCHAR)"
        condition = f"({col} IS NULL AND NOT ?) OR ({col} IS NOT NULL AND NOT {listed})"
        texts = [("true" if v else "false") if isinstance(v, bool) else str(v) for v in values]
        return condition, [nulls_ok, texts], "hold other values"
    if rule.kind == "regex":
        condition = f"{col} IS NOT NULL AND NOT regexp_full_match({col}::VARCHAR, ?)"
        return condition, [p["pattern"]], "do not match the pattern"
    assert rule.kind == "sql"
    if not _balanced(p["predicate"]):  # stored before this check existed
        raise RuleError("predicate has unbalanced parentheses or quotes")
    return f"NOT coalesce(({p['predicate']}), false)", p.get("params", {}), "fail the predicate"
