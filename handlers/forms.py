"""Form definitions: data read from forms/*.toml and validated at start-up.

The form engine (flows/form.py) knows no particular form; everything a form asks is here, and how
its answers read back (`display_value`, for the form's summary and for the reports it files).
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from handlers.i18n import Translator
from models.settings import SettingsError

FieldType = Literal["number", "text", "choice", "multi_choice", "yes_no", "date", "photo", "location"]


class FormError(SettingsError):
    """A form file is wrong; the message names the file and the field (start-up stops, no traceback)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]{1,16}$")
    label: str = Field(min_length=1, max_length=60)


class Condition(_Strict):
    """Compares an earlier answer: `field` equals / does not equal / is one of the values."""

    field: str
    equals: str | int | float | bool | None = None
    not_equals: str | int | float | bool | None = None
    one_of: list[str | int | float | bool] | None = None

    def holds(self, answers: dict[str, Any]) -> bool:
        value = answers.get(self.field)
        if self.equals is not None:
            return bool(value == self.equals)
        if self.not_equals is not None:
            return bool(value != self.not_equals)
        if self.one_of is not None:
            if isinstance(value, list):
                return any(v in self.one_of for v in value)
            return value in self.one_of
        return value is not None


class Prefill(_Strict):
    """Where a monthly figure comes from: this month's reports of the same group.

    `count` counts the reports of `form`; `sum` adds up their `field`; `count_where` counts those
    whose `field` equals `equals`; `count_distinct` counts the different values of `field`.
    """

    form: str
    agg: Literal["count", "sum", "count_where", "count_distinct"] = "count"
    field: str = ""
    equals: str | int | float | bool | None = None


# What a relation compares an answer with: another answer, a figure of the group, a date.
FIELD_PREFIX = "field:"
UNIT_VALUES = {"unit.households": "number", "unit.since": "date"}
OPERATORS = ("at_most", "at_least", "not_before", "not_after")


class Check(_Strict):
    """A relation an answer must keep (docs/forms.md, "Relations"): `field` at most / at least /
    not before / not after another answer ("field:KEY"), the group's household count
    ("unit.households"), the first day the group's records may be about ("unit.since"), "today",
    a number or a date ("2025-07-01"). Checked as soon as both sides are known."""

    field: str
    at_most: str | int | float | None = None
    at_least: str | int | float | None = None
    not_before: str | None = None
    not_after: str | None = None
    # Said instead of the generic "A (62) không thể nhiều hơn B (50)." (a message id, translated).
    message: str = ""

    @model_validator(mode="after")
    def _one_operator(self) -> Check:
        given = [name for name in OPERATORS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"a check needs exactly one of {', '.join(OPERATORS)}")
        return self

    @cached_property  # worked out once: the checks are looked over on every answer
    def operator(self) -> str:
        return next(name for name in OPERATORS if getattr(self, name) is not None)

    @cached_property
    def other(self) -> str | int | float:
        value = getattr(self, self.operator)
        assert value is not None
        return value  # type: ignore[no-any-return]

    @cached_property
    def other_field(self) -> str | None:
        """The other answer this check compares with, when it is one."""
        other = self.other
        return other[len(FIELD_PREFIX):] if isinstance(other, str) and other.startswith(FIELD_PREFIX) else None


