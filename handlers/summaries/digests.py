"""Scheduled digests for officials: daily (urgent incidents, only when there were some), weekly and
monthly (summary, chart, Excel), queued through the outbox exactly once per official and day."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.campaigns.schedules import moments
from handlers.delivery.outbox import enqueue
from handlers.i18n import Translator
from handlers.messages import Delivery
from handlers.ports import FileStore
from handlers.summaries import summary
from models.repos import Repo
from models.settings import Settings

KINDS = ("daily", "weekly", "monthly")
SessionMaker = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def schedules(settings: Settings) -> dict[str, dict[str, object]]:
    d = settings.digests
    return {
        "daily": {"kind": "daily", "time": d.daily_time},
        "weekly": {"kind": "weekly", "weekday": d.weekly_weekday, "time": d.weekly_time},
        "monthly": {"kind": "monthly", "day": d.monthly_day, "time": d.monthly_time},
    }


async def run_due(
    *, sessions: SessionMaker, reads: SessionMaker, after: datetime, now: datetime, settings: Settings,
    translate: Callable[[str], Translator], files: FileStore,
) -> int:
    """Queues every digest due in (after, now] (late by at most the grace window); returns messages.

    One official at a time: their digest is built on the long-read path (`reads`: its queries on a
    thread on SQLite) and its files written, with no transaction open; then a short transaction
    records the files and queues the messages. A long digest run never holds the write lock."""
    queued = 0
    grace = timedelta(minutes=settings.campaigns.grace_minutes)
    for kind, schedule in schedules(settings).items():
        time_text = str(schedule["time"])
        due = moments(schedule, [{"days_before": 0, "time": time_text}], {}, after=max(after, now - grace),
                      until=now, tz=settings.app.tz)
        for moment in due:
            async with sessions() as session:
                officials = await Repo(session).officials_with_digest(kind)
            for person_id, language in officials:
                key = f"digest:{kind}:{person_id}:{moment.event_at.astimezone(settings.app.tz):%Y%m%d}"
                async with sessions() as session:
                    if await Repo(session).queued_under(key):
                        continue
                t = translate(language)
                async with reads() as session:
                    parts = await summary.digest_renders(Repo(session), person_id=person_id, kind=kind,  # type: ignore[arg-type]
                                                         now=now, settings=settings, t=t, files=files)
                async with sessions() as session, session.begin():
                    repo = Repo(session)
                    if await repo.queued_under(key):  # another instance was quicker
                        continue
                    replies = await summary.record_digest(repo, parts, person_id=person_id, t=t, files=files)
                    deliveries = [Delivery(person_id, reply) for reply in replies]
                    queued += await enqueue(repo, deliveries, now=now, settings=settings, key=key, broadcast=True)
    return queued
