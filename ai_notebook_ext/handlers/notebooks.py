"""REST handlers importing a notebook as a project and exporting a project as a notebook."""

from __future__ import annotations

from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from pydantic import Field

from ..projects.schemas import Input, Name, ProjectOut
from .base import ApiHandler, operation


class NotebookImport(Input):
    notebook: dict[str, Any] = Field(description="The .ipynb document (nbformat 4, or older).")
    name: Name | None = Field(
        default=None, description="Project name; default: the notebook's title or first heading."
    )


class NotebookImportHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:projects"

    @operation(
        "Import a notebook as a new project: cells become blocks, code cell outputs the "
        "blocks' last runs. The caller owns the project.",
        body=NotebookImport,
        response=ProjectOut,
        status=201,
        errors=(),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body(NotebookImport)
        project = await self.services.notebooks.import_notebook(
            await self.actor(), data.notebook, data.name
        )
        self.reply(project, 201)


class NotebookExportHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:projects"

    @operation(
        "The project as a .ipynb notebook (nbformat 4): blocks in order, code cells with the "
        "outputs of their last run.",
        response=None,
        media="application/x-ipynb+json",
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        filename, text = await self.services.notebooks.export_notebook(await self.actor(), pid)
        self.set_header("Content-Type", "application/x-ipynb+json")
        self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        self.write(text)
        await self.flush()  # headers go out now: APIHandler.finish would make them JSON's
        self.finish()
