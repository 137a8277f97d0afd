"""Campaigns in chat, for officials: the list with each campaign's next event, one campaign with
the record of its occurrences, pause / resume / end / change the time, and a guided form to
create one for their area."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from handlers import buttons as b
from handlers.campaigns import campaigns as domain
from handlers.campaigns.schedules import ScheduleError, next_event, validate
from handlers.context import Context, Outcome, State
from handlers.delivery.notices import AUDIENCES
from handlers.errors import NotAllowed, UserError
from handlers.flows.notice import ask_unit, may_address, read_unit
from handlers.flows.wizard import Answer, Wizard, cancel_button
from handlers.flows.wizard import Step as WizardStep
from handlers.i18n import Translator, _
from handlers.messages import Button, Reply, rows
from handlers.parsing import parse_date
from handlers.text import shorten
from models.codes import new_code
from models.tables import Campaign

NAME = "campaign"
STEP_LABELS = {"reminder": _("Nhắc"), "follow_up": _("Hỏi kết quả"), "nudge": _("Nhắc quá hạn"),
               "late": _("Báo tổ chậm")}
REMINDER_PRESETS = {
    "eve": ([{"days_before": 1, "time": "19:00"}, {"days_before": 0, "time": "06:30"}],
            _("Tối hôm trước 19:00 và sáng hôm đó 06:30")),
    "morning": ([{"days_before": 0, "time": "06:30"}], _("Sáng hôm đó 06:30")),
    "week": ([{"days_before": 3, "time": "08:00"}, {"days_before": 0, "time": "06:30"}],
             _("3 ngày trước 08:00 và sáng hôm đó 06:30")),
}


def describe_schedule(schedule: dict[str, Any], t: Translator) -> str:
    time_text = schedule.get("time", "")
    kind = schedule.get("kind")
    if kind == "weekly":
        return t("Hằng tuần, {weekday} lúc {time}", weekday=t(domain.WEEKDAYS[int(schedule["weekday"])]),
                 time=time_text)
    if kind == "monthly":
        if schedule.get("rule") == "last":
            return t("{weekday} cuối mỗi tháng lúc {time}", weekday=t(domain.WEEKDAYS[int(schedule["weekday"])]),
                     time=time_text)
        if "day" in schedule:
            return t("Ngày {day} hằng tháng lúc {time}", day=schedule["day"], time=time_text)
    if kind == "yearly" and "day" in schedule:
        return t("Ngày {day}/{month} hằng năm lúc {time}", day=schedule["day"], month=schedule["month"],
                 time=time_text)
    if kind == "yearly":
        return t("Tháng {month} hằng năm lúc {time}", month=schedule["month"], time=time_text)
    dates = ", ".join(f"{d[8:10]}/{d[5:7]}/{d[:4]}" for d in schedule.get("dates", []))
    return t("Ngày {dates} lúc {time}", dates=dates, time=time_text)


async def listing(ctx: Context) -> list[Reply]:
    """The campaigns that reach the official's area, with the next event of each."""
    t = ctx.t
    officials = [h for h in await ctx.roles() if h.role == "official"]
    if not officials:
        raise NotAllowed()
    found: dict[int, Campaign] = {}
    for held in officials:
        for campaign in await ctx.repo.campaigns_under(held.unit.path):
            found[campaign.id or 0] = campaign
    buttons: list[Button] = []
    for campaign in found.values():
        upcoming = next_event(campaign.schedule, now=ctx.clock.now(), tz=ctx.settings.app.tz, ends_on=campaign.ends_on)
        state = {"paused": t("⏸ tạm dừng"), "ended": t("⏹ đã kết thúc")}.get(campaign.status)
        when = state or (t("tới: {when}", when=f"{upcoming:%d/%m %H:%M}") if upcoming else t("không còn lịch"))
        buttons.append(b.CampaignView(campaign.id or 0).button(f"{shorten(t(campaign.name), 36)} · {when}"))
    buttons.append(b.CampaignNew().button(t("➕ Tạo chiến dịch")))
    head = t("🗓️ Chiến dịch trong địa bàn ({n}). Bấm để xem lịch và kết quả từng lần nhắc:", n=len(found))
    return [Reply(head, rows(buttons))]


