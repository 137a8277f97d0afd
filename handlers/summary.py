"""Summaries for officials and leaders: what happened in a unit and everything under it in a period,
the period before for comparison, one line per group for the ranking and the Excel file; the replies
that carry the text, the chart and the workbook; and the digests the scheduler sends.

Every figure comes from the aggregate queries in models/summary_queries.py.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, time, timedelta
from typing import Any, Literal

from handlers.exports import XLSX_MIME, chart_png, workbook_xlsx
from handlers.i18n import Translator
from handlers.messages import Button, Reply, rows
from handlers.periods import Period, containing
from handlers.ports import FileStore
from handlers.summary_text import daily_text, render_text
from models import summary_queries as q
from models.repos import HeldRole, Repo
from models.settings import Settings

__all__ = ["Figures", "Summary", "build_summary", "digest_replies", "render_text", "summarize", "summary_replies"]

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
URGENT_FORM = "khan_cap"
RESIDENCE = ("thuong_tru_moi", "tam_tru_moi", "chuyen_di", "tam_vang", "ho_moi_den")
# What the period scan reads from each form's answers (every other form is only counted).
SCAN = {
    INCIDENT_FORM: q.FormFields(keys=("loai",)),
    RESIDENCE_FORM: q.FormFields(sums=RESIDENCE),
    GREEN_FORM: q.FormFields(sums=("nguoi_tham_gia", "so_ho", "rac_kg")),
    MODEL_FORM: q.FormFields(keys=("hinh_thuc",)),
    SUPPORT_FORM: q.FormFields(keys=("ma_ho", "dien", "nguon"), sums=("gia_tri",)),
    LEFT_POVERTY_FORM: q.FormFields(keys=("ma_ho",)),
    MEETING_FORM: q.FormFields(sums=("ho_du_hop", "tong_so_ho")),
    # Feedback is closed when the group settled it itself, or the ward resolved the report.
    FEEDBACK_FORM: q.FormFields(flags=(q.Flag("da_chuyen_phuong"), q.Flag("da_giai_quyet", or_resolved=True))),
}
# Plan 71: at least 10 model sanitation spots per ward per year.
MODEL_SPOTS_PER_WARD = 10
WARD_LEVEL = "ward"
# The monthly report of a month is on time when filed by the 5th of the next month (local time).
DEADLINE_DAY = 5
DigestKind = Literal["daily", "weekly", "monthly"]


def _whole(value: Any) -> int:
    return round(float(value or 0))


@dataclass(slots=True)
class Figures:
    """What happened in one group, or in a whole area, in one period."""

    reports: int = 0
    reports_by_task: Counter[str] = field(default_factory=Counter)
    months_due: int = 0  # monthly reports expected: groups × months of the period that have begun
    filed: int = 0
    on_time: int = 0
    urgent: int = 0
    urgent_in_time: int = 0  # acknowledged within incidents.ack_minutes
    urgent_acked: int = 0
    urgent_open: int = 0
    incidents: Counter[str] = field(default_factory=Counter)  # security reports by kind
    residence: Counter[str] = field(default_factory=Counter)  # people (households) by residence field
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
    supported_by: Counter[str] = field(default_factory=Counter)  # households by category
    money: int = 0
    money_by: Counter[str] = field(default_factory=Counter)  # VND by source
    left_poverty: int = 0
    meetings: int = 0
    attended: int = 0  # households at the meetings
    invited: int = 0  # households of the group, as each meeting reported
    feedback: int = 0
    feedback_passed: int = 0
    feedback_closed: int = 0

    @property
    def late(self) -> int:
        return self.filed - self.on_time

    def add(self, other: Figures) -> None:
        for spec in fields(self):
            mine = getattr(self, spec.name)
            if isinstance(mine, Counter):
                mine.update(getattr(other, spec.name))
            else:
                setattr(self, spec.name, mine + getattr(other, spec.name))


@dataclass(slots=True)
class Totals:
    """An area's figures for one period, with those that only make sense for the whole area."""

    period: Period
    figures: Figures
    months: list[str]  # the months whose monthly report is expected ("2026-11")
    ack_median: float | None = None  # minutes
    model_year: int = 0  # model spots registered this year up to the period's end


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
    children: list[tuple[str, Figures]]  # the units directly under it, for the chart
    buckets: list[tuple[datetime, int]]  # urgent incidents by day, week or month (start of each)
    bucket_kind: str
    wards: int
    ack_minutes: int

    @property
    def model_target(self) -> int | None:
        return MODEL_SPOTS_PER_WARD * self.wards if self.wards else None

    def ranking(self, size: int = 3) -> tuple[list[GroupLine], list[GroupLine]]:
        """The groups ahead and behind: monthly reports filed (on time first), then reports sent."""
        def score(line: GroupLine) -> tuple[float, int, int]:
            return line.reporting, line.figures.on_time, line.figures.reports

        ordered = sorted(sorted(self.groups, key=lambda g: g.unit.name), key=score, reverse=True)
        top = [line for line in ordered[:size] if any(score(line))]
        bottom = [line for line in reversed(ordered) if line not in top][:size]
        return top, bottom


