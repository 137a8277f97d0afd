"""Writing a notice: (officials) the unit and who receives it, the text, an optional photo, when,
then a preview with the number of recipients and the time delivery takes, and confirmation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from handlers import images
from handlers.context import LEADER_ROLES, Context, Outcome, State
from handlers.delivery import notices
from handlers.delivery.outbox import after_quiet_hours
from handlers.errors import NotAllowed, UserError
from handlers.flows.menu import main_menu
from handlers.i18n import _
from handlers.messages import Incoming, Keyboard, Reply, rows
from handlers.parsing import parse_date
from handlers.text import clean
from models import outbox as outbox_rows
from models.tables import Unit

NAME = "notice"
PAGE = 8


async def start(ctx: Context) -> Outcome:
    """Opens the notice form: officials choose a unit first, leaders write to their group."""
    roles = await ctx.roles()
    officials = [h for h in roles if h.role == "official"]
    if officials:
        data: dict[str, Any] = {"roots": [h.unit.id for h in officials], "page": 0}
        state = State(NAME, "unit", data)
    else:
        leading = [h for h in roles if h.role in LEADER_ROLES]
        if not leading:
            raise NotAllowed()
        state = State(NAME, "text", {"unit": leading[0].unit.id, "audience": "residents"})
    return Outcome([Reply(ctx.t("📢 Gửi thông báo")), *await show(state, ctx)], state)


class NoticeFlow:
    name = NAME

    async def show(self, state: State, ctx: Context) -> list[Reply]:
        return await show(state, ctx)

    async def handle(self, msg: Incoming, state: State, ctx: Context, action: str | None) -> Outcome:
        return await handle(msg, state, ctx, action)


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


async def show(state: State, ctx: Context) -> list[Reply]:
    t = ctx.t
    nav = [ctx.button("cancel", t("✖️ Hủy"))]
    if state.step == "unit":
        units = await unit_choices(state, ctx)
        page = int(state.data.get("page", 0))
        shown = units[page * PAGE : (page + 1) * PAGE]
        buttons = [ctx.button(f"u.{u.id}", ("🏛 " if u.id in state.data["roots"] else "") + u.name) for u in shown]
        more = []
        if page > 0:
            more.append(ctx.button("prev", t("◀️ Trang trước")))
        if len(units) > (page + 1) * PAGE:
            more.append(ctx.button("next", t("Trang sau ▶️")))
        return [Reply(t("Gửi cho đơn vị nào? (gồm mọi tổ bên dưới)"),
                      (*rows(buttons), tuple(more), tuple(nav)))]
    if state.step == "audience":
        buttons = [ctx.button(f"a.{key}", t(label)) for key, label in notices.AUDIENCES.items()]
        return [Reply(t("Gửi cho ai?"), (*rows(buttons), tuple(nav)))]
    if state.step == "text":
        limit = ctx.settings.notices.max_chars
        return [Reply(t("Gõ nội dung thông báo (tối đa {n} ký tự).", n=t.number(limit)), rows(nav))]
    if state.step == "photo":
        buttons = [ctx.button("nophoto", t("Không cần ảnh"))]
        return [Reply(t("Gửi một ảnh kèm thông báo, hoặc bấm «Không cần ảnh»."), (tuple(buttons), tuple(nav)),
                      keyboard=Keyboard.REQUEST_PHOTO)]
    if state.step == "when":
        buttons = [ctx.button("now", t("Gửi ngay")), ctx.button("later", t("Hẹn giờ gửi"))]
        if any(h.role == "official" for h in await ctx.roles()):
            buttons.append(ctx.button("urgent", t("🚨 Khẩn: gửi ngay, kể cả ban đêm")))
        return [Reply(t("Khi nào gửi?"), (*rows(buttons), tuple(nav)))]
    if state.step == "schedule":
        example = (ctx.clock.now() + timedelta(days=1)).astimezone(ctx.settings.app.tz)
        return [Reply(t("Gõ ngày giờ gửi, ví dụ {example}.", example=f"{example:%d/%m} 07:00"), rows(nav))]
    return [await _preview(state, ctx)]


async def _preview(state: State, ctx: Context) -> Reply:
    t = ctx.t
    unit = await ctx.repo.unit(int(state.data["unit"]))
    assert unit is not None
    counts = await outbox_rows.count_recipients(ctx.repo.session, unit.path, state.data["audience"])
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
    lines.append(t("Thời gian gửi hết: {duration}", duration=notices.describe_duration(
        notices.estimate_seconds(counts, ctx.settings), t)))
    buttons = [[ctx.button("send", t("✅ Gửi thông báo"))],
               [ctx.button("edit", t("✏️ Sửa nội dung")), ctx.button("cancel", t("✖️ Hủy"))]]
    if total == 0:
        lines.append(t("Chưa có ai đăng ký nhận tin ở đây, nên chưa gửi được."))
        buttons = [[ctx.button("cancel", t("✖️ Hủy"))]]
    return Reply("\n".join(lines), tuple(tuple(row) for row in buttons), photo_id=state.data.get("photo"))


async def handle(msg: Incoming, state: State, ctx: Context, action: str | None) -> Outcome:
    """Takes the answer to the current step of the notice form."""
    t = ctx.t
    data = state.data
    if action == "cancel":
        return Outcome(await main_menu(ctx, intro=t("Đã hủy, không gửi thông báo nào.")), None)
    text = clean(msg.text or "")
    step = state.step
    if step == "unit":
        if action in ("prev", "next"):
            data["page"] = max(0, int(data.get("page", 0)) + (1 if action == "next" else -1))
            return Outcome(await show(state, ctx), state)
        unit = await ctx.repo.unit(int(action[2:])) if action and action[2:].isdigit() else None
        if unit is None or not await may_address(ctx, unit):
            raise UserError(_("Hãy chọn một đơn vị trong danh sách."))
        data["unit"] = unit.id
        return await _goto("audience", state, ctx)
    if step == "audience":
        audience = action[2:] if action and action.startswith("a.") else ""
        if audience not in notices.AUDIENCES:
            raise UserError(_("Hãy bấm một trong các nút bên dưới."))
        data["audience"] = audience
        return await _goto("text", state, ctx)
    if step == "text":
        limit = ctx.settings.notices.max_chars
        if not text:
            raise UserError(_("Thông báo đang trống. Hãy gõ nội dung."))
        if len(text) > limit:
            raise UserError(_("Thông báo dài {n} ký tự, quá giới hạn {limit}. Hãy viết ngắn lại."),
                            n=t.number(len(text)), limit=t.number(limit))
        data["text"] = text
        return await _goto("photo" if not data.get("edited") else "preview", state, ctx)
    if step == "photo":
        if msg.photo is not None:
            if len(msg.photo.content) > ctx.settings.limits.photo_max_bytes:
                raise UserError(_("Ảnh quá lớn. Hãy gửi ảnh nhỏ hơn, hoặc bấm «Không cần ảnh»."))
            data["photo"] = await images.store(msg.photo, ctx)
        elif action != "nophoto":
            raise UserError(_("Hãy gửi một ảnh, hoặc bấm «Không cần ảnh»."))
        return await _goto("when", state, ctx)
    if step == "when":
        if action == "later":
            return await _goto("schedule", state, ctx)
        if action not in ("now", "urgent"):
            raise UserError(_("Hãy bấm một trong các nút bên dưới."))
        data["urgent"] = action == "urgent" and any(h.role == "official" for h in await ctx.roles())
        data.pop("at", None)
        return await _goto("preview", state, ctx)
    if step == "schedule":
        when = _parse_when(text, ctx)
        if when is None:
            raise UserError(_("Không đọc được «{text}». Gõ như 25/11 07:00."), text=text[:30])
        if when <= ctx.clock.now():
            raise UserError(_("Thời điểm đó đã qua. Hãy chọn một lúc trong tương lai."))
        data["at"] = when.isoformat()
        return await _goto("preview", state, ctx)
    if action == "edit":
        data["edited"] = True
        return await _goto("text", state, ctx)
    if action != "send":
        raise UserError(_("Bấm «Gửi thông báo» để gửi, hoặc «Sửa nội dung»."))
    return await _send(state, ctx)


async def _goto(step: str, state: State, ctx: Context) -> Outcome:
    new = State(NAME, step, state.data)
    return Outcome(await show(new, ctx), new)


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
    done = t("✅ Đã xếp thông báo {code} để gửi tới {n} người, bắt đầu lúc {when}. "
             "Bạn sẽ được báo tiến độ và kết quả.", code=notice.code, n=t.number(notice.total),
             when=t.datetime(notice.send_at))
    menu = await main_menu(ctx)
    return Outcome([Reply(done), *menu], State("", "", {"sent": notice.code}))

