"""REST handlers of blocks."""

from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..projects.schemas import (
    BlockBulkCreate,
    BlockCreate,
    BlockList,
    BlockMove,
    BlockMoved,
    BlockOut,
    BlockUpdate,
    OutputsClear,
    OutputsCleared,
    Page,
)
from .base import MAX_ID, PAGING, ApiHandler, operation
from .query import integer

VERSION = integer("The block version the client last saw.", 1, MAX_ID, required=True)


class BlocksHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:blocks"

    @operation(
        "List a project's blocks in order.",
        response=Page[BlockOut],
        query=PAGING,
        errors=(404,),
        etag=True,
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        limit, offset = self.page()
        etag, body = await self.services.block_pages.page(
            await self.actor(), pid, limit, offset, self.request.headers.get("If-None-Match")
        )
        self.set_header("ETag", etag)  # also keeps tornado from hashing the body again
        if body is None:
            self.set_status(304)
            self.finish()
            return
        self.set_header("Content-Type", "application/json")
        self.finish(body)

    @operation(
        "Create a block, appended or inserted at a position (editor).",
        body=BlockCreate,
        response=BlockOut,
        status=201,
        errors=(403, 404),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        data = self.body(BlockCreate)
        self.reply(await self.services.blocks.create(await self.actor(), pid, data), 201)


class BlocksBulkHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:blocks"

    @operation(
        "Create up to 1000 blocks at once, in order (editor).",
        body=BlockBulkCreate,
        response=BlockList,
        status=201,
        errors=(403, 404),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        data = self.body(BlockBulkCreate)
        items = await self.services.blocks.create_many(await self.actor(), pid, data)
        self.reply(BlockList(items=items), 201)


class OutputsClearHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:blocks"

    @operation(
        "Clear blocks' outputs (editor): they show none until they run again, as after "
        "JupyterLab's Clear Outputs and a save. Runs and states are kept.",
        body=OutputsClear,
        response=OutputsCleared,
        errors=(403, 404),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        data = self.body(OutputsClear)
        self.reply(await self.services.blocks.clear_outputs(await self.actor(), pid, data))


class BlockHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:blocks"

    @operation("Get a block.", response=BlockOut, errors=(404,))
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, block_id: str) -> None:
        pid, bid = self.path_id(project_id, "project"), self.path_id(block_id, "block")
        self.reply(await self.services.blocks.get(await self.actor(), pid, bid))

    @operation(
        "Change a block's source or kind (editor); a stale version gets 409 with the current.",
        body=BlockUpdate,
        response=BlockOut,
        errors=(403, 404, 409),
    )
    @tornado.web.authenticated
    @authorized
    async def patch(self, project_id: str, block_id: str) -> None:
        pid, bid = self.path_id(project_id, "project"), self.path_id(block_id, "block")
        data = self.body(BlockUpdate)
        self.reply(await self.services.blocks.update(await self.actor(), pid, bid, data))

    @operation(
        "Delete a block (editor); needs ?version=, a stale one gets 409 with the current block.",
        status=204,
        query={"version": VERSION},
        errors=(403, 404, 409),
    )
    @tornado.web.authenticated
    @authorized
    async def delete(self, project_id: str, block_id: str) -> None:
        pid, bid = self.path_id(project_id, "project"), self.path_id(block_id, "block")
        version = self.query_arg("version")
        await self.services.blocks.delete(await self.actor(), pid, bid, version)
        self.no_content()


class BlockMoveHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:blocks"

    @operation(
        "Move a block to a 0-based position (editor); returns the new order.",
        body=BlockMove,
        response=BlockMoved,
        errors=(403, 404),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str, block_id: str) -> None:
        pid, bid = self.path_id(project_id, "project"), self.path_id(block_id, "block")
        data = self.body(BlockMove)
        self.reply(await self.services.blocks.move(await self.actor(), pid, bid, data))
