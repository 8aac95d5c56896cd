"""Which client caused a change: the ``X-AINB-Client`` header of the request in progress.

Handlers set it when a request starts; services read it when they announce a change, so
every event the request causes carries ``"client": <id>`` and a client can recognise its
own echoes. A context variable: each request runs in a task of its own.
"""

from __future__ import annotations

from contextvars import ContextVar

HEADER = "X-AINB-Client"
MAX_LENGTH = 128

_client: ContextVar[str | None] = ContextVar("ainb_client", default=None)


def clean(raw: str | None) -> str | None:
    """A client id as sent, or None if absent or not short printable ASCII."""
    if not raw:
        return None
    value = raw.strip()
    if not value or len(value) > MAX_LENGTH or not value.isascii() or not value.isprintable():
        return None
    return value


def set_client(raw: str | None) -> None:
    """Remember the current request's client id (None: no header)."""
    _client.set(clean(raw))


def client() -> str | None:
    """The client id of the request in progress, if it sent one."""
    return _client.get()
