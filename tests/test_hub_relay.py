"""Two project hubs joined as two servers' are (``servers/relay.py`` carries the same
calls over PostgreSQL; tests/test_multiserver.py runs that end to end): what one hub
publishes, revokes or changes reaches the other's subscribers, once."""

from __future__ import annotations

import json
from typing import Any

from ai_notebook_ext.events.feed import ProjectFeed
from ai_notebook_ext.events.hub import Hub


class Socket:
    def __init__(self, username: str, role: str) -> None:
        self.username, self.display_name, self.role = username, username, role
        self.got: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None

    def send(self, text: str) -> None:
        self.got.append(json.loads(text))

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def types(self) -> list[str]:
        return [e["type"] for e in self.got]


class Wire:
    """Hands each change to the other hubs, as the NOTIFY channel does (the sender's own
    copy is dropped there, so it is not sent back here)."""

    def __init__(self, *hubs: Hub) -> None:
        self.hubs = hubs
        self.sent: list[tuple[str, int]] = []
        for hub in hubs:
            hub.relay = _End(self, hub)


class _End:
    def __init__(self, wire: Wire, hub: Hub) -> None:
        self.wire, self.hub = wire, hub
        self.peers = True

    def send(self, kind: str, project_id: int, data: dict[str, Any]) -> None:
        self.wire.sent.append((kind, project_id))
        decoded = json.loads(json.dumps(data))  # what goes over the wire is JSON
        for other in self.wire.hubs:
            if other is not self.hub:
                other.apply(kind, project_id, decoded)


def test_events_revocations_and_roles_cross_hubs_once():
    a, b = Hub(), Hub()
    wire = Wire(a, b)
    ann_a, ann_b, bob_b = Socket("ann", "owner"), Socket("ann", "owner"), Socket("bob", "viewer")
    other_project = Socket("eve", "owner")
    a.join(1, ann_a)
    b.join(1, ann_b)
    b.join(1, bob_b)
    b.join(2, other_project)
    assert a.listening(7)  # someone on another server may listen: events are built
    for sock in (ann_a, ann_b, bob_b, other_project):
        sock.got.clear()

    feed = ProjectFeed(a)
    feed.block_deleted(1, 5, "ann")
    assert ann_a.types() == ["block-deleted"]
    assert ann_b.types() == ["block-deleted"]
    assert bob_b.types() == ["block-deleted"]
    assert other_project.got == []  # other projects' members get nothing

    class Project:  # a pydantic-like model for project_changed
        def model_dump(self, mode: str) -> dict[str, Any]:
            return {"id": 1, "name": "renamed"}

    feed.project_changed(1, Project(), "ann")  # type: ignore[arg-type]
    roles = {s.username: s.got[-1]["project"]["role"] for s in (ann_b, bob_b)}
    assert roles == {"ann": "owner", "bob": "viewer"}
    assert ann_a.got[-1]["project"] == {"id": 1, "name": "renamed", "role": "owner"}

    feed.members_changed(1, "ann", removed="bob")
    assert bob_b.closed == (4403, "removed from the project")
    assert b.epoch(1) == 1  # a socket being opened on b checks its access again
    feed.members_changed(1, "ann", role=("ann", "editor"))
    assert ann_b.role == "editor"
    assert ann_a.role == "editor"

    before = len(ann_b.got)
    b.publish(1, {"type": "x"})
    assert len(ann_b.got) == before + 1
    assert ann_a.got[-1] == {"type": "x"}
    assert [k for k, _ in wire.sent].count("publish") == 4  # each change sent once