class FieldDef(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    type: FieldType
    label: str = Field(min_length=1, max_length=80)
    prompt: str = ""
    hint: str = ""
    required: bool = True
    # number
    min: float | None = None
    max: float | None = None
    integer: bool = True
    money: bool = False
    unit: str = ""
    # text
    min_length: int = 0
    max_length: int | None = None
    accept_photo: bool = False  # a photo may stand for the text (urgent incidents)
    upper: bool = False  # codes: stored in capitals
    pattern: str | None = None  # a regular expression the whole answer must match
    pattern_message: str = ""  # what to say when it does not
    # choice / multi_choice
    options: list[Option] = []
    # date
    allow_future: bool = False
    max_days_ago: int | None = None
    # location
    allow_address: bool = True
    # shown only when the condition holds
    show_if: Condition | None = None
    # monthly report: the value proposed from this month's reports
    prefill: Prefill | None = None
    # A figure the group's unit keeps ("households"): offered as a one-tap answer ("Giữ 87 hộ");
    # another number typed updates the unit when the report is sent.
    from_unit: Literal["households"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FieldDef:
        if self.type in ("choice", "multi_choice"):
            if len(self.options) < 2:
                raise ValueError("a choice needs at least two options")
            ids = [option.id for option in self.options]
            if len(set(ids)) != len(ids):
                raise ValueError("option ids must be unique")
        elif self.options:
            raise ValueError(f"options make no sense for a {self.type} field")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        if self.from_unit is not None and self.type != "number":
            raise ValueError("from_unit needs a number field")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
        return self

    @property
    def question(self) -> str:
        return self.prompt or self.label


class FormDef(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")
    version: int = Field(default=1, ge=1)
    task: str
    title: str = Field(min_length=1, max_length=80)
    description: str = ""
    roles: list[Literal["leader", "deputy", "official", "resident"]] = ["leader", "deputy"]
    # An urgent incident: sent at once to the officials on duty, escalated if nobody acknowledges.
    urgent: bool = False
    # Show the summary and ask "Gửi" before saving (urgent incidents save on the last answer).
    confirm: bool = True
    # Household-level poverty data: shown only to the group's leaders and social-affairs officials.
    sensitive: bool = False
    # Proposes every field from this month's reports and opens at the summary (the monthly report).
    monthly: bool = False
    # A one-tap "nothing happened this month" report offered beside this form, with this label.
    nil_report: str = ""
    # The date field that says which day the event happened (counted in that day's period); none:
    # the day the report is filed. A monthly form's day is the first of the month it is for.
    event_field: str = ""
    fields: list[FieldDef] = Field(min_length=1)
    # Relations between answers and with the group (docs/forms.md, "Relations").
    checks: list[Check] = []

    @model_validator(mode="after")
    def _checks_name_fields(self) -> FormDef:
        for check in self.checks:
            field = self.field(check.field)
            if field is None:
                raise ValueError(f"check on {check.field!r}: no such field")
            wanted = "date" if check.operator in ("not_before", "not_after") else "number"
            if field.type != wanted:
                raise ValueError(f"check on {check.field!r}: {check.operator} needs a {wanted} field")
            other = check.other
            if check.other_field is not None:
                named = self.field(check.other_field)
                if named is None or named.type != field.type or named.key == field.key:
                    raise ValueError(f"check on {check.field!r}: {other!r} is not another {wanted} field")
            elif isinstance(other, str) and other.startswith("unit."):
                if UNIT_VALUES.get(other) != wanted:
                    raise ValueError(f"check on {check.field!r}: {other!r} is not a {wanted} of the unit "
                                     f"(known: {', '.join(UNIT_VALUES)})")
            elif wanted == "date":
                if other != "today" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(other)):
                    raise ValueError(f"check on {check.field!r}: {other!r} is not a date, today or unit.since")
            elif not isinstance(other, int | float):
                raise ValueError(f"check on {check.field!r}: {other!r} is not a number, a field or unit.households")
        return self

    @model_validator(mode="after")
    def _event_field_is_a_date(self) -> FormDef:
        if self.event_field:
            field = self.field(self.event_field)
            if field is None or field.type != "date":
                raise ValueError(f"event_field {self.event_field!r} is not a date field of the form")
        return self

    @model_validator(mode="after")
    def _fields_refer_backwards(self) -> FormDef:
        seen: set[str] = set()
        for field in self.fields:
            if field.key in seen:
                raise ValueError(f"field {field.key!r} appears twice")
            if field.show_if and field.show_if.field not in seen:
                raise ValueError(f"field {field.key!r}: show_if names {field.show_if.field!r}, "
                                 "which is not an earlier field")
            seen.add(field.key)
        return self

    def field(self, key: str) -> FieldDef | None:
        return next((f for f in self.fields if f.key == key), None)

    def index(self, key: str) -> int:
        return next(i for i, f in enumerate(self.fields) if f.key == key)

    def visible(self, field: FieldDef, answers: dict[str, Any]) -> bool:
        return field.show_if is None or field.show_if.holds(answers)


class FormRegistry:
    """The forms of this installation, by key, in a stable order."""

    def __init__(self, forms: list[FormDef]) -> None:
        self.forms = {form.key: form for form in forms}

    def get(self, key: str) -> FormDef | None:
        return self.forms.get(key)

    def for_task(self, task: str, role: str) -> list[FormDef]:
        """The forms listed under a task's menu entry (urgent and monthly forms have their own)."""
        return [f for f in self.forms.values()
                if f.task == task and role in f.roles and not f.urgent and not f.monthly]

    def __len__(self) -> int:
        return len(self.forms)


def display_value(field: FieldDef, value: Any, t: Translator) -> str:
    """An answer as a person reads it, in the language of `t`."""
    if value is None:
        return t("(không có)")
    if field.type == "number":
        shown = t.money(value) if field.money else t.number(value)
        if not field.unit or field.money:
            return shown
        count = int(value) if float(value).is_integer() else 2  # "12.5 kg" is plural in English
        return f"{shown} {t.ngettext(field.unit, field.unit, count)}"
    if field.type == "choice":
        return next((t(o.label) for o in field.options if o.id == value), str(value))
    if field.type == "multi_choice":
        return ", ".join(t(o.label) for o in field.options if o.id in value) or t("(không chọn)")
    if field.type == "yes_no":
        return t("Có") if value else t("Không")
    if field.type == "date":
        year, month, day = str(value).split("-")
        return f"{day}/{month}/{year}"
    if isinstance(value, dict) and value.get("removed"):
        return t("📷 ảnh đã xoá (hết thời hạn lưu hoặc người gửi đã xoá)")
    if field.type == "photo" or (isinstance(value, dict) and value.get("attachment")):
        return t("📷 đã gửi ảnh")
    if field.type == "location":
        if value.get("lat") is not None:
            return f"📍 {value['lat']:.5f}, {value['lon']:.5f}"
        return f"📍 {value.get('address', '')}"
    return str(value)



def load_forms(folder: Path, task_keys: set[str]) -> FormRegistry:
    """Reads and checks every forms/*.toml; any mistake stops start-up with file and field named."""
    forms: list[FormDef] = []
    if not folder.is_dir():
        raise FormError(f"app.forms_dir: {folder} is not a folder (it holds the forms, one .toml file each)")
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise FormError(f"app.forms_dir: {folder} has no .toml form files")
    for path in files:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise FormError(f"{path}: not valid TOML: {exc}") from exc
        try:
            form = FormDef.model_validate(raw)
        except ValidationError as exc:
            raise FormError(f"{path}: " + "; ".join(_describe(error, raw) for error in exc.errors())) from None
        if form.task not in task_keys:
            raise FormError(f"{path}: task {form.task!r} is not one of the configured tasks {sorted(task_keys)}")
        if form.key in {f.key for f in forms}:
            raise FormError(f"{path}: form key {form.key!r} is used by another form")
        forms.append(form)
    _check_prefills(forms, folder)
    return FormRegistry(forms)


def _check_prefills(forms: list[FormDef], folder: Path) -> None:
    """A monthly figure must name a form that exists and, where it adds up a field, a number field."""
    by_key = {form.key: form for form in forms}
    for form in forms:
        for field in form.fields:
            spec = field.prefill
            if spec is None:
                continue
            where = f"{folder / (form.key + '.toml')}: field {field.key!r} (prefill)"
            source = by_key.get(spec.form)
            if source is None:
                raise FormError(f"{where}: no form {spec.form!r}")
            if spec.agg != "count":
                named = source.field(spec.field)
                if named is None:
                    raise FormError(f"{where}: form {spec.form!r} has no field {spec.field!r}")
                if spec.agg == "sum" and named.type != "number":
                    raise FormError(f"{where}: {spec.form}.{spec.field} is not a number")


def _describe(error: Any, raw: dict[str, Any]) -> str:
    loc = list(error["loc"])
    where = ".".join(str(part) for part in loc) or "form"
    if len(loc) >= 2 and loc[0] == "fields" and isinstance(loc[1], int):
        fields = raw.get("fields", [])
        key = fields[loc[1]].get("key", f"#{loc[1] + 1}") if loc[1] < len(fields) else f"#{loc[1] + 1}"
        rest = ".".join(str(part) for part in loc[2:])
        where = f"field {key!r}" + (f" ({rest})" if rest else "")
    return f"{where}: {error['msg']}"


def event_day(form: FormDef, answers: dict[str, Any], *, now: datetime, tz: ZoneInfo) -> date:
    """The local day a report is about: the answer to the form's `event_field`, the first day of
    the month of a monthly report (`_month`, "2026-11"), else the day it is filed."""
    month = answers.get("_month")
    if form.monthly and isinstance(month, str):
        with contextlib.suppress(ValueError):
            return date(int(month[:4]), int(month[5:7]), 1)
    value = answers.get(form.event_field) if form.event_field else None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(value)
    return now.astimezone(tz).date()
