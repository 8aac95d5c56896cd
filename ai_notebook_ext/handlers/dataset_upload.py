"""The streamed dataset upload: the body goes to a staging file while it is hashed; the
caller, their role and the size limit are checked before the first byte is accepted."""

from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized
from pydantic import ValidationError

from .. import metrics
from ..datasets.formats import FORMATS
from ..datasets.incoming import Incoming
from ..datasets.readoptions import DELIMITERS
from ..datasets.readoptions import THOUSANDS as SEPARATORS
from ..datasets.schemas import DATASET_NAME, DELIMITER, ENCODING, SHEET, THOUSANDS, UploadOut
from ..errors import BadRequest
from .base import ApiHandler, operation
from .datasets import RESOURCE, read_options
from .query import Param, boolean, choice, text
from .streamed import StreamedBody


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
        "Answer 202 once the file is stored and its schema read from a sample; the row "
        "count, the types from every row, the profile and the quality checks follow "
        "(status 'processing', then a dataset-version event). Default false: 201 after all "
        "of them."
    ),
    "encoding": text(ENCODING, min_length=1, max_length=40),
    "delimiter": choice(DELIMITER, list(DELIMITERS)),
    "thousands": choice(THOUSANDS, SEPARATORS),
    "sheet": text(SHEET, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$"),
}


@tornado.web.stream_request_body
class DatasetUploadHandler(StreamedBody, ApiHandler):
    """The body streams into a local staging file while it is hashed; memory stays flat
    whatever the size. Authentication, authorization, the project role and the size limit
    are checked before the first byte of the body is accepted."""

    auth_resource = RESOURCE
    rate_class = "upload"  # uploads have their own rate limit bucket
    measured = False  # counted in the upload metrics

    async def before_body(self) -> None:
        pid = self.path_id(self.path_args[0], "project")
        self.dataset_name = self.query_arg("name")
        self.declared = self.query_arg("format")
        self.background = self.query_arg("background")
        self.read = read_options(
            *(self.query_arg(k) for k in ("encoding", "delimiter", "thousands", "sheet"))
        )
        await self.services.datasets.check_upload(await self.actor(), pid)
        self.start_body(self.services.dataset_max_bytes, "dataset_max_bytes", "upload")

    def on_connection_close(self) -> None:
        if self.staging is not None:
            self._measure("aborted")
        super().on_connection_close()

    def on_finish(self) -> None:
        if self.request.method == "POST":
            self._measure("ok" if self.get_status() < 400 else "refused")
        super().on_finish()

    def _measure(self, status: str) -> None:
        if self.measured:
            return
        self.measured = True
        size = self.staging.size if self.staging is not None else 0
        metrics.upload_finished(status, size, self.request.request_time())

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
