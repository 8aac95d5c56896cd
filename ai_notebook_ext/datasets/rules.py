"""Quality rules of datasets: CRUD, and evaluation of every new version.

Viewers read rules and results; editors add and remove rules. Results are stored per
version and come back with the version (and the upload that made it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..errors import BadRequest, NotFound, ServiceUnavailable, Unprocessable
from ..projects.users import Actor
from ..store import Database
from ..store.dataset_models import Dataset, DatasetVersion, QualityResult, QualityRule
from ..store.types import utcnow
from . import worker
from .lookup import allowed_dataset, version_of
from .quality import RULE_TIME_LIMIT, Rule, RuleError
from .readoptions import ReadOptions
from .schemas import QualityOut, RuleIn, RuleOut
from .storage import BlobStore
from .views import quality_out


async def _validate(rule: Rule, project_id: int) -> None:
    """A new or changed rule checked in the project's data worker (its SQL is parsed
    there): 400 naming the parameters when it is refused."""
    try:
        await worker.run(worker.validate_rule, rule, limit=worker.QUICK, lane=project_id)
    except RuleError as exc:
        raise BadRequest(str(exc), details={"field": "params"}) from None
    except worker.WorkerDied as exc:
        raise ServiceUnavailable(str(exc)) from None


class RuleService:
    """Quality rules and their results."""

    def __init__(self, db: Database, store: BlobStore, time_limit: float = RULE_TIME_LIMIT) -> None:
        self.db = db
        self.store = store
        self.time_limit = time_limit  # seconds per rule (AINotebookApp.dataset_rule_time_limit)

    async def list(self, actor: Actor, project_id: int, dataset_id: int) -> list[RuleOut]:
        async with self.db.session() as session:
            await allowed_dataset(
                session, actor, project_id, dataset_id, "viewer", "reading quality rules"
            )
            rows = await session.scalars(
                select(QualityRule)
                .where(QualityRule.dataset_id == dataset_id)
                .order_by(QualityRule.id)
            )
            return [RuleOut.model_validate(r) for r in rows]

    async def add(self, actor: Actor, project_id: int, dataset_id: int, data: RuleIn) -> RuleOut:
        rule = Rule(data.kind, data.column, dict(data.params))
        async with self.db.session() as session:  # the role before any work for the caller
            await allowed_dataset(
                session, actor, project_id, dataset_id, "editor", "adding quality rules"
            )
        await _validate(rule, project_id)
        async with self.db.session() as session:
            await allowed_dataset(
                session, actor, project_id, dataset_id, "editor", "adding quality rules"
            )
            row = QualityRule(
                dataset_id=dataset_id,
                kind=rule.kind,
                column=rule.column,
                params=rule.params,
                created_by=actor.id,
                created_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            return RuleOut.model_validate(row)

    async def replace(
        self, actor: Actor, project_id: int, dataset_id: int, rule_id: int, data: RuleIn
    ) -> RuleOut:
        """Change a rule's kind, column or parameters (editor): the form in JupyterLab
        edits a rule in place, keeping its id (and so its place in the results)."""
        rule = Rule(data.kind, data.column, dict(data.params))
        async with self.db.session() as session:
            await allowed_dataset(
                session, actor, project_id, dataset_id, "editor", "changing quality rules"
            )
            await self._rule(session, dataset_id, rule_id)
        await _validate(rule, project_id)
        async with self.db.session() as session:
            await allowed_dataset(
                session, actor, project_id, dataset_id, "editor", "changing quality rules"
            )
            row = await self._rule(session, dataset_id, rule_id)
            row.kind, row.column, row.params = rule.kind, rule.column, rule.params
            await session.flush()
            return RuleOut.model_validate(row)

    @staticmethod
    async def _rule(session: Any, dataset_id: int, rule_id: int) -> QualityRule:
        row = await session.get(QualityRule, rule_id)
        if row is None or row.dataset_id != dataset_id:
            raise NotFound(f"quality rule {rule_id} not found")
        return row

    async def remove(self, actor: Actor, project_id: int, dataset_id: int, rule_id: int) -> None:
        async with self.db.session() as session:
            await allowed_dataset(
                session, actor, project_id, dataset_id, "editor", "removing quality rules"
            )
            row = await session.get(QualityRule, rule_id)
            if row is None or row.dataset_id != dataset_id:
                raise NotFound(f"quality rule {rule_id} not found")
            await session.delete(row)

    async def check(
        self, actor: Actor, project_id: int, dataset_id: int, number: int
    ) -> QualityOut:
        """Evaluate the current rules on a version again (editor)."""
        async with self.db.session() as session:
            await allowed_dataset(
                session, actor, project_id, dataset_id, "editor", "running quality checks"
            )
            version = await version_of(session, dataset_id, number)
        try:
            await self.evaluate_version(version.id, dataset_id)
        except worker.WorkerDied as exc:
            raise ServiceUnavailable(str(exc)) from None
        except RuleError as exc:
            raise Unprocessable(f"the checks could not run: {exc}") from None
        async with self.db.session() as session:
            result = await session.scalar(
                select(QualityResult)
                .where(QualityResult.version_id == version.id)
                .order_by(QualityResult.id.desc())
                .limit(1)
            )
            return quality_out(result) or QualityOut(  # no rules
                passed=True, results=[], created_at=utcnow()
            )

    async def evaluate_version(self, version_id: int, dataset_id: int) -> tuple[bool | None, list]:
        """Run the dataset's rules on a version and store the outcome; (passed, failed)."""
        async with self.db.session() as session:
            version = await session.get(DatasetVersion, version_id)
            rows = list(
                await session.scalars(
                    select(QualityRule)
                    .where(QualityRule.dataset_id == dataset_id)
                    .order_by(QualityRule.id)
                )
            )
            project_id = await session.scalar(
                select(Dataset.project_id).where(Dataset.id == dataset_id)
            )
        if version is None or not rows:
            return None, []
        rules = [Rule(r.kind, r.column, dict(r.params), r.id) for r in rows]
        store = self.store
        results = await worker.run(
            worker.check_blob,
            store.url,
            store.options,
            version.blob,
            version.format,
            rules,
            ReadOptions.of(version.read_options),
            self.time_limit,
            lane=project_id,
        )
        passed = all(r["passed"] for r in results)
        async with self.db.session() as session:
            session.add(
                QualityResult(
                    version_id=version_id, passed=passed, results=results, created_at=utcnow()
                )
            )
        failed = [f"{r['kind']} {r['column'] or ''}".strip() for r in results if not r["passed"]]
        return passed, failed
