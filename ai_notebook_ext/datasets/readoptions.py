"""How a text or Excel file is read, the way pandas reads it by default.

A version keeps the options it was read with (``DatasetVersion.read_options``): the
delimiter (given, or detected from the header line), the encoding (UTF-8 unless given),
a thousands separator (none unless given: pandas does not parse "1,234" as a number by
default) and the Excel sheet (the first unless given). The profile, the quality checks
and ``ain.load`` in the kernel all read the version with these same options, so they
agree about its columns.
"""

from __future__ import annotations

import codecs
import csv
import os
import tempfile
from dataclasses import dataclass, replace
from typing import Any

# pandas._libs.parsers.STR_NA_VALUES (pandas 2.x): what read_csv reads as NaN by default.
NA_VALUES = (
    *("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND"),
    *("1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"),
)
# What read_csv reads as booleans by default (a column of only these is bool).
TRUE_VALUES = ("True", "TRUE", "true")
FALSE_VALUES = ("False", "FALSE", "false")
DELIMITERS = {",": ",", ";": ";", "\t": "\t", "tab": "\t", "\\t": "\t", "|": "|"}
THOUSANDS = (",", ".", " ", "_", "'")
HEAD = 64 * 1024


class OptionError(ValueError):
    """A reading option that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class ReadOptions:
    """Options of reading one file (defaults: pandas' defaults)."""

    encoding: str = "utf-8"
    delimiter: str | None = None  # csv/tsv: None until detected
    thousands: str | None = None
    sheet: str | None = None  # xlsx: a sheet's name, or its 0-based position as text
    names: tuple[str, ...] | None = None  # csv/tsv: pandas' column names (derived, not stored)

    def stored(self) -> dict[str, str]:
        """What a version keeps: every option that is not pandas' default."""
        out = {"delimiter": self.delimiter} if self.delimiter else {}
        if self.encoding != "utf-8":
            out["encoding"] = self.encoding
        if self.thousands:
            out["thousands"] = self.thousands
        if self.sheet is not None:
            out["sheet"] = self.sheet
        return out

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> ReadOptions:
        """The options a version stored (None or {}: the defaults)."""
        stored = stored or {}
        return cls(
            encoding=str(stored.get("encoding") or "utf-8"),
            delimiter=stored.get("delimiter"),
            thousands=stored.get("thousands"),
            sheet=stored.get("sheet"),
        )

    def key(self, fmt: str) -> str:
        """The format plus a short digest of non-default options: the key a profile of
        the same bytes read the same way is stored under (at most 16 characters)."""
        import hashlib
        import json

        stored = {k: v for k, v in self.stored().items() if (k, v) != ("delimiter", ",")}
        if fmt == "tsv" and stored.get("delimiter") == "\t":
            del stored["delimiter"]
        if not stored:
            return fmt
        text = json.dumps(stored, sort_keys=True)
        return f"{fmt}:{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def parse(
    encoding: str | None = None,
    delimiter: str | None = None,
    thousands: str | None = None,
    sheet: str | None = None,
) -> ReadOptions:
    """Options from a request's query parameters; OptionError for one that can't be used."""
    enc = "utf-8"
    if encoding:
        try:
            enc = codecs.lookup(encoding).name
        except LookupError:
            raise OptionError(f"encoding {encoding!r} is not a known text encoding") from None
        if enc in ("utf-8-sig", "utf_8"):
            enc = "utf-8"
    delim = None
    if delimiter:
        delim = DELIMITERS.get(delimiter)
        if delim is None:
            raise OptionError("delimiter must be one of ',', ';', '|', or 'tab'")
    if thousands and thousands not in THOUSANDS:
        raise OptionError("thousands must be one of ',', '.', ' ', '_', \"'\"")
    if thousands and delim is not None and thousands == delim and thousands != ",":
        raise OptionError("thousands cannot be the delimiter")
    if sheet is not None and not (0 < len(sheet) <= 100 and sheet.isprintable()):
        raise OptionError("sheet must be a sheet's name or its 0-based position")
    return ReadOptions(enc, delim, thousands or None, sheet)


def resolve(path: str, fmt: str, options: ReadOptions) -> ReadOptions:
    """The options completed for this file: the delimiter (csv: detected from the header
    line when not given) and pandas' column names (csv/tsv)."""
    if fmt not in ("csv", "tsv"):
        return replace(options, delimiter=None, thousands=None, names=None)
    delim = options.delimiter or ("\t" if fmt == "tsv" else detect_delimiter(path))
    header, first = header_of(path, options.encoding, delim)
    plain = len(set(header)) == len(header) and all(header)
    if plain and (first is None or len(first) <= len(header)):
        names = header  # what pandas names them, without importing pandas
    else:  # empty or repeated names, or row names: pandas' own naming decides
        named = pandas_header(path, options.encoding, delim)
        if named is None:  # pandas cannot read the head: name as it would
            named = pandas_names(header)
            extra = len(first) - len(header) if first is not None else 0
            if header and extra > 0:  # row names: the index
                index = ["index"] if extra == 1 else [f"level_{i}" for i in range(extra)]
                named = index + named
        names = named
    return replace(options, delimiter=delim, names=tuple(duckdb_names(names)))


