"""REST handlers of projects."""

from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..projects.schemas import Page, ProjectCreate, ProjectOut, ProjectUpdate
from .base import PAGING, ApiHandler, operation

__all__ = ["PAGING", "ProjectHandler", "ProjectsHandler"]


class ProjectsHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:projects"

    @operation(
        "List the caller's projects, most recently changed first.",
        response=Page[ProjectOut],
        query=PAGING,
    )
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        limit, offset = self.page()
        self.reply(await self.services.projects.list(await self.actor(), limit, offset))

    @operation(
        "Create a project; the caller becomes its owner.",
        body=ProjectCreate,
        response=ProjectOut,
        status=201,
    )
    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body(ProjectCreate)
        self.reply(await self.services.projects.create(await self.actor(), data), 201)


class ProjectHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:projects"

    @operation("Get a project.", response=ProjectOut, errors=(404,))
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        self.reply(await self.services.projects.get(await self.actor(), pid))

    @operation(
        "Rename or describe a project (editor).",
        body=ProjectUpdate,
        response=ProjectOut,
        errors=(403, 404),
    )
    @tornado.web.authenticated
    @authorized
    async def patch(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        data = self.body(ProjectUpdate)
        self.reply(await self.services.projects.update(await self.actor(), pid, data))

    @operation(
        "Delete a project with its blocks and memberships (owner).", status=204, errors=(403, 404)
    )
    @tornado.web.authenticated
    @authorized
    async def delete(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        await self.services.projects.delete(await self.actor(), pid)
        self.no_content()
