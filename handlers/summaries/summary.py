"""Summaries for officials and leaders: the entry points (`build_summary`, `render_text`), the
replies that carry the text, the chart and the Excel file, and the digests the scheduler sends.
The figures are computed in handlers/summary_figures.py, the text in handlers/summary_text.py.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from handlers import buttons as b
from handlers.i18n import Translator
from handlers.messages import Button, Reply, rows
from handlers.ports import FileStore
from handlers.summaries.charts import Charts, charts
from handlers.summaries.exports import XLSX_MIME, workbook_xlsx
from handlers.summaries.periods import Period, containing
from handlers.summaries.summary_figures import SUPPORT_FORM, Figures, Summary, add_counts, complete, summarize
from handlers.summaries.summary_text import daily_text, headline, render_text
from models import summary_queries as q
from models.files import StoredFile
from models.repos import HeldRole, Repo
from models.settings import Settings

__all__ = ["Figures", "Rendered", "Summary", "build_summary", "complete", "digest_renders", "digest_replies",
           "draw_charts", "headline", "may_see_households", "record", "record_digest", "render", "render_text",
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
    repo: Repo, summary: Summary, *, t: Translator, viewer_id: int | None, households: bool, via: str = "bot",
    reads: Repo | None = None,
) -> bytes:
    """The Excel file. With `households` it has a sheet of household-level support rows, and the
    export goes to the audit log (DESIGN §7); the caller has checked that the viewer may see them.
    The queries run on `reads` when given (the long-read path); only the audit line is a write, made
    after the file is built so that no write lock is held meanwhile."""
    xlsx, detail_rows = await _workbook(reads or repo, summary, t=t, households=households)
    if detail_rows is not None:
        await _audit_export(repo, summary, viewer_id=viewer_id, rows=detail_rows, via=via)
    return xlsx


async def _workbook(reads: Repo, summary: Summary, *, t: Translator, households: bool) -> tuple[bytes, int | None]:
    """The Excel file and, when it has household rows, how many (reads only)."""
    await complete(reads, summary)
    detail = None
    if households:
        scope = q.Scope(summary.unit.path, summary.current.period.start, summary.current.period.end)
        detail = list(await reads.summaries.support_rows(scope, SUPPORT_FORM))
    xlsx = await asyncio.to_thread(workbook_xlsx, summary, t, detail)
    return xlsx, None if detail is None else len(detail)


async def _audit_export(repo: Repo, summary: Summary, *, viewer_id: int | None, rows: int, via: str) -> None:
    await repo.audit(person_id=viewer_id, action="export_sensitive", target=f"unit:{summary.unit.id}",
                     period=summary.current.period.key, rows=rows, **({"via": via} if via != "bot" else {}))


def draw_charts(summary: Summary, t: Translator) -> Charts:
    """The summary's charts (CPU work: run it in a thread)."""
    return charts(summary, t)


@dataclass(slots=True)
class Rendered:
    """A summary made into its headline, charts and Excel file, the files written to disk, nothing
    recorded yet. (The whole text is figured again when [Xem chi tiết] is pressed.)"""

    summary: Summary
    headline: str
    charts: list[tuple[str, StoredFile]]  # (title, PNG), one chart each
    empty: list[str]  # the titles of the charts left out: nothing to show
    document: StoredFile
    sensitive_rows: int | None


async def render(reads: Repo, summary: Summary, *, t: Translator, files: FileStore, households: bool) -> Rendered:
    """The slow part of a summary: the Excel file's queries (on the long-read path), the charts
    and the workbook (in threads), the files written to disk. No write to the database."""
    await complete(reads, summary)  # before the charts' thread reads the summary
    drawn, (xlsx, rows) = await asyncio.gather(asyncio.to_thread(draw_charts, summary, t),
                                               _workbook(reads, summary, t=t, households=households))
    stored = await asyncio.gather(*(files.put(chart.png, "image/png") for chart in drawn.charts),
                                  files.put(xlsx, XLSX_MIME))
    pictures = [(chart.title, photo) for chart, photo in zip(drawn.charts, stored[:-1], strict=True)]
    return Rendered(summary, headline(summary, t), pictures, drawn.empty, stored[-1], rows)


def details_button(summary: Summary, t: Translator) -> Button:
    """[📋 Xem chi tiết]: the whole text of this summary (handlers/flows/summary.details)."""
    return b.SummaryDetails(summary.unit.id, summary.current.period.key).button(t("📋 Xem chi tiết"))


