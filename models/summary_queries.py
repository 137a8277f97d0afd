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

from sqlalchemy import Float, Numeric, Select, case, cast, func, literal_column, select
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

    def where(self, sqlite: bool = False) -> list[ColumnElement[bool]]:
        return [*_under(self.path, sqlite), _report.c.created_at >= self.start, _report.c.created_at < self.end,
                _report.c.superseded.is_(False)]


def _under(path: str, sqlite: bool) -> list[ColumnElement[bool]]:
    """The path range of a subtree. SQLite cannot tell how narrow a path range is: for a whole city
    it would walk the path index over every report ever filed. "+column" (SQLite's documented way)
    keeps it on the period or form index instead, and the path is checked inside that index."""
    low, high = subtree_range(path)
    column = literal_column("+report.unit_path") if sqlite else _report.c.unit_path
    return [column >= low, column < high]


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
        return cast(func.extract("epoch", _report.c.acknowledged_at - _report.c.created_at), Numeric) / 60

    async def rows(self, query: Select[Any]) -> Sequence[Any]:
        found: Sequence[Any] = (await self.session.execute(query)).all()
        return found


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _of_form(sql: Sql, scope: Scope, form_key: str) -> list[ColumnElement[bool]]:
    return [_report.c.form_key == form_key, *scope.where(sql.sqlite)]


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


@dataclass(frozen=True, slots=True)
class Flag:
    """A yes/no answer counted when true (or, with `or_resolved`, also when the report was resolved)."""

    field: str
    or_resolved: bool = False


@dataclass(frozen=True, slots=True)
class FormFields:
    """What the period scan reads from one form's answers: text fields to group by, numbers to add
    up, yes/no answers to count."""

    keys: tuple[str, ...] = ()
    sums: tuple[str, ...] = ()
    flags: tuple[Flag, ...] = ()


KEYS, SUMS, FLAGS = 3, 5, 2


@dataclass(frozen=True, slots=True)
class ScanRow:
    """One group of the period scan: a path, a form and the values of its keys."""

    path: str
    form_key: str
    task: str
    urgent: bool
    bucket: int | None  # urgent incidents: which time bucket
    minutes: float | None  # urgent incidents: minutes to acknowledgement (None: not acknowledged)
    keys: tuple[Any, ...]
    reports: int
    sums: tuple[float, ...]
    flags: tuple[int, ...]
    resolved: int
    still_open: int


async def period_scan(
    session: AsyncSession, scope: Scope, forms: dict[str, FormFields], *, edges: Sequence[datetime] = ()
) -> list[ScanRow]:
    """Every figure of a period in one pass over its reports: rows grouped by path, form, urgency
    and the form's keys, with its sums and counts. Urgent incidents are also grouped by time bucket
    ([edges[i], edges[i + 1])) and by minutes to acknowledgement, for the chart and the median."""
    sql = Sql(session)
    form = _report.c.form_key
    too_many = [key for key, spec in forms.items()
                if len(spec.keys) > KEYS or len(spec.sums) > SUMS or len(spec.flags) > FLAGS]
    if too_many:
        raise ValueError(f"the period scan reads at most {KEYS} keys, {SUMS} sums, {FLAGS} flags: {too_many}")

    def per_form(pick: Any) -> ColumnElement[Any]:
        whens = [(form == literal_column(f"'{key}'"), value) for key, spec in forms.items()
                 if (value := pick(spec)) is not None]
        return case(*whens, else_=None) if whens else literal_column("NULL")

    resolved = _report.c.status == literal_column("'resolved'")

    def flag(spec: FormFields, n: int) -> ColumnElement[Any] | None:
        if n >= len(spec.flags):
            return None
        found = sql.true(spec.flags[n].field)
        return case((found | resolved if spec.flags[n].or_resolved else found, 1), else_=0)

    keys = [per_form(lambda spec, n=n: sql.text(spec.keys[n]) if n < len(spec.keys) else None).label(f"k{n}")
            for n in range(KEYS)]
    sums = [func.sum(per_form(lambda spec, n=n: sql.number(spec.sums[n]) if n < len(spec.sums) else None))
            for n in range(SUMS)]
    flags = [func.sum(per_form(lambda spec, n=n: flag(spec, n))) for n in range(FLAGS)]
    urgent = _report.c.urgent
    bucket = case(*((_report.c.created_at < edge, literal_column(str(n))) for n, edge in enumerate(edges[1:])),
                  else_=None) if len(edges) > 1 else literal_column("NULL")
    grouped = [_report.c.unit_path, form, _report.c.task, urgent,
               case((urgent.is_(True), bucket), else_=None).label("k_bucket"),
               case((urgent.is_(True), func.round(sql.minutes_to_ack(), 2)), else_=None).label("k_minutes"), *keys]
    query = (
        select(*grouped, func.count(), *sums, *flags, _count_if(resolved),
               _count_if(_report.c.status.in_(OPEN_STATUSES)))
        .where(*scope.where(sql.sqlite))
        .group_by(*grouped)
    )
    out = []
    for row in await sql.rows(query):
        out.append(ScanRow(path=row[0], form_key=row[1], task=row[2], urgent=bool(row[3]),
                           bucket=None if row[4] is None else int(row[4]),
                           minutes=None if row[5] is None else float(row[5]), keys=tuple(row[6:6 + KEYS]),
                           reports=int(row[6 + KEYS]), sums=tuple(float(v or 0) for v in row[7 + KEYS:7 + KEYS + SUMS]),
                           flags=tuple(int(v or 0) for v in row[7 + KEYS + SUMS:7 + KEYS + SUMS + FLAGS]),
                           resolved=int(row[-2] or 0), still_open=int(row[-1] or 0)))
    return out


