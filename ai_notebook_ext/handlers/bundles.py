"""Project bundles over HTTP: the export streamed out of a temporary zip, the import's
body streamed into a staging file (size checked before the first byte is accepted)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from urllib.parse import quote

import tornado.web
from jupyter_server.auth.decorator import authorized
from pydantic import TypeAdapter, ValidationError

from ..errors import BadRequest
from ..projects.schemas import Name, ProjectOut
from .base import ApiHandler, operation
from .streamed import StreamedBody

RESOURCE = "ai_notebook_ext:projects"
CHUNK = 1 << 20
NAME: TypeAdapter[str] = TypeAdapter(Name)


def disposition(filename: str) -> str:
    """An attachment header any client reads: an ASCII name, and the UTF-8 one (RFC 6266)."""
    plain = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}"


class BundleExportHandler(ApiHandler):
    auth_resource = RESOURCE

    @operation(
        "The project as one bundle (a zip): its blocks, edges, datasets with every version "
        "and their bytes, runs with their outputs and artifacts, pipeline runs. Viewers may "
        "export; POST /projects/bundle imports it.",
        response=None,
        media="application/zip",
        errors=(404, 422),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        filename, path = await self.services.bundles.export(await self.actor(), pid)
        try:
            source = path.open("rb")
        finally:
            with contextlib.suppress(OSError):  # the open file stays readable (POSIX)
                os.unlink(path)
        with source:
            self.set_header("Content-Type", "application/zip")
            self.set_header("Content-Disposition", disposition(filename))
            self.set_header("Content-Length", str(os.fstat(source.fileno()).st_size))
            while chunk := await asyncio.to_thread(source.read, CHUNK):
                self.write(chunk)
                await self.flush()  # a slow client holds back reading, not memory
            self.finish()


@tornado.web.stream_request_body
class BundleImportHandler(StreamedBody, ApiHandler):
    """The body streams into a staging file; then the bundle is checked and imported."""

    auth_resource = RESOURCE

    async def before_body(self) -> None:
        raw = self.get_query_argument("name", None)
        try:
            self.project_name = NAME.validate_python(raw) if raw is not None else None
        except ValidationError as exc:
            raise BadRequest(f"name: {exc.errors()[0]['msg']}", details={"field": "name"}) from None
        self.start_body(self.services.bundles.max_bytes, "bundle_max_bytes", "bundle")

    @operation(
        "Import a bundle (the body: a file from GET /projects/{project_id}/bundle) as a new "
        "project owned by the caller; every id is new. A corrupt or refused bundle (not a "
        "zip, unknown format version, entries with paths or links, bytes not matching "
        "their sha256, ids the bundle does not hold, past the size or compression limits) "
        "is a 400 that changes nothing; a body over bundle_max_bytes, 413.",
        response=ProjectOut,
        status=201,
        query={"name": "The new project's name; default: the bundled project's name."},
        text_query=("name",),
        raw_body="application/zip",
        errors=(413,),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        self.body_read = True
        assert self.staging is not None
        await self.staging.finish()
        if self.staging.size == 0:
            raise BadRequest("the body is empty; send the bundle file's bytes")
        project = await self.services.bundles.import_bundle(
            await self.actor(), Path(self.staging.path), self.project_name
        )
        self.reply(project, 201)
