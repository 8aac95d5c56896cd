"""`jupyter ai-notebook import|export|run`: notebooks and pipelines without a server.

The commands use the database and data folder the server is configured with (the same
``jupyter_server_config`` files, or ``--database-url`` and ``--data-dir``), act as the
same single local user (the OS user, or ``--user``), and run pipelines in kernels they
start themselves, with the same services the server uses.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_core.application import JupyterApp
from traitlets import Bool, Int, Unicode, default

from .errors import ApiError

EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _common_aliases() -> dict[str, str]:
    return {
        "database-url": "AINotebookApp.database_url",
        "data-dir": "AINotebookApp.data_dir",
        "kernel-name": "AINotebookApp.kernel_name",
        "user": "CliCommand.user",
        "root-dir": "CliCommand.root_dir",
    }


class CliCommand(JupyterApp):
    """Base of the subcommands: configuration, the services, error handling."""

    config_file_name = "jupyter_server_config"  # the server's own configuration files
    aliases = _common_aliases()  # type: ignore[assignment]
    flags = {  # type: ignore[assignment]
        "json": ({"CliCommand": {"json": True}}, "Print the result as JSON on stdout."),
    }

    json = Bool(False, help="Print the result as JSON on stdout.").tag(config=True)
    user = Unicode(help="Act as this user (default: the OS user, as the server does).").tag(
        config=True
    )
    root_dir = Unicode(help="Folder kernels work below (default: the current folder).").tag(
        config=True
    )

    @default("log_level")
    def _default_log_level(self) -> int:
        return 30  # warnings and errors: the progress lines are the output

    @default("user")
    def _default_user(self) -> str:
        from .app import AINotebookApp

        return AINotebookApp(config=self.config).local_username

    @default("root_dir")
    def _default_root_dir(self) -> str:
        configured = self.config.get("ServerApp", {}).get("root_dir")
        return str(configured) if configured else os.getcwd()

    def start(self) -> None:
        try:
            code = asyncio.run(self.main())
        except (CliError, ApiError) as exc:
            print(f"error: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
            code = EXIT_USAGE
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            code = 130
        self.exit(code)

    async def main(self) -> int:  # pragma: no cover - subclasses implement it
        raise NotImplementedError

    def argument(self, what: str) -> str:
        if len(self.extra_args) != 1:
            raise CliError(f"give exactly one {what} (see --help)")
        return self.extra_args[0]

    def output(self, data: Any, text: str) -> None:
        print(json.dumps(data, indent=2, default=str) if self.json else text)


@dataclass
class Host:
    """What the services need from a Jupyter server, for a process without one."""

    kernel_manager: Any
    root_dir: str
    session_manager: Any = None
    event_logger: Any = None


@dataclass
class Progress:
    """Shows pipeline progress on stderr: a line per finished block, a bar on terminals."""

    plan: list[int] = field(default_factory=list)
    sources: dict[int, str] = field(default_factory=dict)
    done: int = 0
    started: dict[int, float] = field(default_factory=dict)
    tty: bool = field(default_factory=lambda: sys.stderr.isatty())

    MARKS = {"succeeded": "ok", "failed": "FAILED", "skipped": "skipped", "cancelled": "cancelled"}

    def register_event_schema(self, _path: Any) -> None:  # the EventLogger interface
        return None

    def emit(self, *, schema_id: str, data: dict[str, Any]) -> None:
        if not schema_id.endswith("/pipeline-block/v1"):
            return
        block, status = data["block_id"], data["status"]
        if status == "running":
            self.started.setdefault(block, time.monotonic())
            self._bar(block)
            return
        if status not in self.MARKS:
            return
        self.done += 1
        seconds = time.monotonic() - self.started.get(block, time.monotonic())
        first = (self.sources.get(block, "").strip().splitlines() or [""])[0][:50]
        reason = f"  ({data.get('reason')})" if status != "succeeded" and data.get("reason") else ""
        line = f"[{self.done:>{len(str(len(self.plan)))}}/{len(self.plan)}] "
        line += f"{self.MARKS[status]:<9} block {block:<6} {seconds:6.2f} s  {first}{reason}"
        if self.tty:
            sys.stderr.write("\r\x1b[2K")
        print(line, file=sys.stderr, flush=True)

    def _bar(self, block: int) -> None:
        if not self.tty or not self.plan:
            return
        width = 30
        filled = int(width * self.done / len(self.plan))
        sys.stderr.write(
            f"\r\x1b[2K[{'#' * filled}{'.' * (width - filled)}] {self.done}/{len(self.plan)} "
            f"running block {block}"
        )
        sys.stderr.flush()


class Session:
    """The services of the server, built for this process (no recovery: a server may be
    using the same database right now)."""

    def __init__(self, command: CliCommand, event_logger: Any = None) -> None:
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

        from .app import KERNELSPEC_DIR, AINotebookApp
        from .dag.service import DagService
        from .events import Events
        from .execution.pipelines import PipelineService
        from .execution.service import RunService
        from .notebooks.service import NotebookService
        from .store import Database

        settings = AINotebookApp(config=command.config)
        self.db = Database(settings.database_url)
        self.db.migrate()
        self.command = command
        specs = KernelSpecManager()
        if settings.kernel_name not in specs.find_kernel_specs():
            specs.kernel_dirs.append(str(KERNELSPEC_DIR))
        kernels = AsyncMappingKernelManager(kernel_spec_manager=specs, root_dir=command.root_dir)
        host = Host(kernel_manager=kernels, root_dir=command.root_dir)
        events = Events(event_logger)
        self.runs = RunService(
            self.db,
            host,
            events,
            kernel_name=settings.kernel_name,
            artifact_dir=Path(settings.data_dir) / "artifacts",
            text_limit=settings.output_text_limit,
            default_timeout=settings.default_timeout or None,
        )
        self.dag = DagService(self.db, self.runs.live_generation)
        self.pipelines = PipelineService(self.db, self.runs, events)
        self.notebooks = NotebookService(
            self.db, self.runs.artifacts, settings.output_text_limit, settings.kernel_name
        )

    async def actor(self) -> Any:
        from .projects.users import actor_for

        async with self.db.session() as session:
            return await actor_for(session, self.command.user, self.command.user, is_admin=False)

    async def project_id(self, actor: Any, ref: str) -> int:
        """A project by id or by its exact name among the user's projects."""
        return await find_project(self.db, actor, ref)

    async def close(self) -> None:
        await self.pipelines.stop()
        await self.runs.stop()
        await self.db.dispose()


