"""Feedback (phản ánh): a resident writes to the group's leader — text, a photo, a location — and
the leader answers, passes it to the ward (it becomes a feedback report) or closes it; the
resident is told what happened."""

from __future__ import annotations

from typing import Any

from handlers import images
from handlers.context import LEADER_ROLES, Context, Outcome, State
from handlers.errors import NotAllowed, UserError
from handlers.flows.menu import main_menu
from handlers.i18n import _
from handlers.messages import Button, Delivery, Incoming, Keyboard, Reply, rows
from handlers.reports import reporting
from handlers.text import clean
from models.codes import new_code
from models.tables import Feedback, Unit

NAME = "feedback"
ANSWER = "fb_answer"
MAX_CHARS = 2000
STATUS = {"new": _("Mới"), "answered": _("Đã trả lời"), "passed": _("Đã chuyển lên phường"), "closed": _("Đã đóng")}


async def start(ctx: Context) -> Outcome:
    """Opens the feedback form for a resident of a group."""
    if not [h for h in await ctx.roles() if h.role == "resident"]:
        raise NotAllowed(_("Chỉ người dân đã tham gia một tổ mới gửi phản ánh được. Hãy nhập mã mời của tổ."))
    state = State(NAME, "collect", {"text": "", "photo": None, "loc": None})
    return Outcome(await FeedbackFlow().show(state, ctx), state)


class FeedbackFlow:
    name = NAME

    async def show(self, state: State, ctx: Context) -> list[Reply]:
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
        buttons.append(ctx.button("cancel", t("✖️ Hủy")))
        return [Reply("\n".join(lines), rows(buttons, per_row=2), keyboard=Keyboard.REQUEST_PHOTO)]

    async def handle(self, msg: Incoming, state: State, ctx: Context, action: str | None) -> Outcome:
        t = ctx.t
        data = state.data
        if action == "cancel":
            return Outcome(await main_menu(ctx, intro=t("Đã hủy, phản ánh chưa được gửi.")), None)
        if action == "send":
            if not (data["text"] or data["photo"]):
                raise UserError(_("Hãy gõ nội dung hoặc gửi ảnh trước khi gửi phản ánh."))
            return await _submit(state, ctx)
        if action is not None:
            raise UserError(_("Nút này không dùng ở đây."))
        if msg.photo is not None:
            if len(msg.photo.content) > ctx.settings.limits.photo_max_bytes:
                raise UserError(_("Ảnh quá lớn. Hãy gửi ảnh nhỏ hơn."))
            data["photo"] = await images.store(msg.photo, ctx)
        elif msg.location is not None:
            data["loc"] = {"lat": msg.location.latitude, "lon": msg.location.longitude}
        else:
            text = clean(msg.text or "")
            if not text:
                raise UserError(_("Tin nhắn trống. Hãy gõ nội dung phản ánh."))
            combined = f"{data['text']}\n{text}".strip()
            if len(combined) > MAX_CHARS:
                raise UserError(_("Phản ánh dài quá {n} ký tự. Hãy viết ngắn lại."), n=t.number(MAX_CHARS))
            data["text"] = combined
        return Outcome(await self.show(state, ctx), state)


def _leader_message(feedback: Feedback, resident: str, group: str, t: Any) -> Reply:
    lines = [t("💬 PHẢN ÁNH {code} từ {name} — {group}", code=feedback.code, name=resident, group=group)]
    if feedback.text:
        lines += ["", feedback.text]
    if feedback.location:
        lines.append(f"📍 {feedback.location['lat']:.5f}, {feedback.location['lon']:.5f}")
    buttons = ((Button(f"m.fa.{feedback.id}", t("✍️ Trả lời")),
                Button(f"m.fp.{feedback.id}", t("📤 Chuyển lên phường"))),
               (Button(f"m.fc.{feedback.id}", t("✔️ Đóng")),))
    return Reply("\n".join(lines), buttons, photo_id=feedback.photo_id)


async def _submit(state: State, ctx: Context) -> Outcome:
    t = ctx.t
    data = state.data
    held = next(h for h in await ctx.roles() if h.role == "resident")
    feedback = Feedback(code=new_code(6), resident_id=ctx.person_id, unit_id=held.unit.id, unit_path=held.unit.path,
                        text=data["text"], photo_id=data["photo"], location=data["loc"])
    ctx.repo.session.add(feedback)
    await ctx.repo.session.flush()
    leaders = await ctx.repo.leaders_of(held.unit.id)
    if not leaders:  # no leader registered yet: the ward's officials receive it
        unit = await ctx.repo.unit(held.unit.id)
        assert unit is not None
        ward = await reporting.ward_of(ctx.repo, unit)
        leaders = await reporting.recipients(ctx.repo, ward.id or 0)
    deliveries = [Delivery(person_id, _leader_message(feedback, ctx.who.name, held.unit.name, ctx.translate(lang)))
                  for person_id, _name, lang in leaders]
    done = t("✅ Đã gửi phản ánh {code}. Bạn sẽ được báo khi có phản hồi.", code=feedback.code)
    return Outcome([Reply(done), *await main_menu(ctx)], None, deliveries)


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
        return UserError(_("Phản ánh {code} đã được xử lý ({status}) — {name}, lúc {when}."), code=feedback.code,
                         status=ctx.t(STATUS[feedback.status]), name=name, when=ctx.t.datetime(feedback.updated_at))
    return None


