"""Feedback (phản ánh): a resident writes to the group's leader — text, a photo, a location — and
the leader answers, passes it to the ward (it becomes a feedback report; asked to confirm, with an
optional note that reaches the ward's officials) or closes it (asked to confirm); the resident is
told what happened. Messages name the feedback by its first words, not by its code.

Three wizards (handlers/flows/wizard.py): the resident's feedback (one step that collects text,
photo and location until «Gửi phản ánh»), the leader's answer, and passing it to the ward."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from handlers import buttons as b
from handlers import images
from handlers.context import LEADER_ROLES, Context, Outcome, State
from handlers.errors import NotAllowed, UserError
from handlers.flows.wizard import Answer, Wizard, cancel_button
from handlers.flows.wizard import Step as WizardStep
from handlers.i18n import Translator, _
from handlers.messages import Button, Delivery, Keyboard, Reply, rows
from handlers.parsing import NO_GPS_FIX, location_problem
from handlers.reports import reporting
from handlers.text import shorten
from models.codes import new_code
from models.tables import Feedback, Unit

NAME = "feedback"
ANSWER = "fb_answer"
PASS = "fb_pass"
MAX_CHARS = 2000
NOTE_CHARS = 500
ROLE_NAMES = {"leader": _("tổ trưởng"), "deputy": _("tổ phó"), "official": _("cán bộ phường")}


class Step(StrEnum):
    """The steps of the feedback wizards, as saved in the conversation's state."""

    COLLECT = "collect"  # the resident's text, photo, location, until «Gửi phản ánh»
    ASK = "ask"  # the leader's answer
    CONFIRM = "confirm"  # passing to the ward: confirm, with an optional note


def title(feedback: Feedback, t: Translator) -> str:
    """The feedback as people name it: «its first words…» (or «ảnh» when it is only a photo)."""
    return f"«{shorten(feedback.text, 40)}»" if feedback.text else t("«ảnh»")
STATUS = {"new": _("Mới"), "answered": _("Đã trả lời"), "passed": _("Đã chuyển lên phường"), "closed": _("Đã đóng")}


async def start(ctx: Context, *, text: str = "") -> Outcome:
    """Opens the feedback form for a resident of a group (with `text` as its draft, when typed
    outside the form first)."""
    if not [h for h in await ctx.roles() if h.role == "resident"]:
        raise NotAllowed(_("Chỉ người dân đã tham gia một tổ mới gửi phản ánh được. Hãy nhập mã mời của tổ."))
    return await WIZARD.begin(Step.COLLECT, {"text": text, "photo": None, "loc": None}, ctx)


async def _ask_collect(state: State, ctx: Context) -> list[Reply]:
    t = ctx.t
    data = state.data
    lines = [t("💬 Gửi phản ánh tới tổ trưởng. Gõ nội dung; có thể gửi kèm một ảnh hoặc vị trí. "
               "Xong thì bấm «Gửi phản ánh».")]
    got = []
    if data["text"]:
        got.append(t("nội dung"))
    if data["photo"]:
        got.append(t("ảnh"))
    if data["loc"]:
        got.append(t("vị trí"))
    if got:
        lines.append(t("Đã có: {items}.", items=", ".join(got)))
    buttons: list[Button] = []
    if data["text"] or data["photo"]:
        buttons.append(ctx.button("send", t("✅ Gửi phản ánh")))
    buttons.append(cancel_button(ctx))
    return [Reply("\n".join(lines), rows(buttons, per_row=2), keyboard=Keyboard.REQUEST_PHOTO)]


async def _read_collect(answer: Answer, state: State, ctx: Context) -> str | Outcome:
    data, msg = state.data, answer.msg
    if answer.action == "send":
        if not (data["text"] or data["photo"]):
            raise UserError(_("Hãy gõ nội dung hoặc gửi ảnh trước khi gửi phản ánh."))
        return await _submit(state, ctx)
    if answer.action is not None:
        raise UserError(_("Nút này không dùng ở đây."))
    if msg.photo is not None:
        if len(msg.photo.content) > ctx.settings.limits.photo_max_bytes:
            raise UserError(_("Ảnh quá lớn. Hãy gửi ảnh nhỏ hơn."))
        data["photo"] = await images.store(msg.photo, ctx)
    elif msg.location is not None:
        lat, lon = msg.location.latitude, msg.location.longitude
        problem = location_problem(lat, lon, ctx.settings.app.area_bbox)
        if problem == "zero":  # refused, and what was collected stays: the step is asked again
            raise UserError(NO_GPS_FIX)
        if problem:
            raise UserError(_("Vị trí {lat}, {lon} nằm ngoài {area}. Vui lòng gửi vị trí trong địa bàn."),
                            lat=f"{lat:.4f}", lon=f"{lon:.4f}", area=ctx.settings.app.area_name)
        data["loc"] = {"lat": lat, "lon": lon}
    else:
        if not answer.text:
            raise UserError(_("Tin nhắn trống. Hãy gõ nội dung phản ánh."))
        combined = f"{data['text']}\n{answer.text}".strip()
        if len(combined) > MAX_CHARS:
            raise UserError(_("Phản ánh dài quá {n} ký tự. Hãy viết ngắn lại."), n=ctx.t.number(MAX_CHARS))
        data["text"] = combined
    return Step.COLLECT


