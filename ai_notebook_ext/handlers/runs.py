"""REST handlers of block runs: execute, list, get, cancel."""

from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized

from .. import logs
from ..errors import BadRequest
from ..execution.schemas import PipelineCreate, RunOut
from ..projects.schemas import Page
from ..store.models import RUN_STATUSES
from .base import MAX_ID, PAGING, ApiHandler, operation
from .query import boolean, choice, integer

WAIT = boolean("Answer 200 when the run has ended, not 202 at once (default false).")
RUN_FILTERS = {
    "block_id": integer("Only runs of this block.", 1, MAX_ID),
    "status": choice("Only runs with this status.", RUN_STATUSES),
    "kind": choice("Only block runs or only pipeline runs.", ("block", "pipeline")),
}


class ExecuteHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:runs"
    rate_class = "execute"

    @operation(
        "Run a code block in the project's kernel (editor): 202 with the new run (queued, or "
        "running if the kernel was free), or with ?wait=true 200 with the finished run. "
        "Runs of a project execute one at a time.",
        response=RunOut,
        status=202,
        also=(200,),
        query={"wait": WAIT},
        errors=(403, 404),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str, block_id: str) -> None:
        pid, bid = self.path_id(project_id, "project"), self.path_id(block_id, "block")
        if self.request.body.strip() not in (b"", b"{}"):
            raise BadRequest("execute takes no request body (or an empty object)")
        wait = self.query_arg("wait")
        runs = self.services.runs
        live = runs.reserve(pid)  # before any await: runs keep arrival order
        try:
            actor = await self.actor()
        except BaseException:
            runs.abandon(live)
            raise
        run = await runs.submit(live, actor, bid)
        logs.RUN_ID.set(run.id)
        if wait:
            await runs.outcome(live, answer=self.reply)
        else:
            self.reply(run, 202)


class RunsHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:runs"
    rate_class = "execute"  # POST starts a pipeline

    @operation(
        "List a project's runs, newest first.",
        response=Page[RunOut],
        query={**PAGING, **RUN_FILTERS},
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        limit, offset = self.page()
        block_id, status, kind = (self.query_arg(q) for q in RUN_FILTERS)
        page = await self.services.runs.list(
            await self.actor(), pid, limit, offset, block_id=block_id, status=status, kind=kind
        )
        self.reply(page)

    @operation(
        "Run a pipeline over the project's DAG (editor): the target's blocks and the blocks "
        "they need that are not fresh, in dependency order. 202 with the pipeline run, or "
        "with ?wait=true 200 when it has ended. Each block result says what happened to it.",
        body=PipelineCreate,
        response=RunOut,
        status=202,
        also=(200,),
        query={"wait": WAIT},
        errors=(403, 404),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        data = self.body(PipelineCreate)
        wait = self.query_arg("wait")
        run = await self.services.pipelines.start(await self.actor(), pid, data, wait)
        self.reply(run, 200 if wait else 202)


class RunHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:runs"

    @operation("Get a run with its outputs.", response=RunOut, errors=(404,))
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, run_id: str) -> None:
        pid, rid = self.path_id(project_id, "project"), self.path_id(run_id, "run")
        self.reply(await self.services.runs.get(await self.actor(), pid, rid))


class RunCancelHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:runs"

    @operation(
        "Cancel a queued run, or interrupt a running one (editor); a pipeline run stops and "
        "cancels the blocks it has not run. 409 if it already ended.",
        response=RunOut,
        errors=(403, 404, 409),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str, run_id: str) -> None:
        pid, rid = self.path_id(project_id, "project"), self.path_id(run_id, "run")
        self.reply(await self.services.pipelines.cancel(await self.actor(), pid, rid))
