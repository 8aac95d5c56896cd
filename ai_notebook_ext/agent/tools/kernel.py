"""The kernel's variables through a silent introspection request (kernel/introspect.py):
names, types, shapes and dtypes; it never runs the user's code."""

from __future__ import annotations

import asyncio

from ...execution import runner
from ...kernel.introspect import CODE, MIME
from ...projects.access import authorize
from ...projects.service import working_dir_for
from .base import Outcome, Tool, ToolContext
from .blocks import NoArgs

TIMEOUT = 10.0


async def kernel_variables(ctx: ToolContext, _: NoArgs) -> Outcome:
    services = ctx.services
    async with services.db.session() as session:
        project, _role = await authorize(
            session, ctx.actor, ctx.project_id, "viewer", "reading kernel variables"
        )
        where = (project.name, working_dir_for(project.id, project.working_dir))
    if services.runs.kernels.handle(ctx.project_id) is None:
        return Outcome({"kernel": "not started", "variables": []})

    async def job(handle: runner.KernelHandle) -> runner.ExecResult:
        async def ignore(_collector: object) -> None:
            return None

        return await runner.execute(
            services.runs.kernels,
            handle,
            CODE,
            time_limit=TIMEOUT,
            cancel=asyncio.Event(),
            on_output=ignore,
            silent=True,
        )

    result = await services.runs.exclusive(ctx.project_id, *where, job)
    for out in result.outputs:
        data = out.get("data") or {}
        if MIME in data:
            return Outcome({"kernel": "running", "variables": data[MIME]})
    return Outcome({"error": result.message or "the kernel did not answer"}, is_error=True)


TOOLS = [
    Tool(
        "kernel_variables",
        "The kernel's variables: names, types, shapes and dtypes of DataFrames and arrays.",
        NoArgs,
        "read",
        kernel_variables,
    )
]
