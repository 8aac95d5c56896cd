"""What services tell a project's members about changes to its content and membership.

Every change event names its ``actor`` (username) and the ``client`` id of the request
that caused it (``X-AINB-Client``), so a client can tell its own echoes apart. Services
call these after their transaction committed; without a hub (the command line) they do
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from . import origin

if TYPE_CHECKING:
    from .hub import Hub

REMOVED = 4403  # close code of the sockets of a member who was removed
DELETED = 4404  # close code when the project was deleted


def _json(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


class ProjectFeed:
    """Typed announcements of project changes, published on the hub."""

    def __init__(self, hub: Hub | None = None) -> None:
        self.hub = hub

    def _change(self, project_id: int, kind: str, actor: str | None, **fields: Any) -> None:
        if self.hub is None or not self.hub.listening(project_id):
            return
        event = {"type": kind, **fields, "actor": actor, "client": origin.client()}
        self.hub.publish(project_id, event)

    def blocks_created(self, project_id: int, blocks: Iterable[BaseModel], actor: str) -> None:
        for block in blocks:
            self._change(project_id, "block-created", actor, block=_json(block))

    def block_changed(self, project_id: int, block: BaseModel, actor: str) -> None:
        self._change(project_id, "block-changed", actor, block=_json(block))

    def block_deleted(self, project_id: int, block_id: int, actor: str) -> None:
        self._change(project_id, "block-deleted", actor, block_id=block_id)

    def blocks_moved(self, project_id: int, order: list[int], actor: str) -> None:
        self._change(project_id, "blocks-moved", actor, order=order)

    def outputs_cleared(self, project_id: int, block_ids: list[int], actor: str) -> None:
        self._change(project_id, "outputs-cleared", actor, block_ids=block_ids)

    def edge_added(self, project_id: int, edge: BaseModel, actor: str) -> None:
        self._change(project_id, "edge-added", actor, edge=_json(edge))

    def edge_removed(self, project_id: int, edge_id: int, actor: str) -> None:
        self._change(project_id, "edge-removed", actor, edge_id=edge_id)

    def members_changed(
        self,
        project_id: int,
        actor: str,
        *,
        removed: str | None = None,
        role: tuple[str, str] | None = None,
    ) -> None:
        """``removed``: a user who lost access (their sockets close first); ``role``: a
        (username, new role) change."""
        if self.hub is None:
            return
        if removed is not None:
            self.hub.revoke(project_id, removed, REMOVED, "removed from the project")
        if role is not None:
            self.hub.set_role(project_id, *role)
        self._change(project_id, "members-changed", actor)

    def project_changed(self, project_id: int, project: BaseModel, actor: str) -> None:
        if self.hub is None or not self.hub.listening(project_id):
            return
        event = {"type": "project-changed", "project": _json(project), "actor": actor}
        # each member sees their own role
        self.hub.publish_with_role(project_id, {**event, "client": origin.client()}, "project")

    def project_deleted(self, project_id: int, actor: str) -> None:
        if self.hub is None:
            return
        self._change(project_id, "project-deleted", actor)
        self.hub.revoke(project_id, None, DELETED, "the project was deleted")
