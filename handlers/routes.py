"""The route table: every action a menu button can trigger is one row here.

A row names the button's codec (handlers/buttons.py), the handler it runs, what happens to a form
in progress, and which roles may use it. The engine looks the pressed code up (`route_for`),
checks the roles (a person without one of them is refused before the handler runs), and then:

- ``KEEP``: the action runs and a form in progress stays where it was (its question is asked
  again after the action's replies): quick actions on reports, incidents, feedback, help.
- ``IDLE``: the action starts something new, so in a form the person is first asked whether to
  leave it ("Bạn đang điền dở…").
- ``DROP``: the action ends the form in progress (leaving it after being asked).

A new capability adds a codec and a row, not a branch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from handlers import buttons as b
from handlers.context import LEADER_ROLES, Context, Outcome
from handlers.errors import NotALeader, NotAllowed, UnknownForm, UserError
from handlers.flows import (
    access_log,
    campaign,
    duties,
    feedback,
    invites,
    menu,
    monthly,
    monthly_open,
    my_data,
    notice,
    people,
    return_reason,
    review,
    summary,
)
from handlers.flows import form as form_flow
from handlers.i18n import LANGUAGES, _
from handlers.messages import Reply, rows

Handler = Callable[[Any, Context], Awaitable[Outcome]]
LEADERS = frozenset(LEADER_ROLES)
OFFICIALS = frozenset({"official"})
RESIDENTS = frozenset({"resident"})
STAFF = frozenset({"official", *LEADER_ROLES})
ANY_ROLE = frozenset({"official", "resident", *LEADER_ROLES})
# Anyone, even before registering: moving around, help, language, stopping messages.
EVERYONE = frozenset({"*"})


class InForm(StrEnum):
    KEEP = "keep"
    IDLE = "idle"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Route:
    codec: type[b.Code]
    handler: Handler
    in_form: InForm = InForm.IDLE
    # Who may use it: one of these roles is needed, or EVERYONE. Every row says it:
    # tests/integration/test_security_matrix.py fails on a row that does not (None).
    roles: frozenset[str] | None = None

    async def check(self, ctx: Context) -> None:
        """Refuses a person without one of the route's roles, before anything runs."""
        if self.roles is None or self.roles is EVERYONE:
            return
        if not (await ctx.role_names()) & self.roles:
            raise NotALeader() if self.roles <= LEADERS else NotAllowed()


def _replies(function: Callable[..., Awaitable[list[Reply]]], *fields: str) -> Handler:
    """A handler from a function that returns only replies (back at idle)."""

    async def handler(code: Any, ctx: Context) -> Outcome:
        return Outcome(await function(ctx, *(getattr(code, name) for name in fields)))

    return handler


def _outcome(function: Callable[..., Awaitable[Outcome]], *fields: str) -> Handler:
    async def handler(code: Any, ctx: Context) -> Outcome:
        return await function(ctx, *(getattr(code, name) for name in fields))

    return handler


# --- Handlers that are only glue between a button and the flows. ---

async def _nothing(code: b.Code, ctx: Context) -> Outcome:
    """"Tiếp tục": the form's question is asked again (the engine does it for KEEP routes)."""
    return Outcome([])


async def _main_menu(code: b.Code, ctx: Context) -> Outcome:
    return Outcome([], menu=True)


async def _more(code: b.More, ctx: Context) -> Outcome:
    return Outcome(await menu.more_menu(ctx))


async def _leave(code: b.Leave, ctx: Context) -> Outcome:
    """Drops the flow in progress: the engine says what was dropped (a DROP route)."""
    return Outcome([], menu=True)


async def _help(code: b.Help, ctx: Context) -> Outcome:
    return Outcome([await menu.help_text(ctx)])


async def _language(code: b.Language, ctx: Context) -> Outcome:
    if not code.code:
        return Outcome([menu.language_choice(ctx)])
    if code.code not in LANGUAGES:
        raise UserError(_("Nút này không hợp lệ."))
    return Outcome([await menu.set_language(ctx, code.code)])


async def _task(code: b.Task, ctx: Context) -> Outcome:
    task = next((task for task in ctx.settings.tasks if task.key == code.key), None)
    if task is None:
        raise UserError(_("Nút này không hợp lệ."))
    names = await ctx.role_names()
    of_task = [f for f in ctx.forms.forms.values() if f.task == code.key and not f.urgent and not f.monthly]
    forms = [f for f in of_task if names & set(f.roles)]
    if not of_task:
        raise UserError(_("Chưa có biểu mẫu nào cho nhiệm vụ này."))
    if not forms:
        raise NotALeader() if all(set(f.roles) <= LEADERS for f in of_task) else NotAllowed()
    nil = [f for f in forms if f.nil_report]
    if len(forms) == 1 and not nil:
        return await open_form(ctx, forms[0].key)
    choices = [b.OpenForm(f.key).button(ctx.t(f.title)) for f in forms]
    if nil:  # the button names the month it files for: the previous one until the deadline day
        month = ctx.t.month(monthly.rule_month(ctx.clock.now(), ctx))
        choices += [b.NilReport(f.key).button(ctx.t("✅ {label} · tháng {month}", label=ctx.t(f.nil_report),
                                                     month=month)) for f in nil]
    choose = ctx.t("Chọn loại báo cáo:")  # outside the f-string, where the extractor finds it
    text = f"{task.icon} {ctx.t(task.label)}\n{choose}"
    return Outcome([Reply(text, rows(choices))])


