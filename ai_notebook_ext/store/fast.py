"""Hot-path Core statements run straight on SQLite's DBAPI cursor.

SQLAlchemy spends about 80-100 µs of Python on each execution of even a cached statement
(execution context, parameter and result setup); SQLite answers a statement on a local file
in less. A statement marked with ``fast()`` is compiled once per dialect and set of
parameter names by SQLAlchemy itself (``Plan``), so the SQL and the bind and result
processing (UTC timestamps, JSON) are SQLAlchemy's, and executed with ``cursor.execute``
on the connection's own DBAPI connection, inside the transaction SQLAlchemy opened. Only
inline SQLite connections (``inline.InlineConnection``) take this path; on PostgreSQL the
same statements run on ``pgdirect.py``'s connections with the same ``Plan``.

Column defaults: scalar ones are filled in from the plan; a computed one (a Python
function, a SQL expression) must be given by the caller, else the plan refuses the
statement with a TypeError.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Delete, Insert, Select, Update
from sqlalchemy.sql.dml import UpdateBase

FAST = "ai_notebook_fast"
_REQUIRED = object()

StatementT = Select[Any] | Insert | Update | Delete


def fast(statement: StatementT) -> StatementT:
    """Mark a statement for the inline SQLite fast path."""
    if not isinstance(statement, Select | Insert | Update | Delete):
        raise TypeError("only SELECT, INSERT, UPDATE and DELETE statements can be fast")
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


class Plan:
    """One statement compiled once by SQLAlchemy for one dialect and the parameter names
    a call gives: SQL text, parameters in the driver's order with their bind processing,
    scalar column defaults, and result processing. Shared by the SQLite fast path and
    PostgreSQL's direct connections (``pgdirect.py``)."""

    def __init__(self, statement: Any, keys: list[str], dialect: Dialect) -> None:
        done = statement.compile(dialect=dialect, column_keys=keys)
        self.sql = done.string
        self.dialect = dialect
        defaults = {}
        prefetch = [(c, c.default) for c in done.insert_prefetch]
        prefetch += [(c, c.onupdate) for c in done.update_prefetch]
        for column, default in prefetch:
            if column.key in keys:
                continue
            if default is None or not default.is_scalar:
                raise TypeError(f"column {column.key!r} has a computed default: give it")
            defaults[column.key] = default.arg
        self.positional = done.positiontup is not None
        self.names = list(done.positiontup if self.positional else done.binds)
        self.slots = bind_slots(done, self.names, dialect, defaults)
        if isinstance(statement, Select):
            columns = list(statement.selected_columns)
        elif isinstance(statement, UpdateBase):
            columns = list(done.returning or [])
        else:
            raise TypeError("only SELECT, INSERT, UPDATE and DELETE statements")
        self.columns = columns
        self.row = (
            namedtuple("Row", [str(c.key) for c in columns], rename=True) if columns else None  # type: ignore[misc]
        )
        self._processors: list[Callable[[Any], Any] | None] | None = None

    def values(self, params: Mapping[str, Any]) -> list[Any] | dict[str, Any]:
        """The call's parameters for the driver: a list (qmark) or a dict (pyformat)."""
        values = bound_values(self.slots, params)
        return values if self.positional else dict(zip(self.names, values, strict=True))

    def processors(self, description: Any) -> list[Callable[[Any], Any] | None]:
        """Result processing per column (the driver's type codes, known after the first
        execution, pick PostgreSQL's; SQLite's are None)."""
        if self._processors is None:
            self._processors = [
                c.type.dialect_impl(self.dialect).result_processor(self.dialect, d[1])
                for c, d in zip(self.columns, description or (), strict=True)
            ]
        return self._processors


_plans: dict[tuple[int, str, tuple[str, ...]], tuple[Any, Plan]] = {}


def plan(statement: Any, params: Mapping[str, Any], dialect: Dialect) -> Plan:
    """The statement compiled for this dialect and these parameter names (cached)."""
    key = (id(statement), dialect.name, tuple(params))
    entry = _plans.get(key)
    if entry is None or entry[0] is not statement:
        entry = _plans[key] = (statement, Plan(statement, list(params), dialect))
    return entry[1]


class FastResult:
    """The part of a CursorResult the hot paths use: ``first()``, ``scalar_one()``,
    ``rowcount``, and ``tuples()`` (which a CursorResult lacks: callers check for a
    FastResult)."""

    def __init__(self, cursor: Any, plan: Plan) -> None:
        self.cursor = cursor
        self.plan = plan
        self.rowcount: int = cursor.rowcount

    def first(self) -> Any:
        raw = self.cursor.fetchone()
        self.cursor.close()
        if raw is None:
            return None
        make = self.plan.row
        assert make is not None
        return make(*self._processed(raw))

    def scalar_one(self) -> Any:
        raws = self.cursor.fetchall()
        self.cursor.close()
        if not raws:
            raise exc.NoResultFound("no row was found when one was required")
        if len(raws) > 1:
            raise exc.MultipleResultsFound("multiple rows were found when one was required")
        return next(iter(self._processed(raws[0])))

    def tuples(self) -> list[tuple[Any, ...]]:
        """Every row as a plain tuple of processed values (no named rows: cheaper)."""
        raws = self.cursor.fetchall()
        self.cursor.close()
        if not any(self.plan.processors(self.cursor.description)):
            return raws  # type: ignore[no-any-return]
        return [tuple(self._processed(raw)) for raw in raws]

    def _processed(self, raw: Any) -> Any:
        processors = self.plan.processors(self.cursor.description)
        return (p(v) if p else v for p, v in zip(processors, raw, strict=True))


def is_fast(statement: Any) -> bool:
    options = getattr(statement, "get_execution_options", None)
    return bool(options is not None and options().get(FAST))


def execute(connection: Connection, statement: Any, params: Mapping[str, Any]) -> Any:
    """Run a ``fast`` statement on the DBAPI connection behind ``connection``."""
    dialect = connection.dialect
    compiled = plan(statement, params, dialect)
    values = compiled.values(params)
    dbapi = connection.connection.driver_connection
    try:
        cursor = dbapi.execute(compiled.sql, values)  # type: ignore[union-attr]
    except dialect.loaded_dbapi.Error as error:
        raise exc.DBAPIError.instance(
            compiled.sql, values, error, dialect.loaded_dbapi.Error, dialect=dialect
        ) from error
    return FastResult(cursor, compiled)
