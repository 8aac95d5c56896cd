"""Request and response models of the projects API.

The same pydantic models validate request bodies (strictly: no type coercion, unknown
fields refused) and produce the JSON schemas of the OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

NAME_MAX = 200
DESCRIPTION_MAX = 10_000
SOURCE_MAX = 1_000_000
USERNAME_MAX = 255
BULK_MAX = 1000
PAGE_MAX = 500

ProjectRole = Literal["owner", "editor", "viewer"]
BlockKind = Literal["code", "markdown"]


def storable_text(value: str) -> str:
    """Refuse text no database can store: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it has a lone surrogate)") from None
    return value


Text = AfterValidator(storable_text)
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX), Text
]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX), Text]
Source = Annotated[str, StringConstraints(max_length=SOURCE_MAX), Text]
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=USERNAME_MAX), Text
]
INT_MAX = 2**31 - 1
TIMEOUT_MAX = 7 * 24 * 3600
WORKDIR_MAX = 1024
Position = Annotated[int, Field(ge=0, le=INT_MAX)]
Timeout = Annotated[
    float, Field(gt=0, le=TIMEOUT_MAX, description="Seconds before the run is interrupted.")
]


def relative_dir(value: str) -> str:
    """A folder below the server's root dir: relative, no '..', no backslashes."""
    parts = [p for p in value.strip().split("/") if p not in ("", ".")]
    if value.startswith("/") or "\\" in value or ".." in parts or not parts:
        raise ValueError("must be a relative folder below the server's root dir, without '..'")
    return "/".join(parts)


WorkingDir = Annotated[
    str, StringConstraints(max_length=WORKDIR_MAX), Text, AfterValidator(relative_dir)
]
Version = Annotated[int, Field(ge=1, le=INT_MAX)]


class Input(BaseModel):
    """Base of request bodies: strict types, unknown fields are errors."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Output(BaseModel):
    """Base of response bodies, built from ORM rows or plain objects."""

    model_config = ConfigDict(from_attributes=True)


class ProjectCreate(Input):
    name: Name
    description: Description = ""
    working_dir: WorkingDir | None = Field(
        default=None,
        description="Kernel folder below the server root; default ai-notebook/project-<id>.",
    )


class ProjectUpdate(Input):
    name: Name | None = None
    description: Description | None = None
    working_dir: WorkingDir | None = None


class ProjectOut(Output):
    id: int
    name: str
    description: str
    owner: str = Field(description="Username of the user who created the project.")
    role: ProjectRole = Field(description="The caller's role in the project.")
    working_dir: str = Field(description="The kernel's working folder below the server root.")
    created_at: datetime
    updated_at: datetime


class MemberAdd(Input):
    username: Username
    role: ProjectRole


class MemberUpdate(Input):
    role: ProjectRole


class MemberOut(Output):
    username: str
    display_name: str
    role: ProjectRole
    created_at: datetime


class BlockCreate(Input):
    kind: BlockKind = "code"
    source: Source = ""
    timeout_seconds: Timeout | None = None
    position: Position | None = Field(
        default=None, description="Insert at this 0-based position; default: append."
    )


class BlockSpec(Input):
    kind: BlockKind = "code"
    source: Source = ""
    timeout_seconds: Timeout | None = None


class BlockBulkCreate(Input):
    blocks: Annotated[list[BlockSpec], Field(min_length=1, max_length=BULK_MAX)]
    position: Position | None = Field(
        default=None, description="Insert all blocks starting here; default: append."
    )


class BlockUpdate(Input):
    version: Version = Field(description="The version the client last saw.")
    kind: BlockKind | None = None
    source: Source | None = None
    timeout_seconds: Timeout | None = Field(
        default=None, description="Seconds before a run is interrupted; null: the default."
    )


class BlockMove(Input):
    position: Position


class BlockOut(Output):
    id: int
    project_id: int
    position: int
    kind: BlockKind
    source: str
    version: int
    timeout_seconds: float | None
    last_run_id: int | None
    created_at: datetime
    updated_at: datetime


class OutputsClear(Input):
    block_ids: Annotated[
        list[Annotated[int, Field(ge=1, le=INT_MAX)]],
        Field(min_length=1, max_length=BULK_MAX, description="Blocks of this project."),
    ]


class OutputsCleared(Output):
    block_ids: list[int] = Field(
        description="The blocks whose outputs were cleared (the others showed none)."
    )


class BlockMoved(Output):
    block: BlockOut
    order: list[int] = Field(description="Block ids of the project in their new order.")


class UserOut(Output):
    username: str
    display_name: str
    role: Literal["admin", "member"]


T = TypeVar("T")


class Page(Output, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class BlockList(Output):
    items: list[BlockOut]
