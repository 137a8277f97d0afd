"""Queries about reports: filing, corrections, status changes and their events, escalation, the lists
officials and leaders see (part of Repo)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.codes import new_code, subtree_range
from models.roles import UnitRef
from models.tables import Person, Report, ReportEvent, Unit, local_day

NIL_FORM = "an_ninh_khong_vu_viec"


def _month_start(value: Any) -> date | None:
    try:
        return date(int(str(value)[:4]), int(str(value)[5:7]), 1)
    except ValueError:
        return None


def default_event_day(form_key: str, data: dict[str, Any], at: datetime) -> date:
    """The day of a report filed without one: a monthly report's (`_month`) or a nil report's
    (`month`) first day of the month, else the local day it was filed (the rule of migration 0012;
    the core passes the day its form declares)."""
    found = _month_start(data["_month"]) if "_month" in data else \
        _month_start(data.get("month")) if form_key == NIL_FORM else None
    return found or local_day(at)


class ReportQueries:
    session: AsyncSession

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
        event_day: date | None = None,
    ) -> Report:
        """Saves a report (or a correction of `supersedes`, which is kept) with a fresh short code.
        `event_day` is the local day it is about (default: the local day of `at`)."""
        # 31^6 codes: a clash is so rare that the unique index rolling the message back (and the
        # engine handling it again with a new code) is cheaper than checking every time.
        code = f"{supersedes.code.split('-')[0]}-{self._next_version(supersedes)}" if supersedes else new_code(6)
        report = Report(code=code, form_key=form_key, form_version=form_version, task=task, unit_id=unit.id,
                        unit_path=unit.path, reporter_id=reporter_id, data=data, created_at=at, updated_at=at,
                        urgent=urgent, escalate_at=escalate_at, supersedes_id=supersedes.id if supersedes else None,
                        event_day=event_day or default_event_day(form_key, data, at))
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

    async def due_escalations(self, now: datetime, *, limit: int = 50) -> Sequence[Report]:
        """Urgent reports still unacknowledged past their deadline, locked for this instance."""
        return (await self.session.scalars(
            select(Report)
            .where(Report.urgent.is_(True), Report.status == "sent", Report.escalate_at <= now)
            .order_by(Report.escalate_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )).all()

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

    async def reports_on_days(self, path: str, first: date, following: date, *,
                              forms: Collection[str] | None = None) -> Sequence[Report]:
        """A group's current reports about a day in [first, following) (their event day); only
        those of `forms` when given (a month's monthly and nil reports, without loading the rest)."""
        query = select(Report).where(Report.unit_path == path, Report.event_day >= first,
                                     Report.event_day < following, Report.superseded.is_(False))
        if forms is not None:
            query = query.where(Report.form_key.in_(sorted(forms)))
        return (await self.session.scalars(query.order_by(Report.event_day, Report.created_at, Report.id))).all()

    async def mark_out_of_date(self, reports: Sequence[Report], *, at: datetime) -> None:
        """Marks monthly or nil reports as made out of date by a later report of their month."""
        for report in reports:
            if not report.out_of_date:
                report.out_of_date = True
                report.updated_at = at
        await self.session.flush()
