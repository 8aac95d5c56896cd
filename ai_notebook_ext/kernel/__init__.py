"""The kernel-side extension, loaded in project kernels (and by ``%load_ext ai_notebook_ext``).

It imports nothing from the server side, so it also works in kernels on a remote Gateway.
Later issues add the ``%%ai`` magics and the dataset helpers here.
"""

from __future__ import annotations

from typing import Any

LOADED_FLAG = "_ai_notebook_ext_loaded"


def load_ipython_extension(ipython: Any) -> None:
    """Called by IPython when the extension loads; marks the kernel as ours."""
    setattr(ipython, LOADED_FLAG, True)


def unload_ipython_extension(ipython: Any) -> None:
    """Called by ``%unload_ext``."""
    if hasattr(ipython, LOADED_FLAG):
        delattr(ipython, LOADED_FLAG)