async def build_summary(
    repo: Repo, *, unit_path: str, start: datetime, end: datetime, settings: Settings, now: datetime | None = None
) -> Summary:
    """The summary of the unit at `unit_path` and everything under it for [start, end), with the
    period before. A calendar day, week, month, quarter or year is recognised from its bounds.
    Monthly reports are expected for the months that have begun by `now` (default: all)."""
    period = Period.of(start, end, settings.app.tz)
    return await summarize(repo, unit_path=unit_path, period=period, settings=settings, now=now)


async def summarize(
    repo: Repo, *, unit_path: str, period: Period, settings: Settings, now: datetime | None = None
) -> Summary:
    session = repo.session
    unit = await q.unit_at(session, unit_path)
    if unit is None:
        raise LookupError(f"no unit at {unit_path}")
    group_level = settings.units.levels[-1]
    groups = await q.units_under(session, unit.path, group_level)
    ack = settings.incidents.ack_minutes
    kind, edges = _bucket_edges(period)
    current, by_path, counts = await _collect(repo, unit, period, groups, ack, now, edges)
    previous, _before, _counts = await _collect(repo, unit, period.previous(), groups, ack, now, ())
    parents = await q.units_by_id(session, [g.parent_id for g in groups if g.parent_id])
    lines = [GroupLine(g, parents[g.parent_id].name if g.parent_id in parents else "", by_path.get(g.path, Figures()))
             for g in groups]
    wards = 0 if unit.level == group_level else await q.count_units(session, unit.path, WARD_LEVEL)
    return Summary(unit=unit, current=current, previous=previous, groups=lines,
                   children=await _children(repo, unit, by_path), bucket_kind=kind, wards=wards, ack_minutes=ack,
                   buckets=[(edge, counts.get(n, 0)) for n, edge in enumerate(edges[:-1])])


async def _collect(
    repo: Repo, unit: q.UnitRow, period: Period, groups: list[q.UnitRow], ack_minutes: int, now: datetime | None,
    edges: Sequence[datetime],
) -> tuple[Totals, dict[str, Figures], Counter[int]]:
    """One period's figures per path (group) and in total — from the period scan, and the queries
    of the monthly reports, the litter-free status and the model spots of the year — and the
    urgent incidents per time bucket."""
    session = repo.session
    scope = q.Scope(unit.path, period.start, period.end)
    at: defaultdict[str, Figures] = defaultdict(Figures)
    codes: defaultdict[tuple[str, str, str], set[str]] = defaultdict(set)  # (form, path, category) → households
    buckets: Counter[int] = Counter()
    minutes: list[tuple[float, int]] = []
    for row in await q.period_scan(session, scope, SCAN, edges=edges):
        here = at[row.path]
        here.reports += row.reports
        here.reports_by_task[row.task] += row.reports
        if row.urgent:
            here.urgent += row.reports
            here.urgent_open += row.still_open
            if row.bucket is not None:
                buckets[row.bucket] += row.reports
            if row.minutes is not None:
                here.urgent_acked += row.reports
                here.urgent_in_time += row.reports if row.minutes <= ack_minutes else 0
                minutes.append((row.minutes, row.reports))
        _add(here, row, codes)
    # Households are counted once per group (their code is the group's own), whatever the row.
    for (form, path, category), found in codes.items():
        if form == SUPPORT_FORM and category:
            at[path].supported_by[category] += len(found)
        elif form == SUPPORT_FORM:
            at[path].supported += len(found)
        else:
            at[path].left_poverty += len(found)
    for path, status in await q.latest_values(session, unit.path, LITTER_FORM, "trang_thai", period.end):
        at[path].litter_free = int(status == "da_dat")
    months = await _reporting(repo, unit, period, groups, at, now)
    total = Figures()
    for figures in at.values():
        total.add(figures)
    year = Period.calendar("year", period.last.replace(month=1, day=1), period.tz)
    model_year = sum(n for _path, kind, n in await q.category_counts(
        session, q.Scope(unit.path, year.start, period.end), MODEL_FORM, "hinh_thuc") if kind == "dang_ky")
    totals = Totals(period, total, months, ack_median=_median(minutes), model_year=model_year)
    return totals, dict(at), buckets


