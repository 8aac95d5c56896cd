"""Block tools: list, read, create, update (version-checked), delete and move, through
BlockService as the requesting user."""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import Field

from ...projects.schemas import PAGE_MAX, SOURCE_MAX, BlockCreate, BlockMove, BlockUpdate
from .base import Outcome, Params, Tool, ToolContext, clip


def first_line(source: str) -> str:
    """The first non-empty line, shortened (what a block is, at a glance)."""
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:120]
    return ""


def diff(before: str, after: str, name: str) -> str:
    """A unified diff of a block's source."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        f"{name} (before)",
        f"{name} (after)",
    )
    return "".join(lines)


async def all_blocks(ctx: ToolContext) -> list[Any]:
    """Every block of the project, in order (paged through BlockService)."""
    items: list[Any] = []
    while True:
        page = await ctx.services.blocks.list(ctx.actor, ctx.project_id, PAGE_MAX, len(items))
        items.extend(page.items)
        if len(items) >= page.total or not page.items:
            return items


class NoArgs(Params):
    pass


class BlockRef(Params):
    block_id: int = Field(ge=1, description="The block's id.")


class CreateArgs(Params):
    source: str = Field(max_length=SOURCE_MAX, description="The block's code (or markdown).")
    kind: Literal["code", "markdown"] = "code"
    position: int | None = Field(
        default=None, ge=0, description="Where to insert it (default: at the end)."
    )


class UpdateArgs(Params):
    block_id: int = Field(ge=1)
    source: str = Field(max_length=SOURCE_MAX, description="The complete new source.")
    version: int = Field(ge=1, description="The version you read (from read_block).")


class DeleteArgs(Params):
    block_id: int = Field(ge=1)
    version: int = Field(ge=1, description="The version you read (from read_block).")


class MoveArgs(Params):
    block_id: int = Field(ge=1)
    position: int = Field(ge=0, description="Its new position (0 is the first).")


async def list_blocks(ctx: ToolContext, _: NoArgs) -> Outcome:
    blocks = await all_blocks(ctx)
    return Outcome(
        [
            {
                "id": b.id,
                "position": b.position,
                "kind": b.kind,
                "version": b.version,
                "first_line": first_line(b.source),
                "lines": b.source.count("\n") + 1 if b.source else 0,
            }
            for b in blocks
        ]
    )


async def read_block(ctx: ToolContext, args: BlockRef) -> Outcome:
    block = await ctx.services.blocks.get(ctx.actor, ctx.project_id, args.block_id)
    return Outcome(
        {
            "id": block.id,
            "position": block.position,
            "kind": block.kind,
            "version": block.version,
            "source": clip(block.source, ctx.text_limit * 2),
            "last_run_id": block.last_run_id,
        }
    )


async def create_block(ctx: ToolContext, args: CreateArgs) -> Outcome:
    data = BlockCreate(kind=args.kind, source=args.source, position=args.position)
    block = await ctx.services.blocks.create(ctx.actor, ctx.project_id, data)
    change = {"kind": "block_created", "block_id": block.id, "after": block.source}
    return Outcome(
        {"id": block.id, "position": block.position, "version": block.version}, change=change
    )


async def preview_create(ctx: ToolContext, args: CreateArgs) -> dict[str, Any]:
    return {"action": "create a block", "diff": diff("", args.source, "new block")}


async def update_block(ctx: ToolContext, args: UpdateArgs) -> Outcome:
    before = await ctx.services.blocks.get(ctx.actor, ctx.project_id, args.block_id)
    data = BlockUpdate(source=args.source, version=args.version)
    block = await ctx.services.blocks.update(ctx.actor, ctx.project_id, args.block_id, data)
    change = {
        "kind": "block_updated",
        "block_id": block.id,
        "before": before.source,
        "after": block.source,
        "version": block.version,
    }
    return Outcome({"id": block.id, "version": block.version}, change=change)


async def preview_update(ctx: ToolContext, args: UpdateArgs) -> dict[str, Any]:
    block = await ctx.services.blocks.get(ctx.actor, ctx.project_id, args.block_id)
    name = f"block {block.id}"
    return {"action": f"edit {name}", "diff": diff(block.source, args.source, name)}


async def delete_block(ctx: ToolContext, args: DeleteArgs) -> Outcome:
    before = await ctx.services.blocks.get(ctx.actor, ctx.project_id, args.block_id)
    await ctx.services.blocks.delete(ctx.actor, ctx.project_id, args.block_id, args.version)
    change = {
        "kind": "block_deleted",
        "block_id": before.id,
        "before": before.source,
        "position": before.position,
        "block_kind": before.kind,
    }
    return Outcome({"deleted": before.id}, change=change)


async def preview_delete(ctx: ToolContext, args: DeleteArgs) -> dict[str, Any]:
    block = await ctx.services.blocks.get(ctx.actor, ctx.project_id, args.block_id)
    name = f"block {block.id}"
    return {"action": f"delete {name}", "diff": diff(block.source, "", name)}


async def move_block(ctx: ToolContext, args: MoveArgs) -> Outcome:
    moved = await ctx.services.blocks.move(
        ctx.actor, ctx.project_id, args.block_id, BlockMove(position=args.position)
    )
    change = {"kind": "block_moved", "block_id": args.block_id, "position": args.position}
    return Outcome({"id": args.block_id, "order": moved.order}, change=change)


async def preview_move(ctx: ToolContext, args: MoveArgs) -> dict[str, Any]:
    return {"action": f"move block {args.block_id} to position {args.position}"}


TOOLS = [
    Tool(
        "list_blocks",
        "The project's blocks in order: id, position, kind, version, first line.",
        NoArgs,
        "read",
        list_blocks,
    ),
    Tool("read_block", "One block's full source and version.", BlockRef, "read", read_block),
    Tool(
        "create_block",
        "Add a code or markdown block (at the end unless a position is given).",
        CreateArgs,
        "write",
        create_block,
        preview_create,
    ),
    Tool(
        "update_block",
        "Replace a block's source; give the version you read (a stale one is refused).",
        UpdateArgs,
        "write",
        update_block,
        preview_update,
    ),
    Tool(
        "delete_block",
        "Delete a block; give the version you read.",
        DeleteArgs,
        "destructive",
        delete_block,
        preview_delete,
    ),
    Tool("move_block", "Move a block to a position.", MoveArgs, "write", move_block, preview_move),
]
