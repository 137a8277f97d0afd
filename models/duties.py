"""Duties of officials (on duty for urgent incidents, social affairs): who holds them, granting and removing."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import AuditLog, Person, RoleAssignment

# "on_duty": receives the unit's urgent incidents; "social": may see household-level poverty data;
# "privacy": in charge of personal data protection, reads the audit log of the unit's area.
DUTIES = ("on_duty", "social", "privacy")


class DutyError(Exception):
    """The duty cannot be changed: the message says why (unknown duty, not an official of the unit)."""


@dataclass(frozen=True, slots=True)
class OfficialDuties:
    person_id: int
    name: str
    duties: tuple[str, ...]


def _split(duties: str) -> tuple[str, ...]:
    return tuple(d for d in duties.split(",") if d)


async def officials(session: AsyncSession, unit_id: int) -> list[OfficialDuties]:
    """The unit's active officials and their duties, in the order they were appointed."""
    rows = (await session.execute(
        select(RoleAssignment.person_id, Person.name, RoleAssignment.duties)
        .join(Person, Person.id == RoleAssignment.person_id)
        .where(RoleAssignment.unit_id == unit_id, RoleAssignment.role == "official",
               RoleAssignment.active.is_(True))
        .order_by(RoleAssignment.id)
    )).all()
    return [OfficialDuties(row[0], row[1], _split(row[2])) for row in rows]


async def set_duty(session: AsyncSession, *, person_id: int, unit_id: int, duty: str, granted: bool,
                   by: int | None = None) -> tuple[str, ...]:
    """Grants or removes a duty of an official of the unit (audited); returns their duties after."""
    if duty not in DUTIES:
        raise DutyError(f"unknown duty {duty!r}: use one of {', '.join(DUTIES)}")
    role = (await session.scalars(select(RoleAssignment).where(
        RoleAssignment.person_id == person_id, RoleAssignment.unit_id == unit_id,
        RoleAssignment.role == "official", RoleAssignment.active.is_(True)))).first()
    if role is None:
        raise DutyError(f"person {person_id} is not an active official of this unit")
    current = _split(role.duties)
    wanted = (set(current) | {duty}) if granted else (set(current) - {duty})
    after = tuple(d for d in DUTIES if d in wanted)
    if after != current:
        role.duties = ",".join(after)
        session.add(AuditLog(person_id=by, action="duty_granted" if granted else "duty_revoked",
                             target=f"person:{person_id}", detail={"unit_id": unit_id, "duty": duty}))
        await session.flush()
    return after