async def find_project(db: Any, actor: Any, ref: str) -> int:
    """A project by id or by its exact name among the user's projects."""
    from sqlalchemy import select

    from .store.models import Membership, Project

    async with db.session() as session:
        query = select(Project.id, Project.name).join(
            Membership,
            (Membership.project_id == Project.id) & (Membership.user_id == actor.id),
        )
        if ref.isdigit():
            rows = (await session.execute(query.where(Project.id == int(ref)))).all()
        else:
            rows = (await session.execute(query.where(Project.name == ref))).all()
    if not rows:
        raise CliError(f"no project {ref!r} for user {actor.username!r}")
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows)
        raise CliError(f"several projects are named {ref!r} (ids {ids}); give the id")
    return int(rows[0].id)


class ImportCommand(CliCommand):
    """jupyter ai-notebook import NOTEBOOK [--name NAME]"""

    name = "ai-notebook-import"
    description = "Import a .ipynb notebook as a new project (outputs kept as last runs)."
    aliases = {**_common_aliases(), "name": "ImportCommand.project_name"}  # type: ignore[assignment]
    project_name = Unicode(help="Project name (default: the notebook's title).").tag(config=True)

    async def main(self) -> int:
        path = Path(self.argument("notebook file"))
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror}") from None
        session = Session(self)
        try:
            actor = await session.actor()
            project = await session.notebooks.import_notebook(
                actor, text, self.project_name or None, fallback_name=path.stem or "notebook"
            )
        finally:
            await session.close()
        self.output(
            project.model_dump(mode="json"),
            f"imported {path.name} as project {project.id} ({project.name!r})",
        )
        return 0


