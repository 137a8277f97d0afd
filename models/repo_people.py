"""Queries about who receives what: the officials and leaders of a unit, the officials who take a
digest, a person's name and language (part of Repo)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Person, RoleAssignment


class PeopleQueries:
    session: AsyncSession

    async def officials_of(self, unit_id: int, *, duty: str | None = None) -> list[tuple[int, str, str]]:
        """(person id, name, language) of a unit's officials; with `duty`, only those who have it."""
        rows = (await self.session.execute(
            select(RoleAssignment.person_id, Person.name, RoleAssignment.duties, Person.language)
            .join(Person, Person.id == RoleAssignment.person_id)
            .where(RoleAssignment.unit_id == unit_id, RoleAssignment.role == "official",
                   RoleAssignment.active.is_(True))
            .order_by(RoleAssignment.id)
        )).all()
        return [(row[0], row[1], row[3]) for row in rows if duty is None or duty in row[2].split(",")]

    async def leaders_of(self, unit_id: int) -> list[tuple[int, str, str]]:
        """(person id, name, language) of a group's leader and deputies."""
        rows = (await self.session.execute(
            select(RoleAssignment.person_id, Person.name, Person.language)
            .join(Person, Person.id == RoleAssignment.person_id)
            .where(RoleAssignment.unit_id == unit_id, RoleAssignment.role.in_(("leader", "deputy")),
                   RoleAssignment.active.is_(True))
            .order_by(RoleAssignment.role.desc(), RoleAssignment.id)
        )).all()
        return [(row[0], row[1], row[2]) for row in rows]

    async def officials_with_digest(self, kind: str) -> list[tuple[int, str]]:
        """(person id, language) of every active official who has this digest turned on."""
        rows = (await self.session.execute(
            select(Person.id, Person.language, Person.digests).distinct()
            .join(RoleAssignment, RoleAssignment.person_id == Person.id)
            .where(RoleAssignment.role == "official", RoleAssignment.active.is_(True), Person.opted_out.is_(False))
            .order_by(Person.id)
        )).all()
        return [(row[0], row[1]) for row in rows if kind in row[2].split(",")]

    async def person_name(self, person_id: int) -> str:
        return (await self.session.scalar(select(Person.name).where(Person.id == person_id))) or ""

    async def person_language(self, person_id: int) -> str:
        return (await self.session.scalar(select(Person.language).where(Person.id == person_id))) or "vi"
