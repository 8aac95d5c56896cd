"""Core SQL of the execute hot path, built once: no ORM unit of work, cached compilation.

An execution writes three times (create, running, finished); through the ORM each write
costs more Python than the kernel round trip it surrounds. Statements marked ``fast`` run
on SQLite's DBAPI cursor when the database is SQLite (``store/fast.py``); the same
statements in ``Database.autocommit`` run on PostgreSQL's direct connections.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, func, insert, or_, select, update

from ..store.fast import fast
from ..store.models import Artifact, Block, Membership, Project, Run

artifacts = Artifact.__table__
runs = Run.__table__
blocks = Block.__table__
projects = Project.__table__
memberships = Membership.__table__

# The block, its project and the caller's membership in one round trip.
BLOCK_FOR_RUN = fast(
    select(
        blocks.c.kind,
        blocks.c.source,
        blocks.c.version,
        blocks.c.timeout_seconds,
        projects.c.name,
        projects.c.working_dir,
        memberships.c.role,
    )
    .select_from(
        blocks.join(projects, projects.c.id == blocks.c.project_id).outerjoin(
            memberships,
            and_(
                memberships.c.project_id == projects.c.id,
                memberships.c.user_id == bindparam("user_id"),
            ),
        )
    )
    .where(blocks.c.id == bindparam("block_id"), blocks.c.project_id == bindparam("project_id"))
)

INSERT_RUN = fast(insert(runs).returning(runs.c.id))

MARK_RUNNING = fast(
    update(runs)
    .where(runs.c.id == bindparam("run_id"), runs.c.status == "queued")
    .values(
        status="running",
        started_at=bindparam("started_at"),
        kernel_generation=bindparam("generation"),
    )
)

SET_LAST_RUN = fast(
    update(blocks)
    .where(blocks.c.id == bindparam("block_id"))
    .values(last_run_id=bindparam("run_id"))
)


# The end of a run that has not ended yet (a cancel may have ended it meanwhile). Two
# comparisons, not IN: an IN list is re-expanded on every execution.
FINISH_RUN = fast(
    update(runs)
    .where(
        runs.c.id == bindparam("run_id"),
        or_(runs.c.status == "queued", runs.c.status == "running"),
    )
    .values(
        status=bindparam("status"),
        finished_at=bindparam("finished_at"),
        message=bindparam("message"),
        error=bindparam("error"),
        execution_count=bindparam("execution_count"),
        outputs=bindparam("outputs"),
        fingerprint=bindparam("fingerprint"),
        kernel_generation=func.coalesce(bindparam("generation"), runs.c.kernel_generation),
    )
)

ARTIFACT_EXISTS = select(artifacts.c.sha256).where(
    artifacts.c.project_id == bindparam("project_id"),
    artifacts.c.sha256 == bindparam("sha256"),
)

INSERT_ARTIFACT = insert(artifacts)
