"""A project kernel outlives the other sessions attached to it.

JupyterLab attaches a project notebook's session to the project kernel (so widgets and
completion reach it), and a console may attach another. Jupyter Server's session manager
shuts a session's kernel down when the session is deleted, so JupyterLab's "No Kernel"
(the status bar's kernel switcher) or closing a console would kill the project's kernel
and every result in it. The project's own session (``KernelHandle.session_id``) still
does; any other session of a project kernel is deleted without touching the kernel.

The server's session manager instance is wrapped rather than its class replaced: the
class is the gateway one when ``GatewayClient.url`` is set, and stays so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# (kernel id, session id) -> whether deleting that session must leave the kernel running
KeepKernel = Callable[[str, str], bool]


def protect_project_kernels(sessions: Any, keep: KeepKernel) -> None:
    """Make ``sessions.delete_session`` leave kernels ``keep`` names running."""
    if sessions is None or getattr(sessions, "_ainb_protected", False):
        return
    delete = sessions.delete_session

    async def delete_session(session_id: str) -> None:
        session = await sessions.get_session(session_id=session_id)
        kernel_id = (session.get("kernel") or {}).get("id")
        if kernel_id and keep(kernel_id, session_id):
            sessions.cursor.execute("DELETE FROM session WHERE session_id=?", (session_id,))
            log.info(
                "ai_notebook_ext: session %s closed; project kernel %s keeps running",
                session_id,
                kernel_id,
            )
            return
        await delete(session_id)

    sessions.delete_session = delete_session
    sessions._ainb_protected = True
