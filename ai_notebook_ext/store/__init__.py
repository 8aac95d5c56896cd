"""SQL store: typed models, the async engine and Alembic migrations."""

from __future__ import annotations

from .database import Database
from .models import Base, Block, Membership, Project, User

__all__ = ["Base", "Block", "Database", "Membership", "Project", "User"]
