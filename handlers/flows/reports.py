"""Lists of reports: a leader's own, and the newest in an official's area."""

from __future__ import annotations

from handlers.context import Context
from handlers.errors import NotALeader, NotAllowed
from handlers.i18n import _
from handlers.messages import Reply

STATUS_LABELS = {
    "sent": _("Đã gửi"),
    "received": _("Đã tiếp nhận"),
    "in_progress": _("Đang xử lý"),
    "resolved": _("Đã xử lý"),
    "returned": _("Trả lại"),
}


def _title(ctx: Context, form_key: str) -> str:
    form = ctx.forms.get(form_key)
    return ctx.t(form.title) if form else form_key


async def my_reports(ctx: Context) -> list[Reply]:
    """Lists the leader's recent reports with code, status and date."""
    t = ctx.t
    if not await ctx.leader_roles():
        raise NotALeader()
    reports = await ctx.repo.reports_by(ctx.person_id, limit=10)
    if not reports:
        return [Reply(t("Bạn chưa gửi báo cáo nào."))]
    lines = [t("📜 Báo cáo gần đây của bạn:")]
    for report in reports:
        status = t(STATUS_LABELS.get(report.status, report.status))
        lines.append(f"• {report.code} · {t.date(report.created_at)} · {_title(ctx, report.form_key)} · {status}")
    return [Reply("\n".join(lines))]


async def area_reports(ctx: Context) -> list[Reply]:
    """Lists the newest reports from every group under the official's units."""
    t = ctx.t
    units = [held.unit for held in await ctx.roles() if held.role == "official"]
    if not units:
        raise NotAllowed()
    lines: list[str] = []
    for unit in units:
        found = await ctx.repo.reports_under(unit, limit=10)
        lines.append(t("📋 Báo cáo mới nhất — {unit}:", unit=unit.name))
        if not found:
            lines.append(t("Chưa có báo cáo nào."))
        for report, group in found:
            status = t(STATUS_LABELS.get(report.status, report.status))
            lines.append(f"• {report.code} · {t.datetime(report.created_at)} · {group.name} · "
                         f"{_title(ctx, report.form_key)} · {status}")
    return [Reply("\n".join(lines))]
