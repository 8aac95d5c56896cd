"""REST handler of a project's workspace: everything a client shows, in one answer."""

from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..workspace.schemas import WorkspaceOut
from .base import ApiHandler, operation


class WorkspaceHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:projects"

    @operation(
        "The project with the caller's role, every block with its state (fresh, stale with "
        "the reason, never-run, queued, running, failed, skipped; null for markdown) and "
        "last run with outputs, the DAG's edges and the kernel, in one answer.",
        response=WorkspaceOut,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        self.reply(await self.services.workspace.get(await self.actor(), pid))
