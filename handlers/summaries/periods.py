"""Periods a summary covers: a day, an ISO week, a month, a quarter, a year (local calendar), or any
other stretch of time; their bounds in UTC, the period before, and the months they cover."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.i18n import Translator

KINDS = ("day", "week", "month", "quarter", "year")
_MONTHS_IN = {"month": 1, "quarter": 3, "year": 12}


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    """[first, following) in local days for calendar periods; `start`/`end` are the UTC bounds."""

    kind: str  # one of KINDS, or "range" for any other stretch of time
    start: datetime
    end: datetime
    tz: ZoneInfo

    @classmethod
    def calendar(cls, kind: str, first: date, tz: ZoneInfo) -> Period:
        """The period of `kind` that starts on the local day `first`."""
        if kind == "day":
            following = first + timedelta(days=1)
        elif kind == "week":
            following = first + timedelta(days=7)
        else:
            following = _add_months(first, _MONTHS_IN[kind])
        return cls(kind, _utc(first, tz), _utc(following, tz), tz)

    @classmethod
    def of(cls, start: datetime, end: datetime, tz: ZoneInfo) -> Period:
        """The calendar period these bounds are, when they are one, else a plain range."""
        first, following = start.astimezone(tz), end.astimezone(tz)
        if first.timetz().replace(tzinfo=None) == time() and following.timetz().replace(tzinfo=None) == time():
            a, b = first.date(), following.date()
            if b == a + timedelta(days=1):
                return cls.calendar("day", a, tz)
            if b == a + timedelta(days=7) and a.weekday() == 0:
                return cls.calendar("week", a, tz)
            if a.day == 1:
                for kind, months in _MONTHS_IN.items():
                    fits = kind == "month" or (kind == "quarter" and a.month % 3 == 1) or a.month == 1
                    if fits and b == _add_months(a, months):
                        return cls.calendar(kind, a, tz)
        return cls("range", start.astimezone(UTC), end.astimezone(UTC), tz)

    @property
    def first(self) -> date:
        return self.start.astimezone(self.tz).date()

    @property
    def last(self) -> date:
        """The last local day the period covers."""
        return (self.end - timedelta(microseconds=1)).astimezone(self.tz).date()

    @property
    def days(self) -> tuple[date, date]:
        """[first, following) in local days: the event days a period's reports are about."""
        return self.first, self.last + timedelta(days=1)

    def previous(self) -> Period:
        """The period just before, of the same kind and length."""
        if self.kind in _MONTHS_IN:
            return Period.calendar(self.kind, _add_months(self.first, -_MONTHS_IN[self.kind]), self.tz)
        if self.kind in ("day", "week"):
            return Period.calendar(self.kind, self.first - (self.end - self.start), self.tz)
        return Period("range", self.start - (self.end - self.start), self.start, self.tz)

    def months(self) -> list[str]:
        """The months ("2026-11") a month, quarter or year covers; none for shorter periods."""
        if self.kind not in _MONTHS_IN:
            return []
        return [f"{_add_months(self.first, n):%Y-%m}" for n in range(_MONTHS_IN[self.kind])]

    @property
    def key(self) -> str:
        """How the command line writes it: 2026-11-26, 2026-W48, 2026-11, 2026-Q4, 2026."""
        first = self.first
        if self.kind == "day":
            return f"{first:%Y-%m-%d}"
        if self.kind == "week":
            year, week, _day = first.isocalendar()
            return f"{year}-W{week:02}"
        if self.kind == "month":
            return f"{first:%Y-%m}"
        if self.kind == "quarter":
            return f"{first.year}-Q{(first.month - 1) // 3 + 1}"
        if self.kind == "year":
            return str(first.year)
        return f"{first:%Y%m%d}-{self.last:%Y%m%d}"

    def label(self, t: Translator) -> str:
        """"Tháng 11/2026", "Tuần 23/11–29/11/2026"…"""
        first, last = self.first, self.last
        if self.kind == "day":
            return t("Ngày {day}", day=t.date(first))
        if self.kind == "week":
            return t("Tuần {first}–{last}", first=f"{first:%d/%m}", last=t.date(last))
        if self.kind == "month":
            return t("Tháng {month}", month=t.month(first))
        if self.kind == "quarter":
            return t("Quý {quarter}/{year}", quarter=(first.month - 1) // 3 + 1, year=first.year)
        if self.kind == "year":
            return t("Năm {year}", year=first.year)
        return f"{t.datetime(self.start)} – {t.datetime(self.end)}"


def _utc(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tz).astimezone(UTC)


def containing(kind: str, moment: datetime, tz: ZoneInfo) -> Period:
    """The day, week, month, quarter or year (local calendar) that `moment` falls in."""
    day = moment.astimezone(tz).date()
    if kind == "week":
        day -= timedelta(days=day.weekday())
    elif kind == "month":
        day = day.replace(day=1)
    elif kind == "quarter":
        day = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    elif kind == "year":
        day = date(day.year, 1, 1)
    elif kind != "day":
        raise ValueError(f"unknown period kind {kind!r}")
    return Period.calendar(kind, day, tz)


_PATTERNS = (
    ("day", re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")),
    ("week", re.compile(r"^(\d{4})-W(\d{1,2})$", re.IGNORECASE)),
    ("quarter", re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)),
    ("month", re.compile(r"^(\d{4})-(\d{1,2})$")),
    ("year", re.compile(r"^(\d{4})$")),
)


def parse(text: str, tz: ZoneInfo) -> Period:
    """Reads 2026-11-26, 2026-W48, 2026-11, 2026-Q4 or 2026; raises ValueError otherwise."""
    value = text.strip()
    for kind, pattern in _PATTERNS:
        found = pattern.match(value)
        if not found:
            continue
        numbers = [int(part) for part in found.groups()]
        if kind == "day":
            first = date(*numbers)
        elif kind == "week":
            first = date.fromisocalendar(numbers[0], numbers[1], 1)
        elif kind == "quarter":
            first = date(numbers[0], numbers[1] * 3 - 2, 1)
        elif kind == "month":
            first = date(numbers[0], numbers[1], 1)
        else:
            first = date(numbers[0], 1, 1)
        return Period.calendar(kind, first, tz)
    raise ValueError(f"not a period: {text!r} (use 2026-11-26, 2026-W48, 2026-11, 2026-Q4 or 2026)")
