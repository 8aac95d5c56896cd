"""Turn iopub messages into nbformat outputs, and move binary or large data to artifacts.

Pure data handling (no I/O besides the artifact store handed in), so it is unit-tested
message by message.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OUTPUT_MSG_TYPES = {"stream", "display_data", "execute_result", "error", "update_display_data"}
DATASET_MSG_TYPE = "ai_notebook_dataset"  # ain.load/ain.save reports (kernel/datasets.py)
MAX_DATASET_REPORTS = 1000
TEXT_MIMES_PREFIX = ("text/",)
TEXT_MIMES = {"application/json", "application/javascript", "image/svg+xml"}


def is_binary_mime(mime: str) -> bool:
    """Mime bundles carry these as base64 strings (nbformat's rule)."""
    return not (mime.startswith(TEXT_MIMES_PREFIX) or mime in TEXT_MIMES or mime.endswith("+json"))


STREAM_MEMORY_CAP = 2_000_000  # characters of one stream output kept while a block runs
MAX_OUTPUTS = 5_000  # outputs kept per run; a block printing in a loop stays bounded


@dataclass
class OutputCollector:
    """Accumulates the outputs of one execution, honouring clear_output and display ids.

    Follows nbclient's ``NotebookClient.process_message``/``output``/``clear_output``:

    - ``clear_output(wait=True)`` clears at the next output (stream, display_data,
      execute_result or error; never at an update_display_data); without ``wait`` at once.
      A clear forgets this execution's display ids.
    - A display_data, execute_result or update_display_data with a display id replaces
      ``data`` and ``metadata`` of every output showing that id, here and in other runs:
      those of other runs wait in ``take_display_updates()`` (``displays.py`` applies them).

    Memory stays bounded whatever the block prints: stream text is appended in chunks (no
    quadratic copying) and, past STREAM_MEMORY_CAP characters, keeps its head and tail
    with a note of what was left out; past MAX_OUTPUTS outputs, further ones are counted.
    """

    execution_count: int | None = None
    error: dict[str, Any] | None = None
    _outputs: list[dict[str, Any]] = field(default_factory=list)
    _clear_pending: bool = False
    datasets: list[dict[str, Any]] = field(default_factory=list)  # what ain read and wrote
    _display_ids: dict[str, list[int]] = field(default_factory=dict)
    _parts: list[str] = field(default_factory=list)  # unjoined text of the open stream
    _length: int = 0
    _head: str | None = None
    _dropped: int = 0
    _dropped_outputs: int = 0
    _display_updates: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def display_ids(self) -> dict[str, list[int]]:
        """Display id -> indices of the outputs showing it (for later runs' updates)."""
        return self._display_ids

    def take_display_updates(self) -> dict[str, dict[str, Any]]:
        """Display id -> its latest ``{"data", "metadata"}`` since the last call: what
        outputs of other runs showing that id must now show."""
        updates = self._display_updates
        if updates:
            self._display_updates = {}
        return updates

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The outputs so far (joins the open stream's text; call sparingly)."""
        self._join()
        if self._dropped_outputs:
            note = f"[{self._dropped_outputs} more outputs were not kept]\n"
            return [*self._outputs, {"output_type": "stream", "name": "stderr", "text": note}]
        return self._outputs

    def apply(self, msg_type: str, content: dict[str, Any]) -> bool:
        """Apply one iopub message; True if the outputs changed."""
        if msg_type == "clear_output":
            if content.get("wait"):
                self._clear_pending = True
            else:
                self._clear()
            return True
        if msg_type == DATASET_MSG_TYPE:
            if len(self.datasets) < MAX_DATASET_REPORTS:
                self.datasets.append(dict(content))
            return False
        if msg_type == "execute_input":
            self.execution_count = content.get("execution_count", self.execution_count)
            return False
        if msg_type not in OUTPUT_MSG_TYPES:
            return False
        transient = content.get("transient")
        display_id = transient.get("display_id") if isinstance(transient, dict) else None
        if not isinstance(display_id, str):
            display_id = ""  # none, or not one a kernel may send
        updated = bool(display_id) and self._update_display(display_id, content)
        if msg_type == "update_display_data":
            return updated
        if self._clear_pending:
            self._clear()
        if msg_type == "stream":
            self._stream(content.get("name", "stdout"), content.get("text", ""))
            return True
        if msg_type == "error":
            out = {
                "output_type": "error",
                "ename": content.get("ename", ""),
                "evalue": content.get("evalue", ""),
                "traceback": list(content.get("traceback", [])),
            }
            self.error = dict(out)
            return self._append(out)
        out = {
            "output_type": msg_type,
            "data": dict(content.get("data", {})),
            "metadata": dict(content.get("metadata", {})),
        }
        if msg_type == "execute_result":
            out["execution_count"] = content.get("execution_count")
            self.execution_count = content.get("execution_count", self.execution_count)
        if display_id and len(self._outputs) < MAX_OUTPUTS:
            self._display_ids.setdefault(display_id, []).append(len(self._outputs))
        return self._append(out)

    def _append(self, out: dict[str, Any]) -> bool:
        self._close_stream()
        if len(self._outputs) >= MAX_OUTPUTS:
            self._dropped_outputs += 1
        else:
            self._outputs.append(out)
        return True

    def _clear(self) -> None:
        self._close_stream()
        self._outputs.clear()
        self._display_ids.clear()
        self._clear_pending = False
        self._dropped_outputs = 0

    def _stream(self, name: str, text: str) -> None:
        last = self._outputs[-1] if self._outputs else None
        if not (last and last["output_type"] == "stream" and last["name"] == name):
            self._append({"output_type": "stream", "name": name, "text": ""})
            if self._dropped_outputs:
                return
        self._parts.append(text)
        self._length += len(text)
        if self._length > STREAM_MEMORY_CAP:
            self._compact()

    def _compact(self) -> None:
        """Keep the first and the latest half-cap of characters of the open stream."""
        half = STREAM_MEMORY_CAP // 2
        joined = "".join(self._parts)
        if self._head is None:
            self._head, joined = joined[:half], joined[half:]
        tail = joined[-half:]
        self._dropped += len(joined) - len(tail)
        self._parts, self._length = [tail], len(tail)

    def _join(self) -> None:
        """Write the open stream's text into its output (keeping it open for more)."""
        if not self._outputs or (not self._parts and self._head is None):
            return
        last = self._outputs[-1]
        if self._head is not None and self._length > STREAM_MEMORY_CAP // 2:
            self._compact()  # what is shown: the head and the latest half-cap, always
        body = "".join(self._parts)
        self._parts, self._length = ([body], len(body)) if body else ([], 0)
        if self._head is None:
            last["text"] = body
        else:
            gap = f"\n[... {self._dropped} characters left out ...]\n"
            last["text"] = self._head + gap + body

    def _close_stream(self) -> None:
        self._join()
        self._parts, self._length, self._head, self._dropped = [], 0, None, 0

    def _update_display(self, display_id: str, content: dict[str, Any]) -> bool:
        """Show ``content`` wherever ``display_id`` shows; True (outputs changed or an
        update for other runs waits)."""
        data = dict(content.get("data", {}))
        metadata = dict(content.get("metadata", {}))
        for index in self._display_ids.get(display_id, []):
            self._outputs[index]["data"] = dict(data)
            self._outputs[index]["metadata"] = dict(metadata)
        self._display_updates.pop(display_id, None)  # the latest goes last
        self._display_updates[display_id] = {"data": data, "metadata": metadata}
        return True


@dataclass(frozen=True)
class StoredArtifact:
    sha256: str
    mime: str
    size: int


def _mime_bytes(mime: str, value: Any) -> bytes:
    if is_binary_mime(mime) and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=False)
        except ValueError:
            return value.encode()
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value).encode()


