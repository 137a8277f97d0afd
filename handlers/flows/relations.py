"""Relations a form's answers must keep (its `[[checks]]`, docs/forms.md): checked when an answer
is given, as soon as both sides are known, and again before sending; a broken one names both
sides with their values and asks again ("Số hộ dự họp (62) không thể nhiều hơn số hộ của tổ (50).")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from handlers.context import Context
from handlers.forms import Check, FieldDef, FormDef
from handlers.i18n import Translator, _

# Said with the values of both sides; a date compares as "before"/"after", a number as "more"/"less".
SAYINGS = {
    ("at_most", "number"): _("{a} ({x}) không thể nhiều hơn {b} ({y})."),
    ("at_least", "number"): _("{a} ({x}) không thể ít hơn {b} ({y})."),
    ("not_before", "date"): _("{a} ({x}) không thể trước {b} ({y})."),
    ("not_after", "date"): _("{a} ({x}) không thể sau {b} ({y})."),
}
NAMES = {
    "unit.households": _("số hộ của tổ"),
    "unit.since": _("ngày bắt đầu tính số liệu"),
    "today": _("hôm nay"),
}


@dataclass(frozen=True, slots=True)
class UnitFacts:
    """What a check may compare with besides the answers: the group's figures and today."""

    households: int | None
    since: date
    today: date


async def unit_facts(ctx: Context, unit_id: int, *, households: bool = True) -> UnitFacts:
    """The group's household count (if known), the first day its records may be about, today.
    `households=False`: no check at hand compares with the count, so the unit is not read (it
    would be on every answer of a form with checks) and the count is None (never compared)."""
    count = await ctx.repo.households_of(unit_id) if households else None
    today = ctx.clock.now().astimezone(ctx.settings.app.tz).date()
    return UnitFacts(count, ctx.settings.units.since, today)


def _side(form: FormDef, ref: str | int | float, answers: dict[str, Any], facts: UnitFacts) -> Any:
    """The value a check's other side stands for now, None while it is not known."""
    if isinstance(ref, int | float):
        return ref
    if ref.startswith("field:"):
        field = form.field(ref[6:])
        return answers.get(ref[6:]) if field is not None and form.visible(field, answers) else None
    if ref == "unit.households":
        return facts.households
    if ref == "unit.since":
        return facts.since
    if ref == "today":
        return facts.today
    return date.fromisoformat(ref)


def _holds(check: Check, value: Any, other: Any) -> bool:
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(other, str):
        other = date.fromisoformat(other)
    if check.operator in ("at_most", "not_after"):
        return bool(value <= other)
    return bool(value >= other)


def broken(form: FormDef, answers: dict[str, Any], facts: UnitFacts, *, about: str | None = None) -> Check | None:
    """The first check that does not hold with both sides known (only those that involve the field
    `about`, when given): the form's summary or the answer just given."""
    for check in form.checks:
        if about is not None and about not in (check.field, check.other_field):
            continue
        field = form.field(check.field)
        value = answers.get(check.field)
        if field is None or value is None or not form.visible(field, answers):
            continue
        other = _side(form, check.other, answers, facts)
        if other is not None and not _holds(check, value, other):
            return check
    return None


def _lower(text: str) -> str:
    """ "Số hộ dự họp" → "số hộ dự họp" in the middle of a sentence (not "CCCD" → "cCCD")."""
    return text[:1].lower() + text[1:] if len(text) > 1 and text[1].islower() else text


def _shown(value: Any, t: Translator) -> str:
    if isinstance(value, date):
        return t.date(value)
    if isinstance(value, str):
        return t.date(date.fromisoformat(value))
    return t.number(value)


def message(check: Check, form: FormDef, answers: dict[str, Any], facts: UnitFacts, asked: FieldDef,
            t: Translator) -> str:
    """ "Số hộ dự họp (62) không thể nhiều hơn số hộ của tổ (50). Anh/chị nhập lại số hộ dự họp:"."""
    field = form.field(check.field)
    assert field is not None
    other = _side(form, check.other, answers, facts)
    if check.other_field is not None:
        named = form.field(check.other_field)
        other_name = _lower(t(named.label)) if named is not None else check.other_field
    elif isinstance(check.other, str) and check.other in NAMES:
        other_name = t(NAMES[check.other])
    else:
        other_name = ""
    x, y = _shown(answers.get(check.field), t), _shown(other, t)
    if check.message:
        said = t(check.message, value=x, other=y)
    elif other_name:
        said = t(SAYINGS[check.operator, field.type], a=t(field.label), x=x, b=other_name, y=y)
    else:  # a bare number or date: "Số hộ dự họp (62) không thể nhiều hơn 50."
        said = t(SAYINGS[check.operator, field.type], a=t(field.label), x=x, b=y, y=y).replace(f" ({y})", "")
    return said + " " + t("Anh/chị nhập lại {what}:", what=_lower(t(asked.label)))
