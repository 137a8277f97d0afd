"""What happens to a report once it is filed: saving, urgent routing to officials on duty,
acknowledgement, status changes told to the reporter, and escalation of unanswered incidents."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from handlers import buttons as b
from handlers.errors import NotAllowed, UserError
from handlers.forms import FormDef, FormRegistry, display_value, event_day
from handlers.i18n import Translator, _
from handlers.messages import Button, Delivery, Reply, rows
from handlers.text import shorten
from models.repo_reports import NIL_FORM
from models.repos import HeldRole, Repo
from models.settings import Settings
from models.tables import Report, Unit

STATUS_LABELS = {
    "sent": _("Đã gửi"),
    "received": _("Đã tiếp nhận"),
    "in_progress": _("Đang xử lý"),
    "resolved": _("Đã xử lý"),
    "returned": _("Trả lại"),
    "escalated": _("Chuyển cấp trên"),
}
OPEN = ("sent", "received", "in_progress")
FINISHED = ("resolved", "returned")
# What an official may change a report to, from each status: the one rule for the buttons and for
# every change. A finished report may only be taken up again ("in progress"); "sent" and
# "escalated" are never chosen (they are the report's start and the ticker's events).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "sent": ("received", "in_progress", "resolved", "returned"),
    "received": ("in_progress", "resolved", "returned"),
    "in_progress": ("resolved", "returned"),
    "resolved": ("in_progress",),
    "returned": ("in_progress",),
}
EMERGENCY = _("Khẩn cấp, gọi ngay: 113 Công an · 114 Cứu hỏa · 115 Cấp cứu.")

Translate = Callable[[str], Translator]


async def ward_of(repo: Repo, unit: Unit) -> Unit:
    """The ward or commune a group belongs to (its nearest ancestor that is not a group)."""
    ancestors = await repo.ancestors(unit)
    wards = [u for u in ancestors if u.level == "ward"]
    if wards:
        return wards[-1]
    return ancestors[-1] if ancestors else unit


async def recipients(repo: Repo, unit_id: int) -> list[tuple[int, str, str]]:
    """Officials of a unit who receive urgent incidents: those on duty, or all when none is."""
    return (await on_duty_or_all(repo, unit_id))[0]


async def on_duty_or_all(repo: Repo, unit_id: int) -> tuple[list[tuple[int, str, str]], bool]:
    """The officials on duty; when nobody is, every official of the unit and True (to warn them)."""
    on_duty = await repo.officials_of(unit_id, duty="on_duty")
    return (on_duty, False) if on_duty else (await repo.officials_of(unit_id), True)


# Read on a phone by the ward's officials: duties are given in the bot by an official of the unit
# above (handlers/flows/duties.py), so the warning names that menu entry, not the CLI.
NOBODY_ON_DUTY = _("⚠️ {ward} chưa có cán bộ trực: tin này được gửi tới mọi cán bộ của {ward}. "
                   "Hãy nhờ cán bộ cấp trên phân công cán bộ trực (mục «🛡️ Phân công cán bộ» trong menu).")


def title_of(forms: FormRegistry, t: Translator, form_key: str) -> str:
    form = forms.get(form_key)
    if form is not None:
        return t(form.title)
    if form_key == NIL_FORM:
        return t(NIL_TITLE)
    return form_key


def first_words(form: FormDef | None, data: dict[str, Any], t: Translator, limit: int = 30) -> str:
    """What the report is about, in a few words: its first text answer cut at a word ("nước sông
    dâng…"), else the answer to its first question when that is a choice ("Cháy, nổ"); "" when
    it has neither."""
    if form is None or not form.fields:
        return ""
    for field in form.fields:
        value = data.get(field.key)
        if field.type == "text" and isinstance(value, str) and value.strip():
            return shorten(value, limit)
    first = form.fields[0]
    chosen = next((t(o.label) for o in first.options if o.id == data.get(first.key)), "") \
        if first.type == "choice" else ""
    return shorten(chosen, limit)


def lower_first(text: str) -> str:
    """"Đang xử lý" → "đang xử lý", after a colon in the middle of a sentence."""
    return text[:1].lower() + text[1:]


def name_of(report: Report, forms: FormRegistry, t: Translator) -> str:
    """A report as people name it, the thing first and no code: «Báo tin khẩn» 02/12 «nước sông dâng…»."""
    words = first_words(forms.get(report.form_key), report.data, t)
    named = f"«{title_of(forms, t, report.form_key)}» {t.day(report.created_at)}"
    return f"{named} «{words}»" if words else named


NIL_TITLE = _("Không có vụ việc")


def incident_reply(
    report: Report, group: Unit, reporter: str, lines: list[str], t: Translator, *, note: str = ""
) -> Reply:
    """The message officials receive for an urgent incident, with its buttons."""
    head = [t("🚨 TIN KHẨN {code}", code=report.code)]
    if note:
        head.append(note)
    head += [
        t("Từ: {name} — {group}", name=reporter, group=group.name),
        t("Lúc: {when}", when=t.datetime(report.created_at)),
        *lines,
    ]
    for value in report.data.values():  # a map link for the official on duty
        if isinstance(value, dict) and value.get("lat") is not None and value.get("lon") is not None:
            head.append(t("Bản đồ: {link}", link=f"https://www.google.com/maps?q={value['lat']:.5f},{value['lon']:.5f}"))
    report_id = report.id or 0
    buttons = ((b.Acknowledge(report_id).button(t("✅ Đã tiếp nhận")),
                b.SetStatus(report_id, "resolved").button(t("✔️ Đã xử lý"))),)
    photo = _photo_of(report)
    return Reply("\n".join(head), buttons, photo_id=photo)


def _photo_of(report: Report) -> int | None:
    for value in report.data.values():
        if isinstance(value, dict) and value.get("attachment"):
            return int(value["attachment"])
    return None


def answer_lines(form: FormDef | None, report: Report, t: Translator) -> list[str]:
    """The report's answers as "Label: value" lines."""
    if form is None:
        return [f"{key}: {value}" for key, value in report.data.items() if not key.startswith("_")]
    lines = []
    for field in form.fields:
        if field.key in report.data:
            lines.append(f"• {t(field.label)}: {display_value(field, report.data[field.key], t)}")
    return lines


async def submit(
    form: FormDef, answers: dict[str, Any], *, unit_id: int, reporter_id: int, reporter_name: str, repo: Repo,
    forms: FormRegistry, settings: Settings, now: datetime, t: Translator, translate: Translate,
    supersedes_id: int | None = None,
) -> tuple[Report, list[Reply], list[Delivery]]:
    """Saves the report; an urgent one goes at once to the officials on duty of the ward."""
    unit = await repo.unit(unit_id)
    if unit is None:
        raise UserError(_("Không tìm thấy tổ của bạn. Vui lòng liên hệ cán bộ phường."))
    old = await repo.report(supersedes_id) if supersedes_id else None
    escalate_at = now + timedelta(minutes=settings.incidents.ack_minutes) if form.urgent else None
    report = await repo.add_report(form_key=form.key, form_version=form.version, task=form.task, unit=unit,
                                   reporter_id=reporter_id, data=answers, at=now, urgent=form.urgent,
                                   escalate_at=escalate_at, supersedes=old,
                                   event_day=event_day(form, answers, now=now, tz=settings.app.tz))
    if not form.urgent:
        text = t("✅ Đã gửi báo cáo «{title}».\nMã báo cáo: {code}\nTrạng thái: Đã gửi · {when}",
                 title=t(form.title), code=report.code, when=t.datetime(now))
        if form.monthly:  # named by its month, not by the form's title
            text = t("✅ Đã gửi báo cáo tháng {month}.\nMã báo cáo: {code}\nTrạng thái: Đã gửi · {when}",
                     month=t.month(report.event_day), code=report.code, when=t.datetime(now))
        if old is not None:
            text += "\n" + t("Đây là bản sửa của báo cáo {code}; bản cũ vẫn được lưu.", code=old.code)
        return report, [Reply(text)], []
    ward = await ward_of(repo, unit)
    officials, nobody_on_duty = await on_duty_or_all(repo, ward.id or 0)
    deliveries = []
    for person_id, _name, language in officials:
        other = translate(language)
        note = other(NOBODY_ON_DUTY, ward=ward.name) if nobody_on_duty else ""
        message = incident_reply(report, unit, reporter_name, answer_lines(form, report, other), other, note=note)
        deliveries.append(Delivery(person_id, message))
    if officials:
        text = t.ngettext("🚨 Đã chuyển tin khẩn tới {n} cán bộ trực của {ward} lúc {when}. Mã: {code}.\n"
                          "Khi cán bộ tiếp nhận, bạn sẽ được báo ngay.",
                          "🚨 Đã chuyển tin khẩn tới {n} cán bộ trực của {ward} lúc {when}. Mã: {code}.\n"
                          "Khi cán bộ tiếp nhận, bạn sẽ được báo ngay.",
                          len(officials), ward=ward.name, when=t.datetime(now), code=report.code)
    else:
        text = t("🚨 Đã ghi nhận tin khẩn (mã {code}) nhưng {ward} chưa có cán bộ trực trên hệ thống; "
                 "tin sẽ được chuyển lên cấp trên.", code=report.code, ward=ward.name)
        report.escalate_at = now
    return report, [Reply(text + "\n\n" + t(EMERGENCY))], deliveries


def _may_handle(roles: list[HeldRole], report: Report) -> HeldRole | None:
    return next((held for held in roles if held.role == "official" and held.covers(report.unit_path)), None)


async def change_status(
    report_id: int, status: str, *, roles: list[HeldRole], person_id: int, person_name: str, repo: Repo,
    forms: FormRegistry, now: datetime, t: Translator, translate: Translate, note: str = "",
) -> tuple[list[Reply], list[Delivery]]:
    """An official acknowledges, works on, resolves or returns a report; the reporter is told.

    The change is compare-and-set on the status just read: of two officials acting at once, one
    wins and writes the event and the message to the reporter; the other is told what happened.
    """
    report = await repo.report(report_id)
    if report is None or status not in STATUS_LABELS or status in ("sent", "escalated"):
        raise UserError(_("Nút này không hợp lệ."))
    held = _may_handle(roles, report)
    if held is None:
        raise NotAllowed(_("Báo cáo này không thuộc địa bàn của bạn."))
    if report.superseded:
        return [Reply(t("Báo cáo {code} đã được người gửi sửa; hãy mở bản mới nhất.", code=report.code))], []
    if not may_become(report.status, status) or not await repo.change_status(
            report, status=status, expected=report.status, person_id=person_id, at=now, note=note):
        return [await already_changed(report, status, repo=repo, forms=forms, t=t)], []
    reporter_language = await repo.person_language(report.reporter_id)
    other = translate(reporter_language)
    unit = held.unit.name
    what = name_of(report, forms, other)
    if status == "received":
        told = other("✅ {name} ({unit}) đã tiếp nhận báo cáo {what} lúc {when}. (Mã {code})", what=what,
                     code=report.code, name=person_name, unit=unit, when=other.datetime(now))
    elif status == "returned":
        told = other("↩️ {name} ({unit}) đã trả lại báo cáo {what}. Lý do: {reason}", what=what,
                     name=person_name, unit=unit, reason=note)
    else:
        told = other("{what}: {status} — {name} ({unit}), {when}.", what=what,
                     status=lower_first(other(STATUS_LABELS[status])), name=person_name, unit=unit,
                     when=other.datetime(now))
    done = t("{what}: {status}. Người gửi đã được báo.", what=name_of(report, forms, t),
             status=lower_first(t(STATUS_LABELS[status])))
    # A returned report can be corrected and sent again from the message itself.
    fix = ((b.Correct(report.id or 0).button(other("✏️ Sửa báo cáo")),),) if status == "returned" else ()
    return [Reply(done)], [Delivery(report.reporter_id, Reply(told, fix))]


async def already_changed(report: Report, wanted: str, *, repo: Repo, forms: FormRegistry, t: Translator) -> Reply:
    """Tells an official who lost (or came late) what the report became, by whom and when, and
    offers what can still be done with it."""
    what = name_of(report, forms, t)
    history = [(event, name) for event, name in await repo.events(report.id or 0)
               if event.status not in ("sent", "escalated")]
    if wanted == "received" and history:
        first, name = history[0]  # the first to act on it acknowledged it, whatever they pressed
        lines = [t("{what} đã được {name} tiếp nhận lúc {when}.", what=what, name=name or "?",
                   when=t.datetime(first.at))]
        if report.status != "received":
            lines.append(t("Trạng thái hiện tại: {status}.", status=t(STATUS_LABELS[report.status])))
    else:
        last = next(((e, n) for e, n in reversed(history) if e.status == report.status), None)
        if last is None:
            lines = [t("Báo cáo {what} đang ở trạng thái «{status}».", what=what,
                       status=t(STATUS_LABELS.get(report.status, report.status)))]
        else:
            event, name = last
            lines = [t("{what} đã được {name} chuyển sang «{status}» lúc {when}.", what=what,
                       name=name or "?", status=t(STATUS_LABELS[event.status]), when=t.datetime(event.at))]
            if event.status == "returned" and event.note:
                lines.append(t("Lý do: {reason}", reason=event.note))
    buttons = [*status_buttons(report, t), b.ViewReport(report.id or 0).button(t("🔎 Xem báo cáo"))]
    return Reply("\n".join(lines), rows(buttons, per_row=2))


def may_become(current: str, wanted: str) -> bool:
    """True when an official may change a report from `current` to `wanted`."""
    return wanted in TRANSITIONS.get(current, ())


def status_buttons(report: Report, t: Translator) -> list[Button]:
    """The buttons for what an official may still do with the report (from TRANSITIONS)."""
    return next_status_buttons(report.id or 0, report.status, t)


def next_status_buttons(report_id: int, current: str, t: Translator) -> list[Button]:
    """The buttons for what an official may do with a report in status `current`."""
    labels = {"received": t("✅ Tiếp nhận"), "in_progress": t("🔧 Đang xử lý"), "resolved": t("✔️ Đã xử lý"),
              "returned": t("↩️ Trả lại")}
    if current in FINISHED:
        labels["in_progress"] = t("🔁 Mở lại")
    buttons = []
    for status in TRANSITIONS.get(current, ()):
        if status == "received":
            buttons.append(b.Acknowledge(report_id).button(labels[status]))
        elif status == "returned":
            buttons.append(b.ReturnReport(report_id).button(labels[status]))
        else:
            buttons.append(b.SetStatus(report_id, status).button(labels[status]))
    return buttons


async def escalate_due(
    repo: Repo, *, forms: FormRegistry, settings: Settings, now: datetime, translate: Translate
) -> list[Delivery]:
    """Sends unacknowledged urgent incidents one level up and tells their reporters."""
    deliveries: list[Delivery] = []
    for report in await repo.due_escalations(now):
        unit = await repo.unit(report.unit_id)
        assert unit is not None
        chain = [*(await repo.ancestors(unit))]
        ward = await ward_of(repo, unit)
        # Level 0 is the ward; each escalation goes to the next unit above it that has officials.
        above = [u for u in chain if len(u.path) < len(ward.path)]
        above.reverse()
        level = report.escalation_level
        target: Unit | None = None
        officials: list[tuple[int, str, str]] = []
        for candidate in above[level:]:
            level += 1
            officials = await recipients(repo, candidate.id or 0)
            if officials:
                target = candidate
                break
        if target is None:
            await repo.escalated(report, level=report.escalation_level, at=now, next_at=None,
                                 note="no higher level with officials")
            continue
        minutes = settings.incidents.ack_minutes
        # Compare-and-set on "still sent, still at this level": an official who acknowledged it
        # meanwhile wins, and nobody is told of an escalation that did not happen.
        if not await repo.escalated(report, level=level, at=now, next_at=now + timedelta(minutes=minutes),
                                    note=target.name):
            continue
        reporter = await repo.person_name(report.reporter_id)
        form = forms.get(report.form_key)
        for person_id, _name, language in officials:
            other = translate(language)
            note = other("⚠️ Chuyển cấp: {ward} chưa tiếp nhận sau {n} phút.", ward=ward.name, n=minutes)
            lines = answer_lines(form, report, other)
            deliveries.append(Delivery(person_id, incident_reply(report, unit, reporter, lines, other, note=note)))
        other = translate(await repo.person_language(report.reporter_id))
        deliveries.append(Delivery(report.reporter_id, Reply(other(
            "⚠️ {name} chưa được {ward} tiếp nhận sau {n} phút; đã chuyển lên {target}. "
            "Mã báo cáo: {code}\n{emergency}",
            name=name_of(report, forms, other), code=report.code, ward=ward.name, n=minutes, target=target.name,
            emergency=other(EMERGENCY)))))
    return deliveries
