"""AINotebookApp: the Jupyter Server extension, its configuration and its handlers."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.auth.identity import (
    IdentityProvider,
    LegacyIdentityProvider,
    PasswordIdentityProvider,
)
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Enum, Float, Int, List, Set, Unicode, default, validate

from ._version import __version__

if TYPE_CHECKING:  # the heavy modules load after the server answers (see initialize_settings)
    from .servers.registry import ServerRegistry
    from .services import Services
    from .store import Database

KERNELSPEC_DIR = Path(__file__).parent / "kernelspec"


class AINotebookApp(ExtensionApp):
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

    data_dir = Unicode(
        help=(
            "Folder for the extension's own files: the default SQLite database, artifacts "
            "and dataset blobs. Default: <jupyter data dir>/ai_notebook_ext."
        ),
    ).tag(config=True)

    database_url = Unicode(
        help=(
            "SQLAlchemy URL of the database. Default: a SQLite file ai_notebook.db in "
            "data_dir. For shared use give PostgreSQL, e.g. "
            "postgresql://user:password@host:5432/dbname (psycopg 3 is used; install the "
            "'postgres' extra). Migrations are applied at startup."
        ),
    ).tag(config=True)

    admin_users = Set(
        Unicode(),
        help="Usernames with the admin role: they see and manage every project.",
    ).tag(config=True)

    max_request_bytes = Int(
        16 * 1024 * 1024,
        help="Largest JSON request body accepted by the REST API, in bytes (413 above it).",
    ).tag(config=True)

    single_user = Bool(
        None,
        allow_none=True,
        help=(
            "Treat every authenticated caller as one local user (local_username). Jupyter's "
            "default token/password identity gives each browser session a random anonymous "
            "name, so without this a project would belong to a session, not a person. "
            "Default (None): on with Jupyter's default identity providers, off with any "
            "other (e.g. JupyterHub's), whose usernames are used as they are."
        ),
    ).tag(config=True)

    local_username = Unicode(
        help="The username of the single local user (single_user mode). Default: the OS user.",
    ).tag(config=True)

    kernel_name = Unicode(
        "ai-notebook-python",
        help=(
            "Kernelspec of project kernels. The default, installed with the package, is "
            "Python 3 with the kernel-side extension (ai_notebook_ext.kernel) preloaded."
        ),
    ).tag(config=True)

    default_timeout = Float(
        0.0,
        help=(
            "Seconds a block may run before it is interrupted and its run fails with "
            "'timed out after N s'; a block's own timeout_seconds wins. 0: no limit."
        ),
    ).tag(config=True)

    output_text_limit = Int(
        100_000,
        help=(
            "Text outputs longer than this many characters are stored as artifacts on disk "
            "(the run keeps a reference); binary outputs (images, PDFs) always are."
        ),
    ).tag(config=True)

    event_outputs = Bool(
        None,
        allow_none=True,
        help=(
            "Send the outputs of running blocks as run-output events. Jupyter's event bus "
            "(/api/events/subscribe) reaches every user allowed to subscribe, not only a "
            "project's members. Default (None): on in single-user mode, off otherwise (status "
            "events still flow; clients fetch outputs from the run)."
        ),
    ).tag(config=True)

    ai_default_model = Unicode(
        help="Model of AI calls that name none: provider:model (e.g. openai:gpt-4o-mini) or "
        "an alias."
    ).tag(config=True)
    ai_aliases = Dict(Unicode(), help="Short names for models: {'fast': 'ollama:llama3'}.").tag(
        config=True
    )
    ai_fallback = List(
        Unicode(),
        help="Models tried in order when the requested one is unavailable, times out or "
        "rate-limits.",
    ).tag(config=True)
    ai_retries = Int(2, help="Retries of a failing provider before falling back.").tag(config=True)
    ai_request_timeout = Float(60.0, help="Seconds an AI call may take.").tag(config=True)
    ai_rate_per_minute = Float(30.0, help="AI calls a user may make per minute (0: no limit).").tag(
        config=True
    )
    ai_cache = Bool(
        True, help="Allow callers to reuse answers of identical temperature-0 calls."
    ).tag(config=True)
    openai_api_key = Unicode(help="Default: OPENAI_API_KEY.").tag(config=True)
    openai_base_url = Unicode(help="Default: OPENAI_BASE_URL (an OpenAI-compatible server).").tag(
        config=True
    )
    gemini_api_key = Unicode(help="Default: GEMINI_API_KEY or GOOGLE_API_KEY.").tag(config=True)
    gemini_base_url = Unicode(help="A proxy or compatible server for Gemini.").tag(config=True)
    ollama_host = Unicode(help="Default: OLLAMA_HOST, else http://127.0.0.1:11434.").tag(
        config=True
    )

    agent_max_steps = Int(
        20, help="Model calls an agent turn may make before it stops (step limit)."
    ).tag(config=True)
    agent_turn_token_budget = Int(
        200_000, help="Tokens (in + out, all steps) an agent turn may use before it stops."
    ).tag(config=True)
    agent_context_tokens = Int(
        16_000,
        help="Token budget of the agent's context (system prompt + history): older turns "
        "are summarised or dropped beyond it, the latest kept whole.",
    ).tag(config=True)
    agent_tool_result_chars = Int(
        4_000, help="Tool results longer than this are cut (with a marker) for the model."
    ).tag(config=True)
    agent_stream = Bool(True, help="Stream the agent's model answers.").tag(config=True)

    dataset_storage_url = Unicode(
        help="Where dataset blobs live: a local folder (default: <data_dir>/datasets) or an "
        "fsspec URL such as s3://bucket/prefix (pip install 'ai_notebook_ext[s3]')."
    ).tag(config=True)
    dataset_storage_options = Dict(
        help="fsspec options of the dataset storage, e.g. {'endpoint_url': ..., 'key': ..., "
        "'secret': ...} for S3-compatible servers. Never logged."
    ).tag(config=True)
    dataset_max_bytes = Int(
        10 * 1024**3, help="The largest dataset file an upload may send, in bytes."
    ).tag(config=True)

    bundle_max_bytes = Int(
        10 * 1024**3,
        help="The largest project bundle an import may send, in bytes; its entries may not "
        "unpack to more than this either.",
    ).tag(config=True)

    dataset_rule_time_limit = Float(
        30.0,
        help="Seconds a quality rule may run on a version; a slower rule is interrupted "
        "and fails with 'stopped after N s' (the other rules still run).",
    ).tag(config=True)
    dataset_workers = Int(
        4,
        help="Data worker processes at most (DuckDB reading, profiles, quality checks). "
        "Each project's jobs run one at a time in its own worker, so one project's slow "
        "job does not hold up others' while there are workers to spare.",
    ).tag(config=True)

    dataset_report_max_rows = Int(
        100_000, help="Full profile reports of larger datasets use a random sample this big."
    ).tag(config=True)
    dataset_report_minimal = Bool(
        False, help="Make minimal full reports (no correlations, interactions): faster."
    ).tag(config=True)

    kernel_idle_timeout = Float(
        3600.0,
        help=(
            "Seconds a project kernel may stay idle (no code running, no run queued) before "
            "it is shut down to free its memory; the next run starts a new one, with empty "
            "state. 0: never."
        ),
    ).tag(config=True)
    kernel_cull_connected = Bool(
        False,
        help=(
            "Also cull idle project kernels that a notebook or console has open (a websocket "
            "connection), as Jupyter's MappingKernelManager.cull_connected does."
        ),
    ).tag(config=True)
    spare_kernels = Int(
        1,
        help=(
            "Kernels of the project kernelspec kept started ahead, so that a project's "
            "first run takes one instead of waiting for a kernel to start. Local kernels "
            "only (not with GatewayClient.url). 0: none."
        ),
    ).tag(config=True)

    log_json = Bool(
        False,
        help="Write the extension's log records (loggers ai_notebook_ext.*) to stderr as "
        "JSON lines: time, level, logger, message, and the request id (also the "
        "X-Request-Id response header), run id and project id when known; one access line "
        "per API request. Configured secrets are masked.",
    ).tag(config=True)

    rate_limits = Dict(
        help="Per-user API rate limits by route class, each {'rate': requests per second, "
        "'burst': bucket size}; given classes override the defaults: "
        "read {100, 1000}, write {50, 500}, execute {50, 500} (block executes and pipeline "
        "starts), upload {5, 50}, ai {5, 50} (AI completions, agent messages). A rate of 0 "
        "turns a class's limit off. Over the limit: 429 with Retry-After.",
    ).tag(config=True)

    @validate("rate_limits")
    def _check_rate_limits(self, proposal: dict) -> dict:
        from .ratelimit import parse_limits

        parse_limits(proposal["value"])  # ValueError names the problem
        return dict(proposal["value"])

    schedule_missed = Enum(
        ["skip", "run_once"],
        "skip",
        help=(
            "What a schedule does about firings missed while no server ran (a due time "
            "more than schedule_missed_after seconds old): skip (move on to the next "
            "future time) or run_once (fire once now, then move on)."
        ),
    ).tag(config=True)
    schedule_missed_after = Float(
        60.0,
        help="Seconds after its due time that a schedule's firing counts as missed.",
    ).tag(config=True)

    heartbeat_interval = Float(
        10.0,
        help="Seconds between heartbeats of this server in the database (several servers "
        "on one PostgreSQL: who is alive; the same task renews its project run leases).",
    ).tag(config=True)
    server_dead_after = Float(
        0.0,
        help="Seconds without a heartbeat after which a server counts as dead: its runs "
        "are closed as failed and its run leases expire. 0: 3 x heartbeat_interval.",
    ).tag(config=True)

    @default("dataset_storage_url")
    def _default_dataset_storage_url(self) -> str:
        return str(Path(self.data_dir) / "datasets")

    @default("local_username")
    def _default_local_username(self) -> str:
        try:
            return getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, e.g. in some containers
            return "local"

    def _single_user(self) -> bool:
        if self.single_user is not None:
            return bool(self.single_user)
        provider = type(self.serverapp.identity_provider)
        return provider in (IdentityProvider, PasswordIdentityProvider, LegacyIdentityProvider)

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return os.path.join(jupyter_data_dir(), "ai_notebook_ext")

    @default("database_url")
    def _default_database_url(self) -> str:
        return "sqlite:///" + str(Path(self.data_dir) / "ai_notebook.db")

    @validate("admin_users")
    def _check_admin_users(self, proposal: dict) -> set[str]:
        """``--AINotebookApp.admin_users='["a", "b"]'`` gives one name, the whole text."""
        names = set(proposal["value"])
        odd = sorted(n for n in names if n[:1] in "[{" or any(c in n for c in "\",'"))
        if odd:
            self.log.warning(
                "ai_notebook_ext: admin_users has the odd name(s) %s: a JSON list given on "
                "the command line becomes one name. Repeat the option per name "
                "(--AINotebookApp.admin_users=alice --AINotebookApp.admin_users=bob) or set "
                "c.AINotebookApp.admin_users = {'alice', 'bob'} in jupyter_server_config.py",
                ", ".join(repr(n) for n in odd),
            )
        return names

    @validate("spare_kernels")
    def _check_spare_kernels(self, proposal: dict) -> int:
        if proposal["value"] < 0:
            raise ValueError("spare_kernels must be 0 (none) or more")
        return int(proposal["value"])

    @validate("heartbeat_interval", "server_dead_after")
    def _check_heartbeat(self, proposal: dict) -> float:
        name, value = proposal["trait"].name, proposal["value"]
        if value < 0 or (value == 0 and name == "heartbeat_interval"):
            raise ValueError(f"{name} must be a positive number of seconds")
        return float(value)

    def dead_after(self) -> float:
        """Seconds without a heartbeat after which a server is dead."""
        return self.server_dead_after or 3 * self.heartbeat_interval

    @validate("kernel_idle_timeout")
    def _check_kernel_idle_timeout(self, proposal: dict) -> float:
        if proposal["value"] < 0:
            raise ValueError("kernel_idle_timeout must be 0 (never) or a number of seconds")
        return float(proposal["value"])

    @validate("schedule_missed_after")
    def _check_schedule_missed_after(self, proposal: dict) -> float:
        if proposal["value"] <= 0:
            raise ValueError("schedule_missed_after must be a positive number of seconds")
        return float(proposal["value"])

    @validate("max_request_bytes")
    def _check_max_request_bytes(self, proposal: dict) -> int:
        if proposal["value"] < 1024:
            raise ValueError("max_request_bytes must be at least 1024")
        return int(proposal["value"])

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
            from .store import Database

            db = Database(self.database_url)
            db.migrate()
            self._database = db

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Jupyter's hook once the server runs: warm up (imports, recovery) in a thread,
        then build the services on the event loop, without holding up first answers."""

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
            from .store import Database

            db = self._database or Database(self.database_url)
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
