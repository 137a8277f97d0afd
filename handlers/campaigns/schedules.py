"""Campaign schedules: when the events are, and the moments (reminders before each event, a
follow-up after it) that fall in a window of time. Local time is the configured time zone."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}


class ScheduleError(ValueError):
    """A schedule that cannot be read; the message says which part."""


@dataclass(frozen=True, slots=True)
class Moment:
    step: str  # reminder | follow_up
    seq: int  # which reminder (0, 1, …)
    due_at: datetime  # UTC
    event_at: datetime  # UTC


def _time(text: str) -> time:
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError):
        raise ScheduleError(f"time must be HH:MM, not {text!r}") from None


def _nth_weekday(year: int, month: int, weekday: int, ordinal: str) -> date | None:
    days = [d for d in range(1, calendar.monthrange(year, month)[1] + 1) if date(year, month, d).weekday() == weekday]
    index = ORDINALS[ordinal]
    if index == -1:
        return date(year, month, days[-1])
    return date(year, month, days[index - 1]) if index <= len(days) else None


def _day_in_month(year: int, month: int, schedule: dict[str, Any]) -> date | None:
    if "rule" in schedule:
        return _nth_weekday(year, month, int(schedule["weekday"]), str(schedule["rule"]))
    day = int(schedule["day"])
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def validate(schedule: dict[str, Any]) -> None:
    """Refuses a schedule the campaign engine cannot follow."""
    kind = schedule.get("kind")
    _time(schedule.get("time", ""))
    if kind == "daily":
        return
    if kind == "weekly":
        if int(schedule.get("weekday", -1)) not in range(7):
            raise ScheduleError("weekly needs weekday 0 (Monday) … 6 (Sunday)")
    elif kind in ("monthly", "yearly"):
        if "rule" in schedule:
            if schedule["rule"] not in ORDINALS or int(schedule.get("weekday", -1)) not in range(7):
                raise ScheduleError("rule must be first/second/third/fourth/last with a weekday 0-6")
        elif int(schedule.get("day", 0)) not in range(1, 32):
            raise ScheduleError("day must be 1-31")
        if kind == "yearly" and int(schedule.get("month", 0)) not in range(1, 13):
            raise ScheduleError("yearly needs month 1-12")
    elif kind == "once":
        try:
            [date.fromisoformat(d) for d in schedule.get("dates", [])]
        except ValueError:
            raise ScheduleError("dates must be YYYY-MM-DD") from None
        if not schedule.get("dates"):
            raise ScheduleError("once needs at least one date")
    else:
        raise ScheduleError("kind must be daily, weekly, monthly, yearly or once")


def event_days(schedule: dict[str, Any], first: date, last: date) -> Iterator[date]:
    """The local dates of the events from `first` to `last` inclusive."""
    kind = schedule["kind"]
    if kind == "daily":
        day = first
        while day <= last:
            yield day
            day += timedelta(days=1)
    elif kind == "weekly":
        weekday = int(schedule["weekday"])
        day = first + timedelta(days=(weekday - first.weekday()) % 7)
        while day <= last:
            yield day
            day += timedelta(days=7)
    elif kind == "monthly":
        year, month = first.year, first.month
        while date(year, month, 1) <= last:
            found = _day_in_month(year, month, schedule)
            if found is not None and first <= found <= last:
                yield found
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    elif kind == "yearly":
        for year in range(first.year, last.year + 1):
            found = _day_in_month(year, int(schedule["month"]), schedule)
            if found is not None and first <= found <= last:
                yield found
    else:
        for text in sorted(schedule.get("dates", [])):
            day = date.fromisoformat(text)
            if first <= day <= last:
                yield day


def moments(
    schedule: dict[str, Any], reminders: list[dict[str, Any]], follow_up: dict[str, Any], *,
    after: datetime, until: datetime, tz: ZoneInfo, ends_on: date | None = None,
) -> list[Moment]:
    """Every reminder and follow-up due in (after, until], in order."""
    at = _time(schedule["time"])
    lead = max([int(r.get("days_before", 0)) for r in reminders] + [0])
    tail = max([int(follow_up.get("hours_after", 0)) // 24]
               + [int(item.get("days_after", 0)) for item in follow_up.get("after", [])]) + 1
    first = after.astimezone(tz).date() - timedelta(days=tail)
    last = until.astimezone(tz).date() + timedelta(days=lead)
    found: list[Moment] = []
    for day in event_days(schedule, first, last):
        if ends_on is not None and day > ends_on:
            break
        event = datetime.combine(day, at, tzinfo=tz)
        candidates = [
            Moment("reminder", n, datetime.combine(day - timedelta(days=int(r.get("days_before", 0))),
                                                   _time(r["time"]), tzinfo=tz), event)
            for n, r in enumerate(reminders)
        ]
        if follow_up.get("hours_after") is not None and follow_up.get("form"):
            candidates.append(Moment("follow_up", 0, event + timedelta(hours=float(follow_up["hours_after"])), event))
        # Steps after the event on later days (report deadlines: the nudge, then the late list).
        for n, item in enumerate(follow_up.get("after", [])):
            candidates.append(Moment(str(item["step"]), n, datetime.combine(
                day + timedelta(days=int(item.get("days_after", 0))), _time(item.get("time", "08:00")), tzinfo=tz),
                event))
        found += [Moment(m.step, m.seq, m.due_at.astimezone(after.tzinfo), m.event_at.astimezone(after.tzinfo))
                  for m in candidates if after < m.due_at <= until]
    return sorted(found, key=lambda m: (m.due_at, m.step, m.seq))


def next_event(
    schedule: dict[str, Any], *, now: datetime, tz: ZoneInfo, ends_on: date | None = None
) -> datetime | None:
    """The next event after `now` (local time), for listings."""
    at = _time(schedule["time"])
    today = now.astimezone(tz).date()
    for day in event_days(schedule, today, today + timedelta(days=400)):
        event = datetime.combine(day, at, tzinfo=tz)
        if ends_on is not None and day > ends_on:
            return None
        if event > now:
            return event
    return None
