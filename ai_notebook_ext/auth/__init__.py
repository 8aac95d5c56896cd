"""Authorization of Jupyter's own kernel and session APIs on a shared server.

``jupyter lab --ServerApp.authorizer_class=ai_notebook_ext.auth.ProjectAuthorizer``
(``jupyter ai-notebook`` sets it itself). Importing this package stays cheap: the
server imports it at startup, before the extension loads.
"""

from __future__ import annotations

from .authorizer import ProjectAuthorizer

__all__ = ["ProjectAuthorizer"]
