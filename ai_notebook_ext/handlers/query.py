"""Query parameters declared once: the OpenAPI schema and the server's parsing come from
the same object, so the document cannot be looser or stricter than the server.

An operation names them in ``@operation(query={"limit": LIMIT, ...})`` and the handler
reads them with ``self.query_arg("limit")``; a value the schema refuses is a 400 naming
the parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..errors import BadRequest

TRUE, FALSE = ("true", "1"), ("false", "0")


def _bad(name: str, message: str) -> BadRequest:
    return BadRequest(f"query parameter {name!r} {message}", details={"field": name})


@dataclass(frozen=True)
class Param:
    """One query parameter: its JSON schema, whether it is required, and its parser
    (raw text -> value, raising BadRequest); an absent optional one is ``default``."""

    description: str
    schema: dict[str, Any]
    parse: Callable[[str, str], Any] = field(compare=False)
    required: bool = False
    default: Any = None

    def read(self, name: str, raw: str | None) -> Any:
        """The value of ``?name=raw`` (raw None: absent)."""
        if raw is None:
            if self.required:
                raise _bad(name, "is required")
            return self.default
        return self.parse(name, raw)


def integer(
    description: str, lo: int, hi: int, *, default: int | None = None, required: bool = False
) -> Param:
    """An integer in [lo, hi], ASCII digits only (int() would take other scripts')."""

    def parse(name: str, raw: str) -> int:
        body = raw[1:] if raw[:1] == "-" else raw
        if not (body.isascii() and body.isdigit()):
            raise _bad(name, f"must be an integer, got {raw!r}")
        value = int(raw)
        if not lo <= value <= hi:
            raise _bad(name, f"must be between {lo} and {hi}, got {value}")
        return value

    schema: dict[str, Any] = {"type": "integer", "minimum": lo, "maximum": hi}
    if default is not None:
        schema["default"] = default
    return Param(description, schema, parse, required, default)


def boolean(description: str) -> Param:
    """true or false (1 or 0 also; exactly these, lower case); absent: false."""

    def parse(name: str, raw: str) -> bool:
        if raw not in TRUE + FALSE:
            raise _bad(name, f"must be true or false, got {raw!r}")
        return raw in TRUE

    doc = f"{description} true or false (1 and 0 are taken too)."
    return Param(doc, {"type": "boolean", "default": False}, parse, default=False)


def choice(description: str, values: Sequence[str]) -> Param:
    """One of a fixed set of words; absent: None."""

    def parse(name: str, raw: str) -> str:
        if raw not in values:
            raise _bad(name, f"must be one of {', '.join(values)}")
        return raw

    return Param(description, {"type": "string", "enum": list(values)}, parse)


def text(
    description: str,
    *,
    max_length: int | None = None,
    min_length: int = 0,
    pattern: str | None = None,
    check: Callable[[str], bool] | None = None,
    required: bool = False,
) -> Param:
    """Text of a bounded length; ``pattern`` (a JSON Schema regex) documents what
    ``check`` (the server's test) accepts."""

    def parse(name: str, raw: str) -> str:
        if len(raw) < min_length or (max_length is not None and len(raw) > max_length):
            raise _bad(name, f"must be {min_length}-{max_length or 'any number of'} characters")
        if check is not None and not check(raw):
            raise _bad(name, f"is not valid: {description}")
        return raw

    schema: dict[str, Any] = {"type": "string", "minLength": min_length}
    if max_length is not None:
        schema["maxLength"] = max_length
    if pattern is not None:
        schema["pattern"] = pattern
    return Param(description, schema, parse, required)


def typed(description: str, adapter: TypeAdapter[Any], *, required: bool = False) -> Param:
    """Text validated by a pydantic type (the schema is the type's JSON schema)."""

    def parse(name: str, raw: str) -> Any:
        try:
            return adapter.validate_python(raw)
        except ValidationError as exc:
            reason = exc.errors(include_url=False)[0]["msg"]
            raise _bad(name, f"is not valid: {reason}") from None

    return Param(description, adapter.json_schema(), parse, required)
