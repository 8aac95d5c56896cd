"""ai_notebook_ext: an AI notebook system as a Jupyter Server extension and JupyterLab plugin.

This module holds the extension points only; importing it stays cheap.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import AINotebookApp

    return [{"module": "ai_notebook_ext", "app": AINotebookApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "ai-notebook-ext"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext ai_notebook_ext`` in any IPython: loads the kernel-side extension."""
    from .kernel import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .kernel import unload_ipython_extension as unload

    unload(ipython)


__all__ = ["__version__"]