def leader_message(feedback: Feedback, resident: str, group: str, t: Translator) -> Reply:
    lines = [t("💬 Phản ánh của {name} — {group}", name=resident, group=group)]
    if feedback.text:
        lines += ["", feedback.text]
    if feedback.location:
        lines.append(f"📍 {feedback.location['lat']:.5f}, {feedback.location['lon']:.5f}")
    lines += ["", t("Mã phản ánh: {code}", code=feedback.code)]
    feedback_id = feedback.id or 0
    buttons = ((b.AnswerFeedback(feedback_id).button(t("✍️ Trả lời")),
                b.PassFeedback(feedback_id).button(t("📤 Chuyển lên phường"))),
               (b.CloseFeedback(feedback_id).button(t("✔️ Đóng")),))
    return Reply("\n".join(lines), buttons, photo_id=feedback.photo_id)


async def _submit(state: State, ctx: Context) -> Outcome:
    t = ctx.t
    data = state.data
    held = next(h for h in await ctx.roles() if h.role == "resident")
    feedback = Feedback(code=new_code(6), resident_id=ctx.person_id, unit_id=held.unit.id, unit_path=held.unit.path,
                        text=data["text"], photo_id=data["photo"], location=data["loc"])
    await ctx.repo.add(feedback)
    leaders = await ctx.repo.leaders_of(held.unit.id)
    if not leaders:  # no leader registered yet: the ward's officials receive it
        unit = await ctx.repo.unit(held.unit.id)
        assert unit is not None
        ward = await reporting.ward_of(ctx.repo, unit)
        leaders = await reporting.recipients(ctx.repo, ward.id or 0)
    deliveries = [Delivery(person_id, leader_message(feedback, ctx.who.name, held.unit.name, ctx.translate(lang)))
                  for person_id, _name, lang in leaders]
    done = t("✅ Đã gửi phản ánh {title} tới tổ trưởng. Bạn sẽ được báo khi có phản hồi. (Mã {code})",
             title=title(feedback, t), code=feedback.code)
    return Outcome([Reply(done)], None, deliveries, next_steps=[_others(ctx)])


async def load_for_leader(ctx: Context, feedback_id: int) -> tuple[Feedback, Unit]:
    """The feedback and its group, if this leader (or an official above) may handle it."""
    return await _load(ctx, feedback_id)


async def _load(ctx: Context, feedback_id: int) -> tuple[Feedback, Unit]:
    feedback = await ctx.repo.feedback(feedback_id)
    if feedback is None:
        raise UserError(_("Không tìm thấy phản ánh này."))
    roles = await ctx.roles()
    if not any((h.role in LEADER_ROLES and h.unit.id == feedback.unit_id)
               or (h.role == "official" and h.covers(feedback.unit_path)) for h in roles):
        raise NotAllowed(_("Phản ánh này không thuộc tổ của bạn."))
    unit = await ctx.repo.unit(feedback.unit_id)
    assert unit is not None
    return feedback, unit


async def _finished(feedback: Feedback, ctx: Context) -> UserError | None:
    """Says who closed or passed on the feedback, and when, if someone did."""
    if feedback.status in ("passed", "closed"):
        name = await ctx.repo.person_name(feedback.handled_by) if feedback.handled_by else "?"
        return UserError(_("Phản ánh {title} đã được xử lý ({status}) — {name}, lúc {when}."),
                         title=title(feedback, ctx.t), status=ctx.t(STATUS[feedback.status]), name=name,
                         when=ctx.t.datetime(feedback.updated_at))
    return None


async def _claim(feedback: Feedback, status: str, ctx: Context, **values: Any) -> None:
    """Compare-and-set on the status just read: if another leader closed or passed it on first,
    they win and this person is told who and when (nothing is recorded or sent)."""
    if not await ctx.repo.set_feedback_status(feedback, status=status, expected=feedback.status,
                                              person_id=ctx.person_id, at=ctx.clock.now(), **values):
        raise await _finished(feedback, ctx) or UserError(
            _("Phản ánh {title} vừa được người khác cập nhật; hãy thử lại."), title=title(feedback, ctx.t))


