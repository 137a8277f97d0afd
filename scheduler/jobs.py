"""The jobs the ticker and the dispatcher run. Each is thin: it claims or reads due rows in one
unit of work, queues what it produced in the outbox, and wakes the dispatcher.

Everything a job needs is injected (`Jobs`): the session factories, the clock, the settings, a
translator and the dispatcher's wake-up; bot/bootstrap.py only wires them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.campaigns import campaigns
from handlers.delivery import notices, outbox
from handlers.forms import FormRegistry
from handlers.i18n import Translator
from handlers.messages import Delivery, Reply
from handlers.ports import Clock
from handlers.reports import reporting, undelivered
from handlers.summaries import digests
from models.files import LocalFileStore
from models.outbox import Claimed, Outcome
from models.settings import Settings
from scheduler import retention
from scheduler.unit_of_work import unit_of_work

log = logging.getLogger(__name__)

# How long a handled update's key is kept: Telegram and Zalo resend an update for hours at most, and
# Telegram may reuse update ids after a week without updates.
HANDLED_UPDATES_DAYS = 7


@dataclass
class Jobs:
    sessions: async_sessionmaker[AsyncSession]
    # Long reads (digests): on SQLite a second engine whose queries run on a thread (models/db.py).
    reads: async_sessionmaker[AsyncSession]
    settings: Settings
    forms: FormRegistry
    files: LocalFileStore
    clock: Clock
    translate: Callable[[str], Translator]
    wake: Callable[[], None]
    # Per campaign, the moment up to which this process has looked (a restart looks back two days).
    campaign_marks: dict[int, datetime] = field(default_factory=dict)
    digest_mark: datetime | None = None
    # When this process last purged expired personal data (a restart purges at its first tick).
    purge_mark: datetime | None = None

    async def deliver_to_person(self, person_id: int, replies: Sequence[Reply], *, broadcast: bool = False) -> None:
        """Queues messages for every identity of the person, on whichever channel it is."""
        async with unit_of_work(self.sessions) as repo:
            await outbox.enqueue(repo, [Delivery(person_id, reply) for reply in replies],
                                 now=self.clock.now(), settings=self.settings, broadcast=broadcast)
        self.wake()

    async def notice_progress(self, notice_ids: set[int]) -> None:
        """After each recorded batch: tell the senders of these notices how far delivery got."""
        async with unit_of_work(self.sessions) as repo:
            told = await notices.progress(repo, notice_ids, now=self.clock.now(), translate=self.translate)
            await outbox.enqueue(repo, told, now=self.clock.now(), settings=self.settings)
        if told:
            self.wake()

    async def undelivered(self, failed: Sequence[tuple[Claimed, Outcome]]) -> None:
        """Rows that finally failed or found the user blocked: an urgent incident goes to the next
        official up, and its reporter is told it did not get through."""
        for row, _outcome in failed:
            if undelivered.incident_of(row.payload) is None:
                continue
            async with unit_of_work(self.sessions) as repo:
                told = await undelivered.alert_next(
                    repo, undelivered.Undelivered(row.id, row.identity_id, row.payload), forms=self.forms,
                    settings=self.settings, now=self.clock.now(), translate=self.translate)
                await outbox.enqueue(repo, told, now=self.clock.now(), settings=self.settings,
                                     key=f"undelivered:{row.id}")
            if told:
                log.warning("urgent message %s did not reach its official; %d messages queued instead",
                            row.key, len(told))
                self.wake()

    async def run_campaigns(self) -> int:
        """Campaign moments that are due become occurrences and queued messages."""
        async with unit_of_work(self.sessions) as repo:
            queued = await campaigns.run_due(repo, now=self.clock.now(), settings=self.settings,
                                             translate=self.translate, since=self.campaign_marks)
        if queued:
            self.wake()
        return queued

    async def run_digests(self) -> int:
        """Officials' daily, weekly and monthly digests when they are due."""
        now = self.clock.now()
        after = self.digest_mark or now - timedelta(minutes=self.settings.campaigns.grace_minutes)
        queued = await digests.run_due(sessions=self.sessions, reads=self.reads, after=after, now=now,
                                       settings=self.settings, translate=self.translate, files=self.files)
        self.digest_mark = now
        if queued:
            self.wake()
        return queued

    async def escalate_incidents(self) -> int:
        """Sends urgent incidents nobody acknowledged in time to the next level; returns messages sent."""
        async with unit_of_work(self.sessions) as repo:
            deliveries = await reporting.escalate_due(repo, forms=self.forms, settings=self.settings,
                                                      now=self.clock.now(), translate=self.translate)
            await outbox.enqueue(repo, deliveries, now=self.clock.now(), settings=self.settings)
        if deliveries:
            self.wake()
            log.info("escalated urgent incidents: %d messages", len(deliveries))
        return len(deliveries)

    async def purge_expired(self) -> dict[str, int]:
        """Once a day (at `privacy.purge_time`, or at the first tick after a restart past it): deletes
        the personal data past its time (docs/privacy.md), batch by batch in short transactions,
        and logs how much went. Returns the counts (empty when it was not time yet)."""
        now = self.clock.now()
        due = retention.due_at(now, self.settings)
        if self.purge_mark is not None and self.purge_mark >= due:
            return {}
        counts = await retention.purge(self.sessions, files=self.files, now=now, settings=self.settings)
        self.purge_mark = now
        log.info("purged personal data past its time: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
        return counts

    async def forget_handled_updates(self) -> int:
        """Drops the keys of updates handled more than a week ago."""
        before = self.clock.now() - timedelta(days=HANDLED_UPDATES_DAYS)
        async with unit_of_work(self.sessions) as repo:
            return await repo.forget_updates(before)
