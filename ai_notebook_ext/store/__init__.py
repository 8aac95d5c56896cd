"""SQL store: typed models, the async engine and Alembic migrations."""

from __future__ import annotations

# Register their tables on Base.
from . import agent_models, dataset_models, schedule_models  # noqa: F401
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