async def open_form(ctx: Context, form_key: str) -> Outcome:
    form = ctx.forms.get(form_key)
    if form is None:
        raise UnknownForm()
    allowed = [held for held in await ctx.roles() if held.role in form.roles]
    if not allowed:
        raise NotALeader() if set(form.roles) <= LEADERS else NotAllowed()
    unit_id = allowed[0].unit.id or 0
    if form.monthly:
        return await monthly_open.open_monthly(ctx)
    return await form_flow.start(form, ctx, unit_id=unit_id)


async def _follow_up(code: b.FollowUp, ctx: Context) -> Outcome:
    """A campaign's follow-up button: the matching form with the event's date filled in."""
    form = ctx.forms.get(code.form)
    day = code.day
    if form is None or len(day) != 8 or not day.isdigit():
        raise UserError(_("Nút này không hợp lệ."))
    allowed = [held for held in await ctx.roles() if held.role in form.roles]
    if not allowed:
        raise NotALeader()
    date_field = next((f for f in form.fields if f.type == "date"), None)
    if date_field is None:
        return await form_flow.start(form, ctx, unit_id=allowed[0].unit.id or 0)
    answers = {date_field.key: f"{day[:4]}-{day[4:6]}-{day[6:]}"}
    intro = ctx.t("{label}: {date} (đã điền sẵn).", label=ctx.t(date_field.label),
                  date=f"{day[6:]}/{day[4:6]}/{day[:4]}")
    return await form_flow.start(form, ctx, unit_id=allowed[0].unit.id or 0, answers=answers, intro=intro)


async def _set_status(code: b.SetStatus, ctx: Context) -> Outcome:
    return await review.set_status(ctx, code.report, code.status)


async def _acknowledge(code: b.Acknowledge, ctx: Context) -> Outcome:
    return await review.set_status(ctx, code.report, "received")


async def _digests(code: b.Digests, ctx: Context) -> Outcome:
    return Outcome(await people.digest_choices(ctx, code.toggle))


async def _official_list(code: b.OpenIncidents | b.NewReports, ctx: Context) -> Outcome:
    kind = "oi" if isinstance(code, b.OpenIncidents) else "nr"
    return Outcome(await review.official_list(ctx, kind, code.page))


async def _stop(code: b.Stop, ctx: Context) -> Outcome:
    return Outcome([await menu.stop_question(ctx)], question=True)


async def _stop_confirmed(code: b.StopConfirmed, ctx: Context) -> Outcome:
    return await menu.stop(ctx)


async def _resume(code: b.Resume, ctx: Context) -> Outcome:
    return await menu.resume(ctx)


