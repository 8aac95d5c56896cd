"""The bundle's JSON: ``manifest.json`` (format, version, the bytes it carries) and
``project.json`` (the project's rows with their ids in the exporting server).

The models validate an imported bundle strictly (unknown fields, wrong types and
oversize text are refused) and are what the exporter writes, so both sides agree.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, JsonValue, StringConstraints

from ..datasets.schemas import DatasetName, Format, RuleIn, Tag
from ..execution.schemas import BlockResultStatus, RunStatus
from ..projects.schemas import (
    INT_MAX,
    BlockKind,
    Description,
    Input,
    Name,
    Position,
    Source,
    Text,
    Timeout,
    Version,
)

FORMAT = "ai-notebook-bundle"
VERSION = 1
MANIFEST = "manifest.json"
PROJECT = "project.json"
BLOBS = "blobs/"  # + sha256: a dataset version's bytes
ARTIFACTS = "artifacts/"  # + sha256: an output's artifact
JSON_MAX = 128 << 20  # bytes of project.json at most (it is parsed in memory)
MANIFEST_MAX = 64 << 20  # bytes of manifest.json at most

Id = Annotated[int, Field(ge=1, le=INT_MAX)]
Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Size = Annotated[int, Field(ge=0, le=2**62)]
Count = Annotated[int, Field(ge=0, le=2**62)]
Label = Annotated[str, StringConstraints(max_length=255), Text]
Message = Annotated[str, StringConstraints(max_length=1_000_000), Text]
Json = dict[str, JsonValue]


class Manifest(Input):
    """``manifest.json``: what the bundle is and the files it carries (sha256 -> size)."""

    format: Literal["ai-notebook-bundle"]
    version: Literal[1]
    created_at: AwareDatetime
    generator: Label = ""
    blobs: dict[Digest, Size] = Field(default_factory=dict)
    artifacts: dict[Digest, Size] = Field(default_factory=dict)


class ProjectInfo(Input):
    name: Name
    description: Description = ""


class BlockDoc(Input):
    id: Id
    position: Position
    kind: BlockKind
    source: Source
    version: Version
    timeout_seconds: Timeout | None = None
    last_run_id: Id | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class EdgeDoc(Input):
    """A dependency a user drew (inferred ones are derived from the code, not stored)."""

    source_id: Id
    target_id: Id
    created_at: AwareDatetime


class BlockResultDoc(Input):
    block_id: Id
    status: BlockResultStatus
    run_id: Id | None = None
    attempts: Count
    reason: Message = ""
    where: Label = "project kernel"


class RunDoc(Input):
    """A block run (outputs, artifacts named by sha256) or a pipeline run (plan,
    results, options)."""

    id: Id
    kind: Literal["block", "pipeline"]
    block_id: Id | None = None
    parent_id: Id | None = None
    status: RunStatus
    source: Source = ""
    block_version: Version = 1
    timeout_seconds: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    execution_count: Annotated[int, Field(ge=0, le=INT_MAX)] | None = None
    outputs: list[Json] = Field(default_factory=list)
    error: Json | None = None
    message: Message = ""
    fingerprint: Annotated[str, StringConstraints(max_length=64), Text] | None = None
    plan: list[Id] | None = None
    results: list[BlockResultDoc] | None = None
    options: Json | None = None
    queued_at: AwareDatetime
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None


class ArtifactDoc(Input):
    sha256: Digest
    mime: Annotated[str, StringConstraints(min_length=1, max_length=255), Text]
    size: Annotated[int, Field(ge=0, le=INT_MAX)]  # the artifacts table's column
    created_at: AwareDatetime


class RuleDoc(RuleIn):
    id: Id
    created_at: AwareDatetime


class QualityDoc(Input):
    passed: bool
    results: list[Json]
    created_at: AwareDatetime


class ColumnDoc(Input):
    name: Annotated[str, StringConstraints(max_length=10_000), Text]
    type: Annotated[str, StringConstraints(max_length=10_000), Text]


class VersionDoc(Input):
    id: Id
    number: Version
    parent_id: Id | None = None
    blob: Digest
    size: Size
    format: Format
    row_count: Count | None = None
    columns: list[ColumnDoc] = Field(default_factory=list)
    read_options: dict[Annotated[str, StringConstraints(max_length=32)], Label] = Field(
        default_factory=dict
    )
    source: Literal["upload", "register", "kernel"] = "upload"
    status: Literal["ready", "processing", "broken"] = "ready"
    problem: Message = ""
    filename: Label = ""
    created_at: AwareDatetime
    quality: list[QualityDoc] = Field(default_factory=list)


class DatasetDoc(Input):
    id: Id
    name: DatasetName
    description: Description = ""
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    created_at: AwareDatetime
    updated_at: AwareDatetime
    rules: list[RuleDoc] = Field(default_factory=list)
    versions: list[VersionDoc] = Field(default_factory=list)


class LineageDoc(Input):
    """A block run read or wrote a version of this project's datasets."""

    run_id: Id
    version_id: Id
    direction: Literal["read", "write"]
    created_at: AwareDatetime


class ProjectDoc(Input):
    """``project.json``."""

    project: ProjectInfo
    blocks: list[BlockDoc] = Field(default_factory=list)
    edges: list[EdgeDoc] = Field(default_factory=list)
    runs: list[RunDoc] = Field(default_factory=list)
    artifacts: list[ArtifactDoc] = Field(default_factory=list)
    datasets: list[DatasetDoc] = Field(default_factory=list)
    lineage: list[LineageDoc] = Field(default_factory=list)
