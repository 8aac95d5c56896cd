"""ipywidgets' Output widget: outputs produced inside ``with out:`` go to the widget.

In a notebook frontend, an Output widget whose ``msg_id`` state names a request captures
that request's outputs (JupyterLab registers a message hook on its own request). Our
runs send every ``execute_request`` themselves, so the server is the frontend that must
do it, exactly as nbclient does (``NotebookClient.output``/``clear_output`` with its
``OutputWidget`` mimic, nbclient/output_widget.py):

- widget states are recorded from ``comm_open`` and ``comm_msg`` messages carrying a
  ``state`` (nbclient's ``widget_state``); the notebook export writes them into
  ``metadata.widgets`` as nbclient does;
- an Output widget's ``msg_id`` state pushes (or, emptied, pops) it on the hook stack of
  that request; while the stack is not empty the request's stream, display_data,
  execute_result, error and clear_output messages go to the top widget's outputs instead
  of the run's (stream text of one name coalesced, ``clear_output(wait=True)`` deferred
  to the next output);
- each change is sent back to the kernel as the widget's new ``outputs`` state (a
  ``comm_msg`` ``update``, as nbclient's ``sync_state``), so that ``out.outputs`` in the
  kernel is right and ipywidgets echoes it to JupyterLab's widget manager (the live view).

One registry per kernel process (``KernelHandle.widgets``): comm ids do not outlive it.
Like the display registry it lives in memory.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from nbformat.v4 import output_from_msg

log = logging.getLogger(__name__)

OUTPUT_MODEL = ("@jupyter-widgets/output", "OutputModel")
CAPTURED = {"stream", "display_data", "execute_result", "error", "clear_output"}
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"


class _OutputWidget:
    """nbclient's OutputWidget: the outputs one Output widget captured."""

    def __init__(self, comm_id: str, state: dict[str, Any]) -> None:
        self.comm_id = comm_id
        self.state = state
        self.outputs: list[Any] = list(state.get("outputs") or [])
        self.msg_id = ""
        self.clear_before_next_output = False

    def output(self, msg: dict[str, Any]) -> None:
        if self.clear_before_next_output:
            self.outputs = []
            self.clear_before_next_output = False
        output = output_from_msg(msg)
        last = self.outputs[-1] if self.outputs else None
        if (
            last is not None
            and last["output_type"] == "stream"
            and output["output_type"] == "stream"
            and last["name"] == output["name"]
        ):
            last["text"] += output["text"]
        else:
            self.outputs.append(output)

    def clear_output(self, msg: dict[str, Any]) -> bool:
        """True if the outputs changed (a clear without ``wait``)."""
        if (msg.get("content") or {}).get("wait"):
            self.clear_before_next_output = True
            return False
        self.outputs = []
        return True


class OutputWidgets:
    """The widgets of one kernel process, and the requests Output widgets capture."""

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}  # comm id -> widget state
        self._outputs: dict[str, _OutputWidget] = {}  # comm id -> Output widget
        self._hooks: dict[str, list[_OutputWidget]] = defaultdict(list)  # msg id -> stack

    def capture(self, msg: dict[str, Any], client: Any) -> bool:
        """Handle one iopub message of a request we sent; True if an Output widget took
        it (it is not the run's output then)."""
        msg_type = msg["header"]["msg_type"]
        if msg_type in ("comm_open", "comm_msg"):
            self._comm(msg_type, msg.get("content") or {})
            return False
        if msg_type == "comm_close":
            comm_id = (msg.get("content") or {}).get("comm_id")
            self._outputs.pop(comm_id, None)
            return False
        if msg_type not in CAPTURED:
            return False
        parent_id = (msg.get("parent_header") or {}).get("msg_id")
        stack = self._hooks.get(parent_id) if parent_id else None
        if not stack:
            return False
        widget = stack[-1]
        if msg_type == "clear_output":
            changed = widget.clear_output(msg)
        else:
            try:
                widget.output(msg)
            except ValueError:  # not an output nbformat knows: dropped, as nbclient does
                return True
            changed = True
        if changed:
            self._sync(widget, msg.get("parent_header") or {}, client)
        return True

    def _comm(self, msg_type: str, content: dict[str, Any]) -> None:
        data = content.get("data")
        comm_id = content.get("comm_id")
        if not isinstance(data, dict) or not isinstance(comm_id, str):
            return
        state = data.get("state")
        if not isinstance(state, dict):
            return
        self.states.setdefault(comm_id, {}).update(state)
        if msg_type == "comm_open":
            if (state.get("_model_module"), state.get("_model_name")) == OUTPUT_MODEL:
                self._outputs[comm_id] = _OutputWidget(comm_id, state)
            return
        widget = self._outputs.get(comm_id)
        if widget is None or "msg_id" not in state:
            return
        msg_id = state.get("msg_id")
        if msg_id and isinstance(msg_id, str):
            self._hooks[msg_id].append(widget)
            widget.msg_id = msg_id
        else:  # the ``with`` block ended: nbclient's remove_output_hook
            stack = self._hooks.get(widget.msg_id)
            if stack and stack[-1] is widget:
                stack.pop()
            if stack is not None and not stack:
                del self._hooks[widget.msg_id]
            widget.msg_id = ""

    def _sync(self, widget: _OutputWidget, parent: dict[str, Any], client: Any) -> None:
        """The widget's outputs to the kernel and the stored state (nbclient's sync_state)."""
        self.states.setdefault(widget.comm_id, {})["outputs"] = widget.outputs
        data = {"method": "update", "state": {"outputs": widget.outputs}, "buffer_paths": []}
        content = {"data": data, "comm_id": widget.comm_id}
        try:
            client.shell_channel.send(client.session.msg("comm_msg", content, parent=parent))
        except Exception as exc:  # the kernel is going away: the run reports that
            log.info("ai_notebook_ext: syncing Output widget %s: %s", widget.comm_id, exc)

    def notebook_metadata(self) -> dict[str, Any] | None:
        """``metadata.widgets`` as nbclient writes it (None without widgets)."""
        if not self.states:
            return None
        return {
            WIDGET_STATE_MIME: {
                "state": {
                    model_id: {
                        "model_name": state.get("_model_name"),
                        "model_module": state.get("_model_module"),
                        "model_module_version": state.get("_model_module_version"),
                        "state": state,
                    }
                    for model_id, state in self.states.items()
                },
                "version_major": 2,
                "version_minor": 0,
            }
        }
