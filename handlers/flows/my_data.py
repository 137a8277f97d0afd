"""`/dulieu`, "🔒 Dữ liệu của tôi": a person sees what the system holds about them, gets it as a
file, or deletes it (Law 91/2025/QH15: the rights to know, to obtain and to delete).

Deleting asks first and says exactly what goes (name, accounts, roles, messages, photos, the text
of their feedback) and what stays (the reports the ward must keep, no longer naming them). The
deletion is in the audit log, in counts only. Afterwards the chat says how to join again.
"""

from __future__ import annotations

import json

from handlers import buttons as b
from handlers.context import Context, Outcome
from handlers.flows import consent
from handlers.flows.menu import ROLE_LABELS
from handlers.flows.start import register
from handlers.i18n import _
from handlers.messages import Reply
from handlers.text import shorten

JSON_MIME = "application/json"
CHANNEL_LABELS = {"telegram": "Telegram", "zalo": "Zalo"}
SIMULATOR = _("Mô phỏng")


async def show(ctx: Context) -> Outcome:
    """Shows the person's main fields and how many reports, feedback, messages and photos are theirs."""
    t = ctx.t
    held = await ctx.repo.holdings(ctx.person_id)
    if held is None:  # cannot happen while they write to us; say it plainly anyway
        return Outcome([Reply(t("Hệ thống không còn dữ liệu nào của bạn."))])
    roles = [f"{t(ROLE_LABELS.get(role, role))} — {unit}" for role, unit in held.roles] or [t("(chưa tham gia tổ nào)")]
    accounts = [(t(SIMULATOR) if channel == "sim" else CHANNEL_LABELS.get(channel, channel))
                + (f" ({shorten(name, 40)})" if name else "")
                for channel, name in held.channels]
    agreed = t.datetime(held.consented_at) if held.consented_at else t("chưa đồng ý")
    lines = [
        t("🔒 Dữ liệu của bạn trong hệ thống"),
        t("Tên: {name}", name=held.name or t("(chưa lưu)")),
        t("Vai trò: {roles}", roles="; ".join(roles)),
        t("Tài khoản: {accounts}", accounts=", ".join(accounts)),
        t("Đồng ý điều khoản: {when}", when=agreed),
        t("Báo cáo đã gửi: {n}", n=t.number(held.reports)),
        t("Phản ánh đã gửi: {n}", n=t.number(held.feedback)),
        t("Thông báo đã gửi: {n}", n=t.number(held.notices)),
        t("Tin nhắn đang lưu: {n}", n=t.number(held.messages)),
        t("Ảnh và tệp đã gửi: {n}", n=t.number(held.photos)),
        "",
        t("Bấm «📄 Gửi file» để nhận toàn bộ dữ liệu này thành một tệp."),
    ]
    buttons = ((b.MyDataFile().button(t("📄 Gửi file")), b.EraseMyData().button(t("🗑️ Xoá dữ liệu của tôi"))),)
    return Outcome([Reply("\n".join(lines), buttons)])


async def send_file(ctx: Context) -> Outcome:
    """Sends everything held about the person as one JSON file (theirs only); the export is audited."""
    t = ctx.t
    data = await ctx.repo.export_of(ctx.person_id)
    content = json.dumps(data, ensure_ascii=False, indent=2, default=str).encode()
    document = await ctx.files.save(ctx.repo, content=content, mime=JSON_MIME, uploader=ctx.person_id)
    await ctx.repo.audit(person_id=ctx.person_id, action="data_export", target=f"person:{ctx.person_id}",
                         bytes=len(content))
    text = t("📄 Đây là toàn bộ dữ liệu của bạn (tệp JSON, mở được bằng ứng dụng đọc văn bản).")
    return Outcome([Reply(text, document_id=document)],
                   next_steps=[b.EraseMyData().button(t("🗑️ Xoá dữ liệu của tôi"))])


async def erase(ctx: Context, sure: int) -> Outcome:
    """Asks first, saying what goes and what stays; the confirming tap deletes."""
    t = ctx.t
    held = await ctx.repo.holdings(ctx.person_id)
    if held is None:
        return Outcome([Reply(t("Hệ thống không còn dữ liệu nào của bạn."))])
    if not sure:
        lines = [
            t("Xoá dữ liệu của bạn?"),
            t("Sẽ xoá: tên, tài khoản trò chuyện, vai trò trong tổ, {messages} tin nhắn, {photos} ảnh và tệp, "
              "nội dung {feedback} phản ánh.", messages=t.number(held.messages), photos=t.number(held.photos),
              feedback=t.number(held.feedback)),
            t("Được giữ lại, không còn tên bạn: {reports} báo cáo đã gửi (phường phải lưu), {notices} thông báo "
              "đã gửi.", reports=t.number(held.reports), notices=t.number(held.notices)),
            t("Việc này không làm lại được."),
        ]
        buttons = ((b.EraseMyData(1).button(t("🗑️ Xoá hết")), b.MyData().button(t("Không, giữ lại"))),)
        return Outcome([Reply("\n".join(lines), buttons)], question=True)
    erased = await ctx.repo.erase_person(ctx.person_id, at=ctx.clock.now())
    await ctx.files.remove(erased.files)
    ctx.forget_roles()
    ctx.erased = True
    text = t("🗑️ Đã xoá dữ liệu của bạn. Các báo cáo phường cần giữ vẫn còn nhưng không còn tên bạn. "
             "Muốn tham gia lại, hãy nhập mã mời mà tổ trưởng hoặc cán bộ phường đưa cho bạn.")
    return Outcome([Reply(text, ((b.Menu().button(t("🔑 Tham gia lại")),),))])


async def agree(ctx: Context, code: str) -> Outcome:
    """"✅ Đồng ý": the consent is stored, then the invite (if any) is used."""
    await consent.agree(ctx)
    thanks = Reply(ctx.t("Cảm ơn bạn đã đồng ý."))
    if code:
        joined = await register(code, ctx) or Outcome([])
        return Outcome([thanks, *joined.replies], joined.state, joined.deliveries, menu=joined.menu)
    return Outcome([thanks], menu=True)


async def decline(ctx: Context, code: str) -> Outcome:
    return consent.declined(ctx, code)
