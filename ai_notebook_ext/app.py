"""AINotebookApp: the Jupyter Server extension, its configuration and its handlers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from jupyter_server.auth.identity import (
    IdentityProvider,
    LegacyIdentityProvider,
    PasswordIdentityProvider,
)
from jupyter_server.extension.application import ExtensionApp

from ._version import __version__
from .settings import Settings

if TYPE_CHECKING:  # the heavy modules load after the server answers (see initialize_settings)
    from .servers.registry import ServerRegistry
    from .services import Services
    from .store import Database

KERNELSPEC_DIR = Path(__file__).parent / "kernelspec"


class AINotebookApp(Settings, ExtensionApp):
    """Projects of code blocks run in Jupyter kernels, with datasets and an AI agent."""

    name = "ai_notebook_ext"
    description = "AI notebook: projects, blocks, DAG pipelines, datasets and AI agents."
    load_other_extensions = True
    # `jupyter ai-notebook` (the server) keeps Jupyter's kernel APIs to project members
    serverapp_config = {"authorizer_class": "ai_notebook_ext.auth.ProjectAuthorizer"}
    # `jupyter ai-notebook import|export|run ...` (no server; see cli.py)
    subcommands = {
        "import": ("ai_notebook_ext.cli.ImportCommand", "Import a .ipynb as a new project."),
        "export": ("ai_notebook_ext.cli.ExportCommand", "Export a project as a .ipynb."),
        "run": ("ai_notebook_ext.cli.RunCommand", "Run a project's pipeline headless."),
        "agent": ("ai_notebook_ext.agent.headless.AgentCommand", "Ask the AI agent headless."),
        "backup": ("ai_notebook_ext.backup.commands.BackupCommand", "Back up everything."),
        "restore": ("ai_notebook_ext.backup.commands.RestoreCommand", "Restore a backup."),
    }

    def _single_user(self) -> bool:
        if self.single_user is not None:
            return bool(self.single_user)
        provider = type(self.serverapp.identity_provider)
        return provider in (IdentityProvider, PasswordIdentityProvider, LegacyIdentityProvider)

    _services: Services | None = None
    _database: Database | None = None
    _warmup: asyncio.Task[None] | None = None

    def initialize_settings(self) -> None:
        """Check the database schema (migrating it when it is not at head); the rest of
        the setup waits until the server runs (``_start_jupyter_server_extension``) or is
        first needed.

        A start thus costs one cheap query: SQLAlchemy, pydantic, the services and the
        handlers (most of the extension's import time) load in a background thread once
        the server answers, or on the first use of ``services``, whichever comes first.
        """
        self._observe()
        if self.serverapp.event_logger is not None:
            from .events.bus import register_schemas

            register_schemas(self.serverapp.event_logger)
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        self._setup_lock = threading.Lock()
        from .startup import at_head

        if not at_head(self.database_url):
            db = self._open_database()
            db.migrate()
            self._database = db

    def _open_database(self) -> Any:
        """The configured database (store.Database, imported on first use)."""
        from .store import Database

        return Database(self.database_url, pool_size=self.database_pool_size)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Jupyter's hook once the server runs: warm up (imports, recovery) in a thread,
        then build the services on the event loop, without holding up first answers."""

        from .startup import tune_gc

        async def warm_up() -> None:
            try:
                await asyncio.to_thread(self._prepare)
                self._ensure_services()
            except Exception:  # raised again on first use, where the caller sees it
                self.log.exception("ai_notebook_ext: setting up failed")
                return
            # a real server (not pytest-jupyter's): spare kernels start filling, the
            # heartbeat beats and other servers' events come in
            self.services.runs.start_spares()
            self._culler.include_spares()
            self._registry.start()
            if self.gc_tuning:
                tune_gc()
            if self._relay is not None:
                self._relay.start()

        self._warmup = asyncio.ensure_future(warm_up())

    @property
    def services(self) -> Services:
        """The service container, built on first use if the warm-up has not yet."""
        if self._services is None:
            self._ensure_services()
        assert self._services is not None
        return self._services

    @services.setter
    def services(self, value: Services | None) -> None:
        self._services = value

    def _prepare(self) -> Database:
        """Import the services and handlers and recover what the last server left
        unfinished (sync; in the warm-up thread or on first use). Idempotent."""
        with self._setup_lock:
            if self._database is not None and getattr(self, "_recovered", False):
                return self._database
            from . import services  # noqa: F401  (the import is the warm-up)
            from .agent.conversations import recover as recover_conversations
            from .execution.recovery import recover
            from .handlers import routes  # noqa: F401

            db = self._database or self._open_database()
            self._database = db
            registry = self._registry = self._register(db)
            interrupted, alone = recover(
                db.url, dead_after=registry.dead_after, register=registry.row()
            )
            if interrupted:
                self.log.warning(
                    "ai_notebook_ext: %d run(s) left unfinished by the last server are interrupted",
                    interrupted,
                )
            self._alone = alone  # no other live server at startup
            turns = recover_conversations(db.url) if alone else 0
            if turns:
                self.log.warning(
                    "ai_notebook_ext: %d agent turn(s) left unfinished by the last server are "
                    "interrupted",
                    turns,
                )
            self._recovered = True
            return db

    def _ensure_services(self) -> None:
        """Build the services (on the event loop's thread) unless they are built."""
        if self._services is not None:
            return
        db = self._prepare()
        if self._services is None:  # _prepare may have waited for the warm-up thread
            self._build_services(db)

    def _build_services(self, db: Database) -> None:
        from .datasets import worker as dataset_worker
        from .datasets.storage import BlobStore
        from .events import Events, Hub
        from .execution.culling import KernelCuller
        from .execution.service import RunService
        from .servers.relay import EventRelay
        from .services import Services

        registry = self._registry
        self._ensure_kernelspec()
        hub = Hub()  # the project sockets' fan-out; every event goes through it
        events = Events(
            getattr(self.serverapp, "event_logger", None), hub, shared=not self._single_user()
        )
        runs = RunService(
            db,
            self.serverapp,
            events,
            kernel_name=self.kernel_name,
            artifact_dir=Path(self.data_dir) / "artifacts",
            text_limit=self.output_text_limit,
            default_timeout=self.default_timeout or None,
            output_events=self._single_user() if self.event_outputs is None else self.event_outputs,
            spare_kernels=self.spare_kernels,
            server_id=registry.id,
            leases=registry.leases,
        )
        registry.run_events = runs.events
        self._relay = EventRelay(db, registry.id, hub) if db.backend != "sqlite" else None
        if self._relay is not None:
            self._relay.peers = not self._alone
            registry.on_peers = self._relay.set_peers
        self._culler = KernelCuller(
            runs.kernels, runs.queues, self.kernel_idle_timeout, self.kernel_cull_connected
        )
        self._culler.attach()
        staging = Path(self.data_dir) / "staging"
        shutil.rmtree(staging, ignore_errors=True)  # uploads a stopped server left unfinished
        services = Services.build(
            db,
            ai=self._ai_router(),
            store=BlobStore(self.dataset_storage_url, dict(self.dataset_storage_options)),
            storage_options=dict(self.dataset_storage_options),
            staging_dir=str(staging),
            dataset_max_bytes=self.dataset_max_bytes,
            root_dir=self.serverapp.root_dir,
            allow_hidden=bool(getattr(self.serverapp.contents_manager, "allow_hidden", False)),
            report_rows=self.dataset_report_max_rows,
            report_minimal=self.dataset_report_minimal,
            admin_users=frozenset(self.admin_users),
            max_request_bytes=self.max_request_bytes,
            version=__version__,
            runs=runs,
            local_username=self.local_username if self._single_user() else None,
            hub=hub,
            agent_limits=self.agent_limits(),
            rule_time_limit=self.dataset_rule_time_limit,
            schedule_missed=self.schedule_missed,
            schedule_missed_after=self.schedule_missed_after,
            bundle_max_bytes=self.bundle_max_bytes,
        )
        dataset_worker.configure(self.dataset_workers)
        self._services = services
        self._start_scheduler()
        self._attach_roles(services)
        self.log.info("ai_notebook_ext %s: database %s", __version__, db.display_url)
        if services.local_username:
            self.log.info(
                "ai_notebook_ext: single-user mode, every caller acts as %r",
                services.local_username,
            )

    def _observe(self) -> None:
        """JSON logs (with this configuration's secrets masked) and the rate limiter."""
        from . import logs
        from .ratelimit import RateLimiter, parse_limits

        storage = dict(self.dataset_storage_options)
        secrets = [self.openai_api_key, self.gemini_api_key, str(storage.get("secret", ""))]
        secrets += [str(storage.get("key", "")), str(storage.get("token", ""))]
        secrets += [os.environ.get(k, "") for k in ("OPENAI_API_KEY", "GEMINI_API_KEY")]
        secrets += [os.environ.get("GOOGLE_API_KEY", "")]
        identity = getattr(self.serverapp, "identity_provider", None)
        secrets.append(str(getattr(identity, "token", "") or ""))
        with contextlib.suppress(ValueError):  # the database password, if the URL has one
            secrets.append(unquote(urlsplit(self.database_url).password or ""))
        logs.configure(self.log_json, secrets)
        self.rate_limiter = RateLimiter(parse_limits(self.rate_limits))

    def _start_scheduler(self) -> None:
        """Schedules fire once the services exist in a running event loop (built on first
        use under pytest-jupyter, by the warm-up in a real server)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self.services.scheduler.start()

    def _register(self, db: Database) -> ServerRegistry:
        """This server's registry (the startup recovery writes its row), with project
        leases when several servers can share the database (PostgreSQL)."""
        from .servers.leases import ProjectLeases
        from .servers.registry import ServerRegistry

        registry = ServerRegistry(
            db, interval=self.heartbeat_interval, dead_after=self.dead_after()
        )
        if ProjectLeases.needed(db):
            registry.leases = ProjectLeases(db, registry.id, registry.dead_after)
        self.log.info("ai_notebook_ext: server id %s", registry.id)
        return registry

    def agent_limits(self) -> Any:
        """The agent's limits from this configuration."""
        from .agent.loop import Limits

        return Limits(
            max_steps=self.agent_max_steps,
            token_budget=self.agent_turn_token_budget,
            context_tokens=self.agent_context_tokens,
            tool_result_chars=self.agent_tool_result_chars,
            stream=self.agent_stream,
        )

    def _ensure_kernelspec(self) -> None:
        """Make the packaged kernelspec findable even where the data files are not on the
        Jupyter path (editable installs, test environments)."""
        ksm = getattr(self.serverapp, "kernel_spec_manager", None)
        if ksm is None or not hasattr(ksm, "kernel_dirs"):
            return
        if (
            self.kernel_name not in ksm.find_kernel_specs()
            and str(KERNELSPEC_DIR) not in ksm.kernel_dirs
        ):
            ksm.kernel_dirs.append(str(KERNELSPEC_DIR))

    def _ai_router(self) -> Any:
        """The AI router from this configuration (client libraries are not imported)."""
        from .ai.providers import default_providers
        from .ai.router import ResponseCache, Router, TokenBucket

        providers = default_providers(
            openai_api_key=self.openai_api_key or None,
            openai_base_url=self.openai_base_url or None,
            gemini_api_key=self.gemini_api_key or None,
            gemini_base_url=self.gemini_base_url or None,
            ollama_host=self.ollama_host or None,
        )
        rate = self.ai_rate_per_minute
        return Router(
            providers,
            aliases=dict(self.ai_aliases),
            default_model=self.ai_default_model,
            fallback=list(self.ai_fallback),
            retries=self.ai_retries,
            request_timeout=self.ai_request_timeout,
            limiter=TokenBucket(rate, max(1.0, rate / 6)) if rate > 0 else None,
            cache=ResponseCache() if self.ai_cache else None,
        )

    def initialize_handlers(self) -> None:
        from .handlers.lazy import install

        install(self.serverapp.web_app, self.name)  # the handlers load on first use
        self._guard_jupyter_kernels()

    def _guard_jupyter_kernels(self) -> None:
        """With ProjectAuthorizer, Jupyter's kernel and session APIs follow project roles."""
        from .auth import ProjectAuthorizer

        authorizer = getattr(self.serverapp, "authorizer", None)
        if not isinstance(authorizer, ProjectAuthorizer):
            if not self._single_user():
                self.log.warning(
                    "ai_notebook_ext: every user can reach every kernel through Jupyter's "
                    "kernel and session APIs; start the server with "
                    "--ServerApp.authorizer_class=ai_notebook_ext.auth.ProjectAuthorizer"
                )
            return
        from .auth.jupyter_api import install

        authorizer.attach(_DeferredRoles(self))  # type: ignore[arg-type]
        install(self.serverapp.web_app)

    def _attach_roles(self, services: Services) -> None:
        """Give the authorizer the project roles of the database now open."""
        authorizer = getattr(self.serverapp, "authorizer", None)
        if isinstance(getattr(authorizer, "roles", None), _DeferredRoles):
            from .auth.access import ProjectRoles

            authorizer.roles = ProjectRoles(  # type: ignore[union-attr]
                services.db, services.admin_users, services.local_username
            )

    async def stop_extension(self) -> None:
        """Stop runs and project kernels and close the database when the server stops."""
        if self._warmup is not None and not self._warmup.done():
            await asyncio.shield(self._warmup)  # half-built services would be left open
        culler = getattr(self, "_culler", None)
        if culler is not None:
            await culler.stop()
        services = self._services
        if services is not None:
            self._services = None  # stopping twice is harmless
            await services.close()
            relay, self._relay = getattr(self, "_relay", None), None
            if relay is not None:
                await relay.stop()
            registry, self._registry = getattr(self, "_registry", None), None
            if registry is not None:  # after the runs ended: the row goes last
                await registry.stop()
                await services.db.dispose()
        elif self._database is not None:
            await self._database.dispose()


class _DeferredRoles:
    """Project roles for ProjectAuthorizer until the services are built: who is
    unrestricted comes from the configuration; a project-kernel question builds them."""

    def __init__(self, app: AINotebookApp) -> None:
        self.app = app

    def unrestricted(self, username: str) -> bool:
        single = self.app.local_username if self.app._single_user() else None
        return single is not None or username in self.app.admin_users

    async def project_kernels(self, username: str, kernel_ids: Any) -> dict[str, str]:
        from .auth.access import ProjectRoles

        services = self.app.services
        roles = ProjectRoles(services.db, services.admin_users, services.local_username)
        return await roles.project_kernels(username, kernel_ids)


main = launch_new_instance = AINotebookApp.launch_instance
