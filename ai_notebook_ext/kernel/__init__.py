"""The kernel-side extension, loaded in project kernels (and by ``%load_ext ai_notebook_ext``).

It imports nothing from the server side (the AI layer it uses has no server code), so it
also works in kernels on a remote Gateway and in plain IPython. It registers the ``%%ai``
magics, puts ``ain`` (the dataset helpers, see datasets.py) in the user namespace, and
guards chained requests of pipelines (chain.py).
"""

from __future__ import annotations

from typing import Any

LOADED_FLAG = "_ai_notebook_ext_loaded"


def load_ipython_extension(ipython: Any) -> None:
    """Called by IPython when the extension loads: the magics, and a mark that it is ours."""
    from .chain import install
    from .datasets import ain
    from .magics import AIMagics

    ipython.register_magics(AIMagics)
    ipython.push({"ain": ain}, interactive=False)
    install(ipython)
    setattr(ipython, LOADED_FLAG, True)


def unload_ipython_extension(ipython: Any) -> None:
    """Called by ``%unload_ext``."""
    if hasattr(ipython, LOADED_FLAG):
        delattr(ipython, LOADED_FLAG)