ROUTES: tuple[Route, ...] = (
    # Moving around: these work for everyone, even before registering.
    Route(b.Menu, _main_menu, roles=EVERYONE),
    Route(b.More, _more, roles=EVERYONE),
    Route(b.Continue, _nothing, InForm.KEEP, roles=EVERYONE),
    Route(b.Leave, _leave, InForm.DROP, roles=EVERYONE),
    Route(b.Help, _help, InForm.KEEP, roles=EVERYONE),
    Route(b.Language, _language, InForm.KEEP, roles=EVERYONE),
    Route(b.Stop, _stop, InForm.KEEP, roles=EVERYONE),
    Route(b.StopConfirmed, _stop_confirmed, InForm.KEEP, roles=EVERYONE),
    Route(b.Resume, _resume, InForm.KEEP, roles=EVERYONE),
    # People's rights over their data: anyone, even before joining or agreeing.
    Route(b.ConsentYes, _outcome(my_data.agree, "code"), InForm.KEEP, roles=EVERYONE),
    Route(b.ConsentNo, _outcome(my_data.decline, "code"), InForm.KEEP, roles=EVERYONE),
    Route(b.MyData, _outcome(my_data.show), InForm.KEEP, roles=EVERYONE),
    Route(b.MyDataFile, _outcome(my_data.send_file), InForm.KEEP, roles=EVERYONE),
    Route(b.EraseMyData, _outcome(my_data.erase, "sure"), roles=EVERYONE),
    Route(b.AccessLog, _outcome(access_log.show, "page"), InForm.KEEP, roles=OFFICIALS),
    # Reports: the form decides who may open it (its `roles`), so those two check it themselves.
    Route(b.Task, _task, roles=LEADERS),
    Route(b.OpenForm, _outcome(open_form, "key"), roles=ANY_ROLE),
    Route(b.NilReport, _outcome(monthly.nil_report, "key", "month", "go"), roles=LEADERS),
    Route(b.MonthlyReport, _outcome(monthly_open.open_monthly, "month", "go"), roles=LEADERS),
    Route(b.ChooseMonth, _outcome(monthly.choose, "form"), roles=LEADERS),
    Route(b.FollowUp, _follow_up, roles=LEADERS),
    Route(b.MyReports, _replies(review.my_reports, "page"), roles=LEADERS),
    Route(b.Correct, _outcome(review.correct, "report"), roles=LEADERS),
    Route(b.ViewReport, _replies(review.view, "report"), InForm.KEEP, roles=ANY_ROLE),
    # An official's work on reports and incidents: quick, so a form in progress stays.
    Route(b.OpenIncidents, _official_list, roles=OFFICIALS),
    Route(b.NewReports, _official_list, roles=OFFICIALS),
    Route(b.Acknowledge, _acknowledge, InForm.KEEP, roles=OFFICIALS),
    Route(b.SetStatus, _set_status, InForm.KEEP, roles=OFFICIALS),
    Route(b.ReturnReport, _outcome(return_reason.ask_reason, "report"), roles=OFFICIALS),
    # Summaries and digests.
    Route(b.SummaryStart, _outcome(summary.action_start), roles=STAFF),
    Route(b.SummaryUnits, _replies(summary.choose_unit, "unit", "page"), roles=STAFF),
    Route(b.SummaryPeriods, _replies(summary.choose_period, "unit"), roles=STAFF),
    Route(b.SummaryShow, _replies(summary.show, "unit", "period"), roles=STAFF),
    Route(b.SummaryDetails, _replies(summary.details, "unit", "period"), roles=STAFF),
    Route(b.Digests, _digests, InForm.KEEP, roles=OFFICIALS),
    # Campaigns.
    Route(b.Campaigns, _replies(campaign.listing), InForm.KEEP, roles=OFFICIALS),
    Route(b.CampaignView, _replies(campaign.view, "campaign"), InForm.KEEP, roles=OFFICIALS),
    Route(b.CampaignToggle, _replies(campaign.toggle, "campaign"), InForm.KEEP, roles=OFFICIALS),
    Route(b.CampaignEnd, _replies(campaign.end, "campaign"), InForm.KEEP, roles=OFFICIALS),
    Route(b.CampaignNew, _outcome(campaign.start_create), roles=OFFICIALS),
    Route(b.CampaignRetime, _outcome(campaign.start_retime, "campaign"), roles=OFFICIALS),
    # Notices.
    Route(b.NewNotice, _outcome(notice.start), roles=STAFF),
    Route(b.SentNotices, _replies(people.sent_notices), roles=STAFF),
    Route(b.NoticeReport, _replies(people.notice_report, "notice"), InForm.KEEP, roles=STAFF),
    Route(b.RecentNotices, _replies(people.recent_notices), InForm.KEEP,
          roles=frozenset({"resident", *LEADER_ROLES})),
    # Invite codes of a leader's group.
    Route(b.InviteResidents, _outcome(invites.group_code), InForm.KEEP, roles=LEADERS),
    Route(b.GroupCodes, _outcome(invites.listing), InForm.KEEP, roles=LEADERS),
    Route(b.RevokeCode, _outcome(invites.revoke, "invite", "sure"), InForm.KEEP, roles=LEADERS),
    Route(b.RenewCode, _outcome(invites.renew, "invite"), InForm.KEEP, roles=LEADERS),
    # Duties of the officials of the units below (an official of a higher unit).
    Route(b.Officials, _outcome(duties.units, "unit"), InForm.KEEP, roles=OFFICIALS),
    Route(b.OfficialDuties, _outcome(duties.official, "unit", "person"), InForm.KEEP, roles=OFFICIALS),
    Route(b.SetDuty, _outcome(duties.set_duty, "unit", "person", "duty", "grant", "sure"), InForm.KEEP,
          roles=OFFICIALS),
    # Feedback.
    Route(b.NewFeedback, _outcome(feedback.start), roles=RESIDENTS),
    Route(b.OpenFeedback, _replies(people.open_feedback), InForm.KEEP, roles=LEADERS),
    Route(b.FeedbackView, _replies(people.feedback_view, "feedback"), InForm.KEEP, roles=STAFF),
    Route(b.AnswerFeedback, _outcome(feedback.ask_answer, "feedback"), roles=STAFF),
    Route(b.PassFeedback, _outcome(feedback.pass_to_ward, "feedback"), roles=STAFF),  # asks for a note
    Route(b.CloseFeedback, _outcome(feedback.close, "feedback", "sure"), InForm.KEEP, roles=STAFF),
)
TABLE: dict[type[b.Code], Route] = {route.codec: route for route in ROUTES}


def route_for(code: b.Code) -> Route | None:
    return TABLE.get(type(code))
