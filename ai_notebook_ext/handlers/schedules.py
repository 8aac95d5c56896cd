"""REST handlers of schedules: list, create, read, change, delete."""

from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..schedules.schemas import ScheduleCreate, ScheduleList, ScheduleOut, ScheduleUpdate
from .base import ApiHandler, operation

RESOURCE = "ai_notebook_ext:schedules"


class SchedulesHandler(ApiHandler):
    auth_resource = RESOURCE

    @operation(
        "A project's schedules with their next run times.", response=ScheduleList, errors=(404,)
    )
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        items = await self.services.schedules.list(await self.actor(), pid)
        self.reply(ScheduleList(items=items))

    @operation(
        "Create a schedule (editor): at each time its cron names (5 fields, or 6 with "
        "seconds last; read in its time zone) it starts a pipeline run, as its creator, "
        "of the whole project (target pipeline) or of one block and what it needs (target "
        "block). The runs are ordinary pipeline runs with trigger 'schedule'.",
        body=ScheduleCreate,
        response=ScheduleOut,
        status=201,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def post(self, project_id: str) -> None:
        pid = self.path_id(project_id, "project")
        data = self.body(ScheduleCreate)
        self.reply(await self.services.schedules.create(await self.actor(), pid, data), 201)


class ScheduleHandler(ApiHandler):
    auth_resource = RESOURCE

    @operation("A schedule.", response=ScheduleOut, errors=(404,))
    @tornado.web.authenticated
    @authorized
    async def get(self, project_id: str, schedule_id: str) -> None:
        pid, sid = self.path_id(project_id, "project"), self.path_id(schedule_id, "schedule")
        self.reply(await self.services.schedules.get(await self.actor(), pid, sid))

    @operation(
        "Change a schedule (editor); fields left out keep their values. A new cron, time "
        "zone or enabling computes the next run from now.",
        body=ScheduleUpdate,
        response=ScheduleOut,
        errors=(404,),
    )
    @tornado.web.authenticated
    @authorized
    async def patch(self, project_id: str, schedule_id: str) -> None:
        pid, sid = self.path_id(project_id, "project"), self.path_id(schedule_id, "schedule")
        data = self.body(ScheduleUpdate)
        self.reply(await self.services.schedules.update(await self.actor(), pid, sid, data))

    @operation("Delete a schedule (editor); its runs stay.", status=204, errors=(404,))
    @tornado.web.authenticated
    @authorized
    async def delete(self, project_id: str, schedule_id: str) -> None:
        pid, sid = self.path_id(project_id, "project"), self.path_id(schedule_id, "schedule")
        await self.services.schedules.delete(await self.actor(), pid, sid)
        self.no_content()
