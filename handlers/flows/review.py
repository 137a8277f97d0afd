"""Reading reports and acting on them: a leader's own history and corrections, an official's
lists of open incidents and new reports, one report's details, status buttons, the return reason."""

from __future__ import annotations

from datetime import timedelta

from handlers.context import LEADER_ROLES, Context, Outcome, State
from handlers.errors import NotALeader, NotAllowed, UserError
from handlers.flows import form as form_flow
from handlers.i18n import _
from handlers.messages import Button, Incoming, Reply, rows
from handlers.reports import reporting
from handlers.reports.reporting import OPEN, STATUS_LABELS, title_of
from handlers.text import clean
from models.tables import Report, Unit

PAGE = 5
REASON = "reason"


def _short(text: str, limit: int = 60) -> str:
    """Cuts a button label at a word, with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ·,") + "…"


def _line(ctx: Context, report: Report, unit: Unit | None = None) -> str:
    t = ctx.t
    status = t(STATUS_LABELS.get(report.status, report.status))
    where = f" · {unit.name}" if unit else ""
    urgent = "🚨 " if report.urgent else ""
    title = title_of(ctx.forms, t, report.form_key)
    return f"{urgent}{report.code} · {t.date(report.created_at)}{where} · {title} · {status}"


def _pager(ctx: Context, action: str, page: int, more: bool) -> list[Button]:
    buttons = []
    if page > 0:
        buttons.append(ctx.menu_button(f"{action}.{page - 1}", ctx.t("◀️ Trang trước")))
    if more:
        buttons.append(ctx.menu_button(f"{action}.{page + 1}", ctx.t("Trang sau ▶️")))
    return buttons


async def my_reports(ctx: Context, page: int = 0) -> list[Reply]:
    """Lists the leader's recent reports; each opens with a button."""
    t = ctx.t
    if not await ctx.leader_roles():
        raise NotALeader()
    found = await ctx.repo.reports_by(ctx.person_id, limit=PAGE + 1, offset=page * PAGE)
    if not found and page == 0:
        return [Reply(t("Bạn chưa gửi báo cáo nào."), rows([ctx.menu_button("menu", t("⬅️ Menu chính"))]))]
    shown = found[:PAGE]
    text = t("📜 Báo cáo của bạn (trang {page}). Bấm để xem chi tiết:", page=page + 1)
    buttons = [ctx.menu_button(f"rv.{r.id}", _short(_line(ctx, r))) for r in shown]
    nav = [*_pager(ctx, "my", page, len(found) > PAGE), ctx.menu_button("menu", t("⬅️ Menu chính"))]
    return [Reply(text, (*rows(buttons), tuple(nav)))]


async def official_list(ctx: Context, kind: str, page: int = 0) -> list[Reply]:
    """Open urgent incidents ("oi") or reports nobody has looked at yet ("nr"), in the official's area."""
    t = ctx.t
    units = [held.unit for held in await ctx.roles() if held.role == "official"]
    if not units:
        raise NotAllowed()
    found: list[tuple[Report, Unit]] = []
    for unit in units:
        if kind == "oi":
            found += await ctx.repo.reports_under(unit.path, urgent=True, statuses=OPEN, limit=(page + 1) * PAGE + 1)
        else:
            found += await ctx.repo.reports_under(unit.path, urgent=False, statuses=("sent",),
                                                  limit=(page + 1) * PAGE + 1)
    found.sort(key=lambda pair: (pair[0].created_at, pair[0].id or 0), reverse=True)
    shown = found[page * PAGE : (page + 1) * PAGE]
    title = t("🚨 Tin khẩn đang mở") if kind == "oi" else t("📥 Báo cáo chưa xử lý")
    if not shown:
        empty = t("Không có tin khẩn nào đang mở.") if kind == "oi" else t("Không có báo cáo nào chờ xử lý.")
        return [Reply(f"{title}\n{empty}", rows([ctx.menu_button("menu", t("⬅️ Menu chính"))]))]
    text = t("{title} — trang {page}, mới nhất trước:", title=title, page=page + 1)
    buttons = [ctx.menu_button(f"rv.{r.id}", _short(_line(ctx, r, u))) for r, u in shown]
    nav = [*_pager(ctx, kind, page, len(found) > (page + 1) * PAGE), ctx.menu_button("menu", t("⬅️ Menu chính"))]
    return [Reply(text, (*rows(buttons), tuple(nav)))]


async def _access(ctx: Context, report: Report) -> tuple[bool, bool, bool]:
    """(may see it, may see household-level detail, may act on it as an official)."""
    roles = await ctx.roles()
    own_group = any(h.role in LEADER_ROLES and h.unit.id == report.unit_id for h in roles)
    official = [h for h in roles if h.role == "official" and h.covers(report.unit_path)]
    mine = report.reporter_id == ctx.person_id
    may_see = mine or own_group or bool(official)
    form = ctx.forms.get(report.form_key)
    sensitive = bool(form and form.sensitive)
    detail = not sensitive or mine or own_group or any("social" in h.duties for h in official)
    return may_see, detail, bool(official)


