"""Form files are validated at start-up; a mistake names the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.forms import FormError, load_forms
from models.settings import PROJECT_ROOT, load_settings

TASKS = {"an_ninh", "ve_sinh", "giam_ngheo", "dan_chu"}

GOOD = """
key = "thu"
task = "ve_sinh"
title = "Thử"
[[fields]]
key = "so"
type = "number"
label = "Số"
"""


def write(tmp_path: Path, text: str, name: str = "f.toml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path / name


def test_shipped_forms_load_and_name_configured_tasks() -> None:
    settings = load_settings({}, PROJECT_ROOT / "config.toml")
    registry = load_forms(settings.forms_dir, {t.key for t in settings.tasks})
    assert registry.get("ve_sinh_chu_nhat_xanh") is not None
    sample = registry.get("ve_sinh_chu_nhat_xanh")
    assert sample is not None
    assert {f.type for f in sample.fields} == {"number", "text", "choice", "multi_choice", "yes_no", "date",
                                              "photo", "location"}


def test_a_good_form(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    assert len(load_forms(tmp_path, TASKS)) == 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('type = "number"', 'type = "numbr"'), "field 'so' (type)"),
        (('label = "Số"', 'label = "Số"\nmin = 5\nmax = 1'), "field 'so': Value error, min is greater than max"),
        (('type = "number"', 'type = "choice"'), "field 'so': Value error, a choice needs at least two options"),
        (('task = "ve_sinh"', 'task = "bong_da"'), "task 'bong_da' is not one of the configured tasks"),
        (('label = "Số"', 'label = "Số"\nshow_if = { field = "sau", equals = 1 }'), "not an earlier field"),
        (('key = "so"', 'key = "Số lượng"'), "field 'Số lượng' (key)"),
        (('title = "Thử"', 'titel = "Thử"'), "titel"),
        (('title = "Thử"', 'title = "Thử"\nevent_field = "so"'), "event_field 'so' is not a date field"),
    ],
)
def test_mistakes_name_the_file_and_field(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(FormError) as error:
        load_forms(tmp_path, TASKS)
    assert str(path) in str(error.value)
    assert expected in str(error.value)


def test_broken_toml_and_duplicate_keys(tmp_path: Path) -> None:
    write(tmp_path, "key = ", "a.toml")
    with pytest.raises(FormError, match=r"a\.toml: not valid TOML"):
        load_forms(tmp_path, TASKS)
    (tmp_path / "a.toml").unlink()
    write(tmp_path, GOOD, "a.toml")
    write(tmp_path, GOOD, "b.toml")
    with pytest.raises(FormError, match=r"b\.toml: form key .thu. is used by another form"):
        load_forms(tmp_path, TASKS)


def test_a_report_is_about_the_day_its_form_names() -> None:
    """The event field's answer; the first day of a monthly report's month; else the local day filed."""
    from datetime import UTC, date, datetime
    from zoneinfo import ZoneInfo

    from handlers.forms import event_day

    settings = load_settings({}, PROJECT_ROOT / "config.toml")
    forms = load_forms(settings.forms_dir, {t.key for t in settings.tasks})
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    filed = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)  # 00:30 on 1 December in Đà Nẵng
    green, spot, monthly = (forms.get(k) for k in ("ve_sinh_chu_nhat_xanh", "ve_sinh_diem_den", "bao_cao_thang"))
    assert green is not None and spot is not None and monthly is not None
    assert green.event_field == "ngay"
    assert event_day(green, {"ngay": "2026-11-29"}, now=filed, tz=tz) == date(2026, 11, 29)
    assert event_day(green, {"ngay": None}, now=filed, tz=tz) == date(2026, 12, 1)
    assert event_day(spot, {}, now=filed, tz=tz) == date(2026, 12, 1)
    assert event_day(monthly, {"_month": "2026-10"}, now=filed, tz=tz) == date(2026, 10, 1)
    dated = {key for key, form in forms.forms.items() if any(f.type == "date" for f in form.fields)}
    assert dated == {key for key, form in forms.forms.items() if form.event_field}
