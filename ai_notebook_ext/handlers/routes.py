"""The API's route table: OpenAPI path templates mapped to handlers.

The tornado patterns are derived from the templates, so the served routes and the
OpenAPI document cannot drift apart.
"""

from __future__ import annotations

import re

from jupyter_server.utils import url_path_join
from tornado.web import RequestHandler

from .agent import (
    AgentApprovalHandler,
    AgentCancelHandler,
    AgentConversationHandler,
    AgentConversationsHandler,
    AgentMessagesHandler,
)
from .ai import (
    AIAnalyticsHandler,
    AICompleteHandler,
    AIPromptHandler,
    AIPromptRenderHandler,
    AIPromptsHandler,
    AIProvidersHandler,
)
from .artifacts import ArtifactHandler
from .base import NotFoundHandler
from .blocks import (
    BlockHandler,
    BlockMoveHandler,
    BlocksBulkHandler,
    BlocksHandler,
    OutputsClearHandler,
)
from .bundles import BundleExportHandler, BundleImportHandler
from .dag import DagHandler, EdgeHandler, EdgesHandler
from .dataset_upload import DatasetUploadHandler
from .datasets import (
    CatalogHandler,
    DatasetDiffHandler,
    DatasetHandler,
    DatasetRegisterHandler,
    DatasetsHandler,
    LineageHandler,
    ReportHandler,
    ReportHtmlHandler,
    RuleHandler,
    RulesHandler,
    VersionDownloadHandler,
    VersionHandler,
    VersionProfileHandler,
    VersionQualityHandler,
    VersionReportHandler,
    VersionsHandler,
)
from .events import ProjectEventsSocket
from .kernels import KernelHandler, KernelInterruptHandler, KernelRestartHandler
from .members import MemberHandler, MembersHandler
from .meta import MeHandler, OpenAPIHandler
from .notebooks import NotebookExportHandler, NotebookImportHandler
from .projects import ProjectHandler, ProjectsHandler
from .runs import ExecuteHandler, RunCancelHandler, RunHandler, RunsHandler
from .schedules import ScheduleHandler, SchedulesHandler
from .workspace import WorkspaceHandler

API_PREFIX = "/ai-notebook/api"

# REST handlers (ApiHandler) and the project's event socket (a WebSocketHandler).
ROUTES: list[tuple[str, type[RequestHandler]]] = [
    ("/me", MeHandler),
    ("/ai/providers", AIProvidersHandler),
    ("/ai/complete", AICompleteHandler),
    ("/ai/analytics", AIAnalyticsHandler),
    ("/ai/prompts", AIPromptsHandler),
    ("/ai/prompts/{name}", AIPromptHandler),
    ("/ai/prompts/{name}/render", AIPromptRenderHandler),
    ("/openapi.json", OpenAPIHandler),
    ("/projects", ProjectsHandler),
    ("/projects/import", NotebookImportHandler),  # before /projects/{project_id}
    ("/projects/bundle", BundleImportHandler),  # before /projects/{project_id}
    ("/projects/{project_id}", ProjectHandler),
    ("/projects/{project_id}/notebook", NotebookExportHandler),
    ("/projects/{project_id}/bundle", BundleExportHandler),
    ("/projects/{project_id}/workspace", WorkspaceHandler),
    ("/projects/{project_id}/events", ProjectEventsSocket),
    ("/projects/{project_id}/members", MembersHandler),
    ("/projects/{project_id}/members/{username}", MemberHandler),
    ("/projects/{project_id}/blocks", BlocksHandler),
    ("/projects/{project_id}/blocks/bulk", BlocksBulkHandler),
    ("/projects/{project_id}/blocks/clear-outputs", OutputsClearHandler),
    ("/projects/{project_id}/blocks/{block_id}", BlockHandler),
    ("/projects/{project_id}/blocks/{block_id}/move", BlockMoveHandler),
    ("/projects/{project_id}/blocks/{block_id}/execute", ExecuteHandler),
    ("/projects/{project_id}/runs", RunsHandler),
    ("/projects/{project_id}/runs/{run_id}", RunHandler),
    ("/projects/{project_id}/runs/{run_id}/cancel", RunCancelHandler),
    ("/projects/{project_id}/schedules", SchedulesHandler),
    ("/projects/{project_id}/schedules/{schedule_id}", ScheduleHandler),
    ("/projects/{project_id}/kernel", KernelHandler),
    ("/projects/{project_id}/kernel/interrupt", KernelInterruptHandler),
    ("/projects/{project_id}/kernel/restart", KernelRestartHandler),
    ("/projects/{project_id}/artifacts/{artifact_id}", ArtifactHandler),
    ("/projects/{project_id}/dag", DagHandler),
    ("/projects/{project_id}/edges", EdgesHandler),
    ("/projects/{project_id}/edges/{edge_id}", EdgeHandler),
    ("/projects/{project_id}/agent/conversations", AgentConversationsHandler),
    ("/projects/{project_id}/agent/conversations/{conversation_id}", AgentConversationHandler),
    (
        "/projects/{project_id}/agent/conversations/{conversation_id}/messages",
        AgentMessagesHandler,
    ),
    ("/projects/{project_id}/agent/conversations/{conversation_id}/cancel", AgentCancelHandler),
    ("/projects/{project_id}/agent/approvals/{approval_id}", AgentApprovalHandler),
    ("/datasets", CatalogHandler),
    ("/projects/{project_id}/datasets", DatasetsHandler),
    ("/projects/{project_id}/datasets/upload", DatasetUploadHandler),  # before {dataset_id}
    ("/projects/{project_id}/datasets/register", DatasetRegisterHandler),
    ("/projects/{project_id}/datasets/{dataset_id}", DatasetHandler),
    ("/projects/{project_id}/datasets/{dataset_id}/diff", DatasetDiffHandler),
    ("/projects/{project_id}/datasets/{dataset_id}/lineage", LineageHandler),
    ("/projects/{project_id}/datasets/{dataset_id}/rules", RulesHandler),
    ("/projects/{project_id}/datasets/{dataset_id}/rules/{rule_id}", RuleHandler),
    ("/projects/{project_id}/datasets/{dataset_id}/versions", VersionsHandler),
    ("/projects/{project_id}/datasets/{dataset_id}/versions/{number}", VersionHandler),
    (
        "/projects/{project_id}/datasets/{dataset_id}/versions/{number}/download",
        VersionDownloadHandler,
    ),
    (
        "/projects/{project_id}/datasets/{dataset_id}/versions/{number}/profile",
        VersionProfileHandler,
    ),
    (
        "/projects/{project_id}/datasets/{dataset_id}/versions/{number}/quality",
        VersionQualityHandler,
    ),
    (
        "/projects/{project_id}/datasets/{dataset_id}/versions/{number}/report",
        VersionReportHandler,
    ),
    ("/projects/{project_id}/datasets/{dataset_id}/reports/{report_id}", ReportHandler),
    ("/projects/{project_id}/datasets/{dataset_id}/reports/{report_id}/html", ReportHtmlHandler),
]


def tornado_pattern(template: str) -> str:
    """``/projects/{project_id}`` -> ``/ai-notebook/api/projects/([^/]+)``."""
    return url_path_join(API_PREFIX, re.sub(r"\{[a-z_]+\}", "([^/]+)", template)) + "/?"


def handlers() -> list[tuple[str, type[RequestHandler]]]:
    """The tornado handler list, with a JSON 404 for unknown API paths last."""
    table = [(tornado_pattern(t), h) for t, h in ROUTES]
    table.append((url_path_join(API_PREFIX, "(.*)"), NotFoundHandler))
    return table
