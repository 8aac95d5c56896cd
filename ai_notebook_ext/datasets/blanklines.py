"""Blank lines in CSV text, which pandas skips and DuckDB reads as rows.

``pandas.read_csv`` skips lines that are empty or hold only whitespace
(``skip_blank_lines=True``). DuckDB reads an empty line of a one-column file as a row of
NULL, and a whitespace-only line of any file as a row (turning a numeric first column
into text). A file that ends with an extra empty line, common for hand-edited
one-column lists, gained a row of NULL.

``has_blank_lines`` looks for such a line with one regular expression over large chunks
(C speed, no copy); only a file that has one is copied by ``without_blank_lines``, which
follows quotes so that a blank line inside a quoted value is kept, as pandas keeps it.
"""

from __future__ import annotations

import os
import re
import tempfile

CHUNK = 1 << 23


def _blank(delimiter: str) -> tuple[re.Pattern[bytes], bytes]:
    """The pattern of a blank line and the bytes it may hold (whitespace other than the
    delimiter: a line of tabs in a TSV file is a row of empty fields, not a blank line)."""
    space = bytes(c for c in b" \t\r" if chr(c) != delimiter)
    return re.compile(b"^[" + re.escape(space) + b"]*$", re.MULTILINE), space + b"\n"


def has_blank_lines(path: str, delimiter: str = ",", limit: int | None = None) -> bool:
    """Whether a line of the file (of about its first ``limit`` bytes) is blank."""
    pattern, space = _blank(delimiter)
    carry, done = b"", 0
    with open(path, "rb") as src:
        while chunk := src.read(CHUNK):
            done += len(chunk)
            buffer = carry + chunk
            cut = buffer.rfind(b"\n")
            if cut < 0:  # one long line so far: only whether it is blank matters
                carry = buffer if not buffer.strip(space) else b"x"
                if limit is not None and done >= limit:
                    return False
                continue
            if pattern.search(buffer, 0, cut):  # the lines that end in this buffer
                return True
            carry = buffer[cut + 1 :]
            if limit is not None and done >= limit:
                return False
    return bool(carry) and not carry.strip(space)  # a last line without its newline


def _ends_quoted(line: bytes, inside: bool, sep: bytes) -> bool:
    """Whether the line ends inside a quoted value, as pandas' parser reads quotes: one
    opens a value only at its start (a quote within ``12" pipe`` is a character), ``""``
    inside a quoted value is a quote, and the next lone quote closes it."""
    at_start, i, n = not inside, 0, len(line)
    while i < n:
        c = line[i : i + 1]
        if inside:
            if c == b'"':
                if line[i + 1 : i + 2] == b'"':
                    i += 2
                    continue
                inside = False
        elif c == b'"' and at_start:
            inside = True
        at_start = not inside and c == sep
        i += 1
    return inside


def without_blank_lines(path: str, delimiter: str = ",", limit: int | None = None) -> str:
    """A temporary copy of the file without its blank lines outside quoted values (the
    caller removes it); ``limit``: only about the first ``limit`` bytes (a sample)."""
    _, space = _blank(delimiter)
    fd, out = tempfile.mkstemp(suffix=".csv", prefix="ain-lines-")
    try:
        with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
            inside, done, sep = False, 0, delimiter.encode()
            for line in src:
                done += len(line)
                if inside or line.strip(space):
                    dst.write(line)
                if b'"' in line:
                    inside = _ends_quoted(line, inside, sep)
                if limit is not None and done >= limit and not inside:
                    break
    except BaseException:
        os.unlink(out)
        raise
    return out
