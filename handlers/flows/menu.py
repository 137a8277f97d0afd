"""The main menu, help and the intro for people without a role."""

from __future__ import annotations

from handlers import buttons as b
from handlers.context import LEADER_ROLES, Context, Outcome
from handlers.flows import duties
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



# The first screen holds at most this many buttons; the rest go behind "☰ Thêm…".
FIRST_SCREEN = 7


def _form_buttons(ctx: Context, names: set[str]) -> tuple[list[Button], list[Button]]:
    """The urgent forms (🚨, their own row) and, for leaders, the four tasks and the monthly report."""
    t = ctx.t
    urgent = [b.OpenForm(f.key).button("🚨 " + t(f.title)) for f in ctx.forms.forms.values()
              if f.urgent and names & set(f.roles)]
    tasks: list[Button] = []
    if names & set(LEADER_ROLES):
        for task in ctx.settings.tasks:
            if any(ctx.forms.for_task(task.key, role) for role in names):
                tasks.append(b.Task(task.key).button(f"{task.icon} {t(task.label)}".strip()))
        tasks += [b.OpenForm(f.key).button("🗓️ " + t(f.title)) for f in ctx.forms.forms.values()
                  if f.monthly and names & set(f.roles)]
    return urgent, tasks


def _entries(ctx: Context, names: set[str], roles: list[HeldRole]) -> tuple[list[Button], list[Button]]:
    """(what each role does most, the rest), in menu order, without repeats."""
    t = ctx.t
    leader = bool(names & set(LEADER_ROLES))
    main: list[Button] = []
    rest: list[Button] = []
    if leader:
        rest += [b.MyReports().button(t("📜 Báo cáo của tôi")), b.OpenFeedback().button(t("📨 Phản ánh của người dân")),
                 b.InviteResidents().button(t("👥 Mời người dân")), b.GroupCodes().button(t("🔑 Mã mời của tổ"))]
    if "official" in names:
        main += [b.OpenIncidents().button(t("🆘 Tin khẩn đang mở")),
                 b.NewReports().button(t("📥 Báo cáo chưa xử lý"))]
    if names & {"official", *LEADER_ROLES}:
        (main if not leader else rest).append(b.SummaryStart().button(t("📊 Tóm tắt")))
        (main if not leader else rest).append(b.NewNotice().button(t("📢 Gửi thông báo")))
        rest.append(b.SentNotices().button(t("📤 Thông báo đã gửi")))
    if "official" in names:
        main.append(b.Campaigns().button(t("🎯 Chiến dịch")))
        rest.append(b.Digests().button(t("⚙️ Bản tin tự động")))
    if any(duties.may_assign(held, ctx.settings.units.levels) for held in roles):
        rest.append(b.Officials().button(t("🛡️ Phân công cán bộ")))
    if "resident" in names:
        main.append(b.NewFeedback().button(t("💬 Gửi phản ánh")))
    if names & {"resident", *LEADER_ROLES}:
        (main if "resident" in names else rest).append(b.RecentNotices().button(t("📰 Thông báo gần đây")))
    rest += [b.Help().button(t("❓ Hướng dẫn")), b.Language().button(t("🌐 Ngôn ngữ")), _stop_button(ctx)]
    seen: set[str] = set()
    unique: list[list[Button]] = [[], []]
    for index, group in enumerate((main, rest)):
        for button in group:
            if button.id not in seen:
                seen.add(button.id)
                unique[index].append(button)
    return unique[0], unique[1]


def _stop_button(ctx: Context) -> Button:
    if ctx.who.opted_out:
        return b.Resume().button(ctx.t("🔔 Nhận tin lại"))
    return b.Stop().button(ctx.t("🔕 Dừng nhận tin"))


async def menu_screens(ctx: Context) -> tuple[tuple[tuple[Button, ...], ...], list[Button]]:
    """The first screen's rows (at most FIRST_SCREEN buttons, 🚨 alone on the first row) and the
    buttons of the second screen, "☰ Thêm…" (empty when everything fits on the first)."""
    names = await ctx.role_names()
    urgent, tasks = _form_buttons(ctx, names)
    main, rest = _entries(ctx, names, await ctx.roles())
    first = [*tasks, *main]
    room = FIRST_SCREEN - len(urgent)
    if len(first) + len(rest) <= room:
        first, more = [*first, *rest], []
    else:
        first, more = first[: room - 1], [*first[room - 1 :], *rest]
    layout: list[tuple[Button, ...]] = [(button,) for button in urgent]
    layout += [(button,) for button in first]
    if more:
        more_button = b.More().button(ctx.t("☰ Thêm…"))
        if layout and len(layout[-1][0].label) <= 24 and len(layout) > len(urgent):
            layout[-1] = (*layout[-1], more_button)
        else:
            layout.append((more_button,))
    return tuple(layout), more


