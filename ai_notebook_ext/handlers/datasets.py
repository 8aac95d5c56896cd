"""REST handlers of datasets: streamed upload, registration, versions, download,
profiles, schema diffs, quality rules, lineage and the catalog."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..datasets.readoptions import OptionError, ReadOptions
from ..datasets.readoptions import parse as parse_read_options
from ..datasets.schemas import (
    CatalogOut,
    DatasetList,
    DatasetOut,
    DatasetUpdate,
    LineageOut,
    QualityOut,
    RegisterIn,
    ReportOut,
    RuleIn,
    RuleList,
    RuleOut,
    SchemaDiff,
    UploadOut,
    VersionList,
    VersionOut,
)
from ..datasets.storage import CHUNK
from ..errors import BadRequest
from .base import MAX_ID, ApiHandler, operation
from .query import integer, text

VERSION_NUMBER = integer("A version number.", 1, MAX_ID, required=True)
SEARCH = text(
    "The text to look for (not only spaces).",
    min_length=1,
    max_length=200,
    pattern=r"\S",
    check=lambda q: bool(q.strip()),
    required=True,
)

RESOURCE = "ai_notebook_ext:datasets"


def content_disposition(filename: str) -> str:
    """An attachment header any name survives: ASCII fallback plus RFC 5987 UTF-8."""
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def read_options(
    encoding: str | None, delimiter: str | None, thousands: str | None, sheet: str | None
) -> ReadOptions:
    """Reading options from a request; 400 naming the one that cannot be used."""
    try:
        return parse_read_options(encoding, delimiter, thousands, sheet)
    except OptionError as exc:
        field = str(exc).split(" ", 1)[0]
        raise BadRequest(str(exc), details={"field": field}) from None


class DatasetRegisterHandler(ApiHandler):
    auth_resource = RESOURCE

    @operation(
        "Make a file below the server's root dir a dataset version (editor); its bytes are "
        "copied into dataset storage. Paths outside the root dir are refused.",
        body=RegisterIn,
        response=UploadOut,
        status=201,
        also=(200,),
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        data = self.body(RegisterIn)
        read = read_options(data.encoding, data.delimiter, data.thousands, data.sheet)
        out = await self.services.datasets.register(
            await self.actor(), pid, data.name, data.path, data.format, read
        )
        self.reply(out, 201 if out.created else 200)


class DatasetsHandler(ApiHandler):
    auth_resource = RESOURCE

    @operation("A project's datasets with their latest versions.", response=DatasetList)
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        items = await self.services.datasets.list(await self.actor(), pid)
        self.reply(DatasetList(items=items))


class DatasetHandler(ApiHandler):
    auth_resource = RESOURCE

    @operation("One dataset with its latest version.", response=DatasetOut, errors=(404,))
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, dataset_id: str) -> None:
        pid, did = self.path_id(project_id, "project"), self.path_id(dataset_id, "dataset")
        self.reply(await self.services.datasets.get(await self.actor(), pid, did))

    @operation(
        "Change a dataset's description or tags (editor).",
        body=DatasetUpdate,
        response=DatasetOut,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def patch(self, project_id: str, dataset_id: str) -> None:
        pid, did = self.path_id(project_id, "project"), self.path_id(dataset_id, "dataset")
        data = self.body(DatasetUpdate)
        self.reply(await self.services.datasets.update(await self.actor(), pid, did, data))

    @operation(
        "Delete a dataset and its versions (editor); blobs nothing else uses are removed.",
        status=204,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def delete(self, project_id: str, dataset_id: str) -> None:
        pid, did = self.path_id(project_id, "project"), self.path_id(dataset_id, "dataset")
        await self.services.datasets.delete(await self.actor(), pid, did)
        self.no_content()


class VersionsHandler(ApiHandler):
    auth_resource = RESOURCE

    @operation("A dataset's versions, newest first.", response=VersionList, errors=(404,))
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, dataset_id: str) -> None:
        pid, did = self.path_id(project_id, "project"), self.path_id(dataset_id, "dataset")
        items = await self.services.datasets.versions(await self.actor(), pid, did)
        self.reply(VersionList(items=items))


class VersionHandler(ApiHandler):
    auth_resource = RESOURCE

    def ids(self, project_id: str, dataset_id: str, number: str) -> tuple[int, int, int]:
        return (
            self.path_id(project_id, "project"),
            self.path_id(dataset_id, "dataset"),
            self.path_id(number, "version"),
        )

    @operation(
        "One version: schema, size, hash, rows, who and when, quality results.",
        response=VersionOut,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, dataset_id: str, number: str) -> None:
        pid, did, n = self.ids(project_id, dataset_id, number)
        self.reply(await self.services.datasets.version(await self.actor(), pid, did, n))

    @operation(
        "Delete a version (editor); its blob goes when nothing else uses it.",
        status=204,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def delete(self, project_id: str, dataset_id: str, number: str) -> None:
        pid, did, n = self.ids(project_id, dataset_id, number)
        await self.services.datasets.delete_version(await self.actor(), pid, did, n)
        self.no_content()


class VersionDownloadHandler(VersionHandler):
    @operation(
        "The version's bytes, streamed.",
        response=None,
        media="application/octet-stream",
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, dataset_id: str, number: str) -> None:
        pid, did, n = self.ids(project_id, dataset_id, number)
        service = self.services.datasets
        blob, _fmt, filename, size = await service.blob_of(await self.actor(), pid, did, n)
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(size))
        self.set_header("Content-Disposition", content_disposition(filename))
        self.set_header("X-Content-Type-Options", "nosniff")
        fh = await asyncio.to_thread(service.store.open, blob)  # object stores block
        try:
            while chunk := await asyncio.to_thread(fh.read, CHUNK):
                self.write(chunk)
                await self.flush()
        finally:
            fh.close()
        self.finish()


class VersionProfileHandler(VersionHandler):
    @operation(
        "The version's quick profile (stored once per content; computed if missing).",
        response=None,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, dataset_id: str, number: str) -> None:
        pid, did, n = self.ids(project_id, dataset_id, number)
        self.reply(await self.services.datasets.profile(await self.actor(), pid, did, n))


class VersionQualityHandler(VersionHandler):
    @operation(
        "Run the dataset's quality rules on this version again (editor).",
        response=QualityOut,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str, dataset_id: str, number: str) -> None:
        pid, did, n = self.ids(project_id, dataset_id, number)
        self.reply(await self.services.rules.check(await self.actor(), pid, did, n))


class DatasetDiffHandler(ApiHandler):
    auth_resource = RESOURCE

    @operation(
        "Schema differences between two versions: added, removed and retyped columns.",
        response=SchemaDiff,
        query={"base": VERSION_NUMBER, "other": VERSION_NUMBER},
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, dataset_id: str) -> None:
        pid, did = self.path_id(project_id, "project"), self.path_id(dataset_id, "dataset")
        base, other = self.query_arg("base"), self.query_arg("other")
        self.reply(await self.services.datasets.diff(await self.actor(), pid, did, base, other))


class RulesHandler(ApiHandler):
    auth_resource = RESOURCE

    @operation("A dataset's quality rules.", response=RuleList, errors=(404,))
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, dataset_id: str) -> None:
        pid, did = self.path_id(project_id, "project"), self.path_id(dataset_id, "dataset")
        self.reply(RuleList(items=await self.services.rules.list(await self.actor(), pid, did)))

    @operation(
        "Add a quality rule (editor): not_null, unique, range {min, max}, allowed_values "
        "{values}, regex {pattern}, row_count {min, max}, or sql {predicate, params} with "
        "named $params bound safely. New versions are checked against every rule.",
        body=RuleIn,
        response=RuleOut,
        status=201,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str, dataset_id: str) -> None:
        pid, did = self.path_id(project_id, "project"), self.path_id(dataset_id, "dataset")
        data = self.body(RuleIn)
        self.reply(await self.services.rules.add(await self.actor(), pid, did, data), 201)


class RuleHandler(ApiHandler):
    auth_resource = RESOURCE

    @operation(
        "Replace a quality rule's kind, column and parameters (editor); it keeps its id. "
        "Validated as when added.",
        body=RuleIn,
        response=RuleOut,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def put(self, project_id: str, dataset_id: str, rule_id: str) -> None:
        pid, did = self.path_id(project_id, "project"), self.path_id(dataset_id, "dataset")
        rid = self.path_id(rule_id, "rule")
        data = self.body(RuleIn)
        self.reply(await self.services.rules.replace(await self.actor(), pid, did, rid, data))

    @operation("Remove a quality rule (editor).", status=204, errors=(404,))
    @tornado.web.authenticated
    @authorized
    async def delete(self, project_id: str, dataset_id: str, rule_id: str) -> None:
        pid, did = self.path_id(project_id, "project"), self.path_id(dataset_id, "dataset")
        rid = self.path_id(rule_id, "rule")
        await self.services.rules.remove(await self.actor(), pid, did, rid)
        self.no_content()


class LineageHandler(ApiHandler):
    auth_resource = RESOURCE

    @operation(
        "Which block runs read and wrote the dataset's versions, and the versions of other "
        "datasets upstream and downstream of it.",
        response=LineageOut,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, dataset_id: str) -> None:
        pid, did = self.path_id(project_id, "project"), self.path_id(dataset_id, "dataset")
        self.reply(await self.services.lineage.of(await self.actor(), pid, did))


class CatalogHandler(ApiHandler):
    auth_resource = RESOURCE

    @operation(
        "Search datasets in every project the caller can see, by name, description, tag "
        "and column name (case-insensitive substring).",
        response=CatalogOut,
        query={"q": SEARCH, "limit": integer("1-200 (default 50).", 1, 200, default=50)},
    )
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        q, limit = self.query_arg("q").strip(), self.query_arg("limit")
        self.reply(await self.services.lineage.catalog(await self.actor(), q, limit))


class VersionReportHandler(VersionHandler):
    @operation(
        "Start a full HTML profile report of the version (a background job; progress in "
        "GET .../reports/{id} and dataset-report events). Data over dataset_report_max_rows "
        "is sampled and the report says so. An existing report of the version is returned.",
        response=ReportOut,
        status=202,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str, dataset_id: str, number: str) -> None:
        pid, did, n = self.ids(project_id, dataset_id, number)
        self.reply(await self.services.reports.start(await self.actor(), pid, did, n), 202)


class ReportHandler(ApiHandler):
    auth_resource = RESOURCE

    @operation("A report's status and progress.", response=ReportOut, errors=(404,))
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, dataset_id: str, report_id: str) -> None:
        pid, did = self.path_id(project_id, "project"), self.path_id(dataset_id, "dataset")
        rid = self.path_id(report_id, "report")
        self.reply(await self.services.reports.get(await self.actor(), pid, did, rid))


class ReportHtmlHandler(ApiHandler):
    auth_resource = RESOURCE

    @operation(
        "A finished report's HTML, sandboxed (its scripts run in an origin of their own), "
        "for a browser tab or an iframe.",
        response=None,
        media="text/html",
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, dataset_id: str, report_id: str) -> None:
        pid, did = self.path_id(project_id, "project"), self.path_id(dataset_id, "dataset")
        rid = self.path_id(report_id, "report")
        path = await self.services.reports.html(await self.actor(), pid, did, rid)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", "sandbox allow-scripts")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "private, max-age=3600")
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                self.write(chunk)
                await self.flush()
        self.finish()
