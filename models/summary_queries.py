"""Aggregate queries behind the summaries: figures per group for a unit subtree and a period.

Each query is one GROUP BY over the current reports (superseded = false) whose unit path lies under
the unit and whose creation time lies in the period, so that the database does the counting and
only one row per group (and category) comes back. JSON fields are read in each engine's own SQL:
json_extract on SQLite, ->> on PostgreSQL. Rows name their group by its path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Select, and_, case, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from models.repos import subtree_range
from models.tables import Report, Unit

_report = Report.__table__  # type: ignore[attr-defined]
_unit = Unit.__table__  # type: ignore[attr-defined]
_KEY = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")
OPEN_STATUSES = ("sent", "received", "in_progress")


@dataclass(frozen=True, slots=True)
class Scope:
    """Reports under `path` created in [start, end)."""

    path: str
    start: datetime
    end: datetime

    def where(self) -> list[ColumnElement[bool]]:
        low, high = subtree_range(self.path)
        return [_report.c.unit_path >= low, _report.c.unit_path < high, _report.c.created_at >= self.start,
                _report.c.created_at < self.end, _report.c.superseded.is_(False)]


@dataclass(frozen=True, slots=True)
class UnitRow:
    id: int
    code: str
    name: str
    level: str
    path: str
    parent_id: int | None


_UNIT_COLUMNS = (_unit.c.id, _unit.c.code, _unit.c.name, _unit.c.level, _unit.c.path, _unit.c.parent_id)


def _unit_row(row: Any) -> UnitRow:
    return UnitRow(id=row[0], code=row[1], name=row[2], level=row[3], path=row[4], parent_id=row[5])


class Sql:
    """The engine-specific pieces: JSON fields of `report.data` and minutes between two times."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    @property
    def sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def text(self, key: str) -> ColumnElement[Any]:
        """A JSON field as text. The key is written into the SQL (not bound) so that the same
        expression can appear in SELECT and GROUP BY on PostgreSQL; keys are checked names."""
        if not _KEY.match(key):
            raise ValueError(f"not a field key: {key!r}")
        if self.sqlite:
            return func.json_extract(_report.c.data, literal_column(f"'$.{key}'"))
        arrow: ColumnElement[Any] = _report.c.data.op("->>")(literal_column(f"'{key}'"))
        return arrow

    def number(self, key: str) -> ColumnElement[Any]:
        # SQLite's json_extract returns numbers as numbers; PostgreSQL's ->> returns text.
        return self.text(key) if self.sqlite else cast(self.text(key), Float)

    def true(self, key: str) -> ColumnElement[bool]:
        # A JSON true is 1 to SQLite's json_extract and 'true' to PostgreSQL's ->>.
        if self.sqlite:
            return self.text(key) == literal_column("1")
        return self.text(key) == literal_column("'true'")

    def minutes_to_ack(self) -> ColumnElement[Any]:
        if self.sqlite:
            return (func.julianday(_report.c.acknowledged_at) - func.julianday(_report.c.created_at)) * 1440.0
        return func.extract("epoch", _report.c.acknowledged_at - _report.c.created_at) / 60.0

    async def rows(self, query: Select[Any]) -> Sequence[Any]:
        found: Sequence[Any] = (await self.session.execute(query)).all()
        return found


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _of_form(scope: Scope, form_key: str) -> list[ColumnElement[bool]]:
    return [_report.c.form_key == form_key, *scope.where()]


# --- units -----------------------------------------------------------------------------------


async def unit_at(session: AsyncSession, path: str) -> UnitRow | None:
    row = (await session.execute(select(*_UNIT_COLUMNS).where(_unit.c.path == path))).first()
    return _unit_row(row) if row is not None else None


async def units_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, UnitRow]:
    if not ids:
        return {}
    rows = (await session.execute(select(*_UNIT_COLUMNS).where(_unit.c.id.in_(sorted(set(ids)))))).all()
    return {row[0]: _unit_row(row) for row in rows}


async def units_under(session: AsyncSession, path: str, level: str) -> list[UnitRow]:
    """The units of `level` (the groups) under `path`, in path order."""
    low, high = subtree_range(path)
    rows = (await session.execute(
        select(*_UNIT_COLUMNS).where(_unit.c.path >= low, _unit.c.path < high, _unit.c.level == level)
        .order_by(_unit.c.path)
    )).all()
    return [_unit_row(row) for row in rows]


async def count_units(session: AsyncSession, path: str, level: str) -> int:
    low, high = subtree_range(path)
    query = select(func.count()).where(_unit.c.path >= low, _unit.c.path < high, _unit.c.level == level)
    return int(await session.scalar(query) or 0)


