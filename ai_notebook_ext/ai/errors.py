"""Provider errors in a few kinds, each with a message that says what to do."""

from __future__ import annotations

KINDS = (
    "not_configured",
    "auth",
    "rate_limited",
    "unavailable",
    "timeout",
    "bad_request",
    "content_filtered",
)


class ProviderError(Exception):
    """A call to a provider failed; ``kind`` is one of KINDS."""

    def __init__(
        self,
        kind: str,
        provider: str,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        assert kind in KINDS, kind
        self.kind = kind
        self.provider = provider
        self.message = message
        self.retry_after = retry_after
        self.status = status

    @property
    def retryable(self) -> bool:
        """Worth another attempt (or another provider): the service, not the request."""
        return self.kind in ("rate_limited", "unavailable", "timeout")

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}"
