"""Jupyter's kernel and session handlers, as seen by one user under ProjectAuthorizer.

Jupyter's list handlers do not ask the authorizer about each kernel, and its start
handlers do not say who started a kernel. The handlers here are Jupyter's own with the
kernel and session managers seen through a per-request view: lists hold only what the
caller may read, and kernels the caller starts are recorded as theirs. ``install`` puts
them in place of Jupyter's in the server's routes.
"""

from __future__ import annotations

from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.services.kernels.handlers import MainKernelHandler
from jupyter_server.services.sessions.handlers import SessionHandler, SessionRootHandler

from .authorizer import ProjectAuthorizer


class _View:
    """A manager seen by one user; everything not overridden goes to the manager."""

    def __init__(self, manager: Any, authorizer: ProjectAuthorizer, username: str) -> None:
        self._manager = manager
        self._authorizer = authorizer
        self._username = username

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)

    def __contains__(self, kernel_id: object) -> bool:
        return kernel_id in self._manager


class KernelsView(_View):
    async def list_kernels(self) -> list[dict[str, Any]]:
        kernels = await ensure_async(self._manager.list_kernels())
        ids = [k["id"] for k in kernels]
        self._authorizer.forget_missing(ids)
        visible = await self._authorizer.visible(self._username, ids)
        return [k for k in kernels if k["id"] in visible]

    async def start_kernel(self, **kwargs: Any) -> str:
        existing = kwargs.get("kernel_id")
        reused = bool(existing) and existing in self._manager  # Jupyter hands it out as is
        kernel_id = await ensure_async(self._manager.start_kernel(**kwargs))
        if not reused:
            self._authorizer.record_starter(str(kernel_id), self._username)
        return str(kernel_id)


class SessionsView(_View):
    async def list_sessions(self) -> list[dict[str, Any]]:
        sessions = await ensure_async(self._manager.list_sessions())
        ids = [s["kernel"]["id"] for s in sessions if s.get("kernel")]
        visible = await self._authorizer.visible(self._username, ids)
        return [s for s in sessions if s.get("kernel") and s["kernel"]["id"] in visible]

    async def create_session(self, **kwargs: Any) -> dict[str, Any]:
        model = await self._manager.create_session(**kwargs)
        if not kwargs.get("kernel_id") and model.get("kernel"):
            self._authorizer.record_starter(model["kernel"]["id"], self._username)
        return dict(model)

    async def start_kernel_for_session(self, *args: Any, **kwargs: Any) -> str:
        kernel_id = await self._manager.start_kernel_for_session(*args, **kwargs)
        self._authorizer.record_starter(str(kernel_id), self._username)
        return str(kernel_id)


class _Viewed:
    """Mixin: the handler's managers are the caller's views."""

    settings: dict[str, Any]
    current_user: Any

    def _view(self, kind: type[_View], key: str) -> Any:
        manager = self.settings[key]
        authorizer = self.settings.get("authorizer")
        if not isinstance(authorizer, ProjectAuthorizer) or not self.current_user:
            return manager
        return kind(manager, authorizer, self.current_user.username)

    @property
    def kernel_manager(self) -> Any:
        return self._view(KernelsView, "kernel_manager")

    @property
    def session_manager(self) -> Any:
        return self._view(SessionsView, "session_manager")


class ProjectMainKernelHandler(_Viewed, MainKernelHandler):
    """GET /api/kernels (filtered), POST /api/kernels (records the starter)."""


class ProjectSessionRootHandler(_Viewed, SessionRootHandler):
    """GET /api/sessions (filtered), POST /api/sessions (records a new kernel's starter)."""


class ProjectSessionHandler(_Viewed, SessionHandler):
    """PATCH /api/sessions/{id} may start a kernel: its starter is recorded."""


REPLACEMENTS: dict[type, type] = {
    MainKernelHandler: ProjectMainKernelHandler,
    SessionRootHandler: ProjectSessionRootHandler,
    SessionHandler: ProjectSessionHandler,
}


def install(web_app: Any) -> int:
    """Replace Jupyter's handlers in the application's routes; the number replaced."""
    replaced = 0
    pending = [web_app.default_router, web_app.wildcard_router]
    seen: set[int] = set()
    while pending:
        router = pending.pop()
        if id(router) in seen:
            continue
        seen.add(id(router))
        for rule in getattr(router, "rules", ()):
            if rule.target in REPLACEMENTS:
                rule.target = REPLACEMENTS[rule.target]
                replaced += 1
            elif hasattr(rule.target, "rules"):
                pending.append(rule.target)
    return replaced
