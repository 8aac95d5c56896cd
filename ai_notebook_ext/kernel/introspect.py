"""Kernel variables for the agent: names, types, shapes and dtypes, without running any
user code (no repr, no __len__ of unknown types; only attributes of known types)."""

from __future__ import annotations

import json
import types
from typing import Any

MIME = "application/vnd.ai-notebook.variables+json"
HIDDEN = {"In", "Out", "exit", "quit", "get_ipython", "ain"}
LIMIT = 200


def describe(value: Any) -> dict[str, Any]:
    """What a value is, read from attributes of well-known types only."""
    kind = type(value)
    out: dict[str, Any] = {
        "type": f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins.")
    }
    module = kind.__module__.split(".")[0]
    if module in ("pandas", "polars") and hasattr(value, "shape"):
        out["shape"] = list(value.shape)
        dtypes = getattr(value, "dtypes", None)
        columns = getattr(value, "columns", None)
        if columns is not None and dtypes is not None and len(columns) <= 100:
            out["dtypes"] = {str(c): str(t) for c, t in zip(columns, list(dtypes), strict=False)}
        elif dtypes is not None and not hasattr(dtypes, "__iter__"):
            out["dtype"] = str(dtypes)
    elif module == "numpy" and hasattr(value, "shape"):
        out["shape"] = list(value.shape)
        out["dtype"] = str(value.dtype)
    elif kind in (list, tuple, dict, set, frozenset, str, bytes):
        out["len"] = len(value)
    elif kind in (int, float, bool, complex):
        out["value"] = value
    return out


def variables(namespace: dict[str, Any]) -> list[dict[str, Any]]:
    """The user's variables (not modules, functions' internals or IPython's own)."""
    found = []
    for name, value in namespace.items():
        if name.startswith("_") or name in HIDDEN or isinstance(value, types.ModuleType):
            continue
        try:
            found.append({"name": name, **describe(value)})
        except Exception as exc:  # a broken object: say so, never fail
            found.append({"name": name, "type": type(value).__name__, "problem": str(exc)[:100]})
        if len(found) >= LIMIT:
            break
    return found


def show() -> None:
    """Display the variables as one bundle the server reads back."""
    from IPython import get_ipython
    from IPython.display import display

    shell = get_ipython()
    found = variables(shell.user_ns if shell is not None else {})
    display({MIME: json.loads(json.dumps(found, default=str))}, raw=True)


CODE = "__import__('ai_notebook_ext.kernel.introspect', fromlist=['show']).show()"
