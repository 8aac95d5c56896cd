"""The service container the app builds once and the handlers use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .agent.loop import Limits, Publish
from .agent.service import AgentService
from .ai.router import Router
from .ai.service import AIService
from .ai.templates import PromptService
from .bundles.service import BundleService
from .dag.service import DagService
from .datasets.kernel_link import KernelLink
from .datasets.lineage import LineageService
from .datasets.reports import ReportService
from .datasets.rules import RuleService
from .datasets.service import DatasetService
from .datasets.storage import BlobStore
from .events.feed import ProjectFeed
from .events.hub import Hub
from .execution.pipelines import PipelineService
from .execution.service import RunService
from .execution.teardown import ProjectTeardown
from .notebooks.service import NotebookService
from .projects.blocks import BlockService
from .projects.listing import BlockPages
from .projects.locks import KeyedLocks
from .projects.members import MemberService
from .projects.service import ProjectService
from .projects.users import ActorCache
from .schedules import Scheduler, ScheduleService
from .schedules import build as build_schedules
from .store import Database
from .workspace.service import WorkspaceService


@dataclass
class Services:
    """Everything a request may need, wired together from configuration."""

    db: Database
    projects: ProjectService
    members: MemberService
    blocks: BlockService
    admin_users: frozenset[str]
    max_request_bytes: int
    version: str
    runs: RunService
    dag: DagService
    pipelines: PipelineService
    notebooks: NotebookService
    ai: AIService
    prompts: PromptService
    datasets: DatasetService
    rules: RuleService
    lineage: LineageService
    reports: ReportService
    staging_dir: str
    dataset_max_bytes: int
    workspace: WorkspaceService
    hub: Hub
    local_username: str | None = None
    actors: ActorCache = field(default_factory=ActorCache)
    agent: AgentService = field(init=False)
    schedules: ScheduleService = field(init=False)
    scheduler: Scheduler = field(init=False)  # started by the app, not by CLI commands
    bundles: BundleService = field(init=False)
    block_pages: BlockPages = field(init=False)  # cached block lists (ETag)

    @classmethod
    def build(
        cls,
        db: Database,
        *,
        admin_users: frozenset[str],
        max_request_bytes: int,
        version: str,
        runs: RunService,
        ai: Router,
        store: BlobStore,
        storage_options: dict[str, Any],
        staging_dir: str,
        dataset_max_bytes: int,
        root_dir: str,
        allow_hidden: bool = False,
        report_rows: int = 100_000,
        report_minimal: bool = False,
        local_username: str | None = None,
        hub: Hub | None = None,
        agent_limits: Limits | None = None,
        publish: Publish | None = None,
        rule_time_limit: float = 30.0,
        schedule_missed: str = "skip",
        schedule_missed_after: float = 60.0,
        bundle_max_bytes: int = 10 * 1024**3,
    ) -> Services:
        hub = hub or Hub()
        feed = ProjectFeed(hub)
        locks = KeyedLocks()
        prompts = PromptService(db)
        rules = RuleService(db, store, rule_time_limit)
        datasets = DatasetService(
            db,
            store,
            locks,
            runs.events.events,
            root_dir=root_dir,
            staging_dir=staging_dir,
            allow_hidden=allow_hidden,
            on_version=rules.evaluate_version,
        )
        lineage = LineageService(db)
        link = KernelLink(db, datasets, lineage, storage_options)
        runs.on_datasets = link.record
        runs.kernels.setup = link.setup_code
        dag = DagService(db, runs.live_generation, feed)
        services = cls(
            db=db,
            projects=ProjectService(db, feed),
            members=MemberService(db, locks, feed),
            blocks=BlockService(db, locks, feed),
            admin_users=admin_users,
            max_request_bytes=max_request_bytes,
            version=version,
            runs=runs,
            dag=dag,
            pipelines=PipelineService(db, runs, runs.events.events),
            notebooks=NotebookService(
                db, runs.artifacts, runs.text_limit, runs.kernels.kernel_name
            ),
            ai=AIService(db, ai, prompts),
            prompts=prompts,
            datasets=datasets,
            rules=rules,
            lineage=lineage,
            reports=ReportService(
                db,
                store,
                runs.artifacts,
                runs.events.events,
                max_rows=report_rows,
                minimal=report_minimal,
            ),
            staging_dir=staging_dir,
            dataset_max_bytes=dataset_max_bytes,
            workspace=WorkspaceService(db, runs),
            hub=hub,
            local_username=local_username,
        )
        services.notebooks.widgets = runs.widget_metadata
        services.block_pages = BlockPages(db)
        teardown = ProjectTeardown(db, runs.kernels, runs.cancel_queued, root_dir)
        # Pipelines first: one still running would otherwise start the kernel again.
        services.projects.on_deleted.append(services.pipelines.project_deleted)
        services.projects.on_deleted.append(teardown.project_deleted)
        services.blocks.on_deleted.append(runs.block_deleted)
        if publish is None:
            from .events import agent_publisher

            publish = agent_publisher(runs.events.events)
        services.agent = AgentService(services, publish, agent_limits or Limits())
        # Agent turns first: a turn's next tool call would run blocks again.
        services.projects.on_deleted.insert(0, services.agent.project_deleted)
        services.schedules, services.scheduler = build_schedules(
            db, services.pipelines, missed=schedule_missed, missed_after=schedule_missed_after
        )
        services.bundles = BundleService(
            db,
            datasets,
            runs.artifacts,
            staging_dir,
            bundle_max_bytes,
            f"ai_notebook_ext {version}",
        )
        return services

    async def close(self) -> None:
        """Stop agent turns, pipelines, runs and kernels, then close database connections."""
        await self.scheduler.stop()
        await self.agent.stop()
        await self.pipelines.stop()
        await self.reports.stop()
        await self.datasets.stop()
        await self.runs.stop()
        await self.db.dispose()
