"""The streamed dataset upload: the body goes to a staging file while it is hashed; the
caller, their role and the size limit are checked before the first byte is accepted."""

from __future__ import annotations

import copy
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from pydantic import ValidationError

from .. import metrics
from ..datasets.formats import FORMATS
from ..datasets.incoming import Incoming
from ..datasets.readoptions import DELIMITERS
from ..datasets.readoptions import THOUSANDS as SEPARATORS
from ..datasets.schemas import DATASET_NAME, DELIMITER, ENCODING, SHEET, THOUSANDS, UploadOut
from ..datasets.storage import Staging
from ..errors import BadRequest, PayloadTooLarge
from .base import ApiHandler, operation
from .datasets import RESOURCE, read_options
from .query import Param, boolean, choice, text

UPLOAD_CHUNK = 1 << 20


def _name(_: str, raw: str) -> str:
    try:
        return DATASET_NAME.validate_python(raw)
    except ValidationError:
        raise BadRequest(
            "name must be 1-200 characters without '/', '\\' or control characters",
            details={"field": "name"},
        ) from None


def _format(_: str, raw: str) -> str:
    if raw not in FORMATS:
        raise BadRequest(f"format must be one of {', '.join(FORMATS)}", details={"field": "format"})
    return raw


UPLOAD_QUERY: dict[str, Param | str] = {
    "name": Param(
        "The dataset's name (a new dataset or a new version of it).",
        DATASET_NAME.json_schema(),
        _name,
        required=True,
    ),
    "filename": text("The file's name; only its extension is used, to tell the format."),
    "format": Param(
        f"One of {', '.join(FORMATS)}; default: from the filename and the content.",
        {"type": "string", "enum": list(FORMATS)},
        _format,
    ),
    "background": boolean(
        "Answer 202 once the file is stored and its schema read; the row count, profile "
        "and quality checks follow (status 'processing', then a dataset-version event). "
        "Default false: 201 after all of them."
    ),
    "encoding": text(ENCODING, min_length=1, max_length=40),
    "delimiter": choice(DELIMITER, list(DELIMITERS)),
    "thousands": choice(THOUSANDS, SEPARATORS),
    "sheet": text(SHEET, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$"),
}


@tornado.web.stream_request_body
class DatasetUploadHandler(ApiHandler):
    """The body streams into a local staging file while it is hashed; memory stays flat
    whatever the size. Authentication, authorization, the project role and the size limit
    are checked before the first byte of the body is accepted."""

    auth_resource = RESOURCE
    rate_class = "upload"  # uploads have their own rate limit bucket
    staging: Staging | None = None
    body_read = False  # the whole body arrived (post runs only then)
    measured = False  # counted in the upload metrics

    @tornado.web.authenticated
    @authorized
    async def _admit(self) -> None:
        """Runs the same checks as the handler method, before the body streams."""

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self.request.method != "POST":
            return
        await self._admit()
        pid = self.path_id(self.path_args[0], "project")
        self.dataset_name = self.query_arg("name")
        self.declared = self.query_arg("format")
        self.background = self.query_arg("background")
        self.read = read_options(
            *(self.query_arg(k) for k in ("encoding", "delimiter", "thousands", "sheet"))
        )
        await self.services.datasets.check_upload(await self.actor(), pid)
        limit = self.services.dataset_max_bytes
        length = self.request.headers.get("Content-Length", "")
        if length.isascii() and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(
                f"the upload is {int(length)} bytes; the limit is {limit} "
                "(AINotebookApp.dataset_max_bytes)"
            )
        connection: Any = self.request.connection
        connection.set_max_body_size(limit)
        # Read this body in 1 MiB pieces, not tornado's 64 KiB: 16x fewer Python calls.
        connection.params = copy.copy(connection.params)
        connection.params.chunk_size = UPLOAD_CHUNK
        connection.stream.read_chunk_size = UPLOAD_CHUNK
        self.staging = Staging(self.services.staging_dir)

    async def data_received(self, chunk: bytes) -> None:  # type: ignore[override]
        if self.staging is not None:
            await self.staging.write(chunk)  # waits when the disk falls behind

    def on_connection_close(self) -> None:
        """An aborted upload leaves nothing behind."""
        if self.staging is not None:
            self._measure("aborted")
            self.staging.discard()
        super().on_connection_close()

    def on_finish(self) -> None:
        if self.request.method == "POST":
            self._measure("ok" if self.get_status() < 400 else "refused")
        if self.staging is not None:
            self.staging.discard()
        super().on_finish()

    def _measure(self, status: str) -> None:
        if self.measured:
            return
        self.measured = True
        size = self.staging.size if self.staging is not None else 0
        metrics.upload_finished(status, size, self.request.request_time())

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A request refused before its body was read ends its connection (tornado closes
        it rather than read the rest): say so, so the client does not reuse it."""
        if not self.body_read:
            self.set_header("Connection", "close")
        super().write_error(status_code, **kwargs)

    @operation(
        "Upload a file as a new dataset or a new version of one (editor). The body is the "
        "file's bytes (streamed). The whole file is read with the real parser first: a "
        "broken or mislabeled file gets 400 with the parser's reason; past "
        "dataset_max_bytes, 413. 201 with the new version, its quick profile computed and "
        "its quality checks run (202 with ?background=true, see below); 200 when the content "
        "equals the latest version.",
        response=UploadOut,
        status=201,
        query=UPLOAD_QUERY,
        also=(200, 202),
        raw_body="application/octet-stream",
        errors=(404, 413),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        self.body_read = True
        pid = self.path_id(project_id, "project")
        assert self.staging is not None
        digest = await self.staging.finish()
        if self.staging.size == 0:
            raise BadRequest("the upload is empty; send the file's bytes as the body")
        incoming = Incoming(
            self.staging.path,
            digest,
            self.staging.size,
            self.query_arg("filename") or "",
            self.declared,
            "upload",
            self.read,
        )
        background = self.background
        out = await self.services.datasets.ingest(
            await self.actor(), pid, self.dataset_name, incoming, background=background
        )
        self.reply(out, (202 if background else 201) if out.created else 200)
