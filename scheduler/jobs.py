"""Jobs the ticker runs. Each is thin: it claims due rows in one transaction, then delivers."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.delivery import outbox
from handlers.engine import Engine
from handlers.ports import Clock
from handlers.reports import reporting
from models.repos import Repo

log = logging.getLogger(__name__)


async def escalate_incidents(
    *, sessions: async_sessionmaker[AsyncSession], engine: Engine, clock: Clock, wake: Callable[[], None]
) -> int:
    """Sends urgent incidents nobody acknowledged in time to the next level; returns messages sent."""
    async with sessions() as session, session.begin():
        repo = Repo(session)
        deliveries = await reporting.escalate_due(repo, forms=engine.forms, settings=engine.settings,
                                                  now=clock.now(), translate=engine.translator)
        await outbox.enqueue(repo, deliveries, now=clock.now(), settings=engine.settings)
    if deliveries:
        wake()
        log.info("escalated urgent incidents: %d messages", len(deliveries))
    return len(deliveries)
