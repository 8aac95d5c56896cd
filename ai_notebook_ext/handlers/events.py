"""The project's event socket: ``GET /projects/{id}/events`` upgraded to a WebSocket.

Authenticated (``@ws_authenticated``) and authorized (``@authorized``, resource
``ai_notebook_ext:events``) as Jupyter's own ``/api/events/subscribe``; then only members
of the project (admins too) get past the upgrade: others get the REST API's JSON 404.
Once open, the socket is a subscriber of the project hub: a ``hello`` first, then the
project's events as JSON text frames, one per frame. The client may send
``{"type": "ping"}`` and gets ``{"type": "pong"}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..errors import ApiError, NotFound
from ..events.feed import REMOVED
from ..projects.access import caller_role
from .base import ApiHandler, CallerMixin, error_code, operation

log = logging.getLogger(__name__)


def _observe(future: Any) -> None:
    """Retrieve a failed write's exception (the socket closed meanwhile: nothing to do)."""
    if not future.cancelled():
        future.exception()


class ProjectEventsSocket(
    CallerMixin, ExtensionHandlerMixin, WebSocketMixin, WebSocketHandler, JupyterHandler
):
    """One member's live view of a project (a subscriber of the project hub)."""

    auth_resource = "ai_notebook_ext:events"
    project_id = 0
    username = display_name = role = ""
    _open = False

    def set_default_headers(self) -> None:
        """No page headers on a socket (as Jupyter's kernel sockets)."""

    def get_compression_options(self) -> dict[str, Any] | None:
        return self.settings.get("websocket_compression_options", None)  # type: ignore[no-any-return]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Refusals before the upgrade are JSON errors, as in the REST API."""
        self.set_header("Content-Type", "application/json")
        exc = kwargs.get("exc_info", (None, None, None))[1]
        self.finish(json.dumps(self.error_json(status_code, exc)))

    def finish(self, chunk: Any = None) -> Any:
        """Tornado's own refusals of an upgrade (not a WebSocket request, a bad Connection
        header, a cross-origin one, 426 for an unknown protocol version) are plain text
        or empty: they become JSON errors too."""
        status = self.get_status()
        is_json = self._headers.get("Content-Type", "").startswith("application/json")
        if self.ws_connection is None and status >= 400 and not is_json:
            message = chunk if isinstance(chunk, str) and chunk else self._reason
            body = ApiError(message).to_json()
            body["error"]["code"] = error_code(status)
            self.set_header("Content-Type", "application/json")
            chunk = json.dumps(body)
        return super().finish(chunk)

    @operation(
        "A WebSocket (send Upgrade: websocket) of the project's live events for its members: "
        'first {"type": "hello", "project_id", "role", "username", "presence"}, then one JSON '
        "event per text frame: block-created, block-changed, block-deleted, blocks-moved, "
        "outputs-cleared, edge-added, edge-removed (with actor and client, the "
        "X-AINB-Client header of the request that caused them), run-status, run-output, "
        "kernel-status, pipeline-block, "
        "dataset-version, dataset-report, dag-changed, presence, members-changed, "
        'project-changed, project-deleted. Send {"type": "ping"} for a pong. A member '
        "who is removed has their sockets closed (code 4403); a deleted project closes "
        "them with 4404.",
        status=101,
        errors=(404, 426),
    )
    @ws_authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        self.check_rate("read")  # a connect is a read, limited as the REST API's
        pid = ApiHandler.path_id(project_id, "project")
        epoch = self.services.hub.epoch(pid)
        await self._admit(pid)
        self._epoch = epoch
        await super().get(project_id)

    async def _admit(self, project_id: int) -> None:
        """The caller's role, or the REST API's 404 for non-members and unknown projects."""
        actor = await self.actor()
        async with self.services.db.session() as session:
            _, role = await caller_role(session, actor, project_id)
        self.project_id, self.role = project_id, role
        self.username, self.display_name = actor.username, actor.display_name

    async def open(self, project_id: str) -> None:  # type: ignore[override]
        super().open()  # keep-alive pings
        hub = self.services.hub
        if hub.epoch(self.project_id) != self._epoch:  # access changed while upgrading
            try:
                await self._admit(self.project_id)
            except NotFound:
                self.close(REMOVED, "not a member of the project")
                return
        self._open = True
        hello = {
            "type": "hello",
            "project_id": self.project_id,
            "role": self.role,
            "username": self.username,
        }
        hub.join(self.project_id, self, hello)

    def on_message(self, message: str | bytes) -> None:
        try:
            data = json.loads(message)
        except ValueError:
            return
        if isinstance(data, dict) and data.get("type") == "ping":
            self.send('{"type":"pong"}')

    def on_close(self) -> None:
        self._open = False
        self.services.hub.leave(self.project_id, self)  # nothing if it was revoked

    # --- Subscriber ------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Queue one event frame (a closed socket drops it)."""
        if not self._open or self.ws_connection is None or self.ws_connection.is_closing():
            return
        with contextlib.suppress(WebSocketClosedError):
            self.write_message(text).add_done_callback(_observe)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Close the socket; nothing is sent on it after this."""
        self._open = False
        super().close(code, reason)
