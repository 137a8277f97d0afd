"""The daily purge: personal data kept no longer than `[privacy]` in config.toml says.

Photos of closed reports, closed feedback (its text, photo, place and person; the row stays for
the summaries' counts), simulator messages and the audit log, each deleted in batches of
`privacy.purge_batch` rows, one short transaction per batch, so that no message waits long for
the database meanwhile. Files go from disk after the transaction that dropped their rows commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.reports.reporting import FINISHED
from models.files import LocalFileStore
from models.repos import Repo
from models.settings import Settings
from scheduler.unit_of_work import unit_of_work


def due_at(now: datetime, settings: Settings) -> datetime:
    """The latest purge moment at or before `now` (today's `purge_time`, or yesterday's)."""
    tz = settings.app.tz
    local = now.astimezone(tz)
    hour, minute = (int(part) for part in settings.privacy.purge_time.split(":"))
    moment = datetime.combine(local.date(), time(hour, minute), tz)
    return moment if moment <= local else moment - timedelta(days=1)


async def purge(sessions: async_sessionmaker[AsyncSession], *, files: LocalFileStore, now: datetime,
                settings: Settings) -> dict[str, int]:
    """Deletes everything past its time; returns how many rows of each kind went."""
    days = settings.privacy
    batch = days.purge_batch
    counts = {"sim_messages": 0, "audit_log": 0, "feedback": 0, "report_photos": 0, "files": 0}

    async def rows_in_batches(kind: str, delete: Callable[[Repo], Awaitable[int]]) -> None:
        while True:
            async with unit_of_work(sessions) as repo:
                gone = await delete(repo)
            counts[kind] += gone
            if gone < batch:
                return

    await rows_in_batches("sim_messages", lambda repo: repo.purge_sim_messages(
        now - timedelta(days=days.sim_message_days), limit=batch))
    await rows_in_batches("audit_log", lambda repo: repo.purge_audit(
        now - timedelta(days=days.audit_days), limit=batch))
    while True:
        async with unit_of_work(sessions) as repo:
            emptied = await repo.purge_closed_feedback(now - timedelta(days=days.feedback_days), limit=batch)
        counts["feedback"] += emptied.rows
        counts["files"] += await files.remove(emptied.files or [])
        if emptied.rows < batch:
            break
    after: int | None = 0
    while after is not None:
        async with unit_of_work(sessions) as repo:
            taken, after = await repo.purge_report_photos(now - timedelta(days=days.photo_days), FINISHED,
                                                          after_id=after, limit=batch)
        counts["report_photos"] += taken.rows
        counts["files"] += await files.remove(taken.files or [])
    return counts
