"""What a claimed schedule does: start an ordinary pipeline run as its creator.

target ``pipeline`` is the pipeline API's target ``all``; target ``block`` is target
``upstream`` of the block (it, and what it needs that is not fresh). The run is marked
``trigger = "schedule"`` with the schedule's id. A firing whose previous run has not
ended starts nothing (runs of a project share its kernel: overlapping firings would only
queue up behind each other).
"""

from __future__ import annotations

from sqlalchemy import select

from ..errors import ApiError, Conflict
from ..execution.pipelines import PipelineService
from ..execution.schemas import PipelineCreate
from ..projects.users import Actor
from ..store import Database, Run, User
from .scheduler import Due


class ScheduledRuns:
    """The scheduler's ``fire``: starts the pipeline run of a claimed schedule."""

    def __init__(self, db: Database, pipelines: PipelineService) -> None:
        self.db = db
        self.pipelines = pipelines

    async def __call__(self, due: Due) -> int:
        async with self.db.session() as session:
            user = await session.get(User, due.created_by) if due.created_by else None
            if user is None:
                raise Conflict("not run: the user who created this schedule is gone")
            actor = Actor(user.id, user.username, user.display_name, user.role == "admin")
            if due.last_pipeline_run_id is not None:
                status = await session.scalar(
                    select(Run.status).where(Run.id == due.last_pipeline_run_id)
                )
                if status in ("queued", "running"):
                    raise Conflict(
                        f"not run: its previous run {due.last_pipeline_run_id} is still {status}"
                    )
        if due.target == "block":
            options = PipelineCreate(target="upstream", block_id=due.block_id)
        else:
            options = PipelineCreate(target="all")
        try:
            run = await self.pipelines.start(
                actor, due.project_id, options, False, schedule_id=due.id
            )
        except ApiError as exc:  # e.g. the creator is no longer an editor
            raise Conflict(f"not run as {actor.username}: {exc.message}") from None
        return run.id
