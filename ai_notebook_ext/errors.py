"""Errors a service raises for the caller to see; handlers turn them into JSON 4xx bodies.

Every error has an HTTP status, a stable machine-readable ``code``, a message a person
can act on, and optional ``details``.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Base of all errors shown to API clients."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers: dict[str, str] = {}  # extra response headers (e.g. Retry-After)

    def to_json(self) -> dict[str, Any]:
        """The body ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(ApiError):
    """Malformed or invalid input."""

    status = 400
    code = "invalid_request"


class Forbidden(ApiError):
    """The caller may see the resource but lacks the role for this action."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    """No such resource, or the caller may not know it exists."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The request conflicts with the current state (stale version, duplicate, cycle)."""

    status = 409
    code = "conflict"


class Unprocessable(ApiError):
    """The request is valid but the stored data cannot give what it asks for."""

    status = 422
    code = "unprocessable"


class PayloadTooLarge(ApiError):
    """The request body exceeds a configured limit."""

    status = 413
    code = "payload_too_large"


class ServiceUnavailable(ApiError):
    """The server cannot take this now (it is stopping); retrying later works."""

    status = 503
    code = "unavailable"


class TooManyRequests(ApiError):
    """The caller's rate limit is spent; Retry-After says when to come back."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, details: dict | None = None) -> None:
        super().__init__(message, details={"retry_after": round(retry_after, 3), **(details or {})})
        self.headers = {"Retry-After": str(max(1, int(retry_after + 0.999)))}


class UpstreamError(ApiError):
    """An AI provider failed or refused; the message says what to do."""

    status = 502
    code = "upstream_error"


class UpstreamTimeout(ApiError):
    """An AI provider did not answer in time."""

    status = 504
    code = "upstream_timeout"
