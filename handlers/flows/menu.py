"""The main menu, help and the intro for people without a role."""

from __future__ import annotations

from handlers.context import LEADER_ROLES, Context
from handlers.i18n import LANGUAGES, _
from handlers.messages import Button, Reply, rows
from handlers.reports.reporting import EMERGENCY
from models.repos import HeldRole

ROLE_LABELS = {
    "leader": _("Tổ trưởng"),
    "deputy": _("Tổ phó"),
    "official": _("Cán bộ"),
    "resident": _("Người dân"),
}



async def main_menu(ctx: Context, intro: str | None = None) -> list[Reply]:
    """Shows the buttons this person's roles allow, or how to register when they have none.

    `intro`, already translated, replaces the menu's question.
    """
    t = ctx.t
    roles = await ctx.roles()
    if not roles:
        return [Reply(intro or intro_text(ctx))]
    names = {held.role for held in roles}
    buttons: list[Button] = []
    urgent = [f for f in ctx.forms.forms.values() if f.urgent and names & set(f.roles)]
    buttons += [ctx.menu_button(f"f.{f.key}", "🚨 " + t(f.title)) for f in urgent]
    if names & set(LEADER_ROLES):
        for task in ctx.settings.tasks:
            if any(ctx.forms.for_task(task.key, role) for role in names):
                label = f"{task.icon} {t(task.label)}".strip()
                buttons.append(ctx.menu_button(f"t.{task.key}", label))
        monthly = [f for f in ctx.forms.forms.values() if f.monthly and names & set(f.roles)]
        buttons += [ctx.menu_button(f"f.{f.key}", "🗓️ " + t(f.title)) for f in monthly]
        buttons.append(ctx.menu_button("my", t("📜 Báo cáo của tôi")))
        buttons.append(ctx.menu_button("inv", t("👥 Mời người dân")))
    if "official" in names:
        buttons.append(ctx.menu_button("oi", t("🚨 Tin khẩn đang mở")))
        buttons.append(ctx.menu_button("nr", t("📥 Báo cáo chưa xử lý")))
        buttons.append(ctx.menu_button("cp", t("🗓️ Chiến dịch")))
    if names & {"official", *LEADER_ROLES}:
        buttons.append(ctx.menu_button("nw", t("📢 Gửi thông báo")))
        buttons.append(ctx.menu_button("ns", t("📤 Thông báo đã gửi")))
        buttons.append(ctx.menu_button("sum", t("📊 Tóm tắt")))
    if "resident" in names:
        buttons.append(ctx.menu_button("fb", t("💬 Gửi phản ánh")))
    if names & {"resident", *LEADER_ROLES}:
        buttons.append(ctx.menu_button("nt", t("📢 Thông báo gần đây")))
    buttons.append(ctx.menu_button("help", t("❓ Hướng dẫn")))
    buttons.append(ctx.menu_button("lang", t("🌐 Ngôn ngữ")))
    if names == {"resident"}:
        buttons.append(ctx.menu_button("stop", t("🔕 Dừng nhận tin")))
    text = intro or t("Bạn muốn làm gì? Chọn một mục bên dưới.")
    return [Reply(text, rows(buttons))]


def intro_text(ctx: Context) -> str:
    t = ctx.t
    return "\n\n".join(
        [
            t("Xin chào! Tôi là Tổ trưởng, trợ lý của tổ dân phố, thôn: tổ trưởng báo cáo công việc, "
              "người dân nhận thông báo và gửi phản ánh, cán bộ phường theo dõi tình hình."),
            t("Để bắt đầu, hãy nhập mã mời mà tổ trưởng hoặc cán bộ phường đã đưa cho bạn "
              "(ví dụ: AB12CD)."),
            t(EMERGENCY),
        ]
    )


async def help_text(ctx: Context) -> Reply:
    t = ctx.t
    names = await ctx.role_names()
    lines = [t("Hướng dẫn sử dụng")]
    if names & set(LEADER_ROLES):
        lines.append(t("• Chọn một nhiệm vụ trong menu để gửi báo cáo; bot hỏi từng câu, có nút để chọn."))
        lines.append(t("• Trước khi gửi, bạn xem lại và sửa được từng câu."))
    if names & set(LEADER_ROLES):
        lines.append(t("• «Báo tin khẩn»: ba câu hỏi, tin đến ngay cán bộ trực của phường."))
    if "official" in names:
        lines.append(t("• «Tin khẩn đang mở» và «Báo cáo chưa xử lý»: bấm vào từng báo cáo để tiếp nhận, "
                       "xử lý hoặc trả lại."))
    if names & {"official", *LEADER_ROLES}:
        lines.append(t("• «Gửi thông báo»: soạn, xem trước số người nhận, rồi gửi; bạn được báo tiến độ."))
        lines.append(t("• «Tóm tắt»: số liệu của địa bàn theo ngày, tuần, tháng, quý, năm, kèm biểu đồ và tệp Excel."))
    if "resident" in names:
        lines.append(t("• «Gửi phản ánh»: gõ nội dung, kèm ảnh hoặc vị trí; tổ trưởng sẽ trả lời."))
    lines += [
        t("• /menu: về menu chính"),
        t("• /huy: hủy việc đang làm"),
        t("• /lang: đổi ngôn ngữ"),
        t("• DỪNG: ngừng nhận mọi tin nhắn; BẮT ĐẦU: nhận lại"),
        "",
        t(EMERGENCY),
    ]
    return Reply("\n".join(lines))


def language_choice(ctx: Context) -> Reply:
    buttons = [ctx.menu_button(f"lang.{code}", label) for code, label in LANGUAGES.items()]
    return Reply(ctx.t("Chọn ngôn ngữ:"), rows(buttons, per_row=2))


def describe_role(ctx: Context, held: HeldRole, parents: str) -> str:
    role = ctx.t(ROLE_LABELS.get(held.role, held.role))
    return f"{role} — {held.unit.name}" + (f", {parents}" if parents else "")
