"""SQL store: typed models, the async engine and Alembic migrations."""

from __future__ import annotations

from . import dataset_models  # noqa: F401  (registers the dataset tables on Base)
from .database import Database
from .models import Artifact, Base, Block, Membership, Project, ProjectKernel, Run, User

__all__ = [
    "Artifact",
    "Base",
    "Block",
    "Database",
    "Membership",
    "Project",
    "ProjectKernel",
    "Run",
    "User",
]
