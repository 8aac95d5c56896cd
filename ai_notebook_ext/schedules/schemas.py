"""Request and response models of the schedules API (the OpenAPI schemas come from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from ..projects.schemas import INT_MAX, Input, Output, Text
from .cron import CRON_MAX, TIMEZONE_MAX

ScheduleTarget = Literal["pipeline", "block"]
Cron = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=CRON_MAX),
    Text,
    Field(
        description="5 fields (minute hour day month weekday) or 6 with seconds last, "
        "e.g. '0 3 * * *' or '* * * * * */30'."
    ),
]
TimeZone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TIMEZONE_MAX),
    Text,
    Field(description="IANA time zone the cron is read in (default UTC)."),
]
BlockId = Annotated[int, Field(ge=1, le=INT_MAX)]
TARGET_HELP = (
    "pipeline: the project's whole pipeline (every block); block: block_id and the blocks "
    "it needs that are not fresh (a pipeline run with target upstream)."
)


class ScheduleCreate(Input):
    cron: Cron
    target: ScheduleTarget = Field(description=TARGET_HELP)
    block_id: BlockId | None = Field(default=None, description="The block of target block.")
    timezone: TimeZone = "UTC"
    enabled: bool = True


class ScheduleUpdate(Input):
    """Fields to change; the others keep their values. Changing target to pipeline
    clears block_id."""

    cron: Cron | None = None
    target: ScheduleTarget | None = Field(default=None, description=TARGET_HELP)
    block_id: BlockId | None = None
    timezone: TimeZone | None = None
    enabled: bool | None = None


class ScheduleOut(Output):
    id: int
    project_id: int
    cron: str
    target: ScheduleTarget
    block_id: int | None
    timezone: str
    enabled: bool
    created_by: str | None = Field(description="Who created it; its runs run as this user.")
    next_run_at: datetime | None = Field(description="When it fires next, UTC (null: disabled).")
    last_run_at: datetime | None = Field(description="When it last fired, UTC.")
    last_pipeline_run_id: int | None = Field(description="The pipeline run it last started.")
    last_error: str = Field(description="Why its last firing started no run ('' if it did).")
    created_at: datetime
    updated_at: datetime


class ScheduleList(Output):
    items: list[ScheduleOut]
