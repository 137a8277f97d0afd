"""Queries about reports, their events, who receives them, notices and group codes (part of Repo)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.codes import new_code, subtree_range
from models.tables import (
    Feedback,
    Notice,
    Person,
    Report,
    ReportEvent,
    RoleAssignment,
    Unit,
)

if TYPE_CHECKING:
    from models.repos import UnitRef


class ReportQueries:
    session: AsyncSession

    # --- reports ---------------------------------------------------------------------------

    async def add_report(
        self,
        *,
        form_key: str,
        form_version: int,
        task: str,
        unit: Unit | UnitRef,
        reporter_id: int,
        data: dict[str, Any],
        at: datetime,
        urgent: bool = False,
        escalate_at: datetime | None = None,
        supersedes: Report | None = None,
    ) -> Report:
        """Saves a report (or a correction of `supersedes`, which is kept) with a fresh short code."""
        # 31^6 codes: a clash is so rare that the unique index rolling the message back (and the
        # engine handling it again with a new code) is cheaper than checking every time.
        code = f"{supersedes.code.split('-')[0]}-{self._next_version(supersedes)}" if supersedes else new_code(6)
        report = Report(code=code, form_key=form_key, form_version=form_version, task=task, unit_id=unit.id,
                        unit_path=unit.path, reporter_id=reporter_id, data=data, created_at=at, updated_at=at,
                        urgent=urgent, escalate_at=escalate_at, supersedes_id=supersedes.id if supersedes else None)
        self.session.add(report)
        await self.session.flush()
        assert report.id is not None
        if supersedes is not None:
            supersedes.superseded = True
        self.session.add(ReportEvent(report_id=report.id, at=at, person_id=reporter_id, status="sent"))
        return report

    @staticmethod
    def _next_version(report: Report) -> int:
        _base, _sep, number = report.code.partition("-")
        return int(number) + 1 if number.isdigit() else 2

    async def report(self, report_id: int) -> Report | None:
        return await self.session.get(Report, report_id)

    async def report_by_code(self, code: str) -> Report | None:
        return (await self.session.scalars(select(Report).where(Report.code == code))).first()

    async def change_status(
        self, report: Report, *, status: str, person_id: int | None, at: datetime, note: str = "",
        expected: str | None = None,
    ) -> bool:
        """Sets the new status only if the report is still `expected` (by default: the status it had
        when read); records who, when and why.

        Compare-and-set: of two people changing a report at once, exactly one gets True (the other's
        row count is 0) and only the winner's event is written. The first acknowledgement is kept.
        """
        expected = report.status if expected is None else expected
        values: dict[str, Any] = {"status": status, "status_reason": note if status == "returned" else "",
                                  "updated_at": at}
        if status != "sent":
            # SET expressions read the row's old values on both engines: the first one to act is kept.
            values["escalate_at"] = None
            c = Report.__table__.c
            values["acknowledged_by"] = case((c.acknowledged_at.is_(None), literal(person_id, c.acknowledged_by.type)),
                                             else_=c.acknowledged_by)
            values["acknowledged_at"] = func.coalesce(c.acknowledged_at, literal(at, c.acknowledged_at.type))
        result = await self.session.execute(
            update(Report).where(Report.id == report.id, Report.status == expected).values(**values)
            .execution_options(synchronize_session=False))
        won: bool = result.rowcount == 1
        if won:
            self.session.add(ReportEvent(report_id=report.id, at=at, person_id=person_id, status=status, note=note))
            await self.session.flush()
        await self.session.refresh(report)  # the winner's values, whoever it was
        return won

    async def escalated(self, report: Report, *, level: int, at: datetime, next_at: datetime | None, note: str) -> bool:
        """Moves an unacknowledged incident up a level, unless someone acknowledged it meanwhile."""
        result = await self.session.execute(
            update(Report).where(Report.id == report.id, Report.status == "sent",
                                 Report.escalation_level == report.escalation_level)
            .values(escalation_level=level, escalate_at=next_at).execution_options(synchronize_session=False))
        won: bool = result.rowcount == 1
        if won:
            self.session.add(ReportEvent(report_id=report.id, at=at, status="escalated", note=note))
            await self.session.flush()
        await self.session.refresh(report)
        return won

    async def feedback(self, feedback_id: int) -> Feedback | None:
        return await self.session.get(Feedback, feedback_id)

    async def open_feedback(self, unit_ids: Sequence[int], *, limit: int) -> Sequence[Feedback]:
        """The groups' feedback not yet passed on or closed, newest first."""
        return (await self.session.scalars(
            select(Feedback).where(Feedback.unit_id.in_(unit_ids), Feedback.status.in_(("new", "answered")))
            .order_by(Feedback.created_at.desc(), Feedback.id.desc()).limit(limit))).all()

    async def set_feedback_status(
        self, feedback: Feedback, *, status: str, expected: str, person_id: int, at: datetime, **values: Any
    ) -> bool:
        """Changes a feedback's status only if it is still `expected` (compare-and-set)."""
        result = await self.session.execute(
            update(Feedback).where(Feedback.id == feedback.id, Feedback.status == expected)
            .values(status=status, handled_by=person_id, updated_at=at, **values)
            .execution_options(synchronize_session=False))
        won: bool = result.rowcount == 1
        await self.session.refresh(feedback)
        return won

    async def events(self, report_id: int) -> Sequence[tuple[ReportEvent, str | None]]:
        rows = (await self.session.execute(
            select(ReportEvent, Person.name)
            .outerjoin(Person, Person.id == ReportEvent.person_id)
            .where(ReportEvent.report_id == report_id)
            .order_by(ReportEvent.at, ReportEvent.id)
        )).all()
        return [(row[0], row[1]) for row in rows]

    async def reports_by(self, reporter_id: int, *, limit: int = 10, offset: int = 0) -> Sequence[Report]:
        return (
            await self.session.scalars(
                select(Report)
                .where(Report.reporter_id == reporter_id, Report.superseded.is_(False))
                .order_by(Report.created_at.desc(), Report.id.desc())
                .offset(offset)
                .limit(limit)
            )
        ).all()

    async def reports_under(
        self, path: str, *, urgent: bool | None = None, statuses: Sequence[str] | None = None,
        limit: int = 10, offset: int = 0,
    ) -> Sequence[tuple[Report, Unit]]:
        """Reports of every unit under `path`, newest first (current versions only)."""
        low, high = subtree_range(path)
        query = (
            select(Report, Unit)
            .join(Unit, Unit.id == Report.unit_id)
            .where(Report.unit_path >= low, Report.unit_path < high, Report.superseded.is_(False))
        )
        if urgent is not None:
            query = query.where(Report.urgent.is_(urgent))
        if statuses:
            query = query.where(Report.status.in_(statuses))
        rows = (await self.session.execute(
            query.order_by(Report.created_at.desc(), Report.id.desc()).offset(offset).limit(limit)
        )).all()
        return [(row[0], row[1]) for row in rows]

    async def reports_in_period(self, unit_id: int, start: datetime, end: datetime) -> Sequence[Report]:
        """A group's current reports created in [start, end)."""
        return (await self.session.scalars(
            select(Report).where(Report.unit_id == unit_id, Report.created_at >= start, Report.created_at < end,
                                 Report.superseded.is_(False))
            .order_by(Report.created_at)
        )).all()

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

    async def notices_for(self, paths: Sequence[str], audiences: Sequence[str], *, now: datetime,
                          limit: int = 5) -> Sequence[Notice]:
        """The latest notices sent to any of these units (a group and the units above it)."""
        return (await self.session.scalars(
            select(Notice).where(Notice.unit_path.in_(paths), Notice.audience.in_(audiences),
                                 Notice.send_at <= now)
            .order_by(Notice.send_at.desc(), Notice.id.desc()).limit(limit)
        )).all()

    async def notices_under(self, path: str, *, sender_id: int | None = None, limit: int = 10) -> Sequence[Notice]:
        low, high = subtree_range(path)
        query = select(Notice).where(Notice.unit_path >= low, Notice.unit_path < high)
        if sender_id is not None:
            query = query.where(Notice.sender_id == sender_id)
        return (await self.session.scalars(query.order_by(Notice.id.desc()).limit(limit))).all()