async def category_counts(session: AsyncSession, scope: Scope, form_key: str, field: str) -> Sequence[Any]:
    """(path, the field's value, reports) for one form (model spots by kind over a year)."""
    sql = Sql(session)
    value = sql.text(field)
    return await sql.rows(select(_report.c.unit_path, value, func.count())
                          .where(*_of_form(sql, scope, form_key)).group_by(_report.c.unit_path, value))


async def support_rows(session: AsyncSession, scope: Scope, form_key: str) -> Sequence[Any]:
    """(path, report code, created at, household, category, kind, value, source): one row per
    support, household-level — only for those allowed to see it (the caller checks and audits)."""
    sql = Sql(session)
    return await sql.rows(
        select(_report.c.unit_path, _report.c.code, _report.c.created_at, sql.text("ma_ho"), sql.text("dien"),
               sql.text("hinh_thuc"), sql.number("gia_tri"), sql.text("nguon"))
        .where(*_of_form(sql, scope, form_key))
        .order_by(_report.c.unit_path, _report.c.created_at)
    )


# --- urgent incidents -----------------------------------------------------------------------


async def urgent_list(session: AsyncSession, scope: Scope, *, limit: int) -> Sequence[Any]:
    """(report id, code, created at, group name, kind, status, acknowledged at) of urgent incidents,
    newest first."""
    sql = Sql(session)
    query = (
        select(_report.c.id, _report.c.code, _report.c.created_at, _unit.c.name, sql.text("loai"), _report.c.status,
               _report.c.acknowledged_at)
        .join_from(_report, _unit, _unit.c.id == _report.c.unit_id)
        .where(_report.c.urgent.is_(True), *scope.where(sql.sqlite))
        .order_by(_report.c.created_at.desc(), _report.c.id.desc())
        .limit(limit)
    )
    return await sql.rows(query)


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
    month = sql.text("_month")
    return await sql.rows(
        select(_report.c.unit_path, month, func.min(_report.c.created_at))
        .where(_report.c.form_key == form_key, *_under(path, sql.sqlite), _report.c.created_at >= since,
               _report.c.superseded.is_(False), month.in_(list(months)))
        .group_by(_report.c.unit_path, month)
    )


async def latest_values(session: AsyncSession, path: str, form_key: str, field: str, before: datetime) -> Sequence[Any]:
    """(path, value of `field`) in each group's latest report of a form filed before `before`:
    a standing state such as the litter-free status."""
    sql = Sql(session)
    where = [_report.c.form_key == form_key, *_under(path, sql.sqlite), _report.c.created_at < before,
             _report.c.superseded.is_(False)]
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

