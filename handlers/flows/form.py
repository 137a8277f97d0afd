"""The form engine: asks each field, checks the answer, lets the user go back, skip, edit, send.

State data: form key, unit, current field, answers, the trail of fields asked (for going back),
whether a single field is being edited from the summary, and a multi-choice selection in progress.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from handlers import buttons as b
from handlers.context import Context, Outcome, State
from handlers.errors import UserError
from handlers.flows import answers, monthly, relations
from handlers.forms import FieldDef, FormDef, display_value
from handlers.i18n import Translator, _
from handlers.messages import Button, Incoming, Keyboard, Reply, rows
from handlers.reports import reporting

NAME = "form"
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
    if form.checks or any(f.from_unit for f in form.fields):
        unit = await ctx.repo.unit(unit_id)
        data["hh"] = unit.households if unit else None  # offered as "Giữ 87 hộ", compared in checks
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


def counter(form: FormDef, field: FieldDef, answers: dict[str, Any], t: Translator) -> str:
    """Where the person is, a counter that never jumps: "(3/7)" when every question still to come
    is known to be asked or skipped, "Câu 3." while one of them depends on an answer not given yet
    (a total that would shrink or grow is not shown)."""
    keys = [f.key for f in form.fields]
    here = keys.index(field.key)
    before = [f for f in form.fields[:here] if form.visible(f, answers)]
    later = form.fields[here + 1 :]
    if any(f.show_if is not None and f.show_if.field not in answers for f in later):
        return t("Câu {n}.", n=len(before) + 1)
    total = len(before) + 1 + sum(1 for f in later if form.visible(f, answers))
    return f"({len(before) + 1}/{total})"


def question(form: FormDef, field: FieldDef, state: State, ctx: Context) -> Reply:
    t = ctx.t
    lines = [f"{counter(form, field, state.data['ans'], t)} {t(field.question)}"]
    if field.hint:
        lines.append(t(field.hint))
    kept = state.data.get("hh") if field.from_unit == "households" else None
    if kept is not None:
        lines.append(t("Số hộ của tổ đang ghi là {n}. Bấm «Giữ {n}» nếu không đổi, hoặc gõ số mới.",
                       n=display(field, kept, ctx)))
    lines.append(_expectation(field, ctx))
    current = state.data["ans"].get(field.key)
    if state.data.get("edit") and field.key in state.data["ans"]:
        lines.append(t("Câu trả lời hiện tại: {value}", value=display(field, current, ctx)))
    buttons: list[list[Button]] = []
    keyboard = Keyboard.INLINE
    if kept is not None:
        buttons.append([ctx.button("unit", t("Giữ {n}", n=display(field, kept, ctx)))])
    if field.type == "choice":
        buttons += [[ctx.button("o", t(o.label), o.id)] for o in field.options]
    elif field.type == "multi_choice":
        selected = set(state.data.get("sel", []))
        buttons += [[ctx.button("o", ("✅ " if o.id in selected else "▫️ ") + t(o.label), o.id)]
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
    if field.type == "text" and state.data.get("long") and state.data.get("long_field") == field.key:
        limit = t.number(answers.max_length(field, ctx))
        buttons.append([ctx.button("keep", t("✂️ Giữ {n} ký tự đầu", n=limit))])
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
        return answers.number_rule(field, ctx)
    if field.type == "text":
        longest = t.number(answers.max_length(field, ctx))
        if field.min_length > 1:  # said before the first try, not only after a refusal
            return t("Gõ câu trả lời (ít nhất {min}, tối đa {n} ký tự).", min=t.number(field.min_length), n=longest)
        return t("Gõ câu trả lời (tối đa {n} ký tự).", n=longest)
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


def display(field: FieldDef, value: Any, ctx: Context) -> str:
    """An answer as the user should read it back."""
    return display_value(field, value, ctx.t)



def summary(form: FormDef, state: State, ctx: Context) -> Reply:
    t = ctx.t
    answers = state.data["ans"]
    lines = [t("Kiểm tra lại báo cáo «{title}»:", title=t(form.title)), ""]
    for field in form.fields:
        if form.visible(field, answers):
            line = f"• {t(field.label)}: {display(field, answers.get(field.key), ctx)}"
            if (change := _unit_change(form, field, state)) is not None and change[0] is None:
                line += " " + t("(sẽ được ghi làm số hộ của tổ)")
            elif change is not None:
                line += " " + t("(số hộ của tổ sẽ đổi từ {old} thành {new})",
                                old=display(field, change[0], ctx), new=display(field, change[1], ctx))
            lines.append(line)
    lines += ["", t("Nếu đúng, bấm «Gửi báo cáo».")]
    buttons = [
        [ctx.button("send", t("✅ Gửi báo cáo"))],
        [ctx.button("edit", t("✏️ Sửa một câu")), ctx.button("cancel", t("✖️ Hủy"))],
    ]
    return Reply("\n".join(lines), tuple(tuple(row) for row in buttons))


def pick(form: FormDef, state: State, ctx: Context) -> Reply:
    t = ctx.t
    answers = state.data["ans"]
    buttons = [ctx.button("e", t(f.label), f.key) for f in form.fields if form.visible(f, answers)]
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
        if data.get("ans") or data.get("long"):  # answers (or a kept long text) would be lost: ask first
            return Outcome([cancel_question(form, ctx)], state)
        return Outcome([Reply(ctx.t("Đã hủy, báo cáo chưa được gửi."))], None)
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
        if action == "unit" and field.from_unit and data.get("hh") is not None:
            answer, finished = data["hh"], True  # [Giữ 87 hộ]: the unit's own figure
        else:
            answer, finished = await answers.read_answer(field, msg, state, ctx, action)
    except answers.Invalid as error:
        again = question(form, field, state, ctx)
        return Outcome([Reply(ctx.t(error.message, **error.values)), again], state)
    if finished and answer is not None and any(field.key in (check.field, check.other_field) for check in form.checks):
        trial = {**data["ans"], field.key: answer}  # only checks about this answer can break now
        facts = await _facts(form, trial, state, ctx, about=field.key)
        if (check := relations.broken(form, trial, facts, about=field.key)) is not None:
            said = relations.message(check, form, trial, facts, field, ctx.t)
            return Outcome([Reply(said), question(form, field, state, ctx)], state)
    if not finished:  # a multi-choice toggle: show the selection again, in place where possible
        return Outcome([replace(question(form, field, state, ctx), edit=True)], state)
    data["ans"][field.key] = answer
    data["sel"] = []
    if data.get("long_field") == field.key:  # the kept long text is answered for: let it go
        data.pop("long", None)
        data.pop("long_field", None)
    return await _advance(form, state, ctx)


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
    if form.checks:  # an answer edited since, or a figure of the group changed: asked again
        facts = await _facts(form, data["ans"], state, ctx)
        if (check := relations.broken(form, data["ans"], facts)) is not None:
            field = form.field(check.field)
            assert field is not None
            data.update(cur=field.key, edit=True, sel=[])
            asking = State(NAME, "ask", data)
            said = relations.message(check, form, data["ans"], facts, field, ctx.t)
            return Outcome([Reply(said), question(form, field, asking, ctx)], asking)
    return await _send(form, state, ctx)


async def _facts(form: FormDef, answers: dict[str, Any], state: State, ctx: Context, *,
                 about: str | None = None) -> relations.UnitFacts:
    """What the checks compare with (those involving `about`, when given); the household count is
    the one this report gives, if it does, and the unit is read only when a check needs its count."""
    given = next((answers.get(f.key) for f in form.fields if f.from_unit == "households"
                  and answers.get(f.key) is not None), None)
    needed = given is None and any(check.other == "unit.households" for check in form.checks
                                   if about is None or about in (check.field, check.other_field))
    facts = await relations.unit_facts(ctx, int(state.data["unit"]), households=needed)
    return relations.UnitFacts(int(given), facts.since, facts.today) if given is not None else facts


def _unit_change(form: FormDef, field: FieldDef, state: State) -> tuple[int | None, int] | None:
    """(old, new) when this answer changes the unit's figure it came from ("Giữ 87 hộ" not taken);
    old is None when the unit had none."""
    if field.from_unit != "households" or "hh" not in state.data:  # a form begun before the count was offered
        return None
    old, new = state.data.get("hh"), state.data["ans"].get(field.key)
    if new is None or old == new or not form.visible(field, state.data["ans"]):
        return None
    return (int(old) if old is not None else None), int(new)


def monthly_key(ctx: Context) -> str:
    """The month a monthly report filed now is for, "2026-11" (see monthly.rule_month)."""
    return monthly.month_key(monthly.rule_month(ctx.clock.now(), ctx))


async def _send(form: FormDef, state: State, ctx: Context) -> Outcome:
    """Saves the report (an urgent one also goes to the officials on duty) and returns to the menu."""
    data = state.data
    answers = {f.key: data["ans"].get(f.key) for f in form.fields if form.visible(f, data["ans"])}
    if form.monthly:  # the month chosen when it was opened (a correction keeps its own)
        answers["_month"] = data["ans"].get("_month") or monthly_key(ctx)
    # A second monthly report for a month replaces the first (kept), never a silent duplicate.
    supersedes = data.get("supersedes") or await monthly.replaced(form, answers, int(data["unit"]), ctx)
    old = await ctx.repo.report(supersedes) if supersedes else None
    old_day = old.event_day if old is not None else None
    report, replies, deliveries = await reporting.submit(
        form, answers, unit_id=int(data["unit"]), reporter_id=ctx.person_id, reporter_name=ctx.who.name,
        repo=ctx.repo, forms=ctx.forms, settings=ctx.settings, now=ctx.clock.now(), t=ctx.t,
        translate=ctx.translate, supersedes_id=supersedes)
    for field in form.fields:  # a household count typed instead of "Giữ 87 hộ" is the group's new one
        if (change := _unit_change(form, field, state)) is not None:
            await ctx.repo.set_households(int(data["unit"]), change[1])
            said = ctx.t("Đã cập nhật số hộ của tổ: {n}.", n=display(field, change[1], ctx))
            replies[0] = replace(replies[0], text=f"{replies[0].text}\n{said}")
    warnings, update = await monthly.after_filing(form, report, ctx, old_day)
    steps = [] if form.urgent else [b.ViewReport(report.id or 0).button(ctx.t("🔎 Xem báo cáo"))]
    return Outcome([*replies, *warnings], State("", "", {"sent": report.code}), deliveries,
                   next_steps=[*update, *steps])


def cancel_question(form: FormDef, ctx: Context) -> Reply:
    """✖️ Hủy with answers given: asked, not done at once (it sits next to ⬅️ Quay lại)."""
    t = ctx.t
    return Reply(t("Hủy «{title}»? Các câu đã trả lời sẽ mất.", title=t(form.title)),
                 ((b.Leave().button(t("🗑 Hủy, bỏ câu trả lời")), b.Continue().button(t("▶️ Tiếp tục điền"))),))
