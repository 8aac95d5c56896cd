"""A project kernel as the API shows it (state, generation, queue), its controls, and the
artifacts of the project's outputs.

Role rules: viewers read the kernel state and artifacts; editors start, interrupt,
restart and shut the kernel down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from ..errors import Conflict, NotFound, ServiceUnavailable
from ..projects.access import authorize
from ..projects.service import working_dir
from ..projects.users import Actor
from ..store import Database
from ..store.models import Artifact, ProjectKernel
from .artifacts import ArtifactStore
from .kernel_handle import KernelStartError
from .kernels import ProjectKernels
from .queue import ProjectQueues
from .schemas import KernelOut

DROPS_QUEUE = {"restart": "restarted", "shutdown": "shut down"}


class KernelControl:
    """Reads and controls the kernels the RunService runs blocks in."""

    def __init__(
        self,
        db: Database,
        kernels: ProjectKernels,
        queues: ProjectQueues,
        artifacts: ArtifactStore,
        cancel_queued: Callable[[int, str], Awaitable[None]],
    ) -> None:
        self.db = db
        self.kernels = kernels
        self.queues = queues
        self.artifacts = artifacts
        self.cancel_queued = cancel_queued  # (project id, why): the RunService's

    async def state(self, actor: Actor, project_id: int, minimum: str = "viewer") -> KernelOut:
        async with self.db.session() as session:
            await authorize(session, actor, project_id, minimum, "reading the kernel state")
            row = await session.get(ProjectKernel, project_id)
        return self.describe(project_id, row)

    def describe(self, project_id: int, row: ProjectKernel | None) -> KernelOut:
        """The kernel as the API shows it, from its stored row and the live handle."""
        live = self.kernels.state(project_id)
        handle = self.kernels.handle(project_id)
        queued = self.queues.queued(project_id)
        return KernelOut(
            state=live["state"],
            kernel_id=handle.kernel_id if handle else None,
            kernel_name=handle.kernel_name if handle else self.kernels.kernel_name,
            generation=row.generation if row else 0,
            started_at=row.started_at if row and handle else None,
            last_activity=live["last_activity"],
            reset_at=row.reset_at if row else None,
            reset_reason=row.reset_reason if row else "",
            queued_run_ids=queued,
        )

    async def start(self, actor: Actor, project_id: int) -> KernelOut:
        """Start the project's kernel unless it runs (editor), e.g. for a client to attach
        its notebook session to it; answers once it is ready."""
        async with self.db.session() as session:
            project, _ = await authorize(
                session, actor, project_id, "editor", "starting the kernel"
            )
            name, cwd = project.name, working_dir(project)
        try:
            await self.kernels.ensure(project_id, name, cwd)
        except KernelStartError as exc:
            raise ServiceUnavailable(str(exc), details={"state": "not_started"}) from None
        return await self.state(actor, project_id)

    async def act(self, actor: Actor, project_id: int, action: str) -> KernelOut:
        """interrupt, restart or shutdown the project's kernel (editor)."""
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "editor", f"{action} of the kernel")
        if action in DROPS_QUEUE and self.kernels.state(project_id)["state"] != "not_started":
            # Queued runs expect the state the kernel is about to lose: they do not run.
            # Cancelled first, or the worker would start the next one in the new kernel.
            await self.cancel_queued(project_id, f"cancelled: the kernel was {DROPS_QUEUE[action]}")
        done = False
        if action == "interrupt":
            done = await self.kernels.interrupt(project_id)
        elif action == "restart":
            done = await self.kernels.restart(project_id)
        elif action == "shutdown":
            done = await self.kernels.shutdown(project_id)
        if not done:
            raise Conflict(
                f"project {project_id} has no running kernel to {action}",
                details={"state": "not_started"},
            )
        return await self.state(actor, project_id)

    async def artifact(self, actor: Actor, project_id: int, sha256: str) -> tuple[Path, str]:
        """The file and mime type of an artifact the project's outputs reference."""
        async with self.db.session() as session:
            await authorize(session, actor, project_id, "viewer", "reading artifacts")
            row = await session.get(Artifact, (project_id, sha256)) if len(sha256) == 64 else None
        if row is None or not self.artifacts.exists(sha256):
            raise NotFound(f"artifact {sha256[:64]!r} not found in project {project_id}")
        return self.artifacts.path(sha256), row.mime