def pandas_header(path: str, encoding: str, delimiter: str) -> list[str] | None:
    """The column names pandas' read_csv gives the file, from its first two records:
    its own naming of empty and repeated names, and when the rows have more fields than
    the header, the leading ones as the index ('index' or 'level_i', as reset_index
    names them). None: pandas cannot read the head."""
    import pandas as pd

    try:
        head = pd.read_csv(path, sep=delimiter, encoding=encoding, nrows=1)
    except Exception:  # any parser complaint: the fallback reads the header
        return None
    names = [str(c) for c in head.columns]
    if isinstance(head.index, pd.RangeIndex):
        return names
    levels = head.index.nlevels
    return (["index"] if levels == 1 else [f"level_{i}" for i in range(levels)]) + names


def _head_text(path: str, encoding: str) -> str:
    with open(path, "rb") as f:
        head = f.read(HEAD)
    return head.decode("utf-8-sig" if encoding == "utf-8" else encoding, errors="replace")


def detect_delimiter(path: str) -> str:
    """',' unless the header line has more ';' or tabs than commas (outside quotes)."""
    line, quoted = "", False
    for ch in _head_text(path, "utf-8"):
        if ch == '"':
            quoted = not quoted
        elif ch == "\n" and not quoted:
            break
        elif not quoted:
            line += ch
    counts = {d: line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def header_of(path: str, encoding: str, delimiter: str) -> tuple[list[str], list[str] | None]:
    """The header record and the first data record (None: none in the file's head),
    parsed as pandas parses them ('"' quotes, doubled to escape; blank lines skipped)."""
    text = _head_text(path, encoding)
    rows = csv.reader(text.splitlines(keepends=True), delimiter=delimiter, quotechar='"')
    found: list[list[str]] = []
    try:
        for row in rows:
            if row:
                found.append(row)
                if len(found) == 2:
                    break
    except csv.Error:
        pass
    if not found:
        return [], None
    return found[0], found[1] if len(found) > 1 else None


def pandas_names(header: list[str]) -> list[str]:
    """Column names as read_csv's C parser makes them: 'Unnamed: i' for empty ones, then
    '.1', '.2' appended to repeats, skipping suffixed names the header already has
    (pandas/_libs/parsers.pyx, TextReader._get_header)."""
    names = [name if name else f"Unnamed: {i}" for i, name in enumerate(header)]
    counts: dict[str, int] = {}
    for i, col in enumerate(names):
        old, count = col, counts.get(col, 0)
        while count > 0:
            counts[old] = count + 1
            col = f"{old}.{count}"
            count = count + 1 if col in names else counts.get(col, 0)
        names[i] = col
        counts[col] = count + 1
    return names


def duckdb_names(names: list[str]) -> list[str]:
    """``names`` with those that differ only in case from an earlier one suffixed
    ('V_1' after 'v_1' becomes 'V_1~2'): DuckDB's column names are case-insensitive."""
    seen: set[str] = set()
    out = []
    for name in names:
        unique, n = name, 1
        while unique.lower() in seen:
            n += 1
            unique = f"{name}~{n}"
        seen.add(unique.lower())
        out.append(unique)
    return out


def first_invalid_utf8(path: str) -> int | None:
    """The byte offset of the first byte that is not UTF-8 (None: the file is UTF-8)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return offset + exc.start
            offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return offset
    return None


def guess_encoding(path: str) -> str:
    """cp1252 (Windows' Western European) when every byte decodes in it, else latin-1."""
    decoder = codecs.getincrementaldecoder("cp1252")()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return "latin-1"
    return "cp1252"


def not_utf8_message(path: str) -> str | None:
    """Why a file read as UTF-8 cannot be, with the encoding to pass (None: it is UTF-8)."""
    offset = first_invalid_utf8(path)
    if offset is None:
        return None
    with open(path, "rb") as f:
        f.seek(offset)
        byte = f.read(1)
    guess = guess_encoding(path)
    return (
        f"the file is not UTF-8 (byte 0x{byte.hex()} at offset {offset}); it looks like "
        f"{guess}: upload it again with ?encoding={guess}"
    )


def utf8_copy(path: str, encoding: str, limit: int | None = None) -> str:
    """A temporary UTF-8 copy of a text file in ``encoding`` (the caller removes it);
    ``limit``: only about the first ``limit`` bytes, cut after a line's end (a sample)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    fd, out = tempfile.mkstemp(suffix=".csv", prefix="ain-utf8-")
    try:
        with open(path, "rb") as src, os.fdopen(fd, "w", encoding="utf-8", newline="") as dst:
            done = 0
            while chunk := src.read(1 << 20):
                text = decoder.decode(chunk)
                done += len(chunk)
                if limit is not None and done >= limit and "\n" in text:
                    dst.write(text[: text.rindex("\n") + 1])
                    return out
                dst.write(text)
            dst.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        os.unlink(out)
        raise OptionError(f"the file is not {encoding}: {exc.reason} at byte {exc.start}") from None
    except BaseException:
        os.unlink(out)
        raise
    return out


def first_long_row(path: str, options: ReadOptions) -> tuple[int, int, int] | None:
    """(line, fields, expected) of the first record with more fields than the header,
    counting lines from 1 at the header (None: there is none)."""
    expected = len(options.names or ())
    enc = "utf-8-sig" if options.encoding == "utf-8" else options.encoding
    with open(path, encoding=enc, errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=options.delimiter or ",", quotechar='"')
        for row in reader:
            if len(row) > expected:
                return reader.line_num, len(row), expected
    return None


def sheet_names(path: str) -> list[str]:
    """The sheets of an xlsx workbook, in order (read from a file object: openpyxl
    refuses paths without an .xlsx extension, such as staged uploads)."""
    import openpyxl

    with open(path, "rb") as f:
        book = openpyxl.load_workbook(f, read_only=True)
        try:
            return list(book.sheetnames)
        finally:
            book.close()
