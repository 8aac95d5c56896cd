"""The package version."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ai_notebook_ext")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
