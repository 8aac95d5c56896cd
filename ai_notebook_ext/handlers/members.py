"""REST handlers of project members."""

from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..errors import NotFound
from ..projects.schemas import USERNAME_MAX, MemberAdd, MemberOut, MemberUpdate, Page, storable_text
from .base import PAGING, ApiHandler, operation


class MembersHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:members"

    @operation("List a project's members.", response=Page[MemberOut], query=PAGING, errors=(404,))
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        limit, offset = self.page()
        self.reply(await self.services.members.list(await self.actor(), pid, limit, offset))

    @operation(
        "Add a member with a role (owner).",
        body=MemberAdd,
        response=MemberOut,
        status=201,
        errors=(403, 404, 409),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        data = self.body(MemberAdd)
        self.reply(await self.services.members.add(await self.actor(), pid, data), 201)


class MemberHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:members"

    @staticmethod
    def username(raw: str) -> str:
        """A username from the URL; one that cannot exist names no member (404)."""
        try:
            if 0 < len(raw) <= USERNAME_MAX:
                return storable_text(raw)
        except ValueError:
            pass
        raise NotFound(f"no member {raw[:USERNAME_MAX]!r}")

    @operation(
        "Change a member's role (owner); the last owner cannot be demoted.",
        body=MemberUpdate,
        response=MemberOut,
        errors=(403, 404, 409),
    )
    @tornado.web.authenticated
    @authorized
    async def patch(self, project_id: str, username: str) -> None:
        pid = self.path_id(project_id, "project")
        data = self.body(MemberUpdate)
        self.reply(
            await self.services.members.update(
                await self.actor(), pid, self.username(username), data
            )
        )

    @operation(
        "Remove a member (owner, or members removing themselves); the last owner stays.",
        status=204,
        errors=(403, 404, 409),
    )
    @tornado.web.authenticated
    @authorized
    async def delete(self, project_id: str, username: str) -> None:
        pid = self.path_id(project_id, "project")
        await self.services.members.remove(await self.actor(), pid, self.username(username))
        self.no_content()