def _add(here: Figures, row: q.ScanRow, codes: defaultdict[tuple[str, str, str], set[str]]) -> None:
    """Adds one row of the period scan to its group's figures, by form."""
    form, n, sums, flags = row.form_key, row.reports, row.sums, row.flags
    if form == INCIDENT_FORM:
        here.incidents[row.keys[0] or "khac"] += n
    elif form == RESIDENCE_FORM:
        here.residence.update({key: _whole(value) for key, value in zip(RESIDENCE, sums, strict=False)})
    elif form == GREEN_FORM:
        here.green_sessions += n
        here.participants += _whole(sums[0])
        here.green_households += _whole(sums[1])
        here.waste_kg += sums[2]
    elif form == HOTSPOT_FORM:
        here.hotspots += n
        here.hotspots_cleared += row.resolved
    elif form == MODEL_FORM:
        if row.keys[0] == "dang_ky":
            here.model_new += n
        else:
            here.model_upkeep += n
    elif form == SUPPORT_FORM:
        household, category, source = (str(key or "") for key in row.keys)
        here.supports += n
        here.money += _whole(sums[0])
        here.money_by[source or "khac"] += _whole(sums[0])
        codes[form, row.path, ""].add(household)
        codes[form, row.path, category or "khac"].add(household)
    elif form == LEFT_POVERTY_FORM:
        codes[form, row.path, ""].add(str(row.keys[0] or ""))
    elif form == MEETING_FORM:
        here.meetings += n
        here.attended += _whole(sums[0])
        here.invited += _whole(sums[1])
    elif form == FEEDBACK_FORM:
        here.feedback += n
        here.feedback_passed += flags[0]
        here.feedback_closed += flags[1]


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
    repo: Repo, unit: q.UnitRow, period: Period, groups: list[q.UnitRow], at: defaultdict[str, Figures],
    now: datetime | None,
) -> list[str]:
    """Monthly reports filed, on time or late, for the months of the period that have begun."""
    tz = period.tz
    begun = (now or period.end).astimezone(tz).strftime("%Y-%m")
    months = [m for m in period.months() if m <= begun]
    if not months:
        return []
    for group in groups:
        at[group.path].months_due += len(months)
    deadlines = {}
    for month in months:
        year, number = int(month[:4]), int(month[5:])
        following = (year + number // 12, number % 12 + 1)
        deadlines[month] = datetime.combine(
            datetime(following[0], following[1], DEADLINE_DAY).date() + timedelta(days=1), time(), tz)
    group_paths = {g.path for g in groups}
    for path, month, first_filed in await q.monthly_filings(repo.session, unit.path, MONTHLY_FORM, months,
                                                            period.start):
        if path in group_paths:
            at[path].filed += 1
            at[path].on_time += int(first_filed < deadlines[month])
    return months


async def _children(repo: Repo, unit: q.UnitRow, by_path: dict[str, Figures]) -> list[tuple[str, Figures]]:
    """The figures of each unit directly under `unit`, from its groups' paths."""
    found: defaultdict[int, Figures] = defaultdict(Figures)
    for path, figures in by_path.items():
        rest = path[len(unit.path):].split("/", 1)[0]
        if rest.isdigit():
            found[int(rest)].add(figures)
    names = await q.units_by_id(repo.session, list(found))
    return sorted(((names[i].name, f) for i, f in found.items() if i in names), key=lambda pair: pair[0])


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


def may_see_households(roles: list[HeldRole], unit: q.UnitRow) -> bool:
    """Household-level poverty data (DESIGN §7): the group's own leaders, and officials with the
    social duty whose area covers the unit."""
    return any((h.role in ("leader", "deputy") and h.unit.id == unit.id)
               or (h.role == "official" and "social" in h.duties and h.covers(unit.path)) for h in roles)


async def summary_replies(
    repo: Repo, summary: Summary, *, t: Translator, files: FileStore, viewer_id: int | None, households: bool,
    buttons: tuple[tuple[Button, ...], ...] = (),
) -> list[Reply]:
    """The text, the chart as a photo and the Excel file as a document. With `households`, the
    workbook has a sheet of household-level support rows, and the export is audited."""
    detail = None
    if households:
        scope = q.Scope(summary.unit.path, summary.current.period.start, summary.current.period.end)
        detail = list(await q.support_rows(repo.session, scope, SUPPORT_FORM))
        await repo.audit(person_id=viewer_id, action="export_sensitive", target=f"unit:{summary.unit.id}",
                         period=summary.current.period.key, rows=len(detail))
    png, xlsx = await asyncio.gather(asyncio.to_thread(chart_png, summary, t),
                                     asyncio.to_thread(workbook_xlsx, summary, t, detail))
    photo = await files.save(repo, content=png, mime="image/png", uploader=None)
    document = await files.save(repo, content=xlsx, mime=XLSX_MIME, uploader=None)
    name = f"tom-tat_{summary.unit.code}_{summary.current.period.key}.xlsx"
    return [
        Reply(render_text(summary, t)),
        Reply(t("Biểu đồ: {unit}, {period}", unit=summary.unit.name, period=summary.current.period.label(t)),
              photo_id=photo),
        Reply(t("📎 Tệp Excel {name}: mỗi nhiệm vụ một trang, mỗi tổ một dòng.", name=name), buttons,
              document_id=document),
    ]


async def digest_replies(
    repo: Repo, *, person_id: int, kind: DigestKind, now: datetime, settings: Settings, t: Translator,
    files: FileStore,
) -> list[Reply]:
    """One official's digest for each unit they hold: "daily" lists the urgent incidents of the last
    24 hours (nothing at all when there were none); "weekly" and "monthly" summarise the last
    whole week or month with the chart and the Excel file."""
    roles = await repo.roles_of(person_id)
    replies: list[Reply] = []
    for held in [h for h in roles if h.role == "official"]:
        if kind == "daily":
            replies += await _daily(repo, held, now=now, t=t)
            continue
        this = containing("week" if kind == "weekly" else "month", now, settings.app.tz)
        summary = await summarize(repo, unit_path=held.unit.path, period=this.previous(), settings=settings, now=now)
        unit = summary.unit
        replies += await summary_replies(repo, summary, t=t, files=files, viewer_id=person_id,
                                         households=may_see_households(roles, unit))
    return replies


async def _daily(repo: Repo, held: HeldRole, *, now: datetime, t: Translator) -> list[Reply]:
    """The urgent incidents of the last 24 hours in the official's area, if there were any."""
    scope = q.Scope(held.unit.path, now - timedelta(hours=24), now)
    urgent = [row for row in await q.period_scan(repo.session, scope, {}) if row.urgent]
    total = sum(row.reports for row in urgent)
    if not total:
        return []
    acked = sum(row.reports for row in urgent if row.minutes is not None)
    still_open = sum(row.still_open for row in urgent)
    listed = await q.urgent_list(repo.session, scope, limit=10)
    text = daily_text(t, unit=held.unit.name, total=total, acked=acked, still_open=still_open, listed=listed)
    buttons = [Button(f"m.rv.{row[0]}", f"🚨 {row[1]}") for row in listed[:6]]
    return [Reply(text, rows(buttons, per_row=3))]