async def _role_name(ctx: Context, feedback: Feedback) -> str:
    """What the person acting on the feedback is to the resident: tổ trưởng, tổ phó, cán bộ phường."""
    roles = await ctx.roles()
    held = next((h for h in roles if h.role in LEADER_ROLES and h.unit.id == feedback.unit_id), None) or next(
        (h for h in roles if h.role == "official"), None)
    return ROLE_NAMES[held.role] if held else ROLE_NAMES["leader"]


async def ask_answer(ctx: Context, feedback_id: int) -> Outcome:
    feedback, _unit = await _load(ctx, feedback_id)
    if (error := await _finished(feedback, ctx)) is not None:
        raise error
    return await ANSWER_WIZARD.begin(Step.ASK, {"feedback": feedback.id, "title": title(feedback, ctx.t)}, ctx)


async def _ask_answer(state: State, ctx: Context) -> list[Reply]:
    t = ctx.t
    named = state.data.get("title") or state.data.get("code", "")  # "code": states saved before names
    return [Reply(t("Gõ câu trả lời cho phản ánh {title} (người dân sẽ đọc được).", title=named),
                  rows([cancel_button(ctx)]))]


async def _read_answer(answer: Answer, state: State, ctx: Context) -> str | Outcome:
    t = ctx.t
    if not 2 <= len(answer.text) <= 2000:
        raise UserError(_("Câu trả lời cần từ 2 đến 2.000 ký tự."))
    feedback, _unit = await _load(ctx, int(state.data["feedback"]))
    try:  # closed or passed on while this leader was typing: they are told by whom
        if (finished := await _finished(feedback, ctx)) is not None:
            raise finished
        await _claim(feedback, "answered", ctx, answer=answer.text)
    except UserError as error:
        return Outcome([Reply(t(error.message, **error.values))], None)
    other = ctx.translate(await ctx.repo.person_language(feedback.resident_id))
    told = other("💬 {name} ({role}) trả lời phản ánh {title} của bạn:\n{answer}", name=ctx.who.name,
                 role=other(await _role_name(ctx, feedback)), title=title(feedback, other), answer=answer.text)
    resident = await ctx.repo.person_name(feedback.resident_id)
    return Outcome([Reply(t("Đã gửi câu trả lời cho {name}.", name=resident))], None,
                   [Delivery(feedback.resident_id, Reply(told))], next_steps=[_others(ctx)])


async def pass_to_ward(ctx: Context, feedback_id: int) -> Outcome:
    """Asks to confirm passing the feedback to the ward, with an optional note for its officials."""
    feedback, unit = await _load(ctx, feedback_id)
    if (error := await _finished(feedback, ctx)) is not None:
        raise error
    ward = await reporting.ward_of(ctx.repo, unit)
    data = {"feedback": feedback.id, "title": title(feedback, ctx.t), "ward": ward.name, "note": ""}
    return await PASS_WIZARD.begin(Step.CONFIRM, data, ctx)


async def _ask_pass(state: State, ctx: Context) -> list[Reply]:
    t = ctx.t
    data = state.data
    lines = [t("Chuyển phản ánh {title} lên {ward}? Người dân sẽ được báo.", title=data["title"], ward=data["ward"])]
    if data.get("note"):
        lines.append(t("Ghi chú cho cán bộ phường: {note}", note=data["note"]))
        lines.append(t("Gõ lại nếu muốn sửa ghi chú."))
    else:
        lines.append(t("Có thể gõ thêm ghi chú cho cán bộ phường (không bắt buộc)."))
    buttons = [ctx.button("pass", t("📤 Chuyển lên phường")), cancel_button(ctx)]
    return [Reply("\n".join(lines), rows(buttons, per_row=2))]


async def _read_pass(answer: Answer, state: State, ctx: Context) -> str | Outcome:
    if answer.action == "pass":
        return await _pass(ctx, int(state.data["feedback"]), str(state.data.get("note") or ""))
    if answer.action is not None or not answer.text:
        raise UserError(_("Gõ ghi chú, hoặc bấm «Chuyển lên phường»."))
    if len(answer.text) > NOTE_CHARS:
        raise UserError(_("Ghi chú dài quá {n} ký tự. Hãy viết ngắn lại."), n=ctx.t.number(NOTE_CHARS))
    state.data["note"] = answer.text
    return Step.CONFIRM


