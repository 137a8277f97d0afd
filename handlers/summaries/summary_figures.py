"""The figures of a summary: what happened in a unit and everything under it in a period, the
period before for comparison, and one line per group for the ranking and the Excel file.

Every figure comes from the aggregate queries in models/summary_queries.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from typing import Any

from handlers.summaries.periods import Period, containing
from models import summary_queries as q
from models.repos import Repo
from models.settings import Settings

MONTHLY_FORM = "bao_cao_thang"
INCIDENT_FORM = "an_ninh_vu_viec"
RESIDENCE_FORM = "an_ninh_cu_tru"
GREEN_FORM = "ve_sinh_chu_nhat_xanh"
HOTSPOT_FORM = "ve_sinh_diem_den"
MODEL_FORM = "ve_sinh_diem_mau"
LITTER_FORM = "ve_sinh_khong_rac"
SUPPORT_FORM = "giam_ngheo_ho_tro"
LEFT_POVERTY_FORM = "giam_ngheo_thoat_ngheo"
MEETING_FORM = "dan_chu_hop_to"
FEEDBACK_FORM = "dan_chu_phan_anh"
RESIDENCE = ("thuong_tru_moi", "tam_tru_moi", "chuyen_di", "tam_vang", "ho_moi_den")
GREEN = ("nguoi_tham_gia", "so_ho", "rac_kg")
MEETING = ("ho_du_hop", "tong_so_ho")
# Feedback is closed when the group settled it itself, or the ward resolved the report.
FEEDBACK = (q.Flag("da_chuyen_phuong"), q.Flag("da_giai_quyet", or_resolved=True))
# Plan 71: at least 10 model sanitation spots per ward per year.
MODEL_SPOTS_PER_WARD = 10
WARD_LEVEL = "ward"


def _whole(value: Any) -> int:
    return round(float(value or 0))


@dataclass(slots=True)
class Figures:
    """What happened in one group, or in a whole area, in one period."""

    reports: int = 0
    reports_by_task: dict[str, int] = field(default_factory=dict)
    months_due: int = 0  # monthly reports expected: groups × months of the period that have begun
    filed: int = 0
    on_time: int = 0
    urgent: int = 0
    urgent_in_time: int = 0  # acknowledged within incidents.ack_minutes
    urgent_acked: int = 0
    urgent_open: int = 0
    incident_reports: int = 0  # security incidents reported
    incidents: dict[str, int] = field(default_factory=dict)  # the same, by kind
    residence: dict[str, int] = field(default_factory=dict)  # people (households) by residence field
    green_sessions: int = 0
    participants: int = 0
    green_households: int = 0
    waste_kg: float = 0.0
    hotspots: int = 0
    hotspots_cleared: int = 0
    model_new: int = 0  # model spots registered
    model_upkeep: int = 0  # reports on keeping one up
    litter_free: int = 0  # groups whose latest status is "litter-free achieved"
    supports: int = 0
    supported: int = 0  # households: different household codes of each group
    supported_by: dict[str, int] = field(default_factory=dict)  # households by category
    money: int = 0
    money_by: dict[str, int] = field(default_factory=dict)  # VND by source
    left_poverty: int = 0
    meetings: int = 0
    attended: int = 0  # households at the meetings
    invited: int = 0  # households of the group, as each meeting reported
    # Meetings whose households present outnumber the group's (old rows): flagged, not in the rate.
    meetings_flagged: int = 0
    feedback: int = 0
    feedback_passed: int = 0
    feedback_closed: int = 0

    @property
    def late(self) -> int:
        return self.filed - self.on_time

    def add(self, other: Figures) -> None:
        for name in _NUMBERS:
            if value := getattr(other, name):
                setattr(self, name, getattr(self, name) + value)
        for name in _COUNTERS:
            if theirs := getattr(other, name):
                mine = getattr(self, name)
                for key, value in theirs.items():
                    mine[key] = mine.get(key, 0) + value


def _bump(counts: dict[str, int], key: str, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


# Figures counted by key (incidents by kind…) are plain dicts: an area has thousands of groups.
_COUNTERS = tuple(spec.name for spec in fields(Figures) if spec.default_factory is dict)
_NUMBERS = tuple(spec.name for spec in fields(Figures) if spec.name not in _COUNTERS)


@dataclass(slots=True)
class Totals:
    """An area's figures for one period, with those that only make sense for the whole area."""

    period: Period
    figures: Figures
    months: list[str]  # the months whose monthly report is expected ("2026-11")
    ack_median: float | None = None  # minutes
    model_year: int = 0  # model spots registered this year up to the period's end
    urgent_by_bucket: dict[int, int] = field(default_factory=dict)  # see _bucket_edges


