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


TWO_NUMBERS_AND_A_DATE = GOOD + """
[[fields]]
key = "tong"
type = "number"
label = "Tổng"
[[fields]]
key = "ngay"
type = "date"
label = "Ngày"
"""


@pytest.mark.parametrize(("check", "expected"), [
    ('field = "so"\nat_most = "field:tong"', None),
    ('field = "so"\nat_most = "unit.households"', None),
    ('field = "so"\nat_least = 2', None),
    ('field = "ngay"\nnot_before = "unit.since"', None),
    ('field = "ngay"\nnot_after = "today"', None),
    ('field = "ngay"\nnot_before = "2025-07-01"', None),
    ('field = "khong_co"\nat_most = 5', "check on 'khong_co': no such field"),
    ('field = "so"\nat_most = "field:khong_co"', "is not another number field"),
    ('field = "so"\nat_most = "field:ngay"', "is not another number field"),
    ('field = "so"\nnot_before = "unit.since"', "not_before needs a date field"),
    ('field = "ngay"\nnot_before = "unit.households"', "is not a date of the unit"),
    ('field = "so"\nat_most = "unit.dan_so"', "is not a number of the unit"),
    ('field = "so"\nat_most = 5\nat_least = 1', "exactly one of"),
    ('field = "so"', "exactly one of"),
])
def test_relations_name_fields_of_the_right_type(tmp_path: Path, check: str, expected: str | None) -> None:
    """A form's [[checks]] are checked at start-up like its fields (docs/forms.md, "Relations")."""
    write(tmp_path, TWO_NUMBERS_AND_A_DATE + "[[checks]]\n" + check + "\n")
    if expected is None:
        form = load_forms(tmp_path, TASKS).get("thu")
        assert form is not None and len(form.checks) == 1
        return
    with pytest.raises(FormError) as error:
        load_forms(tmp_path, TASKS)
    assert "f.toml" in str(error.value) and expected in str(error.value)


def test_from_unit_needs_a_number_field(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace('type = "number"', 'type = "text"') + 'from_unit = "households"\n')
    with pytest.raises(FormError, match="from_unit needs a number field"):
        load_forms(tmp_path, TASKS)


def test_a_kept_long_text_is_progress_that_a_cancel_asks_about() -> None:
    """/huy or a menu command asks before dropping a form whose only input is a kept long text."""
    from handlers.context import State
    from handlers.engine import has_progress

    assert has_progress(State("form", "ask", {"ans": {}, "trail": [], "long": "Cống " * 1200}))
    assert not has_progress(State("form", "ask", {"ans": {}, "trail": []}))
