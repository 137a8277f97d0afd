"""The privacy notice a person agrees to before anything about them is stored (Law 91/2025/QH15).

Someone joining with an invite code reads what is kept, why, for how long and who sees it, and
answers [✅ Đồng ý] or [❌ Không đồng ý]; only after "Đồng ý" are their name and role stored
(handlers/flows/start.py asks here before using the code). Someone who was there before the
notice existed is asked once, at their next message, with the same notice. A new `VERSION` of
the notice asks everyone again.
"""

from __future__ import annotations

from handlers import buttons as b
from handlers.context import Context, Outcome, State
from handlers.messages import Reply

# The notice's version, stored with each consent: change it when the notice's content changes.
VERSION = "2026-12"


def needed(ctx: Context) -> bool:
    """True when this person must agree to the notice before going on."""
    return ctx.settings.privacy.ask_consent and ctx.who.consent_version != VERSION


def notice_text(ctx: Context) -> str:
    """What is kept, why, for how long, who sees it, and how to see or delete it, in plain words."""
    t = ctx.t
    days = ctx.settings.privacy
    return "\n".join([
        t("🔒 Trước khi tham gia, xin bạn đọc và đồng ý:"),
        t("• Lưu gì: tên, số điện thoại (nếu bạn gửi), tin nhắn và ảnh bạn gửi cho trợ lý, các báo cáo."),
        t("• Để làm gì: để tổ trưởng và phường nhận báo cáo, phản ánh của bạn và gửi thông báo cho bạn."),
        t("• Lưu bao lâu: ảnh của báo cáo đã xử lý xong {photos} ngày, phản ánh đã đóng {feedback} ngày, "
          "nhật ký truy cập {audit} ngày. Báo cáo của tổ được phường lưu theo quy định.",
          photos=t.number(days.photo_days), feedback=t.number(days.feedback_days), audit=t.number(days.audit_days)),
        t("• Ai được xem: tổ trưởng của tổ, cán bộ phường và thành phố phụ trách địa bàn. "
          "Dữ liệu hộ nghèo chỉ cán bộ phụ trách xã hội được xem."),
        t("• Bạn xem, tải về hoặc xoá dữ liệu của mình lúc nào cũng được: gõ /dulieu."),
        "",
        t("Bạn có đồng ý không?"),
    ])


def ask(ctx: Context, code: str = "", state: State | None = None) -> Outcome:
    """The notice with its two answers; `code` is the invite to use once the person agrees.
    `state` keeps a form in progress where it was (someone asked at their next message)."""
    t = ctx.t
    buttons = ((b.ConsentYes(code).button(t("✅ Đồng ý")), b.ConsentNo(code).button(t("❌ Không đồng ý"))),)
    return Outcome([Reply(notice_text(ctx), buttons)], state, question=True)


async def agree(ctx: Context) -> None:
    """Records the consent (when, which notice) and, from now on, the person's name."""
    now = ctx.clock.now()
    await ctx.repo.record_consent(ctx.person_id, ctx.who.identity_id, version=VERSION, at=now, name=ctx.display_name)
    await ctx.repo.audit(person_id=ctx.person_id, action="consent", version=VERSION)
    ctx.who.consent_version = VERSION
    if ctx.display_name:
        ctx.who.name = ctx.display_name


def declined(ctx: Context, code: str) -> Outcome:
    """"Không đồng ý": nothing is stored; says how to come back."""
    t = ctx.t
    if code:
        text = t("Bạn chưa tham gia, và trợ lý không lưu gì về bạn ngoài tài khoản trò chuyện này. "
                 "Khi nào muốn tham gia, hãy gửi lại mã mời {code} hoặc bấm «✅ Tôi đồng ý».", code=code)
    else:
        text = t("Bạn chưa đồng ý nên trợ lý chưa thể tiếp tục phục vụ bạn. Dữ liệu đã có vẫn được giữ: "
                 "bạn có thể xem hoặc xoá chúng. Khi nào đồng ý, bấm «✅ Tôi đồng ý».")
    buttons = [b.ConsentYes(code).button(t("✅ Tôi đồng ý"))]
    if not code:
        buttons.append(b.MyData().button(t("🔒 Dữ liệu của tôi")))
    return Outcome([Reply(text, (tuple(buttons),))], question=True)
