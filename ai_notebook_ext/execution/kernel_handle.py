"""What a project kernel is to us: its handle, the start error and its process id.

Kept apart from ``kernels.py`` (which manages handles) so that the connection, setup,
liveness and spare modules, the runner and the services can name a kernel without
importing the manager that owns them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .iopub import IopubReader
from .widgets import OutputWidgets


class KernelStartError(RuntimeError):
    """The project's kernel could not be started or reached."""


@dataclass
class KernelHandle:
    """A running project kernel and our client to it."""

    project_id: int
    kernel_id: str
    session_id: str | None
    kernel_name: str
    client: Any
    generation: int
    started_at: datetime
    died: asyncio.Event = field(default_factory=asyncio.Event)
    death_reason: str = ""
    callback: Callable[[], None] | None = None
    pid: int | None = None  # the kernel process we connected to (local kernels)
    remote: bool = False  # no local process (a gateway's kernel): the reader reports death
    reader: IopubReader | None = None  # reads the client's iopub channel (iopub.py)
    stopping: str = ""  # why the kernel is being shut down (a run in progress reports it)
    # Restarts of ours whose kernel_actions event is still to come (remote kernels have no
    # process id to tell them from someone else's).
    own_restarts: int = 0
    widgets: OutputWidgets = field(default_factory=OutputWidgets)  # of this process


def kernel_pid(kernel: Any) -> int | None:
    """The process id of a local kernel (None for remote ones)."""
    pid = getattr(getattr(kernel, "provisioner", None), "pid", None)
    return pid if isinstance(pid, int) else None
