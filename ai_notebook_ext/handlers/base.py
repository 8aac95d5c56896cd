"""Base of the REST handlers: JSON in and out, the error format, identity, pagination.

Handlers stay thin: parse and validate the request, call a service, write JSON.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import responses
from typing import TYPE_CHECKING, Any, TypeVar

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from pydantic import BaseModel, ValidationError
from tornado.web import HTTPError

from .. import logs, metrics
from ..errors import (
    ApiError,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
)
from ..events import origin
from ..projects.schemas import INT_MAX, PAGE_MAX
from ..projects.users import Actor, actor_for
from ..ratelimit import retry_after
from .query import Param, boolean, integer

if TYPE_CHECKING:
    from ..services import Services

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])

MAX_ID = INT_MAX
DEFAULT_LIMIT = 50
LIMIT = integer(f"Page size (default {DEFAULT_LIMIT}).", 1, PAGE_MAX, default=DEFAULT_LIMIT)
OFFSET = integer("Items to skip (default 0).", 0, MAX_ID, default=0)
PAGING: dict[str, Param | str] = {"limit": LIMIT, "offset": OFFSET}

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

api_log = logging.getLogger("ai_notebook_ext.api")


@dataclass
class Operation:
    """OpenAPI metadata of one handler method."""

    summary: str
    body: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    # A Param (query.py) is both the schema and the server's parser; a plain description
    # is documented as an integer (text if named in text_query), required if it says so.
    query: dict[str, Param | str] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    text_query: tuple[str, ...] = ()  # query parameters that are text, not integers
    raw_body: str | None = None  # media type of a raw (streamed) request body
    also: tuple[int, ...] = ()  # other success statuses with the same body (?wait=true: 200)
    media: str = "application/json"  # media type of the success body
    etag: bool = False  # answers carry an ETag; If-None-Match naming it gets a 304


def operation(summary: str, **kwargs: Any) -> Callable[[F], F]:
    """Attach OpenAPI metadata to a handler method (the document is built from it)."""

    def attach(method: F) -> F:
        method._operation = Operation(summary, **kwargs)  # type: ignore[attr-defined]
        return method

    return attach


def _field_name(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def validation_error(exc: ValidationError) -> BadRequest:
    """A 400 whose message names the first offending field."""
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        name = _field_name(err["loc"])
        if err["type"] == "extra_forbidden":
            message = f"unknown field {name!r}"
        elif err["type"] == "missing":
            message = f"field {name!r} is required"
        else:
            message = f"field {name!r}: {err['msg']}"
        errors.append({"field": name, "type": err["type"], "message": message})
    return BadRequest(errors[0]["message"], details={"errors": errors})


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number")
    return value


def error_code(status: int) -> str:
    """A snake_case code for an HTTP status, e.g. 405 -> method_not_allowed."""
    return responses.get(status, "error").lower().replace(" ", "_").replace("-", "_")


class CallerMixin:
    """The services and the caller as a user row, for REST handlers and sockets."""

    current_user: Any
    extensionapp: Any

    @property
    def services(self) -> Services:
        return self.extensionapp.services  # type: ignore[no-any-return]

    async def actor(self) -> Actor:
        """The caller as a user row of our store (created on first sight)."""
        cached: Actor | None = getattr(self, "_actor", None)
        if cached is not None:
            return cached
        identity = self.current_user
        username = identity.username
        display = getattr(identity, "display_name", "") or getattr(identity, "name", "") or ""
        if self.services.local_username:  # single-user server: the token holder is its user
            username = display = self.services.local_username
        actor = self.services.actors.get(username, display)
        if actor is None:
            async with self.services.db.session() as session:
                actor = await actor_for(
                    session, username, display, is_admin=username in self.services.admin_users
                )
            self.services.actors.put(actor)
        self._actor = actor
        return actor

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Client errors are expected: log them briefly, not as tracebacks."""
        handler: Any = self
        if isinstance(value, ApiError):
            handler.log.info(
                "%s %s -> %d %s",
                handler.request.method,
                handler.request.path,
                value.status,
                value.message,
            )
        elif logs.enabled():
            api_log.error(
                "uncaught exception %s %s",
                handler.request.method,
                handler.request.path,
                exc_info=(typ, value, tb),
            )
        else:
            super().log_exception(typ, value, tb)  # type: ignore[misc]

    def check_rate(self, route_class: str) -> None:
        """Spend one request of the caller's ``route_class`` budget (AINotebookApp.
        rate_limits), or raise 429 with Retry-After. Unauthenticated callers are refused
        later by @authenticated, without spending anyone's budget."""
        limiter = getattr(self.extensionapp, "rate_limiter", None)
        identity = self.current_user
        if limiter is None or not identity:
            return
        services = getattr(self.extensionapp, "services", None)
        user = (services.local_username if services else None) or identity.username
        wait = limiter.take(user, route_class)
        if not wait:
            return
        metrics.RATE_LIMITED.labels(route_class).inc()
        limit = limiter.limits[route_class]
        seconds = retry_after(wait)
        exc = TooManyRequests(
            f"too many {route_class} requests: the limit is {limit.rate:g} per second "
            f"(bursts of {limit.burst:g}); retry in {seconds} s",
            retry_after=wait,
            details={"route_class": route_class},
        )
        exc.headers["Retry-After"] = str(seconds)
        raise exc

    def error_json(self, status_code: int, exc: BaseException | None) -> dict[str, Any]:
        """The body of an error answer: ``{"error": {"code", "message", "details"}}``
        (sets the status and headers an ApiError asks for)."""
        handler: Any = self
        if isinstance(exc, ApiError):
            handler.set_status(exc.status)
            for name, value in exc.headers.items():
                handler.set_header(name, value)
            return exc.to_json()
        if isinstance(exc, HTTPError) and status_code == 403 and not self.current_user:
            body = ApiError(
                "not authenticated: log in, or send the header 'Authorization: token <token>'"
            ).to_json()
            body["error"]["code"] = "unauthenticated"
        elif isinstance(exc, HTTPError):
            message = exc.log_message % exc.args if exc.log_message else exc.reason
            body = ApiError(message or responses.get(status_code, "error")).to_json()
            body["error"]["code"] = error_code(status_code)
        else:
            body = ApiError("internal server error; the server log has the details").to_json()
            body["error"]["code"] = "internal_error"
        return body


