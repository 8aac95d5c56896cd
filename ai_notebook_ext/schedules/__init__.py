"""Schedules: cron expressions that start pipeline runs (see scheduler.py)."""

from __future__ import annotations

from ..execution.pipelines import PipelineService
from ..store import Database
from .firing import ScheduledRuns
from .scheduler import MISSED_POLICIES, Scheduler
from .service import ScheduleService

__all__ = ["MISSED_POLICIES", "ScheduleService", "Scheduler", "build"]


def build(
    db: Database, pipelines: PipelineService, *, missed: str = "skip", missed_after: float = 60.0
) -> tuple[ScheduleService, Scheduler]:
    """The CRUD service and the scheduler it wakes (not started: the app starts it)."""
    scheduler = Scheduler(
        db, ScheduledRuns(db, pipelines), missed=missed, missed_after=missed_after
    )
    return ScheduleService(db, scheduler.wake), scheduler