async def _claim(feedback: Feedback, status: str, ctx: Context, **values: Any) -> None:
    """Compare-and-set on the status just read: if another leader closed or passed it on first,
    they win and this person is told who and when (nothing is recorded or sent)."""
    if not await ctx.repo.set_feedback_status(feedback, status=status, expected=feedback.status,
                                              person_id=ctx.person_id, at=ctx.clock.now(), **values):
        raise await _finished(feedback, ctx) or UserError(
            _("Phản ánh {code} vừa được người khác cập nhật; hãy thử lại."), code=feedback.code)


async def ask_answer(ctx: Context, feedback_id: int) -> Outcome:
    feedback, _unit = await _load(ctx, feedback_id)
    if (error := await _finished(feedback, ctx)) is not None:
        raise error
    state = State(ANSWER, "ask", {"feedback": feedback.id, "code": feedback.code})
    return Outcome(await AnswerFlow().show(state, ctx), state)


class AnswerFlow:
    """One question: the leader's answer to a resident's feedback."""

    name = ANSWER

    async def show(self, state: State, ctx: Context) -> list[Reply]:
        t = ctx.t
        return [Reply(t("Gõ câu trả lời cho phản ánh {code} (người dân sẽ đọc được).", code=state.data["code"]),
                      rows([ctx.button("cancel", t("✖️ Hủy"))]))]

    async def handle(self, msg: Incoming, state: State, ctx: Context, action: str | None) -> Outcome:
        t = ctx.t
        if action == "cancel":
            return Outcome([Reply(t("Đã hủy, chưa trả lời."))], None)
        answer = clean(msg.text or "")
        if not 2 <= len(answer) <= 2000:
            return Outcome([Reply(t("Câu trả lời cần từ 2 đến 2.000 ký tự.")), *await self.show(state, ctx)], state)
        feedback, _unit = await _load(ctx, int(state.data["feedback"]))
        try:  # closed or passed on while this leader was typing: they are told by whom
            if (finished := await _finished(feedback, ctx)) is not None:
                raise finished
            await _claim(feedback, "answered", ctx, answer=answer)
        except UserError as error:
            return Outcome([Reply(t(error.message, **error.values))], None)
        other = ctx.translate(await ctx.repo.person_language(feedback.resident_id))
        told = other("💬 Tổ trưởng {name} trả lời phản ánh {code}:\n{answer}", name=ctx.who.name,
                     code=feedback.code, answer=answer)
        return Outcome([Reply(t("Đã gửi câu trả lời cho người dân."))], None,
                       [Delivery(feedback.resident_id, Reply(told))])


async def pass_to_ward(ctx: Context, feedback_id: int) -> Outcome:
    """Turns the feedback into a feedback report to the ward; the resident is told."""
    feedback, unit = await _load(ctx, feedback_id)
    if (error := await _finished(feedback, ctx)) is not None:
        raise error
    form = ctx.forms.get("dan_chu_phan_anh")
    answers: dict[str, Any] = {"linh_vuc": "khac", "noi_dung": feedback.text or "(ảnh)", "da_chuyen_phuong": True,
                               "nguoi_dan": feedback.code}
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
    told = other("📤 Phản ánh {code} đã được tổ trưởng chuyển lên {ward} (mã báo cáo {report}).",
                 code=feedback.code, ward=ward.name, report=report.code)
    done = ctx.t("Đã chuyển phản ánh {code} lên {ward}. Mã báo cáo: {report}.", code=feedback.code, ward=ward.name,
                 report=report.code)
    return Outcome([Reply(done)], None, [Delivery(feedback.resident_id, Reply(told))])


async def close(ctx: Context, feedback_id: int) -> Outcome:
    """Closes the feedback (unless someone closed or passed it on first); the resident is told."""
    feedback, _unit = await _load(ctx, feedback_id)
    if (error := await _finished(feedback, ctx)) is not None:
        raise error
    await _claim(feedback, "closed", ctx)
    other = ctx.translate(await ctx.repo.person_language(feedback.resident_id))
    told = other("✔️ Phản ánh {code} đã được tổ trưởng ghi nhận và đóng.", code=feedback.code)
    return Outcome([Reply(ctx.t("Đã đóng phản ánh {code}.", code=feedback.code))], None,
                   [Delivery(feedback.resident_id, Reply(told))])
