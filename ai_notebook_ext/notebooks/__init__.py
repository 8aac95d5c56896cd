"""Jupyter notebooks in and out: .ipynb import as a project, export of a project."""
