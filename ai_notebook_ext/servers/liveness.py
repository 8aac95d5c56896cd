"""Which servers are alive: a recent heartbeat, and on this host a process that exists.

A server is dead when its heartbeat is older than ``dead_after`` seconds. At startup
(``by_pid``), a server of this host whose process is gone is dead at once: a crash and a
restart within ``dead_after`` must not leave the crashed process's runs open. The
periodic sweep goes by heartbeats only, the same rule on every host.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

HOSTNAME = socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True


def is_alive(row: Any, now: datetime, dead_after: float, *, by_pid: bool = False) -> bool:
    """Whether the server of a ``servers`` row (hostname, pid, heartbeat_at) lives."""
    if row.heartbeat_at < now - timedelta(seconds=dead_after):
        return False
    if not by_pid or row.hostname != HOSTNAME or row.pid == os.getpid():
        return True
    return pid_alive(row.pid)
