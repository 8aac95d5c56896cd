"""Who may see and use which kernel: project roles from the database, starters in memory.

A project kernel (its id recorded in ``project_kernels``) belongs to the project: viewers
may read its model, editors and owners may use it (attach, execute, interrupt, restart,
shut down). Any other kernel belongs to the user who started it through Jupyter's API.
Admins and the single local user may do everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from ..projects.access import ROLE_RANK
from ..store import Database
from ..store.models import Membership, ProjectKernel, User

READ = "read"  # see the kernel's model, in lists and by id
USE = "use"  # attach, execute, interrupt, restart, shut down

NEEDED_ROLE = {READ: "viewer", USE: "editor"}


@dataclass(frozen=True)
class ProjectRoles:
    """The extension's view of the caller: single-user mode, admins, project roles."""

    db: Database
    admin_users: frozenset[str]
    local_username: str | None  # set in single-user mode: everyone is that user

    def unrestricted(self, username: str) -> bool:
        return self.local_username is not None or username in self.admin_users

    async def project_kernels(self, username: str, kernel_ids: Iterable[str]) -> dict[str, str]:
        """Of ``kernel_ids``, the project kernels, each with the caller's role in its
        project ('' when the caller is not a member)."""
        ids = list(kernel_ids)
        if not ids:
            return {}
        member = (
            select(Membership.project_id, Membership.role)
            .join(User, User.id == Membership.user_id)
            .where(User.username == username)
            .subquery()
        )
        query = (
            select(ProjectKernel.kernel_id, member.c.role)
            .outerjoin(member, member.c.project_id == ProjectKernel.project_id)
            .where(ProjectKernel.kernel_id.in_(ids))
        )
        async with self.db.session() as session:
            rows = (await session.execute(query)).all()
        return {str(row.kernel_id): row.role or "" for row in rows}


def role_allows(role: str, need: str) -> bool:
    """Whether a project role ('' for none) grants ``need`` on the project's kernel."""
    return bool(role) and ROLE_RANK[role] >= ROLE_RANK[NEEDED_ROLE[need]]