async def _pass(ctx: Context, feedback_id: int, note: str) -> Outcome:
    """Turns the feedback into a feedback report to the ward; the resident is told, and the ward's
    officials receive it with the leader's note."""
    feedback, unit = await _load(ctx, feedback_id)
    if (error := await _finished(feedback, ctx)) is not None:
        return Outcome([Reply(ctx.t(error.message, **error.values))], None)
    form = ctx.forms.get("dan_chu_phan_anh")
    answers: dict[str, Any] = {"linh_vuc": "khac", "noi_dung": feedback.text or "(ảnh)", "da_chuyen_phuong": True,
                               "nguoi_dan": feedback.code}
    if note:
        answers["_ghi_chu"] = note
    if feedback.photo_id:
        answers["anh"] = {"attachment": feedback.photo_id}
    if feedback.location:
        answers["vi_tri"] = {**feedback.location, "address": ""}
    if form is None:
        raise UserError(_("Chưa có biểu mẫu phản ánh để chuyển lên phường."))
    await _claim(feedback, "passed", ctx)  # first, so that a lost race files no report
    report, _replies, _deliveries = await reporting.submit(
        form, answers, unit_id=unit.id or 0, reporter_id=ctx.person_id, reporter_name=ctx.who.name, repo=ctx.repo,
        forms=ctx.forms, settings=ctx.settings, now=ctx.clock.now(), t=ctx.t, translate=ctx.translate)
    feedback.report_id = report.id
    ward = await reporting.ward_of(ctx.repo, unit)
    other = ctx.translate(await ctx.repo.person_language(feedback.resident_id))
    told = other("📤 Phản ánh {title} của bạn đã được {role} chuyển lên {ward} (mã báo cáo {report}).",
                 title=title(feedback, other), role=other(await _role_name(ctx, feedback)), ward=ward.name,
                 report=report.code)
    deliveries = [Delivery(feedback.resident_id, Reply(told))]
    for person_id, _name, language in await reporting.recipients(ctx.repo, ward.id or 0):
        other = ctx.translate(language)  # an official of the ward
        lines = [other("📤 {name} ({group}) chuyển lên phường phản ánh {title} của người dân.", name=ctx.who.name,
                       group=unit.name, title=title(feedback, other))]
        if note:
            lines.append(other("Ghi chú của tổ: {note}", note=note))
        lines.append(other("Mã báo cáo: {report}", report=report.code))
        view = b.ViewReport(report.id or 0).button(other("🔎 Xem báo cáo"))
        deliveries.append(Delivery(person_id, Reply("\n".join(lines), ((view,),))))
    done = ctx.t("Đã chuyển phản ánh {title} lên {ward}. Mã báo cáo: {report}.", title=title(feedback, ctx.t),
                 ward=ward.name, report=report.code)
    return Outcome([Reply(done)], None, deliveries, next_steps=[_others(ctx)])


async def close(ctx: Context, feedback_id: int, sure: int = 0) -> Outcome:
    """Closes the feedback once the leader confirms (unless someone closed or passed it on first);
    the resident is told."""
    feedback, _unit = await _load(ctx, feedback_id)
    if (error := await _finished(feedback, ctx)) is not None:
        raise error
    t = ctx.t
    if not sure:
        question = t("Đóng phản ánh {title}? Người dân sẽ được báo là tổ đã ghi nhận.", title=title(feedback, t))
        buttons = (b.CloseFeedback(feedback.id or 0, 1).button(t("✔️ Đóng phản ánh")),
                   b.AnswerFeedback(feedback.id or 0).button(t("✍️ Trả lời trước")))
        return Outcome([Reply(question, (buttons, (b.Menu().button(t("Không")),)))], None, question=True)
    await _claim(feedback, "closed", ctx)
    other = ctx.translate(await ctx.repo.person_language(feedback.resident_id))
    told = other("✔️ Phản ánh {title} của bạn đã được {role} ghi nhận và đóng.",
                 role=other(await _role_name(ctx, feedback)), title=title(feedback, other))
    return Outcome([Reply(t("Đã đóng phản ánh {title}.", title=title(feedback, t)))], None,
                   [Delivery(feedback.resident_id, Reply(told))], next_steps=[_others(ctx)])


def _others(ctx: Context) -> Button:
    """The next step after handling one feedback: the others still waiting."""
    return b.OpenFeedback().button(ctx.t("📨 Xem phản ánh khác"))


WIZARD = Wizard(NAME, [WizardStep(Step.COLLECT, _ask_collect, _read_collect)],
                cancelled=_("Đã hủy, phản ánh chưa được gửi."),
                progress=lambda state: bool(state.data.get("text") or state.data.get("photo")))
ANSWER_WIZARD = Wizard(ANSWER, [WizardStep(Step.ASK, _ask_answer, _read_answer)],
                       cancelled=_("Đã hủy, chưa trả lời."))
PASS_WIZARD = Wizard(PASS, [WizardStep(Step.CONFIRM, _ask_pass, _read_pass)],
                     cancelled=_("Đã hủy, phản ánh chưa được chuyển."))
