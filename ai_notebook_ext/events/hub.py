"""The project hub: services publish a project's events, its members' sockets get them.

A subscriber is one open socket of a member. ``publish`` serialises an event once and
hands the text to every subscriber of the project, nobody else. ``revoke`` closes the
sockets of a user who lost access (or of everyone, when the project goes) before anything
else is published, and bumps the project's epoch so that a socket being opened at that
moment checks its access again. Presence (who has the project open) is published to all
of a project's subscribers whenever it changes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from .. import metrics
from .presence import presence

log = logging.getLogger(__name__)

Event = dict[str, Any]


class Subscriber(Protocol):
    """One open socket of a project member."""

    username: str
    display_name: str
    role: str

    def send(self, text: str) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


def encode(event: Event) -> str:
    return json.dumps(event, default=str, separators=(",", ":"))


class Hub:
    """Fans project events out to the project's subscribers."""

    def __init__(self) -> None:
        self._subs: dict[int, list[Subscriber]] = {}
        self._epochs: dict[int, int] = {}

    # --- subscriptions -------------------------------------------------------------

    def join(self, project_id: int, sub: Subscriber, hello: Event | None = None) -> None:
        """Add a subscriber; ``hello`` (with the presence, it included) is its first event,
        the others get the new presence."""
        before = self.presence(project_id)
        if hello is not None:
            sub.send(
                encode({**hello, "presence": presence([*self._subs.get(project_id, ()), sub])})
            )
        self._presence_changed(project_id, before, after=[sub])
        self._subs.setdefault(project_id, []).append(sub)

    def leave(self, project_id: int, sub: Subscriber) -> None:
        subs = self._subs.get(project_id)
        if not subs or sub not in subs:
            return
        before = self.presence(project_id)
        subs.remove(sub)
        if not subs:
            del self._subs[project_id]
        self._presence_changed(project_id, before)

    def listening(self, project_id: int) -> bool:
        """Whether anyone has the project open (events for nobody need not be built)."""
        return project_id in self._subs

    def presence(self, project_id: int) -> list[dict[str, str]]:
        return presence(self._subs.get(project_id, ()))

    def epoch(self, project_id: int) -> int:
        """Counts revocations of access to the project."""
        return self._epochs.get(project_id, 0)

    # --- events --------------------------------------------------------------------

    def publish(
        self,
        project_id: int,
        event: Event,
        personal: Callable[[Subscriber], Event] | None = None,
    ) -> None:
        """Send ``event`` to the project's subscribers; ``personal`` builds a subscriber's
        own version instead (e.g. with their role)."""
        subs = self._subs.get(project_id)
        if not subs:
            return
        shared = encode(event) if personal is None else None
        metrics.event_sent(str(event.get("type")), "members", len(subs))
        for sub in list(subs):
            try:
                sub.send(shared if shared is not None else encode(personal(sub)))  # type: ignore[misc]
            except Exception:
                log.exception("ai_notebook_ext: sending an event of project %s", project_id)

    def revoke(self, project_id: int, username: str | None, code: int, reason: str) -> None:
        """Close the sockets of ``username`` (None: everyone) on the project at once."""
        self._epochs[project_id] = self.epoch(project_id) + 1
        subs = self._subs.get(project_id, [])
        gone = [s for s in subs if username is None or s.username == username]
        if not gone:
            return
        before = self.presence(project_id)
        for sub in gone:
            subs.remove(sub)
        if not subs:
            self._subs.pop(project_id, None)
        for sub in gone:
            try:
                sub.close(code, reason)
            except Exception:
                log.exception("ai_notebook_ext: closing a socket of project %s", project_id)
        if username is not None:
            self._presence_changed(project_id, before)

    def set_role(self, project_id: int, username: str, role: str) -> None:
        for sub in self._subs.get(project_id, ()):
            if sub.username == username:
                sub.role = role

    def _presence_changed(
        self,
        project_id: int,
        before: list[dict[str, str]],
        after: list[Subscriber] = (),  # type: ignore[assignment]
    ) -> None:
        """Publish the presence if it changed (``after``: joining, not yet subscribed)."""
        now = presence([*self._subs.get(project_id, ()), *after])
        if now != before:
            self.publish(project_id, {"type": "presence", "presence": now})
