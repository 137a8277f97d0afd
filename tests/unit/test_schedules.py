"""Campaign schedules: event days and the moments of reminders and follow-ups, in local time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from handlers.campaigns.schedules import ScheduleError, event_days, moments, next_event, validate

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SUNDAY = {"kind": "weekly", "weekday": 6, "time": "07:00"}


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


def test_weekly_sundays_across_a_five_sunday_month_and_the_new_year() -> None:
    days = list(event_days(SUNDAY, date(2026, 11, 1), date(2027, 1, 31)))
    assert [d for d in days if d.month == 11] == [date(2026, 11, d) for d in (1, 8, 15, 22, 29)]
    assert days[-1] == date(2027, 1, 31) and len(days) == 14
    assert all(d.weekday() == 6 for d in days)


def test_monthly_and_yearly_rules() -> None:
    last_sunday = {"kind": "monthly", "rule": "last", "weekday": 6, "time": "08:00"}
    assert list(event_days(last_sunday, date(2026, 11, 1), date(2027, 2, 28))) == [
        date(2026, 11, 29), date(2026, 12, 27), date(2027, 1, 31), date(2027, 2, 28)]
    day_31 = {"kind": "monthly", "day": 31, "time": "08:00"}
    assert list(event_days(day_31, date(2027, 1, 1), date(2027, 3, 1))) == [date(2027, 1, 31), date(2027, 2, 28)]
    september = {"kind": "yearly", "month": 9, "rule": "third", "weekday": 6, "time": "07:00"}
    assert list(event_days(september, date(2026, 1, 1), date(2027, 12, 31))) == [date(2026, 9, 20), date(2027, 9, 19)]
    june_5 = {"kind": "yearly", "month": 6, "day": 5, "time": "07:00"}
    assert list(event_days(june_5, date(2026, 1, 1), date(2027, 12, 31))) == [date(2026, 6, 5), date(2027, 6, 5)]
    once = {"kind": "once", "dates": ["2026-12-24", "2026-12-01"], "time": "19:00"}
    assert list(event_days(once, date(2026, 12, 1), date(2026, 12, 31))) == [date(2026, 12, 1), date(2026, 12, 24)]


def test_moments_of_a_week_in_order() -> None:
    reminders = [{"days_before": 1, "time": "19:00"}, {"days_before": 0, "time": "06:30"}]
    follow = {"hours_after": 3, "form": "ve_sinh_chu_nhat_xanh"}
    found = moments(SUNDAY, reminders, follow, after=local(2026, 11, 20, 0, 0), until=local(2026, 11, 27, 0, 0),
                    tz=TZ)
    assert [(m.step, m.seq, m.due_at.astimezone(TZ).strftime("%a %d %H:%M")) for m in found] == [
        ("reminder", 0, "Sat 21 19:00"), ("reminder", 1, "Sun 22 06:30"), ("follow_up", 0, "Sun 22 10:00")]
    assert {m.event_at for m in found} == {local(2026, 11, 22, 7, 0)}
    # The window is half-open: a moment exactly at `after` belongs to the window before.
    again = moments(SUNDAY, reminders, follow, after=local(2026, 11, 22, 6, 30), until=local(2026, 11, 22, 10, 0),
                    tz=TZ)
    assert [m.step for m in again] == ["follow_up"]


def test_steps_after_the_event_and_the_end_date() -> None:
    deadline = {"kind": "monthly", "day": 5, "time": "17:00"}
    after = {"after": [{"step": "nudge", "days_after": 1, "time": "08:00"},
                       {"step": "late", "days_after": 3, "time": "08:00"}]}
    found = moments(deadline, [{"days_before": 3, "time": "08:00"}], after, after=local(2026, 12, 1, 0, 0),
                    until=local(2026, 12, 31, 0, 0), tz=TZ)
    assert [(m.step, m.due_at.astimezone(TZ).strftime("%d %H:%M")) for m in found] == [
        ("reminder", "02 08:00"), ("nudge", "06 08:00"), ("late", "08 08:00")]
    ended = moments(SUNDAY, [{"days_before": 0, "time": "06:30"}], {}, after=local(2026, 11, 1, 0, 0),
                    until=local(2026, 12, 31, 0, 0), tz=TZ, ends_on=date(2026, 11, 15))
    assert len(ended) == 3
    assert next_event(SUNDAY, now=local(2026, 11, 22, 7, 0), tz=TZ) == datetime(2026, 11, 29, 7, 0, tzinfo=TZ)
    assert next_event(SUNDAY, now=local(2026, 11, 22, 7, 0), tz=TZ, ends_on=date(2026, 11, 25)) is None


@pytest.mark.parametrize("bad", [
    {"kind": "hourly", "time": "07:00"}, {"kind": "weekly", "weekday": 7, "time": "07:00"},
    {"kind": "weekly", "weekday": 6, "time": "7h"}, {"kind": "monthly", "day": 0, "time": "07:00"},
    {"kind": "yearly", "day": 5, "time": "07:00"}, {"kind": "once", "dates": [], "time": "07:00"},
    {"kind": "monthly", "rule": "fifth", "weekday": 6, "time": "07:00"},
])
def test_bad_schedules_are_refused(bad: dict) -> None:
    with pytest.raises(ScheduleError):
        validate(bad)


def test_moment_times_are_aware_utc() -> None:
    found = moments(SUNDAY, [{"days_before": 0, "time": "06:30"}], {}, after=local(2026, 11, 21, 0, 0),
                    until=local(2026, 11, 23, 0, 0), tz=TZ)
    assert found[0].due_at == datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
    assert found[0].due_at - found[0].event_at == timedelta(minutes=-30)
