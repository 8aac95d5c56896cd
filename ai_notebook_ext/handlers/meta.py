"""REST handlers about the API itself: the caller's identity and the OpenAPI document."""

from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..projects.schemas import UserOut
from .base import ApiHandler, operation


class MeHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:users"

    @operation("The caller as this server knows them.", response=UserOut)
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        actor = await self.actor()
        role = "admin" if actor.is_admin else "member"
        self.reply(UserOut(username=actor.username, display_name=actor.display_name, role=role))


class OpenAPIHandler(ApiHandler):
    auth_resource = "ai_notebook_ext:api"

    @operation("This OpenAPI 3 document.")
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from .openapi import openapi_document
        from .routes import ROUTES

        self.reply(openapi_document(ROUTES, version=self.services.version))
