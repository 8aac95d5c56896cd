"""ProjectAuthorizer: Jupyter's kernel and session APIs respect project roles.

Jupyter Server asks its authorizer about every request (``@authorized``) and about every
kernel websocket. This one decides requests on the ``kernels`` and ``sessions`` resources
that name a kernel or session (by path or in the body): a project kernel is readable by the
project's viewers and usable (attach, execute, interrupt, restart, shut down, attach a
session) by its editors and owners; any other kernel only by the user who started it.
Everything else (our own REST API, which checks roles itself, contents, ...) is left to
``base_authorizer_class``. Lists are filtered by the handlers of ``jupyter_api.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.authorizer import AllowAllAuthorizer, Authorizer
from jupyter_server.auth.identity import User
from tornado.web import HTTPError
from traitlets import Instance, Type, default

if TYPE_CHECKING:
    from .access import ProjectRoles

READ, USE = "read", "use"


class ProjectAuthorizer(Authorizer):
    """Keeps project kernels to project members and other kernels to their starters."""

    base_authorizer_class = Type(
        AllowAllAuthorizer,
        klass=Authorizer,
        help="Authorizer asked first about every request (default: allow all).",
    ).tag(config=True)

    base_authorizer = Instance(Authorizer)

    @default("base_authorizer")
    def _default_base(self) -> Authorizer:
        return self.base_authorizer_class(
            parent=self, log=self.log, identity_provider=self.identity_provider
        )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.roles: ProjectRoles | None = None  # attached by the extension when it loads
        self.starters: dict[str, str] = {}  # kernel id -> username of who started it

    def attach(self, roles: ProjectRoles) -> None:
        """Called by the extension: project roles, admins and single-user mode."""
        self.roles = roles

    def record_starter(self, kernel_id: str, username: str) -> None:
        self.starters.setdefault(kernel_id, username)

    def forget_missing(self, live: Iterable[str]) -> None:
        """Drop the starters of kernels that are gone."""
        keep = set(live)
        for kernel_id in [k for k in self.starters if k not in keep]:
            del self.starters[kernel_id]

    async def is_authorized(  # type: ignore[override]
        self, handler: Any, user: User, action: str, resource: str
    ) -> bool:
        base = await ensure_async(
            self.base_authorizer.is_authorized(handler, user, action, resource)
        )
        if not base:
            return False
        if resource not in ("kernels", "sessions") or self.unrestricted(user.username):
            return True
        need = READ if action == "read" else USE
        kernel_ids = await self._kernels_named(handler, resource, need)
        for kernel_id, wanted in kernel_ids:
            if not await self.allowed(user.username, kernel_id, wanted):
                self.log.info(
                    "ai_notebook_ext: %s may not %s kernel %s", user.username, wanted, kernel_id
                )
                return False
        return True

    def unrestricted(self, username: str) -> bool:
        return self.roles is not None and self.roles.unrestricted(username)

    async def allowed(self, username: str, kernel_id: str, need: str) -> bool:
        """Whether ``username`` may ``need`` (read or use) the kernel."""
        return kernel_id in await self.visible(username, [kernel_id], need)

    async def visible(self, username: str, kernel_ids: Iterable[str], need: str = READ) -> set[str]:
        """The kernels of ``kernel_ids`` that ``username`` may ``need``."""
        ids = set(kernel_ids)
        if self.unrestricted(username):
            return ids
        projects: dict[str, str] = {}
        if self.roles is not None:
            projects = await self.roles.project_kernels(username, ids)
        from .access import role_allows

        return {
            kernel_id
            for kernel_id in ids
            if (
                role_allows(projects[kernel_id], need)
                if kernel_id in projects
                else self.starters.get(kernel_id) == username
            )
        }

    async def _kernels_named(self, handler: Any, resource: str, need: str) -> list[tuple[str, str]]:
        """The existing kernels a request acts on, with what it needs of each. Unknown
        ids are left to the handler, which answers 404."""
        km = handler.kernel_manager
        named: list[tuple[str, str]] = []
        method = handler.request.method.upper()
        if resource == "kernels":
            kernel_id = handler.path_kwargs.get("kernel_id")
            if kernel_id is None and method == "POST":  # starting "a new kernel" by an old id
                kernel_id = (_body(handler) or {}).get("kernel_id")
                need = USE
            if isinstance(kernel_id, str):
                named.append((kernel_id, need))
        else:
            sm = handler.session_manager
            session_id = handler.path_kwargs.get("session_id")
            body = _body(handler) if method in ("POST", "PATCH") else None
            if session_id is not None:
                named.extend((k, need) for k in await _session_kernel(sm, session_id=session_id))
            elif method == "POST" and isinstance(body, dict) and isinstance(body.get("path"), str):
                # an existing session at the path is handed out as it is
                found = await _session_kernel(sm, path=body["path"])
                named.extend((k, USE) for k in found)
            kernel = body.get("kernel") if isinstance(body, dict) else None
            if isinstance(kernel, dict) and isinstance(kernel.get("id"), str):
                named.append((kernel["id"], USE))  # attaching a session to a kernel
        return [(k, n) for k, n in named if k in km]


def _body(handler: Any) -> Any:
    try:
        return handler.get_json_body()
    except HTTPError:
        return None  # the handler reports the broken body


async def _session_kernel(sm: Any, **match: str) -> list[str]:
    """The kernel id of the session matching ``match`` (none if there is no such session)."""
    try:
        if "path" in match and not await ensure_async(sm.session_exists(path=match["path"])):
            return []
        model = await sm.get_session(**match)
    except (HTTPError, KeyError, ValueError):
        return []
    kernel = (model or {}).get("kernel") or {}
    return [kernel["id"]] if kernel.get("id") else []
