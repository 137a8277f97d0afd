"""The monthly report, proposed from what the group reported this month, and the one-tap
"nothing happened this month" report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from handlers.context import Context
from handlers.errors import NotALeader, UnknownForm, UserError
from handlers.flows.menu import main_menu
from handlers.forms import FieldDef, FormDef
from handlers.i18n import _
from handlers.messages import Reply
from handlers.reports.reporting import NIL_FORM
from models.tables import Report


def month_of(now: datetime, ctx: Context) -> tuple[datetime, datetime, str, str]:
    """The local calendar month around `now`: its start and end in UTC, "2026-11" and "11/2026"."""
    local = now.astimezone(ctx.settings.app.tz)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if first.month == 12:
        following = first.replace(year=first.year + 1, month=1)
    else:
        following = first.replace(month=first.month + 1)
    return first.astimezone(UTC), following.astimezone(UTC), f"{first:%Y-%m}", f"{first:%m/%Y}"


def _figure(field: FieldDef, reports: list[Report]) -> int | float:
    spec = field.prefill
    assert spec is not None
    chosen = [r for r in reports if r.form_key == spec.form]
    if spec.agg == "count":
        return len(chosen)
    if spec.agg == "count_where":
        return sum(1 for r in chosen if r.data.get(spec.field) == spec.equals)
    if spec.agg == "count_distinct":
        return len({str(r.data.get(spec.field)) for r in chosen if r.data.get(spec.field) is not None})
    total: int | float = 0
    for report in chosen:
        value = report.data.get(spec.field)
        if isinstance(value, int | float) and not isinstance(value, bool):
            total += value
    return round(total, 2) if isinstance(total, float) else total


def report_month(now: datetime, ctx: Context) -> tuple[datetime, datetime, str, str]:
    """The month a monthly report filed now is for: the previous one until the deadline day
    (campaigns.monthly_deadline_day), else the current one."""
    local = now.astimezone(ctx.settings.app.tz)
    if local.day <= ctx.settings.campaigns.monthly_deadline_day:
        local = local.replace(day=1) - timedelta(days=1)
    return month_of(local, ctx)


async def proposal(form: FormDef, ctx: Context, unit_id: int) -> tuple[dict[str, Any], str]:
    """Figures for every prefilled field of a monthly form, from that month's reports of the group."""
    start, end, _key, label = report_month(ctx.clock.now(), ctx)
    reports = list(await ctx.repo.reports_in_period(unit_id, start, end))
    answers: dict[str, Any] = {field.key: _figure(field, reports) for field in form.fields if field.prefill}
    # Optional fields with nothing to propose start empty, so the summary opens straight away.
    answers.update({field.key: None for field in form.fields if not field.prefill and not field.required})
    for field in form.fields:
        if field.key in answers and field.max is not None and answers[field.key] > field.max:
            answers[field.key] = field.max
    intro = ctx.t("Số liệu dưới đây tổng hợp từ {n} báo cáo tháng {month} của tổ. "
                  "Kiểm tra, sửa nếu cần, rồi gửi.", n=len(reports), month=label)
    return answers, intro


async def nil_report(ctx: Context, form_key: str) -> list[Reply]:
    """Files "nothing happened this month" for a form in one tap, once a month, if nothing was reported."""
    t = ctx.t
    form = ctx.forms.get(form_key)
    if form is None or not form.nil_report:
        raise UnknownForm()
    leaders = [held for held in await ctx.leader_roles() if held.role in form.roles]
    if not leaders:
        raise NotALeader()
    unit = leaders[0].unit
    now = ctx.clock.now()
    start, end, key, label = month_of(now, ctx)
    this_month = await ctx.repo.reports_in_period(unit.id or 0, start, end)
    earlier = [r for r in this_month if r.form_key == NIL_FORM and r.data.get("form") == form_key]
    if earlier:
        raise UserError(_("Tổ đã báo «{label}» tháng {month} rồi (mã {code})."),
                        label=t(form.nil_report), month=label, code=earlier[0].code)
    filed = [r for r in this_month if r.form_key == form_key]
    if filed:
        raise UserError(_("Tháng {month} tổ đã gửi {n} báo cáo «{title}», nên không báo «{label}» được."),
                        month=label, n=len(filed), title=t(form.title), label=t(form.nil_report))
    report = await ctx.repo.add_report(form_key=NIL_FORM, form_version=1, task=form.task, unit=unit,
                                       reporter_id=ctx.person_id, data={"form": form_key, "month": key}, at=now)
    done = t("✅ Đã báo «{label}» cho tháng {month}. Mã báo cáo: {code}",
             label=t(form.nil_report), month=label, code=report.code)
    return [Reply(done), *await main_menu(ctx)]
