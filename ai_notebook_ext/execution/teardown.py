"""What a deleted project leaves in the server: its queued runs, its kernel and Jupyter
session, its working folder.

The project's rows are gone (deleted first, so no new run can start meanwhile); then its
queued runs are cancelled, its kernel is shut down (which deletes its Jupyter session and
ends a run in progress, whose end is no longer recorded) and its working folder is
removed if it is empty. Files are never deleted: a folder with anything in it stays, as
does a folder another project still uses, the server's root itself, anything outside it
and a symbolic link.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import func, select

from ..store import Database
from ..store.models import Project
from .kernels import ProjectKernels

log = logging.getLogger(__name__)

REASON = "the project was deleted"


class ProjectTeardown:
    """Frees what a project held once it is deleted (``ProjectService.on_deleted``)."""

    def __init__(
        self,
        db: Database,
        kernels: ProjectKernels,
        cancel_queued: Callable[[int, str], Awaitable[None]],
        root_dir: str,
    ) -> None:
        self.db = db
        self.kernels = kernels
        self.cancel_queued = cancel_queued  # (project id, why): the RunService's
        self.root_dir = root_dir

    async def project_deleted(self, project_id: int, working_dir: str) -> None:
        """Cancel, shut down and remove; each step is tried even if one before failed."""
        try:
            await self.cancel_queued(project_id, f"cancelled: {REASON}")
        except Exception:
            log.exception("ai_notebook_ext: cancelling runs of deleted project %s", project_id)
        try:
            await self.kernels.shutdown(project_id, REASON)
        except Exception:
            log.exception("ai_notebook_ext: stopping the kernel of deleted project %s", project_id)
        try:
            if not await self._shared(working_dir):
                remove_empty_folder(self.root_dir, working_dir)
        except Exception:
            log.exception("ai_notebook_ext: removing the folder of deleted project %s", project_id)

    async def _shared(self, working_dir: str) -> bool:
        """Whether a remaining project names the same working folder."""
        async with self.db.session() as session:
            count = await session.scalar(
                select(func.count()).select_from(Project).where(Project.working_dir == working_dir)
            )
        return bool(count)


def remove_empty_folder(root_dir: str, relative: str) -> bool:
    """Remove ``root_dir/relative`` if it is an empty folder strictly inside the root (not
    a link); True if it was removed. Never removes files or non-empty folders."""
    root = Path(os.path.realpath(root_dir))
    folder = Path(root_dir) / relative
    if folder.is_symlink() or not folder.is_dir():
        return False
    real = Path(os.path.realpath(folder))
    if real == root or root not in real.parents:
        return False
    try:
        os.rmdir(real)  # fails on anything not empty: nothing inside is ever deleted
    except OSError:
        return False
    return True
