"""The reason a report is returned: one question asked of the official who pressed ↩️ Trả lại; the
reporter reads the reason. A wizard of one step (handlers/flows/wizard.py)."""

from __future__ import annotations

from enum import StrEnum

from handlers import buttons as b
from handlers.context import Context, Outcome, State
from handlers.errors import NotAllowed, UserError
from handlers.flows.review import set_status
from handlers.flows.wizard import Answer, Wizard, cancel_button
from handlers.flows.wizard import Step as WizardStep
from handlers.i18n import _
from handlers.messages import Button, Reply, rows
from handlers.reports import reporting

NAME = "reason"


class Step(StrEnum):
    ASK = "ask"


async def ask_reason(ctx: Context, report_id: int) -> Outcome:
    """Asks why the report is returned (the reporter will read it)."""
    report = await ctx.repo.report(report_id)
    roles = await ctx.roles()
    if report is None or not any(h.role == "official" and h.covers(report.unit_path) for h in roles):
        raise NotAllowed(_("Báo cáo này không thuộc địa bàn của bạn."))
    if not reporting.may_become(report.status, "returned"):  # resolved or returned meanwhile
        return Outcome([await reporting.already_changed(report, "returned", repo=ctx.repo, forms=ctx.forms,
                                                        t=ctx.t)], None)
    named = reporting.name_of(report, ctx.forms, ctx.t)
    return await WIZARD.begin(Step.ASK, {"report": report_id, "title": named}, ctx)


async def _ask(state: State, ctx: Context) -> list[Reply]:
    named = state.data.get("title") or state.data.get("code", "")  # "code": states saved before names
    text = ctx.t("Vì sao trả lại báo cáo {title}? Gõ lý do ngắn gọn (người gửi sẽ đọc được).", title=named)
    return [Reply(text, rows([cancel_button(ctx)]))]


async def _read(answer: Answer, state: State, ctx: Context) -> Outcome:
    if not 3 <= len(answer.text) <= 500:
        raise UserError(_("Lý do cần từ 3 đến 500 ký tự."))
    return await set_status(ctx, int(state.data["report"]), "returned", note=answer.text)


def _view(state: State, ctx: Context) -> list[Button]:
    return [b.ViewReport(int(state.data["report"])).button(ctx.t("🔎 Xem báo cáo"))]


WIZARD = Wizard(NAME, [WizardStep(Step.ASK, _ask, _read)], cancelled=_("Đã hủy, báo cáo giữ nguyên trạng thái."),
                after_cancel=_view)