async def children_of(session: AsyncSession, unit_id: int, *, limit: int, offset: int) -> list[UnitRow]:
    """Units directly under a unit, by name."""
    rows = (await session.execute(
        select(*_UNIT_COLUMNS).where(_unit.c.parent_id == unit_id).order_by(_unit.c.name, _unit.c.id)
        .limit(limit).offset(offset)
    )).all()
    return [_unit_row(row) for row in rows]


# --- reports in a period --------------------------------------------------------------------


async def form_counts(session: AsyncSession, scope: Scope, form_keys: Sequence[str]) -> Sequence[Any]:
    """(path, form key, task, reports) for the given forms."""
    sql = Sql(session)
    return await sql.rows(
        select(_report.c.unit_path, _report.c.form_key, _report.c.task, func.count())
        .where(_report.c.form_key.in_(list(form_keys)), *scope.where())
        .group_by(_report.c.unit_path, _report.c.form_key, _report.c.task)
    )


async def category_counts(session: AsyncSession, scope: Scope, form_key: str, field: str) -> Sequence[Any]:
    """(path, the field's value, reports) for one form: incidents by kind, model spots by kind."""
    sql = Sql(session)
    value = sql.text(field)
    return await sql.rows(
        select(_report.c.unit_path, value, func.count())
        .where(*_of_form(scope, form_key))
        .group_by(_report.c.unit_path, value)
    )


async def field_sums(session: AsyncSession, scope: Scope, form_key: str, fields: Sequence[str]) -> Sequence[Any]:
    """(path, reports, sum of each field...) for one form."""
    sql = Sql(session)
    sums = [func.sum(sql.number(key)) for key in fields]
    return await sql.rows(
        select(_report.c.unit_path, func.count(), *sums)
        .where(*_of_form(scope, form_key))
        .group_by(_report.c.unit_path)
    )


async def hotspots(session: AsyncSession, scope: Scope, form_key: str) -> Sequence[Any]:
    """(path, hotspots reported, of them cleared): a hotspot is cleared when its report is resolved."""
    sql = Sql(session)
    return await sql.rows(
        select(_report.c.unit_path, func.count(), _count_if(_report.c.status == "resolved"))
        .where(*_of_form(scope, form_key))
        .group_by(_report.c.unit_path)
    )


async def feedback(session: AsyncSession, scope: Scope, form_key: str) -> Sequence[Any]:
    """(path, received, passed on to the ward, closed): closed when the group settled it itself or
    the report was resolved."""
    sql = Sql(session)
    closed = sql.true("da_giai_quyet") | (_report.c.status == "resolved")
    return await sql.rows(
        select(_report.c.unit_path, func.count(), _count_if(sql.true("da_chuyen_phuong")), _count_if(closed))
        .where(*_of_form(scope, form_key))
        .group_by(_report.c.unit_path)
    )


async def support(session: AsyncSession, scope: Scope, form_key: str) -> Sequence[Any]:
    """(path, household code, category, source, supports, total value) for the support form.

    One row per household, category and source: households per category are then the distinct
    codes of each group (the code is the group's own), money per source the sums.
    """
    sql = Sql(session)
    household, category, source = sql.text("ma_ho"), sql.text("dien"), sql.text("nguon")
    return await sql.rows(
        select(_report.c.unit_path, household, category, source, func.count(), func.sum(sql.number("gia_tri")))
        .where(*_of_form(scope, form_key))
        .group_by(_report.c.unit_path, household, category, source)
    )


async def distinct_households(session: AsyncSession, scope: Scope, form_key: str) -> Sequence[Any]:
    """(path, different household codes) for one form: households that left poverty."""
    sql = Sql(session)
    return await sql.rows(
        select(_report.c.unit_path, func.count(sql.text("ma_ho").distinct()))
        .where(*_of_form(scope, form_key))
        .group_by(_report.c.unit_path)
    )


async def support_rows(session: AsyncSession, scope: Scope, form_key: str) -> Sequence[Any]:
    """(path, report code, created at, household, category, kind, value, source): one row per
    support, household-level — only for those allowed to see it (the caller checks and audits)."""
    sql = Sql(session)
    return await sql.rows(
        select(_report.c.unit_path, _report.c.code, _report.c.created_at, sql.text("ma_ho"), sql.text("dien"),
               sql.text("hinh_thuc"), sql.number("gia_tri"), sql.text("nguon"))
        .where(*_of_form(scope, form_key))
        .order_by(_report.c.unit_path, _report.c.created_at)
    )


# --- urgent incidents -----------------------------------------------------------------------


