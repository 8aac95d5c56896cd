"""The extension's options (``c.AINotebookApp.<name>``): traits with their defaults and
checks, apart from the app that acts on them (``app.py``).

``AINotebookApp`` inherits them, so they are configured, listed by ``--help-all`` and
given on the command line under its name as before.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir
from traitlets import Bool, Dict, Enum, Float, Int, List, Set, Unicode, default, validate
from traitlets.config import LoggingConfigurable


class Settings(LoggingConfigurable):
    """Every option of the extension; ``AINotebookApp`` is where they are set."""

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

    database_pool_size = Int(
        32,
        min=1,
        help=(
            "PostgreSQL connections a server keeps open once it has used them (up to a "
            "quarter more in bursts, closed after use). Opening one forks a PostgreSQL "
            "process: a pool smaller than the concurrent requests makes a busy server "
            "open and close connections all the time. With several servers on one "
            "PostgreSQL, keep servers x 1.25 x this under its max_connections (100 by "
            "default). Not used with SQLite."
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

    gc_tuning = Bool(
        True,
        help="Once set up, freeze the server's import and setup objects for Python's "
        "garbage collector (gc.freeze) and make young collections every 50,000 "
        "allocations instead of 700: full collections otherwise walk the whole import "
        "graph and put ~200 ms pauses on busy servers. It changes the whole process; "
        "turn it off when the server shares its process (tests).",
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
