"""Block source to a Python AST: IPython syntax through IPython's own transformer, a
structural hash of the code, and the magics whose bodies are Python (pure, no I/O)."""

from __future__ import annotations

import ast
import functools
import hashlib
import re

_MAYBE_IPYTHON = re.compile(r"^[ \t]*[%!]|\?[ \t]*$", re.MULTILINE)
# Magics whose body (or argument) is Python run in the user namespace.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
PYTHON_LINE_MAGICS = frozenset({"time", "timeit", "prun"})


@functools.lru_cache(maxsize=4096)
def code_hash(source: str) -> str:
    """A hash of the code's structure: comments, blank lines and formatting do not change
    it (code that does not parse is hashed as text)."""
    tree, _ = parse(source)
    if tree is None:
        return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    return hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()


def parse(source: str) -> tuple[ast.Module | None, str | None]:
    """The module's AST (IPython syntax transformed when plain Python fails), or the error."""
    tree, error, _ = parse_source(source)
    return tree, error


def parse_source(source: str) -> tuple[ast.Module | None, str | None, bool]:
    """(tree, error, whether IPython's transformer was needed)."""
    if _MAYBE_IPYTHON.search(source):  # likely magics: skip a parse that would fail
        try:
            code = transform_ipython(source)
            return ast.parse(code), None, code.rstrip() != source.rstrip()
        except Exception:  # noqa: S110 - not IPython syntax after all: parse it plainly
            pass
    try:
        return ast.parse(source), None, False
    except (SyntaxError, ValueError, RecursionError, MemoryError) as first:
        try:
            return ast.parse(transform_ipython(source)), None, True
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None, _describe(first), False
        except Exception as exc:  # IPython's transformer on hostile input
            return None, f"{type(exc).__name__}: {exc}", False


def transform_ipython(source: str) -> str:
    """IPython's own translation of magics and shell escapes into Python (lazy import)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return f"{type(exc).__name__}: {exc.msg}{where}"
    if isinstance(exc, RecursionError):
        return "the code is nested too deeply to analyze"
    return f"{type(exc).__name__}: {exc}"


def magic_call(node: ast.expr) -> tuple[str, str, str, str] | None:
    """(kind, magic, line, body) for ``get_ipython().run_cell_magic(name, line, body)`` and
    ``run_line_magic(name, line)`` calls with literal arguments."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("run_cell_magic", "run_line_magic")
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "get_ipython"
        and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
    ):
        return None
    args = [a.value for a in node.args]  # type: ignore[attr-defined]
    if node.func.attr == "run_cell_magic" and len(args) == 3:
        return "cell", args[0], args[1], args[2]
    if node.func.attr == "run_line_magic" and len(args) == 2:
        return "line", args[0], "", args[1]
    return None
