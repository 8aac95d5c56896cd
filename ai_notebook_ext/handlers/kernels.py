"""REST handlers of a project's kernel: state, start, interrupt, restart, shutdown."""

from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..execution.schemas import KernelOut
from .base import ApiHandler, operation


class KernelHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:kernels"

    @operation(
        "The project kernel's state, generation, last reset and queue.",
        response=KernelOut,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        self.reply(await self.services.runs.control.state(await self.actor(), pid))

    @operation(
        "Start the project's kernel unless it runs (editor); answers once it is ready, with "
        "its Jupyter kernel_id (a client may attach a notebook session to it).",
        response=KernelOut,
        errors=(403, 404, 503),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        self.reply(await self.services.runs.control.start(await self.actor(), pid))

    @operation(
        "Shut the project's kernel down (editor); state is lost.",
        status=204,
        errors=(403, 404, 409),
    )
    @tornado.web.authenticated
    @authorized
    async def delete(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        await self.services.runs.control.act(await self.actor(), pid, "shutdown")
        self.no_content()


class KernelInterruptHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:kernels"

    @operation(
        "Interrupt what the project's kernel is running (editor).",
        response=KernelOut,
        errors=(403, 404, 409),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        self.reply(await self.services.runs.control.act(await self.actor(), pid, "interrupt"))


class KernelRestartHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:kernels"

    @operation(
        "Restart the project's kernel (editor); state is lost.",
        response=KernelOut,
        errors=(403, 404, 409),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        self.reply(await self.services.runs.control.act(await self.actor(), pid, "restart"))
