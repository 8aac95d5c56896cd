"""File formats of datasets: detection from content and name, validation by reading.

Formats: csv, tsv, parquet, json (an array of objects), jsonl, xlsx. A file is accepted
only after its schema and row count were read by the real parser, so a broken or
mislabeled file is refused with the parser's own reason. The client's filename is used
only for its extension, never as a path.

``open_relation`` exposes any stored version to DuckDB as a view named ``data``, which
the profile and quality checks query.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Any

FORMATS = ("csv", "tsv", "parquet", "json", "jsonl", "xlsx")
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xlsx": "xlsx",
}
SNIFF = 64 * 1024
EXCEL_TYPE_ROWS = 1000


class FormatError(ValueError):
    """The file cannot be read as a dataset; the message says why."""


@dataclass(frozen=True)
class Schema:
    """What a read of the whole file found."""

    format: str
    columns: list[dict[str, str]]
    row_count: int


def extension_format(filename: str) -> str | None:
    """The format an uploaded file's name claims, if any."""
    return EXTENSIONS.get(os.path.splitext(filename.lower())[1])


def sniff(path: str) -> str | None:
    """The format the first bytes look like (None: empty)."""
    with open(path, "rb") as f:
        head = f.read(SNIFF)
    if not head:
        return None
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx" if _is_xlsx(path) else "zip"
    if b"\x00" in head:
        return "binary"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        first = text.split(b"\n", 1)[0].strip()
        try:
            json.loads(first)
            return "jsonl"
        except ValueError:
            return "json"
    first_line = text.split(b"\n", 1)[0]
    return "tsv" if first_line.count(b"\t") > first_line.count(b",") else "csv"


def _is_xlsx(path: str) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return "xl/workbook.xml" in z.namelist()
    except zipfile.BadZipFile:
        return False


def detect(path: str, filename: str = "", declared: str | None = None) -> str:
    """The format to read the file as: declared, else the extension, else the content.

    A name or declaration that contradicts the content is refused with both facts.
    """
    looks = sniff(path)
    if looks is None:
        raise FormatError("the file is empty")
    claimed = declared or extension_format(filename)
    if claimed is None:
        if looks in ("binary", "zip"):
            raise FormatError(
                "the content is not a supported format (csv, tsv, parquet, json, jsonl, xlsx)"
            )
        return looks
    binary = {"parquet", "xlsx"}
    if (claimed in binary or looks in binary | {"binary", "zip"}) and claimed != looks:
        what = {"binary": "binary data", "zip": "a zip archive"}.get(looks, looks)
        raise FormatError(f"the file is named or declared {claimed} but its content is {what}")
    return claimed


def _quote(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def reader_sql(path: str, fmt: str) -> str:
    """DuckDB's table function reading ``path`` as ``fmt`` (not for xlsx)."""
    p = _quote(path)
    if fmt == "csv":
        return f"read_csv({p}, header = true, delim = ',')"
    if fmt == "tsv":
        return f"read_csv({p}, header = true, delim = '\\t')"
    if fmt == "parquet":
        return f"read_parquet({p})"
    if fmt == "json":
        return f"read_json({p}, format = 'array')"
    if fmt == "jsonl":
        return f"read_json({p}, format = 'newline_delimited')"
    raise ValueError(fmt)


def connect(memory_limit: str = "1GB", threads: int = 2) -> Any:
    """A private in-memory DuckDB connection with bounded memory; what does not fit
    spills to a temporary folder."""
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute(f"SET temp_directory = {_quote(_spill_dir())}")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET enable_progress_bar = false")
    return con


@functools.cache
def _spill_dir() -> str:
    """A private folder (mode 0700) of this process for DuckDB's spill files."""
    return tempfile.mkdtemp(prefix="ai-notebook-duckdb-")


def open_relation(con: Any, path: str, fmt: str) -> None:
    """Create the view ``data`` over the file in this connection."""
    if fmt == "xlsx":
        con.register("data", read_excel(path))
        return
    con.execute(f"CREATE OR REPLACE VIEW data AS SELECT * FROM {reader_sql(path, fmt)}")


def read_excel(path: str) -> Any:
    """The first sheet as a pandas DataFrame (header in the first row)."""
    import pandas as pd

    return pd.read_excel(path, sheet_name=0, engine="openpyxl")


def inspect(path: str, fmt: str, *, count: bool = True) -> Schema:
    """Read the file as ``fmt``: its columns, their types and (``count``) the row count,
    which reads the whole file. Without ``count`` only the parser's sample is read (the
    header and first rows of text formats); row_count is then -1."""

    if fmt not in FORMATS:
        raise FormatError(f"unsupported format {fmt!r}; one of {', '.join(FORMATS)}")
    con = connect()
    try:
        open_relation(con, path, fmt)
        columns = [{"name": r[0], "type": r[1]} for r in con.execute("DESCRIBE data").fetchall()]
        rows = -1
        if count or fmt in ("parquet", "xlsx"):  # cheap there: metadata, or already read
            (rows,) = con.execute("SELECT count(*) FROM data").fetchone()
    except Exception as exc:  # any parser's complaint (DuckDB, openpyxl's XML, zip) is the file's
        raise FormatError(f"cannot read the file as {fmt}: {_reason(exc, path)}") from None
    finally:
        con.close()
    if not columns:
        raise FormatError(f"cannot read the file as {fmt}: it has no columns")
    return Schema(fmt, columns, int(rows))


def _reason(exc: Exception, path: str) -> str:
    """The parser's message, first lines only (DuckDB appends the query), without the
    server's path."""
    text = str(exc).strip().split("\n\nLINE", 1)[0].replace(path, "<file>")
    lines = [line for line in text.splitlines() if line.strip()][:4]
    return " ".join(lines)[:600] or type(exc).__name__
