"""REST handlers of a project's DAG and its explicit edges."""

from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..dag.schemas import DagOut, EdgeCreate, EdgeOut
from .base import ApiHandler, operation


class DagHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:dag"

    @operation(
        "The project's DAG: code blocks with their state (never-run, fresh, stale, running, "
        "failed), names and parse errors; inferred edges with the names that cause them, and "
        "explicit edges.",
        response=DagOut,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        self.reply(await self.services.dag.get(await self.actor(), pid))


class EdgesHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:dag"

    @operation(
        "Add an explicit edge: source runs before target (editor). 409 if it exists or would "
        "create a cycle (the blocks on the cycle are in error.details.cycle).",
        body=EdgeCreate,
        response=EdgeOut,
        status=201,
        errors=(403, 404, 409),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        data = self.body(EdgeCreate)
        edge = await self.services.dag.add_edge(await self.actor(), pid, data.source, data.target)
        self.reply(edge, 201)


class EdgeHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:dag"

    @operation("Remove an explicit edge (editor).", status=204, errors=(403, 404))
    @tornado.web.authenticated
    @authorized
    async def delete(self, project_id: str, edge_id: str) -> None:
        pid, eid = self.path_id(project_id, "project"), self.path_id(edge_id, "edge")
        await self.services.dag.remove_edge(await self.actor(), pid, eid)
        self.no_content()
