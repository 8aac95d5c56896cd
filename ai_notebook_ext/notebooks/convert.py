"""Between nbformat notebooks and blocks with outputs (pure, no I/O).

Import: code cells become code blocks (their outputs and execution count become the
block's last run), markdown cells markdown blocks, raw cells markdown blocks with their
text; cell attachments are dropped. Export: blocks in order, each code cell with the
outputs of its block's last run, artifacts put back inline, validated by nbformat.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nbformat

from ..execution.outputs import is_binary_mime


class NotebookError(ValueError):
    """The document is not a valid Jupyter notebook; the message says why."""


@dataclass
class Cell:
    """A block to create, or one to export."""

    kind: str  # code | markdown
    source: str
    outputs: list[dict[str, Any]] = field(default_factory=list)
    execution_count: int | None = None


def read_notebook(document: dict[str, Any] | str) -> Any:
    """The notebook as nbformat v4, validated (NotebookError with the reason otherwise)."""
    text = document if isinstance(document, str) else json.dumps(document)
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several kinds for bad documents
        raise NotebookError(f"not a Jupyter notebook: {_first_line(exc)}") from None
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as exc:
        raise NotebookError(f"invalid notebook: {_first_line(exc)}") from None
    return notebook


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def cells_of(notebook: Any) -> list[Cell]:
    """The blocks a notebook becomes."""
    cells = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            outputs = [_plain(o) for o in cell.get("outputs", [])]
            cells.append(Cell("code", cell.source, outputs, cell.get("execution_count")))
        else:
            cells.append(Cell("markdown", cell.source))
    return cells


def _plain(value: Any) -> Any:
    """NotebookNode -> plain JSON data (lists of lines already joined by nbformat)."""
    return json.loads(json.dumps(value))


def title_of(notebook: Any, fallback: str) -> str:
    """A project name: the notebook's title metadata, else its first heading, else fallback."""
    title = notebook.metadata.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()[:200]
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()[:200] or fallback
    return fallback


def inline_artifacts(
    outputs: list[dict[str, Any]], read: Callable[[str], bytes | None]
) -> list[dict[str, Any]]:
    """Outputs with artifact references replaced by their data, as nbformat wants them."""
    result = []
    for output in outputs:
        out = json.loads(json.dumps(output))
        refs = out.pop("artifacts", {}) or {}
        for mime, ref in refs.items():
            raw = read(ref.get("id", ""))
            if raw is None:
                continue  # the file is gone: keep what the output has
            if out.get("output_type") == "stream":
                out["text"] = raw.decode("utf-8", "replace")
            elif is_binary_mime(mime):
                out.setdefault("data", {})[mime] = base64.b64encode(raw).decode("ascii")
            elif mime == "application/json" or mime.endswith("+json"):
                out.setdefault("data", {})[mime] = json.loads(raw)
            else:
                out.setdefault("data", {})[mime] = raw.decode("utf-8", "replace")
        result.append(out)
    return result


def to_notebook(cells: list[Cell], kernel_name: str, display_name: str) -> Any:
    """An nbformat v4 notebook of ``cells`` (validated)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": kernel_name,
        "display_name": display_name,
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    for cell in cells:
        if cell.kind == "code":
            node = nbformat.v4.new_code_cell(cell.source, execution_count=cell.execution_count)
            node.outputs = [_output_node(o, cell.execution_count) for o in cell.outputs]
        else:
            node = nbformat.v4.new_markdown_cell(cell.source)
        notebook.cells.append(node)
    nbformat.validate(notebook)
    return notebook


def _output_node(output: dict[str, Any], execution_count: int | None) -> Any:
    """One stored output as a valid nbformat output (extra keys of ours dropped)."""
    kind = output.get("output_type")
    if kind == "stream":
        return nbformat.v4.new_output(
            "stream", name=output.get("name", "stdout"), text=output.get("text", "")
        )
    if kind == "error":
        return nbformat.v4.new_output(
            "error",
            ename=str(output.get("ename", "")),
            evalue=str(output.get("evalue", "")),
            traceback=[str(t) for t in output.get("traceback", [])],
        )
    data = output.get("data", {})
    metadata = output.get("metadata", {})
    if kind == "execute_result":
        return nbformat.v4.new_output(
            "execute_result", data=data, metadata=metadata, execution_count=execution_count
        )
    return nbformat.v4.new_output("display_data", data=data, metadata=metadata)
