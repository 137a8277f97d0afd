"""The figures `/metrics` reads from the database at scrape time (bot/metrics.py): what the outbox
holds, how late the dispatcher is, campaign occurrences and escalations. Read from the database,
they are the same whichever instance is scraped. Counts only: no row's content is read.

The outbox and the report events grow without bound, so they are not counted whole at every
scrape. Rows that can no longer change — outbox rows in a final status below the oldest unsent
one, report events (never updated) — are counted once and remembered in `Marks`; each scrape
counts only the rows after them, a range of the primary key. A row is taken as settled only when
its id was already the highest at a read `SETTLE_SECONDS` before, so that an insert whose
transaction commits late (ids are allocated before commit) is not skipped. The first scrape after
a start counts everything once.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Occurrence, Outbox, Report, ReportEvent

# Rows the dispatcher still has to send or is sending (models/outbox.py); every other status is final.
UNSENT = ("pending", "retry")
OPEN = ("pending", "retry", "claimed", "sending")
SETTLE_SECONDS = 60.0

OutboxKey = tuple[str, str, str]  # channel, kind, status


@dataclass
class Figures:
    # (channel, kind, status) -> rows
    outbox: dict[OutboxKey, int] = field(default_factory=dict)
    # channel -> seconds since the oldest row that is due and unsent became due
    lag: dict[str, float] = field(default_factory=dict)
    # (step, status) -> occurrences
    occurrences: dict[tuple[str, str], int] = field(default_factory=dict)
    escalations: int = 0  # times an urgent incident went one level up
    # escalation level -> urgent incidents still waiting for an acknowledgement
    open_incidents: dict[int, int] = field(default_factory=dict)


@dataclass
class Marks:
    """What earlier reads counted for good (rows at or below the marks cannot change any more)."""

    outbox_upto: int = 0
    outbox: Counter[OutboxKey] = field(default_factory=Counter)
    events_upto: int = 0
    escalations: int = 0
    # (monotonic time, highest outbox id, highest event id) of recent reads
    tops: deque[tuple[float, int, int]] = field(default_factory=deque)

    def settled_tops(self, now: float) -> tuple[int, int]:
        """The highest ids seen at least SETTLE_SECONDS ago (0, 0 when no read is that old)."""
        best = (0, 0)
        while self.tops and now - self.tops[0][0] >= SETTLE_SECONDS:
            _at, outbox, events = self.tops.popleft()
            best = (outbox, events)
        if best != (0, 0):
            self.tops.appendleft((now - SETTLE_SECONDS, *best))  # still the newest settled one
        return best


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _outbox_counts(where: object) -> object:
    return (select(Outbox.channel, Outbox.kind, Outbox.status, func.count()).where(where)
            .group_by(Outbox.channel, Outbox.kind, Outbox.status))


async def read(session: AsyncSession, *, now: datetime, marks: Marks, timeout_seconds: float) -> Figures:
    """Every figure in one read-only transaction; on PostgreSQL each statement is cut off after
    `timeout_seconds` by the server itself. `marks` is updated only when the read succeeds."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text(f"SET LOCAL statement_timeout = {max(1, int(timeout_seconds * 1000))}"))
    figures = Figures()
    clock = time.monotonic()
    settled_outbox, settled_events = marks.settled_tops(clock)

    # The outbox: rows below the oldest open one are final; counted once, then only the rest.
    top_outbox = int(await session.scalar(select(func.max(Outbox.id))) or 0)
    oldest_open = await session.scalar(select(func.min(Outbox.id)).where(Outbox.status.in_(OPEN)))
    upto = min(settled_outbox, (oldest_open - 1) if oldest_open is not None else top_outbox)
    outbox = Counter(marks.outbox)
    if upto > marks.outbox_upto:
        for channel, kind, status, count in await session.execute(
                _outbox_counts((Outbox.id > marks.outbox_upto) & (Outbox.id <= upto))):
            outbox[(channel, kind, status)] += int(count)
    else:
        upto = marks.outbox_upto
    recent = Counter(outbox)
    for channel, kind, status, count in await session.execute(_outbox_counts(Outbox.id > upto)):
        recent[(channel, kind, status)] += int(count)
    figures.outbox = dict(recent)

    oldest = await session.execute(select(Outbox.channel, func.min(Outbox.due_at))
                                   .where(Outbox.status.in_(UNSENT), Outbox.due_at <= now)
                                   .group_by(Outbox.channel))
    figures.lag = {channel: max(0.0, (now - _aware(due)).total_seconds()) for channel, due in oldest if due is not None}

    rows = await session.execute(select(Occurrence.step, Occurrence.status, func.count())
                                 .group_by(Occurrence.step, Occurrence.status))
    figures.occurrences = {(step, status): int(count) for step, status, count in rows}

    # Escalations: report events are never changed, so the same marks apply.
    top_events = int(await session.scalar(select(func.max(ReportEvent.id))) or 0)
    escalated = ReportEvent.status == "escalated"
    events_upto = max(marks.events_upto, settled_events)
    escalations = marks.escalations
    if events_upto > marks.events_upto:
        escalations += int(await session.scalar(select(func.count()).select_from(ReportEvent).where(
            escalated, ReportEvent.id > marks.events_upto, ReportEvent.id <= events_upto)) or 0)
    figures.escalations = escalations + int(await session.scalar(
        select(func.count()).select_from(ReportEvent).where(escalated, ReportEvent.id > events_upto)) or 0)

    rows = await session.execute(select(Report.escalation_level, func.count())
                                 .where(Report.urgent.is_(True), Report.status == "sent")
                                 .group_by(Report.escalation_level))
    figures.open_incidents = {int(level): int(count) for level, count in rows}

    marks.outbox, marks.outbox_upto = outbox, upto
    marks.escalations, marks.events_upto = escalations, events_upto
    marks.tops.append((clock, top_outbox, top_events))
    return figures
