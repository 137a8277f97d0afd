"""Small things residents, leaders and officials ask for: the latest notices of my group, the
notices I sent and how their delivery went (the group's codes: handlers/flows/invites.py)."""

from __future__ import annotations

from handlers import buttons as b
from handlers.context import LEADER_ROLES, Context
from handlers.delivery import notices
from handlers.errors import NotAllowed, UserError
from handlers.flows import feedback
from handlers.flows.review import _short as short
from handlers.i18n import _
from handlers.messages import Reply, rows
from handlers.text import shorten
from models.tables import Notice


async def recent_notices(ctx: Context) -> list[Reply]:
    """The last notices sent to my group or to the ward and city above it."""
    t = ctx.t
    held = next((h for h in await ctx.roles() if h.role in ("resident", *LEADER_ROLES)), None)
    if held is None:
        raise NotAllowed()
    parts = [p for p in held.unit.path.strip("/").split("/") if p]
    paths = ["/" + "/".join(parts[: n + 1]) + "/" for n in range(len(parts))]
    audiences = ("residents", "both") if held.role == "resident" else ("leaders", "both", "residents")
    found = await ctx.repo.notices_for(paths, audiences, now=ctx.clock.now(), limit=5)
    if not found:
        return [Reply(t("Chưa có thông báo nào gửi tới tổ của bạn."))]
    replies = [Reply(t("📢 {n} thông báo gần nhất:", n=len(found)))]
    for notice in reversed(found):
        unit = await ctx.repo.unit(notice.unit_id)
        replies.append(Reply(f"{t.datetime(notice.send_at)} · {unit.name if unit else ''}\n{notice.text}",
                             photo_id=notice.photo_id))
    return replies


async def sent_notices(ctx: Context) -> list[Reply]:
    """The notices of my area (officials) or my own (leaders), each opening its delivery report."""
    t = ctx.t
    roles = await ctx.roles()
    found: list[Notice] = []
    for held in roles:
        if held.role == "official":
            found += await ctx.repo.notices_under(held.unit.path)
        elif held.role in LEADER_ROLES:
            found += await ctx.repo.notices_under(held.unit.path, sender_id=ctx.person_id)
    if not roles or all(h.role == "resident" for h in roles):
        raise NotAllowed()
    unique = sorted({n.id: n for n in found}.values(), key=lambda n: n.id or 0, reverse=True)[:10]
    if not unique:
        return [Reply(t("Chưa có thông báo nào."))]
    buttons = [b.NoticeReport(n.id or 0).button(f"{t.day(n.created_at)} · {shorten(n.text, 40)}") for n in unique]
    return [Reply(t("📤 Thông báo đã gửi. Bấm để xem kết quả gửi:"), rows(buttons))]


async def notice_report(ctx: Context, notice_id: int) -> list[Reply]:
    notice = await ctx.repo.notice(notice_id)
    if notice is None:
        raise UserError(_("Không tìm thấy thông báo này."))
    roles = await ctx.roles()
    if not (notice.sender_id == ctx.person_id
            or any(h.role == "official" and h.covers(notice.unit_path) for h in roles)):
        raise NotAllowed(_("Thông báo này không thuộc địa bàn của bạn."))
    return [Reply(await notices.delivery_report(ctx.repo, notice, ctx.t))]


async def open_feedback(ctx: Context) -> list[Reply]:
    """The group's feedback still waiting for the leader (not passed on or closed), newest first."""
    t = ctx.t
    units = [held.unit.id or 0 for held in await ctx.leader_roles()]
    if not units:
        raise NotAllowed(_("Chức năng này chỉ dành cho tổ trưởng, tổ phó."))
    found = await ctx.repo.open_feedback(units, limit=10)
    if not found:
        return [Reply(t("Không có phản ánh nào đang chờ xử lý."))]
    buttons = [b.FeedbackView(f.id or 0).button(f"{short(f.text or t('(ảnh)'), 40)} · {t.date(f.created_at)}")
               for f in found]
    return [Reply(t("📨 Phản ánh đang chờ xử lý. Bấm để xem:"), rows(buttons))]


async def feedback_view(ctx: Context, feedback_id: int) -> list[Reply]:
    """One feedback as the leader received it, with its buttons (answer, pass on, close)."""
    item, unit = await feedback.load_for_leader(ctx, feedback_id)
    resident = await ctx.repo.person_name(item.resident_id) or "?"
    return [feedback.leader_message(item, resident, unit.name, ctx.t)]


DIGEST_LABELS = {
    "daily": _("Hằng ngày: tin khẩn 24 giờ qua (khi có)"),
    "weekly": _("Hằng tuần: tóm tắt, biểu đồ, Excel"),
    "monthly": _("Hằng tháng: tóm tắt, biểu đồ, Excel"),
}


async def digest_choices(ctx: Context, toggle: str = "") -> list[Reply]:
    """An official turns the scheduled digests on or off."""
    t = ctx.t
    if not any(h.role == "official" for h in await ctx.roles()):
        raise NotAllowed()
    chosen = [k for k in (await ctx.repo.person_digests(ctx.person_id)).split(",") if k]
    if toggle:
        if toggle not in DIGEST_LABELS:
            raise UserError(_("Nút này không hợp lệ."))
        chosen = [k for k in chosen if k != toggle] if toggle in chosen else [*chosen, toggle]
        await ctx.repo.set_person(ctx.person_id, digests=",".join(k for k in DIGEST_LABELS if k in chosen))
    buttons = [b.Digests(kind).button(("✅ " if kind in chosen else "▫️ ") + t(label))
               for kind, label in DIGEST_LABELS.items()]
    return [Reply(t("⚙️ Bản tin tự động gửi cho bạn. Bấm để bật hoặc tắt:"), rows(buttons))]
