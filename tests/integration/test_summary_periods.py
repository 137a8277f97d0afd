"""Periods of a summary (local calendar days, ISO weeks, months, quarters, years; the one before;
their bounds in UTC) and the option labels the summary shows, which must match the forms."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from handlers.i18n import Catalogs
from handlers.summaries import periods
from handlers.summaries.periods import Period
from handlers.summaries.summary_text import (
    CATEGORIES,
    INCIDENT_KINDS,
    RESIDENCE_LABELS,
    SOURCES,
    SUPPORT_KINDS,
    URGENT_KINDS,
)
from models.settings import PROJECT_ROOT

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
T = Catalogs(PROJECT_ROOT / "locales").translator("vi", TZ)


@pytest.mark.parametrize(("text", "kind", "label", "before", "start"), [
    ("2026-11-26", "day", "Ngày 26/11/2026", "2026-11-25", datetime(2026, 11, 25, 17, tzinfo=UTC)),
    ("2026-W48", "week", "Tuần 23/11–29/11/2026", "2026-W47", datetime(2026, 11, 22, 17, tzinfo=UTC)),
    ("2026-w1", "week", "Tuần 29/12–04/01/2026", "2025-W52", datetime(2025, 12, 28, 17, tzinfo=UTC)),
    ("2026-11", "month", "Tháng 11/2026", "2026-10", datetime(2026, 10, 31, 17, tzinfo=UTC)),
    ("2026-1", "month", "Tháng 01/2026", "2025-12", datetime(2025, 12, 31, 17, tzinfo=UTC)),
    ("2026-Q4", "quarter", "Quý 4/2026", "2026-Q3", datetime(2026, 9, 30, 17, tzinfo=UTC)),
    ("2026-q1", "quarter", "Quý 1/2026", "2025-Q4", datetime(2025, 12, 31, 17, tzinfo=UTC)),
    ("2026", "year", "Năm 2026", "2025", datetime(2025, 12, 31, 17, tzinfo=UTC)),
])
def test_periods_are_read_labelled_and_go_back_one(text: str, kind: str, label: str, before: str,
                                                   start: datetime) -> None:
    period = periods.parse(text, TZ)
    assert (period.kind, period.label(T), period.previous().key, period.start) == (kind, label, before, start)
    assert Period.of(period.start, period.end, TZ) == period
    assert periods.parse(period.key, TZ) == period


@pytest.mark.parametrize("text", ["", "2026-13", "2026-W54", "2026-Q5", "26", "2026-11-31", "tháng 11", "2026/11"])
def test_a_bad_period_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        periods.parse(text, TZ)


def test_the_period_around_a_moment_and_the_months_it_covers() -> None:
    sunday = datetime(2026, 11, 22, 1, 30, tzinfo=UTC)  # 08:30 on Sunday in Đà Nẵng
    assert periods.containing("day", sunday, TZ).key == "2026-11-22"
    assert periods.containing("week", sunday, TZ).label(T) == "Tuần 16/11–22/11/2026"
    assert periods.containing("month", datetime(2026, 11, 30, 17, 30, tzinfo=UTC), TZ).key == "2026-12"
    assert periods.containing("quarter", sunday, TZ).months() == ["2026-10", "2026-11", "2026-12"]
    assert len(periods.containing("year", sunday, TZ).months()) == 12
    assert periods.containing("week", sunday, TZ).months() == []
    # Any other stretch of time: the same length just before.
    odd = Period.of(datetime(2026, 11, 21, 1, tzinfo=UTC), datetime(2026, 11, 22, 1, tzinfo=UTC), TZ)
    assert odd.kind == "range" and odd.previous().end == odd.start and odd.previous().start.day == 20
    assert odd.label(T) == "08:00 21/11/2026 – 08:00 22/11/2026"
    # Thirty-one days from the 1st is a month only when the month has 31 days.
    assert Period.of(datetime(2026, 10, 31, 17, tzinfo=UTC), datetime(2026, 12, 1, 17, tzinfo=UTC), TZ).kind == "range"


def _options(form: str, field: str) -> dict[str, str]:
    data = tomllib.loads((PROJECT_ROOT / "forms" / f"{form}.toml").read_text(encoding="utf-8"))
    found = next(f for f in data["fields"] if f["key"] == field)
    if "options" in found:
        return {option["id"]: option["label"] for option in found["options"]}
    return {found["key"]: found["label"]}


def test_the_labels_the_summary_shows_are_the_forms_own() -> None:
    assert INCIDENT_KINDS == _options("an_ninh_vu_viec", "loai")
    assert URGENT_KINDS == _options("khan_cap", "loai")
    assert CATEGORIES == _options("giam_ngheo_ho_tro", "dien")
    assert SOURCES == _options("giam_ngheo_ho_tro", "nguon")
    assert SUPPORT_KINDS == _options("giam_ngheo_ho_tro", "hinh_thuc")
    residence = {key: label for key in RESIDENCE_LABELS for key, label in _options("an_ninh_cu_tru", key).items()}
    assert set(residence) == set(RESIDENCE_LABELS)
