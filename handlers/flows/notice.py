"""Writing a notice: (officials) the unit and who receives it, the text, an optional photo, when,
then a preview with the number of recipients and the time delivery takes, and confirmation."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from handlers import buttons as b
from handlers import images
from handlers.context import LEADER_ROLES, Context, Outcome, State
from handlers.delivery import notices
from handlers.delivery.outbox import after_quiet_hours
from handlers.errors import NotAllowed, UserError
from handlers.flows.wizard import Answer, Wizard, cancel_button
from handlers.flows.wizard import Step as WizardStep
from handlers.i18n import _
from handlers.messages import Keyboard, Reply, rows
from handlers.parsing import parse_date
from models.tables import Unit

NAME = "notice"
PAGE = 8


class Step(StrEnum):
    """The notice wizard's steps, as saved in the conversation's state."""

    UNIT = "unit"  # officials: which unit (and every group below it)
    AUDIENCE = "audience"
    TEXT = "text"
    PHOTO = "photo"
    WHEN = "when"
    SCHEDULE = "schedule"  # a date and time typed, for "Hẹn giờ gửi"
    PREVIEW = "preview"


async def start(ctx: Context) -> Outcome:
    """Opens the notice form: officials choose a unit first, leaders write to their group."""
    roles = await ctx.roles()
    officials = [h for h in roles if h.role == "official"]
    intro = [Reply(ctx.t("📢 Gửi thông báo"))]
    if officials:
        return await WIZARD.begin(Step.UNIT, {"roots": [h.unit.id for h in officials], "page": 0}, ctx, intro)
    leading = [h for h in roles if h.role in LEADER_ROLES]
    if not leading:
        raise NotAllowed()
    return await WIZARD.begin(Step.TEXT, {"unit": leading[0].unit.id, "audience": "residents"}, ctx, intro)


async def unit_choices(state: State, ctx: Context) -> list[Unit]:
    """The units an official may address: their own units and the units directly under them."""
    units: list[Unit] = []
    for unit_id in state.data["roots"]:
        root = await ctx.repo.unit(unit_id)
        if root is None:
            continue
        units.append(root)
        units += [u for u in await ctx.repo.units_under(root) if u.parent_id == root.id]
    return units


async def may_address(ctx: Context, unit: Unit) -> bool:
    return any((h.role == "official" and h.covers(unit.path)) or (h.role in LEADER_ROLES and h.unit.id == unit.id)
               for h in await ctx.roles())


async def ask_unit(state: State, ctx: Context, question: str) -> list[Reply]:
    """The units an official may address, eight to a page; shared by the notice and campaign wizards."""
    t = ctx.t
    units = await unit_choices(state, ctx)
    page = int(state.data.get("page", 0))
    shown = units[page * PAGE : (page + 1) * PAGE]
    buttons = [ctx.button("u", ("🏛 " if u.id in state.data["roots"] else "") + u.name, u.id) for u in shown]
    more = []
    if page > 0:
        more.append(ctx.button("prev", t("◀️ Trang trước")))
    if len(units) > (page + 1) * PAGE:
        more.append(ctx.button("next", t("Trang sau ▶️")))
    return [Reply(question, (*rows(buttons), tuple(more), (cancel_button(ctx),)))]


async def read_unit(answer: Answer, state: State, ctx: Context) -> str:
    """A page turn (stays on the step "unit") or the chosen unit (goes on to "audience")."""
    if answer.action in ("prev", "next"):
        state.data["page"] = max(0, int(state.data.get("page", 0)) + (1 if answer.action == "next" else -1))
        return Step.UNIT
    unit_id = answer.number("u")
    unit = await ctx.repo.unit(unit_id) if unit_id is not None else None
    if unit is None or not await may_address(ctx, unit):
        raise UserError(_("Hãy chọn một đơn vị trong danh sách."))
    state.data["unit"] = unit.id
    return Step.AUDIENCE


async def _ask_unit(state: State, ctx: Context) -> list[Reply]:
    return await ask_unit(state, ctx, ctx.t("Gửi cho đơn vị nào? (gồm mọi tổ bên dưới)"))


async def _ask_audience(state: State, ctx: Context) -> list[Reply]:
    buttons = [ctx.button("a", ctx.t(label), key) for key, label in notices.AUDIENCES.items()]
    return [Reply(ctx.t("Gửi cho ai?"), (*rows(buttons), (cancel_button(ctx),)))]


async def _read_audience(answer: Answer, state: State, ctx: Context) -> str:
    audience = answer.arg("a")
    if audience not in notices.AUDIENCES:
        raise UserError(_("Hãy bấm một trong các nút bên dưới."))
    state.data["audience"] = audience
    return Step.TEXT


async def _ask_text(state: State, ctx: Context) -> list[Reply]:
    limit = ctx.settings.notices.max_chars
    return [Reply(ctx.t("Gõ nội dung thông báo (tối đa {n} ký tự).", n=ctx.t.number(limit)),
                  rows([cancel_button(ctx)]))]


async def _read_text(answer: Answer, state: State, ctx: Context) -> str:
    limit, text = ctx.settings.notices.max_chars, answer.text
    if not text:
        raise UserError(_("Thông báo đang trống. Hãy gõ nội dung."))
    if len(text) > limit:
        raise UserError(_("Thông báo dài {n} ký tự, quá giới hạn {limit}. Hãy viết ngắn lại."),
                        n=ctx.t.number(len(text)), limit=ctx.t.number(limit))
    state.data["text"] = text
    return Step.PREVIEW if state.data.get("edited") else Step.PHOTO


async def _ask_photo(state: State, ctx: Context) -> list[Reply]:
    t = ctx.t
    return [Reply(t("Gửi một ảnh kèm thông báo, hoặc bấm «Không cần ảnh»."),
                  ((ctx.button("nophoto", t("Không cần ảnh")),), (cancel_button(ctx),)),
                  keyboard=Keyboard.REQUEST_PHOTO)]


async def _read_photo(answer: Answer, state: State, ctx: Context) -> str:
    photo = answer.msg.photo
    if photo is not None:
        if len(photo.content) > ctx.settings.limits.photo_max_bytes:
            raise UserError(_("Ảnh quá lớn. Hãy gửi ảnh nhỏ hơn, hoặc bấm «Không cần ảnh»."))
        state.data["photo"] = await images.store(photo, ctx)
    elif answer.action != "nophoto":
        raise UserError(_("Hãy gửi một ảnh, hoặc bấm «Không cần ảnh»."))
    return Step.WHEN


async def _ask_when(state: State, ctx: Context) -> list[Reply]:
    t = ctx.t
    buttons = [ctx.button("now", t("Gửi ngay")), ctx.button("later", t("Hẹn giờ gửi"))]
    if any(h.role == "official" for h in await ctx.roles()):
        buttons.append(ctx.button("urgent", t("🚨 Khẩn: gửi ngay, kể cả ban đêm")))
    return [Reply(t("Khi nào gửi?"), (*rows(buttons), (cancel_button(ctx),)))]


async def _read_when(answer: Answer, state: State, ctx: Context) -> str:
    if answer.action == "later":
        return Step.SCHEDULE
    if answer.action not in ("now", "urgent"):
        raise UserError(_("Hãy bấm một trong các nút bên dưới."))
    state.data["urgent"] = answer.action == "urgent" and any(h.role == "official" for h in await ctx.roles())
    state.data.pop("at", None)
    return Step.PREVIEW


def _example(ctx: Context) -> str:
    """Tomorrow at 07:00, as typed: an example that is never in the past."""
    return f"{(ctx.clock.now() + timedelta(days=1)).astimezone(ctx.settings.app.tz):%d/%m} 07:00"


async def _ask_schedule(state: State, ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("Gõ ngày giờ gửi, ví dụ {example}.", example=_example(ctx)), rows([cancel_button(ctx)]))]


async def _read_schedule(answer: Answer, state: State, ctx: Context) -> str:
    when = _parse_when(answer.text, ctx)
    if when is None:
        raise UserError(_("Không đọc được «{text}». Gõ ví dụ {example}."), text=answer.text[:30],
                        example=_example(ctx))
    if when <= ctx.clock.now():
        raise UserError(_("Thời điểm đó đã qua. Hãy chọn một lúc trong tương lai."))
    state.data["at"] = when.isoformat()
    return Step.PREVIEW


async def _ask_preview(state: State, ctx: Context) -> list[Reply]:
    return [await _preview(state, ctx)]


async def _read_preview(answer: Answer, state: State, ctx: Context) -> str | Outcome:
    if answer.action == "edit":
        state.data["edited"] = True
        return Step.TEXT
    if answer.action != "send":
        raise UserError(_("Bấm «Gửi thông báo» để gửi, hoặc «Sửa nội dung»."))
    return await _send(state, ctx)


async def _preview(state: State, ctx: Context) -> Reply:
    t = ctx.t
    unit = await ctx.repo.unit(int(state.data["unit"]))
    assert unit is not None
    counts = await ctx.repo.count_recipients(unit.path, state.data["audience"])
    total = sum(counts.values())
    send_at = datetime.fromisoformat(state.data["at"]) if state.data.get("at") else ctx.clock.now()
    urgent = bool(state.data.get("urgent"))
    due = send_at if urgent else after_quiet_hours(send_at, ctx.settings)
    lines = [t("Xem trước thông báo:"), "", state.data["text"], ""]
    if state.data.get("photo"):
        lines.append(t("📷 Kèm một ảnh."))
    lines.append(t("Gửi tới: {audience} — {unit}", audience=t(notices.AUDIENCES[state.data["audience"]]),
                   unit=unit.name))
    lines.append(t("Số người nhận: {n}", n=t.number(total)))
    lines.append(t("Bắt đầu gửi: {when}", when=t.datetime(due)))
    if due > send_at:
        lines.append(t("(Giờ yên tĩnh {start}–{end}: thông báo thường chờ đến sáng.)",
                       start=ctx.settings.notices.quiet_start, end=ctx.settings.notices.quiet_end))
    lines.append(t("Gửi xong trong: {duration}", duration=notices.describe_duration(
        notices.estimate_seconds(counts, ctx.settings), t)))
    buttons = [[ctx.button("send", t("✅ Gửi thông báo"))],
               [ctx.button("edit", t("✏️ Sửa nội dung")), cancel_button(ctx)]]
    if total == 0:
        lines.append(t("Chưa có ai đăng ký nhận tin ở đây, nên chưa gửi được."))
        buttons = [[cancel_button(ctx)]]
    return Reply("\n".join(lines), tuple(tuple(row) for row in buttons), photo_id=state.data.get("photo"))


def _parse_when(text: str, ctx: Context) -> datetime | None:
    parts = text.replace("lúc", " ").split()
    if len(parts) != 2 or ":" not in parts[1]:
        return None
    tz = ctx.settings.app.tz
    day = parse_date(parts[0], ctx.clock.now().astimezone(tz).date())
    try:
        hours, minutes = (int(x) for x in parts[1].split(":"))
        return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=tz) if day else None
    except ValueError:
        return None


async def _send(state: State, ctx: Context) -> Outcome:
    t = ctx.t
    data = state.data
    unit = await ctx.repo.unit(int(data["unit"]))
    if unit is None or not await may_address(ctx, unit):
        raise NotAllowed(_("Đơn vị này không thuộc địa bàn của bạn."))
    send_at = datetime.fromisoformat(data["at"]) if data.get("at") else ctx.clock.now()
    notice = await notices.create(ctx.repo, sender_id=ctx.person_id, sender_name=ctx.who.name, unit=unit,
                                  audience=data["audience"], text=data["text"], photo_id=data.get("photo"),
                                  urgent=bool(data.get("urgent")), send_at=send_at, settings=ctx.settings,
                                  translate=ctx.translate)
    if not notice.total:
        raise UserError(_("Chưa có ai đăng ký nhận tin ở đây, nên chưa gửi được."))
    done = t.ngettext("✅ Đã lên lịch gửi thông báo tới {n} người, bắt đầu lúc {when} (mã {code}). "
                      "Bạn sẽ được báo tiến độ và kết quả.",
                      "✅ Đã lên lịch gửi thông báo tới {n} người, bắt đầu lúc {when} (mã {code}). "
                      "Bạn sẽ được báo tiến độ và kết quả.", notice.total, code=notice.code,
                      when=t.datetime(notice.send_at))
    return Outcome([Reply(done)], State("", "", {"sent": notice.code}),
                   next_steps=[b.NoticeReport(notice.id or 0).button(t("📤 Xem kết quả gửi"))])



WIZARD = Wizard(NAME, [
    WizardStep(Step.UNIT, _ask_unit, read_unit),
    WizardStep(Step.AUDIENCE, _ask_audience, _read_audience),
    WizardStep(Step.TEXT, _ask_text, _read_text),
    WizardStep(Step.PHOTO, _ask_photo, _read_photo),
    WizardStep(Step.WHEN, _ask_when, _read_when),
    WizardStep(Step.SCHEDULE, _ask_schedule, _read_schedule),
    WizardStep(Step.PREVIEW, _ask_preview, _read_preview),
], cancelled=_("Đã hủy, không gửi thông báo nào."), progress=lambda state: bool(state.data.get("text")))
