"""The figures `/metrics` reads from the database at scrape time (bot/metrics.py): what the outbox
holds, how late the dispatcher is, campaign occurrences and escalations. Read from the database,
they are the same whichever instance is scraped. Counts only: no row's content is read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Occurrence, Outbox, Report, ReportEvent

# Rows the dispatcher still has to send once they are due (models/outbox.py: claim).
UNSENT = ("pending", "retry")


@dataclass
class Figures:
    # (channel, kind, status) -> rows
    outbox: dict[tuple[str, str, str], int] = field(default_factory=dict)
    # channel -> seconds since the oldest row that is due and unsent became due
    lag: dict[str, float] = field(default_factory=dict)
    # (step, status) -> occurrences
    occurrences: dict[tuple[str, str], int] = field(default_factory=dict)
    escalations: int = 0  # times an urgent incident went one level up
    # escalation level -> urgent incidents still waiting for an acknowledgement
    open_incidents: dict[int, int] = field(default_factory=dict)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def read(session: AsyncSession, *, now: datetime, timeout_seconds: float) -> Figures:
    """Every figure in one short read-only transaction; on PostgreSQL each statement is cut off
    after `timeout_seconds` by the server itself."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text(f"SET LOCAL statement_timeout = {max(1, int(timeout_seconds * 1000))}"))
    figures = Figures()
    rows = await session.execute(select(Outbox.channel, Outbox.kind, Outbox.status, func.count())
                                 .group_by(Outbox.channel, Outbox.kind, Outbox.status))
    figures.outbox = {(channel, kind, status): int(count) for channel, kind, status, count in rows}
    oldest = await session.execute(select(Outbox.channel, func.min(Outbox.due_at))
                                   .where(Outbox.status.in_(UNSENT), Outbox.due_at <= now)
                                   .group_by(Outbox.channel))
    figures.lag = {channel: max(0.0, (now - _aware(due)).total_seconds()) for channel, due in oldest if due is not None}
    rows = await session.execute(select(Occurrence.step, Occurrence.status, func.count())
                                 .group_by(Occurrence.step, Occurrence.status))
    figures.occurrences = {(step, status): int(count) for step, status, count in rows}
    figures.escalations = int(await session.scalar(
        select(func.count()).select_from(ReportEvent).where(ReportEvent.status == "escalated")) or 0)
    rows = await session.execute(select(Report.escalation_level, func.count())
                                 .where(Report.urgent.is_(True), Report.status == "sent")
                                 .group_by(Report.escalation_level))
    figures.open_incidents = {int(level): int(count) for level, count in rows}
    return figures
