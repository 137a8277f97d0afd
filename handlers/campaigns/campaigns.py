"""Campaigns: the ticker's job that turns due moments into occurrences (exactly once: a unique
key per moment) and queued messages, the report deadline's reminders, nudges and late lists, and
the campaigns config.toml ships."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

from handlers import buttons as b
from handlers.campaigns.schedules import Moment, ScheduleError, moments, validate
from handlers.delivery.outbox import after_quiet_hours, enqueue
from handlers.i18n import LANGUAGES, Translator, _
from handlers.messages import Delivery, Reply
from handlers.reports import reporting
from models.codes import new_code
from models.repos import Repo
from models.settings import Settings, SettingsError
from models.tables import Campaign, Occurrence, Unit, utcnow

log = logging.getLogger(__name__)
LOOKBACK = timedelta(days=2)
WEEKDAYS = [_("Thứ Hai"), _("Thứ Ba"), _("Thứ Tư"), _("Thứ Năm"), _("Thứ Sáu"), _("Thứ Bảy"), _("Chủ nhật")]
MONTHLY_FORM = "bao_cao_thang"
Translate = Callable[[str], Translator]


def when_text(moment: datetime, t: Translator) -> str:
    """"Chủ nhật 22/11/2026 lúc 07:00" in local time."""
    local = moment.astimezone(t.tz)
    return t("{weekday} {date} lúc {time}", weekday=t(WEEKDAYS[local.weekday()]), date=t.date(local),
             time=f"{local:%H:%M}")


async def sync_defaults(repo: Repo, settings: Settings, *, now: datetime) -> int:
    """Creates the campaigns of config.toml that are not in the database yet; returns how many."""
    created = 0
    for number, default in enumerate(settings.campaigns.defaults):
        try:
            validate(default.schedule)
        except ScheduleError as error:
            raise ScheduleError(f"campaigns.defaults[{number}] ({default.key}): {error}") from None
        if await repo.campaign_with_config_key(default.key):
            continue
        unit = await default_unit(repo, default.unit, f"campaigns.defaults[{number}].unit ({default.key})")
        if unit is None:
            log.warning("campaign %s not created yet: there are no units (totruong units import --province 48)",
                        default.key)
            continue
        await repo.add(Campaign(code=new_code(6), config_key=default.key, name=default.name,
                                description=default.description, kind=default.kind, unit_id=unit.id or 0,
                                unit_path=unit.path, audience=default.audience, schedule=default.schedule,
                                reminders=default.reminders, follow_up=default.follow_up, created_at=now,
                                updated_at=now))
        created += 1
    return created


async def default_unit(repo: Repo, code: str, key: str) -> Unit | None:
    """The unit a configured campaign covers: the one with this code, or the top unit (the province)
    when the config names none; None while there are no units at all. A code that names no unit,
    or no code beside several top units, stops start-up naming the key and the command to fix it."""
    tops = await repo.top_units()
    if not code:
        if len(tops) > 1:
            raise SettingsError(f"setting {key} is empty and there are {len(tops)} top units "
                                f"({', '.join(u.code for u in tops)}): set it to one of their codes")
        return tops[0] if tops else None
    unit = await repo.unit_by_code(code)
    if unit is None:
        raise SettingsError(f"setting {key} = {code!r}: no unit has this code; import it "
                            f"(totruong units import --province 48, or totruong units import FILE.csv) "
                            f"or set the key to a stored code, e.g. {tops[0].code!r}, or leave it out for the top unit")
    return unit


async def run_due(
    repo: Repo, *, now: datetime, settings: Settings, translate: Translate, since: dict[int, datetime] | None = None,
) -> int:
    """Handles every campaign moment due by `now` that has no occurrence yet; returns messages queued."""
    since = since if since is not None else {}
    queued = 0
    for campaign in await repo.active_campaigns():
        start = max(campaign.created_at, campaign.updated_at, now - LOOKBACK,
                    since.get(campaign.id or 0, now - LOOKBACK))
        due = moments(campaign.schedule, campaign.reminders, campaign.follow_up, after=start, until=now,
                      tz=settings.app.tz, ends_on=campaign.ends_on)
        for moment in due:
            queued += await _occur(repo, campaign, moment, now=now, settings=settings, translate=translate)
        since[campaign.id or 0] = now
        if campaign.ends_on is not None and now.astimezone(settings.app.tz).date() > campaign.ends_on:
            campaign.status, campaign.updated_at = "ended", now
    return queued


async def _occur(repo: Repo, campaign: Campaign, moment: Moment, *, now: datetime, settings: Settings,
                 translate: Translate) -> int:
    key = f"c{campaign.id}:{moment.step}{moment.seq}:{moment.event_at:%Y%m%d%H%M}"
    if await repo.occurrence_exists(key):
        return 0
    late = now - moment.due_at
    grace = timedelta(minutes=settings.campaigns.grace_minutes)
    occurrence = Occurrence(key=key, campaign_id=campaign.id or 0, step=moment.step, due_at=moment.due_at,
                            event_at=moment.event_at, status="sent", processed_at=now)
    if late > grace:
        occurrence.status = "skipped"
        occurrence.reason = (f"missed: the app was not running at {moment.due_at:%Y-%m-%d %H:%M} UTC "
                             f"and {int(late.total_seconds() // 60)} min > grace {settings.campaigns.grace_minutes}")
    if not await repo.add_once(occurrence):  # another instance handled this moment first
        return 0
    if occurrence.status == "skipped":
        log.info("campaign %s: %s skipped (%s)", campaign.code, key, occurrence.reason)
        return 0
    if campaign.kind == "report_deadline":
        occurrence.recipients = await _deadline_step(repo, campaign, moment, occurrence, now=now, settings=settings,
                                                     translate=translate)
    else:
        occurrence.recipients = await _event_step(repo, campaign, moment, occurrence, now=now, settings=settings,
                                                  translate=translate)
    return occurrence.recipients


async def _event_step(repo: Repo, campaign: Campaign, moment: Moment, occurrence: Occurrence, *, now: datetime,
                      settings: Settings, translate: Translate) -> int:
    payloads = {}
    for language in LANGUAGES:
        t = translate(language)
        if moment.step == "follow_up":
            day = moment.event_at.astimezone(settings.app.tz)
            text = t("📝 Hôm nay tổ mình làm «{name}» thế nào? Bấm «Báo cáo ngay» để gửi kết quả.",
                     name=t(campaign.name))
            form = str(campaign.follow_up.get("form", ""))
            reply = Reply(text, ((b.FollowUp(form, f"{day:%Y%m%d}").button(t("📝 Báo cáo ngay")),),))
        else:
            lines = [t("🔔 Nhắc lịch: {name}", name=t(campaign.name)), when_text(moment.event_at, t)]
            if campaign.description:
                lines.append(t(campaign.description))
            reply = Reply("\n".join(lines))
        payloads[language] = [reply.to_json()]
    audience = "leaders" if moment.step == "follow_up" else campaign.audience
    return await repo.enqueue_audience(key=f"occ:{occurrence.id}", unit_path=campaign.unit_path,
                                       audience=audience, payloads=payloads, due_at=after_quiet_hours(now, settings))


def _reported_month(event: datetime, settings: Settings) -> tuple[date, date]:
    """The month a deadline is for (the one before the deadline's month): its first and last day."""
    local = event.astimezone(settings.app.tz).date()
    last = local.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


async def _deadline_step(repo: Repo, campaign: Campaign, moment: Moment, occurrence: Occurrence, *, now: datetime,
                         settings: Settings, translate: Translate) -> int:
    first, _last = _reported_month(moment.event_at, settings)
    month_key = f"{first:%Y-%m}"
    late_groups = await repo.groups_without_monthly_report(campaign.unit_path, month_key, MONTHLY_FORM)
    deliveries: list[Delivery] = []
    if moment.step in ("reminder", "nudge"):
        for group in late_groups:
            for person_id, _name, language in await repo.leaders_of(group.id or 0):
                t = translate(language)
                deadline, month_label = t.date(moment.event_at), t.month(first)
                if moment.step == "reminder":
                    text = t("🗓️ Hạn nộp báo cáo tháng {month} là {date}. {group} chưa gửi.", month=month_label,
                             date=deadline, group=group.name)
                else:
                    text = t("⏰ Đã quá hạn nộp báo cáo tháng {month} ({date}). {group} vẫn chưa gửi — "
                             "xin gửi sớm.", month=month_label, date=deadline, group=group.name)
                button = b.OpenForm(MONTHLY_FORM).button(t("🗓️ Báo cáo tháng"))
                deliveries.append(Delivery(person_id, Reply(text, ((button,),))))
    elif moment.step == "late" and late_groups:
        by_ward: dict[int, tuple[Unit, list[Unit]]] = {}
        for group in late_groups:
            ward = await reporting.ward_of(repo, group)
            by_ward.setdefault(ward.id or 0, (ward, []))[1].append(group)
        for ward, groups in by_ward.values():
            for person_id, _name, language in await repo.officials_of(ward.id or 0):
                t = translate(language)
                lines = [t.ngettext("📋 {ward}: {n} tổ chưa nộp báo cáo tháng {month} (hạn {date}):",
                                    "📋 {ward}: {n} tổ chưa nộp báo cáo tháng {month} (hạn {date}):", len(groups),
                                    ward=ward.name, month=t.month(first), date=t.date(moment.event_at))]
                lines += [f"• {g.name}" for g in groups[:50]]
                if len(groups) > 50:
                    lines.append(t.ngettext("… và {n} tổ khác.", "… và {n} tổ khác.", len(groups) - 50))
                deliveries.append(Delivery(person_id, Reply("\n".join(lines))))
    return await enqueue(repo, deliveries, now=now, settings=settings, key=f"occ:{occurrence.id}", broadcast=True)


def touch(campaign: Campaign, now: datetime | None = None) -> None:
    """Marks a change: moments are looked for only after it (none of the old schedule is sent late)."""
    campaign.updated_at = now or utcnow()
