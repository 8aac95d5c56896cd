"""Request and response models of the datasets API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue, StringConstraints, TypeAdapter

from ..projects.schemas import Description, Input, Output, Text
from .formats import FORMATS

DatasetName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f/\\]+$"
    ),
    Text,
]
DATASET_NAME: TypeAdapter[str] = TypeAdapter(DatasetName)
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), Text]
Format = Literal["csv", "tsv", "parquet", "json", "jsonl", "xlsx"]
assert set(Format.__args__) == set(FORMATS)  # type: ignore[attr-defined]


ENCODING = (
    "csv/tsv: the text encoding (default utf-8, as pandas; a file that is not UTF-8 gets "
    "400 naming the encoding it looks like, e.g. cp1252)."
)
DELIMITER = "csv: ',', ';', '|' or 'tab'; default: the one the header line uses most."
THOUSANDS = (
    'csv/tsv: a thousands separator, so that "1,234" is a number; default none (pandas '
    "reads such values as text)."
)
SHEET = "xlsx: a sheet's name or 0-based position; default the first sheet."


class DatasetUpdate(Input):
    description: Description | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)


class RegisterIn(Input):
    name: DatasetName
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024), Text] = Field(
        description="A file below the server's root dir, relative to it."
    )
    format: Format | None = Field(default=None, description="Default: from the name/content.")
    encoding: str | None = Field(default=None, max_length=40, description=ENCODING)
    delimiter: str | None = Field(default=None, max_length=3, description=DELIMITER)
    thousands: str | None = Field(default=None, max_length=1, description=THOUSANDS)
    sheet: str | None = Field(default=None, max_length=100, description=SHEET)


class ColumnOut(Output):
    name: str
    type: str


class QualityOut(Output):
    passed: bool
    results: list[dict[str, Any]]
    created_at: datetime


class VersionOut(Output):
    id: int
    number: int
    parent: int | None = Field(description="The version number this one followed.")
    blob: str = Field(description="sha256 of the content.")
    size: int
    format: Format
    row_count: int | None = Field(description="null while a background upload is counted.")
    columns: list[ColumnOut] = Field(
        description="Names and DuckDB types, typed as pandas types the columns: a column "
        "pandas reads as object is VARCHAR, or DATE/TIME/TIMESTAMP when all its values are "
        "such, or STRUCT/LIST for nested JSON (kept as structs, not flattened); integers "
        "with nulls stay integer types (float64 in pandas)."
    )
    read_options: dict[str, str] = Field(
        default_factory=dict,
        description="How the file is read (delimiter, encoding, thousands, sheet); "
        "ain.load reads it the same way.",
    )
    source: Literal["upload", "register", "kernel"]
    status: Literal["ready", "processing", "broken"]
    problem: str = Field(description="Why a version is broken.")
    filename: str
    created_by: str | None
    created_at: datetime
    quality: QualityOut | None = None


class DatasetOut(Output):
    id: int
    project_id: int
    name: str
    description: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    latest: VersionOut | None


class DatasetList(Output):
    items: list[DatasetOut]


class VersionList(Output):
    items: list[VersionOut]


class UploadOut(Output):
    dataset: DatasetOut
    version: VersionOut
    created: bool = Field(description="False when the content equals the latest version's.")


class TypeChange(Output):
    name: str
    before: str
    after: str


class SchemaDiff(Output):
    base: int
    other: int
    added: list[ColumnOut]
    removed: list[ColumnOut]
    changed: list[TypeChange]
    row_count_change: int | None = Field(description="null while either count is unknown.")


class RuleIn(Input):
    kind: Literal["not_null", "unique", "range", "allowed_values", "regex", "row_count", "sql"]
    column: Annotated[str, StringConstraints(min_length=1, max_length=255), Text] | None = None
    params: dict[Annotated[str, StringConstraints(max_length=64)], JsonValue] = Field(
        default={}, max_length=50
    )


class RuleOut(Output):
    id: int
    kind: str
    column: str | None
    params: dict[str, Any]
    created_at: datetime


class RuleList(Output):
    items: list[RuleOut]


class LineageRun(Output):
    run_id: int
    block_id: int | None
    status: str
    direction: Literal["read", "write"]
    version: int
    dataset: str
    created_at: datetime


class LineageOut(Output):
    dataset_id: int
    runs: list[LineageRun] = Field(description="Block runs that read or wrote its versions.")
    upstream: list[dict[str, Any]] = Field(
        description="Versions of other datasets read by the runs that wrote this one."
    )
    downstream: list[dict[str, Any]] = Field(
        description="Versions of other datasets written by runs that read this one."
    )


class CatalogHit(Output):
    project_id: int
    project: str
    dataset_id: int
    name: str
    description: str
    tags: list[str]
    matched: list[str] = Field(description="What matched: name, description, tag, column.")
    columns: list[str]
    row_count: int | None


class CatalogOut(Output):
    items: list[CatalogHit]


class ReportOut(Output):
    id: int
    version: int
    status: Literal["queued", "running", "done", "failed"]
    progress: float
    message: str
    sampled_rows: int | None
    created_at: datetime
    finished_at: datetime | None