@dataclass(slots=True)
class GroupLine:
    unit: q.UnitRow
    parent: str  # the name of the unit it belongs to
    figures: Figures

    @property
    def reporting(self) -> float:
        return self.figures.filed / self.figures.months_due if self.figures.months_due else 0.0


@dataclass(slots=True)
class Summary:
    unit: q.UnitRow
    current: Totals
    previous: Totals
    groups: list[GroupLine]  # every group under the unit, this period
    children: list[tuple[q.UnitRow, Figures]]  # the units directly under it, for the charts
    buckets: list[tuple[datetime, int]]  # urgent incidents by day, week or month (start of each)
    bucket_kind: str
    wards: int
    ack_minutes: int
    now: datetime | None = None  # monthly reports are due for the months begun by then
    complete: bool = False  # every group's figures and the period before's are there (Excel)
    deadline_day: int = 5  # a month's monthly report is on time up to this day of the next month

    @property
    def model_target(self) -> int | None:
        return MODEL_SPOTS_PER_WARD * self.wards if self.wards else None

    def ranking(self, size: int = 3) -> tuple[list[GroupLine], list[GroupLine]]:
        """The groups ahead and behind (at most half of them each): share of monthly reports filed,
        then those on time, then reports sent; ties by name."""
        def score(line: GroupLine) -> tuple[float, int, int]:
            return line.reporting, line.figures.on_time, line.figures.reports

        size = min(size, len(self.groups) // 2)
        by_name = sorted(self.groups, key=lambda g: g.unit.name)
        top = [line for line in sorted(by_name, key=score, reverse=True)[:size] if any(score(line))]
        bottom = [line for line in sorted(by_name, key=score) if line not in top][:size]
        return top, bottom


async def summarize(
    repo: Repo, *, unit_path: str, period: Period, settings: Settings, now: datetime | None = None
) -> Summary:
    """The summary of the unit at `unit_path` for a period: every figure of the whole area, the
    headline figures of the period before, each group's monthly reporting and reports sent (the
    ranking). `complete` adds the rest of the Excel file's figures."""
    queries = repo.summaries
    unit = await queries.unit_at(unit_path)
    if unit is None:
        raise LookupError(f"no unit at {unit_path}")
    group_level = settings.units.levels[-1]
    groups = await queries.units_under(unit.path, group_level)
    ack = settings.incidents.ack_minutes
    kind, edges = _bucket_edges(period)
    deadline = settings.campaigns.monthly_deadline_day
    current, by_path = await _totals(repo, unit, period, groups, ack, now, full=True, edges=edges,
                                     deadline_day=deadline)
    previous, _groups_before = await _totals(repo, unit, period.previous(), groups, ack, now, full=False,
                                             deadline_day=deadline)
    for path, n in await queries.reports_by_path(scope_of(unit.path, period)):
        by_path[path].reports += n
    parents = await queries.units_by_id([g.parent_id for g in groups if g.parent_id])
    lines = [GroupLine(g, parents[g.parent_id].name if g.parent_id in parents else "", by_path.get(g.path, Figures()))
             for g in groups]
    wards = 0 if unit.level == group_level else await queries.count_units(unit.path, WARD_LEVEL)
    # Every group counts in the charts, those without a report in the period too.
    children = await _children(repo, unit, {line.unit.path: line.figures for line in lines})
    return Summary(unit=unit, current=current, previous=previous, groups=lines,
                   children=children, bucket_kind=kind, wards=wards, ack_minutes=ack,
                   buckets=[(edge, current.urgent_by_bucket.get(n, 0)) for n, edge in enumerate(edges[:-1])],
                   now=now, deadline_day=deadline)


async def complete(repo: Repo, summary: Summary) -> None:
    """Adds what only the Excel file shows: every figure of each group, and of the period before."""
    if summary.complete:
        return
    period, unit = summary.current.period, summary.unit
    scope = scope_of(unit.path, period)
    at: defaultdict[str, Figures] = defaultdict(Figures)
    add_counts(at, await repo.summaries.counts(scope, summary.ack_minutes, by_path=True))
    await _add_answers(repo, scope, at, by_path=True)
    for line in summary.groups:
        found = at.get(line.unit.path)
        if found is not None:
            found.reports = 0  # already counted
            line.figures.add(found)
    groups = [line.unit for line in summary.groups]
    summary.previous, _by_path = await _totals(repo, unit, summary.previous.period, groups, summary.ack_minutes,
                                               summary.now, full=True, deadline_day=summary.deadline_day)
    summary.complete = True


async def _totals(
    repo: Repo, unit: q.UnitRow, period: Period, groups: list[q.UnitRow], ack_minutes: int, now: datetime | None,
    *, full: bool, deadline_day: int, edges: Sequence[datetime] = (),
) -> tuple[Totals, defaultdict[str, Figures]]:
    """One period's figures for the whole area, and each group's monthly reporting (and, with
    `full`, litter-free status). Without `full`, only the headline figures that the text compares:
    reports by form, urgent incidents, households supported and out of poverty, monthly reporting.
    Urgent incidents are also counted per time bucket between `edges`."""
    queries = repo.summaries
    scope = scope_of(unit.path, period)
    at: defaultdict[str, Figures] = defaultdict(Figures)
    add_counts(at, await queries.counts(scope, ack_minutes, by_path=False))
    by_path, months = await _reporting(repo, unit, period, groups, now, deadline_day)
    total = at[""]
    median, model_year, buckets = None, 0, dict[int, int]()
    if full:
        await _add_answers(repo, scope, at, by_path=False)
        for path, status in await queries.latest_values(unit.path, LITTER_FORM, "trang_thai", scope.end):
            by_path[path].litter_free = int(status == "da_dat")
        year = Period.calendar("year", period.last.replace(month=1, day=1), period.tz)
        model_year = sum(n for _path, kind, n in await queries.categories(
            q.Scope(unit.path, year.first, period.days[1]), MODEL_FORM, ("hinh_thuc",), by_path=False)
            if kind == "dang_ky")
        waits = []
        marks = list(edges) if scope.by_filing else [edge.astimezone(period.tz).date() for edge in edges]
        for bucket, minutes, n in await queries.urgent_times(scope, marks):
            if bucket is not None:
                buckets[int(bucket)] = buckets.get(int(bucket), 0) + n
            if minutes is not None:
                waits.append((float(minutes), n))
        median = _median(waits)
    else:
        total.supported = await queries.households_count(scope, SUPPORT_FORM)
        total.left_poverty = await queries.households_count(scope, LEFT_POVERTY_FORM)
    for figures in by_path.values():
        total.months_due += figures.months_due
        total.filed += figures.filed
        total.on_time += figures.on_time
        total.litter_free += figures.litter_free
    return Totals(period, total, months, ack_median=median, model_year=model_year, urgent_by_bucket=buckets), by_path


def scope_of(path: str, period: Period) -> q.Scope:
    """The reports under `path` about a day of the period (their event day, not when filed)."""
    first, following = period.days
    return q.Scope(path, first, following)


def add_counts(at: defaultdict[str, Figures], rows: Sequence[Any]) -> None:
    """Reports per form (and group): urgent incidents, hotspots and their clearing, and the forms
    whose reports are the figure (sessions, meetings, feedback, incidents)."""
    for path, form, task, urgent, n, resolved, still_open, acked, in_time in rows:
        if not n:
            continue
        here = at[path]
        here.reports += n
        _bump(here.reports_by_task, task, n)
        if urgent:
            here.urgent += n
            here.urgent_open += int(still_open or 0)
            here.urgent_acked += int(acked or 0)
            here.urgent_in_time += int(in_time or 0)
        if form == HOTSPOT_FORM:
            here.hotspots += n
            here.hotspots_cleared += int(resolved or 0)
        elif form == INCIDENT_FORM:
            here.incident_reports += n
        elif form == GREEN_FORM:
            here.green_sessions += n
        elif form == MEETING_FORM:
            here.meetings += n
        elif form == FEEDBACK_FORM:
            here.feedback += n
        elif form == SUPPORT_FORM:
            here.supports += n


async def _add_answers(repo: Repo, scope: q.Scope, at: defaultdict[str, Figures], *, by_path: bool) -> None:
    """The figures read from the forms' answers, one aggregate query per form."""
    s = repo.summaries
    for path, kind, n in await s.categories(scope, INCIDENT_FORM, ("loai",), by_path=by_path):
        _bump(at[path].incidents, kind or "khac", n)
    for path, n, *values in await s.sums(scope, RESIDENCE_FORM, RESIDENCE, by_path=by_path):
        if n:
            for key, value in zip(RESIDENCE, values, strict=True):
                _bump(at[path].residence, key, _whole(value))
    for path, _n, people, households, kg in await s.sums(scope, GREEN_FORM, GREEN, by_path=by_path):
        here = at[path]
        here.participants += _whole(people)
        here.green_households += _whole(households)
        here.waste_kg += float(kg or 0)
    for path, kind, n in await s.categories(scope, MODEL_FORM, ("hinh_thuc",), by_path=by_path):
        if kind == "dang_ky":
            at[path].model_new += n
        else:
            at[path].model_upkeep += n
    for path, _n, attended, invited, flagged in await s.part_of_whole(scope, MEETING_FORM, *MEETING,
                                                                       by_path=by_path):
        at[path].attended += _whole(attended)
        at[path].invited += _whole(invited)
        at[path].meetings_flagged += int(flagged or 0)
    for path, _n, passed, closed in await s.flags(scope, FEEDBACK_FORM, FEEDBACK, by_path=by_path):
        at[path].feedback_passed += int(passed or 0)
        at[path].feedback_closed += int(closed or 0)
    # Households: one row per household of each group (their codes are the group's own).
    supported: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for path, code, category, source, _n, value in await s.households(scope, SUPPORT_FORM, ("dien", "nguon"),
                                                                        "gia_tri"):
        here = at[path if by_path else ""]
        here.money += _whole(value)
        _bump(here.money_by, source or "khac", _whole(value))
        supported[path, ""].add(code)
        supported[path, category or "khac"].add(code)
    for (path, category), codes in supported.items():
        here = at[path if by_path else ""]
        if category:
            _bump(here.supported_by, category, len(codes))
        else:
            here.supported += len(codes)
    for path, _code, _n, _value in await s.households(scope, LEFT_POVERTY_FORM, ()):
        at[path if by_path else ""].left_poverty += 1


def _median(values: list[tuple[float, int]]) -> float | None:
    """The median of values given with how many times each occurs."""
    total = sum(n for _value, n in values)
    if not total:
        return None
    middle = [(total - 1) // 2, total // 2]
    found: list[float] = []
    seen = 0
    for value, n in sorted(values):
        while middle and middle[0] < seen + n:
            found.append(value)
            middle.pop(0)
        seen += n
    return sum(found) / len(found)


async def _reporting(
    repo: Repo, unit: q.UnitRow, period: Period, groups: list[q.UnitRow], now: datetime | None, deadline_day: int,
) -> tuple[defaultdict[str, Figures], list[str]]:
    """Each group's monthly reports, filed on time (by the deadline day of the next month, local
    time: campaigns.monthly_deadline_day) or late, for the months of the period that have begun (by
    `now`); and those months."""
    tz = period.tz
    begun = (now or period.end).astimezone(tz).strftime("%Y-%m")
    months = [m for m in period.months() if m <= begun]
    at: defaultdict[str, Figures] = defaultdict(Figures)
    if not months:
        return at, []
    for group in groups:
        at[group.path].months_due = len(months)
    deadlines = {}
    for month in months:
        year, number = int(month[:4]), int(month[5:])
        following = date(year + number // 12, number % 12 + 1, deadline_day)
        deadlines[month] = datetime.combine(following + timedelta(days=1), time(), tz)
    first = date(int(months[0][:4]), int(months[0][5:]), 1)
    last = date(int(months[-1][:4]), int(months[-1][5:]), 1)
    following = date(last.year + last.month // 12, last.month % 12 + 1, 1)
    filings = await repo.summaries.monthly_filings(unit.path, MONTHLY_FORM, first, following)
    for path, day, first_filed in filings:
        month = f"{day:%Y-%m}"
        if path in at and month in deadlines:
            at[path].filed += 1
            at[path].on_time += int(first_filed < deadlines[month])
    return at, months


async def _children(repo: Repo, unit: q.UnitRow, by_path: dict[str, Figures]) -> list[tuple[q.UnitRow, Figures]]:
    """The figures of each unit directly under `unit`, from its groups' paths."""
    found: defaultdict[int, Figures] = defaultdict(Figures)
    for path, figures in by_path.items():
        rest = path[len(unit.path):].split("/", 1)[0]
        if rest.isdigit():
            found[int(rest)].add(figures)
    names = await repo.summaries.units_by_id(list(found))
    return sorted(((names[i], f) for i, f in found.items() if i in names), key=lambda pair: pair[0].name)


def _bucket_edges(period: Period) -> tuple[str, list[datetime]]:
    """Where the chart's incident bars start: local days for up to two weeks, weeks up to four
    months, months beyond; the first and last bars are cut at the period's bounds."""
    days = (period.last - period.first).days + 1
    kind = "day" if days <= 14 else "week" if days <= 124 else "month"
    edges = [period.start]
    step = containing(kind, period.start, period.tz)
    while step.end < period.end:
        edges.append(step.end)
        step = containing(kind, step.end, period.tz)
    edges.append(period.end)
    return kind, edges


# --- replies --------------------------------------------------------------------------------