def externalize(
    outputs: list[dict[str, Any]],
    put: Callable[[bytes], str],
    text_limit: int,
) -> tuple[list[dict[str, Any]], list[StoredArtifact]]:
    """Copies of ``outputs`` whose binary data and oversize text live in artifacts.

    A moved entry leaves ``data[mime]`` and appears in ``output["artifacts"][mime]`` as
    ``{"id": sha256, "size": bytes}``; the text/plain of a stream over the limit keeps its
    first ``text_limit`` characters and names the artifact holding all of it.
    """
    stored: list[StoredArtifact] = []
    result: list[dict[str, Any]] = []
    for output in outputs:
        out = json.loads(json.dumps(output))
        if out["output_type"] == "stream" and len(out["text"]) > text_limit:
            raw = out["text"].encode()
            sha = put(raw)
            stored.append(StoredArtifact(sha, "text/plain", len(raw)))
            out["text"] = out["text"][:text_limit]
            out["artifacts"] = {"text/plain": {"id": sha, "size": len(raw), "truncated": True}}
        for mime in list(out.get("data", {})):
            value = out["data"][mime]
            size = len(value) if isinstance(value, str) else len(json.dumps(value))
            if is_binary_mime(mime) or size > text_limit:
                raw = _mime_bytes(mime, value)
                sha = put(raw)
                stored.append(StoredArtifact(sha, mime, len(raw)))
                del out["data"][mime]
                out.setdefault("artifacts", {})[mime] = {"id": sha, "size": len(raw)}
        result.append(out)
    return result, stored


def without_binary(outputs: list[dict[str, Any]], cap: int) -> tuple[list[dict[str, Any]], int]:
    """Outputs fit for an event: binary data dropped, text capped; returns bytes omitted."""
    omitted = 0
    result = []
    for output in outputs:
        out = dict(output)
        if out.get("output_type") == "stream" and len(out.get("text", "")) > cap:
            omitted += len(out["text"]) - cap
            out["text"] = out["text"][-cap:]
        if "data" in out:
            data = {}
            for mime, value in out["data"].items():
                size = len(value) if isinstance(value, str) else len(json.dumps(value))
                if is_binary_mime(mime) or size > cap:
                    omitted += size
                else:
                    data[mime] = value
            out["data"] = data
        result.append(out)
    return result, omitted


def storable(value: Any) -> Any:
    """``value`` with every string made storable in any database: NUL characters and lone
    surrogates (which kernels can print) replaced. Kernel output is not validated input."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value
