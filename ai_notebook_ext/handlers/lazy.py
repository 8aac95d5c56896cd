"""The API's routes, registered at startup without importing the handlers.

The handler modules pull in SQLAlchemy, pydantic and every service: about half a second
that a server start should not wait for. ``LazyApiRouter`` is one tornado rule for
everything under ``{base}ai-notebook/api``; on the first request it imports
``routes.handlers()`` (usually already imported by then: the extension warms up in the
background once the server runs) and hands each request to tornado's own router over
that table, so matching, path arguments and handler kwargs are exactly as if the table
had been registered directly.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.utils import url_path_join
from tornado.httputil import HTTPServerRequest
from tornado.routing import Router

API_PREFIX = "/ai-notebook/api"  # routes.API_PREFIX, without importing routes


class LazyApiRouter(Router):
    """Routes our API's requests to the handler table, built on first use."""

    # Jupyter checks that every method of an extension's handlers is authenticated when
    # they are added; this router has none of its own and makes the same check of the
    # real handlers when it builds the table (``_check_auth``).
    SUPPORTED_METHODS: tuple[str, ...] = ()

    def __init__(self, application: Any, base_url: str, name: str) -> None:
        self.application = application
        self.base_url = base_url
        self.name = name  # the extension's name: ExtensionHandlerMixin's handler kwarg
        self._router: Router | None = None

    def router(self) -> Router:
        if self._router is None:
            from tornado.web import _ApplicationRouter

            from .routes import handlers

            table = [
                (url_path_join(self.base_url, pattern), handler, {"name": self.name})
                for pattern, handler in handlers()
            ]
            self._check_auth(table)
            self._router = _ApplicationRouter(self.application, table)
        return self._router

    def _check_auth(self, table: list[tuple[str, Any, dict[str, Any]]]) -> None:
        """Refuse handlers with unauthenticated methods, as Jupyter's add_handlers does."""
        check = getattr(self.application, "_check_handler_auth", None)
        if check is None or self.application.settings.get("allow_unauthenticated_access"):
            return
        missing = [line for pattern, handler, _ in table for line in check(pattern, handler)]
        if missing:
            raise RuntimeError("handlers without authentication:\n" + "\n".join(missing))

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> Any:
        return self.router().find_handler(request, **kwargs)


def install(web_app: Any, name: str) -> str:
    """Add the API's rule to the web application; the URL pattern it matches."""
    base_url = web_app.settings.get("base_url", "/")
    pattern = url_path_join(base_url, API_PREFIX) + "(?:/.*)?"
    web_app.add_handlers(".*$", [(pattern, LazyApiRouter(web_app, base_url, name))])
    return pattern
