"""Opening the monthly report: which month it is for (the rule's, or one chosen), the offer to
replace the one already sent for that month, then the form at its summary with the figures
proposed from that month's reports (see handlers/flows/monthly.py for the rule)."""

from __future__ import annotations

from handlers import buttons as b
from handlers.context import Context, Outcome
from handlers.errors import NotALeader, UnknownForm
from handlers.flows import form as form_flow
from handlers.flows import monthly
from handlers.forms import FormDef
from handlers.messages import Reply


def _monthly_form(ctx: Context) -> FormDef:
    form = next((f for f in ctx.forms.forms.values() if f.monthly), None)
    if form is None:
        raise UnknownForm()
    return form


async def open_monthly(ctx: Context, month: int = 0, go: int = 0) -> Outcome:
    """Says which month the monthly report is for and asks (go 0); opens the form (1); opens it to
    replace the report already sent for the month (2). A month that has one offers to replace it."""
    t = ctx.t
    form = _monthly_form(ctx)
    allowed = [held for held in await ctx.roles() if held.role in form.roles]
    if not allowed:
        raise NotALeader()
    unit_id = allowed[0].unit.id or 0
    first = monthly.chosen_month(month, ctx)
    number, label = monthly.month_number(first), t.month(first)
    unit = await monthly.group(ctx, unit_id)
    earlier = await monthly.monthly_of(ctx, form, unit, first)
    other = b.ChooseMonth(form.key).button(t("📅 Chọn tháng khác"))
    if earlier is not None and go != 2:
        replace = b.MonthlyReport(number, 2).button(t("🔁 Lập bản mới, thay bản cũ"))
        return Outcome([monthly.already_there(ctx, earlier, first, replace=replace, other=other)], question=True)
    if go == 0:
        deadline = monthly.deadline_of(first, ctx)
        text = t("🗓️ Báo cáo tháng {month} của {group} (hạn nộp {deadline}).\nSố liệu được tổng hợp từ các báo "
                 "cáo về những việc diễn ra trong tháng {month}.", month=label, group=unit.name,
                 deadline=t.date(deadline))
        start = b.MonthlyReport(number, 1).button(t("📝 Lập báo cáo tháng {month}", month=label))
        return Outcome([Reply(text, ((start,), (other, b.Menu().button(t("✖️ Hủy")))))], question=True)
    answers, intro = await monthly.proposal(form, ctx, unit_id, first)
    if earlier is not None:
        for field in form.fields:  # what the leader wrote stays; the figures are proposed again
            if field.type == "text" and earlier.data.get(field.key):
                answers[field.key] = earlier.data[field.key]
        intro += "\n" + t("Bản này sẽ thay báo cáo {code}; bản cũ vẫn được lưu.", code=earlier.code)
    return await form_flow.start(form, ctx, unit_id=unit_id, answers=answers, intro=intro,
                                 supersedes=earlier.id if earlier else None)
