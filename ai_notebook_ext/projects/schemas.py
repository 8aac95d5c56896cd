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
Position = Annotated[int, Field(ge=0, le=INT_MAX)]
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


class ProjectUpdate(Input):
    name: Name | None = None
    description: Description | None = None


class ProjectOut(Output):
    id: int
    name: str
    description: str
    owner: str = Field(description="Username of the user who created the project.")
    role: ProjectRole = Field(description="The caller's role in the project.")
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
    position: Position | None = Field(
        default=None, description="Insert at this 0-based position; default: append."
    )


class BlockSpec(Input):
    kind: BlockKind = "code"
    source: Source = ""


class BlockBulkCreate(Input):
    blocks: Annotated[list[BlockSpec], Field(min_length=1, max_length=BULK_MAX)]
    position: Position | None = Field(
        default=None, description="Insert all blocks starting here; default: append."
    )


class BlockUpdate(Input):
    version: Version = Field(description="The version the client last saw.")
    kind: BlockKind | None = None
    source: Source | None = None


class BlockMove(Input):
    position: Position


class BlockOut(Output):
    id: int
    project_id: int
    position: int
    kind: BlockKind
    source: str
    version: int
    created_at: datetime
    updated_at: datetime


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