async def _campaign(ctx: Context, campaign_id: int, *, manage: bool) -> Campaign:
    campaign = await ctx.repo.campaign(campaign_id)
    if campaign is None:
        raise UserError(_("Không tìm thấy chiến dịch này."))
    roles = [h for h in await ctx.roles() if h.role == "official"]
    sees = any(h.covers(campaign.unit_path) or (campaign.unit_path and h.unit.path.startswith(campaign.unit_path))
               for h in roles)
    if not sees or (manage and not any(h.covers(campaign.unit_path) for h in roles)):
        raise NotAllowed(_("Chiến dịch này không thuộc địa bàn của bạn."))
    return campaign


async def view(ctx: Context, campaign_id: int) -> list[Reply]:
    """One campaign: its schedule, the next event, and what each recent occurrence did."""
    t = ctx.t
    campaign = await _campaign(ctx, campaign_id, manage=False)
    unit = await ctx.repo.unit(campaign.unit_id)
    lines = [f"🗓️ {t(campaign.name)}", t("Phạm vi: {unit} · gửi cho: {audience}", unit=unit.name if unit else "?",
                                         audience=t(AUDIENCES.get(campaign.audience, campaign.audience))),
             t("Lịch: {schedule}", schedule=describe_schedule(campaign.schedule, t))]
    upcoming = next_event(campaign.schedule, now=ctx.clock.now(), tz=ctx.settings.app.tz, ends_on=campaign.ends_on)
    if campaign.status == "active" and upcoming:
        lines.append(t("Lần tới: {when}", when=domain.when_text(upcoming, t)))
    elif campaign.status != "active":
        status = t("tạm dừng") if campaign.status == "paused" else t("đã kết thúc")
        lines.append(t("Trạng thái: {status}", status=status))
    if campaign.ends_on:
        lines.append(t("Kết thúc sau ngày {date}", date=t.date(campaign.ends_on)))
    history = await ctx.repo.occurrences_of(campaign.id or 0, limit=6)
    lines += ["", t("Các lần gần đây:") if history else t("Chưa có lần nhắc nào.")]
    for occurrence in history:
        label = t(STEP_LABELS.get(occurrence.step, occurrence.step))
        if occurrence.status == "sent":
            result = t("đã gửi {n} người", n=t.number(occurrence.recipients))
        else:
            result = t("bỏ qua: ứng dụng không chạy đúng giờ")
        lines.append(f"• {t.datetime(occurrence.due_at)} · {label} · {result}")
    buttons: list[Button] = []
    roles = [h for h in await ctx.roles() if h.role == "official"]
    if any(h.covers(campaign.unit_path) for h in roles) and campaign.status != "ended":
        if campaign.status == "active":
            buttons.append(b.CampaignToggle(campaign.id or 0).button(t("⏸ Tạm dừng")))
        else:
            buttons.append(b.CampaignToggle(campaign.id or 0).button(t("▶️ Tiếp tục")))
        buttons.append(b.CampaignRetime(campaign.id or 0).button(t("🕒 Đổi giờ")))
        buttons.append(b.CampaignEnd(campaign.id or 0).button(t("⏹ Kết thúc")))
    buttons.append(b.Campaigns().button(t("⬅️ Danh sách chiến dịch")))
    return [Reply("\n".join(lines), rows(buttons, per_row=2))]


async def toggle(ctx: Context, campaign_id: int) -> list[Reply]:
    campaign = await _campaign(ctx, campaign_id, manage=True)
    if campaign.status == "ended":
        raise UserError(_("Chiến dịch đã kết thúc."))
    campaign.status = "paused" if campaign.status == "active" else "active"
    domain.touch(campaign, ctx.clock.now())
    await ctx.repo.audit(person_id=ctx.person_id, action=f"campaign_{campaign.status}",
                         target=f"campaign:{campaign.id}")
    return await view(ctx, campaign_id)


async def end(ctx: Context, campaign_id: int) -> list[Reply]:
    campaign = await _campaign(ctx, campaign_id, manage=True)
    campaign.status = "ended"
    domain.touch(campaign, ctx.clock.now())
    await ctx.repo.audit(person_id=ctx.person_id, action="campaign_ended", target=f"campaign:{campaign.id}")
    return await view(ctx, campaign_id)


