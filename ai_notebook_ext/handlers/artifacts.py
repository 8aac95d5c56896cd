"""REST handler serving artifacts (images, PDFs, long text) referenced by run outputs."""

from __future__ import annotations

import re

import tornado.web
from jupyter_server.auth.decorator import authorized

from .base import ApiHandler, operation

CHUNK = 256 * 1024
MIME = re.compile(r"^[A-Za-z0-9][\w.+-]*/[\w.+-]+$")


class ArtifactHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:artifacts"

    @operation(
        "The bytes of an artifact, with the mime type the kernel gave it (e.g. image/png, "
        "application/pdf, text/plain); one that is not a plain type/subtype is served as "
        "application/octet-stream.",
        response=None,
        media="*/*",
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, artifact_id: str) -> None:
        pid = self.path_id(project_id, "project")
        path, mime = await self.services.runs.control.artifact(await self.actor(), pid, artifact_id)
        # Kernels choose mime types freely; anything odd is served as plain bytes.
        self.set_header("Content-Type", mime if MIME.match(mime) else "application/octet-stream")
        self.set_header("Content-Length", str(path.stat().st_size))
        self.set_header("Cache-Control", "private, max-age=31536000, immutable")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", "sandbox")
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                self.write(chunk)
                await self.flush()
        self.finish()
