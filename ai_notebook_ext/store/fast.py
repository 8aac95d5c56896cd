"""Hot-path Core statements run straight on SQLite's DBAPI cursor.

SQLAlchemy spends about 80-100 µs of Python on each execution of even a cached statement
(execution context, parameter and result setup); SQLite answers a statement on a local file
in less. Three statements sit between a block's kernel reply and the client's answer
(``execution/statements.py``). A statement marked with ``fast()`` is compiled once per
dialect by SQLAlchemy itself, so the SQL and the bind and result processing (UTC
timestamps, JSON) are SQLAlchemy's, and executed with ``cursor.execute`` on the
connection's own DBAPI connection, inside the transaction SQLAlchemy opened. Only inline
SQLite connections (``inline.InlineConnection``) take this path; on PostgreSQL the same
statement runs through SQLAlchemy as usual.

Eligible: SELECTs, and UPDATEs and DELETEs without column defaults. Not INSERTs, whose
column defaults SQLAlchemy computes on each execution (``fast`` refuses them).

PostgreSQL's counterpart is ``pgdirect.py``.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Delete, Select, Update

FAST = "ai_notebook_fast"
_REQUIRED = object()

StatementT = Select[Any] | Update | Delete


def fast(statement: StatementT) -> StatementT:
    """Mark a statement for the inline SQLite fast path."""
    if not isinstance(statement, Select | Update | Delete):
        raise TypeError("only SELECT, UPDATE and DELETE statements can be fast")
    table = getattr(statement, "table", None)
    if table is not None and any(c.onupdate is not None for c in table.columns):
        raise TypeError(f"{table.name} has column defaults on update: not eligible")
    return statement.execution_options(**{FAST: True})


Slot = tuple[str, Callable[[Any], Any] | None, Any]  # name, bind processor, default


def bind_slots(
    compiled: Any, names: Any, dialect: Dialect, defaults: Mapping[str, Any] | None = None
) -> list[Slot]:
    """Each named parameter of a compiled statement with SQLAlchemy's bind processing and
    its value when a call leaves it out (a literal's, ``defaults``, or required)."""
    slots = []
    for name in names:
        bind = compiled.binds[name]
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        default = _REQUIRED if bind.required else bind.value
        slots.append((name, processor, (defaults or {}).get(name, default)))
    return slots


def bound_values(slots: list[Slot], params: Mapping[str, Any]) -> list[Any]:
    """The parameters' values for the driver, processed, in the slots' order."""
    out = []
    for name, processor, default in slots:
        value = params.get(name, default)
        if value is _REQUIRED:
            raise exc.ArgumentError(f"a value is required for bind parameter {name!r}")
        out.append(processor(value) if processor is not None else value)
    return out


class _Plan:
    """One statement compiled for one dialect: SQL text, parameter order and processors."""

    def __init__(self, statement: StatementT, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.positiontup is None:
            raise TypeError(f"dialect {dialect.name} does not use positional parameters")
        self.sql = compiled.string
        self.slots = bind_slots(compiled, compiled.positiontup, dialect)
        self.row: Any = None
        self.result_processors: list[Callable[[Any], Any] | None] = []
        if isinstance(statement, Select):
            columns = list(statement.selected_columns)
            self.row = namedtuple("Row", [c.key for c in columns])  # type: ignore[misc]
            self.result_processors = [
                c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
            ]

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        return bound_values(self.slots, params)


class FastResult:
    """The part of a CursorResult the hot paths use: ``first()``, ``rowcount``, and
    ``tuples()`` (which a CursorResult lacks: callers check for a FastResult)."""

    def __init__(self, cursor: Any, plan: _Plan) -> None:
        self.cursor = cursor
        self.plan = plan
        self.rowcount: int = cursor.rowcount

    def first(self) -> Any:
        raw = self.cursor.fetchone()
        self.cursor.close()
        if raw is None:
            return None
        return self._row(raw)

    def tuples(self) -> list[tuple[Any, ...]]:
        """Every row as a plain tuple of processed values (no named rows: cheaper)."""
        raws = self.cursor.fetchall()
        self.cursor.close()
        processors = self.plan.result_processors
        if not any(processors):
            return raws  # type: ignore[no-any-return]
        return [
            tuple(p(v) if p else v for p, v in zip(processors, raw, strict=True)) for raw in raws
        ]

    def _row(self, raw: Any) -> Any:
        processors = self.plan.result_processors
        return self.plan.row(*(p(v) if p else v for p, v in zip(processors, raw, strict=True)))


_plans: dict[tuple[int, str], tuple[StatementT, _Plan]] = {}


def is_fast(statement: Any) -> bool:
    options = getattr(statement, "get_execution_options", None)
    return bool(options is not None and options().get(FAST))


def execute(connection: Connection, statement: StatementT, params: Mapping[str, Any]) -> Any:
    """Run a ``fast`` statement on the DBAPI connection behind ``connection``."""
    dialect = connection.dialect
    key = (id(statement), dialect.name)
    entry = _plans.get(key)
    if entry is None or entry[0] is not statement:
        entry = _plans[key] = (statement, _Plan(statement, dialect))
    plan = entry[1]
    values = plan.values(params)
    dbapi = connection.connection.driver_connection
    try:
        cursor = dbapi.execute(plan.sql, values)  # type: ignore[union-attr]
    except dialect.loaded_dbapi.Error as error:
        raise exc.DBAPIError.instance(
            plan.sql, values, error, dialect.loaded_dbapi.Error, dialect=dialect
        ) from error
    return FastResult(cursor, plan)