async def urgent(session: AsyncSession, scope: Scope, ack_minutes: int) -> Sequence[Any]:
    """(path, incidents, acknowledged within `ack_minutes`, acknowledged, still open)."""
    sql = Sql(session)
    acked = _report.c.acknowledged_at.is_not(None)
    return await sql.rows(
        select(_report.c.unit_path, func.count(), _count_if(and_(acked, sql.minutes_to_ack() <= ack_minutes)),
               _count_if(acked), _count_if(_report.c.status.in_(OPEN_STATUSES)))
        .where(_report.c.urgent.is_(True), *scope.where())
        .group_by(_report.c.unit_path)
    )


async def median_minutes_to_ack(session: AsyncSession, scope: Scope, acknowledged: int) -> float | None:
    """The median minutes from an urgent incident to its acknowledgement (`acknowledged` of them)."""
    if acknowledged <= 0:
        return None
    sql = Sql(session)
    minutes = sql.minutes_to_ack()
    where = [_report.c.urgent.is_(True), _report.c.acknowledged_at.is_not(None), *scope.where()]
    if not sql.sqlite:
        value = await session.scalar(select(func.percentile_cont(0.5).within_group(minutes)).where(*where))
        return None if value is None else float(value)
    # SQLite has no percentile: the middle one or two values, found by the database's sort.
    middle = (await session.execute(
        select(minutes).where(*where).order_by(minutes).limit(2 - acknowledged % 2).offset((acknowledged - 1) // 2)
    )).scalars().all()
    return sum(float(v) for v in middle) / len(middle) if middle else None


async def urgent_by_bucket(session: AsyncSession, scope: Scope, edges: Sequence[datetime]) -> dict[int, int]:
    """Urgent incidents per time bucket: bucket i is [edges[i], edges[i + 1]) (local days or weeks,
    computed by the caller, so no time zone arithmetic happens in SQL)."""
    if len(edges) < 2:
        return {}
    sql = Sql(session)
    bucket = case(*((_report.c.created_at < edge, index) for index, edge in enumerate(edges[1:])), else_=-1)
    rows = await sql.rows(
        select(bucket, func.count()).where(_report.c.urgent.is_(True), *scope.where()).group_by(bucket)
    )
    return {int(r[0]): int(r[1]) for r in rows if r[0] is not None and int(r[0]) >= 0}


# --- monthly reports and standing states ----------------------------------------------------


async def monthly_filings(
    session: AsyncSession, path: str, form_key: str, months: Sequence[str], since: datetime
) -> Sequence[Any]:
    """(path, month, first filed at) of the monthly reports for the given months ("2026-11").

    The month is the one the report is for (its `_month`), not the month it was filed in: a
    report filed late is still the report of its month.
    """
    if not months:
        return []
    sql = Sql(session)
    low, high = subtree_range(path)
    month = sql.text("_month")
    return await sql.rows(
        select(_report.c.unit_path, month, func.min(_report.c.created_at))
        .where(_report.c.form_key == form_key, _report.c.unit_path >= low, _report.c.unit_path < high,
               _report.c.created_at >= since, _report.c.superseded.is_(False), month.in_(list(months)))
        .group_by(_report.c.unit_path, month)
    )


async def latest_values(session: AsyncSession, path: str, form_key: str, field: str, before: datetime) -> Sequence[Any]:
    """(path, value of `field`) in each group's latest report of a form filed before `before`:
    a standing state such as the litter-free status."""
    sql = Sql(session)
    low, high = subtree_range(path)
    where = [_report.c.form_key == form_key, _report.c.unit_path >= low, _report.c.unit_path < high,
             _report.c.created_at < before, _report.c.superseded.is_(False)]
    if sql.sqlite:
        # SQLite takes the bare columns of a MAX() aggregate from the row that holds the maximum.
        return [(r[0], r[1]) for r in await sql.rows(
            select(_report.c.unit_path, sql.text(field), func.max(_report.c.created_at))
            .where(*where).group_by(_report.c.unit_path)
        )]
    return await sql.rows(
        select(_report.c.unit_path, sql.text(field)).where(*where)
        .order_by(_report.c.unit_path, _report.c.created_at.desc(), _report.c.id.desc())
        .distinct(_report.c.unit_path)
    )


async def urgent_list(session: AsyncSession, scope: Scope, *, limit: int) -> Sequence[Any]:
    """(report id, code, created at, group name, kind, status) of urgent incidents, newest first."""
    sql = Sql(session)
    return await sql.rows(
        select(_report.c.id, _report.c.code, _report.c.created_at, _unit.c.name, sql.text("loai"), _report.c.status)
        .join_from(_report, _unit, _unit.c.id == _report.c.unit_id)
        .where(_report.c.urgent.is_(True), *scope.where())
        .order_by(_report.c.created_at.desc(), _report.c.id.desc())
        .limit(limit)
    )