async def view(ctx: Context, report_id: int) -> list[Reply]:
    """Shows one report: answers, photo, status history, and the buttons this person may use."""
    t = ctx.t
    report = await ctx.repo.report(report_id)
    if report is None:
        raise UserError(_("Không tìm thấy báo cáo này."))
    may_see, detail, acts = await _access(ctx, report)
    if not may_see:
        raise NotAllowed(_("Bạn không có quyền xem báo cáo này."))
    unit = await ctx.repo.unit(report.unit_id)
    form = ctx.forms.get(report.form_key)
    lines = [f"{'🚨 ' if report.urgent else ''}{title_of(ctx.forms, t, report.form_key)}",
             t("Mã: {code} · {group}", code=report.code, group=unit.name if unit else "?"),
             t("Gửi lúc: {when}", when=t.datetime(report.created_at)),
             t("Trạng thái: {status}", status=t(STATUS_LABELS.get(report.status, report.status)))]
    if report.status == "returned" and report.status_reason:
        lines.append(t("Lý do trả lại: {reason}", reason=report.status_reason))
    if report.superseded:
        lines.append(t("(Đã có bản sửa mới hơn.)"))
    lines.append("")
    if detail:
        lines += reporting.answer_lines(form, report, t)
        if form and form.sensitive:
            await ctx.repo.audit(person_id=ctx.person_id, action="view_sensitive", target=f"report:{report.id}",
                                 code=report.code)
    else:
        lines.append(t("Nội dung chi tiết về hộ gia đình chỉ tổ trưởng và cán bộ phụ trách xã hội được xem."))
    history = await ctx.repo.events(report.id or 0)
    if history:
        lines += ["", t("Diễn biến:")]
        for event, name in history:
            label = t(STATUS_LABELS.get(event.status, event.status))
            extra = f" — {name}" if name else (f" — {event.note}" if event.status == "escalated" and event.note else "")
            lines.append(f"• {t.datetime(event.at)}: {label}{extra}")
    buttons: list[Button] = []
    if acts and not report.superseded:
        buttons += reporting.status_buttons(report, t)
    if _may_correct(ctx, report):
        buttons.append(ctx.menu_button(f"fix.{report.id}", t("✏️ Sửa báo cáo")))
    buttons.append(ctx.menu_button("menu", t("⬅️ Menu chính")))
    photo = next((int(v["attachment"]) for v in report.data.values()
                  if detail and isinstance(v, dict) and v.get("attachment")), None)
    return [Reply("\n".join(lines), rows(buttons, per_row=2), photo_id=photo)]


def _may_correct(ctx: Context, report: Report) -> bool:
    window = timedelta(hours=ctx.settings.limits.correction_window_hours)
    return (report.reporter_id == ctx.person_id and not report.superseded and not report.urgent
            and report.status in ("sent", "returned") and ctx.clock.now() - report.created_at <= window
            and ctx.forms.get(report.form_key) is not None)


async def correct(ctx: Context, report_id: int) -> Outcome:
    """Opens the reporter's own recent report at its summary, to change and send again."""
    report = await ctx.repo.report(report_id)
    if report is None or report.reporter_id != ctx.person_id:
        raise NotAllowed(_("Bạn chỉ sửa được báo cáo do chính mình gửi."))
    if not _may_correct(ctx, report):
        hours = ctx.settings.limits.correction_window_hours
        raise UserError(_("Báo cáo {code} không sửa được nữa: chỉ sửa trong {hours} giờ sau khi gửi, "
                          "khi chưa được xử lý."), code=report.code, hours=hours)
    form = ctx.forms.get(report.form_key)
    assert form is not None
    intro = ctx.t("Bạn đang sửa báo cáo {code}. Bấm «Sửa một câu» để thay đổi, rồi «Gửi báo cáo».",
                  code=report.code)
    return await form_flow.start(form, ctx, unit_id=report.unit_id, answers=dict(report.data),
                                 supersedes=report.id, intro=intro)


async def set_status(ctx: Context, report_id: int, status: str, note: str = "") -> Outcome:
    """Changes a report's status if nobody changed it first; otherwise says who did, and when."""
    roles = await ctx.roles()
    replies, deliveries = await reporting.change_status(
        report_id, status, roles=roles, person_id=ctx.person_id, person_name=ctx.who.name, repo=ctx.repo,
        forms=ctx.forms, now=ctx.clock.now(), t=ctx.t, translate=ctx.translate, note=note)
    return Outcome(replies, None, deliveries)


async def ask_reason(ctx: Context, report_id: int) -> Outcome:
    """Asks why the report is returned (the reporter will read it)."""
    report = await ctx.repo.report(report_id)
    roles = await ctx.roles()
    if report is None or not any(h.role == "official" and h.covers(report.unit_path) for h in roles):
        raise NotAllowed(_("Báo cáo này không thuộc địa bàn của bạn."))
    if not reporting.may_become(report.status, "returned"):  # resolved or returned meanwhile
        return Outcome([await reporting.already_changed(report, "returned", repo=ctx.repo, forms=ctx.forms,
                                                        t=ctx.t)], None)
    state = State(REASON, "ask", {"report": report_id, "code": report.code})
    return Outcome(await ReasonFlow().show(state, ctx), state)


class ReasonFlow:
    """One question: the reason a report is returned to its sender."""

    name = REASON

    async def show(self, state: State, ctx: Context) -> list[Reply]:
        t = ctx.t
        text = t("Vì sao trả lại báo cáo {code}? Gõ lý do ngắn gọn (người gửi sẽ đọc được).", code=state.data["code"])
        return [Reply(text, rows([ctx.button("cancel", t("✖️ Hủy"))]))]

    async def handle(self, msg: Incoming, state: State, ctx: Context, action: str | None) -> Outcome:
        t = ctx.t
        if action == "cancel":
            return Outcome([Reply(t("Đã hủy, báo cáo giữ nguyên trạng thái."))], None)
        reason = clean(msg.text or "")
        if len(reason) < 3 or len(reason) > 500:
            return Outcome([Reply(t("Lý do cần từ 3 đến 500 ký tự.")), *await self.show(state, ctx)], state)
        return await set_status(ctx, int(state.data["report"]), "returned", note=reason)
