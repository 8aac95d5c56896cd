"""Project events across servers on one PostgreSQL: LISTEN/NOTIFY.

Every publication of the project hub (and every revocation and role change, so that a
removed member's sockets close on every server) goes out as a NOTIFY on ``CHANNEL``
carrying this server's id; every server LISTENs on a dedicated psycopg connection
(reconnected when it drops) and hands what other servers sent to its own hub
(``Hub.apply``), which fans it out to its subscribers: the project's members there. Its
own notifications come back too and are dropped (no echo).

A NOTIFY payload is limited to 8000 bytes: a bigger message is stored in
``event_payloads`` and the notification names its row, in one statement; the registry
prunes those rows after a minute. When the listening connection drops, what other
servers sent meanwhile is lost: once it is back, this server's project sockets are
closed (1012, "reconnect"), so that clients reconnect, reload and have their access
checked again (a removal on another server may have been missed). Notifications go out
in order from one task on a second dedicated connection; a message that cannot be sent
after a few tries (the database is away) is dropped with a warning, as events to a
closed socket are.

Nothing is sent while no other server lives (``peers``: the registry counts them at
every heartbeat; a starting server says ``hello`` on the channel so that the others
know at once), so one server on PostgreSQL pays nothing for the relay.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import URL

from ..events.hub import Event, Hub, encode
from ..store import Database
from ..store.server_models import EventPayload

log = logging.getLogger(__name__)

CHANNEL = "ai_notebook_events"
NOTIFY_MAX = 7900  # bytes; PostgreSQL refuses payloads of 8000 and more
QUEUE_MAX = 10_000
SEND_TRIES = 3
RECONNECT = 1012  # close code of sockets after the listener lost its connection
PING_EVERY = 30.0  # seconds without notifications before the listener checks its connection

NOTIFY = "SELECT pg_notify(%s, %s)"
NOTIFY_STORED = (
    "WITH p AS (INSERT INTO event_payloads (payload, created_at) "
    "VALUES (%s::json, now()) RETURNING id) "
    "SELECT pg_notify(%s, json_build_object('s', %s::text, 'r', (SELECT id FROM p))::text)"
)


def conninfo(url: URL) -> str:
    """A libpq connection URI of the database (psycopg's own, not SQLAlchemy's)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class EventRelay:
    """This server's end of the cross-server event channel (a ``hub.Relay``)."""

    def __init__(self, db: Database, server_id: str, hub: Hub, retry: float = 1.0) -> None:
        self.db = db
        self.server_id = server_id
        self.hub = hub
        self.retry = retry
        self.conninfo = conninfo(db.url)
        self.listening = asyncio.Event()  # set while LISTEN is in place
        self._out: asyncio.Queue[str] = asyncio.Queue(QUEUE_MAX)
        self._tasks: list[asyncio.Future[None]] = []
        self._conn: Any = None  # the sending connection (psycopg AsyncConnection)
        self.peers = False  # other servers live (set by the registry and by their hello)

    def start(self) -> None:
        """Relay the hub's events from now on (needs the running event loop)."""
        self.hub.relay = self
        self._tasks = [asyncio.ensure_future(self._listen()), asyncio.ensure_future(self._send())]
        self._out.put_nowait(encode({"s": self.server_id, "k": "hello"}))

    def set_peers(self, present: bool) -> None:
        """Whether other servers live (the registry's count at each heartbeat)."""
        self.peers = present

    async def stop(self, flush: float = 2.0) -> None:
        """Stop relaying; what is queued still goes out (``flush`` seconds at most)."""
        self.hub.relay = None
        if self._tasks:
            try:
                await asyncio.wait_for(self._out.join(), flush)
            except TimeoutError:
                log.warning("ai_notebook_ext: stopping with cross-server events unsent")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    # --- out ---------------------------------------------------------------------------

    def send(self, kind: str, project_id: int, data: Event) -> None:
        """Queue a hub change for the other servers (no await: the hub calls this)."""
        if not self.peers:
            return
        text = encode({"s": self.server_id, "k": kind, "p": project_id, "d": data})
        try:
            self._out.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("ai_notebook_ext: cross-server event queue full; an event is dropped")

    async def _send(self) -> None:
        try:
            while True:
                text = await self._out.get()
                await self._notify(text)
                self._out.task_done()
        finally:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

    async def _notify(self, text: str) -> None:
        """Send one message on the sending connection (made again when it broke)."""
        import psycopg

        for attempt in range(SEND_TRIES):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True
                    )
                if len(text.encode()) <= NOTIFY_MAX:
                    await self._conn.execute(NOTIFY, (CHANNEL, text))
                else:
                    await self._conn.execute(NOTIFY_STORED, (text, CHANNEL, self.server_id))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("ai_notebook_ext: sending a cross-server event: %s", exc)
                if self._conn is not None:
                    await self._conn.close()
                self._conn = None
                if attempt + 1 < SEND_TRIES:
                    await asyncio.sleep(self.retry)

    # --- in ----------------------------------------------------------------------------

    async def _listen(self) -> None:
        import psycopg

        lost = False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    if lost:
                        lost = False
                        self.hub.close_all(RECONNECT, "events may have been missed; reconnect")
                    while True:
                        async for note in conn.notifies(timeout=PING_EVERY):
                            await self._receive(note.payload)
                        await conn.execute("SELECT 1")  # still there?
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.listening.clear()
                lost = True
                log.warning(
                    "ai_notebook_ext: listening for other servers' events: %s; again in %g s",
                    exc,
                    self.retry,
                )
                await asyncio.sleep(self.retry)

    async def _receive(self, payload: str) -> None:
        """A notification: another server's hub change goes to this server's hub."""
        try:
            message = json.loads(payload)
            if message.get("s") == self.server_id:
                return  # our own, back from the channel
            self.peers = True
            if message.get("k") == "hello":
                return
            if "r" in message:
                message = await self._stored(int(message["r"]))
                if message is None:
                    return
            self.hub.apply(str(message["k"]), int(message["p"]), message["d"])
        except Exception:
            log.exception("ai_notebook_ext: a cross-server event could not be handled")

    async def _stored(self, payload_id: int) -> dict[str, Any] | None:
        async with self.db.connection() as conn:
            row = (
                await conn.execute(
                    select(EventPayload.payload).where(EventPayload.id == payload_id)
                )
            ).first()
        if row is None:
            log.warning("ai_notebook_ext: a big cross-server event was pruned before it was read")
            return None
        payload = row[0]
        return json.loads(payload) if isinstance(payload, str) else payload
