"""Users' prompt templates: stored per user, checked on save, rendered on request.

A user's template named like a built-in overrides it for that user; deleting the
override brings the built-in back. Built-ins themselves cannot be changed or deleted.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..errors import BadRequest, Conflict, NotFound
from ..projects.users import Actor
from ..store import Database
from ..store.models import PromptTemplateRow
from ..store.types import utcnow
from .prompts import BUILTINS, PromptTemplate, Rendered, TemplateError, Variable, check, render
from .schemas import PromptIn, PromptOut, PromptUpdate, RenderOut, VariableIn


def _template(row: PromptTemplateRow) -> PromptTemplate:
    return PromptTemplate(
        name=row.name,
        description=row.description,
        system=row.system,
        template=row.template,
        variables=tuple(Variable(**v) for v in row.variables),
    )


def _out(t: PromptTemplate, row: PromptTemplateRow | None = None) -> PromptOut:
    return PromptOut(
        name=t.name,
        description=t.description,
        system=t.system,
        template=t.template,
        variables=[vars(v) for v in t.variables],
        source="builtin" if row is None else "user",
        overrides_builtin=row is not None and t.name in BUILTINS,
        updated_at=row.updated_at if row is not None else None,
    )


def _variables(items: list[VariableIn]) -> tuple[Variable, ...]:
    return tuple(Variable(v.name, v.description, v.required, v.default) for v in items)


async def _checked(template: PromptTemplate) -> PromptTemplate:
    try:
        await asyncio.to_thread(check, template)  # compiling is CPU work: off the loop
    except TemplateError as exc:
        raise BadRequest(exc.message, details={"field": exc.field}) from None
    return template


class PromptService:
    """CRUD of users' templates, and rendering of the ones a user can see."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, actor: Actor) -> list[PromptOut]:
        rows = {r.name: r for r in await self._rows(actor)}
        names = sorted(set(BUILTINS) | set(rows))
        return [
            _out(_template(rows[n]), rows[n]) if n in rows else _out(BUILTINS[n]) for n in names
        ]

    async def get(self, actor: Actor, name: str) -> PromptOut:
        row = await self._row(actor, name)
        if row is not None:
            return _out(_template(row), row)
        return _out(self._builtin(name))

    async def create(self, actor: Actor, data: PromptIn) -> PromptOut:
        template = await _checked(
            PromptTemplate(
                name=data.name,
                description=data.description,
                system=data.system,
                template=data.template,
                variables=_variables(data.variables),
            )
        )
        now = utcnow()
        row = PromptTemplateRow(
            owner_id=actor.id,
            name=template.name,
            description=template.description,
            system=template.system,
            template=template.template,
            variables=[vars(v) for v in template.variables],
            created_at=now,
            updated_at=now,
        )
        async with self.db.session() as session:
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:
                raise Conflict(
                    f"you already have a template named {data.name!r}; PATCH it instead",
                    details={"name": data.name},
                ) from None
        return _out(template, row)

    async def update(self, actor: Actor, name: str, data: PromptUpdate) -> PromptOut:
        async with self.db.session() as session:
            row = await self._row(actor, name, session)
            if row is None:
                self._builtin(name)  # 404 when there is nothing by this name at all
                raise NotFound(
                    f"{name!r} is a built-in template; to change it for you, POST a template "
                    "with the same name (it overrides the built-in)",
                    details={"name": name},
                )
            changes = data.model_dump(exclude_none=True)
            if "variables" in changes:
                changes["variables"] = _variables(data.variables or [])
            template = await _checked(replace(_template(row), **changes))
            row.name = template.name
            row.description = template.description
            row.system = template.system
            row.template = template.template
            row.variables = [vars(v) for v in template.variables]
            row.updated_at = utcnow()
            try:
                await session.flush()
            except IntegrityError:
                raise Conflict(
                    f"you already have a template named {template.name!r}",
                    details={"name": template.name},
                ) from None
        return _out(template, row)

    async def delete(self, actor: Actor, name: str) -> None:
        async with self.db.session() as session:
            row = await self._row(actor, name, session)
            if row is None:
                self._builtin(name)
                raise BadRequest(
                    f"{name!r} is a built-in template and cannot be deleted",
                    details={"name": name},
                )
            await session.delete(row)

    async def render(self, actor: Actor, name: str, values: dict[str, Any]) -> RenderOut:
        rendered = await self.rendered(actor, name, values)
        return RenderOut(
            system=rendered.system, prompt=rendered.prompt, messages=rendered.messages()
        )

    async def rendered(self, actor: Actor, name: str, values: dict[str, Any]) -> Rendered:
        """The user's template (or the built-in) filled in; 400 naming what is wrong."""
        row = await self._row(actor, name)
        template = _template(row) if row is not None else self._builtin(name)
        try:  # budgeted, and in a thread so the server keeps answering meanwhile
            return await asyncio.to_thread(render, template, values)
        except TemplateError as exc:
            raise BadRequest(exc.message, details={"field": exc.field}) from None

    @staticmethod
    def _builtin(name: str) -> PromptTemplate:
        builtin = BUILTINS.get(name)
        if builtin is None:
            raise NotFound(f"prompt template {name!r} not found", details={"name": name})
        return builtin

    async def _rows(self, actor: Actor) -> list[PromptTemplateRow]:
        query = select(PromptTemplateRow).where(PromptTemplateRow.owner_id == actor.id)
        async with self.db.session() as session:
            return list(await session.scalars(query))

    async def _row(self, actor: Actor, name: str, session: Any = None) -> PromptTemplateRow | None:
        query = select(PromptTemplateRow).where(
            PromptTemplateRow.owner_id == actor.id, PromptTemplateRow.name == name
        )
        if session is not None:
            return (await session.scalars(query)).first()
        async with self.db.session() as own:
            return (await own.scalars(query)).first()
