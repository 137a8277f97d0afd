"""A person's roles as plain values: the unit each is held in and the duties that go with it
(what `Repo.roles_of` returns and the report queries take, with no ORM bookkeeping)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UnitRef:
    """A unit as roles carry it: the columns, without the ORM's bookkeeping."""

    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    path: str
    households: int | None


@dataclass(frozen=True, slots=True)
class HeldRole:
    role: str
    unit: UnitRef
    duties: frozenset[str] = frozenset()

    def covers(self, path: str) -> bool:
        """True when `path` is this role's unit or under it."""
        return path.startswith(self.unit.path)