async def main_menu_buttons(ctx: Context) -> tuple[tuple[Button, ...], ...]:
    """The buttons of the main menu (none for someone without a role)."""
    if not await ctx.roles():
        return ()
    layout, _more = await menu_screens(ctx)
    return layout


async def main_menu(ctx: Context, intro: str | None = None) -> list[Reply]:
    """Shows the buttons this person's roles allow, or how to register when they have none.

    `intro`, already translated, replaces the menu's question. Only the engine calls it: flows end
    with an Outcome, and the engine composes the ending (handlers/engine.py).
    """
    if not await ctx.roles():
        return [Reply(intro or intro_text(ctx))]
    text = intro or ctx.t("Bạn muốn làm gì? Chọn một mục bên dưới.")
    return [Reply(text, await main_menu_buttons(ctx))]


async def more_menu(ctx: Context) -> list[Reply]:
    """The second screen of the menu: what does not fit on the first."""
    if not await ctx.roles():
        return [Reply(intro_text(ctx))]
    _layout, more = await menu_screens(ctx)
    if not more:
        return await main_menu(ctx)
    buttons = rows(more, per_row=2)
    return [Reply(ctx.t("Các mục khác:"), (*buttons, (b.Menu().button(ctx.t("☰ Menu")),)))]


async def stop_question(ctx: Context) -> Reply:
    """Asks before turning notices off, and says truthfully what still arrives."""
    t = ctx.t
    if ctx.who.opted_out:
        return Reply(t("Bạn đang tắt thông báo và lời nhắc. Muốn bật lại, bấm «🔔 Nhận tin lại»."),
                     ((b.Resume().button(t("🔔 Nhận tin lại")),),))
    lines = [t("Tắt thông báo và lời nhắc?"), still_arrives(ctx, await ctx.role_names())]
    return Reply("\n".join(lines), ((b.StopConfirmed().button(t("🔕 Tắt")), b.Continue().button(t("Không"))),))


def still_arrives(ctx: Context, names: set[str]) -> str:
    if "official" in names:
        return ctx.t("Bạn vẫn nhận trả lời cho báo cáo, phản ánh của mình và tin khẩn cần cán bộ xử lý.")
    return ctx.t("Bạn vẫn nhận trả lời cho báo cáo, phản ánh của mình.")


async def stop(ctx: Context) -> Outcome:
    """Turns notices and reminders off; replies and urgent matters still arrive."""
    t = ctx.t
    await ctx.repo.set_person(ctx.person_id, opted_out=True)
    await ctx.repo.audit(person_id=ctx.person_id, action="opt_out")
    ctx.who.opted_out = True
    text = t("Bạn đã tắt thông báo và lời nhắc. {still} Muốn bật lại, bấm «🔔 Nhận tin lại» hoặc gõ BẮT ĐẦU.",
             still=still_arrives(ctx, await ctx.role_names()))
    return Outcome([Reply(text)], next_steps=[b.Resume().button(t("🔔 Nhận tin lại"))])


async def resume(ctx: Context) -> Outcome:
    t = ctx.t
    if ctx.who.opted_out:
        await ctx.repo.set_person(ctx.person_id, opted_out=False)
        await ctx.repo.audit(person_id=ctx.person_id, action="opt_in")
        ctx.who.opted_out = False
    return Outcome([Reply(t("Bạn sẽ nhận lại thông báo và lời nhắc từ tổ và phường. Chào mừng trở lại!"))],
                   menu=True)


async def set_language(ctx: Context, language: str) -> Reply:
    """Switches the person's language; later replies of this message use it too."""
    await ctx.repo.set_person(ctx.person_id, language=language)
    ctx.who.language = language
    ctx.t = ctx.translate(language)
    return Reply(ctx.t("Đã chuyển sang tiếng Việt.") if language == "vi" else ctx.t("Đã chuyển sang tiếng Anh."))


def intro_text(ctx: Context) -> str:
    t = ctx.t
    return "\n\n".join(
        [
            t("Xin chào! Tôi là trợ lý ảo «Tổ trưởng», giúp tổ trưởng báo cáo, người dân nhận thông báo, "
              "gửi phản ánh, cán bộ phường theo dõi tình hình."),
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
        t("• DỪNG: tắt thông báo và lời nhắc (vẫn nhận trả lời); BẮT ĐẦU: bật lại"),
        "",
        t(EMERGENCY),
    ]
    return Reply("\n".join(lines))


def language_choice(ctx: Context) -> Reply:
    buttons = [b.Language(code).button(label) for code, label in LANGUAGES.items()]
    return Reply(ctx.t("Chọn ngôn ngữ:"), rows(buttons, per_row=2))


def describe_role(ctx: Context, held: HeldRole, parents: str) -> str:
    role = ctx.t(ROLE_LABELS.get(held.role, held.role))
    return f"{role} — {held.unit.name}" + (f", {parents}" if parents else "")
