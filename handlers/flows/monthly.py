"""The monthly report and the one-tap "nothing happened this month" report: one rule for the month
they are for, a confirmation before either is sent, a second one for the same month replacing the
first (kept, superseded), and the warning when a later report makes one of them out of date.

The rule: until the deadline day (campaigns.monthly_deadline_day, the `han_bao_cao_thang`
campaign's day) a report is for the previous month, after it for the current one; the leader may
choose another open month (this one and the OPEN_MONTHS - 1 before it). A report's month is its
event day's month (the day the event happened, not the day it was filed).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from handlers import buttons as b
from handlers.context import Context, Outcome
from handlers.errors import NotALeader, UnknownForm, UserError
from handlers.forms import FieldDef, FormDef
from handlers.i18n import _
from handlers.messages import Button, Reply, rows
from handlers.reports.reporting import title_of
from models.repo_reports import NIL_FORM
from models.tables import Report, Unit

OPEN_MONTHS = 3  # the months a leader may choose: the current one and the two before it


def add_months(first: date, months: int) -> date:
    """The first day of the month `months` after (or before) the month of `first`."""
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_key(first: date) -> str:
    return f"{first:%Y-%m}"


def month_number(first: date) -> int:
    """A month as a button carries it: 202611."""
    return first.year * 100 + first.month


def rule_month(now: datetime, ctx: Context) -> date:
    """The first day of the month a monthly or nil report filed now is for: the previous month up to
    and including the deadline day, the current month after it."""
    local = now.astimezone(ctx.settings.app.tz).date()
    first = local.replace(day=1)
    return add_months(first, -1) if local.day <= ctx.settings.campaigns.monthly_deadline_day else first


def open_months(now: datetime, ctx: Context) -> list[date]:
    """The months that may still be reported, newest first."""
    current = now.astimezone(ctx.settings.app.tz).date().replace(day=1)
    return [add_months(current, -n) for n in range(OPEN_MONTHS)]


def chosen_month(number: int, ctx: Context) -> date:
    """The month of a button (0: the rule's month); a month no longer open is refused."""
    now = ctx.clock.now()
    if not number:
        return rule_month(now, ctx)
    for first in open_months(now, ctx):
        if month_number(first) == number:
            return first
    raise UserError(_("Tháng này không còn mở để báo cáo. Hãy chọn một tháng khác."))


def month_of(now: datetime, ctx: Context) -> tuple[datetime, datetime, str, str]:
    """The local calendar month around `now`: its start and end in UTC, "2026-11" and "11/2026"."""
    first = now.astimezone(ctx.settings.app.tz).date().replace(day=1)
    tz = ctx.settings.app.tz
    start = datetime.combine(first, time(), tz).astimezone(UTC)
    end = datetime.combine(add_months(first, 1), time(), tz).astimezone(UTC)
    return start, end, month_key(first), f"{first:%m/%Y}"


def report_month(now: datetime, ctx: Context) -> tuple[datetime, datetime, str, str]:
    """The month a monthly report filed now is for (see `rule_month`), like `month_of`."""
    first = rule_month(now, ctx)
    return month_of(datetime.combine(first, time(12), ctx.settings.app.tz), ctx)


def choose_month(ctx: Context, form_key: str, made: list[str]) -> Reply:
    """"Chọn tháng khác": one button per open month, for the monthly or the nil report."""
    t = ctx.t
    form = ctx.forms.get(form_key)
    buttons: list[Button] = []
    for first in open_months(ctx.clock.now(), ctx):
        label = t("Tháng {month}", month=t.month(first)) + (" ✓" if month_key(first) in made else "")
        number = month_number(first)
        code: b.Code = b.MonthlyReport(number) if form and form.monthly else b.NilReport(form_key, number)
        buttons.append(code.button(label))
    buttons.append(b.Menu().button(t("✖️ Hủy")))
    return Reply(t("Báo cáo cho tháng nào? (✓: tháng đã có báo cáo)"), rows(buttons, per_row=2))


# --- the monthly report ------------------------------------------------------------------------

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


async def group(ctx: Context, unit_id: int) -> Unit:
    unit = await ctx.repo.unit(unit_id)
    if unit is None:
        raise UserError(_("Không tìm thấy tổ của bạn. Vui lòng liên hệ cán bộ phường."))
    return unit


async def month_reports(ctx: Context, path: str, first: date, forms: Collection[str] | None = None) -> list[Report]:
    """The current reports of the group at `path` about a day of the month (event day), the
    monthly and nil ones included; only those of `forms` when given."""
    return list(await ctx.repo.reports_on_days(path, first, add_months(first, 1), forms=forms))


def _monthly_forms(ctx: Context) -> set[str]:
    return {key for key, form in ctx.forms.forms.items() if form.monthly}


async def proposal(form: FormDef, ctx: Context, unit_id: int, first: date | None = None) -> tuple[dict[str, Any], str]:
    """Figures for every prefilled field of a monthly form, from the reports about that month (by the
    day each event happened): the rule's month unless another is chosen."""
    first = first or rule_month(ctx.clock.now(), ctx)
    month = ctx.t.month(first)
    unit = await group(ctx, unit_id)
    skipped = {NIL_FORM, *_monthly_forms(ctx)}
    reports = [r for r in await month_reports(ctx, unit.path, first) if r.form_key not in skipped]
    answers: dict[str, Any] = {field.key: _figure(field, reports) for field in form.fields if field.prefill}
    # Optional fields with nothing to propose start empty, so the summary opens straight away.
    answers.update({field.key: None for field in form.fields if not field.prefill and not field.required})
    for field in form.fields:
        if field.key in answers and field.max is not None and answers[field.key] > field.max:
            answers[field.key] = field.max
    answers["_month"] = month_key(first)
    if reports:
        intro = ctx.t.ngettext("Số liệu dưới đây tổng hợp từ {n} báo cáo tháng {month} của tổ. "
                               "Kiểm tra, sửa nếu cần, rồi gửi.", "Số liệu dưới đây tổng hợp từ {n} báo cáo tháng "
                               "{month} của tổ. Kiểm tra, sửa nếu cần, rồi gửi.", len(reports), month=month)
    else:
        intro = ctx.t("Tháng {month} tổ chưa có báo cáo nào; các số đang để 0. Kiểm tra, sửa nếu cần, rồi gửi.",
                      month=month)
    return answers, intro


async def monthly_of(ctx: Context, form: FormDef, unit: Unit, first: date) -> Report | None:
    """The group's current monthly report of `form` for the month, if there is one."""
    found = await month_reports(ctx, unit.path, first, {form.key})
    return found[-1] if found else None


async def replaced(form: FormDef, answers: dict[str, Any], unit_id: int, ctx: Context) -> int | None:
    """The monthly report a new one for the same month replaces (never a silent second one)."""
    month = answers.get("_month")
    if not form.monthly or not isinstance(month, str):
        return None
    earlier = await monthly_of(ctx, form, await group(ctx, unit_id), date(int(month[:4]), int(month[5:7]), 1))
    return earlier.id if earlier else None


def already_there(ctx: Context, earlier: Report, first: date, *, replace: Button, other: Button) -> Reply:
    """A second report for a month that has one: replace it (kept in the history), another month, or not."""
    t = ctx.t
    text = t("Tháng {month} tổ đã gửi «{title}» lúc {when} (mã {code}). Gửi bản mới để thay bản đó? "
             "Bản cũ vẫn được lưu.", month=t.month(first), title=_title(ctx, earlier), when=t.datetime(
                 earlier.created_at), code=earlier.code)
    if earlier.out_of_date:
        text += "\n" + t("⚠️ Báo cáo đó đã cũ: tổ đã gửi thêm báo cáo về tháng này sau đó.")
    return Reply(text, ((replace,), (other, b.Menu().button(t("✖️ Hủy")))))


def _title(ctx: Context, report: Report) -> str:
    """The report's title; a nil report's is what it says of its form ("Không có vụ việc")."""
    nil = ctx.forms.get(str(report.data.get("form"))) if report.form_key == NIL_FORM else None
    return ctx.t(nil.nil_report) if nil is not None else title_of(ctx.forms, ctx.t, report.form_key)


# --- the nil report ------------------------------------------------------------------------------

async def nil_report(ctx: Context, form_key: str, month: int = 0, go: int = 0) -> Outcome:
    """"Nothing happened this month" for a form: asks first, for the month of the rule (or the one
    chosen); then files it (go=1), or replaces the one already there (go=2). Refused when the group
    reported that form for the month."""
    t = ctx.t
    form = ctx.forms.get(form_key)
    if form is None or not form.nil_report:
        raise UnknownForm()
    leaders = [held for held in await ctx.leader_roles() if held.role in form.roles]
    if not leaders:
        raise NotALeader()
    unit = await group(ctx, leaders[0].unit.id or 0)
    first = chosen_month(month, ctx)
    label, number = t.month(first), month_number(first)
    this_month = await month_reports(ctx, unit.path, first, {form_key, NIL_FORM})
    filed = [r for r in this_month if r.form_key == form_key]
    if filed:
        raise UserError(_("Tháng {month} tổ đã gửi {n} báo cáo «{title}», nên không báo «{label}» được."),
                        month=label, n=t.number(len(filed)), title=t(form.title), label=t(form.nil_report))
    earlier = next((r for r in this_month if r.form_key == NIL_FORM and r.data.get("form") == form_key), None)
    other = b.ChooseMonth(form_key).button(t("📅 Chọn tháng khác"))
    if earlier is not None and go != 2:
        replace = b.NilReport(form_key, number, 2).button(t("🔁 Gửi lại, thay bản cũ"))
        return Outcome([already_there(ctx, earlier, first, replace=replace, other=other)], question=True)
    if not go:
        ask = t("Gửi báo cáo «{label}» cho tháng {month}?", label=t(form.nil_report), month=label)
        buttons = ((b.NilReport(form_key, number, 1).button(t("✅ Gửi")), other, b.Menu().button(t("✖️ Hủy"))),)
        return Outcome([Reply(ask, buttons)], question=True)
    now = ctx.clock.now()
    report = await ctx.repo.add_report(form_key=NIL_FORM, form_version=1, task=form.task, unit=unit,
                                       reporter_id=ctx.person_id, data={"form": form_key, "month": month_key(first)},
                                       at=now, event_day=first, supersedes=earlier)
    done = t("✅ Đã báo «{label}» cho tháng {month}. Mã báo cáo: {code}",
             label=t(form.nil_report), month=label, code=report.code)
    if earlier is not None:
        done += "\n" + t("Đây là bản sửa của báo cáo {code}; bản cũ vẫn được lưu.", code=earlier.code)
    return Outcome([Reply(done)], next_steps=[b.ViewReport(report.id or 0).button(t("🔎 Xem báo cáo"))])


async def choose(ctx: Context, form_key: str) -> Outcome:
    """The open months, for the monthly report or a nil report."""
    form = ctx.forms.get(form_key)
    if form is None or not (form.monthly or form.nil_report):
        raise UnknownForm()
    leaders = [held for held in await ctx.leader_roles() if held.role in form.roles]
    if not leaders:
        raise NotALeader()
    unit = await group(ctx, leaders[0].unit.id or 0)
    made = []
    for first in open_months(ctx.clock.now(), ctx):
        reports = await month_reports(ctx, unit.path, first, {form_key, NIL_FORM})
        if any(r.form_key == form_key or (r.form_key == NIL_FORM and r.data.get("form") == form_key)
               for r in reports):
            made.append(month_key(first))
    return Outcome([choose_month(ctx, form_key, made)], question=True)


# --- a report that makes a monthly or nil report out of date ------------------------------------

async def after_filing(form: FormDef, report: Report, ctx: Context, old_day: date | None = None) -> tuple[
        list[Reply], list[Button]]:
    """After an ordinary report (or its correction, whose old day `old_day` may be in another
    month): a monthly or nil report already sent for its month is marked out of date, and the
    leader is told (not after an urgent incident), with a button to update the monthly report."""
    if form.monthly or report.form_key == NIL_FORM:
        return [], []
    t = ctx.t
    months = sorted({d.replace(day=1) for d in (report.event_day, old_day) if d is not None})
    replies: list[Reply] = []
    steps: list[Button] = []
    monthly_forms = _monthly_forms(ctx)
    for first in months:
        found = await month_reports(ctx, report.unit_path, first, {*monthly_forms, NIL_FORM})
        monthly = [r for r in found if r.form_key in monthly_forms]
        nil = [r for r in found if r.form_key == NIL_FORM and r.data.get("form") == form.key]
        if not monthly and not nil:
            continue
        await ctx.repo.mark_out_of_date([*monthly, *nil], at=ctx.clock.now())
        if form.urgent:  # an urgent incident's answer keeps to the emergency: marked, not said
            continue
        if monthly:
            replies.append(Reply(t("⚠️ Tháng {month} đã có báo cáo tháng; báo cáo này làm nó cũ. "
                                   "Bấm «Cập nhật báo cáo tháng» để gửi bản mới.", month=t.month(first))))
            steps.append(b.MonthlyReport(month_number(first), 2).button(
                t("🗓️ Cập nhật báo cáo tháng {month}", month=t.month(first))))
        for earlier in nil:
            replies.append(Reply(t("⚠️ Tháng {month} tổ đã báo «{label}»; báo cáo này làm nó cũ.",
                                   month=t.month(first), label=_title(ctx, earlier))))
    return replies, steps


def deadline_of(first: date, ctx: Context) -> date:
    """The day the month's report is due (the next month's deadline day)."""
    return add_months(first, 1) + timedelta(days=ctx.settings.campaigns.monthly_deadline_day - 1)
