"""Dataset tools: list, describe (schema, quick profile, sample rows), search the
catalog of every project the user can see."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from ...errors import NotFound
from .base import Outcome, Params, Tool, ToolContext, clip
from .blocks import NoArgs


class DescribeArgs(Params):
    dataset: str = Field(min_length=1, max_length=200, description="The dataset's name or id.")
    rows: int = Field(default=5, ge=0, le=50, description="Sample rows to include.")


class SearchArgs(Params):
    text: str = Field(min_length=1, max_length=200, description="Words to look for.")


async def list_datasets(ctx: ToolContext, _: NoArgs) -> Outcome:
    items = await ctx.services.datasets.list(ctx.actor, ctx.project_id)
    return Outcome(
        [
            {
                "id": d.id,
                "name": d.name,
                "version": d.latest.number if d.latest else None,
                "rows": d.latest.row_count if d.latest else None,
                "columns": [f"{c.name}: {c.type}" for c in d.latest.columns] if d.latest else [],
                "load_with": f"ain.load({d.name!r})",
            }
            for d in items
        ]
    )


async def describe_dataset(ctx: ToolContext, args: DescribeArgs) -> Outcome:
    datasets = await ctx.services.datasets.list(ctx.actor, ctx.project_id)
    found = next((d for d in datasets if d.name == args.dataset or str(d.id) == args.dataset), None)
    if found is None:
        names = ", ".join(d.name for d in datasets) or "none"
        raise NotFound(f"no dataset {args.dataset!r} in this project (datasets: {names})")
    out: dict[str, Any] = {"id": found.id, "name": found.name, "description": found.description}
    latest = found.latest
    if latest is not None:
        out |= {
            "version": latest.number,
            "format": latest.format,
            "rows": latest.row_count,
            "columns": [{"name": c.name, "type": c.type} for c in latest.columns],
            "load_with": f"ain.load({found.name!r})",
        }
        if latest.status == "ready":
            profile = await ctx.services.datasets.profile(
                ctx.actor, ctx.project_id, found.id, latest.number
            )
            text = json.dumps(profile)
            out["profile"] = profile if len(text) <= ctx.text_limit else clip(text, ctx.text_limit)
            if args.rows:
                out["sample"] = await ctx.services.datasets.sample(
                    ctx.actor, ctx.project_id, found.id, latest.number, args.rows
                )
    return Outcome(out)


async def search_catalog(ctx: ToolContext, args: SearchArgs) -> Outcome:
    found = await ctx.services.lineage.catalog(ctx.actor, args.text, 20)
    return Outcome([hit.model_dump(mode="json") for hit in found.items])


TOOLS = [
    Tool(
        "list_datasets",
        "The project's datasets: name, latest version, rows, columns, how to load them.",
        NoArgs,
        "read",
        list_datasets,
    ),
    Tool(
        "describe_dataset",
        "One dataset: schema, quick profile (statistics per column) and sample rows.",
        DescribeArgs,
        "read",
        describe_dataset,
    ),
    Tool(
        "search_catalog",
        "Search datasets of every project you can see by name, description, tag or column.",
        SearchArgs,
        "read",
        search_catalog,
    ),
]