class ApiHandler(CallerMixin, ExtensionHandlerMixin, APIHandler):
    """Base of every ai_notebook_ext REST handler."""

    # The rate limit bucket of this handler's writes (POST, PUT, PATCH, DELETE); reads
    # (GET, HEAD) spend the caller's "read" budget.
    rate_class = "write"
    request_id = ""
    error_code = ""  # the code of the error answered, for the access line

    def set_default_headers(self) -> None:
        """Every answer, errors included, names its request (X-Request-Id): the id the
        client sent if it is plain, else a new one; JSON log lines carry it."""
        super().set_default_headers()
        if not self.request_id:
            self.request_id = logs.new_request_id(self.request.headers.get("X-Request-Id"))
        self.set_header("X-Request-Id", self.request_id)

    def route_class(self) -> str:
        """The rate limit class of this request."""
        return "read" if self.request.method in READ_METHODS else self.rate_class

    async def prepare(self) -> None:  # type: ignore[override]
        # Events this request causes name the client it came from (X-AINB-Client).
        origin.set_client(self.request.headers.get(origin.HEADER))
        logs.bind(request_id=self.request_id)
        await super().prepare()
        self.check_rate(self.route_class())

    def _log(self) -> None:
        """Jupyter's access log puts every 5xx at error level, with request headers. Our
        own 503 (nothing configured yet, the server stopping) is an expected answer, not a
        fault of the server: one info line (the metrics are recorded all the same)."""
        if self.get_status() == 503 and self.error_code == ServiceUnavailable.code:
            from jupyter_server.prometheus.log_functions import prometheus_log_method

            prometheus_log_method(self)
            self.log.info(
                "503 %s %s (%.2fms)",
                self.request.method,
                self.request.path,
                self.request.request_time() * 1000,
            )
            return
        super()._log()

    def on_finish(self) -> None:
        """With JSON logs, one access line per request (path without the query: a token
        may be there)."""
        super().on_finish()
        if not logs.enabled():
            return
        status = self.get_status()
        identity = getattr(self, "_jupyter_current_user", None)
        services = getattr(self.extensionapp, "services", None)
        user = (services.local_username if services and identity else None) or getattr(
            identity, "username", None
        )
        fields = {
            "method": self.request.method,
            "path": self.request.path,
            "status": status,
            "ms": round(self.request.request_time() * 1000, 2),
            "user": user,
        }
        if self.error_code:
            fields["error"] = self.error_code
        api_log.log(
            logging.WARNING if status >= 500 else logging.INFO,
            "%s %s %d",
            self.request.method,
            self.request.path,
            status,
            extra={"request_id": self.request_id, "fields": fields},
        )

    def body(self, model: type[M]) -> M:
        """The JSON request body validated against ``model`` (400 otherwise)."""
        raw = self.request.body or b""
        if len(raw) > self.services.max_request_bytes:
            raise PayloadTooLarge(
                f"request body is {len(raw)} bytes; the limit is "
                f"{self.services.max_request_bytes} (AINotebookApp.max_request_bytes)"
            )
        if not raw.strip():
            raise BadRequest("request body is empty; send a JSON object")
        try:
            data = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError and ours below
            raise BadRequest(f"request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise BadRequest("request body is nested too deeply") from None
        if not isinstance(data, dict):
            raise BadRequest("request body must be a JSON object")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise validation_error(exc) from None

    def int_query(self, name: str, default: int | None, lo: int, hi: int) -> int:
        """An integer query argument within [lo, hi] (400 otherwise)."""
        param = integer("", lo, hi, default=default, required=default is None)
        return param.read(name, self.get_query_argument(name, None))  # type: ignore[no-any-return]

    def bool_query(self, name: str) -> bool:
        """A true/false query argument (absent: false)."""
        return boolean("").read(name, self.get_query_argument(name, None))  # type: ignore[no-any-return]

    def query_arg(self, name: str) -> Any:
        """Query argument ``name`` parsed by the Param this method's @operation declares
        for it (so the server reads it exactly as the OpenAPI document says)."""
        method = getattr(type(self), self.request.method.lower())  # type: ignore[union-attr]
        param = method._operation.query[name]
        return param.read(name, self.get_query_argument(name, None))

    def page(self) -> tuple[int, int]:
        """``limit`` and ``offset`` query arguments."""
        return (
            LIMIT.read("limit", self.get_query_argument("limit", None)),
            OFFSET.read("offset", self.get_query_argument("offset", None)),
        )

    @staticmethod
    def path_id(raw: str, what: str) -> int:
        """A numeric id from the URL; anything else names no resource (404)."""
        # ASCII digits only: str.isdigit() also accepts '³' (int() fails: a 500) and
        # int() accepts other scripts' digits ('١٢'), which name no resource either.
        if raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ID:
            if what == "project":  # log lines of this request name the project
                logs.PROJECT_ID.set(int(raw))
            return int(raw)
        raise NotFound(f"{what} {raw!r} not found")

    def reply(self, payload: Any, status: int = 200) -> None:
        """Write a pydantic model (or plain JSON data) as the response."""
        self.set_status(status)
        if isinstance(payload, BaseModel):
            self.finish(payload.model_dump_json())
        else:
            self.finish(json.dumps(payload))

    def no_content(self) -> None:
        self.set_status(204)
        self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error body is ``{"error": {"code", "message", "details"}}``."""
        self.set_header("Content-Type", "application/json")
        exc = kwargs.get("exc_info", (None, None, None))[1]
        body = self.error_json(status_code, exc)
        self.error_code = body["error"]["code"]
        self.finish(json.dumps(body))


class NotFoundHandler(ApiHandler):
    """JSON 404 for any unknown path under the API prefix (after authentication)."""

    auth_resource = "ai_notebook_ext:api"

    def _unknown(self) -> None:
        raise NotFound(
            f"no API route {self.request.method} {self.request.path}; "
            "see the OpenAPI document at ai-notebook/api/openapi.json"
        )

    @tornado.web.authenticated
    @authorized
    async def get(self, *args: str) -> None:
        self._unknown()

    post = put = patch = delete = get
