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
from dataclasses import dataclass, field, replace
from typing import Any

from .blanklines import has_blank_lines, without_blank_lines
from .pandastypes import cast_types, ident, pandas_casts
from .readoptions import (
    NA_VALUES,
    OptionError,
    ReadOptions,
    first_long_row,
    not_utf8_message,
    resolve,
    sheet_names,
    utf8_copy,
)

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
# DuckDB's sniffer candidates minus BOOLEAN: DuckDB reads t/f, yes/no as booleans, pandas
# does not; columns of True/False spellings pandas knows become BOOLEAN afterwards.
TYPE_CANDIDATES = ("BIGINT", "DOUBLE", "TIME", "DATE", "TIMESTAMP", "VARCHAR")
EXCEL_TYPE_ROWS = 1000
SAMPLE_HEAD = 8 << 20  # bytes of a text file copied (recoded, blank lines) for a sample read


class FormatError(ValueError):
    """The file cannot be read as a dataset; the message says why."""


@dataclass(frozen=True)
class Schema:
    """What a read of the whole file found."""

    format: str
    columns: list[dict[str, str]]
    row_count: int
    read_options: dict[str, str] = field(default_factory=dict)


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


def _sql_list(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(_quote(v) for v in values) + "]"


def reader_sql(
    path: str, fmt: str, options: ReadOptions | None = None, retry: frozenset[str] = frozenset()
) -> str:
    """DuckDB's table function reading ``path`` as ``fmt`` (not for xlsx) the way pandas'
    defaults read it: pandas' missing-value markers are nulls, '"' quotes, short rows
    padded with nulls. ``retry``: "full" sniffs the types from every row, not a sample;
    "serial" reads with one thread (needed for quoted newlines with padding)."""
    full = "full" in retry
    p = _quote(path)
    opts = options or ReadOptions()
    if fmt in ("csv", "tsv"):
        delim = opts.delimiter or ("\t" if fmt == "tsv" else ",")
        parts = [
            p,
            "header = true",
            f"delim = {_quote(delim)}",
            "quote = '\"'",
            "escape = '\"'",
            f"nullstr = {_sql_list(NA_VALUES)}",
            "null_padding = true",
            f"auto_type_candidates = {_sql_list(TYPE_CANDIDATES)}",
        ]
        if opts.names:
            parts.append(f"names = {_sql_list(opts.names)}")
        if opts.thousands:
            parts.append(f"thousands = {_quote(opts.thousands)}")
        if full:
            parts.append("sample_size = -1")
        if "serial" in retry:
            parts.append("parallel = false")
        return f"read_csv({', '.join(parts)})"
    if fmt == "parquet":
        return f"read_parquet({p})"
    if fmt == "json":
        return f"read_json({p}, format = 'array'{', sample_size = -1' if full else ''})"
    if fmt == "jsonl":
        return f"read_json({p}, format = 'newline_delimited'{', sample_size = -1' if full else ''})"
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


def open_relation(
    con: Any,
    path: str,
    fmt: str,
    options: ReadOptions | None = None,
    *,
    retry: frozenset[str] = frozenset(),
    head: int | None = None,
) -> ReadOptions:
    """Create the view ``data`` over the file in this connection, read as pandas reads it
    with ``options``; returns the options completed for the file. ``retry``: see
    ``reader_sql`` (after a first read failed, ``next_retry``). ``head``: text copied (another
    encoding than UTF-8, blank lines) is copied only up to about this many bytes (a
    sample)."""
    opts = resolve(path, fmt, options or ReadOptions())
    if fmt == "xlsx":
        con.register("data", read_excel(path, opts.sheet))
        return opts
    if fmt in ("csv", "tsv"):
        _csv_relation(con, path, fmt, opts, retry, head)
    else:
        con.execute(
            f"CREATE OR REPLACE VIEW data AS SELECT * FROM {reader_sql(path, fmt, opts, retry)}"
        )
    if fmt in ("csv", "tsv"):
        found = len(con.execute("DESCRIBE data").fetchall())
        if opts.names is not None and found > len(opts.names):
            long = first_long_row(path, opts)
            where = f"line {long[0]} has {long[1]} fields" if long else "a line has more fields"
            raise FormatError(
                f"{where}; the header has {len(opts.names)} (counting the header as line 1)"
            )
    return opts


def _csv_relation(
    con: Any, path: str, fmt: str, opts: ReadOptions, retry: frozenset[str], head: int | None
) -> None:
    """The view ``data`` over CSV text: over the file itself, or over a table read from a
    temporary copy when DuckDB cannot read the file as pandas does: UTF-8 for another
    encoding (DuckDB reads UTF-8 and latin-1 only), without the blank lines pandas skips
    (``blanklines.py``)."""
    delimiter = opts.delimiter or ("\t" if fmt == "tsv" else ",")
    copies: list[str] = []
    try:
        source = path
        if opts.encoding != "utf-8":
            source = utf8_copy(path, opts.encoding, head)
            copies.append(source)
        if has_blank_lines(source, delimiter, head):
            source = without_blank_lines(source, delimiter, head)
            copies.append(source)
        if not copies:
            sql = reader_sql(path, fmt, opts, retry)
            con.execute(f"CREATE OR REPLACE VIEW data AS SELECT * FROM {sql}")
            return
        sql = reader_sql(source, fmt, replace(opts, encoding="utf-8"), retry)
        con.execute(f"CREATE OR REPLACE TEMP TABLE data_copy AS SELECT * FROM {sql}")
        con.execute("CREATE OR REPLACE VIEW data AS SELECT * FROM data_copy")
    finally:
        for copy in copies:
            os.unlink(copy)


def read_excel(path: str, sheet: str | None = None) -> Any:
    """A sheet (default the first) as a pandas DataFrame, header in the first row, as
    ``pandas.read_excel`` reads it by default. A sheet that is not there: FormatError
    naming the sheets."""
    import pandas as pd

    sheets = sheet_names(path)
    chosen: str | int = 0
    if sheet is not None:
        if sheet in sheets:
            chosen = sheet
        elif sheet.isdigit() and int(sheet) < len(sheets):
            chosen = int(sheet)
        else:
            raise FormatError(
                f"the workbook has no sheet {sheet!r}; its sheets: "
                + ", ".join(repr(s) for s in sheets)
            )
    return pd.read_excel(path, sheet_name=chosen, engine="openpyxl")


def next_retry(fmt: str, exc: Exception, retry: frozenset[str]) -> frozenset[str] | None:
    """How to read again after ``exc`` (None: the error is the file's): sniff the types
    from every row when a value far down contradicted the sample's; read with one thread
    when DuckDB's parallel reader cannot pad short rows around quoted newlines."""
    if fmt not in ("csv", "tsv", "json", "jsonl"):
        return None
    text = str(exc)
    if "serial" not in retry and "parallel=false" in text:
        return retry | {"serial"}
    conversion = ("Could not convert", "Conversion Error", "could not be cast")
    if "full" not in retry and any(c in text for c in conversion):
        return retry | {"full"}
    return None


def materialize(
    con: Any, path: str, fmt: str, options: ReadOptions | None = None, table: str = "t"
) -> ReadOptions:
    """Read the whole file into the temporary table ``table`` with pandas' types."""
    retry: frozenset[str] | None = frozenset()
    while True:
        try:
            opts = open_relation(con, path, fmt, options, retry=retry)
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM data")
            break
        except Exception as exc:
            retry = next_retry(fmt, exc, retry)
            if retry is None:
                raise
    described = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {table}").fetchall()]
    _, casts = pandas_casts(con, table, fmt, described)
    for name, expression in casts.items():  # only the changed columns are rewritten
        to = expression.rsplit(" AS ", 1)[1].rstrip(")")
        con.execute(f"ALTER TABLE {table} ALTER {ident(name)} TYPE {to} USING {expression}")
    return opts


def inspect(
    path: str, fmt: str, options: ReadOptions | None = None, *, count: bool = True
) -> Schema:
    """Read the file as ``fmt`` with ``options``: its columns, their types as pandas
    would type them and (``count``) the row count, which reads the whole file. Without
    ``count`` only the parser's sample is read (the header and first rows of text
    formats); row_count is then -1 and the types are the sample's."""

    if fmt not in FORMATS:
        raise FormatError(f"unsupported format {fmt!r}; one of {', '.join(FORMATS)}")
    con = connect()
    opts = options or ReadOptions()
    try:
        retry: frozenset[str] | None = frozenset()
        # Text that needs a copy (another encoding, blank lines) is copied only as far
        # as the sample when the whole file is not read anyway.
        head = SAMPLE_HEAD if fmt in ("csv", "tsv") and not count else None
        while True:
            try:
                opts = open_relation(con, path, fmt, options, retry=retry, head=head)
                described = [(r[0], r[1]) for r in con.execute("DESCRIBE data").fetchall()]
                rows, casts = -1, {}
                if count or fmt in ("parquet", "xlsx"):  # cheap there: metadata, or read
                    rows, casts = pandas_casts(con, "data", fmt, described)
                break
            except Exception as exc:
                if head is not None and not isinstance(exc, FormatError):
                    head = None  # the sample may end inside a quoted field: read it all
                    continue
                retry = next_retry(fmt, exc, retry)
                if retry is None:
                    raise
        columns = cast_types(con, "data", described, casts)
    except FormatError:
        raise
    except OptionError as exc:
        raise FormatError(str(exc)) from None
    except Exception as exc:  # any parser's complaint (DuckDB, openpyxl's XML, zip) is the file's
        if fmt in ("csv", "tsv", "json", "jsonl") and opts.encoding == "utf-8":
            message = not_utf8_message(path)
            if message:
                raise FormatError(message) from None
        raise FormatError(f"cannot read the file as {fmt}: {_reason(exc, path)}") from None
    finally:
        con.close()
    if not columns:
        raise FormatError(f"cannot read the file as {fmt}: it has no columns")
    return Schema(fmt, columns, int(rows), opts.stored())


def _reason(exc: Exception, path: str) -> str:
    """The parser's message, first lines only (DuckDB appends the query), without the
    server's path."""
    text = str(exc).strip().split("\n\nLINE", 1)[0].replace(path, "<file>")
    lines = [line for line in text.splitlines() if line.strip()][:4]
    return " ".join(lines)[:600] or type(exc).__name__
