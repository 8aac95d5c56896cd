"""Run tools: run a block or a pipeline target and wait; restart the kernel. Results are
what a model can use: status, text outputs (trimmed with a note), images as references,
errors with their traceback."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from ...execution.schemas import PipelineCreate, RunOut
from .base import Outcome, Params, Tool, ToolContext, clip
from .blocks import NoArgs

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TEXT_MIMES = ("text/plain", "text/markdown", "application/json")


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def summarize(run: RunOut, limit: int) -> dict[str, Any]:
    """A run as the model sees it: status, trimmed text outputs, image references and
    the error with its traceback."""
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for out in run.outputs:
        kind = out.get("output_type")
        if kind == "stream":
            texts.append(_text(out.get("text", "")))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data") or {}
            refs = out.get("artifacts") or {}
            for mime in list(data) + [m for m in refs if m not in data]:
                if mime.startswith("image/"):
                    images.append({"mime": mime, "artifact": refs.get(mime), "run_id": run.id})
            for mime in TEXT_MIMES:
                if mime in data:
                    texts.append(_text(data[mime]))
                    break
    text = ANSI.sub("", "\n".join(t.rstrip("\n") for t in texts))
    summary: dict[str, Any] = {"run_id": run.id, "block_id": run.block_id, "status": run.status}
    if text:
        summary["output"] = clip(text, limit)
    if images:
        summary["images"] = images[:10]
    if run.error:
        trace = ANSI.sub("", "\n".join(run.error.get("traceback") or []))
        summary["error"] = {
            "ename": run.error.get("ename"),
            "evalue": run.error.get("evalue"),
            "reason": run.error.get("reason"),
            "traceback": clip(trace, limit),
        }
    if run.message and run.status != "succeeded":
        summary["message"] = run.message
    return summary


class RunArgs(Params):
    block_id: int = Field(ge=1, description="The block to run (its current code).")


class PipelineArgs(Params):
    target: Literal["all", "stale", "upstream", "downstream", "blocks"] = Field(
        default="stale",
        description="all | stale | upstream (block_id and what it needs) | downstream "
        "(block_id and what depends on it) | blocks (block_ids).",
    )
    block_id: int | None = Field(default=None, ge=1)
    block_ids: list[int] | None = Field(default=None, min_length=1, max_length=1000)


async def run_block(ctx: ToolContext, args: RunArgs) -> Outcome:
    runs = ctx.services.runs
    live = runs.reserve(ctx.project_id)
    run = await runs.submit(live, ctx.actor, args.block_id)
    ctx.running[run.id] = "block"  # a cancel of the turn stops it (kept until then)
    ended = await runs.outcome(live)
    ctx.running.pop(run.id, None)
    return Outcome(summarize(ended, ctx.text_limit))


async def run_pipeline(ctx: ToolContext, args: PipelineArgs) -> Outcome:
    options = PipelineCreate.model_validate(args.model_dump(exclude_none=True), strict=False)
    pipeline = await ctx.services.pipelines.start(ctx.actor, ctx.project_id, options, False)
    ctx.running[pipeline.id] = "pipeline"
    ended = await ctx.services.pipelines.wait(pipeline.id) or pipeline
    ctx.running.pop(pipeline.id, None)
    results = []
    for result in ended.results or []:
        item: dict[str, Any] = {
            "block_id": result.block_id,
            "status": result.status,
            "reason": result.reason,
        }
        if result.status == "failed" and result.run_id is not None:
            run = await ctx.services.runs.get(ctx.actor, ctx.project_id, result.run_id)
            item["run"] = summarize(run, ctx.text_limit // 2)
        results.append(item)
    return Outcome(
        {"run_id": ended.id, "status": ended.status, "message": ended.message, "blocks": results}
    )


async def preview_run(ctx: ToolContext, args: RunArgs) -> dict[str, Any]:
    block = await ctx.services.blocks.get(ctx.actor, ctx.project_id, args.block_id)
    return {"action": f"run block {block.id}", "source": clip(block.source, 2000)}


async def preview_pipeline(ctx: ToolContext, args: PipelineArgs) -> dict[str, Any]:
    return {"action": f"run the pipeline ({args.target})", **args.model_dump(exclude_none=True)}


async def restart_kernel(ctx: ToolContext, _: NoArgs) -> Outcome:
    state = await ctx.services.runs.control.act(ctx.actor, ctx.project_id, "restart")
    return Outcome({"state": state.state, "generation": state.generation})


async def preview_restart(ctx: ToolContext, _: NoArgs) -> dict[str, Any]:
    return {"action": "restart the kernel: every variable is lost, queued runs are cancelled"}


TOOLS = [
    Tool(
        "run_block",
        "Run a code block in the project's kernel and wait: status, text output, image "
        "references, error and traceback.",
        RunArgs,
        "run",
        run_block,
        preview_run,
    ),
    Tool(
        "run_pipeline",
        "Run a pipeline target over the DAG (blocks the targets need run too unless fresh) "
        "and wait: each block's status, and the error of those that failed.",
        PipelineArgs,
        "run",
        run_pipeline,
        preview_pipeline,
    ),
    Tool(
        "restart_kernel",
        "Restart the project's kernel (its variables are lost).",
        NoArgs,
        "destructive",
        restart_kernel,
        preview_restart,
    ),
]