class Step(StrEnum):
    """The campaign wizard's steps, as saved in the conversation's state."""

    NAME = "name"
    UNIT = "unit"
    AUDIENCE = "audience"
    KIND = "kind"  # weekly, monthly, once
    WEEKDAY = "weekday"
    DAY = "day"  # of the month, or the last Sunday
    DATE = "date"  # of a one-time campaign
    TIME = "time"
    RETIME = "retime"  # a new time for an existing campaign (a wizard of its own step)
    REMINDERS = "reminders"
    FOLLOW = "follow"  # the form that asks for the result afterwards
    ENDS = "ends"
    CONFIRM = "confirm"


async def start_create(ctx: Context) -> Outcome:
    officials = [h for h in await ctx.roles() if h.role == "official"]
    if not officials:
        raise NotAllowed()
    return await WIZARD.begin(Step.NAME, {"roots": [h.unit.id for h in officials], "page": 0}, ctx)


async def start_retime(ctx: Context, campaign_id: int) -> Outcome:
    campaign = await _campaign(ctx, campaign_id, manage=True)
    return await WIZARD.begin(Step.RETIME, {"campaign": campaign.id}, ctx)


def _choose(ctx: Context, question: str, buttons: list[Button], per_row: int = 1) -> list[Reply]:
    return [Reply(question, (*rows(buttons, per_row=per_row), (cancel_button(ctx),)))]


def _chosen(answer: Answer, prefix: str, allowed: Collection[str]) -> str:
    value = answer.arg(prefix)
    if value is None or value not in allowed:
        raise UserError(_("Hãy bấm một trong các nút bên dưới."))
    return value


async def _ask_name(state: State, ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("➕ Chiến dịch mới. Tên chiến dịch là gì? (ví dụ: Tổng vệ sinh đón Tết)"),
                  rows([cancel_button(ctx)]))]


async def _read_name(answer: Answer, state: State, ctx: Context) -> str:
    if not 3 <= len(answer.text) <= 120:
        raise UserError(_("Tên cần từ 3 đến 120 ký tự."))
    state.data["name"] = answer.text
    return Step.UNIT


async def _ask_unit(state: State, ctx: Context) -> list[Reply]:
    return await ask_unit(state, ctx, ctx.t("Chiến dịch cho đơn vị nào? (gồm mọi tổ bên dưới)"))


async def _ask_audience(state: State, ctx: Context) -> list[Reply]:
    return _choose(ctx, ctx.t("Nhắc ai?"), [ctx.button("a", ctx.t(label), key) for key, label in AUDIENCES.items()])


async def _read_audience(answer: Answer, state: State, ctx: Context) -> str:
    state.data["audience"] = _chosen(answer, "a", AUDIENCES)
    return Step.KIND


KINDS = {"weekly": Step.WEEKDAY, "monthly": Step.DAY, "once": Step.DATE}


async def _ask_kind(state: State, ctx: Context) -> list[Reply]:
    t = ctx.t
    buttons = [ctx.button("k.weekly", t("Hằng tuần")), ctx.button("k.monthly", t("Hằng tháng")),
               ctx.button("k.once", t("Một lần"))]
    return [Reply(t("Lịch thế nào?"), (tuple(buttons), (cancel_button(ctx),)))]


async def _read_kind(answer: Answer, state: State, ctx: Context) -> str:
    kind = _chosen(answer, "k", KINDS)
    state.data["schedule"] = {"kind": kind}
    return KINDS[kind]


async def _ask_weekday(state: State, ctx: Context) -> list[Reply]:
    return _choose(ctx, ctx.t("Vào thứ mấy?"),
                   [ctx.button("w", ctx.t(day), n) for n, day in enumerate(domain.WEEKDAYS)], per_row=2)


async def _read_weekday(answer: Answer, state: State, ctx: Context) -> str:
    state.data["schedule"]["weekday"] = int(_chosen(answer, "w", [str(n) for n in range(7)]))
    return Step.TIME


async def _ask_day(state: State, ctx: Context) -> list[Reply]:
    t = ctx.t
    return [Reply(t("Ngày mấy trong tháng? Gõ một số từ 1 đến 28, hoặc bấm nút."),
                  ((ctx.button("last", t("Chủ nhật cuối tháng")),), (cancel_button(ctx),)))]


