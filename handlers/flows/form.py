"""The form engine: asks each field, checks the answer, lets the user go back, skip, edit, send.

State data: form key, unit, current field, answers, the trail of fields asked (for going back),
whether a single field is being edited from the summary, and a multi-choice selection in progress.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

from handlers import reporting
from handlers.context import Context, Outcome, State
from handlers.errors import UserError
from handlers.flows.menu import main_menu
from handlers.forms import FieldDef, FormDef
from handlers.i18n import Translator, _
from handlers.messages import Button, Incoming, Keyboard, Reply, rows
from handlers.parsing import parse_coordinates, parse_date, parse_number
from handlers.text import clean, fold

NAME = "form"
YES = {"co", "c", "yes", "y", "dung", "u", "uh", "ok", "da co", "roi", "da", "da roi", "co roi"}
NO = {"khong", "k", "ko", "no", "n", "chua", "khong co", "chua co"}
TYPE_NAMES = {
    "number": _("một số"),
    "text": _("một đoạn chữ"),
    "choice": _("một lựa chọn"),
    "multi_choice": _("một hoặc nhiều lựa chọn"),
    "yes_no": _("Có hoặc Không"),
    "date": _("một ngày"),
    "photo": _("một ảnh"),
    "location": _("một vị trí"),
}


class Invalid(UserError):
    """The answer does not fit the field; the message says what is expected."""


async def start(
    form: FormDef, ctx: Context, *, unit_id: int, answers: dict[str, Any] | None = None,
    supersedes: int | None = None, intro: str = "",
) -> Outcome:
    """Opens a form at its first question, or at the summary when every answer is already there
    (a correction, or a monthly report proposed from this month's reports)."""
    data: dict[str, Any] = {"form": form.key, "unit": unit_id, "ans": dict(answers or {}),
                            "trail": [], "edit": False, "sel": []}
    if supersedes:
        data["supersedes"] = supersedes
    first = _next_field(form, data["ans"], after=None)
    assert first is not None  # a form has at least one field, and the first has no condition
    data["cur"] = first.key
    head = ("🚨 " if form.urgent else "📝 ") + ctx.t(form.title)
    if form.description:
        head += f"\n{ctx.t(form.description)}"
    if intro:
        head += f"\n{intro}"
    missing = next((f for f in form.fields if form.visible(f, data["ans"]) and f.key not in data["ans"]), None)
    if answers is None:
        state = State(flow=NAME, step="ask", data=data)
    elif missing is None:
        state = State(flow=NAME, step="summary", data=data)
    else:  # start at the first missing answer; "Quay lại" can still reach the ones given
        before = form.fields[: form.index(missing.key)]
        data.update(cur=missing.key, trail=[f.key for f in before if form.visible(f, data["ans"])])
        state = State(flow=NAME, step="ask", data=data)
    return Outcome([Reply(head), *await show(state, ctx)], state)


class FormFlow:
    name = NAME

    async def show(self, state: State, ctx: Context) -> list[Reply]:
        return await show(state, ctx)

    async def handle(self, msg: Incoming, state: State, ctx: Context, action: str | None) -> Outcome:
        return await handle(msg, state, ctx, action)


def _form(state: State, ctx: Context) -> FormDef:
    form = ctx.forms.get(str(state.data.get("form")))
    if form is None:
        raise UserError(_("Biểu mẫu này không còn nữa. Vui lòng chọn lại từ menu."))
    return form


async def show(state: State, ctx: Context) -> list[Reply]:
    """Asks the current question again, or shows the summary."""
    form = _form(state, ctx)
    if state.step == "summary":
        return [summary(form, state, ctx)]
    if state.step == "pick":
        return [pick(form, state, ctx)]
    field = form.field(state.data["cur"])
    assert field is not None
    return [question(form, field, state, ctx)]


def question(form: FormDef, field: FieldDef, state: State, ctx: Context) -> Reply:
    t = ctx.t
    # Count the questions this person may still be asked: one whose condition is already answered
    # "no" is left out, so the total only ever shrinks.
    answers = state.data["ans"]
    shown = [f.key for f in form.fields if f.key == field.key or form.visible(f, answers)
             or (f.show_if is not None and f.show_if.field not in answers)]
    lines = [f"({shown.index(field.key) + 1}/{len(shown)}) {t(field.question)}"]
    if field.hint:
        lines.append(t(field.hint))
    lines.append(_expectation(field, ctx))
    current = state.data["ans"].get(field.key)
    if state.data.get("edit") and field.key in state.data["ans"]:
        lines.append(t("Câu trả lời hiện tại: {value}", value=display(field, current, ctx)))
    buttons: list[list[Button]] = []
    keyboard = Keyboard.INLINE
    if field.type == "choice":
        buttons += [[ctx.button(f"o.{o.id}", t(o.label))] for o in field.options]
    elif field.type == "multi_choice":
        selected = set(state.data.get("sel", []))
        buttons += [[ctx.button(f"o.{o.id}", ("✅ " if o.id in selected else "▫️ ") + t(o.label))]
                    for o in field.options]
        buttons.append([ctx.button("done", t("✔️ Xong"))])
    elif field.type == "yes_no":
        buttons.append([ctx.button("y", t("Có")), ctx.button("n", t("Không"))])
    elif field.type == "date":
        buttons.append([ctx.button("today", t("Hôm nay")), ctx.button("yday", t("Hôm qua"))])
    elif field.type == "location":
        keyboard = Keyboard.REQUEST_LOCATION
    elif field.type == "photo" or field.accept_photo:
        keyboard = Keyboard.REQUEST_PHOTO
    nav = []
    if state.data.get("trail") or state.data.get("edit"):
        nav.append(ctx.button("back", t("⬅️ Quay lại")))
    if not field.required:
        nav.append(ctx.button("skip", t("⏭ Bỏ qua")))
    nav.append(ctx.button("cancel", t("✖️ Hủy")))
    buttons.append(nav)
    return Reply("\n".join(lines), tuple(tuple(row) for row in buttons), keyboard=keyboard)


def _expectation(field: FieldDef, ctx: Context) -> str:
    t = ctx.t
    if field.type == "number":
        return _number_rule(field, ctx)
    if field.type == "text":
        return t("Gõ câu trả lời (tối đa {n} ký tự).", n=t.number(_max_length(field, ctx)))
    if field.type == "choice":
        return t("Bấm một nút bên dưới.")
    if field.type == "multi_choice":
        return t("Bấm để chọn một hoặc nhiều mục, rồi bấm «Xong».")
    if field.type == "yes_no":
        return t("Bấm Có hoặc Không.")
    if field.type == "date":
        return t("Gõ ngày theo dạng ngày/tháng/năm, ví dụ {example}, hoặc bấm nút.",
                 example=t.date(ctx.clock.now()))
    if field.type == "photo":
        return t("Gửi một ảnh: chụp mới hoặc chọn ảnh có sẵn trong máy.")
    if field.allow_address:
        return t("Gửi vị trí, hoặc gõ địa chỉ, hoặc gõ tọa độ như 16.0544, 108.2022.")
    return t("Gửi vị trí, hoặc gõ tọa độ như 16.0544, 108.2022.")


def _number_rule(field: FieldDef, ctx: Context) -> str:
    t = ctx.t
    low = t.number(field.min) if field.min is not None else None
    high = t.number(field.max) if field.max is not None else None
    if low is not None and high is not None:
        return t("Vui lòng nhập một số từ {low} đến {high}.", low=low, high=high)
    if low is not None:
        return t("Vui lòng nhập một số không nhỏ hơn {low}.", low=low)
    if high is not None:
        return t("Vui lòng nhập một số không lớn hơn {high}.", high=high)
    return t("Vui lòng nhập một số.")


def _max_length(field: FieldDef, ctx: Context) -> int:
    return min(field.max_length or ctx.settings.limits.text_max_chars, ctx.settings.limits.text_max_chars)


def display(field: FieldDef, value: Any, ctx: Context) -> str:
    """An answer as the user should read it back."""
    return display_value(field, value, ctx.t)


def display_value(field: FieldDef, value: Any, t: Translator) -> str:
    """An answer as a person reads it, in the language of `t`."""
    if value is None:
        return t("(bỏ qua)")
    if field.type == "number":
        shown = t.money(value) if field.money else t.number(value)
        return f"{shown} {t(field.unit)}".strip() if field.unit and not field.money else shown
    if field.type == "choice":
        return next((t(o.label) for o in field.options if o.id == value), str(value))
    if field.type == "multi_choice":
        return ", ".join(t(o.label) for o in field.options if o.id in value) or t("(không chọn)")
    if field.type == "yes_no":
        return t("Có") if value else t("Không")
    if field.type == "date":
        year, month, day = str(value).split("-")
        return f"{day}/{month}/{year}"
    if field.type == "photo" or (isinstance(value, dict) and value.get("attachment")):
        return t("📷 đã gửi ảnh")
    if field.type == "location":
        if value.get("lat") is not None:
            return f"📍 {value['lat']:.5f}, {value['lon']:.5f}"
        return f"📍 {value.get('address', '')}"
    return str(value)


def summary(form: FormDef, state: State, ctx: Context) -> Reply:
    t = ctx.t
    answers = state.data["ans"]
    lines = [t("Kiểm tra lại báo cáo «{title}»:", title=t(form.title)), ""]
    for field in form.fields:
        if form.visible(field, answers):
            lines.append(f"• {t(field.label)}: {display(field, answers.get(field.key), ctx)}")
    lines += ["", t("Nếu đúng, bấm «Gửi báo cáo».")]
    buttons = [
        [ctx.button("send", t("✅ Gửi báo cáo"))],
        [ctx.button("edit", t("✏️ Sửa một câu")), ctx.button("cancel", t("✖️ Hủy"))],
    ]
    return Reply("\n".join(lines), tuple(tuple(row) for row in buttons))


def pick(form: FormDef, state: State, ctx: Context) -> Reply:
    t = ctx.t
    answers = state.data["ans"]
    buttons = [ctx.button(f"e.{f.key}", t(f.label)) for f in form.fields if form.visible(f, answers)]
    buttons.append(ctx.button("sum", t("⬅️ Quay lại")))
    return Reply(t("Bạn muốn sửa câu nào?"), rows(buttons))


def _next_field(form: FormDef, answers: dict[str, Any], *, after: str | None) -> FieldDef | None:
    start = 0 if after is None else form.index(after) + 1
    return next((f for f in form.fields[start:] if form.visible(f, answers)), None)


async def handle(msg: Incoming, state: State, ctx: Context, action: str | None) -> Outcome:
    """Takes the user's answer or button for the current step."""
    form = _form(state, ctx)
    data = state.data
    if action == "cancel":
        menu = await main_menu(ctx, intro=ctx.t("Đã hủy biểu mẫu. Không có gì được gửi."))
        return Outcome(menu, None)
    if state.step == "summary":
        return await _on_summary(form, state, ctx, action)
    if state.step == "pick":
        if action == "sum":
            return Outcome([summary(form, state, ctx)], State(NAME, "summary", data))
        field = form.field(action[2:]) if action and action.startswith("e.") else None
        if field is None or not form.visible(field, data["ans"]):
            return Outcome([Reply(ctx.t("Hãy bấm vào câu muốn sửa.")), pick(form, state, ctx)], state)
        data.update(cur=field.key, edit=True, sel=list(data["ans"].get(field.key) or [])
                    if field.type == "multi_choice" else [])
        return Outcome([question(form, field, State(NAME, "ask", data), ctx)], State(NAME, "ask", data))
    field = form.field(data["cur"])
    assert field is not None
    if action == "back":
        return _go_back(form, state, ctx)
    try:
        answer, finished = await _read_answer(field, msg, state, ctx, action)
    except Invalid as error:
        again = question(form, field, state, ctx)
        return Outcome([Reply(ctx.t(error.message, **error.values)), again], state)
    if not finished:  # a multi-choice toggle: show the selection again, in place where possible
        return Outcome([replace(question(form, field, state, ctx), edit=True)], state)
    data["ans"][field.key] = answer
    data["sel"] = []
    return await _advance(form, state, ctx)


async def _read_answer(
    field: FieldDef, msg: Incoming, state: State, ctx: Context, action: str | None
) -> tuple[Any, bool]:
    t = ctx.t
    if action == "skip":
        if field.required:
            raise Invalid(_("Câu này bắt buộc, không bỏ qua được."))
        return None, True
    if msg.photo is not None and field.type == "text" and field.accept_photo:
        return await _photo(msg, ctx), True
    if msg.photo is not None and field.type != "photo":
        raise Invalid(_("Câu này cần {kind}, không phải ảnh."), kind=t(TYPE_NAMES[field.type]))
    if msg.location is not None and field.type != "location":
        raise Invalid(_("Câu này cần {kind}, không phải vị trí."), kind=t(TYPE_NAMES[field.type]))
    text = clean(msg.text or "")
    if field.type == "choice":
        option = _option_from(field, action, text)
        if option is None:
            raise Invalid(_("Hãy bấm một trong các nút bên dưới."))
        return option, True
    if field.type == "multi_choice":
        return _multi(field, state, action, text)
    if field.type == "yes_no":
        folded = fold(text)
        if action == "y" or folded in YES:
            return True, True
        if action == "n" or folded in NO:
            return False, True
        raise Invalid(_("Hãy bấm «Có» hoặc «Không»."))
    if field.type == "date" and (spoken := _as_date_action(action)):
        return _date(field, spoken, ctx), True
    if action is not None:
        raise Invalid(_("Nút này không dùng cho câu hỏi hiện tại."))
    if field.type == "number":
        return _number(field, text, ctx), True
    if field.type == "date":
        return _date(field, text, ctx), True
    if field.type == "text":
        if not text:
            raise Invalid(_("Câu trả lời đang trống. Vui lòng gõ nội dung."))
        limit = _max_length(field, ctx)
        if len(text) > limit:
            raise Invalid(_("Câu trả lời dài {n} ký tự, quá giới hạn {limit} ký tự. Vui lòng viết ngắn lại."),
                          n=t.number(len(text)), limit=t.number(limit))
        if len(text) < field.min_length:
            raise Invalid(_("Câu trả lời quá ngắn: cần ít nhất {n} ký tự."), n=field.min_length)
        if field.upper:
            text = text.upper()
        if field.pattern and not re.fullmatch(field.pattern, text):
            raise Invalid(field.pattern_message or _("Câu trả lời không đúng dạng yêu cầu."))
        return text, True
    if field.type == "photo":
        return await _photo(msg, ctx, field), True
    return _location(field, msg, text, ctx), True


def _option_from(field: FieldDef, action: str | None, text: str) -> str | None:
    ids = [o.id for o in field.options]
    if action and action.startswith("o.") and action[2:] in ids:
        return action[2:]
    if action is None and text:
        if text.isdigit() and 1 <= int(text) <= len(ids):
            return ids[int(text) - 1]
        folded = fold(text)
        for option in field.options:
            if fold(option.label) == folded:
                return option.id
    return None


def _multi(field: FieldDef, state: State, action: str | None, text: str) -> tuple[Any, bool]:
    selected: list[str] = list(state.data.get("sel", []))
    if action == "done":
        if field.required and not selected:
            raise Invalid(_("Hãy chọn ít nhất một mục rồi bấm «Xong»."))
        return [o.id for o in field.options if o.id in selected], True
    if action is None and text:
        chosen = [_option_from(field, None, part.strip()) for part in text.replace(";", ",").split(",")]
        if all(chosen):
            return [o.id for o in field.options if o.id in chosen], True
        raise Invalid(_("Không nhận ra lựa chọn. Bấm các nút bên dưới, hoặc gõ số thứ tự cách nhau bởi dấu phẩy."))
    option = _option_from(field, action, "")
    if option is None:
        raise Invalid(_("Hãy bấm một trong các nút bên dưới."))
    if option in selected:
        selected.remove(option)
    else:
        selected.append(option)
    state.data["sel"] = selected
    return None, False


def _number(field: FieldDef, text: str, ctx: Context) -> int | float:
    value = parse_number(text, integer=field.integer)
    out_of_range = value is not None and (
        (field.min is not None and value < field.min) or (field.max is not None and value > field.max)
    )
    if value is None or out_of_range:
        raise Invalid(_number_rule(field, ctx))
    return value


def _date(field: FieldDef, text: str, ctx: Context) -> str:
    today = ctx.clock.now().astimezone(ctx.settings.app.tz).date()
    value = parse_date(text, today)
    if value is None:
        raise Invalid(_("Không đọc được ngày «{text}». Gõ theo dạng ngày/tháng/năm, ví dụ {example}."),
                      text=text[:20], example=ctx.t.date(today))
    if value > today and not field.allow_future:
        raise Invalid(_("Ngày {date} còn ở tương lai. Vui lòng nhập ngày đã diễn ra."), date=ctx.t.date(value))
    if field.max_days_ago is not None and value < today - timedelta(days=field.max_days_ago):
        raise Invalid(_("Ngày {date} đã quá xa (quá {n} ngày trước)."), date=ctx.t.date(value), n=field.max_days_ago)
    return value.isoformat()


def _as_date_action(action: str | None) -> str | None:
    return {"today": "hôm nay", "yday": "hôm qua"}.get(action or "")


async def _photo(msg: Incoming, ctx: Context, field: FieldDef | None = None) -> dict[str, int]:
    if msg.photo is None:
        if field is not None and not field.required:
            raise Invalid(_("Câu này cần một ảnh. Hãy gửi một ảnh, hoặc chọn «Bỏ qua» nếu không có."))
        raise Invalid(_("Câu này cần một ảnh. Hãy gửi một ảnh."))
    limit = ctx.settings.limits.photo_max_bytes
    if len(msg.photo.content) > limit:
        raise Invalid(_("Ảnh quá lớn ({size} MB). Giới hạn là {limit} MB; hãy gửi ảnh nhỏ hơn."),
                      size=ctx.t.number(round(len(msg.photo.content) / 1e6, 1)),
                      limit=ctx.t.number(round(limit / 1e6, 1)))
    attachment_id = await ctx.files.save(ctx.repo, content=msg.photo.content, mime=msg.photo.mime,
                                         uploader=ctx.person_id)
    return {"attachment": attachment_id}


def _location(field: FieldDef, msg: Incoming, text: str, ctx: Context) -> dict[str, Any]:
    if msg.location is not None:
        lat, lon = msg.location.latitude, msg.location.longitude
    elif (coords := parse_coordinates(text)) is not None:
        lat, lon = coords
    elif field.allow_address and len(text) >= 5:
        return {"lat": None, "lon": None, "address": text[:300]}
    elif text and not field.allow_address:
        raise Invalid(_("Câu này cần vị trí chính xác: gửi vị trí, hoặc gõ tọa độ như 16.0544, 108.2022."))
    elif text:
        raise Invalid(_("Địa chỉ quá ngắn. Hãy gõ rõ số nhà, tên đường, hoặc gửi vị trí."))
    else:
        raise Invalid(_("Câu này cần một vị trí: gửi vị trí, hoặc gõ địa chỉ."))
    south, west, north, east = ctx.settings.app.area_bbox
    if not (south <= lat <= north and west <= lon <= east):
        raise Invalid(_("Vị trí {lat}, {lon} nằm ngoài {area}. Vui lòng gửi vị trí trong địa bàn."),
                      lat=f"{lat:.4f}", lon=f"{lon:.4f}", area=ctx.settings.app.area_name)
    return {"lat": lat, "lon": lon, "address": msg.location.address if msg.location else ""}


async def _advance(form: FormDef, state: State, ctx: Context) -> Outcome:
    data = state.data
    if data.get("edit"):
        # After an edit, ask only what the change newly made visible, then the summary again.
        missing = next((f for f in form.fields if form.visible(f, data["ans"]) and f.key not in data["ans"]), None)
        if missing is None:
            data["edit"] = False
            return Outcome([summary(form, state, ctx)], State(NAME, "summary", data))
        data["cur"] = missing.key
        return Outcome([question(form, missing, state, ctx)], State(NAME, "ask", data))
    data["trail"].append(data["cur"])
    nxt = _next_field(form, data["ans"], after=data["cur"])
    if nxt is None:
        if not form.confirm:
            return await _send(form, state, ctx)
        return Outcome([summary(form, state, ctx)], State(NAME, "summary", data))
    data["cur"] = nxt.key
    return Outcome([question(form, nxt, state, ctx)], State(NAME, "ask", data))


def _go_back(form: FormDef, state: State, ctx: Context) -> Outcome:
    data = state.data
    if data.get("edit"):
        data.update(edit=False, sel=[])
        return Outcome([summary(form, state, ctx)], State(NAME, "summary", data))
    if not data["trail"]:
        return Outcome([Reply(ctx.t("Đây là câu đầu tiên. Bấm «Hủy» nếu muốn thoát.")),
                        question(form, form.fields[0], state, ctx)], state)
    previous = data["trail"].pop()
    field = form.field(previous)
    assert field is not None
    data["cur"] = previous
    data["sel"] = list(data["ans"].get(previous) or []) if field.type == "multi_choice" else []
    return Outcome([question(form, field, state, ctx)], State(NAME, "ask", data))


async def _on_summary(form: FormDef, state: State, ctx: Context, action: str | None) -> Outcome:
    data = state.data
    if action == "edit":
        return Outcome([pick(form, state, ctx)], State(NAME, "pick", data))
    if action != "send":
        return Outcome([Reply(ctx.t("Bấm «Gửi báo cáo» để gửi, hoặc «Sửa một câu».")),
                        summary(form, state, ctx)], state)
    return await _send(form, state, ctx)


def monthly_key(ctx: Context) -> str:
    """The month a monthly report filed now is for, "2026-11" (see monthly.report_month)."""
    from handlers.flows.monthly import report_month

    return report_month(ctx.clock.now(), ctx)[2]


async def _send(form: FormDef, state: State, ctx: Context) -> Outcome:
    """Saves the report (an urgent one also goes to the officials on duty) and returns to the menu."""
    data = state.data
    answers = {f.key: data["ans"].get(f.key) for f in form.fields if form.visible(f, data["ans"])}
    if form.monthly:
        answers["_month"] = monthly_key(ctx)
    report, replies, deliveries = await reporting.submit(
        form, answers, unit_id=int(data["unit"]), reporter_id=ctx.person_id, reporter_name=ctx.who.name,
        repo=ctx.repo, forms=ctx.forms, settings=ctx.settings, now=ctx.clock.now(), t=ctx.t,
        translate=ctx.translate, supersedes_id=data.get("supersedes"))
    menu = await main_menu(ctx)
    return Outcome([*replies, *menu], State("", "", {"sent": report.code}), deliveries)