class ExportCommand(CliCommand):
    """jupyter ai-notebook export PROJECT [-o FILE]"""

    name = "ai-notebook-export"
    description = "Export a project (id or name) as a .ipynb notebook with its outputs."
    aliases = {**_common_aliases(), "o": "ExportCommand.output_path"}  # type: ignore[assignment]
    output_path = Unicode(help="File to write ('-': stdout). Default: <project name>.ipynb").tag(
        config=True
    )

    async def main(self) -> int:
        ref = self.argument("project (id or name)")
        session = Session(self)
        try:
            actor = await session.actor()
            pid = await session.project_id(actor, ref)
            filename, text = await session.notebooks.export_notebook(actor, pid)
        finally:
            await session.close()
        if self.output_path == "-":
            sys.stdout.write(text)
            return 0
        target = Path(self.output_path or filename)
        await asyncio.to_thread(target.write_text, text, encoding="utf-8")
        print(f"wrote {target}", file=sys.stderr)
        return 0


class RunCommand(CliCommand):
    """jupyter ai-notebook run PROJECT [--target all|stale|...] [--parallel N]"""

    name = "ai-notebook-run"
    description = (
        "Run a project's pipeline headless (no server needed): its blocks in dependency "
        "order in a fresh kernel, with progress per block. Exit code 0 when every block "
        "succeeded, 1 otherwise."
    )
    aliases = {  # type: ignore[assignment]
        **_common_aliases(),
        "target": "RunCommand.target",
        "block": "RunCommand.block",
        "parallel": "RunCommand.parallel",
        "retries": "RunCommand.retries",
    }
    flags = {  # type: ignore[assignment]
        **CliCommand.flags,
        "stop-on-error": ({"RunCommand": {"stop_on_error": True}}, "Stop at the first failure."),
    }
    target = Unicode("all", help="all, stale, upstream, downstream or blocks.").tag(config=True)
    block = Unicode(
        help="The block of upstream/downstream, or comma-separated ids for blocks."
    ).tag(config=True)
    parallel = Int(1, help="Worker count.").tag(config=True)
    retries = Int(0, help="Extra attempts per failed block.").tag(config=True)
    stop_on_error = Bool(False, help="Skip everything left after a failure.").tag(config=True)

    def options(self) -> Any:
        from pydantic import ValidationError

        from .execution.schemas import PipelineCreate

        fields: dict[str, Any] = {
            "target": self.target,
            "parallel": self.parallel,
            "retries": self.retries,
            "stop_on_error": self.stop_on_error,
        }
        ids = [p.strip() for p in self.block.split(",") if p.strip()]
        if not all(p.isdigit() for p in ids):
            raise CliError(f"--block: give block ids (numbers), not {self.block!r}")
        if self.target in ("upstream", "downstream") and ids:
            fields["block_id"] = int(ids[0])
        elif self.target == "blocks" and ids:
            fields["block_ids"] = [int(i) for i in ids]
        try:
            return PipelineCreate(**fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise CliError(f"--{err['loc'][0]}: {err['msg']}") from None

    async def main(self) -> int:
        ref = self.argument("project (id or name)")
        options = self.options()
        progress = Progress()
        session = Session(self, event_logger=progress)
        try:
            actor = await session.actor()
            pid = await session.project_id(actor, ref)
            from .dag.service import load_graph

            async with session.db.session() as db_session:
                graph, _, _ = await load_graph(db_session, pid)
            progress.sources = dict(graph.sources)
            run = await session.pipelines.start(actor, pid, options, wait=False)
            progress.plan = list(run.plan or [])
            print(
                f"project {pid}: {len(progress.plan)} blocks to run (target {options.target})",
                file=sys.stderr,
            )
            run = await session.pipelines.wait(run.id) or run
        finally:
            await session.close()
        self.output(run.model_dump(mode="json"), f"{run.status}: {run.message}")
        return 0 if run.status == "succeeded" else EXIT_FAILED
