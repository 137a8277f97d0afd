"""An urgent incident that could not reach an official (the platform refused it for good, or the
official blocked the bot) is not left there: it goes at once to the officials of the next unit up,
as an escalation does, and the reporter is told it did not get through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from handlers.buttons import Acknowledge
from handlers.forms import FormRegistry
from handlers.i18n import _
from handlers.messages import Delivery, Reply
from handlers.reports.reporting import EMERGENCY, Translate, answer_lines, incident_reply, name_of, recipients, ward_of
from models.repos import Repo
from models.settings import Settings

NOTE = _("⚠️ Tin khẩn không gửi được tới {name} ({unit}); chuyển tới bạn.")
TOLD = _("⚠️ {report} chưa tới được {name}; đã chuyển tới cán bộ {target}. Mã báo cáo: {code}\n"
         "{emergency}")
TOLD_NOBODY = _("⚠️ {report} chưa tới được {name} và chưa có cán bộ cấp trên nào trên hệ thống. "
                "Mã báo cáo: {code}\n{emergency}")


@dataclass(slots=True)
class Undelivered:
    """An outbox row that ended failed or blocked."""

    row_id: int
    identity_id: int
    payload: list[dict[str, Any]]


def incident_of(payload: Sequence[dict[str, Any]]) -> int | None:
    """The report an incident alert is about, from its acknowledge button; None for other messages."""
    for item in payload:
        for row in item.get("buttons") or []:
            for button in row:
                found = Acknowledge.unpack(str(button.get("id", "")))  # its "✅ Đã tiếp nhận"
                if found is not None:
                    return found.report
    return None


async def alert_next(repo: Repo, failed: Undelivered, *, forms: FormRegistry, settings: Settings,
                     now: datetime, translate: Translate) -> list[Delivery]:
    """Sends an incident that did not reach an official to the next unit up, and tells the reporter."""
    report_id = incident_of(failed.payload)
    report = await repo.report(report_id) if report_id is not None else None
    if report is None or report.status != "sent" or report.superseded:
        return []  # not an incident alert, or someone already took it
    identity = await repo.identity(failed.identity_id)
    official = await repo.person_name(identity.person_id) if identity is not None else "?"
    unit = await repo.unit(report.unit_id)
    assert unit is not None
    ward = await ward_of(repo, unit)
    above = [u for u in await repo.ancestors(unit) if len(u.path) < len(ward.path)]
    above.reverse()
    level = report.escalation_level
    failed_unit = ward if level == 0 or level > len(above) else above[level - 1]
    target = None
    officials: list[tuple[int, str, str]] = []
    for candidate in above[level:]:
        level += 1
        officials = [o for o in await recipients(repo, candidate.id or 0)
                     if identity is None or o[0] != identity.person_id]
        if officials:
            target = candidate
            break
    reporter_t = translate(await repo.person_language(report.reporter_id))
    told = {"report": name_of(report, forms, reporter_t), "code": report.code, "name": official,
            "emergency": reporter_t(EMERGENCY)}
    if target is None:
        return [Delivery(report.reporter_id, Reply(reporter_t(TOLD_NOBODY, **told)))]
    await repo.escalated(report, level=level, at=now, next_at=now + timedelta(minutes=settings.incidents.ack_minutes),
                         note=f"{target.name} (undelivered to {official})")
    reporter = await repo.person_name(report.reporter_id)
    form = forms.get(report.form_key)
    deliveries = []
    for person_id, _name, language in officials:
        other = translate(language)
        note = other(NOTE, name=official, unit=failed_unit.name)
        deliveries.append(Delivery(person_id, incident_reply(report, unit, reporter, answer_lines(form, report, other),
                                                             other, note=note)))
    deliveries.append(Delivery(report.reporter_id, Reply(reporter_t(TOLD, **told, target=target.name))))
    return deliveries
