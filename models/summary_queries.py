"""Aggregate queries behind the summaries of a unit subtree for a period.

Each query is one GROUP BY over the current reports (superseded = false) whose unit path lies under
the unit and whose day lies in the period; the database does the counting and returns one row per
group (or per form and category for the whole area). A period's reports are those whose event day
(`report.event_day`, the local day the event happened) is in it (`Scope` with dates); a scope with
datetimes counts by filing time instead (the last 24 hours of urgent incidents). JSON answers are
read in each engine's own SQL: json_extract on SQLite, ->> on PostgreSQL.

Four indexes serve them: (event_day, unit_path) for everything about a period, (form_key, event_day,
unit_path) for one form's reports, and the same two on created_at for filing times. SQLite's planner
cannot tell how narrow a path range is (for a whole city it would walk the path index over every
report ever filed), so on SQLite each query names its index (INDEXED BY).

On PostgreSQL every statement here is planned for its own values (`plan_cache_mode =
force_custom_plan` for the rest of the transaction, see `_execute`): psycopg prepares a statement after
5 executions, and after 5 more PostgreSQL may keep one generic plan, made without the values,
guessing that a range of days or of paths keeps 0.5% of the rows. The same statement counts a ward's
1,500 reports and a whole city's 43,000: for the city the generic plan walked (unit_path, event_day)
over every report of the city and sorted 43,590 rows on disk, 84 ms instead of 18
(docs/benchmarks.md, "Issue 14, PostgreSQL city"). Planning each time costs well under a millisecond.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Float, Numeric, Select, case, cast, column, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import TableClause

from models.codes import subtree_range
from models.tables import Report, Unit

_report = Report.__table__  # type: ignore[attr-defined]
_unit = Unit.__table__  # type: ignore[attr-defined]
_KEY = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")
_CUSTOM_PLANS = "totruong_custom_plans"  # in the connection's info: the transaction that has them
OPEN_STATUSES = ("sent", "received", "in_progress")


class _ByPeriod(TableClause):
    """The report table, read on SQLite through its (created_at, unit_path) index."""

    inherit_cache = True
    index = "ix_report_created_path"


class _ByForm(TableClause):
    """The report table, read on SQLite through its (form_key, created_at, unit_path) index."""

    inherit_cache = True
    index = "ix_report_form_created"


class _ByEventDay(TableClause):
    """The report table, read on SQLite through its (event_day, created_at, unit_path) index."""

    inherit_cache = True
    index = "ix_report_event_path"


class _ByFormEventDay(TableClause):
    """The report table, read on SQLite through its (form_key, event_day, created_at, unit_path,
    superseded) index."""

    inherit_cache = True
    index = "ix_report_form_event"


_Indexed = _ByPeriod | _ByForm | _ByEventDay | _ByFormEventDay


@compiles(_ByPeriod, "sqlite")
@compiles(_ByForm, "sqlite")
@compiles(_ByEventDay, "sqlite")
@compiles(_ByFormEventDay, "sqlite")
def _indexed_by(element: _Indexed, compiler: SQLCompiler, **kw: Any) -> str:
    table: str = compiler.visit_table(element, **kw)  # type: ignore[no-untyped-call]
    return f"{table} INDEXED BY {element.index}" if kw.get("asfrom") else table


_BY_PERIOD = _ByPeriod("report", *(column(c.name, c.type) for c in _report.c))
_BY_FORM = _ByForm("report", *(column(c.name, c.type) for c in _report.c))
_BY_EVENT = _ByEventDay("report", *(column(c.name, c.type) for c in _report.c))
_BY_FORM_EVENT = _ByFormEventDay("report", *(column(c.name, c.type) for c in _report.c))


@dataclass(frozen=True, slots=True)
class Scope:
    """Reports under `path` about a local day in [start, end) (dates: their event day), or filed in
    [start, end) (datetimes: their filing time)."""

    path: str
    start: date
    end: date

    @property
    def by_filing(self) -> bool:
        return isinstance(self.start, datetime)


async def _execute(session: AsyncSession, query: Select[Any]) -> Any:
    """Runs `query` in the session; on PostgreSQL, first (once per transaction) custom plans for the
    rest of the transaction. SET LOCAL ends with it: the connection goes back to the pool with the
    server's setting, for the hot path's prepared statements (one identity, one conversation: a
    generic plan suits them and saves planning every message)."""
    conn = await session.connection()
    sync = conn.sync_connection
    if sync is not None and sync.dialect.name == "postgresql":
        transaction = sync.get_transaction()
        if sync.info.get(_CUSTOM_PLANS) is not transaction:
            await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
            sync.info[_CUSTOM_PLANS] = transaction
    return await session.execute(query)


def _table(scope: Scope, *, form: bool) -> TableClause:
    """The report table read through the index that fits the scope (and one form's reports)."""
    if scope.by_filing:
        return _BY_FORM if form else _BY_PERIOD
    return _BY_FORM_EVENT if form else _BY_EVENT


@dataclass(frozen=True, slots=True)
class Flag:
    """A yes/no answer counted when true (or, with `or_resolved`, also when the report was resolved)."""

    field: str
    or_resolved: bool = False


@dataclass(frozen=True, slots=True)
class UnitRow:
    id: int
    code: str
    name: str
    level: str
    path: str
    parent_id: int | None


class Sql:
    """One query's table (read through `index` on SQLite) and the engine-specific pieces: JSON
    answers of `report.data`, minutes between two times."""

    def __init__(self, session: AsyncSession, table: TableClause) -> None:
        self.session = session
        self.sqlite = session.get_bind().dialect.name == "sqlite"
        self.r = table

    def text(self, key: str) -> ColumnElement[Any]:
        """A JSON answer as text. The key is written into the SQL (not bound) so that the same
        expression can appear in SELECT and GROUP BY on PostgreSQL; keys are checked names."""
        if not _KEY.match(key):
            raise ValueError(f"not a field key: {key!r}")
        if self.sqlite:
            return func.json_extract(self.r.c.data, literal_column(f"'$.{key}'"))
        arrow: ColumnElement[Any] = self.r.c.data.op("->>")(literal_column(f"'{key}'"))
        return arrow

    def number(self, key: str) -> ColumnElement[Any]:
        # SQLite's json_extract returns numbers as numbers; PostgreSQL's ->> returns text.
        return self.text(key) if self.sqlite else cast(self.text(key), Float)

    def true(self, key: str) -> ColumnElement[bool]:
        # A JSON true is 1 to SQLite's json_extract and 'true' to PostgreSQL's ->>.
        return self.text(key) == literal_column("1" if self.sqlite else "'true'")

    def minutes_to_ack(self) -> ColumnElement[Any]:
        acknowledged, created = self.r.c.acknowledged_at, self.r.c.created_at
        if self.sqlite:
            return func.round((func.julianday(acknowledged) - func.julianday(created)) * 1440.0, 2)
        return func.round(cast(func.extract("epoch", acknowledged - created), Numeric) / 60, 2)

    def count_if(self, condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((condition, 1), else_=0))

    def day(self, scope: Scope) -> ColumnElement[Any]:
        """The column a scope's bounds are compared with: the filing time, or the event day."""
        return self.r.c.created_at if scope.by_filing else self.r.c.event_day

    def where(self, scope: Scope, form_key: str | None = None) -> list[ColumnElement[bool]]:
        low, high = subtree_range(scope.path)
        day = self.day(scope)
        found = [day >= scope.start, day < scope.end, self.r.c.unit_path >= low,
                 self.r.c.unit_path < high, self.r.c.superseded.is_(False)]
        return [self.r.c.form_key == form_key, *found] if form_key else found

    async def rows(self, query: Select[Any]) -> Sequence[Any]:
        found: Sequence[Any] = (await _execute(self.session, query)).all()
        return found


def _grouped(sql: Sql, by_path: bool, *keys: ColumnElement[Any]) -> tuple[list[Any], list[Any]]:
    """(the leading columns, the GROUP BY): the keys, after the group's path or, for the whole
    area, an empty path ('' is no GROUP BY term: PostgreSQL refuses a constant there)."""
    if by_path:
        return [sql.r.c.unit_path, *keys], [sql.r.c.unit_path, *keys]
    return [literal_column("''").label("path"), *keys], list(keys)


_UNIT_COLUMNS = (_unit.c.id, _unit.c.code, _unit.c.name, _unit.c.level, _unit.c.path, _unit.c.parent_id)


def _unit_row(row: Any) -> UnitRow:
    return UnitRow(id=row[0], code=row[1], name=row[2], level=row[3], path=row[4], parent_id=row[5])


class SummaryQueries:
    """The queries of one transaction (`Repo.summaries`)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- units -----------------------------------------------------------------------------------

    async def unit_at(self, path: str) -> UnitRow | None:
        row = (await _execute(self.session, select(*_UNIT_COLUMNS).where(_unit.c.path == path))).first()
        return _unit_row(row) if row is not None else None

    async def units_by_id(self, ids: Sequence[int]) -> dict[int, UnitRow]:
        if not ids:
            return {}
        rows = (await _execute(self.session, select(*_UNIT_COLUMNS).where(_unit.c.id.in_(sorted(set(ids)))))).all()
        return {row[0]: _unit_row(row) for row in rows}

    async def units_under(self, path: str, level: str) -> list[UnitRow]:
        """The units of `level` (the groups) under `path`, in path order."""
        low, high = subtree_range(path)
        rows = (await _execute(
            self.session,
            select(*_UNIT_COLUMNS).where(_unit.c.path >= low, _unit.c.path < high, _unit.c.level == level)
            .order_by(_unit.c.path)
        )).all()
        return [_unit_row(row) for row in rows]

    async def count_units(self, path: str, level: str) -> int:
        low, high = subtree_range(path)
        query = select(func.count()).where(_unit.c.path >= low, _unit.c.path < high, _unit.c.level == level)
        return int((await _execute(self.session, query)).scalar() or 0)

    async def children_of(self, unit_id: int, *, limit: int, offset: int) -> list[UnitRow]:
        """Units directly under a unit, by name."""
        rows = (await _execute(
            self.session,
            select(*_UNIT_COLUMNS).where(_unit.c.parent_id == unit_id).order_by(_unit.c.name, _unit.c.id)
            .limit(limit).offset(offset)
        )).all()
        return [_unit_row(row) for row in rows]

    # --- reports in a period ---------------------------------------------------------------------

    async def counts(self, scope: Scope, ack_minutes: int, *, by_path: bool) -> Sequence[Any]:
        """(path, form key, task, urgent, reports, resolved, still open, urgent ones acknowledged, of them
        within `ack_minutes`): every report of the period, per form — and per group with `by_path` (else
        the path is '')."""
        sql = Sql(self.session, _table(scope, form=False))
        r = sql.r
        leading, grouped = _grouped(sql, by_path, r.c.form_key, r.c.task, r.c.urgent)
        acknowledged = r.c.urgent.is_(True) & r.c.acknowledged_at.is_not(None)
        return await sql.rows(
            select(*leading, func.count(), sql.count_if(r.c.status == "resolved"),
                   sql.count_if(r.c.status.in_(OPEN_STATUSES)), sql.count_if(acknowledged),
                   sql.count_if(acknowledged & (sql.minutes_to_ack() <= ack_minutes)))
            .where(*sql.where(scope)).group_by(*grouped)
        )

    async def reports_by_path(self, scope: Scope) -> Sequence[Any]:
        """(path, reports) of each group in the period."""
        sql = Sql(self.session, _table(scope, form=False))
        return await sql.rows(select(sql.r.c.unit_path, func.count()).where(*sql.where(scope))
                              .group_by(sql.r.c.unit_path))

    async def households_count(self, scope: Scope, form_key: str) -> int:
        """How many households one form's reports name (codes are each group's own)."""
        sql = Sql(self.session, _table(scope, form=True))
        household = sql.r.c.unit_path + literal_column("'|'") + sql.text("ma_ho")
        query = select(func.count(household.distinct())).where(*sql.where(scope, form_key))
        return int((await _execute(self.session, query)).scalar() or 0)

    async def categories(
        self, scope: Scope, form_key: str, fields: Sequence[str], *, by_path: bool
    ) -> Sequence[Any]:
        """(path, values of `fields`..., reports) for one form: incidents by kind, model spots by kind."""
        sql = Sql(self.session, _table(scope, form=True))
        leading, grouped = _grouped(sql, by_path, *(sql.text(field) for field in fields))
        return await sql.rows(select(*leading, func.count()).where(*sql.where(scope, form_key)).group_by(*grouped))

    async def sums(
        self, scope: Scope, form_key: str, fields: Sequence[str], *, by_path: bool
    ) -> Sequence[Any]:
        """(path, reports, sum of each field...) for one form."""
        sql = Sql(self.session, _table(scope, form=True))
        leading, grouped = _grouped(sql, by_path)
        query = select(*leading, func.count(), *(func.sum(sql.number(field)) for field in fields))
        return await sql.rows(query.where(*sql.where(scope, form_key)).group_by(*grouped))

    async def part_of_whole(
        self, scope: Scope, form_key: str, part: str, whole: str, *, by_path: bool
    ) -> Sequence[Any]:
        """(path, reports, sum of `part`, sum of `whole`, reports whose part is larger than the whole)
        for one form. The sums leave out those reports (filed before the forms checked it, e.g. 62
        households present out of 50) and count them instead: a rate of the sums is never above 100%."""
        sql = Sql(self.session, _table(scope, form=True))
        leading, grouped = _grouped(sql, by_path)
        a, b = sql.number(part), sql.number(whole)
        sound = a <= b  # NULL (an answer missing) is not sound either: left out of both sums
        query = select(*leading, func.count(), func.sum(case((sound, a), else_=0)),
                       func.sum(case((sound, b), else_=0)), sql.count_if(a > b))
        return await sql.rows(query.where(*sql.where(scope, form_key)).group_by(*grouped))

    async def flags(
        self, scope: Scope, form_key: str, wanted: Sequence[Flag], *, by_path: bool
    ) -> Sequence[Any]:
        """(path, reports, how many have each flag...) for one form."""
        sql = Sql(self.session, _table(scope, form=True))
        leading, grouped = _grouped(sql, by_path)
        resolved = sql.r.c.status == "resolved"
        counted = [sql.count_if(sql.true(flag.field) | resolved if flag.or_resolved else sql.true(flag.field))
                   for flag in wanted]
        query = select(*leading, func.count(), *counted).where(*sql.where(scope, form_key))
        return await sql.rows(query.group_by(*grouped))

    async def households(
        self, scope: Scope, form_key: str, fields: Sequence[str], value: str | None = None
    ) -> Sequence[Any]:
        """(path, household code, values of `fields`..., reports, sum of `value`): one row per household
        of each group (codes are the group's own), category and source."""
        sql = Sql(self.session, _table(scope, form=True))
        keys = [sql.r.c.unit_path, sql.text("ma_ho"), *(sql.text(field) for field in fields)]
        total = func.sum(sql.number(value)) if value else literal_column("0")
        return await sql.rows(select(*keys, func.count(), total).where(*sql.where(scope, form_key)).group_by(*keys))

    async def support_rows(self, scope: Scope, form_key: str) -> Sequence[Any]:
        """(path, report code, created at, household, category, kind, value, source): one row per
        support, household-level — only for those allowed to see it (the caller checks and audits)."""
        sql = Sql(self.session, _table(scope, form=True))
        r = sql.r
        return await sql.rows(
            select(r.c.unit_path, r.c.code, r.c.created_at, sql.text("ma_ho"), sql.text("dien"), sql.text("hinh_thuc"),
                   sql.number("gia_tri"), sql.text("nguon"))
            .where(*sql.where(scope, form_key)).order_by(r.c.unit_path, r.c.created_at)
        )

    # --- urgent incidents -----------------------------------------------------------------------

    async def urgent_times(self, scope: Scope, edges: Sequence[date]) -> Sequence[Any]:
        """(time bucket, minutes to acknowledgement, incidents) of the urgent incidents: bucket i is
        [edges[i], edges[i + 1]) (local days, or filing times for a scope of datetimes, computed by the
        caller, so no time zone arithmetic happens in SQL); the minutes are None while nobody has
        acknowledged."""
        sql = Sql(self.session, _table(scope, form=False))
        r = sql.r
        steps: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = [
            (sql.day(scope) < edge, literal_column(str(n))) for n, edge in enumerate(edges[1:])]
        minutes = sql.minutes_to_ack().label("minutes")
        keys = [case(*steps, else_=None).label("bucket"), minutes] if steps else [minutes]
        query = select(*keys, func.count()).where(r.c.urgent.is_(True), *sql.where(scope)).group_by(*keys)
        return [row if steps else (None, *row) for row in await sql.rows(query)]

    async def urgent_list(self, scope: Scope, *, limit: int) -> Sequence[Any]:
        """(report id, code, created at, group name, kind, status, acknowledged at) of urgent incidents,
        newest first."""
        sql = Sql(self.session, _table(scope, form=False))
        r = sql.r
        return await sql.rows(
            select(r.c.id, r.c.code, r.c.created_at, _unit.c.name, sql.text("loai"), r.c.status, r.c.acknowledged_at)
            .join_from(r, _unit, _unit.c.id == r.c.unit_id)
            .where(r.c.urgent.is_(True), *sql.where(scope))
            .order_by(r.c.created_at.desc(), r.c.id.desc())
            .limit(limit)
        )

    # --- monthly reports and standing states ----------------------------------------------------

    async def monthly_filings(self, path: str, form_key: str, first: date, following: date) -> Sequence[Any]:
        """(path, event day, first filed at) of the monthly reports for the months in [first, following).

        The month is the one the report is for (its event day, the first day of its month), not the
        month it was filed in: a report filed late is still the report of its month. A replaced report
        counts from when the first of its versions was filed (it was on time if that one was).
        """
        scope = Scope(path, first, following)
        sql = Sql(self.session, _table(scope, form=True))
        r = sql.r
        low, high = subtree_range(path)
        # Every version, superseded ones too: the first filing of the month is what counts.
        found = [r.c.form_key == form_key, r.c.event_day >= first, r.c.event_day < following,
                 r.c.unit_path >= low, r.c.unit_path < high]
        keys = [r.c.unit_path, r.c.event_day]
        return await sql.rows(select(*keys, func.min(r.c.created_at)).where(*found).group_by(*keys))

    async def latest_values(self, path: str, form_key: str, field: str, before: date) -> Sequence[Any]:
        """(path, value of `field`) in each group's latest report of a form about a day before `before`
        (a date: the event day), however old: a standing state such as the litter-free status at the
        end of a period. Of two reports about the same day, the one filed later counts. With a datetime
        `before`, the latest filed before that instant (the filing-time reading the benchmark compares).

        The latest day (or time) of each group comes from the form's index alone; then the rows of
        that day are read through (unit_path, event_day) and the last filed kept.
        """
        scope = Scope(path, before, before)
        sql = Sql(self.session, _table(scope, form=True))
        r = sql.r
        low, high = subtree_range(path)
        at = sql.day(scope)
        latest = (
            select(r.c.unit_path.label("path"), func.max(at).label("at"))
            .where(r.c.form_key == form_key, at < before, r.c.unit_path >= low, r.c.unit_path < high,
                   r.c.superseded.is_(False))
            .group_by(r.c.unit_path).subquery("latest")
        )
        row = Sql(self.session, _report)
        same = _report.c.created_at if scope.by_filing else _report.c.event_day
        found = await row.rows(
            select(_report.c.unit_path, row.text(field), _report.c.created_at, _report.c.id)
            .join(latest, (_report.c.unit_path == latest.c.path) & (same == latest.c.at))
            .where(_report.c.form_key == form_key, _report.c.superseded.is_(False))
        )
        last: dict[str, tuple[Any, Any, Any]] = {}
        for unit_path, value, created_at, report_id in found:
            if unit_path not in last or (created_at, report_id) > last[unit_path][1:]:
                last[unit_path] = (value, created_at, report_id)
        return [(unit_path, value) for unit_path, (value, _at, _id) in last.items()]
