"""Campaigns in chat, for officials: the list with each campaign's next event, one campaign with
the record of its occurrences, pause / resume / end / change the time, and a guided form to
create one for their area."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.campaigns import campaigns as domain
from handlers.campaigns.schedules import ScheduleError, next_event, validate
from handlers.context import Context, Outcome, State
from handlers.delivery.notices import AUDIENCES
from handlers.errors import NotAllowed, UserError
from handlers.flows.menu import main_menu
from handlers.flows.notice import may_address, unit_choices
from handlers.i18n import Translator, _
from handlers.messages import Button, Incoming, Reply, rows
from handlers.parsing import parse_date
from handlers.text import clean
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
        buttons.append(ctx.menu_button(f"cv.{campaign.id}", f"{t(campaign.name)[:36]} · {when}"))
    buttons.append(ctx.menu_button("cpn", t("➕ Tạo chiến dịch")))
    buttons.append(ctx.menu_button("menu", t("⬅️ Menu chính")))
    head = t("🗓️ Chiến dịch trong địa bàn ({n}). Bấm để xem lịch và kết quả từng lần nhắc:", n=len(found))
    return [Reply(head, rows(buttons))]


async def _campaign(ctx: Context, campaign_id: int, *, manage: bool) -> Campaign:
    campaign = await ctx.repo.session.get(Campaign, campaign_id)
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
            buttons.append(ctx.menu_button(f"cps.{campaign.id}", t("⏸ Tạm dừng")))
        else:
            buttons.append(ctx.menu_button(f"cps.{campaign.id}", t("▶️ Tiếp tục")))
        buttons.append(ctx.menu_button(f"cpt.{campaign.id}", t("🕒 Đổi giờ")))
        buttons.append(ctx.menu_button(f"cpe.{campaign.id}", t("⏹ Kết thúc")))
    buttons.append(ctx.menu_button("cp", t("⬅️ Danh sách chiến dịch")))
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


async def start_create(ctx: Context) -> Outcome:
    officials = [h for h in await ctx.roles() if h.role == "official"]
    if not officials:
        raise NotAllowed()
    state = State(NAME, "name", {"roots": [h.unit.id for h in officials], "page": 0})
    return Outcome(await show(state, ctx), state)


async def start_retime(ctx: Context, campaign_id: int) -> Outcome:
    campaign = await _campaign(ctx, campaign_id, manage=True)
    state = State(NAME, "retime", {"campaign": campaign.id})
    return Outcome(await show(state, ctx), state)


class CampaignFlow:
    name = NAME

    async def show(self, state: State, ctx: Context) -> list[Reply]:
        return await show(state, ctx)

    async def handle(self, msg: Incoming, state: State, ctx: Context, action: str | None) -> Outcome:
        return await handle(msg, state, ctx, action)


async def show(state: State, ctx: Context) -> list[Reply]:
    t = ctx.t
    cancel = ctx.button("cancel", t("✖️ Hủy"))
    step = state.step
    if step == "name":
        return [Reply(t("➕ Chiến dịch mới. Tên chiến dịch là gì? (ví dụ: Tổng vệ sinh đón Tết)"), rows([cancel]))]
    if step == "unit":
        units = await unit_choices(state, ctx)
        buttons = [ctx.button(f"u.{u.id}", u.name) for u in units[:12]]
        return [Reply(t("Chiến dịch cho đơn vị nào? (gồm mọi tổ bên dưới)"), (*rows(buttons), (cancel,)))]
    if step == "audience":
        buttons = [ctx.button(f"a.{key}", t(label)) for key, label in AUDIENCES.items()]
        return [Reply(t("Nhắc ai?"), (*rows(buttons), (cancel,)))]
    if step == "kind":
        buttons = [ctx.button("k.weekly", t("Hằng tuần")), ctx.button("k.monthly", t("Hằng tháng")),
                   ctx.button("k.once", t("Một lần"))]
        return [Reply(t("Lịch thế nào?"), (tuple(buttons), (cancel,)))]
    if step == "weekday":
        buttons = [ctx.button(f"w.{n}", t(day)) for n, day in enumerate(domain.WEEKDAYS)]
        return [Reply(t("Vào thứ mấy?"), (*rows(buttons, per_row=2), (cancel,)))]
    if step == "day":
        buttons = [ctx.button("last", t("Chủ nhật cuối tháng"))]
        return [Reply(t("Ngày mấy trong tháng? Gõ một số từ 1 đến 28, hoặc bấm nút."), ((buttons[0],), (cancel,)))]
    if step == "date":
        return [Reply(t("Vào ngày nào? Gõ như 24/12/2026."), rows([cancel]))]
    if step in ("time", "retime"):
        return [Reply(t("Mấy giờ bắt đầu? Gõ như 07:00."), rows([cancel]))]
    if step == "reminders":
        buttons = [ctx.button(f"r.{key}", t(label)) for key, (_items, label) in REMINDER_PRESETS.items()]
        return [Reply(t("Nhắc trước lúc nào?"), (*rows(buttons), (cancel,)))]
    if step == "follow":
        forms = [f for f in ctx.forms.forms.values() if not f.urgent and not f.monthly
                 and any(field.type == "date" for field in f.fields)]
        buttons = [ctx.button("f.-", t("Không cần"))] + [ctx.button(f"f.{f.key}", t(f.title)) for f in forms[:8]]
        return [Reply(t("Sau sự kiện, hỏi tổ trưởng kết quả bằng biểu mẫu nào?"), (*rows(buttons), (cancel,)))]
    if step == "ends":
        return [Reply(t("Kết thúc sau ngày nào? Gõ như 31/12/2026, hoặc bấm «Không có ngày kết thúc»."),
                      ((ctx.button("noend", t("Không có ngày kết thúc")),), (cancel,)))]
    data = state.data
    lines = [t("Xem lại chiến dịch:"), f"🗓️ {data['name']}", t("Lịch: {schedule}",
                                                                schedule=describe_schedule(data["schedule"], t)),
             t("Nhắc: {reminders}", reminders=t(REMINDER_PRESETS[data["preset"]][1]))]
    if data.get("form"):
        form = ctx.forms.get(data["form"])
        lines.append(t("Hỏi kết quả: {title}", title=t(form.title) if form else data["form"]))
    return [Reply("\n".join(lines), ((ctx.button("save", t("✅ Tạo chiến dịch")), cancel),))]


async def _next(step: str, state: State, ctx: Context) -> Outcome:
    new = State(NAME, step, state.data)
    return Outcome(await show(new, ctx), new)


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


async def handle(msg: Incoming, state: State, ctx: Context, action: str | None) -> Outcome:
    """Takes the answer to the current step of creating (or re-timing) a campaign."""
    t = ctx.t
    data = state.data
    text = clean(msg.text or "")
    if action == "cancel":
        return Outcome(await main_menu(ctx, intro=t("Đã hủy.")), None)
    step = state.step
    if step == "name":
        if not 3 <= len(text) <= 120:
            raise UserError(_("Tên cần từ 3 đến 120 ký tự."))
        data["name"] = text
        return await _next("unit", state, ctx)
    if step == "unit":
        unit = await ctx.repo.unit(int(action[2:])) if action and action[2:].isdigit() else None
        if unit is None or not await may_address(ctx, unit):
            raise UserError(_("Hãy chọn một đơn vị trong danh sách."))
        data["unit"] = unit.id
        return await _next("audience", state, ctx)
    if step == "audience":
        if not action or action[2:] not in AUDIENCES:
            raise UserError(_("Hãy bấm một trong các nút bên dưới."))
        data["audience"] = action[2:]
        return await _next("kind", state, ctx)
    if step == "kind":
        kinds = {"k.weekly": "weekday", "k.monthly": "day", "k.once": "date"}
        if action not in kinds:
            raise UserError(_("Hãy bấm một trong các nút bên dưới."))
        data["schedule"] = {"kind": action[2:]}
        return await _next(kinds[action], state, ctx)
    if step == "weekday":
        if not action or not action.startswith("w.") or not action[2:].isdigit() or int(action[2:]) > 6:
            raise UserError(_("Hãy bấm một trong các nút bên dưới."))
        data["schedule"]["weekday"] = int(action[2:])
        return await _next("time", state, ctx)
    if step == "day":
        if action == "last":
            data["schedule"].update(rule="last", weekday=6)
        elif text.isdigit() and 1 <= int(text) <= 28:
            data["schedule"]["day"] = int(text)
        else:
            raise UserError(_("Gõ một số từ 1 đến 28, hoặc bấm «Chủ nhật cuối tháng»."))
        return await _next("time", state, ctx)
    if step == "date":
        day = parse_date(text, ctx.clock.now().astimezone(ctx.settings.app.tz).date())
        if day is None or day < ctx.clock.now().astimezone(ctx.settings.app.tz).date():
            raise UserError(_("Hãy gõ một ngày sắp tới, như 24/12/2026."))
        data["schedule"]["dates"] = [day.isoformat()]
        return await _next("time", state, ctx)
    if step in ("time", "retime"):
        at = _time(text)
        if at is None:
            raise UserError(_("Không đọc được giờ «{text}». Gõ như 07:00."), text=text[:10])
        if step == "retime":
            return await _retime(state, ctx, at)
        data["schedule"]["time"] = at
        return await _next("reminders", state, ctx)
    if step == "reminders":
        if not action or action[2:] not in REMINDER_PRESETS:
            raise UserError(_("Hãy bấm một trong các nút bên dưới."))
        data["preset"] = action[2:]
        return await _next("follow", state, ctx)
    if step == "follow":
        key = action[2:] if action and action.startswith("f.") else ""
        if key != "-" and ctx.forms.get(key) is None:
            raise UserError(_("Hãy bấm một trong các nút bên dưới."))
        data["form"] = None if key == "-" else key
        return await _next("ends" if data["schedule"]["kind"] != "once" else "confirm", state, ctx)
    if step == "ends":
        if action == "noend":
            data["ends_on"] = None
        else:
            day = parse_date(text, ctx.clock.now().astimezone(ctx.settings.app.tz).date())
            if day is None:
                raise UserError(_("Hãy gõ một ngày như 31/12/2026, hoặc bấm «Không có ngày kết thúc»."))
            data["ends_on"] = day.isoformat()
        return await _next("confirm", state, ctx)
    if action != "save":
        raise UserError(_("Bấm «Tạo chiến dịch» để lưu, hoặc «Hủy»."))
    return await _save(state, ctx)


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
    ctx.repo.session.add(campaign)
    await ctx.repo.session.flush()
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
