"""Summaries for officials and leaders: the entry points (`build_summary`, `render_text`), the
replies that carry the text, the chart and the Excel file, and the digests the scheduler sends.
The figures are computed in handlers/summary_figures.py, the text in handlers/summary_text.py.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Literal

from handlers.exports import XLSX_MIME, chart_png, workbook_xlsx
from handlers.i18n import Translator
from handlers.messages import Button, Reply, rows
from handlers.periods import Period, containing
from handlers.ports import FileStore
from handlers.summary_figures import SUPPORT_FORM, Figures, Summary, add_counts, complete, summarize
from handlers.summary_text import daily_text, render_text
from models import summary_queries as q
from models.repos import HeldRole, Repo
from models.settings import Settings

__all__ = ["Figures", "Summary", "build_summary", "complete", "digest_replies", "may_see_households", "render_text",
           "summarize", "summary_replies", "workbook"]

DigestKind = Literal["daily", "weekly", "monthly"]


async def build_summary(
    repo: Repo, *, unit_path: str, start: datetime, end: datetime, settings: Settings, now: datetime | None = None
) -> Summary:
    """The summary of the unit at `unit_path` and everything under it for [start, end), with the
    period before. A calendar day, week, month, quarter or year is recognised from its bounds.
    Monthly reports are expected for the months that have begun by `now` (default: all)."""
    period = Period.of(start, end, settings.app.tz)
    return await summarize(repo, unit_path=unit_path, period=period, settings=settings, now=now)


def may_see_households(roles: list[HeldRole], unit: q.UnitRow) -> bool:
    """Household-level poverty data (DESIGN §7): the group's own leaders, and officials with the
    social duty whose area covers the unit."""
    return any((h.role in ("leader", "deputy") and h.unit.id == unit.id)
               or (h.role == "official" and "social" in h.duties and h.covers(unit.path)) for h in roles)


async def workbook(
    repo: Repo, summary: Summary, *, t: Translator, viewer_id: int | None, households: bool, via: str = "bot"
) -> bytes:
    """The Excel file. With `households` it has a sheet of household-level support rows, and the
    export goes to the audit log (DESIGN §7); the caller has checked that the viewer may see them."""
    await complete(repo, summary)
    detail = None
    if households:
        scope = q.Scope(summary.unit.path, summary.current.period.start, summary.current.period.end)
        detail = list(await q.support_rows(repo.session, scope, SUPPORT_FORM))
        await repo.audit(person_id=viewer_id, action="export_sensitive", target=f"unit:{summary.unit.id}",
                         period=summary.current.period.key, rows=len(detail), **({"via": via} if via != "bot" else {}))
    return await asyncio.to_thread(workbook_xlsx, summary, t, detail)


async def summary_replies(
    repo: Repo, summary: Summary, *, t: Translator, files: FileStore, viewer_id: int | None, households: bool,
    buttons: tuple[tuple[Button, ...], ...] = (),
) -> list[Reply]:
    """The text, the chart as a photo and the Excel file as a document (see `workbook`)."""
    png, xlsx = await asyncio.gather(asyncio.to_thread(chart_png, summary, t),
                                     workbook(repo, summary, t=t, viewer_id=viewer_id, households=households))
    photo = await files.save(repo, content=png, mime="image/png", uploader=None)
    document = await files.save(repo, content=xlsx, mime=XLSX_MIME, uploader=None)
    name = f"tom-tat_{summary.unit.code}_{summary.current.period.key}.xlsx"
    return [
        Reply(render_text(summary, t)),
        Reply(t("Biểu đồ: {unit}, {period}", unit=summary.unit.name, period=summary.current.period.label(t)),
              photo_id=photo),
        Reply(t("📎 Tệp Excel {name}: mỗi nhiệm vụ một trang, mỗi tổ một dòng.", name=name), buttons,
              document_id=document),
    ]


async def digest_replies(
    repo: Repo, *, person_id: int, kind: DigestKind, now: datetime, settings: Settings, t: Translator,
    files: FileStore,
) -> list[Reply]:
    """One official's digest for each unit they hold: "daily" lists the urgent incidents of the last
    24 hours (nothing at all when there were none); "weekly" and "monthly" summarise the last
    whole week or month with the chart and the Excel file."""
    roles = await repo.roles_of(person_id)
    replies: list[Reply] = []
    for held in [h for h in roles if h.role == "official"]:
        if kind == "daily":
            replies += await _daily(repo, held, now=now, t=t)
            continue
        this = containing("week" if kind == "weekly" else "month", now, settings.app.tz)
        summary = await summarize(repo, unit_path=held.unit.path, period=this.previous(), settings=settings, now=now)
        unit = summary.unit
        replies += await summary_replies(repo, summary, t=t, files=files, viewer_id=person_id,
                                         households=may_see_households(roles, unit))
    return replies


async def _daily(repo: Repo, held: HeldRole, *, now: datetime, t: Translator) -> list[Reply]:
    """The urgent incidents of the last 24 hours in the official's area, if there were any."""
    scope = q.Scope(held.unit.path, now - timedelta(hours=24), now)
    at: defaultdict[str, Figures] = defaultdict(Figures)
    add_counts(at, await q.counts(repo.session, scope, 0, by_path=False))
    total, acked, still_open = at[""].urgent, at[""].urgent_acked, at[""].urgent_open
    if not total:
        return []
    listed = await q.urgent_list(repo.session, scope, limit=10)
    text = daily_text(t, unit=held.unit.name, total=total, acked=acked, still_open=still_open, listed=listed)
    buttons = [Button(f"m.rv.{row[0]}", f"🚨 {row[1]}") for row in listed[:6]]
    return [Reply(text, rows(buttons, per_row=3))]