async def record(
    repo: Repo, rendered: Rendered, *, t: Translator, files: FileStore, viewer_id: int | None,
    buttons: tuple[tuple[Button, ...], ...] = (),
) -> list[Reply]:
    """The quick part: the attachment rows and the audit line, then the replies: the headline with
    [Xem chi tiết], each chart as its own photo, the Excel file."""
    summary = rendered.summary
    if rendered.sensitive_rows is not None:
        await _audit_export(repo, summary, viewer_id=viewer_id, rows=rendered.sensitive_rows, via="bot")
    where = f"{summary.unit.name}, {summary.current.period.label(t)}"
    missing = t("Chưa có số liệu: {charts}.", charts="; ".join(rendered.empty)) if rendered.empty else ""
    replies = [Reply(rendered.headline, ((details_button(summary, t),),))]
    total = len(rendered.charts)
    for n, (title, stored) in enumerate(rendered.charts, 1):
        photo = await files.record(repo, stored, uploader=None)
        caption = t("📈 Biểu đồ {n}/{total}: {title}", n=n, total=total, title=title) + "\n" + where
        if n == total and missing:
            caption += "\n" + missing
        replies.append(Reply(caption, photo_id=photo))
    document = await files.record(repo, rendered.document, uploader=None)
    name = f"tom-tat_{summary.unit.code}_{summary.current.period.key}.xlsx"
    text = t("📎 Tệp Excel {name}: mỗi nhiệm vụ một trang, mỗi tổ một dòng.", name=name)
    if not rendered.charts:
        text += "\n" + t("📉 Biểu đồ: chưa có số liệu.")
    replies.append(Reply(text, buttons, document_id=document))
    return replies


async def summary_replies(
    repo: Repo, summary: Summary, *, t: Translator, files: FileStore, viewer_id: int | None, households: bool,
    buttons: tuple[tuple[Button, ...], ...] = (), reads: Repo | None = None,
) -> list[Reply]:
    """The headline, the charts as photos and the Excel file as a document (see `workbook`): the slow
    work first (queries on `reads` when given), then the few writes."""
    rendered = await render(reads or repo, summary, t=t, files=files, households=households)
    return await record(repo, rendered, t=t, files=files, viewer_id=viewer_id, buttons=buttons)


async def digest_renders(
    reads: Repo, *, person_id: int, kind: DigestKind, now: datetime, settings: Settings, t: Translator,
    files: FileStore,
) -> list[Reply | Rendered]:
    """The slow part of one official's digest, on the long-read path: a reply per unit for
    "daily", a rendered summary per unit for "weekly" and "monthly" (see `digest_replies`)."""
    roles = await reads.roles_of(person_id)
    parts: list[Reply | Rendered] = []
    for held in [h for h in roles if h.role == "official"]:
        if kind == "daily":
            parts += await _daily(reads, held, now=now, t=t)
            continue
        this = containing("week" if kind == "weekly" else "month", now, settings.app.tz)
        summary = await summarize(reads, unit_path=held.unit.path, period=this.previous(), settings=settings, now=now)
        parts.append(await render(reads, summary, t=t, files=files, households=may_see_households(roles, summary.unit)))
    return parts


async def record_digest(
    repo: Repo, parts: list[Reply | Rendered], *, person_id: int, t: Translator, files: FileStore
) -> list[Reply]:
    """The quick part of a digest: attachment rows and audit lines; returns the replies."""
    replies: list[Reply] = []
    for part in parts:
        if isinstance(part, Rendered):
            replies += await record(repo, part, t=t, files=files, viewer_id=person_id)
        else:
            replies.append(part)
    return replies


async def digest_replies(
    repo: Repo, *, person_id: int, kind: DigestKind, now: datetime, settings: Settings, t: Translator,
    files: FileStore, reads: Repo | None = None,
) -> list[Reply]:
    """One official's digest for each unit they hold: "daily" lists the urgent incidents of the last
    24 hours (nothing at all when there were none); "weekly" and "monthly" summarise the last
    whole week or month with the headline, the charts and the Excel file."""
    parts = await digest_renders(reads or repo, person_id=person_id, kind=kind, now=now, settings=settings, t=t,
                                 files=files)
    return await record_digest(repo, parts, person_id=person_id, t=t, files=files)


async def _daily(repo: Repo, held: HeldRole, *, now: datetime, t: Translator) -> list[Reply]:
    """The urgent incidents of the last 24 hours in the official's area, if there were any."""
    scope = q.Scope(held.unit.path, now - timedelta(hours=24), now)
    at: defaultdict[str, Figures] = defaultdict(Figures)
    add_counts(at, await repo.summaries.counts(scope, 0, by_path=False))
    total, acked, still_open = at[""].urgent, at[""].urgent_acked, at[""].urgent_open
    if not total:
        return []
    listed = await repo.summaries.urgent_list(scope, limit=10)
    text = daily_text(t, unit=held.unit.name, total=total, acked=acked, still_open=still_open, listed=listed)
    buttons = [b.ViewReport(int(row[0])).button(f"🚨 {row[1]}") for row in listed[:6]]
    return [Reply(text, rows(buttons, per_row=3))]