async def _read_day(answer: Answer, state: State, ctx: Context) -> str:
    if answer.action == "last":
        state.data["schedule"].update(rule="last", weekday=6)
    elif answer.text.isdigit() and 1 <= int(answer.text) <= 28:
        state.data["schedule"]["day"] = int(answer.text)
    else:
        raise UserError(_("Gõ một số từ 1 đến 28, hoặc bấm «Chủ nhật cuối tháng»."))
    return Step.TIME


def _today(ctx: Context) -> date:
    return ctx.clock.now().astimezone(ctx.settings.app.tz).date()


async def _ask_date(state: State, ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("Vào ngày nào? Gõ như {example}.", example=ctx.t.date(_today(ctx) + timedelta(days=7))),
                  rows([cancel_button(ctx)]))]


async def _read_date(answer: Answer, state: State, ctx: Context) -> str:
    day = parse_date(answer.text, _today(ctx))
    if day is None or day < _today(ctx):
        raise UserError(_("Hãy gõ một ngày sắp tới, như {example}."),
                        example=ctx.t.date(_today(ctx) + timedelta(days=7)))
    state.data["schedule"]["dates"] = [day.isoformat()]
    return Step.TIME


async def _ask_time(state: State, ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("Mấy giờ bắt đầu? Gõ như 07:00."), rows([cancel_button(ctx)]))]


def _read_time_text(answer: Answer) -> str:
    at = _time(answer.text)
    if at is None:
        raise UserError(_("Không đọc được giờ «{text}». Gõ như 07:00."), text=answer.text[:10])
    return at


async def _read_time(answer: Answer, state: State, ctx: Context) -> str:
    state.data["schedule"]["time"] = _read_time_text(answer)
    return Step.REMINDERS


async def _read_retime(answer: Answer, state: State, ctx: Context) -> Outcome:
    return await _retime(state, ctx, _read_time_text(answer))


async def _ask_reminders(state: State, ctx: Context) -> list[Reply]:
    return _choose(ctx, ctx.t("Nhắc trước lúc nào?"),
                   [ctx.button("r", ctx.t(label), key) for key, (_items, label) in REMINDER_PRESETS.items()])


async def _read_reminders(answer: Answer, state: State, ctx: Context) -> str:
    state.data["preset"] = _chosen(answer, "r", REMINDER_PRESETS)
    return Step.FOLLOW


async def _ask_follow(state: State, ctx: Context) -> list[Reply]:
    t = ctx.t
    forms = [f for f in ctx.forms.forms.values() if not f.urgent and not f.monthly
             and any(field.type == "date" for field in f.fields)]
    buttons = [ctx.button("f.-", t("Không cần"))] + [ctx.button("f", t(f.title), f.key) for f in forms[:8]]
    return _choose(ctx, t("Sau sự kiện, hỏi tổ trưởng kết quả bằng biểu mẫu nào?"), buttons)


async def _read_follow(answer: Answer, state: State, ctx: Context) -> str:
    key = answer.arg("f") or ""
    if key != "-" and ctx.forms.get(key) is None:
        raise UserError(_("Hãy bấm một trong các nút bên dưới."))
    state.data["form"] = None if key == "-" else key
    return Step.ENDS if state.data["schedule"]["kind"] != "once" else Step.CONFIRM


async def _ask_ends(state: State, ctx: Context) -> list[Reply]:
    t = ctx.t
    return [Reply(t("Kết thúc sau ngày nào? Gõ như 31/12/2026, hoặc bấm «Không có ngày kết thúc»."),
                  ((ctx.button("noend", t("Không có ngày kết thúc")),), (cancel_button(ctx),)))]


async def _read_ends(answer: Answer, state: State, ctx: Context) -> str:
    if answer.action == "noend":
        state.data["ends_on"] = None
    else:
        day = parse_date(answer.text, _today(ctx))
        if day is None:
            raise UserError(_("Hãy gõ một ngày như 31/12/2026, hoặc bấm «Không có ngày kết thúc»."))
        state.data["ends_on"] = day.isoformat()
    return Step.CONFIRM


