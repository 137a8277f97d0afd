"""Reading reports and acting on them: a leader's own history and corrections, an official's
lists of open incidents and new reports, one report's details, status buttons, the return reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from handlers import buttons as b
from handlers.context import LEADER_ROLES, Context, Outcome
from handlers.errors import NotALeader, NotAllowed, UserError
from handlers.flows import form as form_flow
from handlers.i18n import _
from handlers.messages import Button, Reply, rows
from handlers.reports import reporting
from handlers.reports.reporting import OPEN, STATUS_LABELS, title_of
from handlers.text import shorten
from models.tables import Report, Unit

PAGE = 5


def _short(text: str, limit: int = 64) -> str:
    """Cuts a button label at a word, with an ellipsis."""
    return shorten(text, limit)


def _line(ctx: Context, report: Report, unit: Unit | None = None) -> str:
    """A report in a list, the thing first: "🚨 Báo tin khẩn 02/12 · Đang xử lý · nước sông dâng…"
    (and the group, for an official); no code."""
    t = ctx.t
    status = t(STATUS_LABELS.get(report.status, report.status))
    urgent = "🚨 " if report.urgent else ""
    title = title_of(ctx.forms, t, report.form_key)
    words = reporting.first_words(ctx.forms.get(report.form_key), report.data, t, limit=24)
    parts = [f"{urgent}{title} {t.day(report.created_at)}", status, *([words] if words else [])]
    if unit:
        parts.append(unit.name)
    return " · ".join(parts)


def _pager(ctx: Context, page_of: Callable[[int], b.Code], page: int, more: bool) -> list[Button]:
    buttons = []
    if page > 0:
        buttons.append(page_of(page - 1).button(ctx.t("◀️ Trang trước")))
    if more:
        buttons.append(page_of(page + 1).button(ctx.t("Trang sau ▶️")))
    return buttons


async def my_reports(ctx: Context, page: int = 0) -> list[Reply]:
    """Lists the leader's recent reports; each opens with a button."""
    t = ctx.t
    if not await ctx.leader_roles():
        raise NotALeader()
    found = await ctx.repo.reports_by(ctx.person_id, limit=PAGE + 1, offset=page * PAGE)
    if not found and page == 0:
        return [Reply(t("Bạn chưa gửi báo cáo nào."))]
    shown = found[:PAGE]
    text = t("📜 Báo cáo của bạn (trang {page}). Bấm để xem chi tiết:", page=page + 1)
    buttons = [b.ViewReport(r.id or 0).button(_short(_line(ctx, r))) for r in shown]
    nav = _pager(ctx, b.MyReports, page, len(found) > PAGE)
    return [Reply(text, (*rows(buttons), *((tuple(nav),) if nav else ())))]


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
        return [Reply(f"{title}\n{empty}")]
    text = t("{title} — trang {page}, mới nhất trước:", title=title, page=page + 1)
    buttons = [b.ViewReport(r.id or 0).button(_short(_line(ctx, r, u))) for r, u in shown]
    page_of = b.OpenIncidents if kind == "oi" else b.NewReports
    nav = _pager(ctx, page_of, page, len(found) > (page + 1) * PAGE)
    return [Reply(text, (*rows(buttons), *((tuple(nav),) if nav else ())))]


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
    elif report.out_of_date:
        lines.append(t("⚠️ Báo cáo đó đã cũ: tổ đã gửi thêm báo cáo về tháng này sau đó."))
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
        lines += ["", t("Quá trình xử lý:")]
        for event, name in history:
            label = t(STATUS_LABELS.get(event.status, event.status))
            extra = f" — {name}" if name else (f" — {event.note}" if event.status == "escalated" and event.note else "")
            lines.append(f"• {t.datetime(event.at)}: {label}{extra}")
    buttons: list[Button] = []
    if acts and not report.superseded:
        buttons += reporting.status_buttons(report, t)
    if _may_correct(ctx, report):
        buttons.append(b.Correct(report.id or 0).button(t("✏️ Sửa báo cáo")))
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
    # Changed: what the official may do next with it (after acknowledging: in progress, resolved).
    steps = reporting.next_status_buttons(report_id, status, ctx.t) if deliveries else []
    return Outcome(replies, None, deliveries, next_steps=steps)
