"""Request bodies streamed to a staging file (dataset uploads, bundle imports): memory
stays flat whatever the size, the size limit is checked before the first byte is
accepted, and an aborted or finished request leaves no file behind."""

from __future__ import annotations

import copy
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..datasets.storage import Staging
from ..errors import PayloadTooLarge

CHUNK = 1 << 20


class StreamedBody:
    """Mixin of ``@tornado.web.stream_request_body`` API handlers (before ApiHandler in
    the bases): before a POST's body, the caller is authenticated and authorized, then
    ``before_body`` runs the handler's own checks and calls ``self.start_body(...)``."""

    request: Any  # these three are the handler's (annotations only)
    services: Any
    set_header: Any
    staging: Staging | None = None
    body_read = False  # the whole body arrived (the handler method runs only then)

    _admit: Any  # async (): the handler method's checks, run before the body streams

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Each handler class gets its own ``_admit``: ``@authorized`` keeps the first
        resource it sees in its closure, so one shared function would check every
        handler against the first one's ``auth_resource``."""
        super().__init_subclass__(**kwargs)

        async def admit(self: Any) -> None:
            """Runs the same checks as the handler method, before the body streams."""

        cls._admit = tornado.web.authenticated(authorized(admit))

    async def prepare(self) -> None:
        await super().prepare()  # type: ignore[misc]
        if self.request.method == "POST":
            await self._admit()
            await self.before_body()

    async def before_body(self) -> None:
        """The handler's checks of the request before its body is accepted."""
        raise NotImplementedError

    def start_body(self, limit: int, setting: str, what: str) -> None:
        """Refuse a declared length over ``limit`` (413, naming the trait ``setting``),
        then let the body stream into a staging file, in 1 MiB pieces."""
        length = self.request.headers.get("Content-Length", "")
        if length.isascii() and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(
                f"the {what} is {int(length)} bytes; the limit is {limit} (AINotebookApp.{setting})"
            )
        connection: Any = self.request.connection
        connection.set_max_body_size(limit)
        # Read this body in 1 MiB pieces, not tornado's 64 KiB: 16x fewer Python calls.
        connection.params = copy.copy(connection.params)
        connection.params.chunk_size = CHUNK
        connection.stream.read_chunk_size = CHUNK
        self.staging = Staging(self.services.staging_dir)

    async def data_received(self, chunk: bytes) -> None:  # type: ignore[override]
        if self.staging is not None:
            await self.staging.write(chunk)  # waits when the disk falls behind

    def on_connection_close(self) -> None:
        """An aborted request leaves nothing behind."""
        if self.staging is not None:
            self.staging.discard()
        super().on_connection_close()  # type: ignore[misc]

    def on_finish(self) -> None:
        if self.staging is not None:
            self.staging.discard()
        super().on_finish()  # type: ignore[misc]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A request refused before its body was read ends its connection (tornado closes
        it rather than read the rest): say so, so the client does not reuse it."""
        if not self.body_read:
            self.set_header("Connection", "close")
        super().write_error(status_code, **kwargs)  # type: ignore[misc]