async def _ask_confirm(state: State, ctx: Context) -> list[Reply]:
    t = ctx.t
    data = state.data
    lines = [t("Xem lại chiến dịch:"), f"🗓️ {data['name']}", t("Lịch: {schedule}",
                                                                schedule=describe_schedule(data["schedule"], t)),
             t("Nhắc: {reminders}", reminders=t(REMINDER_PRESETS[data["preset"]][1]))]
    if data.get("form"):
        form = ctx.forms.get(data["form"])
        lines.append(t("Hỏi kết quả: {title}", title=t(form.title) if form else data["form"]))
    return [Reply("\n".join(lines), ((ctx.button("save", t("✅ Tạo chiến dịch")), cancel_button(ctx)),))]


async def _read_confirm(answer: Answer, state: State, ctx: Context) -> Outcome:
    if answer.action != "save":
        raise UserError(_("Bấm «Tạo chiến dịch» để lưu, hoặc «Hủy»."))
    return await _save(state, ctx)


def _time(text: str) -> str | None:
    cleaned = text.lower().replace("giờ", ":").replace("h", ":").replace(".", ":").replace(" ", "")
    if ":" not in cleaned:
        cleaned += ":00"
    if cleaned.endswith(":"):
        cleaned += "00"
    try:
        hours, minutes = (int(part) for part in cleaned.split(":"))
    except ValueError:
        return None
    return f"{hours:02}:{minutes:02}" if 0 <= hours < 24 and 0 <= minutes < 60 else None


async def _save(state: State, ctx: Context) -> Outcome:
    data = state.data
    try:
        validate(data["schedule"])
    except ScheduleError:
        raise UserError(_("Lịch chưa đủ thông tin. Hãy tạo lại chiến dịch.")) from None
    unit = await ctx.repo.unit(int(data["unit"]))
    if unit is None or not await may_address(ctx, unit):
        raise NotAllowed(_("Đơn vị này không thuộc địa bàn của bạn."))
    now = ctx.clock.now()
    follow = {"hours_after": 3, "form": data["form"]} if data.get("form") else {}
    campaign = Campaign(code=new_code(6), name=data["name"], unit_id=unit.id or 0, unit_path=unit.path,
                        audience=data["audience"], schedule=data["schedule"],
                        reminders=REMINDER_PRESETS[data["preset"]][0], follow_up=follow,
                        ends_on=datetime.fromisoformat(data["ends_on"]).date() if data.get("ends_on") else None,
                        created_by=ctx.person_id, created_at=now, updated_at=now)
    await ctx.repo.add(campaign)
    await ctx.repo.audit(person_id=ctx.person_id, action="campaign_created", target=f"campaign:{campaign.id}")
    done = Reply(ctx.t("✅ Đã tạo chiến dịch «{name}».", name=campaign.name))
    return Outcome([done, *await view(ctx, campaign.id or 0)], None)


async def _retime(state: State, ctx: Context, at: str) -> Outcome:
    campaign = await _campaign(ctx, int(state.data["campaign"]), manage=True)
    campaign.schedule = {**campaign.schedule, "time": at}
    domain.touch(campaign, ctx.clock.now())  # moments are counted from now on: nothing of the old time is sent late
    await ctx.repo.audit(person_id=ctx.person_id, action="campaign_retimed", target=f"campaign:{campaign.id}", time=at)
    done = Reply(ctx.t("Đã đổi giờ thành {time}.", time=at))
    return Outcome([done, *await view(ctx, campaign.id or 0)], None)


WIZARD = Wizard(NAME, [
    WizardStep(Step.NAME, _ask_name, _read_name),
    WizardStep(Step.UNIT, _ask_unit, read_unit),
    WizardStep(Step.AUDIENCE, _ask_audience, _read_audience),
    WizardStep(Step.KIND, _ask_kind, _read_kind),
    WizardStep(Step.WEEKDAY, _ask_weekday, _read_weekday),
    WizardStep(Step.DAY, _ask_day, _read_day),
    WizardStep(Step.DATE, _ask_date, _read_date),
    WizardStep(Step.TIME, _ask_time, _read_time),
    WizardStep(Step.RETIME, _ask_time, _read_retime),
    WizardStep(Step.REMINDERS, _ask_reminders, _read_reminders),
    WizardStep(Step.FOLLOW, _ask_follow, _read_follow),
    WizardStep(Step.ENDS, _ask_ends, _read_ends),
    WizardStep(Step.CONFIRM, _ask_confirm, _read_confirm),
], cancelled=_("Đã hủy."), progress=lambda state: bool(state.data.get("name")))
