"""Structured JSON logs (``AINotebookApp.log_json``) and the ids they carry.

Context variables hold the request id, run id and project id of the work in progress:
the REST handlers set the request id (and the project id when a path names one), the
run worker sets a run's ids while it works on it, so every record logged meanwhile, in
that task or a thread it hands work to, says which request and run it belongs to. With
``log_json`` on, the ``ai_notebook_ext`` loggers write one JSON object per line to
stderr; configured secrets are masked in them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any, TextIO

ROOT = "ai_notebook_ext"
HANDLER_NAME = "ai_notebook_ext.json"
MASK = "***"

REQUEST_ID: ContextVar[str | None] = ContextVar("ainb_request_id", default=None)
RUN_ID: ContextVar[int | None] = ContextVar("ainb_run_id", default=None)
PROJECT_ID: ContextVar[int | None] = ContextVar("ainb_project_id", default=None)
_VARS: dict[str, ContextVar[Any]] = {
    "request_id": REQUEST_ID,
    "run_id": RUN_ID,
    "project_id": PROJECT_ID,
}

# A request id a client (or a proxy in front) sent is kept if it is this tame.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_enabled = False


def new_request_id(incoming: str | None = None) -> str:
    """The client's ``X-Request-Id`` if it is short and plain, else a new random id."""
    if incoming and _CLIENT_ID.fullmatch(incoming):
        return incoming
    return os.urandom(8).hex()


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def bind(**ids: Any) -> list[tuple[ContextVar[Any], Token[Any]]]:
    """Set ids (request_id, run_id, project_id) for the current context; ``unbind`` the
    returned tokens to restore the previous ones."""
    return [(_VARS[name], _VARS[name].set(value)) for name, value in ids.items()]


def unbind(tokens: list[tuple[ContextVar[Any], Token[Any]]]) -> None:
    for var, token in reversed(tokens):
        var.reset(token)


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """``with bound(run_id=7, project_id=2): ...``"""
    tokens = bind(**ids)
    try:
        yield
    finally:
        unbind(tokens)


def enabled() -> bool:
    """Whether JSON logs are on (extra records, such as access lines, are worth making)."""
    return _enabled


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the ids known, the
    ``fields`` given as ``extra``, the exception; the given secrets masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, var in _VARS.items():
            value = getattr(record, name, None)
            if value is None:
                value = var.get()
            if value is not None:
                data[name] = value
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update({k: v for k, v in fields.items() if k not in data})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        text = json.dumps(data, default=str, ensure_ascii=False)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


def configure(on: bool, secrets: Iterable[str] = (), stream: TextIO | None = None) -> None:
    """Turn JSON logs of the ``ai_notebook_ext`` loggers on or off (idempotent: a second
    server in the process replaces the first one's handler)."""
    global _enabled
    logger = logging.getLogger(ROOT)
    for handler in [h for h in logger.handlers if h.name == HANDLER_NAME]:
        logger.removeHandler(handler)
        if _enabled:
            logger.propagate = True
    _enabled = on
    if not on:
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.name = HANDLER_NAME
    handler.setFormatter(JsonFormatter(secrets))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    logger.propagate = False  # not also as plain text through the root logger
